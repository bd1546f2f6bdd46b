//! The ingest pipeline as tests see it: the events in the app's Redis streams, and a worker
//! configured to drain them on demand.

use super::app::TestApp;

/// Every entry of a Redis stream, as (entry id, field-value pairs).
pub async fn stream_entries(redis_url: &str, key: &str) -> Vec<(String, Vec<(String, String)>)> {
    let client = redis::Client::open(redis_url).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE")
}

/// The click events in every shard of the app's streams (on `redis_url`).
pub async fn stream_clicks(
    app: &TestApp,
    redis_url: &str,
) -> Vec<attrib::pipeline::events::ClickEvent> {
    use attrib::pipeline::events::Event;
    let keys =
        attrib::pipeline::keys::Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let mut clicks = Vec::new();
    for shard in 0..keys.shards() {
        for (_, fields) in stream_entries(redis_url, &keys.stream(shard)).await {
            for (_, payload) in fields {
                for line in Event::lines_of(payload.as_bytes()) {
                    if let Event::Click(click) = Event::from_json(line).expect("an event") {
                        clicks.push(click);
                    }
                }
            }
        }
    }
    clicks
}

/// A worker on the app's database, Redis and key prefix.
pub fn worker_for(
    app: &TestApp,
    geo: Option<std::sync::Arc<attrib::enrich::geo::GeoIp>>,
    config: attrib::worker::WorkerConfig,
) -> attrib::worker::Worker {
    attrib::worker::Worker::new(
        app.db.clone(),
        redis::Client::open(app.settings.redis_url.as_str()).expect("Redis URL"),
        attrib::pipeline::keys::Keys::new(&app.settings.redis_prefix, app.settings.stream_shards),
        geo,
        config,
    )
}

/// For tests that drain: one read takes every entry a test makes, nothing waits for more,
/// and other consumers' entries may be claimed at once.
pub fn draining(
    consumer: &str,
    fail_point: Option<attrib::worker::FailPoint>,
) -> attrib::worker::WorkerConfig {
    attrib::worker::WorkerConfig {
        consumer: consumer.to_owned(),
        batch_size: 10_000,
        read_size: 10_000,
        gather: std::time::Duration::ZERO,
        claim_idle: std::time::Duration::from_millis(0),
        block: std::time::Duration::from_millis(100),
        fail_point,
        ..attrib::worker::WorkerConfig::default()
    }
}
