//! Money is integer minor units plus an ISO 4217 currency; rates are basis points.

use super::{stored::stored_as_text, Invalid};

/// 10^15 minor units: far above any real order or budget, far below i64 overflow when
/// reports add many of them up.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

stored_as_text!(Currency, Currency::stored);

impl Currency {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let upper = raw.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&upper)
            .map(Currency)
            .ok_or_else(|| {
                Invalid::malformed(
                    field,
                    "invalid_currency",
                    format!("{raw:?} is not an ISO 4217 currency code"),
                )
            })
    }

    /// A currency as a `char(3)` column holds it: an upper-case ISO 4217 code. The type
    /// holds only codes the `iso_currency` crate knows, so a code it dropped in some release
    /// would stop decoding: an error to see when updating it, never a guessed currency.
    fn stored(raw: &str) -> Option<Self> {
        iso_currency::Currency::from_code(raw).map(Currency)
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// The code, as stored and sent.
    pub fn as_str(&self) -> &'static str {
        self.code()
    }
}

/// A non-negative amount in minor units (cents, öre, yen).
pub fn amount(field: &'static str, value: i64) -> Result<i64, Invalid> {
    if (0..=MAX_AMOUNT_MINOR).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::malformed(
            field,
            "invalid_amount",
            format!("must be a whole number of minor units from 0 to {MAX_AMOUNT_MINOR}"),
        ))
    }
}

/// A rate in basis points, 0 to 10 000 (100 %).
pub fn basis_points(field: &'static str, value: i64) -> Result<i32, Invalid> {
    match i32::try_from(value) {
        Ok(bps) if (0..=10_000).contains(&bps) => Ok(bps),
        _ => Err(Invalid::malformed(
            field,
            "invalid_basis_points",
            "must be basis points from 0 to 10000 (100 %)",
        )),
    }
}

/// A count that must be at least one when given (limits such as `max_clicks`).
pub fn positive_count(field: &'static str, value: i64) -> Result<i64, Invalid> {
    if (1..=MAX_AMOUNT_MINOR).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::malformed(
            field,
            "invalid_number",
            "must be a whole number of at least 1",
        ))
    }
}

/// 10^12: more than any audience on earth, and small enough that reports can add millions
/// of posts' metrics (likes, comments, shares and saves together) without overflow.
pub const MAX_COUNT: i64 = 1_000_000_000_000;

/// A non-negative count (followers, post metrics), at most [`MAX_COUNT`].
pub fn count(field: &'static str, value: i64) -> Result<i64, Invalid> {
    if (0..=MAX_COUNT).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::malformed(
            field,
            "invalid_number",
            format!("must be a whole number from 0 to {MAX_COUNT}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_iso_4217_codes_in_any_case() {
        assert_eq!(Currency::parse("currency", "sek").unwrap().code(), "SEK");
        assert_eq!(Currency::parse("currency", "EUR").unwrap().code(), "EUR");
        for bad in ["", "EU", "EURO", "XYZ", "€"] {
            assert_eq!(
                Currency::parse("currency", bad).unwrap_err().code,
                "invalid_currency",
                "{bad}"
            );
        }
    }

    #[test]
    fn amounts_are_bounded_and_non_negative() {
        assert_eq!(amount("x", 0), Ok(0));
        assert_eq!(amount("x", MAX_AMOUNT_MINOR), Ok(MAX_AMOUNT_MINOR));
        assert_eq!(amount("x", -1).unwrap_err().code, "invalid_amount");
        assert_eq!(
            amount("x", MAX_AMOUNT_MINOR + 1).unwrap_err().code,
            "invalid_amount"
        );
    }

    #[test]
    fn basis_points_stay_within_one_hundred_percent() {
        assert_eq!(basis_points("x", 10_000), Ok(10_000));
        assert!(basis_points("x", 10_001).is_err());
        assert!(basis_points("x", -1).is_err());
        assert!(basis_points("x", i64::MAX).is_err());
    }

    #[test]
    fn counts_refuse_negatives_and_limits_refuse_zero() {
        assert!(count("x", -1).is_err());
        assert_eq!(count("x", 0), Ok(0));
        assert_eq!(count("x", MAX_COUNT), Ok(MAX_COUNT));
        assert!(count("x", MAX_COUNT + 1).is_err());
        assert!(count("x", i64::MAX).is_err());
        assert!(positive_count("x", 0).is_err());
        assert_eq!(positive_count("x", 5), Ok(5));
    }
}
