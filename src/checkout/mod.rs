//! Checkout as a use case: validating a cart's code, redeeming it, and the conversions
//! and refunds that follow.

pub mod conversions;
pub mod redeemer;
pub mod redemptions;
