//! `/v1/conversions`: orders and other goals reported after the fact, attributed by code
//! or by signed click id (see [`crate::domain::attribution`]); refunds and cancellations.

use actix_web::{http::StatusCode, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::{
    checkout::conversions::{self as converting, CancelOutcome, RecordError, Recorded, Reported},
    domain::{
        attribution::{AttributionRule, ConversionStatus, Via},
        code::PromoCode,
        money::{self, Currency},
        time, Invalid,
    },
    http::json::Json,
    http::{
        auth::Checkout,
        error::{ApiError, Body as ErrorBody},
    },
    state::AppState,
    storage::conversions::{self, ConversionRow, RefundOutcome},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionRequest {
    /// The shop's order id (1 to 200 characters): one conversion per order.
    #[schema(min_length = 1)]
    order_id: String,
    /// `sale` (default), `lead`, `signup`, or a goal name of up to 40 lower-case letters, digits, `-` and `_`.
    #[schema(min_length = 1)]
    kind: Option<String>,
    /// The order's amount after discounts, without shipping and tax.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount_minor: i64,
    #[schema(min_length = 1)]
    currency: String,
    /// The signed click id the visitor arrived with (`atid`); empty is none.
    click_id: Option<String>,
    /// The promo code used, if any; empty is none.
    code: Option<String>,
    #[schema(min_length = 1)]
    customer_ref: Option<String>,
    /// RFC 3339; default now.
    #[schema(min_length = 1)]
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Default: what is left to refund.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    amount_minor: Option<i64>,
}

/// `sale`, `lead`, `signup`, or a custom goal name (lower-case letters, digits, `-`, `_`).
fn kind(raw: Option<&str>) -> Result<String, Invalid> {
    let kind = raw.map(|k| k.trim().to_ascii_lowercase());
    let kind = kind.as_deref().unwrap_or("sale");
    let valid = (1..=40).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_alphanumeric())
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(kind.to_owned())
    } else {
        Err(Invalid::malformed(
            "kind",
            "invalid_kind",
            "sale, lead, signup, or a goal name of up to 40 letters, digits, '-' and '_'",
        ))
    }
}

/// The wire form of a conversion: who got the credit and by which rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversionView {
    order_id: String,
    status: ConversionStatus,
    /// `null` unless `status` is `attributed`.
    attributed: Option<Credit>,
    rule: AttributionRule,
    kind: String,
    amount_minor: i64,
    refunded_minor: i64,
    currency: Currency,
    /// RFC 3339.
    cancelled_at: Option<String>,
    /// RFC 3339.
    occurred_at: String,
}

/// Who was credited with a conversion, and how.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Credit {
    campaign_id: String,
    influencer_id: String,
    via: Via,
    /// The link clicked, when the credit came from a click.
    #[serde(skip_serializing_if = "Option::is_none")]
    link_id: Option<String>,
}

fn view(row: &ConversionRow) -> ConversionView {
    let attributed = match (row.campaign_id, row.influencer_id, row.via) {
        (Some(campaign), Some(influencer), Some(via)) => Some(Credit {
            campaign_id: campaign.to_string(),
            influencer_id: influencer.to_string(),
            via,
            link_id: row.link_id.map(|link| link.to_string()),
        }),
        _ => None,
    };
    ConversionView {
        order_id: row.order_id.clone(),
        status: row.status,
        attributed,
        rule: row.rule,
        kind: row.kind.clone(),
        amount_minor: row.amount_minor,
        refunded_minor: row.refunded_minor,
        currency: row.currency,
        cancelled_at: row.cancelled_at.as_ref().map(time::format),
        occurred_at: time::format(&row.occurred_at),
    }
}

#[utoipa::path(
    post,
    path = "/v1/conversions",
    tag = "conversions",
    request_body = ConversionRequest,
    responses(
        (status = 202, description = "Recorded and attributed; its event is on the way to the reports.", body = ConversionView),
        (status = 200, description = "This order was recorded before with the same amount and currency.", body = ConversionView, headers(("Idempotent-Replayed" = String, description = "`true`: the same request was made before; this is its result."))),
        (status = 409, description = "The order was recorded with another amount or currency (`order_conflict`).", body = ErrorBody),
        (status = 422, description = "The credited campaign has another currency (`currency_mismatch`), or the click id is not one this service signed (`invalid_click_id`).", body = ErrorBody),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn create(
    _: Checkout,
    state: web::Data<AppState>,
    body: Json<ConversionRequest>,
) -> Result<HttpResponse, ApiError> {
    let order_id = super::order_id(&body.order_id)?;
    let kind = kind(body.kind.as_deref())?;
    let amount = money::amount("amount_minor", body.amount_minor)?;
    let currency = Currency::parse("currency", &body.currency)?;
    let customer_ref = super::customer_ref(body.customer_ref.as_deref())?;
    let occurred_at = match body.occurred_at.as_deref() {
        Some(raw) => time::parse("occurred_at", raw)?,
        None => Utc::now(),
    };
    let click = super::verified_click(&state.signer, body.click_id.as_deref())?;
    // Parsed like every code: anything else would reach the rollups' keys unbounded.
    let code = match body
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(raw) => Some(PromoCode::parse(raw)?),
        None => None,
    };

    let reported = Reported {
        order_id,
        kind,
        amount_minor: amount,
        currency,
        code,
        click,
        customer_ref,
        occurred_at,
    };
    match converting::report(&state.db, reported).await {
        Ok(Recorded::Created(row)) => {
            state
                .metrics
                .conversions
                .with_label_values(&[row.status.as_str()])
                .inc();
            Ok(HttpResponse::Accepted().json(view(&row)))
        }
        Ok(Recorded::Replayed(row)) => Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(view(&row))),
        Err(RecordError::AmountConflict) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_conflict",
            "this order was recorded with another amount or currency",
        )
        .with_field("order_id")),
        Err(RecordError::CurrencyMismatch) => Err(ApiError::unprocessable(
            "currency_mismatch",
            "the conversion's currency is not the credited campaign's currency",
        )
        .with_field("currency")),
        Err(RecordError::Storage(e)) => Err(e.into()),
    }
}

/// The order id in a path: one that could not have been recorded is simply not found
/// (and never reaches Postgres, which refuses a NUL in text).
fn order_in_path(raw: &str) -> Result<String, ApiError> {
    super::order_id(raw).map_err(|_| ApiError::not_found("conversion"))
}

#[utoipa::path(
    get,
    path = "/v1/conversions/{order_id}",
    tag = "conversions",
    params(("order_id" = String, Path, description = "The shop's order id.")),
    responses(
        (status = 200, description = "The conversion.", body = ConversionView),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn get(
    _: Checkout,
    state: web::Data<AppState>,
    order_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order_id = order_in_path(&order_id)?;
    let row = conversions::by_order(&state.db, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversion"))?;
    Ok(HttpResponse::Ok().json(view(&row)))
}

#[utoipa::path(
    post,
    path = "/v1/conversions/{order_id}/refunds",
    tag = "conversions",
    params(("order_id" = String, Path, description = "The shop's order id.")),
    request_body(content = Option<RefundRequest>, description = "Optional: an empty body refunds the rest."),
    responses(
        (status = 200, description = "The conversion with the refund counted. An empty body refunds the rest.", body = ConversionView),
        (status = 409, description = "The conversion is cancelled (`conversion_cancelled`).", body = ErrorBody),
        (status = 422, description = "More than is left to refund (`refund_exceeds_amount`).", body = ErrorBody),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn refund(
    _: Checkout,
    state: web::Data<AppState>,
    order_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let order_id = order_in_path(&order_id)?;
    // An empty body refunds the rest; a malformed one must never be read as empty.
    let request: RefundRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefundRequest { amount_minor: None }
    } else {
        crate::http::json::object(&body)?
    };
    let amount = match request.amount_minor {
        Some(a) if a > 0 => Some(money::amount("amount_minor", a)?),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_amount",
                "a refund takes at least one minor unit",
            )
            .with_field("amount_minor"))
        }
        None => None,
    };
    match converting::refund(&state.db, &order_id, amount).await? {
        RefundOutcome::Refunded { row, .. } => Ok(HttpResponse::Ok().json(view(&row))),
        RefundOutcome::NotFound => Err(ApiError::not_found("conversion")),
        RefundOutcome::Cancelled => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conversion_cancelled",
            "the conversion is cancelled",
        )),
        RefundOutcome::Exceeds { left } => Err(ApiError::unprocessable(
            "refund_exceeds_amount",
            format!("only {left} minor units are left to refund"),
        )
        .with_field("amount_minor")),
    }
}

#[utoipa::path(
    post,
    path = "/v1/conversions/{order_id}/cancel",
    tag = "conversions",
    params(("order_id" = String, Path, description = "The shop's order id.")),
    responses(
        (status = 200, description = "The conversion, cancelled; with `Idempotent-Replayed: true` when it already was.", body = ConversionView, headers(("Idempotent-Replayed" = String, description = "`true`: the same request was made before; this is its result."))),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn cancel(
    _: Checkout,
    state: web::Data<AppState>,
    order_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order_id = order_in_path(&order_id)?;
    match converting::cancel(&state.db, &order_id).await? {
        CancelOutcome::Cancelled(row) => Ok(HttpResponse::Ok().json(view(&row))),
        CancelOutcome::AlreadyCancelled(row) => Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(view(&row))),
        CancelOutcome::NotFound => Err(ApiError::not_found("conversion")),
    }
}
