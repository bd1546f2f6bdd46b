//! `/v1/posts` and their metric snapshots.
//!
//! Snapshots are never edited: each one records what was known, from which source, when.
//! Reports take the latest per post and say how much of it was self-reported.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use crate::{
    domain::{money, post::MetricSource, text, time, url::WebUrl, Invalid},
    http::{
        auth::Admin,
        error::ApiError,
        pagination,
        wire::{path_id, reference_id},
    },
    state::AppState,
    storage::posts::{self, NewPost, NewSnapshot},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    campaign_id: String,
    influencer_id: String,
    platform: Option<String>,
    url: Option<String>,
    published_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshot {
    impressions: Option<i64>,
    reach: Option<i64>,
    likes: Option<i64>,
    comments: Option<i64>,
    shares: Option<i64>,
    saves: Option<i64>,
    views: Option<i64>,
    source: MetricSource,
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

pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<CreatePost>,
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

pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::ChildrenQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = posts::list(&state.db, query.filter(), page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |p| p.id)))
}

pub async fn add_snapshot(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<CreateSnapshot>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "post")?;
    let snapshot = body.validate()?;
    if posts::get(&state.db, id).await?.is_none() {
        return Err(ApiError::not_found("post"));
    }
    let row = posts::insert_snapshot(&state.db, id, &snapshot).await?;
    Ok(HttpResponse::Created().json(row))
}

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
