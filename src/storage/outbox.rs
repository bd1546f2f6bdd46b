//! SQL of `outbox`: the events a transaction produces, kept in Postgres until the worker
//! has stored them.
//!
//! This module owns the table. An event is enqueued in the transaction of the change it
//! describes, as the finished JSON the streams carry (built by `pipeline::events` alone),
//! so it exists exactly when its change does; the relay marks it with the stream entry it
//! went to, and a row goes away only when the worker stores or dead-letters its event. Two
//! statements outside this module touch the table, each for a batch that must stay one
//! statement: `redeem_codes` (migration 16, called by [`super::redemptions`]) inserts the
//! finished event it is handed with each conversion it creates, and the worker's ingest in
//! [`super::conversions`] deletes what it stores. `event_id` is generated from the
//! payload's `id`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::StorageError;

/// One outbox row as the relay reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct Pending {
    pub id: i64,
    pub shard_key: i64,
    pub payload: String,
}

/// Puts an event in the outbox, to reach the streams once `tx` commits. `shard_key` picks
/// its stream (a conversion's events all go to one, in order).
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    shard_key: i64,
    payload: &str,
) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO outbox (shard_key, payload) VALUES ($1, $2)")
        .bind(shard_key)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Up to `limit` rows not relayed yet, oldest first, locked for `tx`; rows another relay
/// holds are skipped.
pub async fn claim_unrelayed(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<Pending>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT id, shard_key, payload FROM outbox WHERE relayed_at IS NULL
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

/// Marks each row `ids[i]` as written to `streams[i]` as entry `entries[i]`.
pub async fn mark_relayed(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
    streams: &[String],
    entries: &[Option<String>],
) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE outbox o SET relayed_at = now(), relayed_stream = r.stream,
                             relayed_entry = r.entry
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, stream, entry)
         WHERE o.id = r.id",
    )
    .bind(ids)
    .bind(streams)
    .bind(entries)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The (stream, entry) pairs of up to `limit` rows relayed at least `after` ago, oldest
/// first (found first on the primary key); may repeat a pair.
pub async fn relayed_before(
    db: &PgPool,
    after: Duration,
    limit: i64,
) -> Result<Vec<(String, String)>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT relayed_stream, relayed_entry FROM outbox
         WHERE relayed_at < now() - make_interval(secs => $1)
           AND relayed_stream IS NOT NULL AND relayed_entry IS NOT NULL
         ORDER BY id LIMIT $2",
    )
    .bind(after.as_secs_f64())
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Makes the rows relayed to these (stream, entry) pairs unrelayed again, so they are sent
/// again; returns how many.
pub async fn unmark_relayed(
    db: &PgPool,
    streams: &[&str],
    entries: &[&str],
) -> Result<u64, StorageError> {
    Ok(sqlx::query(
        "UPDATE outbox o SET relayed_at = NULL, relayed_stream = NULL, relayed_entry = NULL
         FROM unnest($1::text[], $2::text[]) AS lost(stream, entry)
         WHERE o.relayed_stream = lost.stream AND o.relayed_entry = lost.entry",
    )
    .bind(streams)
    .bind(entries)
    .execute(db)
    .await?
    .rows_affected())
}

/// Deletes the rows of events the worker dead-lettered: they will not be stored, and must
/// not be sent again.
pub async fn forget(db: &PgPool, event_ids: &[&str]) -> Result<u64, StorageError> {
    Ok(sqlx::query("DELETE FROM outbox WHERE event_id = ANY($1)")
        .bind(event_ids)
        .execute(db)
        .await?
        .rows_affected())
}

/// When the oldest event still waiting was enqueued; `None` when the outbox is empty.
pub async fn oldest(db: &PgPool) -> Result<Option<DateTime<Utc>>, StorageError> {
    Ok(sqlx::query_scalar("SELECT min(created_at) FROM outbox")
        .fetch_one(db)
        .await?)
}
