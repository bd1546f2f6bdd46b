//! Would this code apply to this cart? The answer a checkout shows before it redeems,
//! decided by the same rules as a redemption ([`crate::domain::checkout`]), with no side
//! effect: nothing is held or counted.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    domain::{
        checkout::{self, Rejection},
        code::PromoCode,
        discount::DiscountKind,
        money::Currency,
    },
    storage::{redemptions, StorageError},
};

/// A cart to test a code against, parsed.
#[derive(Debug)]
pub struct Cart<'a> {
    /// As the customer typed it; `None` when it cannot be a code at all.
    pub code: Option<&'a PromoCode>,
    pub subtotal_minor: i64,
    pub currency: Currency,
    pub customer_ref: Option<&'a str>,
}

/// The discount the code would give, or why it would not apply.
pub type Verdict = Result<(i64, DiscountKind), Rejection>;

pub async fn validate(
    db: &PgPool,
    cart: &Cart<'_>,
    now: DateTime<Utc>,
) -> Result<Verdict, StorageError> {
    let found = match cart.code {
        Some(code) => redemptions::code_for_cart(db, code).await?,
        None => None,
    };
    let Some(code) = found else {
        return Ok(Err(Rejection::CodeNotFound));
    };
    let discount = match checkout::evaluate(&code.terms(), now, cart.subtotal_minor, cart.currency)
    {
        Ok(discount) => discount,
        Err(rejection) => return Ok(Err(rejection)),
    };
    if code
        .max_redemptions
        .is_some_and(|max| code.redemptions >= max)
    {
        return Ok(Err(Rejection::UsageLimitReached));
    }
    if let (Some(customer), Some(max)) = (cart.customer_ref, code.max_per_customer) {
        if redemptions::customer_uses(db, code.id, customer).await? >= max {
            return Ok(Err(Rejection::CustomerLimitReached));
        }
    }
    Ok(Ok((discount, code.discount_kind)))
}
