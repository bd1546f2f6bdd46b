//! SQL of `api_keys`: a key's clear prefix (to find its row) and SHA-256, never the secret
//! itself (see [`crate::auth`]). Keys are revoked, never deleted, so a revoked key stays
//! listed with the time it stopped working; revoking twice keeps the first time.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{PageRequest, StorageError};
use crate::auth::{NewSecret, Scope};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, scope, prefix, secret_hash, created_at, last_used_at, revoked_at";

pub async fn insert(
    db: &PgPool,
    name: &str,
    scope: Scope,
    secret: &NewSecret,
) -> Result<ApiKeyRow, StorageError> {
    let row = sqlx::query_as(&format!(
        "INSERT INTO api_keys (name, scope, prefix, secret_hash) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    ))
    .bind(name)
    .bind(scope)
    .bind(&secret.prefix)
    .bind(&secret.hash[..])
    .fetch_one(db)
    .await?;
    Ok(row)
}

/// Makes sure the operator's bootstrap key exists (idempotent across restarts and
/// replicas starting together).
pub async fn ensure_bootstrap(db: &PgPool, secret: &NewSecret) -> Result<(), StorageError> {
    let inserted = sqlx::query(
        "INSERT INTO api_keys (name, scope, prefix, secret_hash)
         VALUES ('bootstrap', 'admin', $1, $2)
         ON CONFLICT (prefix) DO NOTHING",
    )
    .bind(&secret.prefix)
    .bind(&secret.hash[..])
    .execute(db)
    .await?;
    if inserted.rows_affected() == 0 {
        let existing = find_by_prefix(db, &secret.prefix).await?;
        if existing.is_none_or(|row| row.secret_hash != secret.hash) {
            return Err(StorageError::Conflict {
                code: "key_prefix_taken",
                message:
                    "another API key starts with the same characters as ATTRIB_BOOTSTRAP_ADMIN_KEY"
                        .into(),
            });
        }
    }
    Ok(())
}

pub async fn find_by_prefix(db: &PgPool, prefix: &str) -> Result<Option<ApiKeyRow>, StorageError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(db)
            .await?,
    )
}

/// Records use at most once a minute per key, so authentication does not turn every
/// request into a write.
pub async fn touch(db: &PgPool, id: i64) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list(db: &PgPool, page: PageRequest) -> Result<Vec<ApiKeyRow>, StorageError> {
    super::list_page(db, "api_keys", COLUMNS, page).await
}

/// Revokes a key; revoking twice keeps the first revocation time.
pub async fn revoke(db: &PgPool, id: i64) -> Result<Option<ApiKeyRow>, StorageError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?)
}
