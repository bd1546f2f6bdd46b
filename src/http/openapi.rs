//! The API description: OpenAPI 3.1, generated from the request and response types and the
//! `#[utoipa::path]` of each handler. Served at `GET /openapi.json` and printed by
//! `attrib openapi`; `tests/api/openapi.rs` checks it against the route table
//! ([`super::routes`]), and `scripts/api-fuzz.sh` has an outside fuzzer hold the server to it.
//!
//! What every route shares is added here rather than repeated on each handler: the bearer
//! scheme, and the error responses that follow from the kind of route (a key checked, a
//! body or query parsed, a resource looked up, a store that may be away). A handler's own
//! annotation wins where it documents the same status with route-specific codes.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        path::{Operation, ParameterIn},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder,
    },
    Modify, OpenApi,
};

use super::{admin, checkout, health, redirect, reports};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "attrib",
        description = "Influencer marketing attribution: tracked short links and promo codes, \
            checkout validation and redemption, click and conversion ingest, ROI reports.\n\n\
            Authenticated routes take `Authorization: Bearer <API key>`; each names the key \
            scope it needs (`admin`, `checkout`, `analyst`; an `admin` key may call every \
            route). Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}` with a \
            stable `code`. Lists take `limit` (1 to 500, default 50) and `cursor` (the \
            previous page's `next_cursor`). Ids are opaque strings."
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        serve,
        admin::campaigns::create,
        admin::campaigns::list,
        admin::campaigns::get,
        admin::campaigns::patch,
        admin::enrollments::create,
        admin::enrollments::list,
        admin::enrollments::get,
        admin::enrollments::patch,
        admin::links::generate,
        admin::campaigns::reattribute,
        admin::influencers::create,
        admin::influencers::list,
        admin::influencers::get,
        admin::influencers::patch,
        admin::links::create,
        admin::links::list,
        admin::links::get,
        admin::links::patch,
        admin::links::delete,
        admin::codes::generate,
        admin::codes::create,
        admin::codes::list,
        admin::codes::get,
        admin::codes::patch,
        admin::posts::create,
        admin::posts::list,
        admin::posts::get,
        admin::posts::add_snapshot,
        admin::posts::list_snapshots,
        admin::costs::create,
        admin::costs::list,
        admin::api_keys::create,
        admin::api_keys::list,
        admin::api_keys::revoke,
        checkout::validate::validate,
        checkout::redemptions::create,
        checkout::redemptions::get,
        checkout::redemptions::commit,
        checkout::redemptions::release,
        checkout::redemptions::cancel,
        checkout::conversions::create,
        checkout::conversions::get,
        checkout::conversions::refund,
        checkout::conversions::cancel,
        reports::scorecard::campaign_report,
        reports::scorecard::influencer_report,
        reports::series::timeseries,
        reports::breakdown::breakdown,
        redirect::qr::image,
        redirect::follow,
        redirect::follow_head,
    ),
    components(schemas(
        super::error::Body,
        reports::params::Format,
        reports::series::Interval,
        reports::breakdown::Dimension,
        redirect::qr::QrFormat,
    )),
    modifiers(&Conventions),
    tags(
        (name = "operations", description = "Probes, metrics and this description; no key."),
        (name = "campaigns", description = "Campaigns and re-attribution (admin)."),
        (name = "influencers", description = "Influencers (admin)."),
        (name = "enrollments", description = "An influencer's terms in a campaign (admin)."),
        (name = "links", description = "Tracked short links (admin)."),
        (name = "codes", description = "Promo codes (admin)."),
        (name = "posts", description = "Posts and their metric snapshots (admin)."),
        (name = "costs", description = "Cost lines (admin)."),
        (name = "api-keys", description = "API keys (admin)."),
        (name = "checkout", description = "Code validation and redemptions (checkout)."),
        (name = "conversions", description = "Orders, refunds and cancellations (checkout)."),
        (name = "reports", description = "Scorecards, time series and breakdowns (analyst)."),
        (name = "redirect", description = "The public short links and their QR codes."),
    )
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// The document as pretty JSON, rendered once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serialising plain data with string keys cannot fail; an empty document would
        // show it at once in the tests.
        serde_json::to_string_pretty(document()).unwrap_or_default()
    })
}

/// This description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

/// The scope names of the bearer scheme, as `security(("bearer" = [ADMIN]))` takes them.
pub const BEARER: &str = "bearer";

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`atk_…`). A route's security requirement names the \
                         scopes that may call it; an `admin` key may call every route.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in [
                ("get", item.get.as_mut()),
                ("head", item.head.as_mut()),
                ("post", item.post.as_mut()),
                ("patch", item.patch.as_mut()),
                ("delete", item.delete.as_mut()),
            ] {
                let Some(operation) = operation else { continue };
                operation.operation_id = Some(operation_id(method, path));
                add_shared_responses(path, operation, method != "head");
                add_request_id(operation);
            }
        }
    }
}

/// Paths that touch neither Postgres nor the rate limits.
const ALWAYS_ANSWER: [&str; 3] = ["/healthz", "/metrics", "/openapi.json"];

/// `get /v1/campaigns/{id}` → `get_v1_campaigns_id`: unique, where the handlers' names
/// (`get`, `patch`, …) repeat from one resource to the next.
fn operation_id(method: &str, path: &str) -> String {
    let words = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    std::iter::once(method)
        .chain(words)
        .collect::<Vec<_>>()
        .join("_")
}

/// `with_body`: false for `HEAD`, whose answers carry none.
fn add_shared_responses(path: &str, operation: &mut Operation, with_body: bool) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let takes_query = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let takes_path = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let takes_body = operation.request_body.is_some();
    let public_link = path.starts_with("/{slug}");

    let mut shared: Vec<(&str, Response)> = Vec::new();
    if takes_body {
        shared.push((
            "400",
            error(
                "The body is not JSON (`invalid_json`), not of this shape (`invalid_body`: a \
                 missing or unknown field, a wrong type), or a field is malformed (its own \
                 code, `field` names it).",
            ),
        ));
        shared.push((
            "413",
            error("The body is larger than the server takes (`payload_too_large`)."),
        ));
    } else if takes_query {
        shared.push((
            "400",
            error(
                "The query string is malformed (`invalid_query`, or a parameter's own code \
                 such as `invalid_limit` or `invalid_cursor`; `field` names it).",
            ),
        ));
    }
    if secured {
        shared.push((
            "401",
            error("No API key, an unknown one or a revoked one (`unauthorized`)."),
        ));
        shared.push((
            "403",
            error("The key's scope may not call this route (`forbidden`)."),
        ));
    }
    if takes_path {
        shared.push(("404", error("Nothing has this id (`not_found`).")));
    }
    if secured || public_link {
        shared.push((
            "429",
            retry_after(error(
                "Too many unknown API keys or links from this address (`rate_limited`); \
                 `Retry-After` says when to try again.",
            )),
        ));
    }
    if !ALWAYS_ANSWER.contains(&path) {
        shared.push((
            "503",
            retry_after(error(
                "A store the route needs does not answer, or not within \
                 `ATTRIB_DATABASE_TIMEOUT_SECONDS` (`unavailable`); nothing was changed. \
                 Retry after `Retry-After` seconds.",
            )),
        ));
    }
    for (status, mut response) in shared {
        if !with_body {
            response.content.clear();
        }
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    }
}

/// Every answer carries its request's id (`super::request_log`).
fn add_request_id(operation: &mut utoipa::openapi::path::Operation) {
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.headers.insert(
                "X-Request-Id".to_owned(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(
                        "The request's id: the client's `X-Request-Id` when it is 1–128 \
                         printable ASCII characters, else a new one. Log lines written for \
                         the request carry it as `request_id`.",
                    ))
                    .build(),
            );
        }
    }
}

fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
}

fn retry_after(mut response: Response) -> Response {
    response.headers.insert(
        "Retry-After".to_owned(),
        HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .description(Some("Seconds to wait before trying again."))
            .build(),
    );
    response
}
