//! Timestamps on the wire are RFC 3339; stored and returned in UTC.
//!
//! Only years 1 to 9999 (UTC) are taken: RFC 3339 has four-digit years, Postgres stores
//! neither the years before 4713 BC nor those after 294276 that chrono reads, and a
//! period a few hours past the last instant must still be representable.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};

use super::Invalid;

pub const MIN_YEAR: i32 = 1;
pub const MAX_YEAR: i32 = 9999;

pub fn parse(field: &'static str, raw: &str) -> Result<DateTime<Utc>, Invalid> {
    let t = DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Invalid::malformed(
                field,
                "invalid_datetime",
                format!("{raw:?} is not an RFC 3339 timestamp, e.g. 2026-05-01T00:00:00Z"),
            )
        })?;
    if !year_supported(t.year()) {
        return Err(out_of_range(field, raw));
    }
    Ok(t)
}

/// A calendar date (`2026-11-01`) in years 1 to 9999.
pub fn parse_date(field: &'static str, raw: &str) -> Option<Result<NaiveDate, Invalid>> {
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()?;
    Some(if year_supported(date.year()) {
        Ok(date)
    } else {
        Err(out_of_range(field, raw))
    })
}

fn year_supported(year: i32) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&year)
}

fn out_of_range(field: &'static str, raw: &str) -> Invalid {
    Invalid::malformed(
        field,
        "invalid_datetime",
        format!("{raw:?} is outside the years {MIN_YEAR} to {MAX_YEAR}"),
    )
}

/// `ends` must come after `starts` when both are set.
pub fn check_order(
    starts: Option<DateTime<Utc>>,
    ends: Option<DateTime<Utc>>,
) -> Result<(), Invalid> {
    match (starts, ends) {
        (Some(s), Some(e)) if e <= s => Err(Invalid::not_allowed(
            "ends_at",
            "ends_before_starts",
            "ends_at must be later than starts_at",
        )),
        _ => Ok(()),
    }
}

/// RFC 3339 in UTC with a `Z`, the one format every response uses.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_converted_to_utc() {
        let t = parse("starts_at", "2026-05-01T02:00:00+02:00").unwrap();
        assert_eq!(format(&t), "2026-05-01T00:00:00Z");
    }

    #[test]
    fn non_rfc3339_dates_are_refused() {
        for bad in [
            "2026-05-01",
            "yesterday",
            "2026-05-01 00:00:00",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(
                parse("x", bad).unwrap_err().code,
                "invalid_datetime",
                "{bad}"
            );
        }
    }

    #[test]
    fn years_outside_one_to_9999_are_refused() {
        for bad in [
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:30:00-01:00",
        ] {
            assert_eq!(
                parse("x", bad).unwrap_err().code,
                "invalid_datetime",
                "{bad}"
            );
        }
        assert!(parse("x", "0001-01-01T00:00:00Z").is_ok());
        assert!(parse("x", "9999-12-31T23:59:59Z").is_ok());
        // chrono reads five-digit years only with a sign; unread, they are no date at all.
        assert!(parse_date("x", "10000-01-01").is_none());
        for bad in ["-5000-01-01", "0000-12-31", "+10000-01-01", "+12345-06-01"] {
            let refused = parse_date("x", bad).map(|d| d.unwrap_err().code);
            assert_eq!(refused, Some("invalid_datetime"), "{bad}");
        }
        assert!(parse_date("x", "9999-12-31").is_some_and(|d| d.is_ok()));
        assert!(parse_date("x", "yesterday").is_none());
    }

    #[test]
    fn ends_must_follow_starts() {
        let a = parse("x", "2026-05-01T00:00:00Z").unwrap();
        let b = parse("x", "2026-06-01T00:00:00Z").unwrap();
        assert!(check_order(Some(a), Some(b)).is_ok());
        assert_eq!(
            check_order(Some(b), Some(a)).unwrap_err().code,
            "ends_before_starts"
        );
        assert!(check_order(Some(a), Some(a)).is_err());
        assert!(check_order(None, Some(a)).is_ok());
    }
}
