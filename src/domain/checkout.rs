//! Whether a promo code applies to a cart, and what it takes off.
//!
//! Pure rules: the code's own terms against the cart and the clock. The limits that depend
//! on other orders (`max_redemptions`, `max_per_customer`) are decided in the database, in
//! the same transaction that takes the slot.

use chrono::{DateTime, Utc};

use serde::Serialize;

use super::{discount::DiscountKind, money::Currency};

/// Where a redemption is in its life: a hold (`reserved`) ends committed, released or
/// expired; a committed one can still be cancelled. Stored as its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RedemptionStatus {
    Reserved,
    Committed,
    Released,
    Expired,
    Cancelled,
}

impl RedemptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RedemptionStatus::Reserved => "reserved",
            RedemptionStatus::Committed => "committed",
            RedemptionStatus::Released => "released",
            RedemptionStatus::Expired => "expired",
            RedemptionStatus::Cancelled => "cancelled",
        }
    }
}

/// Why a code does not apply. The wire codes are part of the checkout contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    CodeNotFound,
    CodeInactive,
    NotStarted,
    Expired,
    UsageLimitReached,
    CustomerLimitReached,
    MinimumNotMet,
    CurrencyMismatch,
}

impl Rejection {
    pub fn code(self) -> &'static str {
        match self {
            Rejection::CodeNotFound => "code_not_found",
            Rejection::CodeInactive => "code_inactive",
            Rejection::NotStarted => "not_started",
            Rejection::Expired => "expired",
            Rejection::UsageLimitReached => "usage_limit_reached",
            Rejection::CustomerLimitReached => "customer_limit_reached",
            Rejection::MinimumNotMet => "minimum_not_met",
            Rejection::CurrencyMismatch => "currency_mismatch",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Rejection::CodeNotFound => "no such promo code",
            Rejection::CodeInactive => "this promo code is disabled",
            Rejection::NotStarted => "this promo code is not valid yet",
            Rejection::Expired => "this promo code has expired",
            Rejection::UsageLimitReached => "this promo code has been used up",
            Rejection::CustomerLimitReached => {
                "this customer has used this promo code as often as allowed"
            }
            Rejection::MinimumNotMet => "the subtotal is below this promo code's minimum",
            Rejection::CurrencyMismatch => "the cart's currency is not the campaign's currency",
        }
    }
}

/// A code's own terms, as stored.
#[derive(Debug, Clone)]
pub struct Terms {
    pub kind: DiscountKind,
    pub value: i64,
    pub enabled: bool,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub min_subtotal_minor: Option<i64>,
    /// The campaign's currency.
    pub currency: Currency,
}

/// The discount for `subtotal`, or why the code does not apply.
pub fn evaluate(
    terms: &Terms,
    now: DateTime<Utc>,
    subtotal_minor: i64,
    currency: Currency,
) -> Result<i64, Rejection> {
    if !terms.enabled {
        return Err(Rejection::CodeInactive);
    }
    if terms.starts_at.is_some_and(|t| now < t) {
        return Err(Rejection::NotStarted);
    }
    if terms.ends_at.is_some_and(|t| now >= t) {
        return Err(Rejection::Expired);
    }
    if terms.currency != currency {
        return Err(Rejection::CurrencyMismatch);
    }
    if terms
        .min_subtotal_minor
        .is_some_and(|min| subtotal_minor < min)
    {
        return Err(Rejection::MinimumNotMet);
    }
    Ok(discount(terms.kind, terms.value, subtotal_minor))
}

/// What the code takes off `subtotal_minor`, never more than the subtotal.
///
/// Percent: basis points of the subtotal, rounded half up to the minor unit (12.5 cents off
/// becomes 13). Fixed: the amount, capped at the subtotal. Free shipping: nothing off the
/// subtotal (shipping is not part of it); the shop waives the shipping fee.
pub fn discount(kind: DiscountKind, value: i64, subtotal_minor: i64) -> i64 {
    let subtotal = subtotal_minor.max(0);
    match kind {
        DiscountKind::Percent => {
            let bps = i128::from(value.clamp(0, 10_000));
            let off = (i128::from(subtotal) * bps + 5_000) / 10_000;
            i64::try_from(off).unwrap_or(subtotal).min(subtotal)
        }
        DiscountKind::Fixed => value.max(0).min(subtotal),
        DiscountKind::FreeShipping => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn currency(code: &str) -> Currency {
        Currency::parse("currency", code).unwrap()
    }

    fn terms(kind: DiscountKind, value: i64) -> Terms {
        Terms {
            kind,
            value,
            enabled: true,
            starts_at: None,
            ends_at: None,
            min_subtotal_minor: None,
            currency: currency("EUR"),
        }
    }

    #[test]
    fn percent_rounds_half_up_to_the_minor_unit() {
        // 20 % of 10.00 is 2.00; 15 % of 0.83 is 0.1245 -> 0.12; 50 % of 0.25 is 0.125 -> 0.13
        assert_eq!(discount(DiscountKind::Percent, 2000, 1000), 200);
        assert_eq!(discount(DiscountKind::Percent, 1500, 83), 12);
        assert_eq!(discount(DiscountKind::Percent, 5000, 25), 13);
        assert_eq!(discount(DiscountKind::Percent, 10_000, 4321), 4321);
        assert_eq!(discount(DiscountKind::Percent, 1, 1), 0);
    }

    #[test]
    fn fixed_never_exceeds_the_subtotal_and_free_shipping_takes_nothing_off() {
        assert_eq!(discount(DiscountKind::Fixed, 500, 2000), 500);
        assert_eq!(discount(DiscountKind::Fixed, 500, 300), 300);
        assert_eq!(discount(DiscountKind::Fixed, 500, 0), 0);
        assert_eq!(discount(DiscountKind::FreeShipping, 0, 2000), 0);
    }

    proptest::proptest! {
        #[test]
        fn discounts_stay_within_the_subtotal(
            subtotal in 0i64..=crate::domain::money::MAX_AMOUNT_MINOR,
            value in 1i64..=10_000,
        ) {
            for kind in [DiscountKind::Percent, DiscountKind::Fixed, DiscountKind::FreeShipping] {
                let off = discount(kind, value, subtotal);
                proptest::prop_assert!((0..=subtotal).contains(&off));
            }
        }

        #[test]
        fn percent_is_the_exact_share_rounded_half_up(
            subtotal in 0i64..=crate::domain::money::MAX_AMOUNT_MINOR,
            bps in 1i64..=10_000,
        ) {
            // Exact in integers: off is the rounding of subtotal * bps / 10 000, so
            // |off * 10 000 - subtotal * bps| <= 5 000, and a tie goes up.
            let off = i128::from(discount(DiscountKind::Percent, bps, subtotal));
            let exact = i128::from(subtotal) * i128::from(bps);
            let error = off * 10_000 - exact;
            proptest::prop_assert!((-5_000..=5_000).contains(&error));
            proptest::prop_assert!(error != -5_000, "a tie must round up");
        }
    }

    #[test]
    fn the_first_failing_rule_is_reported() {
        let now = Utc::now();
        let t = terms(DiscountKind::Percent, 1000);
        assert_eq!(evaluate(&t, now, 1000, currency("eur")), Ok(100));
        let disabled = Terms {
            enabled: false,
            ..t.clone()
        };
        assert_eq!(
            evaluate(&disabled, now, 1000, currency("EUR")),
            Err(Rejection::CodeInactive)
        );
        let later = Terms {
            starts_at: Some(now + Duration::hours(1)),
            ..t.clone()
        };
        assert_eq!(
            evaluate(&later, now, 1000, currency("EUR")),
            Err(Rejection::NotStarted)
        );
        let over = Terms {
            ends_at: Some(now),
            ..t.clone()
        };
        assert_eq!(
            evaluate(&over, now, 1000, currency("EUR")),
            Err(Rejection::Expired)
        );
        assert_eq!(
            evaluate(&t, now, 1000, currency("SEK")),
            Err(Rejection::CurrencyMismatch)
        );
        let minimum = Terms {
            min_subtotal_minor: Some(5000),
            ..t.clone()
        };
        assert_eq!(
            evaluate(&minimum, now, 4999, currency("EUR")),
            Err(Rejection::MinimumNotMet)
        );
        assert_eq!(evaluate(&minimum, now, 5000, currency("EUR")), Ok(500));
    }
}
