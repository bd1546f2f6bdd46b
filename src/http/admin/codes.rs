//! `/v1/codes`: custom promo codes and bulk generation.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};

use super::patch::{self, Patchable, Patched};
use crate::{
    domain::{
        code::{CodePrefix, PromoCode, DEFAULT_GENERATED_LENGTH, MAX_LEN, MIN_GENERATED_LENGTH},
        discount::{self, DiscountKind},
        money, time, Invalid,
    },
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, ChildrenQuery},
        wire::{nullable, reference_id, List},
    },
    pipeline::changes,
    state::AppState,
    storage::{
        self, campaigns,
        codes::{self, CodeTerms, PromoCodeRow},
        StorageError,
    },
};

pub const MAX_GENERATE_COUNT: i64 = 10_000;

/// The body of both `POST /v1/codes` (with `code`) and `POST /v1/codes/generate` (with
/// `count`, `prefix`, `length`): one struct, so unknown fields are refused in both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Required by `POST /v1/codes` (letters, digits, `-` and `_`; matched case-insensitively); refused by `POST /v1/codes/generate`.
    #[schema(min_length = 1)]
    code: Option<String>,
    /// `POST /v1/codes/generate` only: 1 to 10 000.
    count: Option<i64>,
    /// `POST /v1/codes/generate` only: put before the random part (empty: none).
    prefix: Option<String>,
    /// Random characters after the prefix (default 10).
    length: Option<i64>,
    #[schema(min_length = 1)]
    campaign_id: String,
    #[schema(min_length = 1)]
    influencer_id: String,
    discount_kind: DiscountKind,
    /// Basis points for `percent` (1 to 10 000), minor units for `fixed` (at least 1), ignored for `free_shipping`.
    discount_value: Option<i64>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    max_redemptions: Option<i64>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    max_per_customer: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    min_subtotal_minor: Option<i64>,
    #[schema(min_length = 1)]
    starts_at: Option<String>,
    #[schema(min_length = 1)]
    ends_at: Option<String>,
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchCode {
    discount_kind: Option<DiscountKind>,
    discount_value: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    max_redemptions: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    max_per_customer: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    min_subtotal_minor: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    starts_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    ends_at: Option<Option<String>>,
    enabled: Option<bool>,
}

fn limit(field: &'static str, value: Option<i64>) -> Result<Option<i64>, Invalid> {
    value.map(|v| money::positive_count(field, v)).transpose()
}

fn optional_time(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Invalid> {
    raw.map(|t| time::parse(field, t)).transpose()
}

impl CodeRequest {
    /// The first generation-only field set on a request that is not a generation.
    fn generation_field(&self) -> Option<&'static str> {
        [
            ("count", self.count.is_some()),
            ("prefix", self.prefix.is_some()),
            ("length", self.length.is_some()),
        ]
        .into_iter()
        .find_map(|(field, set)| set.then_some(field))
    }

    fn validate(&self) -> Result<CodeTerms, Invalid> {
        let starts_at = optional_time("starts_at", self.starts_at.as_deref())?;
        let ends_at = optional_time("ends_at", self.ends_at.as_deref())?;
        time::check_order(starts_at, ends_at)?;
        Ok(CodeTerms {
            discount_kind: self.discount_kind,
            discount_value: discount::value_for(self.discount_kind, self.discount_value)?,
            max_redemptions: limit("max_redemptions", self.max_redemptions)?,
            max_per_customer: limit("max_per_customer", self.max_per_customer)?,
            min_subtotal_minor: self
                .min_subtotal_minor
                .map(|v| money::amount("min_subtotal_minor", v))
                .transpose()?,
            starts_at,
            ends_at,
            enabled: self.enabled.unwrap_or(true),
        })
    }

    /// The campaign and influencer ids, after checking the campaign exists (the enrollment
    /// foreign key then covers the influencer).
    async fn owners(&self, state: &AppState) -> Result<(i64, i64), ApiError> {
        let campaign_id = reference_id("campaign_id", "campaign_not_found", &self.campaign_id)?;
        let influencer_id =
            reference_id("influencer_id", "influencer_not_found", &self.influencer_id)?;
        if campaigns::get(&state.db, campaign_id).await?.is_none() {
            return Err(ApiError::unprocessable(
                "campaign_not_found",
                "campaign_id names no campaign",
            ));
        }
        Ok((campaign_id, influencer_id))
    }
}

impl PatchCode {
    fn apply(self, mut t: CodeTerms, redemptions: i64) -> Result<CodeTerms, Invalid> {
        let kind = self.discount_kind.unwrap_or(t.discount_kind);
        if self.discount_kind.is_some() || self.discount_value.is_some() {
            let value = self.discount_value.or(Some(t.discount_value));
            t.discount_value = discount::value_for(kind, value)?;
            t.discount_kind = kind;
        }
        if let Some(max) = self.max_redemptions {
            t.max_redemptions = limit("max_redemptions", max)?;
            if t.max_redemptions.is_some_and(|max| max < redemptions) {
                return Err(Invalid::not_allowed(
                    "max_redemptions",
                    "limit_below_redemptions",
                    format!("the code already has {redemptions} redemptions"),
                ));
            }
        }
        if let Some(max) = self.max_per_customer {
            t.max_per_customer = limit("max_per_customer", max)?;
        }
        if let Some(min) = self.min_subtotal_minor {
            t.min_subtotal_minor = min
                .map(|v| money::amount("min_subtotal_minor", v))
                .transpose()?;
        }
        if let Some(starts) = self.starts_at {
            t.starts_at = optional_time("starts_at", starts.as_deref())?;
        }
        if let Some(ends) = self.ends_at {
            t.ends_at = optional_time("ends_at", ends.as_deref())?;
        }
        time::check_order(t.starts_at, t.ends_at)?;
        if let Some(enabled) = self.enabled {
            t.enabled = enabled;
        }
        Ok(t)
    }
}

#[utoipa::path(
    post,
    path = "/v1/codes",
    tag = "codes",
    request_body = CodeRequest,
    responses(
        (status = 201, description = "The promo code.", body = PromoCodeRow),
        (status = 409, description = "This code exists (`code_taken`).", body = ErrorBody),
        (status = 422, description = "A reference names nothing or the influencer is not enrolled (`campaign_not_found`, `influencer_not_found`, `not_enrolled`), or `ends_at` is not after `starts_at` (`ends_before_starts`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(field) = body.generation_field() {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("{field} belongs to POST /v1/codes/generate"),
        )
        .with_field(field));
    }
    let raw_code = body.code.as_deref().ok_or_else(|| {
        ApiError::bad_request("invalid_body", "missing field `code`").with_field("code")
    })?;
    let code = PromoCode::parse(raw_code)?;
    let terms = body.validate()?;
    let (campaign_id, influencer_id) = body.owners(&state).await?;
    let row = codes::insert(&state.db, &code, campaign_id, influencer_id, &terms).await?;
    Ok(HttpResponse::Created().json(row))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GeneratedCodes)]
pub struct Generated {
    count: usize,
    codes: Vec<PromoCode>,
}

/// Up to 10 000 unguessable codes in one transaction: all of them or none.
#[utoipa::path(
    post,
    path = "/v1/codes/generate",
    tag = "codes",
    request_body = CodeRequest,
    responses(
        (status = 201, description = "The codes made, all or none.", body = Generated),
        (status = 409, description = "Not enough unused codes of this prefix and length (`code_space_exhausted`).", body = ErrorBody),
        (status = 422, description = "A reference names nothing or the influencer is not enrolled (`campaign_not_found`, `influencer_not_found`, `not_enrolled`), or `ends_at` is not after `starts_at` (`ends_before_starts`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn generate(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.code.is_some() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "code belongs to POST /v1/codes; generation makes its own",
        )
        .with_field("code"));
    }
    let count = body
        .count
        .and_then(|c| usize::try_from(c).ok())
        .filter(|c| (1..=MAX_GENERATE_COUNT as usize).contains(c))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_count",
                format!("count must be 1 to {MAX_GENERATE_COUNT}"),
            )
            .with_field("count")
        })?;
    let prefix = CodePrefix::parse(body.prefix.as_deref().unwrap_or_default())?;
    let max_length = MAX_LEN - prefix.len();
    let length = match body.length {
        None => DEFAULT_GENERATED_LENGTH,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (MIN_GENERATED_LENGTH..=max_length).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_length",
                    format!(
                        "length must be {MIN_GENERATED_LENGTH} to {max_length} with this prefix"
                    ),
                )
                .with_field("length")
            })?,
    };
    let terms = body.validate()?;
    let (campaign_id, influencer_id) = body.owners(&state).await?;

    let mut tx = storage::begin(&state.db).await?;
    let mut issued: Vec<PromoCode> = Vec::with_capacity(count);
    // Each round inserts what is free; with ≥8 random characters a second round is rare.
    for _ in 0..5 {
        let missing = count - issued.len();
        if missing == 0 {
            break;
        }
        let mut batch: Vec<PromoCode> = (0..missing)
            .map(|_| PromoCode::generate(&prefix, length))
            .collect();
        batch.sort_unstable();
        batch.dedup();
        let inserted =
            codes::insert_many(&mut tx, &batch, campaign_id, influencer_id, &terms).await?;
        issued.extend(inserted);
    }
    if issued.len() != count {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "code_space_exhausted",
            "could not generate enough unique codes; use a longer length or another prefix",
        ));
    }
    storage::commit(tx).await?;
    Ok(HttpResponse::Created().json(Generated {
        count: issued.len(),
        codes: issued,
    }))
}

fn code_in_path(raw: &str) -> Result<PromoCode, ApiError> {
    PromoCode::parse(raw).map_err(|_| ApiError::not_found("code"))
}

#[utoipa::path(
    get,
    path = "/v1/codes/{code}",
    tag = "codes",
    params(("code" = String, Path, description = "The promo code (case-insensitive).")),
    responses(
        (status = 200, description = "The promo code.", body = PromoCodeRow),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = code_in_path(&code)?;
    let row = codes::get(&state.db, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("code"))?;
    Ok(HttpResponse::Ok().json(row))
}

#[utoipa::path(
    patch,
    path = "/v1/codes/{code}",
    tag = "codes",
    params(("code" = String, Path, description = "The promo code (case-insensitive).")),
    request_body = PatchCode,
    responses(
        (status = 200, description = "The promo code as changed.", body = PromoCodeRow),
        (status = 422, description = "`max_redemptions` is below the redemptions made (`limit_below_redemptions`), or `ends_at` is not after `starts_at` (`ends_before_starts`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn patch(
    _: Admin,
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: Json<PatchCode>,
) -> Result<HttpResponse, ApiError> {
    let code = code_in_path(&code)?;
    let Patched { after, .. } = patch::run::<PromoCodeRow>(&state.db, &code, |terms, current| {
        body.into_inner().apply(terms, current.redemptions)
    })
    .await?;
    changes::forget_everywhere(
        &*state.code_terms,
        &state.redis,
        &state.keys.code_changes(),
        &[code.as_str()],
        "codes",
    )
    .await;
    Ok(HttpResponse::Ok().json(after))
}

impl Patchable for PromoCodeRow {
    /// The code itself, as the path names it.
    type Key = PromoCode;
    type Fields = CodeTerms;
    const NAME: &'static str = "code";

    async fn lock(
        tx: &mut Transaction<'_, Postgres>,
        code: &PromoCode,
    ) -> Result<Option<Self>, StorageError> {
        codes::lock(tx, code).await
    }

    async fn update(
        tx: &mut Transaction<'_, Postgres>,
        current: &Self,
        terms: &CodeTerms,
    ) -> Result<Self, StorageError> {
        codes::update(tx, current.id, terms).await
    }
}

#[utoipa::path(
    get,
    path = "/v1/codes",
    tag = "codes",
    params(ChildrenQuery),
    responses(
        (status = 200, description = "A page of promo codes.", body = List<PromoCodeRow>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::ChildrenQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = codes::list(&state.db, query.filter(), page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |c| c.id)))
}
