//! The reads behind the analyst reports. Clicks and conversions come from the hourly
//! rollups only, so a report's cost grows with hours × links (or × dimension values),
//! never with the number of raw events; posts, metric snapshots and cost lines are
//! configuration-sized tables read as they are.
//!
//! Every range is `[from, to)` on whole UTC hours: the caller rounds it. Totals over a
//! range read its whole UTC days from the daily rollups and only the hours at its two
//! ends from the hourly ones ([`Split`]).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;

use super::StorageError;
use crate::domain::{
    enrollment::FlatFeeBasis,
    kpi::Kpi,
    report::{Compensation, Tally},
};

#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A range as whole UTC days `[first_day, end_day)` plus the hours before and after them:
/// `[from, head_end)` and `[tail_start, to)`. Without a whole day inside, it is all head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
    pub from: DateTime<Utc>,
    pub head_end: DateTime<Utc>,
    pub tail_start: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    pub fn split(&self) -> Split {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        let floor_day = self.to.date_naive();
        let ceil_day = if midnight(self.from.date_naive()) == self.from {
            self.from.date_naive()
        } else {
            self.from.date_naive() + Duration::days(1)
        };
        if ceil_day < floor_day {
            Split {
                first_day: ceil_day,
                end_day: floor_day,
                from: self.from,
                head_end: midnight(ceil_day),
                tail_start: midnight(floor_day),
                to: self.to,
            }
        } else {
            Split {
                first_day: ceil_day,
                end_day: ceil_day,
                from: self.from,
                head_end: self.to,
                tail_start: self.to,
                to: self.to,
            }
        }
    }
}

/// The rows of a daily rollup `daily` and an hourly one `hourly` (both aliased as
/// columns `cols`) that together cover a [`Split`] bound as `$2`–`$7`, campaign `$1`.
macro_rules! daily_and_hourly {
    ($cols:literal, $daily:literal, $hourly:literal) => {
        concat!(
            "SELECT ",
            $cols,
            " FROM ",
            $daily,
            " WHERE campaign_id = $1 AND day >= $2 AND day < $3
             UNION ALL
             SELECT ",
            $cols,
            " FROM ",
            $hourly,
            " WHERE campaign_id = $1
               AND ((hour >= $4 AND hour < $5) OR (hour >= $6 AND hour < $7))"
        )
    };
}

fn bind_split<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    campaign_id: i64,
    split: Split,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(campaign_id)
        .bind(split.first_day)
        .bind(split.end_day)
        .bind(split.from)
        .bind(split.head_end)
        .bind(split.tail_start)
        .bind(split.to)
}

/// An enrolled influencer with the terms reports need.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub influencer_id: i64,
    pub handle: String,
    pub compensation: Compensation,
    pub target_metric: Option<Kpi>,
    pub target_value: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct EnrolledRow {
    influencer_id: i64,
    handle: String,
    flat_fee_minor: i64,
    flat_fee_basis: FlatFeeBasis,
    cpc_minor: i64,
    cpa_minor: i64,
    revenue_share_bps: i32,
    target_metric: Option<Kpi>,
    target_value: Option<f64>,
}

pub async fn enrolled(db: &PgPool, campaign_id: i64) -> Result<Vec<Enrolled>, StorageError> {
    let rows: Vec<EnrolledRow> = sqlx::query_as(
        "SELECT e.influencer_id, i.handle, e.flat_fee_minor, e.flat_fee_basis, e.cpc_minor,
                e.cpa_minor, e.revenue_share_bps, e.target_metric, e.target_value
         FROM enrollments e JOIN influencers i ON i.id = e.influencer_id
         WHERE e.campaign_id = $1
         ORDER BY i.handle",
    )
    .bind(campaign_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Enrolled {
            influencer_id: row.influencer_id,
            handle: row.handle,
            compensation: Compensation {
                flat_fee_minor: row.flat_fee_minor,
                flat_fee_per_post: row.flat_fee_basis == FlatFeeBasis::Post,
                cpc_minor: row.cpc_minor,
                cpa_minor: row.cpa_minor,
                revenue_share_bps: row.revenue_share_bps,
            },
            target_metric: row.target_metric,
            target_value: row.target_value,
        })
        .collect())
}

/// Everything a campaign's influencers add up to over `range`, per influencer.
pub async fn tallies(
    db: &PgPool,
    campaign_id: i64,
    range: Range,
) -> Result<HashMap<i64, Tally>, StorageError> {
    let mut tallies: HashMap<i64, Tally> = HashMap::new();

    let split = range.split();
    let clicks: Vec<(i64, i64, i64, i64, i64, i64)> = bind_split(
        sqlx::query_as(concat!(
            "SELECT influencer_id, sum(clicks)::bigint, sum(unique_clicks)::bigint,
                    sum(bot_clicks)::bigint, sum(flagged_clicks)::bigint,
                    sum(flagged_unique_clicks)::bigint
             FROM (",
            daily_and_hourly!(
                "influencer_id, clicks, unique_clicks, bot_clicks, flagged_clicks,
                 flagged_unique_clicks",
                "click_daily",
                "click_rollups"
            ),
            ") r GROUP BY influencer_id"
        )),
        campaign_id,
        split,
    )
    .fetch_all(db)
    .await?;
    for (influencer, clicks, unique, bots, flagged, flagged_unique) in clicks {
        let t = tallies.entry(influencer).or_default();
        t.clicks = clicks;
        t.unique_clicks = unique;
        t.bot_clicks = bots;
        t.flagged_clicks = flagged;
        t.flagged_unique_clicks = flagged_unique;
    }

    let conversions: Vec<(i64, String, i64, i64, i64, i64, i64)> = bind_split(
        sqlx::query_as(concat!(
            "SELECT influencer_id, kind, sum(conversions - voided)::bigint,
                    saturating_bigint(sum(revenue_minor - refunded_minor)), saturating_bigint(sum(discount_minor)),
                    saturating_bigint(sum(refunded_minor)), sum(flagged)::bigint
             FROM (",
            daily_and_hourly!(
                "influencer_id, kind, conversions, voided, revenue_minor, refunded_minor,
                 discount_minor, flagged",
                "conversion_daily",
                "conversion_rollups"
            ),
            ") r GROUP BY influencer_id, kind"
        )),
        campaign_id,
        split,
    )
    .fetch_all(db)
    .await?;
    for (influencer, kind, counted, revenue, discount, refunded, flagged) in conversions {
        let t = tallies.entry(influencer).or_default();
        // Saturating, as every report sum is (see `domain::report`): a 500 is no answer.
        if kind == "sale" {
            t.conversions = t.conversions.saturating_add(counted);
            t.flagged_conversions = t.flagged_conversions.saturating_add(flagged);
        }
        t.revenue_minor = t.revenue_minor.saturating_add(revenue);
        t.discount_minor = t.discount_minor.saturating_add(discount);
        t.refunded_minor = t.refunded_minor.saturating_add(refunded);
        let by_kind = t.conversions_by_kind.entry(kind).or_default();
        *by_kind = by_kind.saturating_add(counted);
    }

    // The latest snapshot of each post published in the range (a post without a publish
    // date counts from when it was recorded).
    let posts: Vec<(i64, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.influencer_id, count(*),
                saturating_bigint(coalesce(sum(m.impressions), 0)),
                saturating_bigint(coalesce(sum(m.reach), 0)),
                saturating_bigint(coalesce(sum(coalesce(m.likes, 0)::numeric
                                               + coalesce(m.comments, 0)
                                               + coalesce(m.shares, 0)
                                               + coalesce(m.saves, 0)), 0)),
                saturating_bigint(coalesce(
                  sum(m.impressions) FILTER (WHERE m.source = 'self_reported'), 0)),
                saturating_bigint(coalesce(
                  sum(m.reach) FILTER (WHERE m.source = 'self_reported'), 0))
         FROM posts p
         LEFT JOIN LATERAL (
           SELECT impressions, reach, likes, comments, shares, saves, source
           FROM post_metrics WHERE post_id = p.id
           ORDER BY captured_at DESC, id DESC LIMIT 1) m ON true
         WHERE p.campaign_id = $1
           AND coalesce(p.published_at, p.created_at) >= $2
           AND coalesce(p.published_at, p.created_at) < $3
         GROUP BY p.influencer_id",
    )
    .bind(campaign_id)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(db)
    .await?;
    for (influencer, count, impressions, reach, engagements, unverified_i, unverified_r) in posts {
        let t = tallies.entry(influencer).or_default();
        t.posts = count;
        t.impressions = impressions;
        t.reach = reach;
        t.engagements = engagements;
        t.unverified_impressions = unverified_i;
        t.unverified_reach = unverified_r;
    }
    Ok(tallies)
}

/// Cost lines incurred in the range: per influencer, and campaign-wide (key `None`).
pub async fn cost_lines(
    db: &PgPool,
    campaign_id: i64,
    range: Range,
) -> Result<HashMap<Option<i64>, i64>, StorageError> {
    let rows: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT influencer_id, saturating_bigint(sum(amount_minor)) FROM cost_lines
         WHERE campaign_id = $1 AND incurred_at >= $2 AND incurred_at < $3
         GROUP BY influencer_id",
    )
    .bind(campaign_id)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// What a time series is narrowed to; the campaign is always known.
#[derive(Debug, Clone, Copy)]
pub struct SeriesFilter {
    pub campaign_id: i64,
    pub influencer_id: Option<i64>,
    pub link_id: Option<i64>,
}

/// One hour of a time series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourTally {
    pub clicks: i64,
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    pub conversions: i64,
    pub revenue_minor: i64,
}

/// Clicks and sales per UTC hour; hours with nothing are absent.
///
/// Each filter reads through an index: a link its own rows, an influencer the rows of
/// their links, a whole campaign its per-trigger rows of `click_dim_rollups` (every click
/// has exactly one trigger, so they add up to the campaign's clicks per hour) and its
/// `conversion_hourly` totals. Separate statements rather than `$n IS NULL OR …`: a
/// prepared statement's generic plan cannot use an index on such a condition.
pub async fn hourly(
    db: &PgPool,
    filter: SeriesFilter,
    range: Range,
) -> Result<Vec<(DateTime<Utc>, HourTally)>, StorageError> {
    let clicks_sql = match (filter.link_id, filter.influencer_id) {
        (Some(_), _) => {
            "SELECT hour, sum(clicks)::bigint, sum(unique_clicks)::bigint,
                    sum(bot_clicks)::bigint
             FROM click_rollups
             WHERE link_id = $3 AND hour >= $4 AND hour < $5
               AND campaign_id = $1 AND ($2::bigint IS NULL OR influencer_id = $2)
             GROUP BY hour"
        }
        (None, Some(_)) => {
            "SELECT hour, sum(clicks)::bigint, sum(unique_clicks)::bigint,
                    sum(bot_clicks)::bigint
             FROM click_rollups
             WHERE link_id IN (SELECT id FROM links WHERE campaign_id = $1 AND influencer_id = $2)
               AND hour >= $4 AND hour < $5 AND $3::bigint IS NULL
             GROUP BY hour"
        }
        (None, None) => {
            "SELECT hour, sum(clicks)::bigint, sum(unique_clicks)::bigint,
                    sum(bot_clicks)::bigint
             FROM click_dim_rollups
             WHERE campaign_id = $1 AND dimension = 'trigger' AND hour >= $4 AND hour < $5
               AND $2::bigint IS NULL AND $3::bigint IS NULL
             GROUP BY hour"
        }
    };
    let mut hours: HashMap<DateTime<Utc>, HourTally> = HashMap::new();
    let clicks: Vec<(DateTime<Utc>, i64, i64, i64)> = sqlx::query_as(clicks_sql)
        .bind(filter.campaign_id)
        .bind(filter.influencer_id)
        .bind(filter.link_id)
        .bind(range.from)
        .bind(range.to)
        .fetch_all(db)
        .await?;
    for (hour, clicks, unique, bots) in clicks {
        let h = hours.entry(hour).or_default();
        h.clicks = clicks;
        h.unique_clicks = unique;
        h.bot_clicks = bots;
    }
    // A link's conversions are among its influencer's: that key prefix finds them.
    let sales_sql = match (filter.link_id, filter.influencer_id) {
        (Some(_), _) => {
            "SELECT hour, sum(conversions - voided) FILTER (WHERE kind = 'sale')::bigint,
                    saturating_bigint(sum(revenue_minor - refunded_minor))
             FROM conversion_rollups
             WHERE campaign_id = $1
               AND influencer_id = (SELECT influencer_id FROM links WHERE id = $3)
               AND hour >= $4 AND hour < $5 AND link_id = $3
               AND ($2::bigint IS NULL OR influencer_id = $2)
             GROUP BY hour"
        }
        (None, Some(_)) => {
            "SELECT hour, sum(conversions - voided) FILTER (WHERE kind = 'sale')::bigint,
                    saturating_bigint(sum(revenue_minor - refunded_minor))
             FROM conversion_rollups
             WHERE campaign_id = $1 AND influencer_id = $2 AND hour >= $4 AND hour < $5
               AND $3::bigint IS NULL
             GROUP BY hour"
        }
        (None, None) => {
            "SELECT hour, sum(conversions - voided) FILTER (WHERE kind = 'sale')::bigint,
                    saturating_bigint(sum(revenue_minor - refunded_minor))
             FROM conversion_hourly
             WHERE campaign_id = $1 AND hour >= $4 AND hour < $5
               AND $2::bigint IS NULL AND $3::bigint IS NULL
             GROUP BY hour"
        }
    };
    let sales: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(sales_sql)
        .bind(filter.campaign_id)
        .bind(filter.influencer_id)
        .bind(filter.link_id)
        .bind(range.from)
        .bind(range.to)
        .fetch_all(db)
        .await?;
    for (hour, conversions, revenue) in sales {
        let h = hours.entry(hour).or_default();
        h.conversions = conversions;
        h.revenue_minor = revenue;
    }
    let mut hours: Vec<_> = hours.into_iter().collect();
    hours.sort_unstable_by_key(|(hour, _)| *hour);
    Ok(hours)
}

/// Clicks per value of one click dimension (`country`, `device`, `browser`, `os`,
/// `referrer`, `trigger`); `''` is the unknown value. Most clicks first.
pub async fn clicks_by_dimension(
    db: &PgPool,
    campaign_id: i64,
    dimension: &str,
    range: Range,
) -> Result<Vec<(String, i64, i64, i64)>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT value, sum(clicks)::bigint AS clicks, sum(unique_clicks)::bigint,
                sum(bot_clicks)::bigint
         FROM click_dim_rollups
         WHERE campaign_id = $1 AND dimension = $2 AND hour >= $3 AND hour < $4
         GROUP BY value
         ORDER BY clicks DESC, value",
    )
    .bind(campaign_id)
    .bind(dimension)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(db)
    .await?)
}

/// One link of a campaign with what it brought in the range.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkLine {
    pub link_id: i64,
    pub slug: String,
    pub influencer_id: i64,
    pub clicks: i64,
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    /// Sales credited through a click on this link.
    pub conversions: i64,
    pub revenue_minor: i64,
}

pub async fn by_link(
    db: &PgPool,
    campaign_id: i64,
    range: Range,
) -> Result<Vec<LinkLine>, StorageError> {
    Ok(bind_split(
        sqlx::query_as(concat!(
            "WITH c AS (
               SELECT link_id, sum(clicks)::bigint AS clicks,
                      sum(unique_clicks)::bigint AS unique_clicks,
                      sum(bot_clicks)::bigint AS bot_clicks
               FROM (",
            daily_and_hourly!(
                "link_id, clicks, unique_clicks, bot_clicks",
                "click_daily",
                "click_rollups"
            ),
            ") r GROUP BY link_id),
             v AS (
               SELECT link_id,
                      coalesce(sum(conversions - voided) FILTER (WHERE kind = 'sale'), 0)::bigint
                        AS conversions,
                      saturating_bigint(sum(revenue_minor - refunded_minor)) AS revenue_minor
               FROM (",
            daily_and_hourly!(
                "link_id, kind, conversions, voided, revenue_minor, refunded_minor",
                "conversion_daily",
                "conversion_rollups"
            ),
            ") r WHERE link_id <> 0 GROUP BY link_id)
             SELECT l.id AS link_id, l.slug, l.influencer_id,
                    coalesce(c.clicks, 0) AS clicks,
                    coalesce(c.unique_clicks, 0) AS unique_clicks,
                    coalesce(c.bot_clicks, 0) AS bot_clicks,
                    coalesce(v.conversions, 0) AS conversions,
                    coalesce(v.revenue_minor, 0) AS revenue_minor
             FROM links l
             LEFT JOIN c ON c.link_id = l.id
             LEFT JOIN v ON v.link_id = l.id
             WHERE l.campaign_id = $1
             ORDER BY clicks DESC, l.id"
        )),
        campaign_id,
        range.split(),
    )
    .fetch_all(db)
    .await?)
}

/// One promo code of a campaign with the orders credited through it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeLine {
    pub code: String,
    pub influencer_id: i64,
    pub conversions: i64,
    pub revenue_minor: i64,
    pub discount_minor: i64,
}

pub async fn by_code(
    db: &PgPool,
    campaign_id: i64,
    range: Range,
) -> Result<Vec<CodeLine>, StorageError> {
    Ok(bind_split(
        sqlx::query_as(concat!(
            "SELECT code, influencer_id,
                    coalesce(sum(conversions - voided) FILTER (WHERE kind = 'sale'), 0)::bigint
                      AS conversions,
                    saturating_bigint(sum(revenue_minor - refunded_minor)) AS revenue_minor,
                    saturating_bigint(sum(discount_minor)) AS discount_minor
             FROM (",
            daily_and_hourly!(
                "code, influencer_id, via, kind, conversions, voided, revenue_minor,
                 refunded_minor, discount_minor",
                "conversion_daily",
                "conversion_rollups"
            ),
            ") r WHERE via = 'code' AND code <> ''
             GROUP BY code, influencer_id
             ORDER BY conversions DESC, code"
        )),
        campaign_id,
        range.split(),
    )
    .fetch_all(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn day(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    #[test]
    fn a_range_splits_into_whole_days_and_the_hours_around_them() {
        let range = Range {
            from: t("2026-11-01T23:00:00Z"),
            to: t("2026-11-05T02:00:00Z"),
        };
        assert_eq!(
            range.split(),
            Split {
                first_day: day("2026-11-02"),
                end_day: day("2026-11-05"),
                from: t("2026-11-01T23:00:00Z"),
                head_end: t("2026-11-02T00:00:00Z"),
                tail_start: t("2026-11-05T00:00:00Z"),
                to: t("2026-11-05T02:00:00Z"),
            }
        );
        let aligned = Range {
            from: t("2026-11-01T00:00:00Z"),
            to: t("2026-11-03T00:00:00Z"),
        };
        let split = aligned.split();
        assert_eq!(
            (split.first_day, split.end_day),
            (day("2026-11-01"), day("2026-11-03"))
        );
        assert_eq!(
            (split.from, split.head_end),
            (split.head_end, split.head_end)
        );
    }

    #[test]
    fn a_range_within_a_day_is_all_hours() {
        let range = Range {
            from: t("2026-11-01T05:00:00Z"),
            to: t("2026-11-02T03:00:00Z"),
        };
        let split = range.split();
        assert_eq!(split.first_day, split.end_day);
        assert_eq!((split.from, split.head_end), (range.from, range.to));
        assert_eq!(split.tail_start, split.to);
    }
}
