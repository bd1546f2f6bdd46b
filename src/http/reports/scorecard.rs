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
use serde_json::{json, Value};

use super::{
    add_freshness, campaign, campaign_period, csv,
    params::{Format, ReportQuery},
};
use crate::{
    domain::{
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
#[derive(Debug, Serialize)]
struct KpiRow {
    #[serde(flatten)]
    tally: Tally,
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

    let enrolled = rollups::enrolled(&state.db, campaign.id).await?;
    let mut tallies = rollups::tallies(&state.db, campaign.id, range).await?;
    let mut lines = rollups::cost_lines(&state.db, campaign.id, range).await?;
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
fn header(card: &Scorecard) -> serde_json::Map<String, Value> {
    let mut head = serde_json::Map::new();
    head.insert("campaign_id".into(), json!(card.campaign.id.to_string()));
    head.insert("currency".into(), json!(card.campaign.currency));
    head.insert("from".into(), json!(card.range.from));
    head.insert("to".into(), json!(card.range.to));
    head.insert("tz".into(), json!(card.tz.name()));
    head
}

pub async fn campaign_report(
    _: Analyst,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let card = scorecard(&state, &path, &query).await?;
    let metric = report::goal_metric(card.campaign.goal);
    let value = card.totals.metric(metric);
    let goal = json!({
        "goal": card.campaign.goal,
        "metric": metric,
        "target": card.campaign.goal_target,
        "value": value,
        "progress": card.campaign.goal_target.and_then(|t| report::progress(metric, value, t)),
    });

    let mut body = header(&card);
    body.insert("name".into(), json!(card.campaign.name));
    body.insert("budget_minor".into(), json!(card.campaign.budget_minor));
    add_freshness(&state, &mut body).await;
    body.insert("totals".into(), json!(card.totals));
    body.insert("goal".into(), goal);
    let body = Value::Object(body);

    match card.format {
        Format::Json => Ok(HttpResponse::Ok().json(body)),
        Format::Csv => {
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
                &format!("campaign-{}.csv", card.campaign.id),
                &columns,
                &[row],
            )
        }
    }
}

/// One influencer's line: the scorecard plus how they compare.
#[derive(Debug, Serialize)]
struct Ranked<'a> {
    influencer_id: String,
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
        Format::Json => {
            let mut body = header(&card);
            body.insert("ranked_by".into(), json!(metric));
            body.insert("average".into(), json!(average));
            body.insert("underperforming_percent".into(), json!(percent));
            add_freshness(&state, &mut body).await;
            body.insert("data".into(), json!(data));
            Ok(HttpResponse::Ok().json(Value::Object(body)))
        }
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
