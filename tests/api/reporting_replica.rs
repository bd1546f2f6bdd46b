//! Reports read from a streaming replica (`ATTRIB_REPORTS_DATABASE_URL`), everything else
//! from the primary; while the replica lags, a report says so in `as_of` and
//! `ingest_lag_seconds` rather than passing old figures off as current.

use std::time::{Duration, Instant};

use attrib::{auth::Scope, storage};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::helpers::{
    create_key, draining, spawn_app_on, worker_for, PrimaryAndStandby, Reply, TestApp,
};

async fn fetch_report(app: &TestApp, key: &str, campaign: &str) -> Reply {
    app.send(
        reqwest::Method::GET,
        &format!("/v1/reports/campaigns/{campaign}"),
        Some(key),
        None,
    )
    .await
}

async fn report(app: &TestApp, key: &str, campaign: &str) -> Value {
    fetch_report(app, key, campaign)
        .await
        .assert_status(200)
        .clone()
}

/// The campaign report once it counts `clicks`, read within 20 s (until the standby has
/// replayed the campaign itself, it is a 404).
async fn report_with_clicks(app: &TestApp, key: &str, campaign: &str, clicks: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = fetch_report(app, key, campaign).await;
        let body = reply.body;
        if reply.status == 200 && body["totals"]["clicks"] == json!(clicks) {
            return body;
        }
        assert!(Instant::now() < deadline, "never {clicks} clicks: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn follow(app: &TestApp) {
    assert_eq!(app.visit("emma").await.status(), 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_read_the_replica_and_say_how_far_behind_it_is() {
    // Given a primary with a streaming standby, and attrib reading reports from the standby
    let pair = PrimaryAndStandby::start();
    let mut admin = PgConnection::connect(&pair.primary_url("postgres"))
        .await
        .unwrap();
    admin.execute("CREATE DATABASE attrib").await.unwrap();
    let (primary_url, standby_url) = (pair.primary_url("attrib"), pair.standby_url("attrib"));
    let primary = PgPool::connect(&primary_url).await.unwrap();
    storage::migrate(&primary).await.unwrap();
    let app = spawn_app_on(
        &primary_url,
        &[("ATTRIB_REPORTS_DATABASE_URL", standby_url.as_str())],
    )
    .await;
    let analyst = create_key(&app.db, "analyst", Scope::Analyst).await;
    let link = app.short_link("emma").await;
    let campaign = app.get(&format!("/v1/links/{link}")).await.body["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let worker = worker_for(&app, None, draining("replica", None));
    follow(&app).await;
    worker.drain().await.unwrap();
    report_with_clicks(&app, &analyst, &campaign, 1).await;

    // When the standby stops replaying, and a second click is stored on the primary
    let mut standby = PgConnection::connect(&standby_url).await.unwrap();
    standby
        .execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let paused_at = Utc::now();
    follow(&app).await;
    worker.drain().await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT sum(clicks)::bigint FROM click_rollups")
        .fetch_one(&primary)
        .await
        .unwrap();
    assert_eq!(stored, 2, "the primary has both clicks");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Then the report still shows one click, and says its figures are from before the pause
    let behind = report(&app, &analyst, &campaign).await;
    assert_eq!(behind["totals"]["clicks"], 1, "{behind}");
    let as_of: DateTime<Utc> = behind["as_of"].as_str().unwrap().parse().unwrap();
    assert!(
        as_of <= paused_at,
        "as_of {as_of} is after the pause at {paused_at}"
    );
    let lag = behind["ingest_lag_seconds"].as_f64().unwrap();
    assert!(lag >= 2.0, "ingest_lag_seconds {lag}");
    // and what is not a report reads the primary: the link's counters see both clicks
    let counted = app.get(&format!("/v1/links/{link}")).await.body;
    assert_eq!(counted["clicks"], 2, "{counted}");

    // And once the standby replays again, the report catches up and is current
    standby
        .execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    let current = report_with_clicks(&app, &analyst, &campaign, 2).await;
    let lag = current["ingest_lag_seconds"].as_f64().unwrap();
    assert!(lag < 2.0, "ingest_lag_seconds {lag} after catching up");
    primary.close().await;
}
