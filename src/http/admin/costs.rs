//! `/v1/costs`: gifting, shipping, agency fees and other costs of a campaign, optionally
//! tied to one influencer.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use crate::{
    domain::{cost::CostKind, money, text, time},
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, ChildrenQuery},
        wire::{reference_id, List},
    },
    state::AppState,
    storage::costs::{self, CostLine, NewCostLine},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCost {
    #[schema(min_length = 1)]
    campaign_id: String,
    /// Absent: a campaign-wide cost.
    #[schema(min_length = 1)]
    influencer_id: Option<String>,
    kind: CostKind,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount_minor: i64,
    #[schema(min_length = 1)]
    description: Option<String>,
    /// RFC 3339; default now.
    #[schema(min_length = 1)]
    incurred_at: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/costs",
    tag = "costs",
    request_body = CreateCost,
    responses(
        (status = 201, description = "The cost line.", body = CostLine),
        (status = 422, description = "`campaign_id` or `influencer_id` names nothing, or the influencer is not enrolled (`campaign_not_found`, `influencer_not_found`, `not_enrolled`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CreateCost>,
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

#[utoipa::path(
    get,
    path = "/v1/costs",
    tag = "costs",
    params(ChildrenQuery),
    responses(
        (status = 200, description = "A page of cost lines.", body = List<CostLine>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::ChildrenQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = costs::list(&state.db, query.filter(), page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |c| c.id)))
}
