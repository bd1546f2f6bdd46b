//! SQL of `campaigns`. Every read returns the same columns, with `status` derived in SQL
//! from the dates at the time of the read unless a manager set it (`status_override`), so
//! no stored status can go stale.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use super::{PageRequest, RowLock, StorageError};
use crate::{
    domain::{
        attribution::Priority,
        campaign::{CampaignStatus, Goal},
        money::Currency,
        slug::CampaignSlug,
    },
    ids::id_string,
};

/// A campaign as stored and as sent: `status` is derived from the dates unless a manager
/// set it explicitly (`status_override`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Campaign {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    pub name: String,
    pub slug: CampaignSlug,
    pub currency: Currency,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget_minor: Option<i64>,
    pub goal: Goal,
    pub goal_target: Option<f64>,
    pub attribution_window_days: i32,
    pub margin_bps: Option<i32>,
    pub attribution_priority: Priority,
    pub status: CampaignStatus,
    #[serde(skip)]
    pub status_override: Option<CampaignStatus>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every writable column, validated.
#[derive(Debug, Clone)]
pub struct CampaignFields {
    pub name: String,
    pub slug: CampaignSlug,
    pub currency: Currency,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget_minor: Option<i64>,
    pub goal: Goal,
    pub goal_target: Option<f64>,
    pub attribution_window_days: i32,
    pub margin_bps: Option<i32>,
    pub attribution_priority: Priority,
    pub status_override: Option<CampaignStatus>,
}

impl From<Campaign> for CampaignFields {
    fn from(c: Campaign) -> Self {
        CampaignFields {
            name: c.name,
            slug: c.slug,
            currency: c.currency,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            budget_minor: c.budget_minor,
            goal: c.goal,
            goal_target: c.goal_target,
            attribution_window_days: c.attribution_window_days,
            margin_bps: c.margin_bps,
            attribution_priority: c.attribution_priority,
            status_override: c.status_override,
        }
    }
}

/// The stored columns and the derived `status`.
const COLUMNS: &str = "id, name, slug, currency, starts_at, ends_at, budget_minor, goal,
    goal_target, attribution_window_days, margin_bps, attribution_priority,
    coalesce(status_override,
             CASE WHEN now() < starts_at THEN 'draft'
                  WHEN ends_at IS NOT NULL AND now() >= ends_at THEN 'ended'
                  ELSE 'active' END) AS status,
    status_override, created_at, updated_at";

pub async fn insert(db: &PgPool, f: &CampaignFields) -> Result<Campaign, StorageError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO campaigns (name, slug, currency, starts_at, ends_at, budget_minor, goal,
            goal_target, attribution_window_days, margin_bps, attribution_priority, status_override)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(&f.name)
    .bind(&f.slug)
    .bind(f.currency)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(f.budget_minor)
    .bind(f.goal)
    .bind(f.goal_target)
    .bind(f.attribution_window_days)
    .bind(f.margin_bps)
    .bind(f.attribution_priority)
    .bind(f.status_override)
    .fetch_one(db)
    .await?;
    get(db, id)
        .await?
        .ok_or(StorageError::Database(sqlx::Error::RowNotFound))
}

pub async fn get(db: &PgPool, id: i64) -> Result<Option<Campaign>, StorageError> {
    super::row_by_key(db, "campaigns", COLUMNS, "id", id, RowLock::No).await
}

/// The campaign, locked until `tx` ends.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<Option<Campaign>, StorageError> {
    super::row_by_key(
        &mut **tx,
        "campaigns",
        COLUMNS,
        "id",
        id,
        RowLock::ForUpdate,
    )
    .await
}

pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    f: &CampaignFields,
) -> Result<Campaign, StorageError> {
    Ok(sqlx::query_as(&format!(
        "WITH updated AS (
           UPDATE campaigns SET name = $2, slug = $3, starts_at = $4, ends_at = $5,
             budget_minor = $6, goal = $7, goal_target = $8, attribution_window_days = $9,
             margin_bps = $10, attribution_priority = $11, status_override = $12, updated_at = now()
           WHERE id = $1 RETURNING *)
         SELECT {COLUMNS} FROM updated"
    ))
    .bind(id)
    .bind(&f.name)
    .bind(&f.slug)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(f.budget_minor)
    .bind(f.goal)
    .bind(f.goal_target)
    .bind(f.attribution_window_days)
    .bind(f.margin_bps)
    .bind(f.attribution_priority)
    .bind(f.status_override)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list(db: &PgPool, page: PageRequest) -> Result<Vec<Campaign>, StorageError> {
    super::list_page(db, "campaigns", COLUMNS, page).await
}
