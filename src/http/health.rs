//! Liveness and readiness probes, and the Prometheus metrics.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// `ok` or `unreachable`.
    postgres: &'static str,
    /// `ok` or `unreachable`.
    redis: &'static str,
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Up.", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The process's counters in the Prometheus text format, and the ingest lag read now.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.", content_type = "text/plain", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let lag = super::ingest_lag::seconds(&state, chrono::Utc::now()).await;
    let metrics = &state.metrics;
    metrics.ingest_lag_seconds.set(lag.unwrap_or(f64::NAN));
    read_pool(metrics, &state.db);
    // Without Redis the depths keep their last reading; the lag above says NaN.
    if let Ok(mut conn) = state.redis_commands.connection().await {
        if let Ok(depths) = crate::pipeline::lag::depths(&mut conn, &state.keys).await {
            for (shard, (entries, pending)) in depths.into_iter().enumerate() {
                let shard = shard.to_string();
                metrics
                    .stream_entries
                    .with_label_values(&[shard.as_str()])
                    .set(entries as i64);
                metrics
                    .stream_pending
                    .with_label_values(&[shard.as_str()])
                    .set(pending as i64);
            }
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// `attrib_db_pool_connections`, read now.
pub fn read_pool(metrics: &crate::metrics::Metrics, db: &sqlx::PgPool) {
    let idle = db.num_idle() as i64;
    let open = i64::from(db.size());
    metrics
        .db_pool_connections
        .with_label_values(&["idle"])
        .set(idle);
    metrics
        .db_pool_connections
        .with_label_values(&["in_use"])
        .set((open - idle).max(0));
}

/// Postgres and Redis both answer; otherwise 503 naming which one does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Postgres and Redis answer.", body = Readiness),
        (status = 503, description = "Postgres or Redis does not answer; the body says which.", body = Readiness),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (postgres, redis) = tokio::join!(postgres_ok(&state), redis_ok(&state));
    let state_of = |ok: bool| if ok { "ok" } else { "unreachable" };
    let body = Readiness {
        status: if postgres && redis {
            "ready"
        } else {
            "not_ready"
        },
        postgres: state_of(postgres),
        redis: state_of(redis),
    };
    if postgres && redis {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn postgres_ok(state: &AppState) -> bool {
    let probe = crate::storage::answers(&state.db);
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(true))
}

/// Over the process's shared connection: a probe every few seconds from each load
/// balancer must not cost Redis a connection each. A failed ping drops the connection;
/// for the shared connection's back-off (a second) probes then answer at once that Redis
/// is unreachable, and the next one after it connects again.
async fn redis_ok(state: &AppState) -> bool {
    let probe = async {
        let mut conn = state.redis_commands.connection().await?;
        let pong = redis::cmd("PING").query_async::<String>(&mut conn).await;
        if pong.is_err() {
            state.redis_commands.forget().await;
        }
        pong
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(ref pong)) if pong == "PONG")
}
