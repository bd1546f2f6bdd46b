//! Prometheus metrics, served at `GET /metrics`.
//!
//! Each process has its own registry (no global state), so several applications in one
//! process — as in the tests — count separately. Every label takes values from a fixed
//! set (a route template, a method, a status, an outcome, a shard number): never a slug,
//! a code, an id, a URL or an address. Series that code on a hot path increments are
//! resolved once here, so counting is an atomic add, with no lock and no allocation.

use prometheus::{
    core::Collector, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Outcomes of `GET /{slug}`: the label values of `attrib_redirects_total`.
pub struct Redirects {
    /// To the link's destination.
    pub redirect: IntCounter,
    /// To the destination of a rule that matched the visitor.
    pub rule: IntCounter,
    /// A disabled, expired or used-up link sent to its fallback URL.
    pub fallback: IntCounter,
    /// The same without a fallback: `410`.
    pub gone: IntCounter,
    /// No such link: `404`.
    pub not_found: IntCounter,
}

/// Events the worker stored, by kind.
pub struct Ingested {
    pub click: IntCounter,
    pub conversion: IntCounter,
    pub refund: IntCounter,
    pub cancellation: IntCounter,
    pub reattribution: IntCounter,
}

pub struct Metrics {
    registry: Registry,
    /// Click events made durable, by where: `redis` or `spool`.
    pub clicks_in_redis: IntCounter,
    pub clicks_in_spool: IntCounter,
    /// Click events written nowhere (queue full, or neither Redis nor the spool took them).
    pub clicks_unrecorded: IntCounter,
    /// Events this process spooled that its replayer has not moved back to Redis yet.
    pub spool_events: IntGauge,
    /// Age of the oldest event not yet ingested, set when `GET /metrics` is served.
    pub ingest_lag_seconds: Gauge,
    /// Redirects served from a link-cache entry whose reload failed (Postgres away).
    pub link_cache_stale: IntCounter,
    pub link_cache_hits: IntCounter,
    pub link_cache_misses: IntCounter,
    pub redirects: Redirects,
    /// Requests by `route` (template), `method` and `status`; see [`crate::http::request_metrics`].
    pub http_requests: IntCounterVec,
    pub http_request_duration: HistogramVec,
    /// Stream entries and those delivered but not acknowledged, per shard; read when scraped.
    pub stream_entries: IntGaugeVec,
    pub stream_pending: IntGaugeVec,
    pub ingested: Ingested,
    pub ingest_batch_events: Histogram,
    pub ingest_batch_duration: Histogram,
    /// From a click to the commit that stored it.
    pub ingest_delay: Histogram,
    /// Events this process's worker gave up on, by `reason` (see `worker::batch::DeadReason`).
    pub dead_letters: IntCounterVec,
    /// Redemption requests and moves, by `outcome`.
    pub redemptions: IntCounterVec,
    /// Conversions recorded, by `status`.
    pub conversions: IntCounterVec,
    /// The Postgres pool, by `state` (`idle`, `in_use`); read when scraped.
    pub db_pool_connections: IntGaugeVec,
}

/// Registers `collector` in `registry` and hands it back. Names, help texts and labels
/// are literals of this module, checked by its tests, so neither step can fail at run time.
fn registered<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: prometheus::Result<C>,
) -> C {
    let collector = collector.unwrap_or_else(|e| unreachable!("invalid metric: {e}"));
    if let Err(e) = registry.register(Box::new(collector.clone())) {
        unreachable!("metric registered twice: {e}");
    }
    collector
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    registered(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)),
    )
}

/// Seconds, from a fraction of a millisecond (a cached redirect) to ten seconds.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let stored = counter_vec(
            &registry,
            "attrib_click_events_total",
            "Click events made durable before their redirect was answered, by where",
            &["durable_in"],
        );
        let clicks_unrecorded = registered(
            &registry,
            IntCounter::new(
                "attrib_click_events_unrecorded_total",
                "Click events neither Redis nor the local spool took (the redirect still happened)",
            ),
        );
        let spool_events = registered(
            &registry,
            IntGauge::new(
                "attrib_spool_events",
                "Events this process wrote to its local spool that are not back in Redis yet",
            ),
        );
        let ingest_lag_seconds = registered(
            &registry,
            Gauge::new(
                "attrib_ingest_lag_seconds",
                "Age of the oldest event not yet ingested into Postgres (in a stream or the \
                 outbox), read when scraped; 0 when none waits, NaN when Redis or Postgres \
                 does not answer",
            ),
        );
        let link_cache_stale = registered(
            &registry,
            IntCounter::new(
                "attrib_link_cache_stale_total",
                "Link look-ups answered from an expired cache entry because its reload from \
                 Postgres failed (stale if error)",
            ),
        );
        let link_cache = counter_vec(
            &registry,
            "attrib_link_cache_requests_total",
            "Link look-ups of redirects and QR codes, by result: hit (in this process's \
             cache) or miss (read from Postgres)",
            &["result"],
        );
        let redirects = counter_vec(
            &registry,
            "attrib_redirects_total",
            "Answers of GET /{slug}, by outcome: redirect, rule, fallback, gone, not_found",
            &["outcome"],
        );
        let http_requests = counter_vec(
            &registry,
            "attrib_http_requests_total",
            "HTTP requests answered, by route template, method and status",
            &["route", "method", "status"],
        );
        let http_request_duration = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "attrib_http_request_duration_seconds",
                    "Time from a request's arrival to its response, by route template and method",
                )
                .buckets(latency_buckets()),
                &["route", "method"],
            ),
        );
        let stream_entries = gauge_vec(
            &registry,
            "attrib_stream_entries",
            "Entries in each event stream shard (an entry packs one or more events), read \
             when scraped",
            &["shard"],
        );
        let stream_pending = gauge_vec(
            &registry,
            "attrib_stream_pending",
            "Entries of each shard delivered to a worker and not yet acknowledged, read when \
             scraped",
            &["shard"],
        );
        let ingested = counter_vec(
            &registry,
            "attrib_ingest_events_total",
            "Events the worker stored in Postgres, by kind",
            &["kind"],
        );
        let ingest_batch_events = histogram(
            &registry,
            "attrib_ingest_batch_events",
            "Events per batch the worker handled",
            vec![
                1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
            ],
        );
        let ingest_batch_duration = histogram(
            &registry,
            "attrib_ingest_batch_duration_seconds",
            "Time the worker took to store and acknowledge a batch",
            latency_buckets(),
        );
        let ingest_delay = histogram(
            &registry,
            "attrib_ingest_delay_seconds",
            "Time from a click to the commit that stored it",
            vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
            ],
        );
        let dead_letters = counter_vec(
            &registry,
            "attrib_dead_letters_total",
            "Events the worker moved to a dead-letter stream instead of storing them, by \
             reason: undecodable, unknown_link, or refused (by Postgres, on their own)",
            &["reason"],
        );
        let redemptions = counter_vec(
            &registry,
            "attrib_redemptions_total",
            "Redemption requests and moves, by outcome: committed, reserved, released, \
             expired, cancelled, replayed, or the rejection code",
            &["outcome"],
        );
        let conversions = counter_vec(
            &registry,
            "attrib_conversions_total",
            "Conversions recorded, by status: attributed, unattributed, unqualified",
            &["status"],
        );
        let db_pool_connections = gauge_vec(
            &registry,
            "attrib_db_pool_connections",
            "Connections of this process's Postgres pool, by state: idle, in_use; read when \
             scraped",
            &["state"],
        );
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            let _ = registry.register(Box::new(process));
        }

        let metrics = Metrics {
            clicks_in_redis: stored.with_label_values(&["redis"]),
            clicks_in_spool: stored.with_label_values(&["spool"]),
            clicks_unrecorded,
            spool_events,
            ingest_lag_seconds,
            link_cache_stale,
            link_cache_hits: link_cache.with_label_values(&["hit"]),
            link_cache_misses: link_cache.with_label_values(&["miss"]),
            redirects: Redirects {
                redirect: redirects.with_label_values(&["redirect"]),
                rule: redirects.with_label_values(&["rule"]),
                fallback: redirects.with_label_values(&["fallback"]),
                gone: redirects.with_label_values(&["gone"]),
                not_found: redirects.with_label_values(&["not_found"]),
            },
            http_requests,
            http_request_duration,
            stream_entries,
            stream_pending,
            ingested: Ingested {
                click: ingested.with_label_values(&["click"]),
                conversion: ingested.with_label_values(&["conversion"]),
                refund: ingested.with_label_values(&["refund"]),
                cancellation: ingested.with_label_values(&["cancellation"]),
                reattribution: ingested.with_label_values(&["reattribution"]),
            },
            ingest_batch_events,
            ingest_batch_duration,
            ingest_delay,
            dead_letters,
            redemptions,
            conversions,
            db_pool_connections,
            registry,
        };
        // Series that exist from the start, so a rate over them is defined before the
        // first event.
        for outcome in [
            "committed",
            "reserved",
            "released",
            "expired",
            "cancelled",
            "replayed",
        ] {
            metrics.redemptions.with_label_values(&[outcome]);
        }
        for status in ["attributed", "unattributed", "unqualified"] {
            metrics.conversions.with_label_values(&[status]);
        }
        metrics
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_valid_and_rendered() {
        let metrics = Metrics::new();
        metrics.redirects.redirect.inc();
        let text = metrics.render();
        for family in [
            "attrib_click_events_total",
            "attrib_redirects_total",
            "attrib_redemptions_total",
            "attrib_conversions_total",
            "attrib_ingest_events_total",
            "attrib_ingest_delay_seconds",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
        }
    }
}
