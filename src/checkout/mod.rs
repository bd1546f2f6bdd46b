//! Checkout as a use case: validating a cart's code ([`validation`]), redeeming it and
//! moving the redemption on ([`redemptions`], batched by [`redeemer`]), and the conversions,
//! refunds and cancellations that follow ([`conversions`]).
//!
//! Each function takes parsed, typed input from the HTTP layer and returns outcomes, not
//! responses. Rules come from `domain`, SQL from `storage`, events from `pipeline::events`;
//! every change and its outbox event are written in one transaction.

pub mod conversions;
pub mod redeemer;
pub mod redemptions;
pub mod validation;
