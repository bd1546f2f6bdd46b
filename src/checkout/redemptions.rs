//! Redeeming a promo code for an order, and moving the redemption on (commit, release,
//! cancel): the checkout flow a shop's server drives.
//!
//! [`redeem`] reads the code's terms from the in-process cache
//! ([`crate::cache::code_terms`]), lets [`crate::domain::checkout`] decide the discount,
//! and hands the redemption to the [`Redeemer`], which takes the slot in the database
//! (batched with concurrent redemptions, under the code row's lock) and, when it commits at
//! once, inserts its conversion with the event [`crate::pipeline::events`] built for it. A
//! hold committed later creates its conversion here, in the commit's transaction. Cancelling
//! a committed redemption cancels its conversion in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    conversions as converting,
    redeemer::{BatchError, BatchItem, Decided, Redeemer},
};
use crate::{
    cache::code_terms::CodeTermsCache,
    domain::{
        attribution::{AttributionRule, ConversionStatus, Credit, Decision, Via},
        checkout::{self, RedemptionStatus, Rejection},
        click_id::ClickId,
        code::PromoCode,
        money::Currency,
    },
    storage::{
        self,
        conversions::{Cancelling, NewConversion},
        redemptions::{self, RedemptionRow},
        StorageError,
    },
};

/// A redemption as asked for, already validated.
#[derive(Debug, Clone)]
pub struct NewRedemption {
    pub code: PromoCode,
    pub order_id: String,
    pub subtotal_minor: i64,
    pub currency: Currency,
    pub customer_ref: Option<String>,
    pub click_id: Option<ClickId>,
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

pub async fn redeem(
    db: &PgPool,
    codes: &CodeTermsCache,
    redeemer: &Redeemer,
    new: &NewRedemption,
    now: DateTime<Utc>,
) -> Result<Redeemed, RedeemError> {
    let terms = match codes.get(&new.code).await? {
        None => Err(Rejection::CodeNotFound),
        Some(code) => checkout::evaluate(&code.terms(), now, new.subtotal_minor, new.currency)
            .map(|discount| (code, discount)),
    };
    let (code, discount) = match terms {
        Ok(applies) => applies,
        // An order redeemed before the code ended (or vanished) is still replayed.
        Err(rejection) => {
            return match redemptions::find_by_order(db, &new.order_id).await? {
                Some(existing) => replay(existing, new),
                None => Err(RedeemError::Rejected(rejection)),
            };
        }
    };
    let committing = new.hold_until.is_none();
    let mut row = RedemptionRow {
        id: 0,
        code: new.code.clone(),
        code_id: code.id,
        campaign_id: code.campaign_id,
        influencer_id: code.influencer_id,
        order_id: new.order_id.clone(),
        customer_ref: new.customer_ref.clone(),
        click_id: new.click_id.clone(),
        subtotal_minor: new.subtotal_minor,
        discount_kind: code.discount_kind,
        discount_minor: discount,
        currency: code.currency,
        status: if committing {
            RedemptionStatus::Committed
        } else {
            RedemptionStatus::Reserved
        },
        hold_expires_at: new.hold_until,
        request_hash: new.request_hash.clone(),
        committed_at: committing.then_some(now),
        created_at: now,
        updated_at: now,
    };
    let item = BatchItem::of(
        &row,
        code.max_per_customer,
        // Only its event is built from this: `redeem_codes` inserts the conversion itself,
        // with the redemption's id once it has one.
        committing.then(|| conversion_of(&row, now)),
    );
    let decided = redeemer.decide(item).await?;
    match decided {
        Decided::Created { id, created_at } => {
            row.id = id;
            row.created_at = created_at;
            row.updated_at = created_at;
            Ok(Redeemed::Created(row))
        }
        Decided::Duplicate { id } => {
            let existing = redemptions::get(db, id)
                .await?
                .ok_or(RedeemError::OrderConflict)?;
            replay(existing, new)
        }
        Decided::CustomerLimitReached => {
            Err(RedeemError::Rejected(Rejection::CustomerLimitReached))
        }
        Decided::UsageLimitReached => Err(RedeemError::Rejected(Rejection::UsageLimitReached)),
        Decided::CodeInactive => Err(RedeemError::Rejected(Rejection::CodeInactive)),
    }
}

/// The conversion a committed redemption creates for its order: a sale of the subtotal less
/// the discount, credited via the code.
fn conversion_of(row: &RedemptionRow, now: DateTime<Utc>) -> NewConversion {
    NewConversion {
        order_id: row.order_id.clone(),
        kind: "sale".to_owned(),
        amount_minor: row.subtotal_minor - row.discount_minor,
        currency: row.currency,
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
            status: ConversionStatus::Attributed,
            rule: AttributionRule::Redemption,
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

/// `reserved` → `committed`, while the hold lasts, with the order's conversion. A hold past
/// its expiry is expired here (its slot given back) and refused.
pub async fn commit(db: &PgPool, id: i64) -> Result<Transition, StorageError> {
    let mut tx = storage::begin(db).await?;
    if let Some(row) = redemptions::commit_reserved(&mut tx, id).await? {
        converting::insert(&mut tx, &conversion_of(&row, Utc::now())).await?;
        storage::commit(tx).await?;
        return Ok(Transition::Done(row));
    }
    drop(tx);
    redemptions::expire_holds_of(db, Some(id)).await?;
    settled(db, id, RedemptionStatus::Committed).await
}

/// Gives the slot back: `from` statuses → `to`, cancelling the conversion a committed
/// redemption created. Idempotent: a redemption already in `to` is reported as such.
async fn give_back(
    db: &PgPool,
    id: i64,
    from: &[RedemptionStatus],
    to: RedemptionStatus,
) -> Result<Transition, StorageError> {
    let mut tx = storage::begin(db).await?;
    if let Some(row) = redemptions::give_back(&mut tx, id, from, to).await? {
        converting::cancel_within(&mut tx, Cancelling::Redemption(id)).await?;
        storage::commit(tx).await?;
        return Ok(Transition::Done(row));
    }
    drop(tx);
    settled(db, id, to).await
}

/// The answer for a redemption that did not move: already `wanted`, or refused.
async fn settled(
    db: &PgPool,
    id: i64,
    wanted: RedemptionStatus,
) -> Result<Transition, StorageError> {
    Ok(match redemptions::get(db, id).await? {
        None => Transition::NotFound,
        Some(row) if row.status == wanted => Transition::Already(row),
        Some(row) => Transition::Refused(row),
    })
}

/// `reserved` → `released`.
pub async fn release(db: &PgPool, id: i64) -> Result<Transition, StorageError> {
    give_back(
        db,
        id,
        &[RedemptionStatus::Reserved],
        RedemptionStatus::Released,
    )
    .await
}

/// `reserved` or `committed` → `cancelled`.
pub async fn cancel(db: &PgPool, id: i64) -> Result<Transition, StorageError> {
    give_back(
        db,
        id,
        &[RedemptionStatus::Reserved, RedemptionStatus::Committed],
        RedemptionStatus::Cancelled,
    )
    .await
}
