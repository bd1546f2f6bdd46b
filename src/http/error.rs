//! The one error type of the HTTP layer and its JSON shape:
//! `{"error": {"code": "snake_case_reason", "message": "…", "field": "…"?}}`.
//!
//! Client mistakes map to 4xx with a stable code. Anything else is logged with its cause
//! and answered with an opaque 500, so internals never leak into a response.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;

use crate::{domain::Invalid, domain::InvalidKind, storage::StorageError};

/// What a `503` asks of the client: about the time a Postgres failover or restart takes.
pub const RETRY_AFTER_UNAVAILABLE_SECONDS: u64 = 5;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Something the answer needs does not answer now; `Retry-After` says when to try again.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        err.retry_after = Some(RETRY_AFTER_UNAVAILABLE_SECONDS);
        err
    }

    /// Postgres did not answer (in time): `503 unavailable`, logged without a stack of
    /// causes, as an outage writes one per request.
    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "Postgres unavailable");
        Self::unavailable(
            "unavailable",
            "the database does not answer now; nothing was changed, retry after Retry-After seconds",
        )
    }

    /// Too many failed look-ups from one address ([`super::rate_limit`]).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let seconds = super::rate_limit::retry_after_seconds(wait);
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many unknown links or API keys from this address; retry in {seconds} s"),
        );
        err.retry_after = Some(seconds);
        err
    }

    /// Logs `cause` and hides it from the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; the request may be retried",
        )
    }

    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// Every error response.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(super) struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
struct Detail<'a> {
    /// A stable, machine-readable reason in snake case; each response lists the codes it
    /// may carry.
    code: &'a str,
    /// For people; its wording may change.
    message: &'a str,
    /// The request field at fault, when there is one (dotted for nested fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
        }
        response.json(Body {
            error: Detail {
                code: self.code,
                message: &self.message,
                field: self.field,
            },
        })
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        let status = match invalid.kind {
            InvalidKind::Malformed => StatusCode::BAD_REQUEST,
            InvalidKind::NotAllowed => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, invalid.code, invalid.to_string()).with_field(invalid.field)
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            StorageError::Refused { code, message } => ApiError::unprocessable(code, message),
            err if err.is_unavailable() => ApiError::database_unavailable(err),
            StorageError::Database(e) => ApiError::internal(e),
        }
    }
}
