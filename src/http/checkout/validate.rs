//! `POST /v1/codes/{code}/validate`: would this code apply to this cart? No side effect.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        checkout::{self, Rejection},
        money::{self, Currency},
    },
    http::{auth::Checkout, error::ApiError},
    state::AppState,
    storage::redemptions,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    subtotal_minor: i64,
    currency: String,
    customer_ref: Option<String>,
}

#[derive(Debug, Serialize)]
struct Verdict {
    valid: bool,
    discount_minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    discount_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

impl Verdict {
    fn rejected(rejection: Rejection) -> Self {
        Verdict {
            valid: false,
            discount_minor: 0,
            discount_kind: None,
            reason: Some(rejection.code()),
            message: Some(rejection.message()),
        }
    }
}

/// Every rejection is a `200` with `valid: false` and the reason: the shop shows it to the
/// customer. Only a malformed request is an error.
pub async fn validate(
    _: Checkout,
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<ValidateRequest>,
) -> Result<HttpResponse, ApiError> {
    let subtotal = money::amount("subtotal_minor", body.subtotal_minor)?;
    let currency = Currency::parse("currency", &body.currency)?;
    let customer = super::customer_ref(body.customer_ref.as_deref())?;

    let found = match super::typed_code(&code) {
        Some(code) => redemptions::code_for_cart(&state.db, &code).await?,
        None => None,
    };
    let Some(code) = found else {
        return Ok(HttpResponse::Ok().json(Verdict::rejected(Rejection::CodeNotFound)));
    };
    let discount = match checkout::evaluate(&code.terms(), Utc::now(), subtotal, currency.code()) {
        Ok(discount) => discount,
        Err(rejection) => return Ok(HttpResponse::Ok().json(Verdict::rejected(rejection))),
    };
    if code
        .max_redemptions
        .is_some_and(|max| code.redemptions >= max)
    {
        return Ok(HttpResponse::Ok().json(Verdict::rejected(Rejection::UsageLimitReached)));
    }
    if let (Some(customer), Some(max)) = (&customer, code.max_per_customer) {
        if redemptions::customer_uses(&state.db, code.id, customer).await? >= max {
            return Ok(HttpResponse::Ok().json(Verdict::rejected(Rejection::CustomerLimitReached)));
        }
    }
    Ok(HttpResponse::Ok().json(Verdict {
        valid: true,
        discount_minor: discount,
        discount_kind: Some(code.discount_kind.as_str().to_owned()),
        reason: None,
        message: None,
    }))
}
