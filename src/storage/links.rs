//! SQL of `links`: slugs are unique (an insert whose slug is taken returns `None`, for the
//! caller to answer 409 or to try another generated slug); destinations are stored only
//! after validation, so the redirect trusts them. Disabling a link keeps its row, and
//! with it every click's owner.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{types::Json, PgExecutor, PgPool, Postgres, Transaction};

use super::{PageRequest, ParentFilter, RowLock, StorageError};
use crate::{
    domain::{
        link::{Rule, Utm},
        slug::LinkSlug,
        url::WebUrl,
    },
    ids::id_string,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Link {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    pub slug: LinkSlug,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub campaign_id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub influencer_id: i64,
    pub destination: WebUrl,
    #[schema(value_type = Utm)]
    pub utm: Json<Utm>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    pub fallback_url: Option<WebUrl>,
    #[schema(value_type = Vec<Rule>)]
    pub rules: Json<Vec<Rule>>,
    pub forward_query: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns a manager can change after creation.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub slug: LinkSlug,
    pub destination: WebUrl,
    pub utm: Utm,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    pub fallback_url: Option<WebUrl>,
    pub rules: Vec<Rule>,
    pub forward_query: bool,
    pub enabled: bool,
}

impl From<Link> for LinkSettings {
    fn from(l: Link) -> Self {
        LinkSettings {
            slug: l.slug,
            destination: l.destination,
            utm: l.utm.0,
            expires_at: l.expires_at,
            max_clicks: l.max_clicks,
            fallback_url: l.fallback_url,
            rules: l.rules.0,
            forward_query: l.forward_query,
            enabled: l.enabled,
        }
    }
}

const COLUMNS: &str = "id, slug, campaign_id, influencer_id, destination, utm, expires_at,
    max_clicks, fallback_url, rules, forward_query, enabled, created_at, updated_at";

/// Inserts a link; `None` when its slug is taken (the caller decides: 409 for a custom
/// slug, another try for a generated one).
pub async fn insert<'e>(
    db: impl PgExecutor<'e>,
    campaign_id: i64,
    influencer_id: i64,
    s: &LinkSettings,
) -> Result<Option<Link>, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO links (slug, campaign_id, influencer_id, destination, utm, expires_at,
            max_clicks, fallback_url, rules, forward_query, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT ON CONSTRAINT links_slug_key DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(&s.slug)
    .bind(campaign_id)
    .bind(influencer_id)
    .bind(&s.destination)
    .bind(Json(&s.utm))
    .bind(s.expires_at)
    .bind(s.max_clicks)
    .bind(&s.fallback_url)
    .bind(Json(&s.rules))
    .bind(s.forward_query)
    .bind(s.enabled)
    .fetch_optional(db)
    .await?)
}

pub async fn get(db: &PgPool, id: i64) -> Result<Option<Link>, StorageError> {
    super::row_by_key(db, "links", COLUMNS, "id", id, RowLock::No).await
}

/// The link, locked until `tx` ends.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<Option<Link>, StorageError> {
    super::row_by_key(&mut **tx, "links", COLUMNS, "id", id, RowLock::ForUpdate).await
}

pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    s: &LinkSettings,
) -> Result<Link, StorageError> {
    let updated: Option<Link> = sqlx::query_as(&format!(
        "UPDATE links SET slug = $2, destination = $3, utm = $4, expires_at = $5,
           max_clicks = $6, fallback_url = $7, rules = $8, forward_query = $9, enabled = $10,
           updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&s.slug)
    .bind(&s.destination)
    .bind(Json(&s.utm))
    .bind(s.expires_at)
    .bind(s.max_clicks)
    .bind(&s.fallback_url)
    .bind(Json(&s.rules))
    .bind(s.forward_query)
    .bind(s.enabled)
    .fetch_optional(&mut **tx)
    .await?;
    updated.ok_or(StorageError::Database(sqlx::Error::RowNotFound))
}

pub async fn list(
    db: &PgPool,
    filter: ParentFilter,
    page: PageRequest,
) -> Result<Vec<Link>, StorageError> {
    super::list_children(db, "links", COLUMNS, filter, page).await
}

/// The link behind a short URL, for the redirect path's cache.
pub async fn find_by_slug(db: &PgPool, slug: &LinkSlug) -> Result<Option<Link>, StorageError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM links WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(db)
            .await?,
    )
}
