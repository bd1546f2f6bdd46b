//! The ingest worker: Redis streams → Postgres, nothing lost, nothing twice.
//!
//! This module is the loop: one per stream shard, in the consumer group [`GROUP`],
//! deciding what to read when, handing batches to be decoded and stored, and
//! acknowledging them. At start and after a failed round it first re-reads the entries
//! already delivered to it and not acknowledged (what a crash left behind); every second or
//! so it claims entries other consumers have left idle longer than `claim_idle`
//! (`XAUTOCLAIM`: a dead worker's batch); otherwise it reads new entries, waits `gather` for
//! more to arrive, and takes those too, up to `batch_size` events. A batch is decoded and
//! enriched; undecodable entries go to the shard's dead-letter stream with the reason. The
//! rest is written in one Postgres transaction (see [`crate::storage::clicks`]: idempotent
//! on the click id, rollups from inserted rows only); should Postgres refuse it for its
//! values, it is split until the events Postgres refuses on their own are found and
//! dead-lettered, and the rest is committed (see `store.rs`), so no event can stall a
//! shard. Only after the commits are the entries acknowledged (`XACK`). A crash between
//! commit and ack redelivers entries whose clicks are already stored: they insert nothing
//! and count nothing. Conversion events delete their outbox rows in the same transaction
//! (see [`crate::pipeline::outbox`]).
//!
//! Streams are trimmed only below the oldest entry not yet acknowledged.
//!
//! Where the rest lives: the stream commands in [`crate::pipeline::consumer`]; decoding
//! and enrichment in `batch.rs`; the Postgres writes in `store.rs`; the link-owner and
//! partition caches in `lookups.rs`; the fail points tests crash the worker at in
//! `faults.rs`; rollup arithmetic in [`crate::domain::rollup`].

pub mod background;
mod batch;
mod faults;
mod lookups;
mod store;

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{Months, Utc};
use redis::{aio::MultiplexedConnection, streams::StreamId};
use sqlx::PgPool;

use crate::{
    config,
    domain::fraud::BurstDetector,
    enrich::geo::GeoIp,
    lifecycle::{stop_signal, Backoff, Stopping},
    metrics::Metrics,
    pipeline::{
        connection,
        consumer::{self, DeadLetter, Position},
        keys::Keys,
    },
    storage::conversions::ConversionEventType,
};

pub use crate::pipeline::keys::GROUP;
pub use faults::{FailPoint, InjectedFailure};

/// Often, so each trim frees little: Redis serves nothing else while it frees entries, and
/// ten seconds of a busy stream took it about 4 ms, stalling every redirect's XADD.
const TRIM_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// A consumer that owns nothing and has not read for this long is gone (a renamed or
/// retired worker) and is removed from the group, checked every [`PRUNE_EVERY`].
const CONSUMER_GONE_AFTER: Duration = Duration::from_secs(3600);
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// How often a shard looks for entries dead consumers left behind, while it finds none.
const CLAIM_EVERY: Duration = Duration::from_secs(1);
/// Before a shard's first batch shows how many events its entries carry: a busy producer
/// packs tens to hundreds, so the first read stays near `read_size` events either way.
const FIRST_GUESS_EVENTS_PER_ENTRY: usize = 32;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name in the consumer group; a restarted worker that keeps its name
    /// finishes its own pending entries first.
    pub consumer: String,
    /// Most events written in one transaction.
    pub batch_size: usize,
    /// Most events asked of Redis in one read: Redis serves nothing else while it answers,
    /// and every redirect waits on it.
    pub read_size: usize,
    /// How long to wait, once new entries arrive, for more to join them. Every batch costs
    /// Postgres and Redis a few round trips and statements whatever its size; at a steady
    /// 20 000 clicks/s, batches taken as they came held about 20 events each, and that fixed
    /// cost was most of Postgres's work.
    pub gather: Duration,
    /// How long another consumer's entry must sit unacknowledged before it is claimed.
    pub claim_idle: Duration,
    /// How long one read waits for new entries.
    pub block: Duration,
    pub fail_point: Option<FailPoint>,
    /// How many batches may be written to Postgres at once (one per shard when `None`).
    /// `attrib run` writes one at a time, so ingest leaves CPU to the redirects it shares
    /// the machine with; a backlog then waits in Redis and is taken in larger batches.
    pub parallel_writes: Option<usize>,
    pub signals: SignalLimits,
    /// About how many entries each shard's dead-letter stream keeps (0: all).
    pub dead_letter_maxlen: usize,
    /// How long raw clicks are kept (`ATTRIB_CLICK_RETENTION_DAYS`); `None`: for ever.
    pub click_retention: Option<chrono::Duration>,
}

/// Thresholds of the fraud signals (`domain::fraud`).
#[derive(Debug, Clone, Copy)]
pub struct SignalLimits {
    /// Clicks a minute from one visitor or address on one link before a burst; 0: off.
    pub burst_clicks_per_minute: usize,
    /// A conversion sooner than this after its click is flagged fast.
    pub fast_conversion: chrono::Duration,
}

impl Default for SignalLimits {
    fn default() -> Self {
        SignalLimits {
            burst_clicks_per_minute: 10,
            fast_conversion: chrono::Duration::seconds(15),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "attrib".to_owned());
        WorkerConfig {
            consumer: format!(
                "{host}-{}-{:04x}",
                std::process::id(),
                rand::random::<u16>()
            ),
            batch_size: 20_000,
            read_size: 2000,
            gather: config::DEFAULT_INGEST_GATHER,
            claim_idle: Duration::from_secs(60),
            block: Duration::from_secs(1),
            fail_point: None,
            parallel_writes: None,
            signals: SignalLimits::default(),
            dead_letter_maxlen: config::DEFAULT_DEAD_LETTER_MAXLEN,
            click_retention: None,
        }
    }
}

pub struct Worker {
    db: PgPool,
    redis: redis::Client,
    keys: Keys,
    geo: Option<Arc<GeoIp>>,
    config: WorkerConfig,
    lookups: lookups::Lookups,
    /// Per shard, how many events the last entries carried on average: a read asks for
    /// as many entries as make about `batch_size` events.
    events_per_entry: Vec<AtomicUsize>,
    writers: tokio::sync::Semaphore,
    bursts: Mutex<BurstDetector>,
    metrics: Arc<Metrics>,
}

impl Worker {
    pub fn new(
        db: PgPool,
        redis: redis::Client,
        keys: Keys,
        geo: Option<Arc<GeoIp>>,
        config: WorkerConfig,
    ) -> Self {
        Worker {
            lookups: lookups::Lookups::new(db.clone()),
            db,
            redis,
            geo,
            events_per_entry: (0..keys.shards())
                .map(|_| AtomicUsize::new(FIRST_GUESS_EVENTS_PER_ENTRY))
                .collect(),
            writers: tokio::sync::Semaphore::new(
                config.parallel_writes.unwrap_or(keys.shards()).max(1),
            ),
            bursts: Mutex::new(BurstDetector::new(config.signals.burst_clicks_per_minute)),
            metrics: with_series(Arc::default()),
            keys,
            config,
        }
    }

    /// Counts into `metrics` (the API's, in `attrib run`, so `GET /metrics` shows them).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = with_series(metrics);
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Consumes every shard until `shutdown` resolves.
    /// Until Redis and Postgres answer, it keeps trying, so `attrib run` can start (and
    /// redirect, spooling clicks) while Redis is away.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let mut backoff = retry_backoff();
        while let Err(e) = self.prepare().await {
            let pause = backoff.failed();
            tracing::warn!(
                error = format!("{e:#}"),
                retry_in_ms = pause.as_millis() as u64,
                "worker cannot start yet; retrying"
            );
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(pause) => {}
            }
        }
        let (stop, stopping) = stop_signal();
        let mut loops = Vec::new();
        for shard in 0..self.keys.shards() {
            let worker = self.clone();
            let stopping = stopping.clone();
            loops.push(tokio::spawn(async move {
                worker.shard_loop(shard, stopping).await
            }));
        }
        tracing::info!(shards = self.keys.shards(), consumer = %self.config.consumer, "worker started");
        shutdown.await;
        stop.stop();
        for handle in loops {
            handle.await.context("shard loop")??;
        }
        tracing::info!("worker stopped");
        Ok(())
    }

    /// Consumer groups and this and the next months' partitions exist afterwards.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        for shard in 0..self.keys.shards() {
            consumer::ensure_group(&mut conn, &self.keys.stream(shard)).await?;
        }
        let now = Utc::now();
        for ahead in 0..3 {
            let month = now.checked_add_months(Months::new(ahead)).unwrap_or(now);
            self.lookups.ensure_partition(month).await?;
        }
        Ok(())
    }

    /// Processes everything available now on every shard (own pending, claimable, new)
    /// without waiting; returns how many entries were handled. For tests and benchmarks.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        self.prepare().await?;
        let mut conn = self.connect().await?;
        let mut total = 0;
        for shard in 0..self.keys.shards() {
            let mut state = ShardState::new();
            loop {
                let handled = self.round(&mut conn, shard, None, &mut state).await?;
                total += handled;
                if handled == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Trims every shard's stream below what is still unacknowledged.
    pub async fn trim_all(&self) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        for shard in 0..self.keys.shards() {
            consumer::trim(&mut conn, &self.keys.stream(shard)).await?;
        }
        Ok(())
    }

    /// Removes from every shard's group the consumers other than this one that own no
    /// pending entry and have been idle for `idle`; returns how many.
    pub async fn remove_idle_consumers(&self, idle: Duration) -> anyhow::Result<usize> {
        let mut conn = self.connect().await?;
        let mut removed = 0;
        for shard in 0..self.keys.shards() {
            removed += consumer::remove_idle_consumers(
                &mut conn,
                &self.keys.stream(shard),
                &self.config.consumer,
                idle,
            )
            .await?;
        }
        Ok(removed)
    }

    /// No response timeout: reads block for up to `block` by design.
    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        connection::connect(&self.redis, Duration::from_secs(2), None).await
    }

    async fn shard_loop(&self, shard: usize, mut stopping: Stopping) -> anyhow::Result<()> {
        let mut conn: Option<MultiplexedConnection> = None;
        let mut state = ShardState::new();
        let mut last_trim = Instant::now();
        let mut last_prune = Instant::now() - PRUNE_EVERY;
        let mut backoff = retry_backoff();
        while !stopping.is_stopping() {
            if conn.is_none() {
                // A Redis that restarted without persistence has lost the group too.
                let connected = async {
                    let mut c = self.connect().await?;
                    consumer::ensure_group(&mut c, &self.keys.stream(shard)).await?;
                    anyhow::Ok(c)
                };
                match connected.await {
                    Ok(c) => {
                        conn = Some(c);
                        state.own_pending = true;
                    }
                    Err(e) => {
                        let pause = backoff.failed();
                        tracing::warn!(
                            error = %e,
                            shard,
                            retry_in_ms = pause.as_millis() as u64,
                            "worker cannot reach Redis"
                        );
                        stopping.sleep(pause).await;
                        continue;
                    }
                }
            }
            let Some(connection) = conn.as_mut() else {
                continue;
            };
            match self
                .round(connection, shard, Some(self.config.block), &mut state)
                .await
            {
                Ok(_) => backoff.succeeded(),
                Err(e) if e.is::<InjectedFailure>() => return Err(e),
                Err(e) => {
                    // What it held stays pending in its name: read again first when it
                    // resumes, acknowledged only once stored.
                    state.own_pending = true;
                    let pause = backoff.failed();
                    tracing::warn!(
                        error = format!("{e:#}"),
                        shard,
                        retry_in_ms = pause.as_millis() as u64,
                        "ingest round failed; retrying"
                    );
                    conn = None;
                    stopping.sleep(pause).await;
                    continue;
                }
            }
            if last_trim.elapsed() >= TRIM_EVERY {
                last_trim = Instant::now();
                if let Err(e) = consumer::trim(connection, &self.keys.stream(shard)).await {
                    tracing::warn!(error = %e, shard, "stream trim failed");
                }
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                let stream = self.keys.stream(shard);
                let consumer = &self.config.consumer;
                match consumer::remove_idle_consumers(
                    connection,
                    &stream,
                    consumer,
                    CONSUMER_GONE_AFTER,
                )
                .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(shard, removed = n, "idle consumers removed"),
                    Err(e) => tracing::warn!(error = %e, shard, "removing idle consumers failed"),
                }
                if shard == 0 {
                    if let Err(e) = self.prune_visitor_days().await {
                        tracing::warn!(error = %e, "pruning visitor days failed");
                    }
                    if let Err(e) = self.apply_click_retention().await {
                        tracing::warn!(error = %e, "dropping old click partitions failed");
                    }
                }
            }
        }
        Ok(())
    }

    /// One step: own pending entries if any may exist, else claimable ones when it is time
    /// to look, else new ones (waiting up to `block` when given, then `gather` for more).
    /// Returns how many entries were handled.
    async fn round(
        &self,
        conn: &mut MultiplexedConnection,
        shard: usize,
        block: Option<Duration>,
        state: &mut ShardState,
    ) -> anyhow::Result<usize> {
        let stream = self.keys.stream(shard);
        let consumer = &self.config.consumer;
        let per_entry = self.events_per_entry[shard].load(Ordering::Relaxed).max(1);
        let entries_for = |events: usize| (events / per_entry).max(1);
        let batch = entries_for(self.config.batch_size);
        let slice = entries_for(self.config.read_size.min(self.config.batch_size));

        if state.own_pending {
            let pending =
                consumer::read(conn, &stream, consumer, Position::OwnPending, slice, None).await?;
            if !pending.is_empty() {
                return self.handle(conn, shard, pending).await;
            }
            state.own_pending = false;
        }

        if Instant::now() >= state.next_claim {
            let claimed =
                consumer::claim_idle(conn, &stream, consumer, self.config.claim_idle, slice)
                    .await?;
            if !claimed.is_empty() {
                return self.handle(conn, shard, claimed).await;
            }
            state.next_claim = Instant::now() + CLAIM_EVERY.min(self.config.claim_idle);
        }

        let mut fresh =
            consumer::read(conn, &stream, consumer, Position::New, slice, block).await?;
        if fresh.is_empty() {
            return Ok(0);
        }
        // A full slice means a backlog: nothing to wait for.
        if fresh.len() < slice && !self.config.gather.is_zero() {
            tokio::time::sleep(self.config.gather).await;
        }
        while fresh.len() < batch {
            let wanted = slice.min(batch - fresh.len());
            let more = consumer::read(conn, &stream, consumer, Position::New, wanted, None).await?;
            let got = more.len();
            fresh.extend(more);
            if got < wanted {
                break;
            }
        }
        self.handle(conn, shard, fresh).await
    }

    async fn handle(
        &self,
        conn: &mut MultiplexedConnection,
        shard: usize,
        entries: Vec<StreamId>,
    ) -> anyhow::Result<usize> {
        let started = Instant::now();
        let handled = entries.len();
        let stream = self.keys.stream(shard);
        let decoded = batch::decode(entries);
        let events = decoded.clicks.len() + decoded.conversions.len() + decoded.dead.len();
        self.events_per_entry[shard].store(events.div_ceil(handled.max(1)), Ordering::Relaxed);
        let owners = self.lookups.owners_of(&batch::links_of(&decoded)).await?;
        let mut prepared = batch::enrich(
            decoded,
            &owners,
            self.geo.as_deref(),
            self.config.signals.fast_conversion,
        );
        {
            let mut bursts = self
                .bursts
                .lock()
                .map_err(|_| anyhow::anyhow!("burst detector poisoned"))?;
            batch::flag_bursts(&mut prepared, &mut bursts);
            bursts.prune();
        }

        if let Some(cutoff) = self.retention_cutoff() {
            let late = prepared.drop_clicks_before(cutoff);
            if late > 0 {
                // Arrived past the retention (a spool replayed very late, a redelivery):
                // the copy stored before, if any, may be gone with its partition, so the
                // rollups would count it twice.
                tracing::warn!(clicks = late, %cutoff, "clicks older than the click retention not stored");
            }
        }
        let mut refused = Vec::new();
        if !prepared.rows.is_empty() || !prepared.conversions.is_empty() {
            self.lookups.ensure_partitions_of(&prepared.rows).await?;
            let _writing = self.writers.acquire().await?;
            for (index, reason) in self.store(&prepared).await? {
                refused.push(index);
                if let Some(dead) = prepared.refused(index, reason) {
                    prepared.dead.push(dead);
                }
            }
        }
        self.count_stored(&prepared, &refused);

        if !prepared.dead.is_empty() {
            self.dead_letter(conn, shard, &prepared.dead).await?;
        }

        let ids: Vec<&str> = prepared.entry_ids.iter().map(String::as_str).collect();
        consumer::ack(conn, &stream, &ids).await?;
        self.metrics.ingest_batch_events.observe(events as f64);
        self.metrics
            .ingest_batch_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(handled)
    }

    /// Counts what the batch's commit stored (all but the `refused` indexes: rows first,
    /// then conversions), and how long after its click each stored click was committed.
    fn count_stored(&self, prepared: &batch::Prepared, refused: &[usize]) {
        let stored = |index: usize| !refused.contains(&index);
        let now = chrono::Utc::now();
        let counted = &self.metrics.ingested;
        for (index, row) in prepared.rows.iter().enumerate() {
            if stored(index) {
                counted.click.inc();
                let delay = (now - row.clicked_at).num_milliseconds().max(0) as f64 / 1000.0;
                self.metrics.ingest_delay.observe(delay);
            }
        }
        for (offset, ingested) in prepared.conversions.iter().enumerate() {
            if !stored(prepared.rows.len() + offset) {
                continue;
            }
            match ingested.event_type {
                ConversionEventType::Conversion => counted.conversion.inc(),
                ConversionEventType::Refund => counted.refund.inc(),
                ConversionEventType::Cancellation => counted.cancellation.inc(),
                ConversionEventType::Reattribution => counted.reattribution.inc(),
            }
        }
    }

    /// Keeps what cannot be ingested in the shard's dead-letter stream (trimmed to about
    /// `dead_letter_maxlen` entries), counted and logged once each: these entries are
    /// acknowledged next and never come back.
    async fn dead_letter(
        &self,
        conn: &mut MultiplexedConnection,
        shard: usize,
        dead: &[batch::DeadEntry],
    ) -> anyhow::Result<()> {
        let letters = dead.iter().map(|entry| DeadLetter {
            entry: &entry.entry_id,
            reason: &entry.reason,
            raw: &entry.raw,
        });
        consumer::dead_letter(
            conn,
            &self.keys.dead_letter(shard),
            self.config.dead_letter_maxlen,
            letters,
        )
        .await?;
        let outboxed: Vec<&str> = dead.iter().filter_map(|d| d.outboxed.as_deref()).collect();
        self.forget_outboxed(&outboxed).await?;
        for entry in dead {
            self.metrics
                .dead_letters
                .with_label_values(&[entry.why.as_str()])
                .inc();
            tracing::warn!(
                shard,
                entry = %entry.entry_id,
                why = entry.why.as_str(),
                reason = %entry.reason,
                "event dead-lettered"
            );
        }
        Ok(())
    }
}

/// `metrics` with every dead-letter reason a series from the start, so a rate over it is
/// defined before the first dead letter.
fn with_series(metrics: Arc<Metrics>) -> Arc<Metrics> {
    for why in batch::DeadReason::ALL {
        metrics.dead_letters.with_label_values(&[why.as_str()]);
    }
    metrics
}

/// What a shard's loop remembers between rounds.
struct ShardState {
    /// Entries delivered to this consumer and not acknowledged may exist: at start, after
    /// reconnecting, and after a failed round. Otherwise every batch read was acknowledged.
    own_pending: bool,
    /// When to look for entries other consumers left idle.
    next_claim: Instant,
}

impl ShardState {
    fn new() -> Self {
        ShardState {
            own_pending: true,
            next_claim: Instant::now(),
        }
    }
}

/// Between failed attempts while Redis or Postgres is away: at once for a blip, every
/// few seconds through an outage.
fn retry_backoff() -> Backoff {
    Backoff::new(FIRST_RETRY_DELAY, MAX_RETRY_DELAY)
}
