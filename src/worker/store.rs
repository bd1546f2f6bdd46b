//! The worker's writes to Postgres: a prepared batch, written so that no event can stall a
//! shard, and the upkeep around it (the outbox rows of dead-lettered events, old
//! visitor-days).
//!
//! A batch is one transaction. When Postgres refuses it for the values it holds (see
//! [`StorageError::refusal`]: an amount out of range, a NUL in a text, an index row too
//! large), the batch is split in halves and each half is written again, and so on down to
//! single events: every part Postgres takes is committed, and each event it refuses on its
//! own is returned with the database's reason, for the dead-letter stream. Finding one bad
//! event among `n` costs about `2·log2(n)` extra transactions. Committing parts separately
//! is safe because every write is idempotent on the event id.
//!
//! Any other failure (a lost connection, a standby that became read-only) returns the
//! error: the round fails and the whole batch is tried again later, as it is.

use std::ops::Range;

use super::{
    batch::Prepared,
    faults::{self, FailPoint},
    Worker,
};
use crate::storage::{clicks, conversions, outbox, StorageError};

/// How many days of visitor-days are kept for late clicks.
const VISITOR_DAYS_KEPT: i32 = 7;

enum WriteError {
    /// Postgres refused the values, with its reason.
    Refused(String),
    Other(anyhow::Error),
}

impl From<StorageError> for WriteError {
    fn from(e: StorageError) -> Self {
        match e.refusal() {
            Some(reason) => WriteError::Refused(reason),
            None => WriteError::Other(e.into()),
        }
    }
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        StorageError::from(e).into()
    }
}

impl Worker {
    /// Writes the batch's rows and conversions; returns the index (rows first, then
    /// conversions) of each Postgres refused on its own, with the reason.
    pub(super) async fn store(&self, prepared: &Prepared) -> anyhow::Result<Vec<(usize, String)>> {
        let clicks = prepared.rows.len();
        let total = clicks + prepared.conversions.len();
        let mut refused = Vec::new();
        let mut todo: Vec<Range<usize>> = Vec::new();
        todo.push(0..total);
        while let Some(part) = todo.pop() {
            let rows = &prepared.rows[part.start.min(clicks)..part.end.min(clicks)];
            let conversions = &prepared.conversions
                [part.start.saturating_sub(clicks)..part.end.saturating_sub(clicks)];
            match self.write(rows, conversions).await {
                Ok(()) => {}
                Err(WriteError::Refused(reason)) if part.len() == 1 => {
                    refused.push((part.start, reason));
                }
                Err(WriteError::Refused(reason)) => {
                    tracing::debug!(%reason, events = part.len(), "batch refused; splitting it");
                    let middle = part.start + part.len() / 2;
                    // Popped first half first, so parts are written in their order.
                    todo.push(middle..part.end);
                    todo.push(part.start..middle);
                }
                Err(WriteError::Other(e)) => return Err(e),
            }
        }
        Ok(refused)
    }

    /// One transaction.
    async fn write(
        &self,
        rows: &[clicks::ClickRow],
        events: &[conversions::Ingested],
    ) -> Result<(), WriteError> {
        if rows.is_empty() && events.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await.map_err(other)?;
        if !rows.is_empty() {
            clicks::insert_batch(&mut tx, rows).await?;
        }
        if !events.is_empty() {
            conversions::ingest_batch(&mut tx, events).await?;
        }
        faults::check(self.config.fail_point, FailPoint::BeforeCommit)
            .map_err(|e| WriteError::Other(e.into()))?;
        tx.commit().await?;
        faults::check(self.config.fail_point, FailPoint::AfterCommit)
            .map_err(|e| WriteError::Other(e.into()))?;
        Ok(())
    }

    /// Deletes the outbox rows of dead-lettered conversion-type events (`event_ids`):
    /// they will not be stored, and must not be sent again.
    pub(super) async fn forget_outboxed(&self, event_ids: &[&str]) -> anyhow::Result<()> {
        if !event_ids.is_empty() {
            outbox::forget(&self.db, event_ids).await?;
        }
        Ok(())
    }

    /// Forgets visitor-days too old for any late click to need.
    pub(super) async fn prune_visitor_days(&self) -> anyhow::Result<()> {
        clicks::prune_visitor_days(&self.db, VISITOR_DAYS_KEPT).await?;
        Ok(())
    }

    /// With a click retention, drops the raw click partitions wholly older than it; returns
    /// their names. Every worker of a deployment should have the same retention.
    pub async fn apply_click_retention(&self) -> anyhow::Result<Vec<String>> {
        let Some(cutoff) = self.retention_cutoff() else {
            return Ok(Vec::new());
        };
        let dropped = clicks::drop_partitions_before(&self.db, cutoff).await?;
        if !dropped.is_empty() {
            self.lookups.forget_partitions();
            tracing::info!(partitions = ?dropped, %cutoff, "raw click partitions past the retention dropped");
        }
        Ok(dropped)
    }

    /// Clicks made before this are no longer kept raw.
    pub(super) fn retention_cutoff(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.config
            .click_retention
            .map(|kept| chrono::Utc::now() - kept)
    }
}

/// Failing to start a transaction is never about the values.
fn other(e: sqlx::Error) -> WriteError {
    WriteError::Other(e.into())
}
