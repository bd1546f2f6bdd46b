//! The campaign report and the influencer report: one scorecard, read whole or per
//! enrolled influencer.
//!
//! Cost follows DESIGN.md section 6: each enrollment's flat fee (once, when the period
//! holds the campaign's start, or per post published in the period), CPC × unique clicks
//! and CPA × conversions (both without the flagged ones: `domain::fraud`), revenue share ×
//! net revenue, plus cost lines incurred in the period.
//! Campaign-wide cost lines count in the campaign's totals only.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    campaign, campaign_period, csv,
    params::{Format, ReportQuery},
    Freshness, Period,
};
use crate::{
    domain::{
        campaign::Goal,
        kpi::Kpi,
        report::{self, Cost, Kpis, Tally},
    },
    http::{auth::Analyst, error::ApiError},
    state::AppState,
    storage::{
        campaigns::Campaign,
        reports::{self as rollups, Enrolled, Range},
    },
};

/// Every column of a KPI row, in CSV order: each KPI of [`Kpi::ALL`], followed by the
/// row's fields that are not KPIs but qualify it (the flagged and unverified parts of a
/// count, the posts behind the engagements, refunds beside discounts) and, after the last
/// KPI, the cost by component. Those stay named here because only this layout uses them.
fn kpi_columns() -> Vec<&'static str> {
    Kpi::ALL
        .into_iter()
        .flat_map(|kpi| std::iter::once(kpi.as_str()).chain(columns_after(kpi).iter().copied()))
        .collect()
}

fn columns_after(kpi: Kpi) -> &'static [&'static str] {
    match kpi {
        Kpi::BotClicks => &["flagged_clicks", "flagged_unique_clicks"],
        Kpi::Reach => &["unverified_impressions", "unverified_reach"],
        Kpi::Engagements => &["posts"],
        Kpi::Conversions => &["flagged_conversions"],
        Kpi::DiscountMinor => &["refunded_minor"],
        Kpi::BudgetUsed => &[
            "flat_fees_minor",
            "click_fees_minor",
            "conversion_fees_minor",
            "revenue_share_minor",
            "cost_lines_minor",
        ],
        _ => &[],
    }
}

/// Tallies, cost and KPIs of one influencer or of the campaign, as the wire shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiRow {
    #[serde(flatten)]
    tally: Tally,
    /// The sum of `cost`.
    cost_minor: i64,
    #[serde(flatten)]
    kpis: Kpis,
    cost: Cost,
}

impl KpiRow {
    fn new(tally: Tally, cost: Cost, campaign: &Campaign) -> Self {
        let cost_minor = cost.total();
        let kpis = Kpis::of(
            &tally,
            cost_minor,
            campaign.margin_bps,
            campaign.budget_minor,
        );
        KpiRow {
            tally,
            cost_minor,
            kpis,
            cost,
        }
    }

    fn metric(&self, kpi: Kpi) -> Option<f64> {
        report::metric(kpi, &self.tally, self.cost_minor, &self.kpis)
    }
}

struct Scorecard {
    campaign: Campaign,
    range: Range,
    tz: Tz,
    format: Format,
    influencers: Vec<(Enrolled, KpiRow)>,
    totals: KpiRow,
}

async fn scorecard(
    state: &AppState,
    campaign_id: &str,
    query: &ReportQuery,
) -> Result<Scorecard, ApiError> {
    let format = query.format()?;
    let tz = query.tz()?;
    let campaign = campaign(state, campaign_id).await?;
    let (default_from, default_to) = campaign_period(&campaign, Utc::now());
    let range = query.period(tz, default_from, default_to)?;

    let enrolled = rollups::enrolled(&state.reports_db, campaign.id).await?;
    let mut tallies = rollups::tallies(&state.reports_db, campaign.id, range).await?;
    let mut lines = rollups::cost_lines(&state.reports_db, campaign.id, range).await?;
    let campaign_fee_due = range.from <= campaign.starts_at && campaign.starts_at < range.to;

    let mut total_tally = Tally::default();
    let mut total_cost = Cost {
        cost_lines_minor: lines.remove(&None).unwrap_or(0),
        ..Cost::default()
    };
    let mut influencers = Vec::with_capacity(enrolled.len());
    for e in enrolled {
        let tally = tallies.remove(&e.influencer_id).unwrap_or_default();
        let own_lines = lines.remove(&Some(e.influencer_id)).unwrap_or(0);
        let cost = e.compensation.cost(&tally, campaign_fee_due, own_lines);
        total_tally += &tally;
        total_cost += &cost;
        influencers.push((e, KpiRow::new(tally, cost, &campaign)));
    }
    let totals = KpiRow::new(total_tally, total_cost, &campaign);
    Ok(Scorecard {
        campaign,
        range,
        tz,
        format,
        influencers,
        totals,
    })
}

/// What every scorecard response starts with.
fn header(card: &Scorecard) -> Period {
    Period {
        campaign_id: card.campaign.id.to_string(),
        currency: card.campaign.currency,
        from: card.range.from,
        to: card.range.to,
        tz: card.tz.name().to_owned(),
    }
}

/// `GET /v1/reports/campaigns/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignReport {
    #[serde(flatten)]
    period: Period,
    name: String,
    budget_minor: Option<i64>,
    #[serde(flatten)]
    freshness: Freshness,
    totals: KpiRow,
    goal: GoalProgress,
}

/// The campaign's goal and how far it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalProgress {
    goal: Goal,
    /// The KPI the goal is measured in.
    metric: Kpi,
    target: Option<f64>,
    value: Option<f64>,
    /// `value` as a share of `target` (inverted for the KPIs where lower is better).
    progress: Option<f64>,
}

/// `GET /v1/reports/campaigns/{id}/influencers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InfluencerReport<'a> {
    #[serde(flatten)]
    period: Period,
    /// The KPI of the campaign's goal, which ranks the influencers.
    ranked_by: Kpi,
    /// The average of `ranked_by` over the influencers who have a value.
    average: Option<f64>,
    underperforming_percent: u32,
    #[serde(flatten)]
    freshness: Freshness,
    data: Vec<Ranked<'a>>,
}

#[utoipa::path(
    get,
    path = "/v1/reports/campaigns/{id}",
    tag = "reports",
    params(("id" = String, Path, description = "The campaign's id."), ("from" = Option<String>, Query, description = "Start: an RFC 3339 instant, or a date (`2026-11-01`) in `tz`. Default: the campaign's start."),
        ("to" = Option<String>, Query, description = "End: an RFC 3339 instant, or a date in `tz` (that whole day included). Default: the campaign's end, or now."),
        ("tz" = Option<String>, Query, description = "IANA time zone of dates and day buckets; default `UTC`."),
        ("format" = Option<Format>, Query, description = "Default `json`.")),
    responses(
        (status = 200, description = "The campaign's totals, KPIs, cost and goal progress over the period.", content((CampaignReport = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = ["analyst", "admin"]))
)]
pub async fn campaign_report(
    _: Analyst,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let card = scorecard(&state, &path, &query).await?;
    let metric = report::goal_metric(card.campaign.goal);
    let value = card.totals.metric(metric);
    let goal = GoalProgress {
        goal: card.campaign.goal,
        metric,
        target: card.campaign.goal_target,
        value,
        progress: card
            .campaign
            .goal_target
            .and_then(|t| report::progress(metric, value, t)),
    };
    let report = CampaignReport {
        period: header(&card),
        name: card.campaign.name.clone(),
        budget_minor: card.campaign.budget_minor,
        freshness: Freshness::now(&state).await,
        totals: card.totals,
        goal,
    };

    match card.format {
        Format::Json => Ok(HttpResponse::Ok().json(report)),
        Format::Csv => {
            let body = json!(report);
            let mut row = csv::flatten(&body, &["totals", "cost"]);
            let goal = csv::flatten(&body["goal"], &[]);
            for (key, value) in goal {
                row.insert(format!("goal_{key}"), value);
            }
            let mut columns = vec!["campaign_id", "currency", "from", "to", "tz"];
            columns.extend(kpi_columns());
            columns.extend_from_slice(&[
                "budget_minor",
                "goal_metric",
                "goal_target",
                "goal_value",
                "goal_progress",
                "as_of",
                "ingest_lag_seconds",
            ]);
            csv::response(
                &format!("campaign-{}.csv", report.period.campaign_id),
                &columns,
                &[row],
            )
        }
    }
}

/// One influencer's line: the scorecard plus how they compare.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ranked<'a> {
    influencer_id: String,
    #[schema(value_type = String)]
    handle: &'a str,
    rank: usize,
    ratio_to_average: Option<f64>,
    target_metric: Option<Kpi>,
    target_value: Option<f64>,
    target_progress: Option<f64>,
    underperforming: bool,
    #[serde(flatten)]
    row: &'a KpiRow,
}

#[utoipa::path(
    get,
    path = "/v1/reports/campaigns/{id}/influencers",
    tag = "reports",
    params(("id" = String, Path, description = "The campaign's id."), ("from" = Option<String>, Query, description = "Start: an RFC 3339 instant, or a date (`2026-11-01`) in `tz`. Default: the campaign's start."),
        ("to" = Option<String>, Query, description = "End: an RFC 3339 instant, or a date in `tz` (that whole day included). Default: the campaign's end, or now."),
        ("tz" = Option<String>, Query, description = "IANA time zone of dates and day buckets; default `UTC`."),
        ("format" = Option<Format>, Query, description = "Default `json`."),
        ("underperforming_percent" = Option<u32>, Query, minimum = 0, maximum = 100, description = "Below this percentage of the average (or of their target) an influencer is `underperforming`; default from the server's settings.")),
    responses(
        (status = 200, description = "One line per enrolled influencer, ranked by the KPI of the campaign's goal.", content((InfluencerReport = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = ["analyst", "admin"]))
)]
pub async fn influencer_report(
    _: Analyst,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let percent = query.underperforming_percent(state.settings.underperforming_percent)?;
    let card = scorecard(&state, &path, &query).await?;
    let threshold = f64::from(percent) / 100.0;
    let metric = report::goal_metric(card.campaign.goal);

    let values: Vec<Option<f64>> = card
        .influencers
        .iter()
        .map(|(_, row)| row.metric(metric))
        .collect();
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let average = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);
    let ranks = report::ranks(&values);

    let mut data: Vec<Ranked> = card
        .influencers
        .iter()
        .zip(values.iter().zip(ranks))
        .map(|((enrolled, row), (value, rank))| {
            let ratio_to_average = match (value, average) {
                (Some(v), Some(avg)) if avg != 0.0 => Some(v / avg),
                _ => None,
            };
            let target_progress = match (enrolled.target_metric, enrolled.target_value) {
                (Some(kpi), Some(target)) => report::progress(kpi, row.metric(kpi), target),
                _ => None,
            };
            let below = |x: Option<f64>| x.is_some_and(|x| x < threshold);
            Ranked {
                influencer_id: enrolled.influencer_id.to_string(),
                handle: &enrolled.handle,
                rank,
                ratio_to_average,
                target_metric: enrolled.target_metric,
                target_value: enrolled.target_value,
                target_progress,
                underperforming: below(ratio_to_average) || below(target_progress),
                row,
            }
        })
        .collect();
    data.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.handle.cmp(b.handle)));

    match card.format {
        Format::Json => Ok(HttpResponse::Ok().json(InfluencerReport {
            period: header(&card),
            ranked_by: metric,
            average,
            underperforming_percent: percent,
            freshness: Freshness::now(&state).await,
            data,
        })),
        Format::Csv => {
            let rows: Vec<csv::Row> = data
                .iter()
                .map(|r| csv::flatten(&json!(r), &["cost"]))
                .collect();
            let mut columns = vec![
                "influencer_id",
                "handle",
                "rank",
                "ratio_to_average",
                "target_metric",
                "target_value",
                "target_progress",
                "underperforming",
            ];
            columns.extend(kpi_columns());
            csv::response(
                &format!("campaign-{}-influencers.csv", card.campaign.id),
                &columns,
                &rows,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_columns_keep_their_order() {
        assert_eq!(
            kpi_columns(),
            [
                "clicks",
                "unique_clicks",
                "bot_clicks",
                "flagged_clicks",
                "flagged_unique_clicks",
                "impressions",
                "reach",
                "unverified_impressions",
                "unverified_reach",
                "engagements",
                "posts",
                "conversions",
                "flagged_conversions",
                "revenue_minor",
                "discount_minor",
                "refunded_minor",
                "cost_minor",
                "ctr",
                "engagement_rate",
                "cvr",
                "aov_minor",
                "epc_minor",
                "cpa_minor",
                "cpc_minor",
                "cpe_minor",
                "roas",
                "roi",
                "budget_used",
                "flat_fees_minor",
                "click_fees_minor",
                "conversion_fees_minor",
                "revenue_share_minor",
                "cost_lines_minor",
            ]
        );
    }

    /// A field added to the row (or a KPI without one) shows here, not as a CSV column
    /// that is silently missing or always empty.
    #[test]
    fn the_csv_columns_are_the_fields_of_a_kpi_row() {
        let row = KpiRow {
            tally: Tally::default(),
            cost_minor: 0,
            kpis: Kpis::of(&Tally::default(), 0, None, None),
            cost: Cost::default(),
        };
        let mut fields: Vec<String> = csv::flatten(&json!(row), &["cost"])
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name != "conversions_by_kind")
            .collect();
        fields.sort_unstable();
        let mut columns = kpi_columns();
        columns.sort_unstable();
        assert_eq!(fields, columns);
    }
}
