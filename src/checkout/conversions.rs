//! Conversions reported after the fact, their refunds and cancellations: each change and
//! its event (built by [`crate::pipeline::events`]) are written in one transaction, so an
//! event exists exactly when its change does.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    domain::{
        attribution::{self, ClickOwner, CodeOwner, Decision, Priority, Via},
        click_id::ClickId,
        code::PromoCode,
        money::Currency,
    },
    pipeline::events,
    storage::{
        self, campaigns,
        conversions::{self, Cancelling, ConversionRow, NewConversion, RefundOutcome},
        links, outbox, redemptions, StorageError,
    },
};

/// A conversion a shop reports, parsed and verified.
#[derive(Debug)]
pub struct Reported {
    pub order_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub code: Option<PromoCode>,
    /// Verified: it carries our signature.
    pub click: Option<ClickId>,
    pub customer_ref: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum Recorded {
    Created(ConversionRow),
    /// The order was recorded before with the same amount and currency.
    Replayed(ConversionRow),
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("this order was recorded with another amount or currency")]
    AmountConflict,
    #[error("the conversion's currency is not the credited campaign's currency")]
    CurrencyMismatch,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Decides who gets the credit for a reported conversion (see [`attribution::decide`]),
/// then records it.
pub async fn report(db: &PgPool, reported: Reported) -> Result<Recorded, RecordError> {
    let decision = credit_for(db, &reported).await?;
    let new = NewConversion {
        order_id: reported.order_id,
        kind: reported.kind,
        amount_minor: reported.amount_minor,
        currency: reported.currency,
        discount_minor: 0,
        code: reported.code,
        click_id: reported.click,
        customer_ref: reported.customer_ref,
        occurred_at: reported.occurred_at,
        decision,
        redemption_id: None,
    };
    record(db, &new).await
}

/// The code's and the click's owners, each with its campaign's currency and read once with
/// the campaign's rules, and the decision between them. A credit in another currency than
/// the conversion's is refused.
async fn credit_for(db: &PgPool, reported: &Reported) -> Result<Decision, RecordError> {
    let mut code_owner: Option<(CodeOwner, Currency)> = None;
    if let Some(code) = &reported.code {
        if let Some(found) = redemptions::code_for_cart(db, code).await? {
            let campaign = campaigns::get(db, found.campaign_id).await?;
            let owner = CodeOwner {
                campaign_id: found.campaign_id,
                influencer_id: found.influencer_id,
                // A code's campaign exists (a foreign key, and campaigns are never
                // deleted); only the priority it stores is read here.
                priority: campaign.map_or(Priority::Code, |c| c.attribution_priority),
            };
            code_owner = Some((owner, found.currency));
        }
    }
    let mut click_owner: Option<(ClickOwner, Currency)> = None;
    if let Some(click) = &reported.click {
        if let Some(link) = links::get(db, click.link_id).await? {
            if let Some(campaign) = campaigns::get(db, link.campaign_id).await? {
                let owner = ClickOwner {
                    link_id: link.id,
                    campaign_id: link.campaign_id,
                    influencer_id: link.influencer_id,
                    clicked_at: click.clicked_at,
                    window_days: campaign.attribution_window_days,
                };
                click_owner = Some((owner, campaign.currency));
            }
        }
    }
    let decision = attribution::decide(
        code_owner.as_ref().map(|(owner, _)| *owner),
        click_owner.as_ref().map(|(owner, _)| *owner),
        reported.occurred_at,
    );
    let credited_currency = match decision.credit.map(|c| c.via) {
        Some(Via::Code) => code_owner.as_ref().map(|&(_, currency)| currency),
        Some(Via::Click) => click_owner.as_ref().map(|&(_, currency)| currency),
        None => None,
    };
    if credited_currency.is_some_and(|c| c != reported.currency) {
        return Err(RecordError::CurrencyMismatch);
    }
    Ok(decision)
}

/// Records a conversion, idempotently on its order.
pub async fn record(db: &PgPool, new: &NewConversion) -> Result<Recorded, RecordError> {
    let mut tx = storage::begin(db).await?;
    if let Some(row) = insert(&mut tx, new).await? {
        storage::commit(tx).await?;
        return Ok(Recorded::Created(row));
    }
    drop(tx);
    let existing = conversions::by_order(db, &new.order_id)
        .await?
        .ok_or(RecordError::AmountConflict)?;
    if existing.amount_minor == new.amount_minor && existing.currency == new.currency {
        Ok(Recorded::Replayed(existing))
    } else {
        Err(RecordError::AmountConflict)
    }
}

/// Within `tx`: the conversion and its event, unless its order has one already (`None`).
pub async fn insert(
    tx: &mut storage::Tx<'_>,
    new: &NewConversion,
) -> Result<Option<ConversionRow>, StorageError> {
    let Some(row) = conversions::insert(tx, new).await? else {
        return Ok(None);
    };
    let event = events::conversion_recorded(row.id, new);
    outbox::enqueue(tx, row.id, &event.to_json()).await?;
    Ok(Some(row))
}

/// Refunds `amount` (default: all that is left) of the order's conversion.
pub async fn refund(
    db: &PgPool,
    order_id: &str,
    amount: Option<i64>,
) -> Result<RefundOutcome, StorageError> {
    let mut tx = storage::begin(db).await?;
    let outcome = conversions::refund(&mut tx, order_id, amount).await?;
    if let RefundOutcome::Refunded {
        row,
        refund_id,
        amount_minor,
    } = &outcome
    {
        let event = events::refund_recorded(row, *refund_id, *amount_minor);
        outbox::enqueue(&mut tx, row.id, &event.to_json()).await?;
        storage::commit(tx).await?;
    }
    Ok(outcome)
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Box<ConversionRow>),
    AlreadyCancelled(Box<ConversionRow>),
    NotFound,
}

/// Cancels the order's conversion; cancelling it again changes nothing.
pub async fn cancel(db: &PgPool, order_id: &str) -> Result<CancelOutcome, StorageError> {
    let mut tx = storage::begin(db).await?;
    if let Some(row) = cancel_within(&mut tx, Cancelling::Order(order_id)).await? {
        storage::commit(tx).await?;
        return Ok(CancelOutcome::Cancelled(Box::new(row)));
    }
    drop(tx);
    Ok(match conversions::by_order(db, order_id).await? {
        Some(row) => CancelOutcome::AlreadyCancelled(Box::new(row)),
        None => CancelOutcome::NotFound,
    })
}

/// Within `tx`: the cancellation and its event; `None` when there was nothing to cancel.
pub async fn cancel_within(
    tx: &mut storage::Tx<'_>,
    of: Cancelling<'_>,
) -> Result<Option<ConversionRow>, StorageError> {
    let Some(row) = conversions::cancel(tx, of).await? else {
        return Ok(None);
    };
    let event = events::cancellation_recorded(&row);
    outbox::enqueue(tx, row.id, &event.to_json()).await?;
    Ok(Some(row))
}
