//! `/v1/campaigns/{id}/enrollments`: which influencers take part, on what terms.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use sqlx::{Postgres, Transaction};

use super::{
    campaigns::find as find_campaign,
    patch::{self, Patchable, Patched},
};
use crate::{
    domain::{
        enrollment::FlatFeeBasis,
        kpi::{self, Kpi},
        money, Invalid,
    },
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, PageQuery},
        wire::{nullable, path_id, reference_id, List},
    },
    state::AppState,
    storage::{
        enrollments::{self, Enrollment, Terms},
        StorageError,
    },
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollment {
    #[schema(min_length = 1)]
    influencer_id: String,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    flat_fee_minor: Option<i64>,
    /// Whether the flat fee is paid once for the campaign (default) or for every post.
    flat_fee_basis: Option<FlatFeeBasis>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    cpc_minor: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    cpa_minor: Option<i64>,
    #[schema(minimum = 0, maximum = 10_000)]
    revenue_share_bps: Option<i64>,
    /// A KPI a target may be set on (see the `Kpi` schema), with `target_value`.
    target_metric: Option<String>,
    #[schema(minimum = 0)]
    target_value: Option<f64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEnrollment {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    flat_fee_minor: Option<i64>,
    flat_fee_basis: Option<FlatFeeBasis>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    cpc_minor: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    cpa_minor: Option<i64>,
    #[schema(minimum = 0, maximum = 10_000)]
    revenue_share_bps: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    target_metric: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    target_value: Option<Option<f64>>,
}

fn check_target(t: &Terms) -> Result<(), Invalid> {
    if t.target_metric.is_some() != t.target_value.is_some() {
        return Err(Invalid::not_allowed(
            "target_value",
            "incomplete_target",
            "target_metric and target_value are set together",
        ));
    }
    Ok(())
}

impl CreateEnrollment {
    fn validate(&self) -> Result<Terms, Invalid> {
        let terms = Terms {
            flat_fee_minor: money::amount("flat_fee_minor", self.flat_fee_minor.unwrap_or(0))?,
            flat_fee_basis: self.flat_fee_basis.unwrap_or(FlatFeeBasis::Campaign),
            cpc_minor: money::amount("cpc_minor", self.cpc_minor.unwrap_or(0))?,
            cpa_minor: money::amount("cpa_minor", self.cpa_minor.unwrap_or(0))?,
            revenue_share_bps: money::basis_points(
                "revenue_share_bps",
                self.revenue_share_bps.unwrap_or(0),
            )?,
            target_metric: self
                .target_metric
                .as_deref()
                .map(|m| Kpi::parse_target("target_metric", m))
                .transpose()?,
            target_value: self
                .target_value
                .map(|v| kpi::target_value("target_value", v))
                .transpose()?,
        };
        check_target(&terms)?;
        Ok(terms)
    }
}

impl PatchEnrollment {
    fn apply(self, mut t: Terms) -> Result<Terms, Invalid> {
        if let Some(v) = self.flat_fee_minor {
            t.flat_fee_minor = money::amount("flat_fee_minor", v)?;
        }
        if let Some(basis) = self.flat_fee_basis {
            t.flat_fee_basis = basis;
        }
        if let Some(v) = self.cpc_minor {
            t.cpc_minor = money::amount("cpc_minor", v)?;
        }
        if let Some(v) = self.cpa_minor {
            t.cpa_minor = money::amount("cpa_minor", v)?;
        }
        if let Some(v) = self.revenue_share_bps {
            t.revenue_share_bps = money::basis_points("revenue_share_bps", v)?;
        }
        if let Some(metric) = self.target_metric {
            t.target_metric = metric
                .as_deref()
                .map(|m| Kpi::parse_target("target_metric", m))
                .transpose()?;
        }
        if let Some(value) = self.target_value {
            t.target_value = value
                .map(|v| kpi::target_value("target_value", v))
                .transpose()?;
        }
        check_target(&t)?;
        Ok(t)
    }
}

#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/enrollments",
    tag = "enrollments",
    params(("id" = String, Path, description = "The campaign's id.")),
    request_body = CreateEnrollment,
    responses(
        (status = 201, description = "The enrollment.", body = Enrollment),
        (status = 409, description = "The influencer is already enrolled (`already_enrolled`).", body = ErrorBody),
        (status = 422, description = "`influencer_id` names no influencer (`influencer_not_found`), or a target lacks its metric or value (`incomplete_target`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    campaign_id: web::Path<String>,
    body: Json<CreateEnrollment>,
) -> Result<HttpResponse, ApiError> {
    let campaign = find_campaign(&state, &campaign_id).await?;
    let terms = body.validate()?;
    let influencer_id = reference_id("influencer_id", "influencer_not_found", &body.influencer_id)?;
    let enrollment = enrollments::insert(&state.db, campaign.id, influencer_id, &terms).await?;
    Ok(HttpResponse::Created().json(enrollment))
}

#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}/enrollments/{influencer_id}",
    tag = "enrollments",
    params(("id" = String, Path, description = "The campaign's id."), ("influencer_id" = String, Path, description = "The influencer's id.")),
    responses(
        (status = 200, description = "The enrollment.", body = Enrollment),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign_id, influencer_id) = path.into_inner();
    let campaign_id = path_id(&campaign_id, "enrollment")?;
    let influencer_id = path_id(&influencer_id, "enrollment")?;
    let enrollment = enrollments::get(&state.db, campaign_id, influencer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("enrollment"))?;
    Ok(HttpResponse::Ok().json(enrollment))
}

#[utoipa::path(
    patch,
    path = "/v1/campaigns/{id}/enrollments/{influencer_id}",
    tag = "enrollments",
    params(("id" = String, Path, description = "The campaign's id."), ("influencer_id" = String, Path, description = "The influencer's id.")),
    request_body = PatchEnrollment,
    responses(
        (status = 200, description = "The enrollment as changed.", body = Enrollment),
        (status = 422, description = "A target lacks its metric or value (`incomplete_target`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn patch(
    _: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Json<PatchEnrollment>,
) -> Result<HttpResponse, ApiError> {
    let (campaign_id, influencer_id) = path.into_inner();
    let campaign_id = path_id(&campaign_id, "enrollment")?;
    let influencer_id = path_id(&influencer_id, "enrollment")?;
    let Patched { after, .. } =
        patch::run::<Enrollment>(&state.db, &(campaign_id, influencer_id), |terms, _| {
            body.into_inner().apply(terms)
        })
        .await?;
    Ok(HttpResponse::Ok().json(after))
}

impl Patchable for Enrollment {
    /// The campaign's and the influencer's ids.
    type Key = (i64, i64);
    type Fields = Terms;
    const NAME: &'static str = "enrollment";

    async fn lock(
        tx: &mut Transaction<'_, Postgres>,
        &(campaign_id, influencer_id): &(i64, i64),
    ) -> Result<Option<Self>, StorageError> {
        enrollments::lock(tx, campaign_id, influencer_id).await
    }

    async fn update(
        tx: &mut Transaction<'_, Postgres>,
        current: &Self,
        terms: &Terms,
    ) -> Result<Self, StorageError> {
        enrollments::update(tx, current.id, terms).await
    }
}

#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}/enrollments",
    tag = "enrollments",
    params(("id" = String, Path, description = "The campaign's id."), PageQuery),
    responses(
        (status = 200, description = "A page of the campaign's enrollments.", body = List<Enrollment>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    campaign_id: web::Path<String>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let campaign = find_campaign(&state, &campaign_id).await?;
    let page = query.page()?;
    let rows = enrollments::list(&state.db, campaign.id, page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |e| e.id)))
}
