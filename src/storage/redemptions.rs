//! SQL of `redemptions` and `code_customers`: reading redemptions, confirming and giving
//! back a code's usage slots, expiring holds.
//!
//! Taking a slot is the database function `redeem_codes` (migrations 6, 14 and 16), called
//! by [`take_slots`] for a whole batch the checkout's redeemer gathered: see
//! `checkout::redemptions` for the flow. Every function here changes a slot and its counters under the lock of the
//! row it changes; nothing is read and then written outside that lock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{conversions::NewConversion, StorageError, Tx};
use crate::{
    domain::{
        checkout::{RedemptionStatus, Terms},
        click_id::ClickId,
        code::PromoCode,
        discount::DiscountKind,
        money::Currency,
    },
    ids::id_string,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RedemptionRow {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    pub code: PromoCode,
    #[serde(skip)]
    pub code_id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub campaign_id: i64,
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub influencer_id: i64,
    pub order_id: String,
    pub customer_ref: Option<String>,
    pub click_id: Option<ClickId>,
    pub subtotal_minor: i64,
    pub discount_kind: DiscountKind,
    pub discount_minor: i64,
    pub currency: Currency,
    pub status: RedemptionStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub request_hash: String,
    pub committed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "r.id, c.code, r.code_id, r.campaign_id, r.influencer_id, r.order_id,
    r.customer_ref, r.click_id, r.subtotal_minor, c.discount_kind, r.discount_minor,
    r.currency::text AS currency, r.status, r.hold_expires_at, r.request_hash, r.committed_at,
    r.created_at, r.updated_at";

/// A code with what deciding on it needs: its terms and its campaign's currency.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeForCart {
    pub id: i64,
    pub campaign_id: i64,
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
    pub currency: Currency,
}

impl CodeForCart {
    pub fn terms(&self) -> Terms {
        Terms {
            kind: self.discount_kind,
            value: self.discount_value,
            enabled: self.enabled,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            min_subtotal_minor: self.min_subtotal_minor,
            currency: self.currency,
        }
    }
}

pub async fn code_for_cart(
    db: impl sqlx::PgExecutor<'_>,
    code: &PromoCode,
) -> Result<Option<CodeForCart>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT p.id, p.campaign_id, p.influencer_id, p.discount_kind, p.discount_value,
                p.max_redemptions, p.max_per_customer, p.min_subtotal_minor, p.starts_at,
                p.ends_at, p.enabled, p.redemptions, c.currency::text AS currency
         FROM promo_codes p JOIN campaigns c ON c.id = p.campaign_id
         WHERE p.code = $1",
    )
    .bind(code)
    .fetch_optional(db)
    .await?)
}

/// Active redemptions of `code_id` by `customer_ref`.
pub async fn customer_uses(
    db: &PgPool,
    code_id: i64,
    customer_ref: &str,
) -> Result<i64, StorageError> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce((SELECT active FROM code_customers
                          WHERE code_id = $1 AND customer_ref = $2), 0)",
    )
    .bind(code_id)
    .bind(customer_ref)
    .fetch_one(db)
    .await?)
}

/// Redemptions with their code, by a condition on `r` with one parameter.
fn select_where(condition: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM redemptions r JOIN promo_codes c ON c.id = r.code_id
         WHERE {condition}"
    )
}

async fn fetch(tx: &mut Tx<'_>, id: i64) -> Result<RedemptionRow, StorageError> {
    Ok(sqlx::query_as(&select_where("r.id = $1"))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?)
}

pub async fn get(db: &PgPool, id: i64) -> Result<Option<RedemptionRow>, StorageError> {
    Ok(sqlx::query_as(&select_where("r.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

pub async fn find_by_order(
    db: &PgPool,
    order_id: &str,
) -> Result<Option<RedemptionRow>, StorageError> {
    Ok(sqlx::query_as(&select_where("r.order_id = $1"))
        .bind(order_id)
        .fetch_optional(db)
        .await?)
}

/// Within `tx`: `reserved` → `committed` while the hold lasts; the row as it is after, or
/// `None` when it is not a live hold (nothing changed).
pub async fn commit_reserved(
    tx: &mut Tx<'_>,
    id: i64,
) -> Result<Option<RedemptionRow>, StorageError> {
    let moved: Option<i64> = sqlx::query_scalar(
        "UPDATE redemptions SET status = 'committed', committed_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'reserved' AND hold_expires_at > now()
         RETURNING id",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    match moved {
        Some(id) => Ok(Some(fetch(tx, id).await?)),
        None => Ok(None),
    }
}

/// Within `tx`: gives the slot back, `from` statuses → `to`; the row as it is after, or
/// `None` when its status is none of `from` (nothing changed).
pub async fn give_back(
    tx: &mut Tx<'_>,
    id: i64,
    from: &[RedemptionStatus],
    to: RedemptionStatus,
) -> Result<Option<RedemptionRow>, StorageError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let moved: Option<(i64, Option<String>)> = sqlx::query_as(
        "UPDATE redemptions SET status = $3, updated_at = now(),
                hold_expires_at = CASE WHEN $3 = 'reserved' THEN hold_expires_at END
         WHERE id = $1 AND status = ANY($2)
         RETURNING code_id, customer_ref",
    )
    .bind(id)
    .bind(&from)
    .bind(to.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(moved) = moved else {
        return Ok(None);
    };
    free_slots(tx, &[moved]).await?;
    Ok(Some(fetch(tx, id).await?))
}

/// Gives back one slot per redemption. Code counters first, then customer counters, each
/// in key order: the order a batch of redemptions takes them in (see `redeem_codes` in
/// migration 6), so the two never wait on each other in a cycle.
async fn free_slots(
    tx: &mut Tx<'_>,
    redemptions: &[(i64, Option<String>)],
) -> Result<(), StorageError> {
    let mut customers: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    let mut codes: BTreeMap<i64, i64> = BTreeMap::new();
    for (code_id, customer) in redemptions {
        if let Some(customer) = customer {
            *customers.entry((*code_id, customer.as_str())).or_default() += 1;
        }
        *codes.entry(*code_id).or_default() += 1;
    }
    for (code_id, count) in codes {
        sqlx::query("UPDATE promo_codes SET redemptions = redemptions - $2 WHERE id = $1")
            .bind(code_id)
            .bind(count)
            .execute(&mut **tx)
            .await?;
    }
    for ((code_id, customer), count) in customers {
        sqlx::query(
            "UPDATE code_customers SET active = active - $3 WHERE code_id = $1 AND customer_ref = $2",
        )
        .bind(code_id)
        .bind(customer)
        .bind(count)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Expires holds past their time (all, or only `only`), giving their slots back; returns
/// how many. Holds another transaction is deciding on are skipped, not waited for.
pub async fn expire_holds_of(db: &PgPool, only: Option<i64>) -> Result<u64, StorageError> {
    let mut tx = db.begin().await?;
    let expired: Vec<(i64, Option<String>)> = sqlx::query_as(
        "UPDATE redemptions SET status = 'expired', hold_expires_at = NULL, updated_at = now()
         WHERE id IN (SELECT id FROM redemptions
                      WHERE status = 'reserved' AND hold_expires_at <= now()
                        AND ($1::bigint IS NULL OR id = $1)
                      ORDER BY hold_expires_at LIMIT 1000
                      FOR UPDATE SKIP LOCKED)
         RETURNING code_id, customer_ref",
    )
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    free_slots(&mut tx, &expired).await?;
    tx.commit().await?;
    Ok(expired.len() as u64)
}

/// Expires every hold past its time.
pub async fn expire_holds(db: &PgPool) -> Result<u64, StorageError> {
    let mut total = 0;
    loop {
        let expired = expire_holds_of(db, None).await?;
        total += expired;
        if expired < 1000 {
            return Ok(total);
        }
    }
}

/// One redemption of a batch, as `redeem_codes()` reads it (field names are its item keys).
#[derive(Debug, Clone, Serialize)]
pub struct BatchItem {
    pub code_id: i64,
    pub code: PromoCode,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub order_id: String,
    pub customer_ref: Option<String>,
    pub click_id: Option<ClickId>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub currency: Currency,
    pub hold_until: Option<DateTime<Utc>>,
    pub request_hash: String,
    pub max_per_customer: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    /// The conversion a redemption that commits at once creates.
    #[serde(skip)]
    pub conversion: Option<NewConversion>,
    /// Given by the batch: the id that conversion is inserted with, and its finished event.
    pub conversion_id: Option<i64>,
    pub event: Option<String>,
}

impl BatchItem {
    /// The item for a redemption as it will be stored (its id not known yet).
    pub fn of(
        row: &RedemptionRow,
        max_per_customer: Option<i64>,
        conversion: Option<NewConversion>,
    ) -> Self {
        BatchItem {
            code_id: row.code_id,
            code: row.code.clone(),
            campaign_id: row.campaign_id,
            influencer_id: row.influencer_id,
            order_id: row.order_id.clone(),
            customer_ref: row.customer_ref.clone(),
            click_id: row.click_id.clone(),
            subtotal_minor: row.subtotal_minor,
            discount_minor: row.discount_minor,
            currency: row.currency,
            hold_until: row.hold_expires_at,
            request_hash: row.request_hash.clone(),
            max_per_customer,
            occurred_at: row.created_at,
            conversion,
            conversion_id: None,
            event: None,
        }
    }
}

/// What `redeem_codes()` decided for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Created {
        id: i64,
        created_at: DateTime<Utc>,
    },
    /// The order already has a redemption (`id`).
    Duplicate {
        id: i64,
    },
    CustomerLimitReached,
    UsageLimitReached,
    /// Disabled since the caller read its terms (from a cache, or before a change made in
    /// the database directly).
    CodeInactive,
}

/// One row of `redeem_codes()`.
#[derive(sqlx::FromRow)]
struct Outcome {
    idx: i32,
    outcome: String,
    redemption_id: Option<i64>,
    created_at: Option<DateTime<Utc>>,
}

/// Takes the slots of a batch of redemptions in one statement and one transaction: each
/// item is decided under its code row's lock, in the batch's order, and a redemption that
/// commits at once is inserted with its conversion and that conversion's finished event.
/// An answer that does not match the batch item for item is an error, never a guess.
pub async fn take_slots(db: &PgPool, items: &[&BatchItem]) -> Result<Vec<Decided>, StorageError> {
    let rows: Vec<Outcome> = sqlx::query_as(
        "SELECT idx, outcome, redemption_id, created_at FROM redeem_codes($1) ORDER BY idx",
    )
    .bind(sqlx::types::Json(&items))
    .fetch_all(db)
    .await?;
    let mut decisions = Vec::with_capacity(items.len());
    for (expected, row) in rows.into_iter().enumerate() {
        let Outcome {
            idx,
            outcome,
            redemption_id: id,
            created_at,
        } = row;
        let decided = match (outcome.as_str(), id, created_at) {
            _ if idx as usize != expected => None,
            ("created", Some(id), Some(created_at)) => Some(Decided::Created { id, created_at }),
            ("duplicate", Some(id), _) => Some(Decided::Duplicate { id }),
            ("customer_limit_reached", _, _) => Some(Decided::CustomerLimitReached),
            ("usage_limit_reached", _, _) => Some(Decided::UsageLimitReached),
            ("code_inactive", _, _) => Some(Decided::CodeInactive),
            _ => None,
        };
        let Some(decided) = decided else {
            return Err(StorageError::Refused {
                code: "unexpected_outcome",
                message: format!("redeem_codes answered {outcome:?} for item {idx}"),
            });
        };
        decisions.push(decided);
    }
    if decisions.len() != items.len() {
        return Err(StorageError::Refused {
            code: "unexpected_outcome",
            message: format!(
                "redeem_codes decided {} of {} items",
                decisions.len(),
                items.len()
            ),
        });
    }
    Ok(decisions)
}
