//! Conversions reported after the fact, their refunds and cancellations: each change and
//! its event (built by [`crate::pipeline::events`]) are written in one transaction, so an
//! event exists exactly when its change does.

use sqlx::PgPool;

use crate::{
    pipeline::events,
    storage::{
        self,
        conversions::{self, Cancelling, ConversionRow, NewConversion, RefundOutcome},
        outbox, StorageError,
    },
};

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
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Records a reported conversion, idempotently on its order.
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
