//! The HTTP layer: routing, request parsing, authentication, error rendering.
//!
//! Route map (see README.md for the whole API):
//! - `health`: `/healthz`, `/readyz`, `/metrics` (public)
//! - `admin::*`: management API under `/v1` (admin scope)
//! - `checkout::*`: code validation and redemptions under `/v1` (checkout scope)
//! - `reports::*`: the analyst reports under `/v1/reports` (analyst scope)
//! - [`redirect`]: `GET /{slug}`, the public redirect, and its QR codes

pub mod admin;
pub mod auth;
pub mod checkout;
pub mod client_ip;
pub mod error;
pub mod health;
pub mod ingest_lag;
pub mod pagination;
pub mod rate_limit;
pub mod redirect;
pub mod reports;
pub mod wire;

use actix_web::{
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::StatusCode,
    middleware::from_fn,
    web, HttpRequest, HttpResponse, Resource, ResponseError,
};

use error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body_bytes)
            // curl's -d sends a form content type; the body is JSON either way.
            .content_type_required(false)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error))
    .service(resource("/healthz").get(health::healthz))
    .service(resource("/readyz").get(health::readyz))
    .service(resource("/metrics").get(health::metrics))
    .service(
        web::scope("/v1")
            .wrap(from_fn(auth::authenticate))
            .configure(admin::configure)
            .configure(checkout::configure)
            .configure(reports::configure)
            .default_service(web::to(not_found)),
    )
    .service(resource("/{slug}/qr.{format}").get(crate::http::redirect::qr::image))
    // Last: every other single-segment path is a short link.
    .service(
        web::resource("/{slug}")
            .route(web::get().to(crate::http::redirect::follow))
            .route(web::head().to(crate::http::redirect::follow))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}

/// A resource that answers unsupported methods with a JSON 405.
pub fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn not_found() -> HttpResponse {
    ApiError::not_found("route").error_response()
}

async fn method_not_allowed() -> HttpResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not support the method",
    )
    .error_response()
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::bad_request("invalid_body", format!("invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        ),
        other => {
            ApiError::bad_request("invalid_body", format!("cannot read request body: {other}"))
        }
    };
    api.into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::not_found("resource").into()
}
