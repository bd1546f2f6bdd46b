//! `/v1/posts` and their metric snapshots.
//!
//! Snapshots are never edited: each one records what was known, from which source, when.
//! Reports take the latest per post and say how much of it was self-reported.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use crate::{
    domain::{money, post::MetricSource, text, time, url::WebUrl, Invalid},
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, ChildrenQuery, PageQuery},
        wire::{path_id, reference_id, List},
    },
    state::AppState,
    storage::posts::{self, NewPost, NewSnapshot, Post, Snapshot},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    #[schema(min_length = 1)]
    campaign_id: String,
    #[schema(min_length = 1)]
    influencer_id: String,
    #[schema(min_length = 1)]
    platform: Option<String>,
    #[schema(min_length = 1)]
    url: Option<String>,
    #[schema(min_length = 1)]
    published_at: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshot {
    /// At least one of the counts is given.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    impressions: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    reach: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    likes: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    comments: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    shares: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    saves: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    views: Option<i64>,
    source: MetricSource,
    /// RFC 3339; default now.
    #[schema(min_length = 1)]
    captured_at: Option<String>,
}

impl CreateSnapshot {
    fn validate(&self) -> Result<NewSnapshot, Invalid> {
        let metric =
            |field: &'static str, v: Option<i64>| v.map(|v| money::count(field, v)).transpose();
        let snapshot = NewSnapshot {
            impressions: metric("impressions", self.impressions)?,
            reach: metric("reach", self.reach)?,
            likes: metric("likes", self.likes)?,
            comments: metric("comments", self.comments)?,
            shares: metric("shares", self.shares)?,
            saves: metric("saves", self.saves)?,
            views: metric("views", self.views)?,
            source: self.source,
            captured_at: match &self.captured_at {
                Some(raw) => time::parse("captured_at", raw)?,
                None => Utc::now(),
            },
        };
        let counts = [
            snapshot.impressions,
            snapshot.reach,
            snapshot.likes,
            snapshot.comments,
            snapshot.shares,
            snapshot.saves,
            snapshot.views,
        ];
        if counts.iter().all(Option::is_none) {
            return Err(Invalid::malformed(
                "impressions",
                "empty_snapshot",
                "a snapshot needs at least one metric",
            ));
        }
        Ok(snapshot)
    }
}

#[utoipa::path(
    post,
    path = "/v1/posts",
    tag = "posts",
    request_body = CreatePost,
    responses(
        (status = 201, description = "The post.", body = Post),
        (status = 422, description = "`campaign_id` or `influencer_id` names nothing (`campaign_not_found`, `influencer_not_found`), or the influencer is not enrolled (`not_enrolled`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CreatePost>,
) -> Result<HttpResponse, ApiError> {
    let post = NewPost {
        campaign_id: reference_id("campaign_id", "campaign_not_found", &body.campaign_id)?,
        influencer_id: reference_id("influencer_id", "influencer_not_found", &body.influencer_id)?,
        platform: body.platform.as_deref().map(text::platform).transpose()?,
        url: body
            .url
            .as_deref()
            .map(|u| WebUrl::parse("url", u))
            .transpose()?,
        published_at: body
            .published_at
            .as_deref()
            .map(|t| time::parse("published_at", t))
            .transpose()?,
    };
    let row = posts::insert(&state.db, &post).await?;
    Ok(HttpResponse::Created().json(row))
}

#[utoipa::path(
    get,
    path = "/v1/posts/{id}",
    tag = "posts",
    params(("id" = String, Path, description = "The post's id.")),
    responses(
        (status = 200, description = "The post.", body = Post),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "post")?;
    let post = posts::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("post"))?;
    Ok(HttpResponse::Ok().json(post))
}

#[utoipa::path(
    get,
    path = "/v1/posts",
    tag = "posts",
    params(ChildrenQuery),
    responses(
        (status = 200, description = "A page of posts.", body = List<Post>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::ChildrenQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = posts::list(&state.db, query.filter(), page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |p| p.id)))
}

#[utoipa::path(
    post,
    path = "/v1/posts/{id}/metrics",
    tag = "posts",
    params(("id" = String, Path, description = "The post's id.")),
    request_body = CreateSnapshot,
    responses(
        (status = 201, description = "The snapshot.", body = Snapshot),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn add_snapshot(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<CreateSnapshot>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "post")?;
    let snapshot = body.validate()?;
    if posts::get(&state.db, id).await?.is_none() {
        return Err(ApiError::not_found("post"));
    }
    let row = posts::insert_snapshot(&state.db, id, &snapshot).await?;
    Ok(HttpResponse::Created().json(row))
}

#[utoipa::path(
    get,
    path = "/v1/posts/{id}/metrics",
    tag = "posts",
    params(("id" = String, Path, description = "The post's id."), PageQuery),
    responses(
        (status = 200, description = "A page of the post's snapshots.", body = List<Snapshot>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list_snapshots(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "post")?;
    if posts::get(&state.db, id).await?.is_none() {
        return Err(ApiError::not_found("post"));
    }
    let page = query.page()?;
    let rows = posts::list_snapshots(&state.db, id, page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |s| s.id)))
}
