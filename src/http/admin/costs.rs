//! `/v1/costs`: gifting, shipping, agency fees and other costs of a campaign, optionally
//! tied to one influencer.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use crate::{
    domain::{cost::CostKind, money, text, time},
    http::{auth::Admin, error::ApiError, pagination, wire::reference_id},
    state::AppState,
    storage::costs::{self, NewCostLine},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCost {
    campaign_id: String,
    influencer_id: Option<String>,
    kind: CostKind,
    amount_minor: i64,
    description: Option<String>,
    incurred_at: Option<String>,
}

pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<CreateCost>,
) -> Result<HttpResponse, ApiError> {
    let line = NewCostLine {
        campaign_id: reference_id("campaign_id", "campaign_not_found", &body.campaign_id)?,
        influencer_id: body
            .influencer_id
            .as_deref()
            .map(|id| reference_id("influencer_id", "influencer_not_found", id))
            .transpose()?,
        kind: body.kind,
        amount_minor: money::amount("amount_minor", body.amount_minor)?,
        description: body
            .description
            .as_deref()
            .map(|d| text::bounded("description", d, 500))
            .transpose()?,
        incurred_at: match &body.incurred_at {
            Some(raw) => time::parse("incurred_at", raw)?,
            None => Utc::now(),
        },
    };
    let row = costs::insert(&state.db, &line).await?;
    Ok(HttpResponse::Created().json(row))
}

pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::ChildrenQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = costs::list(&state.db, query.filter(), page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |c| c.id)))
}
