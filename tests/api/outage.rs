//! Redirects while Redis is down: every visitor is redirected, every click is spooled, and
//! the spool reaches Redis once it is back — each click exactly once.

use std::{
    collections::HashSet,
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use attrib::worker::WorkerConfig;

use crate::helpers::{spawn_app_with, stream_clicks, worker_for, TestApp};

/// A Redis server of this test's own, on a free port, stopped when dropped.
pub(crate) struct OwnedRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnedRedis {
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/services.sh installs it)");
        let redis = OwnedRedis {
            port,
            child: Some(child),
        };
        redis.wait_until_up();
        redis
    }

    pub(crate) fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
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

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
