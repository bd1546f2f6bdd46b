//! Query parameters shared by every report: the period (`from`, `to`, `tz`) and the
//! output `format`.
//!
//! `from` and `to` are RFC 3339 instants or calendar dates (`2026-11-01`) in `tz`; a date
//! in `to` includes that whole day. Rollups are hourly, so the period is widened to whole
//! UTC hours (`from` down, `to` up) and the report says which period it covers. In a zone
//! whose offset is not a whole number of hours (Asia/Kolkata, say), day boundaries
//! therefore fall on the UTC hour that contains local midnight.

use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::{domain::time, http::error::ApiError, storage::reports::Range};

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub tz: Option<String>,
    pub format: Option<String>,
    pub campaign_id: Option<String>,
    pub influencer_id: Option<String>,
    pub link_id: Option<String>,
    pub interval: Option<String>,
    pub by: Option<String>,
    pub underperforming_percent: Option<String>,
}

/// `json` (default) or `csv` (a header row and one line per report row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

impl ReportQuery {
    pub fn format(&self) -> Result<Format, ApiError> {
        // Exactly the documented names: the description's enum is what is taken.
        match self.format.as_deref() {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(ApiError::bad_request(
                "invalid_format",
                format!("format {other:?} is not one of json, csv"),
            )
            .with_field("format")),
        }
    }

    pub fn tz(&self) -> Result<Tz, ApiError> {
        match self.tz.as_deref().map(str::trim) {
            None | Some("") => Ok(Tz::UTC),
            Some(name) => Tz::from_str(name).map_err(|_| {
                ApiError::bad_request(
                    "invalid_timezone",
                    format!("tz {name:?} is not an IANA time zone, e.g. Europe/Stockholm"),
                )
                .with_field("tz")
            }),
        }
    }

    /// The period asked for, or `[default_from, default_to)` where a bound is absent.
    pub fn period(
        &self,
        tz: Tz,
        default_from: DateTime<Utc>,
        default_to: DateTime<Utc>,
    ) -> Result<Range, ApiError> {
        let from = match non_empty(&self.from) {
            Some(raw) => bound("from", raw, tz, false)?,
            None => default_from,
        };
        let to = match non_empty(&self.to) {
            Some(raw) => bound("to", raw, tz, true)?,
            None => default_to,
        };
        let range = Range {
            from: floor_hour(from),
            to: ceil_hour(to),
        };
        if range.from >= range.to {
            return Err(ApiError::bad_request(
                "invalid_range",
                format!(
                    "from ({}) must be before to ({})",
                    time::format(&from),
                    time::format(&to)
                ),
            )
            .with_field("from"));
        }
        Ok(range)
    }

    /// `underperforming_percent`, else `default`.
    pub fn underperforming_percent(&self, default: u32) -> Result<u32, ApiError> {
        match self.underperforming_percent.as_deref() {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_percent",
                        format!(
                            "underperforming_percent {raw:?} is not a whole number from 0 to 100"
                        ),
                    )
                    .with_field("underperforming_percent")
                }),
        }
    }
}

pub fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// An instant, or the start of a local date (for `to`: the start of the next one).
fn bound(field: &'static str, raw: &str, tz: Tz, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Some(date) = time::parse_date(field, raw) {
        let date = date.map_err(ApiError::from)?;
        let day = if end { date.succ_opt() } else { Some(date) };
        return day.and_then(|d| local_midnight(tz, d)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_datetime",
                format!("{field} {raw:?} is out of range"),
            )
            .with_field(field)
        });
    }
    time::parse(field, raw).map_err(|e| {
        if DateTime::parse_from_rfc3339(raw.trim()).is_ok() {
            return ApiError::from(e);
        }
        ApiError::bad_request(
            "invalid_datetime",
            format!("{field} {raw:?} is neither a date (2026-11-01) nor an RFC 3339 timestamp"),
        )
        .with_field(field)
    })
}

/// When `date` begins in `tz`: local midnight, or the first local time after it where a
/// daylight-saving change skips midnight.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    (0..4).find_map(|hour| {
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

fn ceil_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_hour(t);
    if floor == t {
        t
    } else {
        floor + Duration::hours(1)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    use super::*;

    fn query(from: &str, to: &str, tz: &str) -> ReportQuery {
        ReportQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            tz: Some(tz.into()),
            ..ReportQuery::default()
        }
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        time::parse("t", raw).unwrap()
    }

    #[test]
    fn dates_are_whole_local_days() {
        let q = query("2026-11-01", "2026-11-02", "Europe/Stockholm");
        let range = q.period(q.tz().unwrap(), Utc::now(), Utc::now()).unwrap();
        assert_eq!(range.from, utc("2026-10-31T23:00:00Z"));
        assert_eq!(range.to, utc("2026-11-02T23:00:00Z"));
    }

    #[test]
    fn instants_widen_to_whole_hours() {
        let q = query("2026-11-01T10:30:00Z", "2026-11-01T12:00:01+01:00", "");
        let range = q.period(Tz::UTC, Utc::now(), Utc::now()).unwrap();
        assert_eq!(range.from, utc("2026-11-01T10:00:00Z"));
        assert_eq!(range.to, utc("2026-11-01T12:00:00Z"));
    }

    #[test]
    fn bad_periods_and_zones_are_refused_with_a_code() {
        let q = query("2026-11-02", "2026-11-01", "UTC");
        assert_eq!(
            q.period(Tz::UTC, Utc::now(), Utc::now()).unwrap_err().code,
            "invalid_range"
        );
        let q = query("yesterday", "2026-11-01", "UTC");
        assert_eq!(
            q.period(Tz::UTC, Utc::now(), Utc::now()).unwrap_err().code,
            "invalid_datetime"
        );
        for (from, to) in [
            ("-5000-01-01", "2026-11-01"),
            ("2026-11-01", "10000-01-01"),
            ("0000-01-01T00:00:00Z", "2026-11-01"),
        ] {
            let q = query(from, to, "UTC");
            assert_eq!(
                q.period(Tz::UTC, Utc::now(), Utc::now()).unwrap_err().code,
                "invalid_datetime",
                "{from} {to}"
            );
        }
        let q = query("0001-01-01", "9999-12-31", "Pacific/Kiritimati");
        assert!(q.period(q.tz().unwrap(), Utc::now(), Utc::now()).is_ok());
        assert_eq!(
            query("", "", "Mars/Olympus").tz().unwrap_err().code,
            "invalid_timezone"
        );
    }

    fn period_bound() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let year = prop_oneof![-300_000i32..300_000, -3i32..3, 9_997i32..10_003];
        prop_oneof![
            any::<String>(),
            year.clone().prop_map(|y| format!("{y:04}-01-01")),
            year.clone().prop_map(|y| format!("{y:+}-12-31")),
            year.prop_map(|y| format!("{y:04}-12-31T23:59:59-14:00")),
            "[0-9+-]{1,8}-[0-9]{1,2}-[0-9]{1,2}",
        ]
    }

    proptest::proptest! {
        /// Whatever `from`, `to` and `tz` say, the period is refused with a code or is an
        /// ordered range of whole hours that Postgres's timestamptz holds.
        #[test]
        fn any_period_is_refused_or_storable(
            from in period_bound(),
            to in period_bound(),
            tz in proptest::prop_oneof![
                proptest::strategy::Just("UTC".to_owned()),
                proptest::strategy::Just("Pacific/Kiritimati".to_owned()),
                proptest::strategy::Just("Etc/GMT+12".to_owned()),
                proptest::arbitrary::any::<String>(),
            ],
        ) {
            let q = query(&from, &to, &tz);
            let Ok(tz) = q.tz() else { return Ok(()) };
            match q.period(tz, Utc::now(), Utc::now()) {
                Ok(range) => {
                    proptest::prop_assert!(range.from < range.to);
                    for t in [range.from, range.to] {
                        proptest::prop_assert!((-4712..=294_275).contains(&t.year()), "{t}");
                        proptest::prop_assert_eq!(floor_hour(t), t);
                    }
                }
                Err(e) => proptest::prop_assert!(
                    ["invalid_datetime", "invalid_range"].contains(&e.code),
                    "{}", e.code
                ),
            }
        }
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_first_local_hour() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06
        let start = local_midnight(
            "America/Santiago".parse().unwrap(),
            NaiveDate::from_ymd_opt(2026, 9, 6).unwrap(),
        );
        assert_eq!(start, Some(utc("2026-09-06T04:00:00Z")));
    }
}
