//! `GET /v1/reports/breakdown?campaign_id=&by=…`: a campaign's clicks split by one click
//! dimension (`country`, `device`, `browser`, `os`, `referrer`, `trigger`; an unknown value
//! is `null`), or its clicks and sales per link, or its code sales per code.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::{
    campaign, campaign_period, csv,
    params::{non_empty, Format, ReportQuery},
};
use crate::{
    http::{auth::Analyst, error::ApiError},
    state::AppState,
    storage::reports as rollups,
};

const CLICK_DIMENSIONS: &[&str] = &["country", "device", "browser", "os", "referrer", "trigger"];

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

pub async fn breakdown(
    _: Analyst,
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.format()?;
    let tz = query.tz()?;
    let by = match non_empty(&query.by) {
        Some(by) if CLICK_DIMENSIONS.contains(&by) || by == "link" || by == "code" => by,
        other => {
            return Err(ApiError::bad_request(
                "invalid_dimension",
                format!(
                    "by {:?} is not one of {}, link, code",
                    other.unwrap_or(""),
                    CLICK_DIMENSIONS.join(", ")
                ),
            )
            .with_field("by"))
        }
    };
    let Some(campaign_ref) = non_empty(&query.campaign_id) else {
        return Err(
            ApiError::bad_request("campaign_required", "campaign_id is required")
                .with_field("campaign_id"),
        );
    };
    let campaign = campaign(&state, campaign_ref).await?;
    let (default_from, default_to) = campaign_period(&campaign, Utc::now());
    let range = query.period(tz, default_from, default_to)?;

    let (columns, data): (Vec<&str>, Vec<Value>) = match by {
        "link" => {
            let lines = rollups::by_link(&state.db, campaign.id, range).await?;
            let data = lines
                .into_iter()
                .map(|l| {
                    json!({
                        "link_id": l.link_id.to_string(),
                        "slug": l.slug,
                        "influencer_id": l.influencer_id.to_string(),
                        "clicks": l.clicks,
                        "unique_clicks": l.unique_clicks,
                        "bot_clicks": l.bot_clicks,
                        "conversions": l.conversions,
                        "revenue_minor": l.revenue_minor,
                        "cvr": ratio(l.conversions, l.unique_clicks),
                    })
                })
                .collect();
            let columns = vec![
                "link_id",
                "slug",
                "influencer_id",
                "clicks",
                "unique_clicks",
                "bot_clicks",
                "conversions",
                "revenue_minor",
                "cvr",
            ];
            (columns, data)
        }
        "code" => {
            let lines = rollups::by_code(&state.db, campaign.id, range).await?;
            let data = lines
                .into_iter()
                .map(|c| {
                    json!({
                        "code": c.code,
                        "influencer_id": c.influencer_id.to_string(),
                        "conversions": c.conversions,
                        "revenue_minor": c.revenue_minor,
                        "discount_minor": c.discount_minor,
                    })
                })
                .collect();
            let columns = vec![
                "code",
                "influencer_id",
                "conversions",
                "revenue_minor",
                "discount_minor",
            ];
            (columns, data)
        }
        dimension => {
            let lines =
                rollups::clicks_by_dimension(&state.db, campaign.id, dimension, range).await?;
            let total = lines
                .iter()
                .map(|(_, clicks, _, _)| *clicks)
                .fold(0, i64::saturating_add);
            let data = lines
                .into_iter()
                .map(|(value, clicks, unique, bots)| {
                    json!({
                        "value": (!value.is_empty()).then_some(value),
                        "clicks": clicks,
                        "unique_clicks": unique,
                        "bot_clicks": bots,
                        "share": ratio(clicks, total),
                    })
                })
                .collect();
            let columns = vec!["value", "clicks", "unique_clicks", "bot_clicks", "share"];
            (columns, data)
        }
    };

    match format {
        Format::Json => Ok(HttpResponse::Ok().json(json!({
            "campaign_id": campaign.id.to_string(),
            "currency": campaign.currency,
            "by": by,
            "tz": tz.name(),
            "from": range.from,
            "to": range.to,
            "data": data,
        }))),
        Format::Csv => {
            let rows: Vec<csv::Row> = data.iter().map(|d| csv::flatten(d, &[])).collect();
            csv::response(
                &format!("campaign-{}-by-{by}.csv", campaign.id),
                &columns,
                &rows,
            )
        }
    }
}
