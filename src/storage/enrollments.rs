//! SQL of `enrollments`: an influencer's terms in one campaign.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};

use super::{PageRequest, RowLock, StorageError};
use crate::{
    domain::{enrollment::FlatFeeBasis, kpi::Kpi, slug::Handle},
    ids::id_string,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Enrollment {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub campaign_id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub influencer_id: i64,
    pub flat_fee_minor: i64,
    pub flat_fee_basis: FlatFeeBasis,
    pub cpc_minor: i64,
    pub cpa_minor: i64,
    pub revenue_share_bps: i32,
    pub target_metric: Option<Kpi>,
    pub target_value: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Terms {
    pub flat_fee_minor: i64,
    pub flat_fee_basis: FlatFeeBasis,
    pub cpc_minor: i64,
    pub cpa_minor: i64,
    pub revenue_share_bps: i32,
    pub target_metric: Option<Kpi>,
    pub target_value: Option<f64>,
}

impl From<Enrollment> for Terms {
    fn from(e: Enrollment) -> Self {
        Terms {
            flat_fee_minor: e.flat_fee_minor,
            flat_fee_basis: e.flat_fee_basis,
            cpc_minor: e.cpc_minor,
            cpa_minor: e.cpa_minor,
            revenue_share_bps: e.revenue_share_bps,
            target_metric: e.target_metric,
            target_value: e.target_value,
        }
    }
}

const COLUMNS: &str = "id, campaign_id, influencer_id, flat_fee_minor, flat_fee_basis, cpc_minor,
    cpa_minor, revenue_share_bps, target_metric, target_value, created_at, updated_at";

pub async fn insert(
    db: &PgPool,
    campaign_id: i64,
    influencer_id: i64,
    t: &Terms,
) -> Result<Enrollment, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO enrollments (campaign_id, influencer_id, flat_fee_minor, flat_fee_basis,
            cpc_minor, cpa_minor, revenue_share_bps, target_metric, target_value)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(campaign_id)
    .bind(influencer_id)
    .bind(t.flat_fee_minor)
    .bind(t.flat_fee_basis)
    .bind(t.cpc_minor)
    .bind(t.cpa_minor)
    .bind(t.revenue_share_bps)
    .bind(t.target_metric)
    .bind(t.target_value)
    .fetch_one(db)
    .await?)
}

pub async fn get(
    db: &PgPool,
    campaign_id: i64,
    influencer_id: i64,
) -> Result<Option<Enrollment>, StorageError> {
    by_pair(db, campaign_id, influencer_id, RowLock::No).await
}

/// The enrollment, locked until `tx` ends.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    campaign_id: i64,
    influencer_id: i64,
) -> Result<Option<Enrollment>, StorageError> {
    by_pair(&mut **tx, campaign_id, influencer_id, RowLock::ForUpdate).await
}

/// The one read of an enrollment by its campaign and influencer, behind `get` and `lock`.
async fn by_pair<'e>(
    db: impl PgExecutor<'e>,
    campaign_id: i64,
    influencer_id: i64,
    lock: RowLock,
) -> Result<Option<Enrollment>, StorageError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM enrollments WHERE campaign_id = $1 AND influencer_id = $2{}",
        lock.clause()
    ))
    .bind(campaign_id)
    .bind(influencer_id)
    .fetch_optional(db)
    .await?)
}

pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    t: &Terms,
) -> Result<Enrollment, StorageError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE enrollments SET flat_fee_minor = $2, flat_fee_basis = $3, cpc_minor = $4,
           cpa_minor = $5, revenue_share_bps = $6, target_metric = $7, target_value = $8,
           updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(t.flat_fee_minor)
    .bind(t.flat_fee_basis)
    .bind(t.cpc_minor)
    .bind(t.cpa_minor)
    .bind(t.revenue_share_bps)
    .bind(t.target_metric)
    .bind(t.target_value)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list(
    db: &PgPool,
    campaign_id: i64,
    page: PageRequest,
) -> Result<Vec<Enrollment>, StorageError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM enrollments WHERE campaign_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(campaign_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(db)
    .await?)
}

/// Influencer ids and handles of a campaign's enrollments, for bulk link generation.
pub async fn enrolled_handles(
    db: &PgPool,
    campaign_id: i64,
) -> Result<Vec<(i64, Handle)>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT i.id, i.handle FROM enrollments e JOIN influencers i ON i.id = e.influencer_id
         WHERE e.campaign_id = $1 ORDER BY e.id",
    )
    .bind(campaign_id)
    .fetch_all(db)
    .await?)
}
