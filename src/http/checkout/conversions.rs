//! `/v1/conversions`: orders and other goals reported after the fact, attributed by code
//! or by signed click id (see [`crate::domain::attribution`]); refunds and cancellations.

use actix_web::{http::StatusCode, web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    checkout::conversions::{self as converting, CancelOutcome, RecordError, Recorded, Reported},
    domain::{
        code::PromoCode,
        money::{self, Currency},
        time, Invalid,
    },
    http::{auth::Checkout, error::ApiError},
    state::AppState,
    storage::conversions::{self, ConversionRow, RefundOutcome},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionRequest {
    order_id: String,
    kind: Option<String>,
    amount_minor: i64,
    currency: String,
    click_id: Option<String>,
    code: Option<String>,
    customer_ref: Option<String>,
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
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
fn view(row: &ConversionRow) -> Value {
    let attributed = match (row.campaign_id, row.influencer_id, &row.via) {
        (Some(campaign), Some(influencer), Some(via)) => {
            let mut credit = json!({"campaign_id": campaign.to_string(),
                                    "influencer_id": influencer.to_string(), "via": via});
            if let Some(link) = row.link_id {
                credit["link_id"] = json!(link.to_string());
            }
            credit
        }
        _ => Value::Null,
    };
    json!({
        "order_id": row.order_id,
        "status": row.status,
        "attributed": attributed,
        "rule": row.rule,
        "kind": row.kind,
        "amount_minor": row.amount_minor,
        "refunded_minor": row.refunded_minor,
        "currency": row.currency,
        "cancelled_at": row.cancelled_at.as_ref().map(time::format),
        "occurred_at": time::format(&row.occurred_at),
    })
}

pub async fn create(
    _: Checkout,
    state: web::Data<AppState>,
    body: web::Json<ConversionRequest>,
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
        Ok(Recorded::Created(row)) => Ok(HttpResponse::Accepted().json(view(&row))),
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
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?
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
