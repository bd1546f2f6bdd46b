//! A bound on how long an API request may take: `ATTRIB_DATABASE_TIMEOUT_SECONDS`.
//!
//! The pool's acquire timeout already bounds waiting for a connection, but a Postgres that
//! hangs (a network partition, a server stuck in a failover) leaves a query on a pooled
//! connection waiting for an answer that does not come. Dropping the handler's future at
//! the deadline rolls back its open transaction when the connection is returned, and the
//! client gets `503 unavailable`. It wraps each resource, not the scope: the request it
//! keeps for that answer may only be shared once the scope has routed it (the key lookup
//! before it has its own bound, in [`super::auth`]). A write whose commit was already under way may still
//! land; the API's writes are keyed by what the client chose (order ids, slugs, codes), so
//! the retry finds the same row or a `409`, never a second one.

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use super::error::ApiError;
use crate::state::AppState;

pub async fn within_database_timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(limit) = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.database_timeout)
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let request = req.request().clone();
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(answered) => answered.map(ServiceResponse::map_into_left_body),
        Err(_) => {
            tracing::warn!(
                seconds = limit.as_secs(),
                "request cut at the database timeout"
            );
            let late = ApiError::unavailable(
                "unavailable",
                "the request did not finish within the database timeout; retry after \
                 Retry-After seconds",
            );
            Ok(
                ServiceResponse::new(request, actix_web::ResponseError::error_response(&late))
                    .map_into_right_body(),
            )
        }
    }
}
