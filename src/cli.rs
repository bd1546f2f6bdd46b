//! The `attrib` command line: `run`, `serve`, `worker`, `migrate`, key management. Each
//! command reads the settings once ([`crate::config`]) and wires the layers below it; a
//! bad setting stops it before anything starts, with the variable named.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use std::sync::Arc;

use crate::{
    auth,
    auth::Scope,
    config::Settings,
    lifecycle::{finish_within, terminate_or_interrupt},
    pipeline::keys::Keys,
    startup::Application,
    storage, telemetry,
    worker::{background::Background, SignalLimits, Worker, WorkerConfig},
};

#[derive(Debug, Parser)]
#[command(
    name = "attrib",
    version,
    about = "Influencer marketing attribution service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (migrates the database first).
    Serve,
    /// Consume event streams into Postgres.
    Worker,
    /// Serve and consume in one process: the simplest single-machine deployment.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI 3.1 description of the HTTP API (as `GET /openapi.json` serves it).
    Openapi,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key and print its secret (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        scope: Scope,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The description needs no settings: it is the same for every deployment.
    if matches!(cli.command, Command::Openapi) {
        println!("{}", crate::http::openapi::json());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("attrib: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_filter, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attrib: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attrib: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    tracing::debug!(?settings, "configuration");
    match command {
        Command::Serve => {
            Application::build(settings)
                .await?
                .run_until(terminate_or_interrupt(), async { Ok(()) })
                .await?
        }
        Command::Worker => {
            let db = storage::pool(&settings);
            storage::migrate(&db).await.context("applying migrations")?;
            let worker = build_worker(&settings, db.clone(), None, Default::default());
            let probes = match settings.metrics_listen {
                Some(listen) => {
                    let server =
                        crate::startup::worker_probes(listen, worker.metrics().clone(), db)?;
                    let handle = server.handle();
                    tokio::spawn(server);
                    Some(handle)
                }
                None => None,
            };
            let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
            let mut running = tokio::spawn(worker.run(async {
                let _ = stopped.await;
            }));
            tokio::select! {
                ran = &mut running => return ran.context("worker task")?,
                _ = terminate_or_interrupt() => {}
            }
            tracing::info!("stopping: finishing the batch in hand");
            let _ = stop_worker.send(());
            if let Some(probes) = probes {
                probes.stop(true).await;
            }
            finish_within(settings.shutdown_timeout, async {
                running.await.context("worker task")?
            })
            .await?;
        }
        Command::Run => {
            let app = Application::build(settings.clone()).await?;
            let worker = build_worker(&settings, storage::pool(&settings), Some(1), app.metrics());
            let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
            let background = Background::start(settings.ingest_nice)
                .context("starting the ingest worker's runtime")?;
            let worker = background.spawn(worker.run(async {
                let _ = stopped.await;
            }));
            // The worker stops with the server, not after it: what the server still
            // writes to the streams waits there for the next start.
            app.run_until(terminate_or_interrupt(), async {
                let _ = stop_worker.send(());
                worker.await.context("worker task")?
            })
            .await?;
        }
        Command::Openapi => println!("{}", crate::http::openapi::json()),
        Command::Migrate => {
            let db = storage::pool(&settings);
            storage::migrate(&db).await.context("applying migrations")?;
            println!("migrations applied");
        }
        Command::Keys {
            command: KeysCommand::Create { name, scope },
        } => {
            let name = crate::domain::text::bounded("name", &name, 100)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let db = storage::pool(&settings);
            storage::migrate(&db).await.context("applying migrations")?;
            let secret = auth::generate_secret();
            let row = storage::api_keys::insert(&db, &name, scope, &secret).await?;
            eprintln!(
                "created API key {} ({:?}, scope {}); the secret below is not shown again:",
                row.id,
                row.name,
                row.scope.as_str()
            );
            println!("{}", secret.secret);
        }
    }
    Ok(())
}

/// `parallel_writes`: see [`WorkerConfig::parallel_writes`].
fn build_worker(
    settings: &Settings,
    db: sqlx::PgPool,
    parallel_writes: Option<usize>,
    metrics: Arc<crate::metrics::Metrics>,
) -> Arc<Worker> {
    Arc::new(
        Worker::new(
            db,
            settings.redis.clone(),
            Keys::new(&settings.redis_prefix, settings.stream_shards),
            settings.geoip.clone(),
            WorkerConfig {
                parallel_writes,
                gather: std::time::Duration::from_millis(settings.ingest_gather_ms),
                signals: SignalLimits {
                    burst_clicks_per_minute: settings.burst_clicks_per_minute as usize,
                    fast_conversion: chrono::Duration::seconds(i64::from(
                        settings.fast_conversion_seconds,
                    )),
                },
                consumer: settings.worker_name.clone(),
                dead_letter_maxlen: settings.dead_letter_maxlen,
                click_retention: settings
                    .click_retention_days
                    .map(|days| chrono::Duration::days(i64::from(days))),
                ..WorkerConfig::default()
            },
        )
        .with_metrics(metrics),
    )
}
