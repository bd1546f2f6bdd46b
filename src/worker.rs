//! The ingest worker: reads click and conversion events from the Redis streams and writes
//! them to Postgres in batches.
//!
//! Not built yet: the event pipeline arrives with the redirect path. Until then the
//! worker only checks that it can reach Postgres and waits for shutdown, so deployments
//! can already run the `worker` role.

use std::future::Future;

use anyhow::Context;
use sqlx::PgPool;

pub async fn run(db: PgPool, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    sqlx::query("SELECT 1")
        .execute(&db)
        .await
        .context("worker cannot reach Postgres")?;
    tracing::info!("worker started (no event streams to consume yet)");
    shutdown.await;
    tracing::info!("worker stopped");
    Ok(())
}
