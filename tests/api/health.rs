use crate::{
    helpers::{spawn_app, spawn_app_with},
    outage::OwnedRedis,
};
use reqwest::Method;

#[tokio::test]
async fn healthz_answers_without_a_key() {
    let app = spawn_app().await;
    let reply = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(reply.assert_status(200)["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_postgres_and_redis_reachable() {
    let app = spawn_app().await;
    let reply = app.send(Method::GET, "/readyz", None, None).await;
    let body = reply.assert_status(200);
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
}

/// Connections Redis has accepted since it started.
async fn connections_received(redis_url: &str) -> u64 {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_connections_received in INFO stats")
}

#[tokio::test]
async fn readyz_reuses_its_redis_connection() {
    // Given an app on a Redis of this test's own, probed once
    let redis = OwnedRedis::start();
    let app = spawn_app_with(&[("ATTRIB_REDIS_URL", &redis.url())]).await;
    app.send(Method::GET, "/readyz", None, None)
        .await
        .assert_status(200);
    let before = connections_received(&redis.url()).await;

    // When the probe runs many more times
    for _ in 0..20 {
        app.send(Method::GET, "/readyz", None, None)
            .await
            .assert_status(200);
    }

    // Then Redis saw no new connection for them (one is this test's own count)
    let opened = connections_received(&redis.url()).await - before;
    assert!(opened <= 2, "{opened} connections for 20 probes");
}

#[tokio::test]
async fn readyz_is_503_and_names_redis_when_redis_is_unreachable() {
    // Given a Redis URL where nothing listens (port 1 is never a Redis server)
    let app = spawn_app_with(&[("ATTRIB_REDIS_URL", "redis://127.0.0.1:1")]).await;
    // When the readiness probe runs
    let reply = app.send(Method::GET, "/readyz", None, None).await;
    // Then it is not ready, and says which dependency is missing
    let body = reply.assert_status(503);
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "unreachable");
    // And the metrics still answer, with an ingest lag that cannot be told
    let lag = app.gauge("attrib_ingest_lag_seconds").await;
    assert!(lag.is_nan(), "lag without Redis: {lag}");
}

#[tokio::test]
async fn metrics_count_click_events_by_where_they_were_made_durable() {
    let app = spawn_app().await;
    app.short_link("emma").await;
    let stored = r#"attrib_click_events_total{durable_in="redis"}"#;
    assert_eq!(app.metric(stored).await, 0);

    for _ in 0..3 {
        let reply = app
            .client
            .get(format!("{}/emma", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 302);
    }
    app.client
        .head(format!("{}/emma", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(app.metric(stored).await, 3, "HEAD records nothing");
    assert_eq!(
        app.metric(r#"attrib_click_events_total{durable_in="spool"}"#)
            .await,
        0
    );
    let reply = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
}
