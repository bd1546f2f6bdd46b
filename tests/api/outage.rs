//! Redirects while Redis is down: every visitor is redirected, every click is spooled, and
//! the spool reaches Redis once it is back — each click exactly once.

use std::{
    collections::HashSet,
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use attrib::{auth::Scope, pipeline::keys::Keys, worker::WorkerConfig};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    create_key, draining, spawn_app_with, stream_clicks, stream_entries, worker_for, TestApp,
};

/// A Redis server of this test's own, on a free port, stopped when dropped.
pub(crate) struct OwnedRedis {
    port: u16,
    child: Option<Child>,
    /// Its working directory: whatever it writes (an append-only file a test turns on)
    /// goes there, and is removed with it.
    _dir: tempfile::TempDir,
}

impl OwnedRedis {
    fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// A replica of `master` (asynchronous, as Redis replicates), once it has synced.
    pub(crate) fn replica_of(master: &OwnedRedis, port: Option<u16>) -> Self {
        let port = port.unwrap_or_else(free_port);
        let replica = Self::start_with(
            port,
            &["--replicaof", "127.0.0.1", &master.port.to_string()],
        );
        let client = redis::Client::open(replica.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        for _ in 0..200 {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut conn)
                .unwrap();
            if info.contains("master_link_status:up") {
                return replica;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the replica on port {port} did not sync");
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    fn start_with(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/services.sh installs it)");
        let redis = OwnedRedis {
            port,
            child: Some(child),
            _dir: dir,
        };
        redis.wait_until_up();
        redis
    }

    pub(crate) fn start() -> Self {
        Self::start_on(free_port())
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_until_up(&self) {
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..100 {
            if let Ok(mut conn) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Killed (SIGKILL), as a crashed server is.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Drop for OwnedRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn stream_click_ids(app: &TestApp, redis_url: &str) -> Vec<String> {
    stream_clicks(app, redis_url)
        .await
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn spool_files(app: &TestApp) -> usize {
    std::fs::read_dir(&app.settings.spool_dir)
        .map(|dir| dir.filter_map(Result::ok).count())
        .unwrap_or(0)
}

#[tokio::test]
async fn clicks_during_a_redis_outage_are_spooled_and_arrive_once_when_it_returns() {
    // Given an app whose Redis is its own
    let mut redis = OwnedRedis::start();
    let redis_url = redis.url();
    let app = spawn_app_with(&[("ATTRIB_REDIS_URL", redis_url.as_str())]).await;
    app.short_link("emma").await;

    // When Redis goes away and visitors keep clicking
    redis.stop();
    let mut issued = Vec::new();
    for _ in 0..20 {
        let response = app
            .client
            .get(format!("{}/emma", app.address))
            .send()
            .await
            .unwrap();
        // Then every one of them is redirected
        assert_eq!(response.status(), 302);
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let id = location
            .query_pairs()
            .find(|(k, _)| k == "atid")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        issued.push(id);
    }
    assert!(spool_files(&app) > 0, "the clicks wait in the spool");
    let spooled = r#"attrib_click_events_total{durable_in="spool"}"#;
    assert_eq!(app.metric(spooled).await, 20);

    // And when Redis is back, the spool drains into it, each click once
    let _back = OwnedRedis::start_on(redis.port);
    let mut arrived = Vec::new();
    for _ in 0..100 {
        arrived = stream_click_ids(&app, &redis_url).await;
        if arrived.len() >= issued.len() && spool_files(&app) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(spool_files(&app), 0, "the spool is emptied");
    let unique: HashSet<&String> = arrived.iter().collect();
    assert_eq!(arrived.len(), unique.len(), "no click twice");
    assert_eq!(
        unique,
        issued.iter().collect::<HashSet<_>>(),
        "every click arrived"
    );

    // And new clicks go straight to Redis again
    app.client
        .get(format!("{}/emma", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(stream_click_ids(&app, &redis_url).await.len(), 21);
    let direct = r#"attrib_click_events_total{durable_in="redis"}"#;
    assert_eq!(app.metric(direct).await, 1);
    assert_eq!(app.metric("attrib_click_events_unrecorded_total").await, 0);

    // And the worker stores each of them exactly once
    let worker = worker_for(&app, None, WorkerConfig::default());
    worker.drain().await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT click_id FROM clicks")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 21);
    assert!(issued.iter().all(|id| stored.contains(id)));
}

#[tokio::test]
async fn the_service_and_its_worker_start_without_redis_and_catch_up_when_it_comes() {
    // Given a Redis that is not running yet
    let mut redis = OwnedRedis::start();
    let port = redis.port;
    redis.stop();
    let redis_url = format!("redis://127.0.0.1:{port}");
    let app = spawn_app_with(&[("ATTRIB_REDIS_URL", redis_url.as_str())]).await;
    let worker = Arc::new(worker_for(
        &app,
        None,
        WorkerConfig {
            block: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    // When a visitor clicks, and only later Redis starts
    app.short_link("emma").await;
    let response = app
        .client
        .get(format!("{}/emma", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let _redis = OwnedRedis::start_on(port);

    // Then the spooled click reaches Postgres through the worker that waited for Redis
    let mut stored = 0i64;
    for _ in 0..100 {
        stored = sqlx::query_scalar("SELECT count(*) FROM clicks")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if stored == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, 1);
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn conversion_events_relayed_before_redis_restarts_empty_are_stored_once() {
    // Given a service without a worker, on a Redis of its own that keeps nothing on disk,
    // which took a conversion and a refund and relayed both to the streams
    let mut redis = OwnedRedis::start();
    let redis_url = redis.url();
    let app = spawn_app_with(&[("ATTRIB_REDIS_URL", redis_url.as_str())]).await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    app.post(
        "/v1/codes",
        json!({"code": "EMMA20", "campaign_id": campaign, "influencer_id": influencer,
               "discount_kind": "percent", "discount_value": 2000}),
    )
    .await
    .assert_status(201);
    let checkout = create_key(&app.db, "shop", Scope::Checkout).await;
    let order = json!({"order_id": "o-1", "amount_minor": 5000, "currency": "EUR",
                       "code": "EMMA20"});
    app.send(
        Method::POST,
        "/v1/conversions",
        Some(&checkout),
        Some(&order),
    )
    .await
    .assert_status(202);
    app.send(
        Method::POST,
        "/v1/conversions/o-1/refunds",
        Some(&checkout),
        Some(&json!({"amount_minor": 1000})),
    )
    .await
    .assert_status(200);
    let relayed = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE relayed_at IS NOT NULL")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let events_in_redis = || async {
        let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
        let mut events = 0;
        for shard in 0..keys.shards() {
            for (_, fields) in stream_entries(&redis_url, &keys.stream(shard)).await {
                events += fields
                    .iter()
                    .map(|(_, lines)| lines.lines().count())
                    .sum::<usize>();
            }
        }
        events
    };
    for _ in 0..100 {
        if relayed().await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(relayed().await, 2, "both events were relayed");
    assert_eq!(events_in_redis().await, 2);

    // When Redis restarts empty
    redis.stop();
    let _back = OwnedRedis::start_on(redis.port);
    assert_eq!(events_in_redis().await, 0, "the restart lost the streams");

    // Then the relay finds its events gone and sends them again
    for _ in 0..200 {
        if events_in_redis().await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events_in_redis().await, 2, "the events are in Redis again");

    // And a worker stores each of them once, and the outbox is empty after it
    worker_for(&app, None, WorkerConfig::default())
        .drain()
        .await
        .unwrap();
    let (events, revenue, refunded, outbox): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversion_events),
                (SELECT saturating_bigint(sum(revenue_minor)) FROM conversion_rollups),
                (SELECT saturating_bigint(sum(refunded_minor)) FROM conversion_rollups),
                (SELECT count(*) FROM outbox)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((events, revenue, refunded, outbox), (2, 5000, 1000, 0));
}

#[tokio::test]
async fn redis_without_persistence_is_recognised() {
    let redis = OwnedRedis::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let volatile = attrib::pipeline::persistence::read(&mut conn).await;
    assert_eq!(volatile, attrib::pipeline::persistence::Persistence::None);
    assert!(volatile.risk().is_some());

    redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let durable = attrib::pipeline::persistence::read(&mut conn).await;
    assert!(
        matches!(
            durable,
            attrib::pipeline::persistence::Persistence::AppendOnly { .. }
        ),
        "{durable:?}"
    );
    assert_eq!(durable.risk(), None);
}

fn spool_bytes(app: &TestApp) -> u64 {
    std::fs::read_dir(&app.settings.spool_dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_full_spool_still_redirects_but_counts_the_clicks_it_cannot_keep() {
    // Given an app whose spool has room for a few clicks only, and whose Redis is away
    let mut redis = OwnedRedis::start();
    let redis_url = redis.url();
    let cap: u64 = 2048;
    let app = spawn_app_with(&[
        ("ATTRIB_REDIS_URL", redis_url.as_str()),
        ("ATTRIB_SPOOL_MAX_BYTES", &cap.to_string()),
    ])
    .await;
    app.short_link("emma").await;
    redis.stop();

    // When visitors keep clicking
    for _ in 0..20 {
        let response = app
            .client
            .get(format!("{}/emma", app.address))
            .send()
            .await
            .unwrap();
        // Then every one of them is still redirected
        assert_eq!(response.status(), 302);
    }

    // And the spool keeps what fits, never more than its cap
    let spooled = app
        .metric(r#"attrib_click_events_total{durable_in="spool"}"#)
        .await;
    let unrecorded = app.metric("attrib_click_events_unrecorded_total").await;
    assert!(spooled > 0, "the first clicks are spooled");
    assert!(unrecorded > 0, "the rest are counted as unrecorded");
    assert_eq!(spooled + unrecorded, 20);
    assert!(spool_bytes(&app) <= cap, "{} bytes", spool_bytes(&app));

    // And the ones it kept reach Redis when it is back
    let _back = OwnedRedis::start_on(redis.port);
    let mut arrived = 0;
    for _ in 0..100 {
        arrived = stream_click_ids(&app, &redis_url).await.len() as u64;
        if arrived >= spooled && spool_files(&app) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(arrived, spooled);
    let _ = std::fs::remove_dir_all(&app.settings.spool_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_no_replica_acknowledged_are_spooled_too_and_stored_once() {
    // Given a Redis master with one replica, and a service that wants one replica to
    // acknowledge each click batch
    let master = OwnedRedis::start();
    let mut replica = OwnedRedis::replica_of(&master, None);
    let app = spawn_app_with(&[
        ("ATTRIB_REDIS_URL", &master.url()),
        ("ATTRIB_REDIS_MIN_REPLICAS", "1"),
    ])
    .await;
    app.short_link("emma").await;
    let follow = || async { assert_eq!(app.visit("emma").await.status(), 302) };
    for _ in 0..3 {
        follow().await;
    }
    assert_eq!(
        app.metric(r#"attrib_click_events_total{durable_in="redis"}"#)
            .await,
        3
    );
    assert_eq!(spool_files(&app), 0);

    // When the replica dies, clicks still redirect, and go to the spool as well
    let replica_port = replica.port();
    replica.stop();
    for _ in 0..3 {
        follow().await;
    }
    assert_eq!(
        app.metric(r#"attrib_click_events_total{durable_in="spool"}"#)
            .await,
        3
    );
    // and the spool keeps them while no replica can take their replay
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        spool_files(&app) > 0,
        "the spool let go of unreplicated clicks"
    );

    // Then once a replica is back, the spool is replayed and emptied
    let _replica = OwnedRedis::replica_of(&master, Some(replica_port));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while spool_files(&app) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the spool was not replayed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // and each click is stored once, though the streams hold some twice
    let worker = worker_for(&app, None, draining("replicas", None));
    worker.drain().await.unwrap();
    let (stored, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT click_id) FROM clicks")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((stored, distinct), (6, 6));
    assert!(stream_click_ids(&app, &master.url()).await.len() > 6);
}
