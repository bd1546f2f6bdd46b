//! SQL of `influencers`: handles are unique, so an influencer is created once however many
//! campaigns enrol them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use super::{PageRequest, RowLock, StorageError};
use crate::{domain::slug::Handle, ids::id_string};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Influencer {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    pub handle: Handle,
    pub display_name: String,
    pub platform: Option<String>,
    pub followers: Option<i64>,
    pub contact_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct InfluencerFields {
    pub handle: Handle,
    pub display_name: String,
    pub platform: Option<String>,
    pub followers: Option<i64>,
    pub contact_email: Option<String>,
}

impl From<Influencer> for InfluencerFields {
    fn from(i: Influencer) -> Self {
        InfluencerFields {
            handle: i.handle,
            display_name: i.display_name,
            platform: i.platform,
            followers: i.followers,
            contact_email: i.contact_email,
        }
    }
}

const COLUMNS: &str =
    "id, handle, display_name, platform, followers, contact_email, created_at, updated_at";

pub async fn insert(db: &PgPool, f: &InfluencerFields) -> Result<Influencer, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO influencers (handle, display_name, platform, followers, contact_email)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(&f.handle)
    .bind(&f.display_name)
    .bind(&f.platform)
    .bind(f.followers)
    .bind(&f.contact_email)
    .fetch_one(db)
    .await?)
}

pub async fn get(db: &PgPool, id: i64) -> Result<Option<Influencer>, StorageError> {
    super::row_by_key(db, "influencers", COLUMNS, "id", id, RowLock::No).await
}

/// The influencer, locked until `tx` ends.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<Option<Influencer>, StorageError> {
    super::row_by_key(
        &mut **tx,
        "influencers",
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
    f: &InfluencerFields,
) -> Result<Influencer, StorageError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE influencers SET handle = $2, display_name = $3, platform = $4, followers = $5,
           contact_email = $6, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&f.handle)
    .bind(&f.display_name)
    .bind(&f.platform)
    .bind(f.followers)
    .bind(&f.contact_email)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list(db: &PgPool, page: PageRequest) -> Result<Vec<Influencer>, StorageError> {
    super::list_page(db, "influencers", COLUMNS, page).await
}
