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

/// A promo code as a customer typed it; what cannot be a code is simply not found.
fn typed_code(raw: &str) -> Option<String> {
    crate::domain::code::PromoCode::parse(raw)
        .ok()
        .map(|c| c.as_str().to_owned())
}

/// `raw` if it can be a code (already upper-case).
fn typed_code_str(raw: &str) -> Option<&str> {
    crate::domain::code::PromoCode::parse(raw).ok().map(|_| raw)
}
