//! `/v1/links` and `/v1/campaigns/{id}/links/generate`.
//!
//! Destinations are validated here, once, so the redirect path can trust every stored
//! URL: absolute http(s), no credentials, and never the short domain itself (a loop).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Postgres, Transaction};

use super::{
    campaigns::find as find_campaign,
    patch::{self, Patchable, Patched},
};
use crate::{
    config::Settings,
    domain::{
        link::{parse_rules, RuleInput, UtmInput},
        money,
        slug::LinkSlug,
        time,
        url::WebUrl,
        Invalid,
    },
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, ChildrenQuery},
        wire::{nullable, path_id, reference_id, List},
    },
    pipeline::changes,
    state::AppState,
    storage::{
        self,
        campaigns::{self, Campaign},
        clicks, influencers,
        links::{self, Link, LinkSettings},
        StorageError,
    },
};

/// Generated slugs collide rarely; a handful of tries makes failure practically impossible.
const SLUG_ATTEMPTS: usize = 8;

/// A link as sent: the stored row, its short URL, and its ingested clicks (from the hourly
/// rollups, so the cost does not grow with the number of clicks).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    #[serde(flatten)]
    link: Link,
    /// The public URL of the link.
    short_url: String,
    /// Ingested clicks not flagged as bots.
    clicks: i64,
    /// Of those, distinct visitors per day.
    unique_clicks: i64,
}

/// Views of `links` with their click totals, in the same order.
async fn views(state: &AppState, links: Vec<Link>) -> Result<Vec<LinkView>, ApiError> {
    let ids: Vec<i64> = links.iter().map(|l| l.id).collect();
    let totals = if ids.is_empty() {
        Default::default()
    } else {
        clicks::link_totals(&state.db, &ids).await?
    };
    Ok(links
        .into_iter()
        .map(|link| {
            let (clicks, unique_clicks) = totals.get(&link.id).copied().unwrap_or((0, 0));
            LinkView {
                short_url: state.settings.short_url(link.slug.as_str()),
                link,
                clicks,
                unique_clicks,
            }
        })
        .collect())
}

async fn view(state: &AppState, link: Link) -> Result<LinkView, ApiError> {
    views(state, vec![link])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("link view missing"))
}

/// The body of `POST /v1/links` and of `POST /v1/campaigns/{id}/links/generate` (which
/// takes neither ids nor a slug): one struct, so unknown fields are refused in both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Required by `POST /v1/links`; refused by `…/links/generate` (the campaign is in its path).
    #[schema(min_length = 1)]
    campaign_id: Option<String>,
    /// Required by `POST /v1/links`; refused by `…/links/generate`.
    #[schema(min_length = 1)]
    influencer_id: Option<String>,
    /// 1 to 64 letters, digits, `-` and `_`; generated when absent. Refused by `…/links/generate`.
    #[schema(min_length = 1)]
    slug: Option<String>,
    /// An absolute http(s) URL, not on the short-link domain.
    #[schema(min_length = 1)]
    destination: String,
    #[serde(default)]
    utm: UtmInput,
    /// RFC 3339.
    #[schema(min_length = 1)]
    expires_at: Option<String>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    max_clicks: Option<i64>,
    #[schema(min_length = 1)]
    fallback_url: Option<String>,
    #[serde(default)]
    rules: Vec<RuleInput>,
    #[serde(default)]
    forward_query: bool,
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchLink {
    #[schema(min_length = 1)]
    slug: Option<String>,
    #[schema(min_length = 1)]
    destination: Option<String>,
    utm: Option<UtmInput>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    max_clicks: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    fallback_url: Option<Option<String>>,
    rules: Option<Vec<RuleInput>>,
    forward_query: Option<bool>,
    enabled: Option<bool>,
}

/// A web URL that does not point back at the short domain.
fn target_url(field: &'static str, raw: &str, settings: &Settings) -> Result<WebUrl, Invalid> {
    let url = WebUrl::parse(field, raw)?;
    if url.leads_to(&settings.public_url) {
        return Err(Invalid::not_allowed(
            field,
            "redirect_loop",
            "must not point at the short-link domain itself",
        ));
    }
    Ok(url)
}

fn check_rules_targets(settings: &Settings, s: &LinkSettings) -> Result<(), Invalid> {
    for rule in &s.rules {
        target_url("rules.destination", rule.destination.as_str(), settings)?;
    }
    Ok(())
}

impl LinkRequest {
    /// Settings under `slug` (a generated one is replaced if it is taken); `handle` and
    /// `campaign_slug` feed UTM defaults.
    fn validate(
        &self,
        settings: &Settings,
        slug: LinkSlug,
        handle: &str,
        campaign_slug: &str,
    ) -> Result<LinkSettings, Invalid> {
        let s = LinkSettings {
            slug,
            destination: target_url("destination", &self.destination, settings)?,
            utm: self.utm.resolve(handle, campaign_slug)?,
            expires_at: self
                .expires_at
                .as_deref()
                .map(|t| time::parse("expires_at", t))
                .transpose()?,
            max_clicks: self
                .max_clicks
                .map(|n| money::positive_count("max_clicks", n))
                .transpose()?,
            fallback_url: self
                .fallback_url
                .as_deref()
                .map(|u| target_url("fallback_url", u, settings))
                .transpose()?,
            rules: parse_rules(&self.rules)?,
            forward_query: self.forward_query,
            enabled: self.enabled.unwrap_or(true),
        };
        check_rules_targets(settings, &s)?;
        Ok(s)
    }
}

impl PatchLink {
    fn apply(self, mut s: LinkSettings, settings: &Settings) -> Result<LinkSettings, Invalid> {
        if let Some(slug) = self.slug {
            s.slug = LinkSlug::parse(&slug)?;
        }
        if let Some(destination) = self.destination {
            s.destination = target_url("destination", &destination, settings)?;
        }
        if let Some(utm) = self.utm {
            s.utm = utm.apply_to(s.utm)?;
        }
        if let Some(expires) = self.expires_at {
            s.expires_at = expires.map(|t| time::parse("expires_at", &t)).transpose()?;
        }
        if let Some(max) = self.max_clicks {
            s.max_clicks = max
                .map(|n| money::positive_count("max_clicks", n))
                .transpose()?;
        }
        if let Some(fallback) = self.fallback_url {
            s.fallback_url = fallback
                .map(|u| target_url("fallback_url", &u, settings))
                .transpose()?;
        }
        if let Some(rules) = self.rules {
            s.rules = parse_rules(&rules)?;
            check_rules_targets(settings, &s)?;
        }
        if let Some(forward) = self.forward_query {
            s.forward_query = forward;
        }
        if let Some(enabled) = self.enabled {
            s.enabled = enabled;
        }
        Ok(s)
    }
}

/// Drops cached copies of these slugs here and in every other process, so redirects follow
/// a change at once (a slug that was unknown may be cached as unknown).
async fn announce(state: &AppState, slugs: &[&str]) {
    changes::forget_everywhere(
        &*state.links,
        &state.redis,
        &state.keys.link_changes(),
        slugs,
        "links",
    )
    .await;
}

fn required<'a>(value: &'a Option<String>, field: &'static str) -> Result<&'a str, ApiError> {
    value.as_deref().ok_or_else(|| {
        ApiError::bad_request("invalid_body", format!("missing field `{field}`")).with_field(field)
    })
}

/// Whether a link's slug was chosen by the client or generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlugChoice {
    /// Taken: a 409.
    Custom,
    /// Taken: another one is generated.
    Generated,
}

/// Inserts with the settings' slug: a custom one is a 409 when taken, a generated one is
/// generated again on collision.
async fn insert_with_slug(
    db: &mut PgConnection,
    campaign_id: i64,
    influencer_id: i64,
    mut s: LinkSettings,
    choice: SlugChoice,
) -> Result<Link, ApiError> {
    if choice == SlugChoice::Custom {
        return links::insert(&mut *db, campaign_id, influencer_id, &s)
            .await?
            .ok_or_else(|| StorageError::Conflict {
                code: "slug_taken",
                message: format!("the slug {:?} is taken", s.slug.as_str()),
            })
            .map_err(ApiError::from);
    }
    for _ in 0..SLUG_ATTEMPTS {
        if let Some(link) = links::insert(&mut *db, campaign_id, influencer_id, &s).await? {
            return Ok(link);
        }
        s.slug = LinkSlug::generate();
    }
    Err(ApiError::internal("could not find a free slug"))
}

#[utoipa::path(
    post,
    path = "/v1/links",
    tag = "links",
    request_body = LinkRequest,
    responses(
        (status = 201, description = "The link.", body = LinkView),
        (status = 409, description = "A link has this slug (`slug_taken`).", body = ErrorBody),
        (status = 422, description = "A reference names nothing or the influencer is not enrolled (`campaign_not_found`, `influencer_not_found`, `not_enrolled`), the slug is reserved (`slug_reserved`), or a URL points at the short-link domain (`redirect_loop`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let campaign_id = reference_id(
        "campaign_id",
        "campaign_not_found",
        required(&body.campaign_id, "campaign_id")?,
    )?;
    let influencer_id = reference_id(
        "influencer_id",
        "influencer_not_found",
        required(&body.influencer_id, "influencer_id")?,
    )?;
    let custom_slug = body.slug.as_deref().map(LinkSlug::parse).transpose()?;
    let campaign = campaigns::get(&state.db, campaign_id)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable("campaign_not_found", "campaign_id names no campaign")
        })?;
    let influencer = influencers::get(&state.db, influencer_id)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable("influencer_not_found", "influencer_id names no influencer")
        })?;
    let (slug, choice) = match custom_slug {
        Some(slug) => (slug, SlugChoice::Custom),
        None => (LinkSlug::generate(), SlugChoice::Generated),
    };
    let settings = body.validate(
        &state.settings,
        slug,
        influencer.handle.as_str(),
        campaign.slug.as_str(),
    )?;
    let mut conn = storage::acquire(&state.db).await?;
    let link = insert_with_slug(&mut conn, campaign.id, influencer.id, settings, choice).await?;
    announce(&state, &[link.slug.as_str()]).await;
    Ok(HttpResponse::Created().json(view(&state, link).await?))
}

#[utoipa::path(
    get,
    path = "/v1/links/{id}",
    tag = "links",
    params(("id" = String, Path, description = "The link's id.")),
    responses(
        (status = 200, description = "The link.", body = LinkView),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "link")?;
    let link = links::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("link"))?;
    Ok(HttpResponse::Ok().json(view(&state, link).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/links/{id}",
    tag = "links",
    params(("id" = String, Path, description = "The link's id.")),
    request_body = PatchLink,
    responses(
        (status = 200, description = "The link as changed.", body = LinkView),
        (status = 409, description = "A link has this slug (`slug_taken`).", body = ErrorBody),
        (status = 422, description = "The slug is reserved (`slug_reserved`), or a URL points at the short-link domain (`redirect_loop`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn patch(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<PatchLink>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "link")?;
    let Patched { before, after } = patch::run::<Link>(&state.db, &id, |settings, _| {
        body.into_inner().apply(settings, &state.settings)
    })
    .await?;
    announce(&state, &[before.slug.as_str(), after.slug.as_str()]).await;
    Ok(HttpResponse::Ok().json(view(&state, after).await?))
}

/// Disables the link; its row and click history stay.
#[utoipa::path(
    delete,
    path = "/v1/links/{id}",
    tag = "links",
    params(("id" = String, Path, description = "The link's id.")),
    responses(
        (status = 200, description = "The link, disabled; its history stays.", body = LinkView),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn delete(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "link")?;
    let Patched { after, .. } = patch::run::<Link>(&state.db, &id, |mut settings, _| {
        settings.enabled = false;
        Ok(settings)
    })
    .await?;
    announce(&state, &[after.slug.as_str()]).await;
    Ok(HttpResponse::Ok().json(view(&state, after).await?))
}

impl Patchable for Link {
    type Key = i64;
    type Fields = LinkSettings;
    const NAME: &'static str = "link";

    async fn lock(
        tx: &mut Transaction<'_, Postgres>,
        id: &i64,
    ) -> Result<Option<Self>, StorageError> {
        links::lock(tx, *id).await
    }

    async fn update(
        tx: &mut Transaction<'_, Postgres>,
        current: &Self,
        settings: &LinkSettings,
    ) -> Result<Self, StorageError> {
        links::update(tx, current.id, settings).await
    }
}

#[utoipa::path(
    get,
    path = "/v1/links",
    tag = "links",
    params(ChildrenQuery),
    responses(
        (status = 200, description = "A page of links.", body = List<LinkView>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::ChildrenQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = links::list(&state.db, query.filter(), page).await?;
    let list = pagination::list(rows, page, |l| l.id);
    Ok(HttpResponse::Ok().json(List {
        data: views(&state, list.data).await?,
        next_cursor: list.next_cursor,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GeneratedLinks)]
pub struct Generated {
    count: usize,
    data: Vec<LinkView>,
}

/// One new link with a generated slug for every influencer enrolled in the campaign.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/links/generate",
    tag = "links",
    params(("id" = String, Path, description = "The campaign's id.")),
    request_body = LinkRequest,
    responses(
        (status = 201, description = "One new link per enrolled influencer.", body = Generated),
        (status = 422, description = "A URL points at the short-link domain (`redirect_loop`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn generate(
    _: Admin,
    state: web::Data<AppState>,
    campaign_id: web::Path<String>,
    body: Json<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    for (field, set) in [
        ("campaign_id", body.campaign_id.is_some()),
        ("influencer_id", body.influencer_id.is_some()),
        ("slug", body.slug.is_some()),
    ] {
        if set {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("{field} is not taken here: the campaign is in the path and every link gets a generated slug"),
            )
            .with_field(field));
        }
    }
    let campaign: Campaign = find_campaign(&state, &campaign_id).await?;
    let enrolled = crate::storage::enrollments::enrolled_handles(&state.db, campaign.id).await?;
    // Validate for every influencer before writing anything, so a bad option creates nothing.
    let mut prepared = Vec::with_capacity(enrolled.len());
    for (influencer_id, handle) in &enrolled {
        let settings = body.validate(
            &state.settings,
            LinkSlug::generate(),
            handle.as_str(),
            campaign.slug.as_str(),
        )?;
        prepared.push((*influencer_id, settings));
    }
    let mut tx = storage::begin(&state.db).await?;
    let mut created = Vec::with_capacity(prepared.len());
    for (influencer_id, settings) in prepared {
        let link = insert_with_slug(
            &mut tx,
            campaign.id,
            influencer_id,
            settings,
            SlugChoice::Generated,
        )
        .await?;
        created.push(link);
    }
    storage::commit(tx).await?;
    let slugs: Vec<&str> = created.iter().map(|link| link.slug.as_str()).collect();
    announce(&state, &slugs).await;
    let data = views(&state, created).await?;
    Ok(HttpResponse::Created().json(Generated {
        count: data.len(),
        data,
    }))
}
