//! SQL of `cost_lines`: costs beyond the enrollments' compensation.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{PageRequest, ParentFilter, StorageError};
use crate::{
    domain::cost::CostKind,
    ids::{id_string, opt_id_string},
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CostLine {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub campaign_id: i64,
    #[serde(serialize_with = "opt_id_string")]
    #[schema(value_type = Option<String>)]
    pub influencer_id: Option<i64>,
    pub kind: CostKind,
    pub amount_minor: i64,
    pub description: Option<String>,
    pub incurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCostLine {
    pub campaign_id: i64,
    pub influencer_id: Option<i64>,
    pub kind: CostKind,
    pub amount_minor: i64,
    pub description: Option<String>,
    pub incurred_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, campaign_id, influencer_id, kind, amount_minor, description, incurred_at, created_at";

pub async fn insert(db: &PgPool, c: &NewCostLine) -> Result<CostLine, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO cost_lines (campaign_id, influencer_id, kind, amount_minor, description, incurred_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(c.campaign_id)
    .bind(c.influencer_id)
    .bind(c.kind)
    .bind(c.amount_minor)
    .bind(&c.description)
    .bind(c.incurred_at)
    .fetch_one(db)
    .await?)
}

pub async fn list(
    db: &PgPool,
    filter: ParentFilter,
    page: PageRequest,
) -> Result<Vec<CostLine>, StorageError> {
    super::list_children(db, "cost_lines", COLUMNS, filter, page).await
}
