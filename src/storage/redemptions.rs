//! SQL of `redemptions` and `code_customers`: taking, confirming and giving back a code's
//! usage slots.
//!
//! [`redeem`] takes the code's terms (from the in-process [`CodeTermsCache`]), applies them, and hands the decision to the database
//! function `redeem_codes` (migrations 6 and 14), batched with concurrent redemptions by the
//! [`Redeemer`]: one statement and one transaction for the whole batch. Within it the
//! code's row is locked and its limit checked against its count plus what the batch took;
//! an order that already has a redemption is a duplicate (a concurrent one waits for the
//! first to commit); the customer's counter is a conditional upsert; the conversion and
//! its outbox event are written with the redemption. Nothing is read and then written
//! outside the lock that guards it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use super::{
    conversions::{self, NewConversion},
    StorageError,
};
use crate::{
    cache::code_terms::CodeTermsCache,
    checkout::redeemer::{BatchError, Decided, Item, Redeemer},
    domain::{
        attribution::{Credit, Decision, Via},
        checkout::{self, Rejection, Terms},
        discount::DiscountKind,
    },
    ids::id_string,
    pipeline::events::{ConversionEvent, Event, SCHEMA_VERSION},
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RedemptionRow {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    pub code: String,
    #[serde(skip)]
    pub code_id: i64,
    #[serde(serialize_with = "id_string")]
    pub campaign_id: i64,
    #[serde(serialize_with = "id_string")]
    pub influencer_id: i64,
    pub order_id: String,
    pub customer_ref: Option<String>,
    pub click_id: Option<String>,
    pub subtotal_minor: i64,
    pub discount_kind: String,
    pub discount_minor: i64,
    pub currency: String,
    pub status: String,
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
    pub discount_kind: String,
    pub discount_value: i64,
    pub max_redemptions: Option<i64>,
    pub max_per_customer: Option<i64>,
    pub min_subtotal_minor: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub redemptions: i64,
    pub currency: String,
}

impl CodeForCart {
    pub fn terms(&self) -> Terms<'_> {
        Terms {
            kind: DiscountKind::parse(&self.discount_kind).unwrap_or(DiscountKind::Fixed),
            value: self.discount_value,
            enabled: self.enabled,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            min_subtotal_minor: self.min_subtotal_minor,
            currency: &self.currency,
        }
    }
}

pub async fn code_for_cart(
    db: impl sqlx::PgExecutor<'_>,
    code: &str,
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

/// A redemption as asked for, already validated.
#[derive(Debug, Clone)]
pub struct NewRedemption {
    pub code: String,
    pub order_id: String,
    pub subtotal_minor: i64,
    pub currency: String,
    pub customer_ref: Option<String>,
    pub click_id: Option<String>,
    /// `Some(expiry)` reserves a hold; `None` commits at once.
    pub hold_until: Option<DateTime<Utc>>,
    pub request_hash: String,
}

#[derive(Debug)]
pub enum Redeemed {
    Created(RedemptionRow),
    /// The same order asked again with the same request: the first result.
    Replayed(RedemptionRow),
}

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("{}", .0.message())]
    Rejected(Rejection),
    #[error("this order already has a redemption made with a different request")]
    OrderConflict,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Batch(#[from] BatchError),
}

impl From<sqlx::Error> for RedeemError {
    fn from(e: sqlx::Error) -> Self {
        RedeemError::Storage(e.into())
    }
}

pub async fn redeem(
    db: &PgPool,
    codes: &CodeTermsCache,
    redeemer: &Redeemer,
    new: &NewRedemption,
    now: DateTime<Utc>,
) -> Result<Redeemed, RedeemError> {
    let terms = match codes.get(&new.code).await? {
        None => Err(Rejection::CodeNotFound),
        Some(code) => checkout::evaluate(&code.terms(), now, new.subtotal_minor, &new.currency)
            .map(|discount| (code, discount)),
    };
    let (code, discount) = match terms {
        Ok(applies) => applies,
        // An order redeemed before the code ended (or vanished) is still replayed.
        Err(rejection) => {
            return match find_by_order(db, &new.order_id).await? {
                Some(existing) => replay(existing, new),
                None => Err(RedeemError::Rejected(rejection)),
            };
        }
    };
    let committing = new.hold_until.is_none();
    let event = committing.then(|| {
        let event = ConversionEvent {
            v: SCHEMA_VERSION,
            // Both filled in by redeem_codes() once the conversion has its id.
            id: String::new(),
            conversion_id: 0,
            campaign_id: Some(code.campaign_id),
            influencer_id: Some(code.influencer_id),
            link_id: None,
            via: Some(Via::Code.as_str().to_owned()),
            kind: "sale".to_owned(),
            amount_minor: new.subtotal_minor - discount,
            discount_minor: discount,
            currency: code.currency.clone(),
            occurred_at: now,
            code: Some(new.code.clone()),
            voids: false,
            click_id: new.click_id.clone(),
            moved_from: None,
            state: None,
        };
        serde_json::to_value(Event::Conversion(event)).unwrap_or_default()
    });
    let decided = redeemer
        .decide(Item {
            code_id: code.id,
            code: new.code.clone(),
            campaign_id: code.campaign_id,
            influencer_id: code.influencer_id,
            order_id: new.order_id.clone(),
            customer_ref: new.customer_ref.clone(),
            click_id: new.click_id.clone(),
            subtotal_minor: new.subtotal_minor,
            discount_minor: discount,
            currency: code.currency.clone(),
            hold_until: new.hold_until,
            request_hash: new.request_hash.clone(),
            max_per_customer: code.max_per_customer,
            occurred_at: now,
            event,
        })
        .await?;
    let (id, created_at) = match decided {
        Decided::Created { id, created_at } => (id, created_at),
        Decided::Duplicate { id } => {
            let existing = get(db, id).await?.ok_or(RedeemError::OrderConflict)?;
            return replay(existing, new);
        }
        Decided::CustomerLimitReached => {
            return Err(RedeemError::Rejected(Rejection::CustomerLimitReached))
        }
        Decided::UsageLimitReached => {
            return Err(RedeemError::Rejected(Rejection::UsageLimitReached))
        }
        Decided::CodeInactive => return Err(RedeemError::Rejected(Rejection::CodeInactive)),
    };
    Ok(Redeemed::Created(RedemptionRow {
        id,
        code: new.code.clone(),
        code_id: code.id,
        campaign_id: code.campaign_id,
        influencer_id: code.influencer_id,
        order_id: new.order_id.clone(),
        customer_ref: new.customer_ref.clone(),
        click_id: new.click_id.clone(),
        subtotal_minor: new.subtotal_minor,
        discount_kind: code.discount_kind.clone(),
        discount_minor: discount,
        currency: code.currency.clone(),
        status: if committing { "committed" } else { "reserved" }.to_owned(),
        hold_expires_at: new.hold_until,
        request_hash: new.request_hash.clone(),
        committed_at: committing.then_some(now),
        created_at,
        updated_at: created_at,
    }))
}

/// The conversion a committed redemption creates for its order: a sale of the subtotal less
/// the discount, credited via the code.
fn conversion_of(row: &RedemptionRow, now: DateTime<Utc>) -> NewConversion {
    NewConversion {
        order_id: row.order_id.clone(),
        kind: "sale".to_owned(),
        amount_minor: row.subtotal_minor - row.discount_minor,
        currency: row.currency.clone(),
        discount_minor: row.discount_minor,
        code: Some(row.code.clone()),
        click_id: row.click_id.clone(),
        customer_ref: row.customer_ref.clone(),
        occurred_at: now,
        decision: Decision {
            credit: Some(Credit {
                campaign_id: row.campaign_id,
                influencer_id: row.influencer_id,
                via: Via::Code,
                link_id: None,
            }),
            status: "attributed",
            rule: "redemption",
        },
        redemption_id: Some(row.id),
    }
}

fn replay(existing: RedemptionRow, new: &NewRedemption) -> Result<Redeemed, RedeemError> {
    if existing.request_hash == new.request_hash {
        Ok(Redeemed::Replayed(existing))
    } else {
        Err(RedeemError::OrderConflict)
    }
}

/// Redemptions with their code, by a condition on `r` with one parameter.
fn select_where(condition: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM redemptions r JOIN promo_codes c ON c.id = r.code_id
         WHERE {condition}"
    )
}

async fn fetch(tx: &mut Transaction<'_, Postgres>, id: i64) -> Result<RedemptionRow, StorageError> {
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

/// What moving a redemption to another status did.
#[derive(Debug)]
pub enum Transition {
    /// It moved.
    Done(RedemptionRow),
    /// It was already in the wanted status: nothing changed.
    Already(RedemptionRow),
    /// Its status does not allow the move.
    Refused(RedemptionRow),
    NotFound,
}

/// `reserved` → `committed`, while the hold lasts. A hold past its expiry is expired here
/// (its slot given back) and refused.
pub async fn commit(db: &PgPool, id: i64) -> Result<Transition, StorageError> {
    let mut tx = db.begin().await?;
    let moved: Option<i64> = sqlx::query_scalar(
        "UPDATE redemptions SET status = 'committed', committed_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'reserved' AND hold_expires_at > now()
         RETURNING id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if moved.is_some() {
        let row = fetch(&mut tx, id).await?;
        conversions::insert(&mut tx, &conversion_of(&row, Utc::now())).await?;
        tx.commit().await?;
        return Ok(Transition::Done(row));
    }
    tx.rollback().await?;
    expire_holds_of(db, Some(id)).await?;
    Ok(match get(db, id).await? {
        None => Transition::NotFound,
        Some(row) if row.status == "committed" => Transition::Already(row),
        Some(row) => Transition::Refused(row),
    })
}

/// Gives the slot back: `from` statuses → `to`. Idempotent: a redemption already in `to`
/// is reported as such.
async fn give_back(
    db: &PgPool,
    id: i64,
    from: &[&str],
    to: &str,
) -> Result<Transition, StorageError> {
    let mut tx = db.begin().await?;
    let moved: Option<(i64, Option<String>)> = sqlx::query_as(
        "UPDATE redemptions SET status = $3, updated_at = now(),
                hold_expires_at = CASE WHEN $3 = 'reserved' THEN hold_expires_at END
         WHERE id = $1 AND status = ANY($2)
         RETURNING code_id, customer_ref",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(moved) = moved {
        free_slots(&mut tx, &[moved]).await?;
        conversions::cancel_for_redemption(&mut tx, id).await?;
        let row = fetch(&mut tx, id).await?;
        tx.commit().await?;
        return Ok(Transition::Done(row));
    }
    tx.rollback().await?;
    Ok(match get(db, id).await? {
        None => Transition::NotFound,
        Some(row) if row.status == to => Transition::Already(row),
        Some(row) => Transition::Refused(row),
    })
}

/// `reserved` → `released`.
pub async fn release(db: &PgPool, id: i64) -> Result<Transition, StorageError> {
    give_back(db, id, &["reserved"], "released").await
}

/// `reserved` or `committed` → `cancelled`.
pub async fn cancel(db: &PgPool, id: i64) -> Result<Transition, StorageError> {
    give_back(db, id, &["reserved", "committed"], "cancelled").await
}

/// Gives back one slot per redemption. Code counters first, then customer counters, each
/// in key order: the order a batch of redemptions takes them in (see `redeem_codes` in
/// migration 6), so the two never wait on each other in a cycle.
async fn free_slots(
    tx: &mut Transaction<'_, Postgres>,
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
