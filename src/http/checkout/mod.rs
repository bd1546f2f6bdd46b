//! The checkout API (checkout scope): promo-code validation, redemptions, conversions.

pub mod conversions;
pub mod redemptions;
pub mod validate;

use super::routes::{at, Endpoint};

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        at("/codes/{code}/validate").post(validate::validate),
        at("/redemptions").post(redemptions::create),
        at("/redemptions/{id}").get(redemptions::get),
        at("/redemptions/{id}/commit").post(redemptions::commit),
        at("/redemptions/{id}/release").post(redemptions::release),
        at("/redemptions/{id}/cancel").post(redemptions::cancel),
        at("/conversions").post(conversions::create),
        at("/conversions/{order_id}").get(conversions::get),
        at("/conversions/{order_id}/refunds").post(conversions::refund),
        at("/conversions/{order_id}/cancel").post(conversions::cancel),
    ]
}

const MAX_REF_CHARS: usize = 200;

/// The shop's order id: 1 to 200 characters.
fn order_id(raw: &str) -> Result<String, crate::domain::Invalid> {
    crate::domain::text::bounded("order_id", raw, MAX_REF_CHARS)
}

/// The shop's customer reference, when given: 1 to 200 characters.
fn customer_ref(raw: Option<&str>) -> Result<Option<String>, crate::domain::Invalid> {
    raw.map(|c| crate::domain::text::bounded("customer_ref", c, MAX_REF_CHARS))
        .transpose()
}

/// A click id the shop passed back, when given: it must carry our signature.
fn verified_click(
    signer: &crate::domain::click_id::ClickSigner,
    raw: Option<&str>,
) -> Result<Option<crate::domain::click_id::ClickId>, super::error::ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => signer.verify(raw).map(Some).map_err(|e| {
            super::error::ApiError::unprocessable("invalid_click_id", e.to_string())
                .with_field("click_id")
        }),
    }
}

/// A promo code as a customer typed it; what cannot be a code is simply not found.
fn typed_code(raw: &str) -> Option<crate::domain::code::PromoCode> {
    crate::domain::code::PromoCode::parse(raw).ok()
}
