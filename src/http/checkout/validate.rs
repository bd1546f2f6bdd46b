//! `POST /v1/codes/{code}/validate`: would this code apply to this cart? No side effect.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::{
    checkout::validation::{self, Cart},
    domain::{
        checkout::Rejection,
        discount::DiscountKind,
        money::{self, Currency},
    },
    http::json::Json,
    http::{auth::Checkout, error::ApiError},
    state::AppState,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    subtotal_minor: i64,
    /// ISO 4217 code of the cart.
    #[schema(min_length = 1)]
    currency: String,
    /// The shop's customer reference, for per-customer limits (1 to 200 characters).
    #[schema(min_length = 1)]
    customer_ref: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    valid: bool,
    /// The discount the code would give this cart; 0 when it would not apply.
    discount_minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    discount_kind: Option<DiscountKind>,
    /// Why the code would not apply: `code_not_found`, `code_inactive`, `not_started`, `expired`, `usage_limit_reached`, `customer_limit_reached`, `minimum_not_met`, `currency_mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// The reason for people, to show the customer.
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
#[utoipa::path(
    post,
    path = "/v1/codes/{code}/validate",
    tag = "checkout",
    params(("code" = String, Path, description = "The promo code (case-insensitive).")),
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "Whether the code applies to this cart, and its discount. A code that does not apply is `valid: false` with a `reason`, not an error.", body = Verdict),
    ),
    security(("bearer" = ["checkout", "admin"]))
)]
pub async fn validate(
    _: Checkout,
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: Json<ValidateRequest>,
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
            discount_kind: Some(kind),
            reason: None,
            message: None,
        },
        Err(rejection) => Verdict::rejected(rejection),
    };
    Ok(HttpResponse::Ok().json(verdict))
}
