//! `POST /v1/codes/{code}/validate`: would this code apply to this cart? No side effect.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::{
    checkout::validation::{self, Cart},
    domain::{
        checkout::Rejection,
        money::{self, Currency},
    },
    http::{auth::Checkout, error::ApiError},
    state::AppState,
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
    discount_kind: Option<&'static str>,
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

    let code = super::typed_code(&code);
    let cart = Cart {
        code: code.as_ref(),
        subtotal_minor: subtotal,
        currency,
        customer_ref: customer.as_deref(),
    };
    let verdict = match validation::validate(&state.db, &cart, Utc::now()).await? {
        Ok((discount, kind)) => Verdict {
            valid: true,
            discount_minor: discount,
            discount_kind: Some(kind.as_str()),
            reason: None,
            message: None,
        },
        Err(rejection) => Verdict::rejected(rejection),
    };
    Ok(HttpResponse::Ok().json(verdict))
}
