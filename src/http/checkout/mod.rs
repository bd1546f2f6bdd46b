//! The checkout API (checkout scope): promo-code validation, redemptions, conversions.

pub mod conversions;
pub mod redemptions;
pub mod validate;

use actix_web::web;

use super::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/codes/{code}/validate").post(validate::validate))
        .service(resource("/redemptions").post(redemptions::create))
        .service(resource("/redemptions/{id}").get(redemptions::get))
        .service(resource("/redemptions/{id}/commit").post(redemptions::commit))
        .service(resource("/redemptions/{id}/release").post(redemptions::release))
        .service(resource("/redemptions/{id}/cancel").post(redemptions::cancel))
        .service(resource("/conversions").post(conversions::create))
        .service(resource("/conversions/{order_id}").get(conversions::get))
        .service(resource("/conversions/{order_id}/refunds").post(conversions::refund))
        .service(resource("/conversions/{order_id}/cancel").post(conversions::cancel));
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
