//! How far ingest is behind: the age of the oldest stream entry the worker has not
//! acknowledged yet (pending with a consumer, or not delivered at all). Stream ids start
//! with the millisecond they were added, so no entry needs to be read for its time.

use chrono::{DateTime, TimeZone, Utc};
use redis::{aio::MultiplexedConnection, streams::StreamPendingReply, Value};

use super::keys::Keys;
use super::keys::GROUP;

/// When the oldest unacknowledged entry of any shard was added; `None` when the worker
/// has acknowledged everything.
pub async fn oldest_unacknowledged(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> redis::RedisResult<Option<DateTime<Utc>>> {
    let mut oldest: Option<u64> = None;
    for shard in 0..keys.shards() {
        let stream = keys.stream(shard);
        let exists: bool = redis::cmd("EXISTS").arg(&stream).query_async(conn).await?;
        if !exists {
            continue;
        }
        let pending: StreamPendingReply = match redis::cmd("XPENDING")
            .arg(&stream)
            .arg(GROUP)
            .query_async(conn)
            .await
        {
            Ok(reply) => reply,
            // No consumer group yet: no worker has read this stream, so all of it waits.
            Err(e) if e.code() == Some("NOGROUP") => {
                let first = first_after(conn, &stream, "-").await?;
                oldest = earliest(oldest, first);
                continue;
            }
            Err(e) => return Err(e),
        };
        if let StreamPendingReply::Data(data) = pending {
            oldest = earliest(oldest, millis_of(&data.start_id));
        }
        let undelivered = match last_delivered(conn, &stream).await? {
            Some(last) => first_after(conn, &stream, &format!("({last}")).await?,
            None => first_after(conn, &stream, "-").await?,
        };
        oldest = earliest(oldest, undelivered);
    }
    Ok(oldest.and_then(|ms| Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()))
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn millis_of(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// The id of the first entry after `start` (an XRANGE bound), as its millisecond.
async fn first_after(
    conn: &mut MultiplexedConnection,
    stream: &str,
    start: &str,
) -> redis::RedisResult<Option<u64>> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let Value::Array(entries) = reply else {
        return Ok(None);
    };
    Ok(entries.first().and_then(|entry| match entry {
        Value::Array(parts) => match parts.first() {
            Some(Value::BulkString(id)) => millis_of(std::str::from_utf8(id).ok()?),
            _ => None,
        },
        _ => None,
    }))
}

/// The group's `last-delivered-id`.
async fn last_delivered(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> redis::RedisResult<Option<String>> {
    let groups: Vec<std::collections::HashMap<String, Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await?;
    Ok(groups
        .iter()
        .find(|g| matches!(g.get("name"), Some(Value::BulkString(n)) if n == GROUP.as_bytes()))
        .and_then(|g| match g.get("last-delivered-id") {
            Some(Value::BulkString(id)) => String::from_utf8(id.clone()).ok(),
            Some(Value::SimpleString(id)) => Some(id.clone()),
            _ => None,
        }))
}
