//! `GET /v1/reports/breakdown?campaign_id=&by=…`: a campaign's clicks split by one click
//! dimension (`country`, `device`, `browser`, `os`, `referrer`, `trigger`; an unknown value
//! is `null`), or its clicks and sales per link, or its code sales per code.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::{
    openapi::{schema::AnyOfBuilder, ObjectBuilder, RefOr, Schema, Type},
    ToSchema,
};

use super::{
    campaign, campaign_period, csv,
    params::{non_empty, Format, ReportQuery},
};
use crate::{
    domain::money::Currency,
    http::{
        auth::Analyst,
        error::{ApiError, Body as ErrorBody},
    },
    state::AppState,
    storage::reports as rollups,
};

const CLICK_DIMENSIONS: &[&str] = &["country", "device", "browser", "os", "referrer", "trigger"];

/// What `by` takes: a click dimension, `link` or `code`.
pub struct Dimension;

impl utoipa::PartialSchema for Dimension {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                CLICK_DIMENSIONS.iter().copied().chain(["link", "code"]),
            ))
            .into()
    }
}

impl ToSchema for Dimension {}

/// `GET /v1/reports/breakdown`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Breakdown {
    campaign_id: String,
    currency: Currency,
    /// The dimension asked for.
    by: String,
    tz: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    data: Lines,
}

/// The lines of a breakdown, whose shape follows `by`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Lines {
    Links(Vec<LinkLine>),
    Codes(Vec<CodeLine>),
    Values(Vec<DimensionLine>),
}

// Any of the three (an empty list is all of them), so not derived: an untagged enum would
// be a `oneOf`.
impl utoipa::PartialSchema for Lines {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(<Vec<LinkLine> as utoipa::PartialSchema>::schema())
            .item(<Vec<CodeLine> as utoipa::PartialSchema>::schema())
            .item(<Vec<DimensionLine> as utoipa::PartialSchema>::schema())
            .into()
    }
}

impl ToSchema for Lines {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            LinkLine::name().into(),
            <LinkLine as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            CodeLine::name().into(),
            <CodeLine as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            DimensionLine::name().into(),
            <DimensionLine as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// `by=link`: each link's clicks and sales.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkLine {
    link_id: String,
    slug: String,
    influencer_id: String,
    clicks: i64,
    unique_clicks: i64,
    bot_clicks: i64,
    conversions: i64,
    revenue_minor: i64,
    cvr: Option<f64>,
}

/// `by=code`: each code's sales.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeLine {
    code: String,
    influencer_id: String,
    conversions: i64,
    revenue_minor: i64,
    discount_minor: i64,
}

/// A click dimension: the clicks of each value (`null`: unknown).
#[derive(Debug, Serialize, ToSchema)]
pub struct DimensionLine {
    value: Option<String>,
    clicks: i64,
    unique_clicks: i64,
    bot_clicks: i64,
    /// Of the campaign's clicks in the period.
    share: Option<f64>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

#[utoipa::path(
    get,
    path = "/v1/reports/breakdown",
    tag = "reports",
    params(("campaign_id" = String, Query, description = "The campaign."),
        ("by" = Dimension, Query, description = "A click dimension (each value's clicks), `link` (each link's clicks and sales) or `code` (each code's sales)."), ("from" = Option<String>, Query, description = "Start: an RFC 3339 instant, or a date (`2026-11-01`) in `tz`. Default: the campaign's start."),
        ("to" = Option<String>, Query, description = "End: an RFC 3339 instant, or a date in `tz` (that whole day included). Default: the campaign's end, or now."),
        ("tz" = Option<String>, Query, description = "IANA time zone of dates and day buckets; default `UTC`."),
        ("format" = Option<Format>, Query, description = "Default `json`.")),
    responses(
        (status = 200, description = "The campaign's clicks or sales split by `by`.", content((Breakdown = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No campaign has this id (`not_found`).", body = ErrorBody),
    ),
    security(("bearer" = ["analyst", "admin"]))
)]
pub async fn breakdown(
    _: Analyst,
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.format()?;
    let tz = query.tz()?;
    let by = match query.by.as_deref() {
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

    let (columns, data): (Vec<&str>, Lines) = match by {
        "link" => {
            let lines = rollups::by_link(&state.reports_db, campaign.id, range).await?;
            let data = lines
                .into_iter()
                .map(|l| LinkLine {
                    link_id: l.link_id.to_string(),
                    slug: l.slug,
                    influencer_id: l.influencer_id.to_string(),
                    clicks: l.clicks,
                    unique_clicks: l.unique_clicks,
                    bot_clicks: l.bot_clicks,
                    conversions: l.conversions,
                    revenue_minor: l.revenue_minor,
                    cvr: ratio(l.conversions, l.unique_clicks),
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
            (columns, Lines::Links(data))
        }
        "code" => {
            let lines = rollups::by_code(&state.reports_db, campaign.id, range).await?;
            let data = lines
                .into_iter()
                .map(|c| CodeLine {
                    code: c.code,
                    influencer_id: c.influencer_id.to_string(),
                    conversions: c.conversions,
                    revenue_minor: c.revenue_minor,
                    discount_minor: c.discount_minor,
                })
                .collect();
            let columns = vec![
                "code",
                "influencer_id",
                "conversions",
                "revenue_minor",
                "discount_minor",
            ];
            (columns, Lines::Codes(data))
        }
        dimension => {
            let lines =
                rollups::clicks_by_dimension(&state.reports_db, campaign.id, dimension, range)
                    .await?;
            let total = lines
                .iter()
                .map(|(_, clicks, _, _)| *clicks)
                .fold(0, i64::saturating_add);
            let data = lines
                .into_iter()
                .map(|(value, clicks, unique, bots)| DimensionLine {
                    value: (!value.is_empty()).then_some(value),
                    clicks,
                    unique_clicks: unique,
                    bot_clicks: bots,
                    share: ratio(clicks, total),
                })
                .collect();
            let columns = vec!["value", "clicks", "unique_clicks", "bot_clicks", "share"];
            (columns, Lines::Values(data))
        }
    };

    match format {
        Format::Json => Ok(HttpResponse::Ok().json(Breakdown {
            campaign_id: campaign.id.to_string(),
            currency: campaign.currency,
            by: by.to_owned(),
            tz: tz.name().to_owned(),
            from: range.from,
            to: range.to,
            data,
        })),
        Format::Csv => {
            let rows: Vec<csv::Row> = match json!(data) {
                Value::Array(lines) => lines.iter().map(|d| csv::flatten(d, &[])).collect(),
                _ => Vec::new(),
            };
            csv::response(
                &format!("campaign-{}-by-{by}.csv", campaign.id),
                &columns,
                &rows,
            )
        }
    }
}
