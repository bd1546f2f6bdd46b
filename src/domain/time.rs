//! Timestamps on the wire are RFC 3339; stored and returned in UTC.

use chrono::{DateTime, SecondsFormat, Utc};

use super::Invalid;

pub fn parse(field: &'static str, raw: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Invalid::malformed(
                field,
                "invalid_datetime",
                format!("{raw:?} is not an RFC 3339 timestamp, e.g. 2026-05-01T00:00:00Z"),
            )
        })
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
