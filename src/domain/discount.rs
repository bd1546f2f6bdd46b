//! A promo code's discount: percent (basis points), fixed amount (minor units of the
//! campaign currency) or free shipping.

use serde::{Deserialize, Serialize};

use super::{money::MAX_AMOUNT_MINOR, Invalid};

/// Stored as its wire name in `text` columns; a stored value that is none of them does not
/// decode (an error, never a guess).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DiscountKind {
    Percent,
    Fixed,
    FreeShipping,
}

impl DiscountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscountKind::Percent => "percent",
            DiscountKind::Fixed => "fixed",
            DiscountKind::FreeShipping => "free_shipping",
        }
    }
}

/// The value stored for `kind`; free shipping carries none (stored as 0).
pub fn value_for(kind: DiscountKind, value: Option<i64>) -> Result<i64, Invalid> {
    match kind {
        DiscountKind::Percent => match value {
            Some(v) if (1..=10_000).contains(&v) => Ok(v),
            _ => Err(Invalid::malformed(
                "discount_value",
                "invalid_discount",
                "a percent discount needs discount_value in basis points, 1 to 10000 (100 %)",
            )),
        },
        DiscountKind::Fixed => match value {
            Some(v) if (1..=MAX_AMOUNT_MINOR).contains(&v) => Ok(v),
            _ => Err(Invalid::malformed(
                "discount_value",
                "invalid_discount",
                "a fixed discount needs discount_value in minor units of the campaign currency, at least 1",
            )),
        },
        DiscountKind::FreeShipping => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_basis_points_up_to_one_hundred_percent() {
        assert_eq!(value_for(DiscountKind::Percent, Some(2000)), Ok(2000));
        assert!(value_for(DiscountKind::Percent, Some(0)).is_err());
        assert!(value_for(DiscountKind::Percent, Some(10_001)).is_err());
        assert!(value_for(DiscountKind::Percent, None).is_err());
    }

    #[test]
    fn fixed_needs_a_positive_amount_and_free_shipping_none() {
        assert_eq!(value_for(DiscountKind::Fixed, Some(500)), Ok(500));
        assert!(value_for(DiscountKind::Fixed, Some(-5)).is_err());
        assert_eq!(value_for(DiscountKind::FreeShipping, Some(999)), Ok(0));
        assert_eq!(value_for(DiscountKind::FreeShipping, None), Ok(0));
    }
}
