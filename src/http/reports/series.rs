//! `GET /v1/reports/timeseries?campaign_id=&influencer_id=&link_id=&interval=hour|day`:
//! clicks and sales per bucket, every bucket of the period present (zeros included), day
//! buckets starting at midnight in `tz`. A link alone names its campaign.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    campaign, campaign_period, csv,
    params::{local_midnight, non_empty, Format, ReportQuery},
};
use crate::{
    domain::money::Currency,
    http::{
        auth::Analyst,
        error::{ApiError, Body as ErrorBody},
        wire::path_id,
    },
    state::AppState,
    storage::{
        links,
        reports::{self as rollups, HourTally, Range, SeriesFilter},
    },
};

/// More buckets than anyone charts: about 14 months of hours.
const MAX_BUCKETS: usize = 10_000;

/// The bucket width; `day` buckets are local days of `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    /// Exactly the documented names; absent is `day`.
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("day") => Ok(Interval::Day),
            Some("hour") => Ok(Interval::Hour),
            Some(other) => Err(ApiError::bad_request(
                "invalid_interval",
                format!("interval {other:?} is not one of hour, day"),
            )
            .with_field("interval")),
        }
    }
}

/// One bucket of the series.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    start: DateTime<Utc>,
    /// The local calendar date of a day bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<NaiveDate>,
    clicks: i64,
    unique_clicks: i64,
    bot_clicks: i64,
    conversions: i64,
    revenue_minor: i64,
}

impl Bucket {
    fn empty(start: DateTime<Utc>, date: Option<NaiveDate>) -> Self {
        Bucket {
            start,
            date,
            clicks: 0,
            unique_clicks: 0,
            bot_clicks: 0,
            conversions: 0,
            revenue_minor: 0,
        }
    }

    fn add(&mut self, hour: &HourTally) {
        self.clicks = self.clicks.saturating_add(hour.clicks);
        self.unique_clicks = self.unique_clicks.saturating_add(hour.unique_clicks);
        self.bot_clicks = self.bot_clicks.saturating_add(hour.bot_clicks);
        self.conversions = self.conversions.saturating_add(hour.conversions);
        self.revenue_minor = self.revenue_minor.saturating_add(hour.revenue_minor);
    }
}

/// The empty buckets covering `range`, keyed by their start.
fn buckets(
    range: Range,
    interval: Interval,
    tz: Tz,
) -> Result<BTreeMap<DateTime<Utc>, Bucket>, ApiError> {
    let too_many = || {
        ApiError::bad_request(
            "range_too_large",
            format!(
                "the period holds more than {MAX_BUCKETS} buckets; narrow it or use interval=day"
            ),
        )
    };
    let mut out = BTreeMap::new();
    match interval {
        Interval::Hour => {
            let hours = (range.to - range.from).num_hours();
            if hours > MAX_BUCKETS as i64 {
                return Err(too_many());
            }
            for h in 0..hours {
                let start = range.from + Duration::hours(h);
                out.insert(start, Bucket::empty(start, None));
            }
        }
        Interval::Day => {
            let first = range.from.with_timezone(&tz).date_naive();
            let last = (range.to - Duration::seconds(1))
                .with_timezone(&tz)
                .date_naive();
            if (last - first).num_days() >= MAX_BUCKETS as i64 {
                return Err(too_many());
            }
            for date in first.iter_days().take_while(|d| *d <= last) {
                let start = local_midnight(tz, date).ok_or_else(too_many)?;
                out.insert(start, Bucket::empty(start, Some(date)));
            }
        }
    }
    Ok(out)
}

fn bucket_of(hour: DateTime<Utc>, interval: Interval, tz: Tz) -> Option<DateTime<Utc>> {
    match interval {
        Interval::Hour => Some(hour),
        Interval::Day => local_midnight(tz, hour.with_timezone(&tz).date_naive()),
    }
}

/// `GET /v1/reports/timeseries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    campaign_id: String,
    influencer_id: Option<String>,
    link_id: Option<String>,
    currency: Currency,
    interval: Interval,
    /// The IANA time zone of the day buckets and of dates in `from` and `to`.
    tz: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    data: Vec<Bucket>,
}

/// An optional id filter; a malformed one names nothing, so it is not found.
fn id_param(raw: Option<&str>, what: &str) -> Result<Option<i64>, ApiError> {
    raw.map(|r| path_id(r, what)).transpose()
}

#[utoipa::path(
    get,
    path = "/v1/reports/timeseries",
    tag = "reports",
    params(("campaign_id" = Option<String>, Query, description = "The campaign; may be left out when `link_id` is given."),
        ("influencer_id" = Option<String>, Query, description = "Only this influencer's clicks and sales."),
        ("link_id" = Option<String>, Query, description = "Only this link's clicks and sales."),
        ("interval" = Option<Interval>, Query, description = "Default `day`."), ("from" = Option<String>, Query, description = "Start: an RFC 3339 instant, or a date (`2026-11-01`) in `tz`. Default: the campaign's start."),
        ("to" = Option<String>, Query, description = "End: an RFC 3339 instant, or a date in `tz` (that whole day included). Default: the campaign's end, or now."),
        ("tz" = Option<String>, Query, description = "IANA time zone of dates and day buckets; default `UTC`."),
        ("format" = Option<Format>, Query, description = "Default `json`.")),
    responses(
        (status = 200, description = "Every bucket of the period, zeros included.", content((Series = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No campaign, link or influencer has this id (`not_found`).", body = ErrorBody),
        (status = 422, description = "`link_id` names a link of another campaign (`link_not_in_campaign`).", body = ErrorBody),
    ),
    security(("bearer" = ["analyst", "admin"]))
)]
pub async fn timeseries(
    _: Analyst,
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.format()?;
    let tz = query.tz()?;
    let interval = Interval::parse(query.interval.as_deref())?;
    let link_id = id_param(non_empty(&query.link_id), "link")?;
    let influencer_id = id_param(non_empty(&query.influencer_id), "influencer")?;

    let link = match link_id {
        Some(id) => Some(
            links::get(&state.reports_db, id)
                .await?
                .ok_or_else(|| ApiError::not_found("link"))?,
        ),
        None => None,
    };
    let campaign_ref =
        match (non_empty(&query.campaign_id), &link) {
            (Some(raw), _) => raw.to_owned(),
            (None, Some(link)) => link.campaign_id.to_string(),
            (None, None) => return Err(ApiError::bad_request(
                "campaign_required",
                "give campaign_id or link_id: a time series belongs to one campaign (one currency)",
            )
            .with_field("campaign_id")),
        };
    let campaign = campaign(&state, &campaign_ref).await?;
    if link.as_ref().is_some_and(|l| l.campaign_id != campaign.id) {
        return Err(ApiError::unprocessable(
            "link_not_in_campaign",
            "link_id names a link of another campaign",
        )
        .with_field("link_id"));
    }
    let (default_from, default_to) = campaign_period(&campaign, Utc::now());
    let range = query.period(tz, default_from, default_to)?;
    let mut series = buckets(range, interval, tz)?;

    let filter = SeriesFilter {
        campaign_id: campaign.id,
        influencer_id,
        link_id,
    };
    for (hour, tally) in rollups::hourly(&state.reports_db, filter, range).await? {
        if let Some(bucket) = bucket_of(hour, interval, tz).and_then(|b| series.get_mut(&b)) {
            bucket.add(&tally);
        }
    }
    let data: Vec<Bucket> = series.into_values().collect();

    match format {
        Format::Json => Ok(HttpResponse::Ok().json(Series {
            campaign_id: campaign.id.to_string(),
            influencer_id: influencer_id.map(|id| id.to_string()),
            link_id: link_id.map(|id| id.to_string()),
            currency: campaign.currency,
            interval,
            tz: tz.name().to_owned(),
            from: range.from,
            to: range.to,
            data,
        })),
        Format::Csv => {
            let rows: Vec<csv::Row> = data.iter().map(|b| csv::flatten(&json!(b), &[])).collect();
            let mut columns = vec!["start"];
            if interval == Interval::Day {
                columns.push("date");
            }
            columns.extend_from_slice(&[
                "clicks",
                "unique_clicks",
                "bot_clicks",
                "conversions",
                "revenue_minor",
            ]);
            csv::response(
                &format!("campaign-{}-timeseries.csv", campaign.id),
                &columns,
                &rows,
            )
        }
    }
}
