//! Prometheus metrics of the event pipeline, served at `GET /metrics`.
//!
//! Each process has its own registry (no global state), so several applications in one
//! process — as in the tests — count separately.

use prometheus::{Encoder, Gauge, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Click events made durable, by where: `redis` or `spool`.
    pub clicks_in_redis: IntCounter,
    pub clicks_in_spool: IntCounter,
    /// Click events written nowhere (queue full, or neither Redis nor the spool took them).
    pub clicks_unrecorded: IntCounter,
    /// Age of the oldest event not yet ingested, set when `GET /metrics` is served.
    pub ingest_lag_seconds: Gauge,
    /// Redirects served from a link-cache entry whose reload failed (Postgres away).
    pub link_cache_stale: IntCounter,
    /// Events this process's worker gave up on, by `reason` (see `worker::batch::DeadReason`).
    pub dead_letters: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let stored = IntCounterVec::new(
            Opts::new(
                "attrib_click_events_total",
                "Click events made durable before their redirect was answered, by where",
            ),
            &["durable_in"],
        )
        .unwrap_or_else(|_| unreachable!("the metric's name and labels are valid"));
        let unrecorded = IntCounter::new(
            "attrib_click_events_unrecorded_total",
            "Click events neither Redis nor the local spool took (the redirect still happened)",
        )
        .unwrap_or_else(|_| unreachable!("the metric's name is valid"));
        let ingest_lag_seconds = Gauge::new(
            "attrib_ingest_lag_seconds",
            "Age of the oldest event not yet ingested into Postgres (in a stream or the \
             outbox), read when scraped; 0 when none waits, NaN when Redis or Postgres \
             does not answer",
        )
        .unwrap_or_else(|_| unreachable!("the metric's name is valid"));
        let link_cache_stale = IntCounter::new(
            "attrib_link_cache_stale_total",
            "Link look-ups answered from an expired cache entry because its reload from \
             Postgres failed (stale if error)",
        )
        .unwrap_or_else(|_| unreachable!("the metric's name is valid"));
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "attrib_dead_letters_total",
                "Events the worker moved to a dead-letter stream instead of storing them, by \
                 reason: undecodable, unknown_link, or refused (by Postgres, on their own)",
            ),
            &["reason"],
        )
        .unwrap_or_else(|_| unreachable!("the metric's name and labels are valid"));
        // Registering distinct, valid collectors in a fresh registry cannot fail.
        let _ = registry.register(Box::new(stored.clone()));
        let _ = registry.register(Box::new(unrecorded.clone()));
        let _ = registry.register(Box::new(ingest_lag_seconds.clone()));
        let _ = registry.register(Box::new(dead_letters.clone()));
        let _ = registry.register(Box::new(link_cache_stale.clone()));
        Metrics {
            clicks_in_redis: stored.with_label_values(&["redis"]),
            clicks_in_spool: stored.with_label_values(&["spool"]),
            clicks_unrecorded: unrecorded,
            ingest_lag_seconds,
            dead_letters,
            link_cache_stale,
            registry,
        }
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
