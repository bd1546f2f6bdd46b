//! Getting events into the Redis streams before the request that caused them is answered.
//!
//! Requests hand their event to a batcher task and wait for its verdict. A batcher takes
//! everything queued while its previous flush was in flight and writes it in one pipelined
//! round trip, one `XADD` per stream carrying all of that stream's events (see
//! [`super::events`]), so throughput grows with load while an idle service adds no waiting. Each HTTP worker thread runs its own batcher and Redis connection
//! ([`Producer::on_this_thread`]), so a request, its batch and its Redis I/O never wait on
//! another thread. When Redis fails or is slow, the batch goes to the local [`Spool`] instead,
//! and Redis is left alone for a while; the `replay` task moves spooled events back once
//! Redis answers. Either way the caller learns where its event is durable, or that it is
//! nowhere (the spool full or unwritable), so it can count the event as unrecorded.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};

use super::{
    keys::Keys,
    spool::{AppendError, Spool},
};
use crate::metrics::Metrics;

const MAX_BATCH: usize = 512;
const QUEUE_PER_BATCHER: usize = 8192;
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, batches go straight to the spool until the replayer sees Redis again.
const REPLAY_INTERVAL: Duration = Duration::from_millis(500);
const REPLAY_CHUNK: usize = 500;
/// How long a flush waits for replicas to acknowledge it (`ATTRIB_REDIS_MIN_REPLICAS`),
/// inside the flush's own round trip and its [`REDIS_TIMEOUT`].
const REPLICA_WAIT: Duration = Duration::from_millis(200);

/// Where an event was made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Redis,
    Spool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("event queue full")]
    Overloaded,
    #[error("event could be written neither to Redis nor to the spool")]
    Lost,
}

struct Pending {
    shard: usize,
    payload: String,
    done: oneshot::Sender<Option<Stored>>,
}

/// What every batcher of a process shares: the Redis client, the spool, and whether Redis
/// is currently considered down.
pub struct Shared {
    client: redis::Client,
    /// The stream of each shard, named once.
    streams: Vec<String>,
    spool: Spool,
    /// Set on a Redis failure, cleared by the replayer once Redis answers and the spool is
    /// empty, so events are not reordered around an outage more than necessary.
    redis_down: AtomicBool,
    /// Replicas that must acknowledge a flush before its events count as in Redis; a
    /// batch fewer acknowledge is also spooled, and the spool keeps it until they do.
    min_replicas: u32,
    metrics: Arc<Metrics>,
}

#[derive(Clone)]
pub struct Producer {
    sender: mpsc::Sender<Pending>,
}

impl Shared {
    /// The shared part, with the spool replayer started on the current runtime.
    pub fn start(
        client: redis::Client,
        keys: &Keys,
        spool: Spool,
        min_replicas: u32,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        // A predecessor's spool waits for this process's replayer.
        metrics.spool_events.set(spool.waiting_events() as i64);
        let shared = Arc::new(Shared {
            client,
            streams: (0..keys.shards()).map(|shard| keys.stream(shard)).collect(),
            redis_down: AtomicBool::new(spool.has_pending()),
            spool,
            min_replicas,
            metrics,
        });
        tokio::spawn(replay(shared.clone()));
        shared
    }
}

impl Producer {
    /// A producer whose batcher runs on the current runtime: call it on each HTTP worker
    /// thread.
    pub fn on_this_thread(shared: Arc<Shared>) -> Self {
        let (sender, rx) = mpsc::channel(QUEUE_PER_BATCHER);
        tokio::spawn(run_batcher(rx, shared));
        Producer { sender }
    }

    /// Returns once the event (one line of JSON) is in the stream of `shard`, or in the
    /// spool.
    pub async fn send(&self, shard: usize, payload: String) -> Result<Stored, ProduceError> {
        let (done, verdict) = oneshot::channel();
        self.sender
            .try_send(Pending {
                shard,
                payload,
                done,
            })
            .map_err(|_| ProduceError::Overloaded)?;
        verdict.await.ok().flatten().ok_or(ProduceError::Lost)
    }
}

async fn run_batcher(mut rx: mpsc::Receiver<Pending>, shared: Arc<Shared>) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let verdict = flush(&shared, &mut conn, &batch).await;
        for pending in batch.drain(..) {
            let _ = pending.done.send(verdict);
        }
    }
}

async fn flush(
    shared: &Shared,
    conn: &mut Option<MultiplexedConnection>,
    batch: &[Pending],
) -> Option<Stored> {
    let stream_of = |p: &Pending| shared.streams[p.shard % shared.streams.len()].as_str();
    let mut unreplicated = false;
    if !shared.redis_down.load(Ordering::Relaxed) {
        let events = batch.iter().map(|p| (stream_of(p), p.payload.as_str()));
        match write_to_redis(shared, conn, events).await {
            Ok(Replicated::Enough) => {
                shared.metrics.clicks_in_redis.inc_by(batch.len() as u64);
                return Some(Stored::Redis);
            }
            // In the master only: a failover now would lose the batch, so the spool keeps
            // it too (ingest stores a click once however many copies reach it).
            Ok(Replicated::TooFew(acknowledged)) => {
                tracing::warn!(
                    acknowledged,
                    wanted = shared.min_replicas,
                    events = batch.len(),
                    "too few Redis replicas acknowledged events; spooling them too"
                );
                unreplicated = true;
            }
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "Redis refused events; spooling");
                *conn = None;
                shared.redis_down.store(true, Ordering::Relaxed);
            }
        }
    }
    let lines: Vec<(&str, &str)> = batch
        .iter()
        .map(|p| (stream_of(p), p.payload.as_str()))
        .collect();
    match shared.spool.append(&lines) {
        Ok(()) => {
            shared.metrics.clicks_in_spool.inc_by(batch.len() as u64);
            shared.metrics.spool_events.add(batch.len() as i64);
            Some(Stored::Spool)
        }
        // Still in the master, if unreplicated: durable as far as one Redis goes.
        Err(e) if unreplicated => {
            tracing::error!(error = %e, events = batch.len(), "cannot spool unreplicated events");
            shared.metrics.clicks_in_redis.inc_by(batch.len() as u64);
            Some(Stored::Redis)
        }
        Err(e @ AppendError::Full { .. }) => {
            tracing::error!(error = %e, events = batch.len(), "spool full; events not recorded");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, events = batch.len(), "cannot write the spool");
            None
        }
    }
}

async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    super::connection::connect(client, REDIS_TIMEOUT, Some(REDIS_TIMEOUT)).await
}

/// Whether enough replicas acknowledged a write (`ATTRIB_REDIS_MIN_REPLICAS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replicated {
    Enough,
    TooFew(i64),
}

/// One entry per stream, its events in the order given; with replicas to wait for, a
/// `WAIT` closes the same pipeline.
async fn write_to_redis<'a>(
    shared: &Shared,
    conn: &mut Option<MultiplexedConnection>,
    events: impl Iterator<Item = (&'a str, &'a str)>,
) -> redis::RedisResult<Replicated> {
    if conn.is_none() {
        *conn = Some(connect(&shared.client).await?);
    }
    let Some(connection) = conn.as_mut() else {
        return Ok(Replicated::Enough);
    };
    let mut pipe = super::events::packed_xadds(events);
    if shared.min_replicas == 0 {
        pipe.query_async::<()>(connection).await?;
        return Ok(Replicated::Enough);
    }
    pipe.cmd("WAIT")
        .arg(shared.min_replicas)
        .arg(REPLICA_WAIT.as_millis() as u64);
    let (acknowledged,): (i64,) = pipe.query_async(connection).await?;
    Ok(if acknowledged >= i64::from(shared.min_replicas) {
        Replicated::Enough
    } else {
        Replicated::TooFew(acknowledged)
    })
}

/// Moves spooled events back into Redis whenever Redis answers.
async fn replay(shared: Arc<Shared>) {
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        tokio::time::sleep(REPLAY_INTERVAL).await;
        if !shared.spool.has_pending() {
            continue;
        }
        if conn.is_none() {
            conn = connect(&shared.client).await.ok();
        }
        let Some(connection) = conn.as_mut() else {
            continue;
        };
        if redis::cmd("PING")
            .query_async::<String>(connection)
            .await
            .is_err()
        {
            conn = None;
            continue;
        }
        // New events go to Redis again; what was spooled so far is replayed behind them.
        shared.redis_down.store(false, Ordering::Relaxed);
        shared.spool.rotate();
        if let Err(e) = replay_files(&shared, &mut conn).await {
            tracing::warn!(error = %e, "spool replay interrupted; will retry");
            conn = None;
        }
    }
}

async fn replay_files(
    shared: &Shared,
    conn: &mut Option<MultiplexedConnection>,
) -> anyhow::Result<()> {
    for mut claimed in shared.spool.claim()? {
        // A chunk at a time: a file from a long outage can be larger than memory allows.
        let mut replayed = 0;
        loop {
            let chunk = claimed.next_events(REPLAY_CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            let events = chunk
                .iter()
                .map(|e| (e.stream.as_str(), e.payload.as_str()));
            if let Replicated::TooFew(acknowledged) = write_to_redis(shared, conn, events).await? {
                // The file stays until replicas take it; what went in twice is stored once.
                anyhow::bail!(
                    "{acknowledged} of {} Redis replicas acknowledged the replay",
                    shared.min_replicas
                );
            }
            replayed += chunk.len();
            // Files another process left after this one started were never counted here.
            let waiting = &shared.metrics.spool_events;
            waiting.set((waiting.get() - chunk.len() as i64).max(0));
        }
        tracing::info!(events = replayed, file = %claimed.path().display(), "spool replayed");
        claimed.remove()?;
    }
    Ok(())
}
