//! `/v1/redemptions`: applying a code to an order, with an optional hold, and moving the
//! redemption on (commit, release, cancel).

use actix_web::{http::StatusCode, web, HttpResponse};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    checkout::redemptions::{self as redeeming, NewRedemption, RedeemError, Redeemed, Transition},
    domain::money::{self, Currency},
    http::json::Json,
    http::{
        auth::Checkout,
        error::{ApiError, Body as ErrorBody},
        wire::path_id,
    },
    state::AppState,
    storage::redemptions::{self, RedemptionRow},
};

/// `commit` redeems at once; `reserve` holds the usage slot until the redemption is
/// committed or released, or the hold expires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Commit,
    Reserve,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    #[schema(min_length = 1)]
    code: String,
    /// The shop's order id (1 to 200 characters): the idempotency key.
    #[schema(min_length = 1)]
    order_id: String,
    /// The cart before the discount.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    subtotal_minor: i64,
    #[schema(min_length = 1)]
    currency: String,
    #[schema(min_length = 1)]
    customer_ref: Option<String>,
    /// The signed click id the visitor arrived with (`atid`); empty is none.
    click_id: Option<String>,
    #[serde(default)]
    /// Default `commit`.
    mode: Mode,
}

/// The request in the canonical form its hash is taken of: what a replay must repeat.
#[derive(Serialize)]
struct Canonical<'a> {
    code: &'a str,
    order_id: &'a str,
    subtotal_minor: i64,
    currency: &'a str,
    customer_ref: Option<&'a str>,
    click_id: Option<&'a str>,
    mode: Mode,
}

fn request_hash(canonical: &Canonical<'_>) -> String {
    let json = serde_json::to_vec(canonical).unwrap_or_default();
    crate::domain::hex::lower(&Sha256::digest(json))
}

fn rejected(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, message)
}

#[utoipa::path(
    post,
    path = "/v1/redemptions",
    tag = "checkout",
    request_body = RedemptionRequest,
    responses(
        (status = 201, description = "The redemption.", body = RedemptionRow),
        (status = 200, description = "This order's redemption, made before by the same request.", body = RedemptionRow, headers(("Idempotent-Replayed" = String, description = "`true`: the same request was made before; this is its result."))),
        (status = 409, description = "The order has a redemption made with a different request (`order_conflict`).", body = ErrorBody),
        (status = 422, description = "The code does not apply: `code_not_found`, `code_inactive`, `not_started`, `expired`, `usage_limit_reached`, `customer_limit_reached`, `minimum_not_met`, `currency_mismatch`; or the click id is not one this service signed (`invalid_click_id`).", body = ErrorBody),
        (status = 503, description = "The redemption could not be decided now (`redemptions_unavailable`, `unavailable`); retry with the same `order_id`.", body = ErrorBody),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn create(
    _: Checkout,
    state: web::Data<AppState>,
    body: Json<RedemptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let order_id = super::order_id(&body.order_id)?;
    let subtotal = money::amount("subtotal_minor", body.subtotal_minor)?;
    let currency = Currency::parse("currency", &body.currency)?;
    let customer_ref = super::customer_ref(body.customer_ref.as_deref())?;
    let click_id = super::verified_click(&state.signer, body.click_id.as_deref())?;
    let Some(code) = super::typed_code(&body.code) else {
        return Err(rejected("code_not_found", "no such promo code").with_field("code"));
    };
    let hash = request_hash(&Canonical {
        code: code.as_str(),
        order_id: &order_id,
        subtotal_minor: subtotal,
        currency: currency.code(),
        customer_ref: customer_ref.as_deref(),
        click_id: click_id.as_ref().map(|c| c.as_str()),
        mode: body.mode,
    });
    let now = Utc::now();
    let new = NewRedemption {
        code,
        order_id,
        subtotal_minor: subtotal,
        currency,
        customer_ref,
        click_id,
        hold_until: (body.mode == Mode::Reserve)
            .then(|| now + Duration::seconds(i64::from(state.settings.hold_seconds))),
        request_hash: hash,
    };
    let counted = |outcome: &str| {
        state
            .metrics
            .redemptions
            .with_label_values(&[outcome])
            .inc()
    };
    match redeeming::redeem(&state.db, &state.code_terms, &state.redeemer, &new, now).await {
        Ok(Redeemed::Created(row)) => {
            counted(row.status.as_str());
            Ok(HttpResponse::Created().json(row))
        }
        Ok(Redeemed::Replayed(row)) => {
            counted("replayed");
            Ok(HttpResponse::Ok()
                .insert_header(("Idempotent-Replayed", "true"))
                .json(row))
        }
        Err(RedeemError::Rejected(rejection)) => {
            counted(rejection.code());
            Err(rejected(rejection.code(), rejection.message()))
        }
        Err(RedeemError::OrderConflict) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_conflict",
            "this order already has a redemption made with a different request",
        )
        .with_field("order_id")),
        Err(RedeemError::Storage(e)) => Err(e.into()),
        Err(RedeemError::Batch(e)) => {
            tracing::warn!(error = %e, "redemption not decided");
            Err(ApiError::unavailable(
                "redemptions_unavailable",
                "the redemption could not be decided now; retry with the same order_id",
            ))
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/redemptions/{id}",
    tag = "checkout",
    params(("id" = String, Path, description = "The redemption's id.")),
    responses(
        (status = 200, description = "The redemption.", body = RedemptionRow),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn get(
    _: Checkout,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "redemption")?;
    let row = redemptions::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("redemption"))?;
    Ok(HttpResponse::Ok().json(row))
}

/// A moved redemption is `200`; one already where it was asked to go is `200` too (the
/// call is safe to repeat); one whose status does not allow the move is `409`.
fn answer(
    state: &AppState,
    transition: Transition,
    refused_code: &'static str,
) -> Result<HttpResponse, ApiError> {
    match transition {
        Transition::Done(row) => {
            state
                .metrics
                .redemptions
                .with_label_values(&[row.status.as_str()])
                .inc();
            Ok(HttpResponse::Ok().json(row))
        }
        Transition::Already(row) => Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(row)),
        Transition::Refused(row) => Err(ApiError::new(
            StatusCode::CONFLICT,
            refused_code,
            format!("the redemption is {}", row.status.as_str()),
        )),
        Transition::NotFound => Err(ApiError::not_found("redemption")),
    }
}

#[utoipa::path(
    post,
    path = "/v1/redemptions/{id}/commit",
    tag = "checkout",
    params(("id" = String, Path, description = "The redemption's id.")),
    responses(
        (status = 200, description = "The redemption, committed; with `Idempotent-Replayed: true` when it already was.", body = RedemptionRow, headers(("Idempotent-Replayed" = String, description = "`true`: the same request was made before; this is its result."))),
        (status = 409, description = "Its status does not allow this (`not_reserved`: only a reserved redemption can be committed).", body = ErrorBody),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn commit(
    _: Checkout,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "redemption")?;
    answer(
        &state,
        redeeming::commit(&state.db, id).await?,
        "not_reserved",
    )
}

#[utoipa::path(
    post,
    path = "/v1/redemptions/{id}/release",
    tag = "checkout",
    params(("id" = String, Path, description = "The redemption's id.")),
    responses(
        (status = 200, description = "The redemption, released; with `Idempotent-Replayed: true` when it already was.", body = RedemptionRow, headers(("Idempotent-Replayed" = String, description = "`true`: the same request was made before; this is its result."))),
        (status = 409, description = "Its status does not allow this (`not_reserved`: only a reserved redemption can be released).", body = ErrorBody),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn release(
    _: Checkout,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "redemption")?;
    answer(
        &state,
        redeeming::release(&state.db, id).await?,
        "not_reserved",
    )
}

#[utoipa::path(
    post,
    path = "/v1/redemptions/{id}/cancel",
    tag = "checkout",
    params(("id" = String, Path, description = "The redemption's id.")),
    responses(
        (status = 200, description = "The redemption, cancelled (its usage slot is free again); with `Idempotent-Replayed: true` when it already was.", body = RedemptionRow, headers(("Idempotent-Replayed" = String, description = "`true`: the same request was made before; this is its result."))),
        (status = 409, description = "Its status does not allow this (`not_active`: a released or expired redemption cannot be cancelled).", body = ErrorBody),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn cancel(
    _: Checkout,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "redemption")?;
    answer(
        &state,
        redeeming::cancel(&state.db, id).await?,
        "not_active",
    )
}
