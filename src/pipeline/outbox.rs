//! The relay from the Postgres outbox to the event streams.
//!
//! Conversions, refunds and cancellations write their event into `outbox` in the same
//! transaction as the change, so an event exists exactly when its change does. The relay
//! claims a chunk (`FOR UPDATE SKIP LOCKED`: several processes share the work), writes it
//! to the streams (one entry per stream, events one per line, as the producer does) and
//! deletes it in the same transaction. A crash after the `XADD` and before the commit sends
//! the chunk again; the worker stores each event id once, so the effect is exactly once.
//! While Redis is away, events simply wait in Postgres.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use sqlx::PgPool;

use super::{connection, events::packed_xadds, keys::Keys};

const CHUNK: i64 = 500;
const IDLE_POLL: Duration = Duration::from_millis(100);
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Moves one chunk; returns how many events it moved.
pub async fn relay_once(
    db: &PgPool,
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, shard_key, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(CHUNK)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let streams: Vec<String> = rows
        .iter()
        .map(|(_, shard_key, _)| keys.stream(keys.shard_of(*shard_key)))
        .collect();
    let events = streams
        .iter()
        .zip(&rows)
        .map(|(stream, (_, _, payload))| (stream.as_str(), payload.as_str()));
    packed_xadds(events).query_async::<()>(conn).await?;
    let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Relays until the process ends.
pub async fn run(db: PgPool, redis: redis::Client, keys: Keys) {
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        if conn.is_none() {
            conn = connection::connect(&redis, REDIS_TIMEOUT, Some(REDIS_TIMEOUT))
                .await
                .ok();
        }
        let moved = match conn.as_mut() {
            Some(c) => match relay_once(&db, c, &keys).await {
                Ok(moved) => moved,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "outbox relay failed; retrying");
                    conn = None;
                    0
                }
            },
            None => 0,
        };
        if moved == 0 {
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}
