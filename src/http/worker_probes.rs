//! What `attrib worker` serves on `ATTRIB_METRICS_LISTEN`: `GET /healthz` for the
//! container's health check and `GET /metrics` (the worker's own families, its Postgres
//! pool and the process), so Prometheus can scrape a worker that runs alone.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use sqlx::PgPool;

use super::health;
use crate::metrics::Metrics;

pub struct WorkerProbes {
    pub metrics: Arc<Metrics>,
    pub db: PgPool,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(super::not_found));
}

async fn metrics(probes: web::Data<WorkerProbes>) -> HttpResponse {
    health::read_pool(&probes.metrics, &probes.db);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(probes.metrics.render())
}
