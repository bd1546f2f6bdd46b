//! How far ingest is behind: the age of the oldest stream entry the worker has not
//! acknowledged yet (pending with a consumer, or not delivered at all). Stream ids start
//! with the millisecond they were added, so no entry needs to be read for its time.
//!
//! Owns only that reading; the stream commands and ids are [`super::consumer`]'s. Sends
//! nothing that changes a stream or its group.

use chrono::{DateTime, TimeZone, Utc};
use redis::aio::MultiplexedConnection;

use super::{
    consumer::{self, EntryId},
    keys::Keys,
};

/// When the oldest unacknowledged entry of any shard was added; `None` when the worker
/// has acknowledged everything.
pub async fn oldest_unacknowledged(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> redis::RedisResult<Option<DateTime<Utc>>> {
    let mut oldest: Option<u64> = None;
    for shard in 0..keys.shards() {
        let stream = keys.stream(shard);
        if !consumer::exists(conn, &stream).await? {
            continue;
        }
        let pending = match consumer::oldest_pending(conn, &stream).await {
            Ok(pending) => pending,
            // No consumer group yet: no worker has read this stream, so all of it waits.
            Err(e) if e.code() == Some("NOGROUP") => {
                let first = consumer::first_from(conn, &stream, "-").await?;
                oldest = earliest(oldest, millis_of(first));
                continue;
            }
            Err(e) => return Err(e),
        };
        oldest = earliest(oldest, millis_of(pending));
        let undelivered = match consumer::last_delivered(conn, &stream).await? {
            Some(last) => consumer::first_from(conn, &stream, &format!("({last}")).await?,
            None => consumer::first_from(conn, &stream, "-").await?,
        };
        oldest = earliest(oldest, millis_of(undelivered));
    }
    Ok(oldest.and_then(|ms| Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()))
}

/// Each shard's entries and pending entries, in shard order.
pub async fn depths(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> redis::RedisResult<Vec<(u64, u64)>> {
    let mut out = Vec::with_capacity(keys.shards());
    for shard in 0..keys.shards() {
        out.push(consumer::depth(conn, &keys.stream(shard)).await?);
    }
    Ok(out)
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn millis_of(id: Option<String>) -> Option<u64> {
    Some(EntryId::parse(&id?)?.ms)
}
