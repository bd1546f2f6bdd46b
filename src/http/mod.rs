//! The HTTP layer: routing, request parsing, authentication, error rendering.
//!
//! Route map (see README.md for the whole API):
//! - `health`: `/healthz`, `/readyz`, `/metrics` (public); [`openapi`]: `/openapi.json`
//! - `admin::*`: management API under `/v1` (admin scope)
//! - `checkout::*`: code validation and redemptions under `/v1` (checkout scope)
//! - `reports::*`: the analyst reports under `/v1/reports` (analyst scope)
//! - [`redirect`]: `GET /{slug}`, the public redirect, and its QR codes

pub mod admin;
pub mod auth;
pub mod checkout;
pub mod client_ip;
pub mod deadline;
pub mod error;
pub mod health;
pub mod ingest_lag;
pub mod json;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod redirect;
pub mod reports;
pub mod request_log;
pub mod request_metrics;
pub mod routes;
pub mod wire;
pub mod worker_probes;

use actix_web::{
    error::{PathError, QueryPayloadError},
    middleware::from_fn,
    web, HttpRequest, HttpResponse, ResponseError,
};

use error::ApiError;
use routes::{at, Section};

pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(web::PayloadConfig::new(max_body_bytes))
        .app_data(json::BodyLimit(max_body_bytes))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));

    let [public, v1, links] = sections();
    for endpoint in public.endpoints {
        cfg.service(endpoint.into_resource(""));
    }
    let mut api = web::scope(v1.prefix)
        .wrap(from_fn(auth::authenticate))
        .default_service(web::to(not_found));
    for endpoint in v1.endpoints {
        api = api.service(
            endpoint
                .into_resource(v1.prefix)
                .wrap(from_fn(deadline::within_database_timeout)),
        );
    }
    cfg.service(api);
    for endpoint in links.endpoints {
        cfg.service(endpoint.into_resource(""));
    }
    cfg.default_service(web::to(not_found));
}

/// The route table, in matching order: the public probes and the API description, the
/// authenticated API under `/v1`, then the short links, last because every other
/// single-segment path is one.
pub fn sections() -> [Section; 3] {
    [
        Section {
            prefix: "",
            endpoints: vec![
                at("/healthz").get(health::healthz),
                at("/readyz").get(health::readyz),
                at("/metrics").get(health::metrics),
                at("/openapi.json").get(openapi::serve),
            ],
        },
        Section {
            prefix: "/v1",
            endpoints: [
                admin::endpoints(),
                checkout::endpoints(),
                reports::endpoints(),
            ]
            .into_iter()
            .flatten()
            .collect(),
        },
        Section {
            prefix: "",
            endpoints: vec![
                at("/{slug}/qr.{format}").get(redirect::qr::image),
                at("/{slug}")
                    .get(redirect::follow)
                    .head(redirect::follow_head),
            ],
        },
    ]
}

async fn not_found() -> HttpResponse {
    ApiError::not_found("route").error_response()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::not_found("resource").into()
}
