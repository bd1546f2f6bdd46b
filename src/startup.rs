//! Building and running the HTTP application.
//!
//! `Application::build` binds the listener first (port 0 in tests) so the caller knows the
//! address before the server runs.

use std::{net::TcpListener, sync::Arc};

use actix_web::{dev::Server, web, App, HttpServer};
use anyhow::Context;
use sqlx::PgPool;

use crate::{auth, config::Settings, http, storage};

/// What every request handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub redis: redis::Client,
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects, migrates, creates the bootstrap key if configured, and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = storage::pool(&settings).context("database pool")?;
        storage::migrate(&db)
            .await
            .context("applying database migrations")?;
        if let Some(secret) = &settings.bootstrap_admin_key {
            let secret = auth::secret_from(secret).map_err(anyhow::Error::msg)?;
            storage::api_keys::ensure_bootstrap(&db, &secret)
                .await
                .context("creating the bootstrap admin key")?;
        }
        Self::build_with_pool(settings, db)
    }

    pub fn build_with_pool(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let redis = redis::Client::open(settings.redis_url.as_str()).context("Redis URL")?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let workers = settings.http_workers;
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            db,
            redis,
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(|cfg| http::configure(cfg, state.settings.max_body_bytes))
        })
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        tracing::info!(port, "listening");
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
