//! Authentication of `/v1` routes and per-route scope checks.
//!
//! The middleware runs before any extractor, so a request without a valid key gets its 401
//! before its body is even read. Each handler then names the scope it needs by taking an
//! [`Admin`], [`Checkout`] or [`Analyst`] argument; a wrong scope is a 403.

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{header, StatusCode},
    middleware::Next,
    web, FromRequest, HttpMessage, HttpRequest,
};
use futures_util::future::{ready, Ready};

use super::{error::ApiError, rate_limit::MissLimits};
use crate::{
    auth::{self, Scope},
    state::AppState,
    storage::api_keys,
};

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub key_id: i64,
    pub scope: Scope,
}

/// A refused request is answered here, not passed up as an error, so the layers around
/// (the request metrics) see its response and the route it was for.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let refused = ApiError::internal("application state missing");
        return Ok(req.error_response(refused).map_into_right_body());
    };
    let caller = match caller_of(&state, req.request()).await {
        Ok(caller) => caller,
        // Each 401 counts against the address; past the limit it is a 429 instead.
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let refused = match state.misses.count_miss(req.request()) {
                Ok(()) => e,
                Err(limited) => limited,
            };
            return Ok(req.error_response(refused).map_into_right_body());
        }
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };
    req.extensions_mut().insert(caller);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

async fn caller_of(state: &AppState, req: &HttpRequest) -> Result<Caller, ApiError> {
    let secret = bearer_token(req)?;
    let prefix = auth::prefix_of(&secret);
    // An address past its limit of failed keys reaches Postgres no more until it may again.
    if !state.api_keys.holds(prefix) {
        if let Some(limited) = state.misses.refuse_lookup(req) {
            return Err(limited);
        }
    }
    // Bounded like the handler after it (`super::deadline`), which cannot wrap this.
    let lookup = tokio::time::timeout(state.settings.database_timeout, state.api_keys.get(prefix))
        .await
        .map_err(|_| ApiError::database_unavailable("API key lookup timed out"))?;
    let cached = lookup.map_err(|e| {
        // A stored key that does not decode (an unknown scope) stays broken when tried
        // again: a 500, as it was when the scope was checked here.
        if e.undecodable() {
            return ApiError::internal(e);
        }
        ApiError::database_unavailable(e)
    })?;
    let (row, due_for_touch) = match &cached {
        Some(key) if auth::hash_matches(&secret, &key.row.secret_hash) => {
            (&key.row, key.due_for_touch(chrono::Utc::now().timestamp()))
        }
        _ => return Err(ApiError::unauthorized("unknown API key")),
    };
    if row.revoked_at.is_some() {
        return Err(ApiError::unauthorized("this API key has been revoked"));
    }
    let scope = row.scope;
    if due_for_touch {
        let db = state.db.clone();
        let key_id = row.id;
        tokio::spawn(async move {
            if let Err(e) = api_keys::touch(&db, key_id).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Caller {
        key_id: row.id,
        scope,
    })
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <API key>"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (kind, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <API key>"))?;
    let token = token.trim();
    if !kind.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <API key>",
        ));
    }
    Ok(token.to_owned())
}

fn caller_with(req: &HttpRequest, allowed: &[Scope]) -> Result<Caller, ApiError> {
    let caller = req
        .extensions()
        .get::<Caller>()
        .copied()
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <API key>"))?;
    if allowed.contains(&caller.scope) {
        Ok(caller)
    } else {
        let names: Vec<&str> = allowed.iter().map(Scope::as_str).collect();
        Err(ApiError::forbidden(format!(
            "this route needs a key with scope {}; this key has scope {}",
            names.join(" or "),
            caller.scope.as_str()
        )))
    }
}

macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $($scope:expr),+) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name(pub Caller);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(caller_with(req, &[$($scope),+]).map($name))
            }
        }
    };
}

scope_extractor!(
    /// Management routes.
    Admin, Scope::Admin
);
scope_extractor!(
    /// Checkout routes (redemptions, conversions); admin keys may call them too.
    Checkout, Scope::Checkout, Scope::Admin
);
scope_extractor!(
    /// Report routes; admin keys may read too.
    Analyst, Scope::Analyst, Scope::Admin
);
