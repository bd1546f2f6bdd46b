//! `/v1/campaigns` (create, read, patch, list) and `POST /v1/campaigns/{id}/reattribute`
//! (see [`crate::attribution`]). The dates are checked on the campaign as a patch leaves
//! it, so a campaign never ends before it starts, whichever date the patch changes.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;

use super::patch::{self, Patchable, Patched};
use crate::{
    domain::{
        attribution::Priority,
        campaign::{CampaignStatus, Goal},
        kpi, money,
        slug::CampaignSlug,
        text, time, Invalid,
    },
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, PageQuery},
        wire::{nullable, path_id, List},
    },
    state::AppState,
    storage::{
        campaigns::{self, Campaign, CampaignFields},
        reattribution::Outcome,
        StorageError,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    /// 1 to 200 characters.
    #[schema(min_length = 1)]
    name: String,
    /// 1 to 64 letters, digits, `-` and `_`, starting with a letter or digit; stored
    /// lower-case. The default `utm_campaign` of its links.
    #[schema(min_length = 1)]
    slug: String,
    /// ISO 4217 code, e.g. `EUR`.
    #[schema(min_length = 1)]
    currency: String,
    /// RFC 3339; default now.
    #[schema(min_length = 1)]
    starts_at: Option<String>,
    /// RFC 3339, after `starts_at`.
    #[schema(min_length = 1)]
    ends_at: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    budget_minor: Option<i64>,
    /// Default `conversions`.
    goal: Option<Goal>,
    #[schema(minimum = 0)]
    goal_target: Option<f64>,
    /// Default 30.
    #[schema(minimum = 1, maximum = 365)]
    attribution_window_days: Option<i64>,
    #[schema(minimum = 0, maximum = 10_000)]
    margin_bps: Option<i64>,
    /// Default `code`.
    attribution_priority: Option<Priority>,
    /// Set only to override the status the dates give.
    status: Option<CampaignStatus>,
}

/// Every field but `currency`, which money already recorded in it depends on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchCampaign {
    #[schema(min_length = 1)]
    name: Option<String>,
    #[schema(min_length = 1)]
    slug: Option<String>,
    #[schema(min_length = 1)]
    starts_at: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    ends_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    budget_minor: Option<Option<i64>>,
    goal: Option<Goal>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    goal_target: Option<Option<f64>>,
    #[schema(minimum = 1, maximum = 365)]
    attribution_window_days: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10_000)]
    margin_bps: Option<Option<i64>>,
    attribution_priority: Option<Priority>,
    /// `null` returns the status to following the dates.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<CampaignStatus>)]
    status: Option<Option<CampaignStatus>>,
}

fn window_days(value: i64) -> Result<i32, Invalid> {
    i32::try_from(value)
        .ok()
        .filter(|d| (1..=365).contains(d))
        .ok_or_else(|| {
            Invalid::malformed(
                "attribution_window_days",
                "invalid_attribution_window",
                "must be 1 to 365 days",
            )
        })
}

fn goal_target(value: f64) -> Result<f64, Invalid> {
    kpi::target_value("goal_target", value)
}

fn margin(value: i64) -> Result<i32, Invalid> {
    money::basis_points("margin_bps", value)
}

impl CreateCampaign {
    fn validate(self) -> Result<CampaignFields, Invalid> {
        let starts_at = match &self.starts_at {
            Some(raw) => time::parse("starts_at", raw)?,
            None => Utc::now(),
        };
        let ends_at = self
            .ends_at
            .as_deref()
            .map(|raw| time::parse("ends_at", raw))
            .transpose()?;
        time::check_order(Some(starts_at), ends_at)?;
        Ok(CampaignFields {
            name: text::bounded("name", &self.name, 200)?,
            slug: CampaignSlug::parse(&self.slug)?,
            currency: money::Currency::parse("currency", &self.currency)?,
            starts_at,
            ends_at,
            budget_minor: self
                .budget_minor
                .map(|v| money::amount("budget_minor", v))
                .transpose()?,
            goal: self.goal.unwrap_or(Goal::Conversions),
            goal_target: self.goal_target.map(goal_target).transpose()?,
            attribution_window_days: self
                .attribution_window_days
                .map(window_days)
                .transpose()?
                .unwrap_or(30),
            margin_bps: self.margin_bps.map(margin).transpose()?,
            attribution_priority: self.attribution_priority.unwrap_or(Priority::Code),
            status_override: self.status,
        })
    }
}

impl PatchCampaign {
    fn apply(self, mut f: CampaignFields) -> Result<CampaignFields, Invalid> {
        if let Some(name) = self.name {
            f.name = text::bounded("name", &name, 200)?;
        }
        if let Some(slug) = self.slug {
            f.slug = CampaignSlug::parse(&slug)?;
        }
        if let Some(raw) = self.starts_at {
            f.starts_at = time::parse("starts_at", &raw)?;
        }
        if let Some(ends) = self.ends_at {
            f.ends_at = ends.map(|raw| time::parse("ends_at", &raw)).transpose()?;
        }
        time::check_order(Some(f.starts_at), f.ends_at)?;
        if let Some(budget) = self.budget_minor {
            f.budget_minor = budget
                .map(|v| money::amount("budget_minor", v))
                .transpose()?;
        }
        if let Some(goal) = self.goal {
            f.goal = goal;
        }
        if let Some(target) = self.goal_target {
            f.goal_target = target.map(goal_target).transpose()?;
        }
        if let Some(days) = self.attribution_window_days {
            f.attribution_window_days = window_days(days)?;
        }
        if let Some(bps) = self.margin_bps {
            f.margin_bps = bps.map(margin).transpose()?;
        }
        if let Some(priority) = self.attribution_priority {
            f.attribution_priority = priority;
        }
        if let Some(status) = self.status {
            f.status_override = status;
        }
        Ok(f)
    }
}

/// Create a campaign.
#[utoipa::path(
    post,
    path = "/v1/campaigns",
    tag = "campaigns",
    request_body = CreateCampaign,
    responses(
        (status = 201, description = "The campaign.", body = Campaign),
        (status = 409, description = "A campaign has this slug (`slug_taken`).", body = ErrorBody),
        (status = 422, description = "`ends_at` is not after `starts_at` (`ends_before_starts`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CreateCampaign>,
) -> Result<HttpResponse, ApiError> {
    let fields = body.into_inner().validate()?;
    let campaign = campaigns::insert(&state.db, &fields).await?;
    Ok(HttpResponse::Created().json(campaign))
}

/// Read a campaign.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign.", body = Campaign)),
    security(("bearer" = ["admin"]))
)]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let campaign = find(&state, &id).await?;
    Ok(HttpResponse::Ok().json(campaign))
}

/// Change a campaign: the fields given, `null` clears a nullable one. Its currency stays.
#[utoipa::path(
    patch,
    path = "/v1/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id.")),
    request_body = PatchCampaign,
    responses(
        (status = 200, description = "The campaign as changed.", body = Campaign),
        (status = 409, description = "A campaign has this slug (`slug_taken`).", body = ErrorBody),
        (status = 422, description = "The campaign would end before it starts (`ends_before_starts`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn patch(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<PatchCampaign>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "campaign")?;
    let Patched { after, .. } =
        patch::run::<Campaign>(&state.db, &id, |fields, _| body.into_inner().apply(fields)).await?;
    Ok(HttpResponse::Ok().json(after))
}

impl Patchable for Campaign {
    type Key = i64;
    type Fields = CampaignFields;
    const NAME: &'static str = "campaign";

    async fn lock(
        tx: &mut Transaction<'_, Postgres>,
        id: &i64,
    ) -> Result<Option<Self>, StorageError> {
        campaigns::lock(tx, *id).await
    }

    async fn update(
        tx: &mut Transaction<'_, Postgres>,
        current: &Self,
        fields: &CampaignFields,
    ) -> Result<Self, StorageError> {
        campaigns::update(tx, current.id, fields).await
    }
}

/// List campaigns, oldest first.
#[utoipa::path(
    get,
    path = "/v1/campaigns",
    tag = "campaigns",
    params(PageQuery),
    responses((status = 200, description = "A page of campaigns.", body = List<Campaign>)),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = campaigns::list(&state.db, page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |c| c.id)))
}

/// The campaign named by a path segment, or 404.
pub async fn find(state: &AppState, raw_id: &str) -> Result<Campaign, ApiError> {
    let id = path_id(raw_id, "campaign")?;
    campaigns::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))
}

/// `POST /v1/campaigns/{id}/reattribute`: decides the campaign's conversions again under
/// its current window and priority (see `storage::reattribution`).
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/reattribute",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses((status = 200, description = "What was decided again.", body = Reattributed)),
    security(("bearer" = ["admin"]))
)]
pub async fn reattribute(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let campaign = find(&state, &id).await?;
    let outcome = crate::attribution::reattribute(&state.db, campaign.id).await?;
    Ok(HttpResponse::Ok().json(Reattributed {
        campaign_id: campaign.id.to_string(),
        outcome,
    }))
}

/// The answer of `POST /v1/campaigns/{id}/reattribute`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reattributed {
    campaign_id: String,
    #[serde(flatten)]
    outcome: Outcome,
}
