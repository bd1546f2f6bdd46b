//! The consumer side of the event streams: every Redis command the ingest worker and the
//! lag reading send to a stream and its consumer group [`GROUP`].
//!
//! Owns creating the group, reading an own consumer's pending or new entries, claiming
//! entries other consumers left idle (`XAUTOCLAIM`), acknowledging, writing dead letters,
//! trimming, removing consumers that are gone, the group's read position, and stream ids
//! ([`EntryId`]): how they read, compare and follow one another.
//!
//! Guarantees: [`trim`] removes only entries every consumer of the group has acknowledged
//! (below both the oldest pending entry and the first entry not yet delivered);
//! [`remove_idle_consumers`] never removes a consumer that still owns pending entries, so
//! none is dropped from the pending list; [`ensure_group`] may be called any number of
//! times and creates the stream too, reading it from its start. What to do with entries
//! (decoding, storing, when to ack) is the worker's.

use std::{fmt, time::Duration};

use anyhow::Context;
use redis::{
    aio::MultiplexedConnection,
    streams::{
        StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamInfoGroupsReply,
        StreamPendingReply, StreamReadOptions, StreamReadReply,
    },
    AsyncCommands, Value,
};

use super::keys::GROUP;

/// A stream entry id, `<milliseconds>-<sequence>`: ordered by time, then sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId {
    /// When the entry was added (Unix milliseconds).
    pub ms: u64,
    pub seq: u64,
}

impl EntryId {
    /// `None` unless the milliseconds read as a number; a sequence that is missing or not
    /// a number reads as 0 (Redis always writes both).
    pub fn parse(id: &str) -> Option<EntryId> {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().unwrap_or(0),
        })
    }

    /// The smallest id after this one.
    pub fn next(self) -> EntryId {
        EntryId {
            ms: self.ms,
            seq: self.seq.saturating_add(1),
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Where a group read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The entries delivered to this consumer and not acknowledged (what a crash left).
    OwnPending,
    /// Entries not yet delivered to any consumer of the group.
    New,
}

/// Creates the group on `stream` (and the stream) unless it exists; a new group reads the
/// stream from its start.
pub async fn ensure_group(conn: &mut MultiplexedConnection, stream: &str) -> anyhow::Result<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e).context("creating the consumer group"),
    }
}

/// Up to `count` entries for `consumer`; reading [`Position::New`] delivers them to it.
/// Waits up to `block` for new entries when given.
pub async fn read(
    conn: &mut MultiplexedConnection,
    stream: &str,
    consumer: &str,
    from: Position,
    count: usize,
    block: Option<Duration>,
) -> redis::RedisResult<Vec<StreamId>> {
    let mut options = StreamReadOptions::default()
        .group(GROUP, consumer)
        .count(count);
    if let Some(block) = block {
        options = options.block(block.as_millis() as usize);
    }
    let start = match from {
        Position::OwnPending => "0",
        Position::New => ">",
    };
    let reply: Option<StreamReadReply> = conn.xread_options(&[stream], &[start], &options).await?;
    Ok(reply
        .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
        .unwrap_or_default())
}

/// Takes over for `consumer` up to `count` entries other consumers have left
/// unacknowledged for at least `idle` (`XAUTOCLAIM`, from the stream's start).
pub async fn claim_idle(
    conn: &mut MultiplexedConnection,
    stream: &str,
    consumer: &str,
    idle: Duration,
    count: usize,
) -> redis::RedisResult<Vec<StreamId>> {
    let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(stream)
        .arg(GROUP)
        .arg(consumer)
        .arg(idle.as_millis() as u64)
        .arg("0-0")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(claimed.claimed)
}

/// `XACK`: the entries are done with and never delivered again.
pub async fn ack(
    conn: &mut MultiplexedConnection,
    stream: &str,
    ids: &[&str],
) -> redis::RedisResult<i64> {
    conn.xack(stream, GROUP, ids).await
}

/// An entry, or an event of one, the worker gives up on.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The stream entry it came from.
    pub entry: &'a str,
    pub reason: &'a str,
    pub raw: &'a [u8],
}

/// Appends the letters to the dead-letter stream `key` in one round trip, each an entry
/// of fields `entry`, `reason` and `raw`; keeps about `maxlen` entries (0: all).
///
/// Not [`super::events`]' `XADD` builder: that one writes the one packed event field of an
/// event stream, and a dead letter is an entry of three fields with a length cap.
pub async fn dead_letter<'a>(
    conn: &mut MultiplexedConnection,
    key: &str,
    maxlen: usize,
    letters: impl IntoIterator<Item = DeadLetter<'a>>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for letter in letters {
        pipe.cmd("XADD").arg(key);
        if maxlen > 0 {
            pipe.arg("MAXLEN").arg("~").arg(maxlen);
        }
        pipe.arg("*")
            .arg("entry")
            .arg(letter.entry)
            .arg("reason")
            .arg(letter.reason)
            .arg("raw")
            .arg(letter.raw)
            .ignore();
    }
    pipe.query_async::<()>(conn).await
}

/// `XGROUP DELCONSUMER` of every consumer but `keep` that owns nothing and has been idle
/// for `idle`: deleting one that owned entries would drop them from the pending list.
/// Returns how many were removed.
pub async fn remove_idle_consumers(
    conn: &mut MultiplexedConnection,
    stream: &str,
    keep: &str,
    idle: Duration,
) -> anyhow::Result<usize> {
    let info: StreamInfoConsumersReply = conn.xinfo_consumers(stream, GROUP).await?;
    let mut removed = 0;
    for consumer in info.consumers {
        let gone = consumer.name != keep
            && consumer.pending == 0
            && consumer.idle as u128 >= idle.as_millis();
        if gone {
            let _: i64 = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(stream)
                .arg(GROUP)
                .arg(&consumer.name)
                .query_async(conn)
                .await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes acknowledged entries: everything below both the oldest pending entry and the
/// first entry not yet delivered to the group. Without the group, nothing.
pub async fn trim(conn: &mut MultiplexedConnection, stream: &str) -> anyhow::Result<()> {
    let Some(last) = last_delivered(conn, stream).await? else {
        return Ok(());
    };
    let mut cutoff = EntryId::parse(&last).unwrap_or_default().next();
    if let Some(oldest) = oldest_pending(conn, stream).await? {
        let oldest = EntryId::parse(&oldest).unwrap_or_default();
        cutoff = cutoff.min(oldest);
    }
    redis::cmd("XTRIM")
        .arg(stream)
        .arg("MINID")
        .arg(cutoff.to_string())
        .query_async::<i64>(conn)
        .await?;
    Ok(())
}

/// The group's `last-delivered-id`; `None` when the stream has no such group.
pub async fn last_delivered(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> redis::RedisResult<Option<String>> {
    let groups: StreamInfoGroupsReply = conn.xinfo_groups(stream).await?;
    Ok(groups
        .groups
        .into_iter()
        .find(|g| g.name == GROUP)
        .map(|g| g.last_delivered_id))
}

/// The id of the oldest entry delivered to a consumer of the group and not acknowledged;
/// `None` when there is none. Fails with `NOGROUP` when the stream has no group.
pub async fn oldest_pending(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> redis::RedisResult<Option<String>> {
    let pending: StreamPendingReply = conn.xpending(stream, GROUP).await?;
    Ok(match pending {
        StreamPendingReply::Data(data) if data.count > 0 => Some(data.start_id),
        _ => None,
    })
}

/// Entries in `stream` (0 when it does not exist) and those of its group delivered but
/// not acknowledged (0 without a group).
pub async fn depth(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> redis::RedisResult<(u64, u64)> {
    let entries: u64 = conn.xlen(stream).await?;
    if entries == 0 {
        return Ok((0, 0));
    }
    let pending = match conn
        .xpending::<_, _, StreamPendingReply>(stream, GROUP)
        .await
    {
        Ok(StreamPendingReply::Data(data)) => data.count as u64,
        Ok(_) => 0,
        Err(e) if e.code() == Some("NOGROUP") => 0,
        Err(e) => return Err(e),
    };
    Ok((entries, pending))
}

/// Whether `stream` exists.
pub async fn exists(conn: &mut MultiplexedConnection, stream: &str) -> redis::RedisResult<bool> {
    redis::cmd("EXISTS").arg(stream).query_async(conn).await
}

/// The id of the first entry at or after `start` (an `XRANGE` bound: `-`, an id, or `(id`
/// for after it).
pub async fn first_from(
    conn: &mut MultiplexedConnection,
    stream: &str,
    start: &str,
) -> redis::RedisResult<Option<String>> {
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
            Some(Value::BulkString(id)) => String::from_utf8(id.clone()).ok(),
            _ => None,
        },
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> EntryId {
        EntryId::parse(text).unwrap()
    }

    #[test]
    fn stream_ids_compare_numerically() {
        assert!(id("99-5") < id("100-0"));
        assert!(id("100-2") < id("100-10"));
        assert!(id("100-10") >= id("100-10"));
        assert_eq!(id("100-9").next().to_string(), "100-10");
        assert_eq!(id("0-0").next().to_string(), "0-1");
    }

    #[test]
    fn stream_ids_read_leniently_but_need_their_time() {
        assert_eq!(
            id("1700000000000"),
            EntryId {
                ms: 1_700_000_000_000,
                seq: 0
            }
        );
        assert_eq!(id("5-x"), EntryId { ms: 5, seq: 0 });
        assert_eq!(EntryId::parse(""), None);
        assert_eq!(EntryId::parse("x-5"), None);
        assert_eq!(id("5-18446744073709551615").next().seq, u64::MAX);
    }
}
