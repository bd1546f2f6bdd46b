//! Building and running the HTTP application.
//!
//! `Application::build` binds the listener first (port 0 in tests) so the caller knows the
//! address before the server runs.

use std::{future::Future, net::TcpListener, sync::Arc, time::Duration};

use actix_web::{dev::Server, web, App, HttpServer};
use anyhow::Context;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::{
    cache::{
        api_keys::KeyCache,
        code_terms::CodeTermsCache,
        links::{Lifetimes, LinkCache},
    },
    checkout::redeemer::Redeemer,
    config::{Settings, DEVELOPMENT_CLICK_SECRET},
    domain::{click_id::ClickSigner, visitor::VisitorKey},
    http::{self, request_log::LogRequests},
    lifecycle::{finish_within, stop_signal, Stop},
    metrics::Metrics,
    pipeline::{
        changes::followed,
        connection::SharedConnection,
        keys::Keys,
        producer::{self, Producer},
        spool::Spool,
    },
    state::AppState,
    storage,
    throttle::MissLimiter,
};

/// How often expired redemption holds are released. A commit also refuses (and releases)
/// an expired hold itself, so this only bounds how long an abandoned slot stays taken.
const HOLD_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Releases expired holds until the process ends; every API process runs one (they skip
/// each other's rows).
async fn expire_holds_every(db: PgPool, interval: std::time::Duration, metrics: Arc<Metrics>) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        match storage::redemptions::expire_holds(&db).await {
            Ok(0) => {}
            Ok(n) => {
                metrics
                    .redemptions
                    .with_label_values(&["expired"])
                    .inc_by(n);
                tracing::info!(expired = n, "redemption holds expired");
            }
            Err(e) => tracing::warn!(error = %e, "expiring redemption holds failed"),
        }
    }
}

/// Keeps the rate limiter's memory to the addresses that failed in the last minute, for
/// as long as the application that owns it lives.
async fn forget_idle_addresses(limiter: std::sync::Weak<MissLimiter>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticks.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        limiter.forget_idle();
    }
}

pub struct Application {
    port: u16,
    server: Server,
    metrics: Arc<Metrics>,
    /// Stops the outbox relay.
    stop: Stop,
    relay: JoinHandle<()>,
    shutdown_timeout: Duration,
}

impl Application {
    /// Connects, migrates, creates the bootstrap key if configured, and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = storage::pool(&settings);
        storage::migrate(&db)
            .await
            .context("applying database migrations")?;
        if let Some(secret) = &settings.bootstrap_admin_key {
            storage::api_keys::ensure_bootstrap(&db, secret)
                .await
                .context("creating the bootstrap admin key")?;
        }
        Self::build_with_pool(settings, db).await
    }

    pub async fn build_with_pool(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let redis = settings.redis.clone();
        if settings.click_secret == DEVELOPMENT_CLICK_SECRET {
            tracing::warn!(
                "ATTRIB_CLICK_SECRET is not set: click ids are signed with a development key"
            );
        }
        let keys = Keys::new(&settings.redis_prefix, settings.stream_shards);
        let metrics = Arc::new(Metrics::new());
        let spool = Spool::open(&settings.spool_dir, settings.spool_max_bytes)
            .with_context(|| format!("opening the spool in {}", settings.spool_dir.display()))?;
        let pipe = producer::Shared::start(
            redis.clone(),
            &keys,
            spool,
            settings.redis_min_replicas,
            metrics.clone(),
        );
        let links = followed(
            LinkCache::new(
                db.clone(),
                &settings.click_id_param,
                Lifetimes {
                    fresh_for: std::time::Duration::from_secs(settings.link_cache_seconds),
                    stale_for: std::time::Duration::from_secs(settings.link_stale_seconds),
                },
                metrics.link_cache_stale.clone(),
            ),
            &redis,
            keys.link_changes(),
            "links",
        )
        .await;
        let api_keys = followed(
            KeyCache::new(db.clone()),
            &redis,
            keys.key_changes(),
            "api keys",
        )
        .await;
        let code_terms = followed(
            CodeTermsCache::new(db.clone()),
            &redis,
            keys.code_changes(),
            "codes",
        )
        .await;
        tokio::spawn(crate::pipeline::persistence::warn_if_volatile(
            redis.clone(),
        ));
        tokio::spawn(expire_holds_every(
            db.clone(),
            HOLD_SWEEP_INTERVAL,
            metrics.clone(),
        ));
        let misses = Arc::new(MissLimiter::new(
            settings.rate_limit_per_minute,
            settings.rate_limit_loopback,
            settings.trusted_proxies.clone(),
        ));
        tokio::spawn(forget_idle_addresses(Arc::downgrade(&misses)));
        let (stop, stopping) = stop_signal();
        let relay = tokio::spawn(crate::pipeline::outbox::run(
            db.clone(),
            redis.clone(),
            keys.clone(),
            stopping,
        ));
        // A few batches in flight at once: enough to keep Postgres busy while one commits,
        // few enough that a hot code's batches stay large.
        let redeemer = Redeemer::start(
            db.clone(),
            (settings.database_max_connections as usize / 4).clamp(1, 4),
        );
        let signer = ClickSigner::new(settings.click_secret.as_bytes());
        let visitor_key = match &settings.visitor_secret {
            Some(secret) => VisitorKey::new(secret.as_bytes()),
            None => VisitorKey::derived_from(settings.click_secret.as_bytes()),
        };
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let workers = settings.http_workers;
        let shutdown_timeout = settings.shutdown_timeout;
        let geoip = settings.geoip.clone();
        let reports_db = storage::reports_pool(&settings, &db);
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            db,
            reports_db,
            redis_commands: SharedConnection::new(redis.clone()),
            redis,
            keys,
            links,
            signer,
            visitor_key,
            geoip,
            metrics: metrics.clone(),
            redeemer,
            api_keys,
            code_terms,
            misses,
        });
        let counted = http::request_metrics::CountRequests(Arc::new(
            http::request_metrics::RequestMetrics::new(
                metrics.clone(),
                http::routes::registered(&http::sections()),
            ),
        ));
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(counted.clone())
                .wrap(LogRequests)
                .app_data(state.clone())
                // Built on each worker thread, so its batcher runs on that thread.
                .app_data(web::Data::new(Producer::on_this_thread(pipe.clone())))
                .configure(|cfg| http::configure(cfg, state.settings.max_body_bytes))
        })
        .listen(listener)?
        // The process handles SIGTERM and SIGINT itself ([`Application::run_until`]), the
        // same way for both, and stops the worker and the outbox relay with the server.
        .disable_signals()
        .shutdown_timeout(shutdown_timeout.as_secs());
        if workers > 0 {
            server = server.workers(workers);
        }
        tracing::info!(port, "listening");
        Ok(Application {
            port,
            server: server.run(),
            metrics,
            stop,
            relay,
            shutdown_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What `GET /metrics` serves: a worker in the same process counts into it too.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until the server stops by itself (tests drop it with their runtime).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until `signal`, then stops within the shutdown timeout: no new connections,
    /// the requests in flight answered (each click durable before its `302`, so nothing a
    /// batcher holds is lost) and their connections closed by actix, the outbox relay
    /// done with its round, and `also_stop` (the worker of `attrib run`) finished.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()>,
        also_stop: impl Future<Output = anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            served = &mut server => {
                self.stop.stop();
                return Ok(served.context("HTTP server task")??);
            }
            _ = signal => {}
        }
        tracing::info!(
            timeout_seconds = self.shutdown_timeout.as_secs(),
            "stopping: no new connections, finishing the requests in flight"
        );
        self.stop.stop();
        let relay = self.relay;
        let stopping = async {
            let (served, relayed, companion) = tokio::join!(
                async {
                    handle.stop(true).await;
                    server.await
                },
                relay,
                also_stop,
            );
            served.context("HTTP server task")??;
            relayed.context("outbox relay task")?;
            companion
        };
        finish_within(self.shutdown_timeout, stopping).await
    }
}

/// `attrib worker`'s probes and metrics on `listen`, stopped by the caller through the
/// server's handle.
pub fn worker_probes(
    listen: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    db: PgPool,
) -> anyhow::Result<Server> {
    let probes = web::Data::new(http::worker_probes::WorkerProbes { metrics, db });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(probes.clone())
            .configure(http::worker_probes::configure)
    })
    .workers(1)
    .disable_signals()
    .bind(listen)
    .with_context(|| format!("binding ATTRIB_METRICS_LISTEN {listen}"))?
    .run();
    tracing::info!(%listen, "worker metrics listening");
    Ok(server)
}
