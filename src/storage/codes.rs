//! SQL of `promo_codes`: a code's terms and its redemption counter. Codes are unique
//! (stored upper-case, see [`crate::domain::code`]); bulk inserts skip the codes already
//! taken instead of failing, so generation retries only those. The counter is moved only by
//! redemptions taking a slot (`redeem_codes`) or giving one back ([`super::redemptions`]),
//! never by a terms update.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use super::{PageRequest, ParentFilter, RowLock, StorageError};
use crate::{
    domain::{code::PromoCode, discount::DiscountKind},
    ids::id_string,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PromoCodeRow {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    pub code: PromoCode,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub campaign_id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub influencer_id: i64,
    pub discount_kind: DiscountKind,
    pub discount_value: i64,
    pub max_redemptions: Option<i64>,
    pub max_per_customer: Option<i64>,
    pub min_subtotal_minor: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub redemptions: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The terms of a code, shared by every code of a bulk generation.
#[derive(Debug, Clone)]
pub struct CodeTerms {
    pub discount_kind: DiscountKind,
    pub discount_value: i64,
    pub max_redemptions: Option<i64>,
    pub max_per_customer: Option<i64>,
    pub min_subtotal_minor: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub enabled: bool,
}

impl From<PromoCodeRow> for CodeTerms {
    fn from(c: PromoCodeRow) -> Self {
        CodeTerms {
            discount_kind: c.discount_kind,
            discount_value: c.discount_value,
            max_redemptions: c.max_redemptions,
            max_per_customer: c.max_per_customer,
            min_subtotal_minor: c.min_subtotal_minor,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            enabled: c.enabled,
        }
    }
}

const COLUMNS: &str = "id, code, campaign_id, influencer_id, discount_kind, discount_value,
    max_redemptions, max_per_customer, min_subtotal_minor, starts_at, ends_at, enabled,
    redemptions, created_at, updated_at";

/// Inserts the codes that are free and returns them; taken ones are skipped, so bulk
/// generation can retry just those.
pub async fn insert_many(
    tx: &mut Transaction<'_, Postgres>,
    codes: &[PromoCode],
    campaign_id: i64,
    influencer_id: i64,
    t: &CodeTerms,
) -> Result<Vec<PromoCode>, StorageError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO promo_codes (code, campaign_id, influencer_id, discount_kind, discount_value,
            max_redemptions, max_per_customer, min_subtotal_minor, starts_at, ends_at, enabled)
         SELECT c, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM unnest($1::text[]) AS c
         ON CONFLICT ON CONSTRAINT promo_codes_code_key DO NOTHING
         RETURNING code",
    )
    .bind(codes)
    .bind(campaign_id)
    .bind(influencer_id)
    .bind(t.discount_kind)
    .bind(t.discount_value)
    .bind(t.max_redemptions)
    .bind(t.max_per_customer)
    .bind(t.min_subtotal_minor)
    .bind(t.starts_at)
    .bind(t.ends_at)
    .bind(t.enabled)
    .fetch_all(&mut **tx)
    .await?)
}

pub async fn insert(
    db: &PgPool,
    code: &PromoCode,
    campaign_id: i64,
    influencer_id: i64,
    t: &CodeTerms,
) -> Result<PromoCodeRow, StorageError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO promo_codes (code, campaign_id, influencer_id, discount_kind, discount_value,
            max_redemptions, max_per_customer, min_subtotal_minor, starts_at, ends_at, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(code)
    .bind(campaign_id)
    .bind(influencer_id)
    .bind(t.discount_kind)
    .bind(t.discount_value)
    .bind(t.max_redemptions)
    .bind(t.max_per_customer)
    .bind(t.min_subtotal_minor)
    .bind(t.starts_at)
    .bind(t.ends_at)
    .bind(t.enabled)
    .fetch_one(db)
    .await?)
}

pub async fn get(db: &PgPool, code: &PromoCode) -> Result<Option<PromoCodeRow>, StorageError> {
    super::row_by_key(db, "promo_codes", COLUMNS, "code", code, RowLock::No).await
}

/// The code, locked until `tx` ends.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    code: &PromoCode,
) -> Result<Option<PromoCodeRow>, StorageError> {
    super::row_by_key(
        &mut **tx,
        "promo_codes",
        COLUMNS,
        "code",
        code,
        RowLock::ForUpdate,
    )
    .await
}

pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    t: &CodeTerms,
) -> Result<PromoCodeRow, StorageError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE promo_codes SET discount_kind = $2, discount_value = $3, max_redemptions = $4,
           max_per_customer = $5, min_subtotal_minor = $6, starts_at = $7, ends_at = $8,
           enabled = $9, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(t.discount_kind)
    .bind(t.discount_value)
    .bind(t.max_redemptions)
    .bind(t.max_per_customer)
    .bind(t.min_subtotal_minor)
    .bind(t.starts_at)
    .bind(t.ends_at)
    .bind(t.enabled)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list(
    db: &PgPool,
    filter: ParentFilter,
    page: PageRequest,
) -> Result<Vec<PromoCodeRow>, StorageError> {
    super::list_children(db, "promo_codes", COLUMNS, filter, page).await
}
