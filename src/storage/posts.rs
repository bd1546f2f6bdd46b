//! SQL of `posts` and `post_metrics`: snapshots are appended, never edited, each with its
//! source and time, so a report can take the latest and say how much was self-reported.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{PageRequest, ParentFilter, RowLock, StorageError};
use crate::{
    domain::{post::MetricSource, url::WebUrl},
    ids::id_string,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Post {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub campaign_id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub influencer_id: i64,
    pub platform: Option<String>,
    pub url: Option<WebUrl>,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPost {
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub platform: Option<String>,
    pub url: Option<WebUrl>,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Snapshot {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub post_id: i64,
    pub impressions: Option<i64>,
    pub reach: Option<i64>,
    pub likes: Option<i64>,
    pub comments: Option<i64>,
    pub shares: Option<i64>,
    pub saves: Option<i64>,
    pub views: Option<i64>,
    pub source: MetricSource,
    pub captured_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub impressions: Option<i64>,
    pub reach: Option<i64>,
    pub likes: Option<i64>,
    pub comments: Option<i64>,
    pub shares: Option<i64>,
    pub saves: Option<i64>,
    pub views: Option<i64>,
    pub source: MetricSource,
    pub captured_at: DateTime<Utc>,
}

const POST_COLUMNS: &str =
    "id, campaign_id, influencer_id, platform, url, published_at, created_at";
const SNAPSHOT_COLUMNS: &str = "id, post_id, impressions, reach, likes, comments, shares, saves,
    views, source, captured_at, created_at";

pub async fn insert(db: &PgPool, p: &NewPost) -> Result<Post, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO posts (campaign_id, influencer_id, platform, url, published_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {POST_COLUMNS}"
    ))
    .bind(p.campaign_id)
    .bind(p.influencer_id)
    .bind(&p.platform)
    .bind(&p.url)
    .bind(p.published_at)
    .fetch_one(db)
    .await?)
}

pub async fn get(db: &PgPool, id: i64) -> Result<Option<Post>, StorageError> {
    super::row_by_key(db, "posts", POST_COLUMNS, "id", id, RowLock::No).await
}

pub async fn list(
    db: &PgPool,
    filter: ParentFilter,
    page: PageRequest,
) -> Result<Vec<Post>, StorageError> {
    super::list_children(db, "posts", POST_COLUMNS, filter, page).await
}

pub async fn insert_snapshot(
    db: &PgPool,
    post_id: i64,
    s: &NewSnapshot,
) -> Result<Snapshot, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO post_metrics (post_id, impressions, reach, likes, comments, shares, saves,
            views, source, captured_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {SNAPSHOT_COLUMNS}"
    ))
    .bind(post_id)
    .bind(s.impressions)
    .bind(s.reach)
    .bind(s.likes)
    .bind(s.comments)
    .bind(s.shares)
    .bind(s.saves)
    .bind(s.views)
    .bind(s.source)
    .bind(s.captured_at)
    .fetch_one(db)
    .await?)
}

pub async fn list_snapshots(
    db: &PgPool,
    post_id: i64,
    page: PageRequest,
) -> Result<Vec<Snapshot>, StorageError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM post_metrics WHERE post_id = $1 AND id > $2
         ORDER BY id LIMIT $3"
    ))
    .bind(post_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(db)
    .await?)
}
