//! The relay from the Postgres outbox ([`crate::storage::outbox`]) to the event streams.
//!
//! Conversions, refunds and cancellations write their event into `outbox` in the same
//! transaction as the change, so an event exists exactly when its change does. The relay
//! claims a chunk of rows not yet relayed (`FOR UPDATE SKIP LOCKED`: several processes
//! share the work), writes it to the streams (one entry per stream, events one per line, as
//! the producer does) and marks each row with the entry it went to, in the same
//! transaction. A row is deleted only by the worker, in the transaction that stores its
//! event (or dead-letters it), so an event stays in Postgres until it is in Postgres's
//! rollups.
//!
//! A Redis that restarts without persistence, or fails over to a replica that had not
//! received the last writes, loses entries: every [`CHECK_EVERY`] the relay looks up the
//! entries of rows relayed more than [`CHECK_AFTER`] ago, and sends again every row whose
//! entry is gone (an entry is trimmed only once acknowledged, which happens after its rows
//! are deleted). A row sent twice is harmless: the worker stores each event id once. While
//! Redis is away, events simply wait in Postgres.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sqlx::PgPool;

use super::{connection, events::packed_xadds_naming_entries, keys::Keys};
use crate::{
    lifecycle::{Backoff, Stopping},
    storage::outbox,
};

const CHUNK: i64 = 500;
const IDLE_POLL: Duration = Duration::from_millis(100);
/// The longest pause between attempts while Redis or Postgres is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often relayed rows are checked against the streams.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// A row younger than this is normally still on its way through the worker.
pub const CHECK_AFTER: Duration = Duration::from_secs(5);
/// Most relayed rows looked at in one check (their entries, fewer, are looked up).
const CHECK_CHUNK: i64 = 1000;

/// Moves one chunk; returns how many events it moved.
pub async fn relay_once(
    db: &PgPool,
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let rows = outbox::claim_unrelayed(&mut tx, CHUNK).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let streams: Vec<String> = rows
        .iter()
        .map(|row| keys.stream(keys.shard_of(row.shard_key)))
        .collect();
    let events = streams
        .iter()
        .zip(&rows)
        .map(|(stream, row)| (stream.as_str(), row.payload.as_str()));
    let (pipe, written_to) = packed_xadds_naming_entries(events);
    let entries: Vec<String> = pipe.query_async(conn).await?;
    let entry_of = |stream: &str| {
        written_to
            .iter()
            .position(|s| *s == stream)
            .and_then(|i| entries.get(i))
            .cloned()
    };
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let entry_ids: Vec<Option<String>> = streams.iter().map(|s| entry_of(s)).collect();
    outbox::mark_relayed(&mut tx, &ids, &streams, &entry_ids).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Sends again the rows relayed at least `after` ago whose stream entry Redis no longer
/// has; returns how many rows it put back.
pub async fn resend_lost(
    db: &PgPool,
    conn: &mut MultiplexedConnection,
    after: Duration,
) -> anyhow::Result<u64> {
    // The oldest rows in id order (relayed first, so found first on the primary key),
    // deduplicated here: a DISTINCT in SQL would read every relayed row first, and while
    // the worker is away that is the whole backlog, every few seconds.
    let rows = outbox::relayed_before(db, after, CHECK_CHUNK).await?;
    let mut relayed = rows;
    relayed.sort_unstable();
    relayed.dedup();
    if relayed.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for (stream, entry) in &relayed {
        pipe.cmd("XRANGE")
            .arg(stream)
            .arg(entry)
            .arg(entry)
            .arg("COUNT")
            .arg(1);
    }
    let found: Vec<Vec<redis::Value>> = pipe.query_async(conn).await?;
    let (streams, entries): (Vec<&str>, Vec<&str>) = relayed
        .iter()
        .zip(&found)
        .filter(|(_, hit)| hit.is_empty())
        .map(|((stream, entry), _)| (stream.as_str(), entry.as_str()))
        .unzip();
    if streams.is_empty() {
        return Ok(0);
    }
    let reset = outbox::unmark_relayed(db, &streams, &entries).await?;
    tracing::warn!(
        events = reset,
        "outbox events relayed earlier are no longer in Redis; sending them again"
    );
    Ok(reset)
}

/// Relays until the process stops, then returns after the round it is in. While Redis or
/// Postgres is away it backs off, and resumes when both answer.
pub async fn run(db: PgPool, redis: redis::Client, keys: Keys, mut stopping: Stopping) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut last_check = Instant::now();
    let mut backoff = Backoff::new(IDLE_POLL, MAX_BACKOFF);
    while !stopping.is_stopping() {
        if conn.is_none() {
            conn = connection::connect(&redis, REDIS_TIMEOUT, Some(REDIS_TIMEOUT))
                .await
                .ok();
        }
        let pause = match conn.as_mut() {
            Some(c) => {
                let round = async {
                    if last_check.elapsed() >= CHECK_EVERY {
                        last_check = Instant::now();
                        resend_lost(&db, c, CHECK_AFTER).await?;
                    }
                    relay_once(&db, c, &keys).await
                };
                match round.await {
                    Ok(moved) => {
                        backoff.succeeded();
                        (moved == 0).then_some(IDLE_POLL)
                    }
                    Err(e) => {
                        let pause = backoff.failed();
                        tracing::warn!(
                            error = format!("{e:#}"),
                            retry_in_ms = pause.as_millis() as u64,
                            "outbox relay failed; retrying"
                        );
                        conn = None;
                        Some(pause)
                    }
                }
            }
            None => Some(backoff.failed()),
        };
        if let Some(pause) = pause {
            stopping.sleep(pause).await;
        }
    }
    tracing::debug!("outbox relay stopped");
}
