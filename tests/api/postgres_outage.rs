//! While Postgres is away: links the process has cached keep redirecting past their TTL
//! (stale if error), only links it never saw answer 503; a management write that cannot
//! begin its transaction fails like any other storage failure.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener,
    },
    task::JoinHandle,
};

use attrib::worker::WorkerConfig;

use crate::helpers::{
    assert_conversion_rollups_match_facts, assert_rollups_match_facts, fresh_database,
    spawn_app_on, worker_for, TestApp,
};

/// A TCP proxy to Postgres that a test can cut (every connection closed, new ones refused
/// at once), hang (connections stay open, and whatever either side sends is held: a
/// partition, or a server stuck in a failover) and restore.
struct CuttableProxy {
    port: u16,
    mode: Arc<AtomicU8>,
    hang_on: Arc<Mutex<Option<Vec<u8>>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

const UP: u8 = 0;
const CUT: u8 = 1;
const HUNG: u8 = 2;

/// Copies `from` to `to` while the proxy is up; holds what it read while it hangs. With
/// `hang_on`, the proxy starts hanging when a client sends it (a statement's text): a
/// connection that answered the pool's ping, then stops in the middle of a request.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mode: Arc<AtomicU8>,
    hang_on: Arc<Mutex<Option<Vec<u8>>>>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let trigger = hang_on.lock().unwrap().clone();
        if trigger.is_some_and(|t| buffer[..read].windows(t.len()).any(|w| w == t)) {
            mode.store(HUNG, Ordering::SeqCst);
        }
        while mode.load(Ordering::SeqCst) == HUNG {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if mode.load(Ordering::SeqCst) == CUT || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl CuttableProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(UP));
        let hang_on: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepting = {
            let mode = mode.clone();
            let hang_on = hang_on.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if mode.load(Ordering::SeqCst) == CUT {
                        continue; // dropped: closed at once
                    }
                    let mode = mode.clone();
                    let hang_on = hang_on.clone();
                    let pipe = tokio::spawn(async move {
                        let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            forward(client_read, server_write, mode.clone(), hang_on),
                            forward(server_read, client_write, mode, Arc::default()),
                        );
                    });
                    connections.lock().unwrap().push(pipe);
                }
            })
        };
        CuttableProxy {
            port,
            mode,
            hang_on,
            connections,
            accepting,
        }
    }

    /// A Postgres URL through this proxy, for the database `direct` names.
    fn url_for(&self, direct: &str) -> String {
        let mut url = url::Url::parse(direct).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    fn drop_connections(&self) {
        for pipe in self.connections.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn cut(&self) {
        self.mode.store(CUT, Ordering::SeqCst);
        self.drop_connections();
    }

    fn hang(&self) {
        self.mode.store(HUNG, Ordering::SeqCst);
    }

    /// Hangs once a client sends `statement` (part of its text).
    fn hang_on(&self, statement: &str) {
        *self.hang_on.lock().unwrap() = Some(statement.as_bytes().to_vec());
    }

    fn restore(&self) {
        *self.hang_on.lock().unwrap() = None;
        // What was held while hung belongs to requests long given up on.
        self.drop_connections();
        self.mode.store(UP, Ordering::SeqCst);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// A service on a fresh database that reaches Postgres through a proxy of its own, with
/// `extra` settings; also the database's direct URL, for checks that bypass the proxy.
async fn app_behind_proxy(extra: &[(&str, &str)]) -> (TestApp, CuttableProxy, String) {
    let direct = fresh_database().await;
    let url = url::Url::parse(&direct).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let proxy = CuttableProxy::start(target).await;
    let app = spawn_app_on(&proxy.url_for(&direct), extra).await;
    (app, proxy, direct)
}

#[tokio::test]
async fn cached_links_keep_redirecting_while_postgres_is_away_for_longer_than_their_ttl() {
    // Given a service that reaches Postgres through a proxy, caches links for a second,
    // and has served the link `emma` once
    let (app, proxy, _) = app_behind_proxy(&[("ATTRIB_LINK_CACHE_SECONDS", "1")]).await;
    app.short_link("emma").await;
    let follow = |slug: &str| {
        app.client
            .get(format!("{}/{slug}", app.address))
            .header("user-agent", "Mozilla/5.0 (iPhone)")
            .send()
    };
    assert_eq!(follow("emma").await.unwrap().status(), 302);

    // When Postgres goes away for three times the cache's TTL
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Then the cached link still redirects, again and again, counted as stale serves
    for _ in 0..5 {
        let response = follow("emma").await.unwrap();
        assert_eq!(response.status(), 302);
        assert!(response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://shop.example.com/"));
    }
    assert!(app.metric("attrib_link_cache_stale_total").await >= 5);

    // And a link this process never saw cannot be looked up
    let unknown = follow("nora").await.unwrap();
    assert_eq!(unknown.status(), 503);
}

#[tokio::test]
async fn api_routes_answer_503_unavailable_with_retry_after_while_postgres_refuses() {
    // Given a service that reaches Postgres through a proxy, and a campaign
    let (app, proxy, _) = app_behind_proxy(&[("ATTRIB_DATABASE_TIMEOUT_SECONDS", "2")]).await;
    let campaign = app.campaign("summer").await;
    let path = format!("/v1/campaigns/{campaign}");

    // When Postgres refuses connections
    proxy.cut();

    // Then a read, a write and the readiness probe say so, at once and with a retry time
    let started = Instant::now();
    for response in [
        app.client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&app.admin_key)
            .send(),
        app.client
            .patch(format!("{}{path}", app.address))
            .bearer_auth(&app.admin_key)
            .json(&json!({"name": "x"}))
            .send(),
    ] {
        let response = response.await.unwrap();
        assert_eq!(response.status(), 503);
        assert!(
            response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let ready = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["postgres"], "unreachable");
    assert_eq!(ready.body["redis"], "ok");

    // And when it returns, so does the API, with nothing changed by the refused write
    proxy.restore();
    let after = app.get(&path).await;
    assert_eq!(after.assert_status(200)["name"], "Campaign summer");
}

#[tokio::test]
async fn a_hung_postgres_is_answered_503_within_the_database_timeout() {
    // Given a service with a 2 s database timeout, and a campaign it has read
    let (app, proxy, _) = app_behind_proxy(&[("ATTRIB_DATABASE_TIMEOUT_SECONDS", "2")]).await;
    let campaign = app.campaign("summer").await;
    let path = format!("/v1/campaigns/{campaign}");
    app.get(&path).await.assert_status(200);

    // When Postgres stops answering without closing anything
    proxy.hang();

    // Then reads and writes are answered 503 unavailable by the timeout, not left hanging
    let started = Instant::now();
    let (read, write) = tokio::join!(app.get(&path), app.patch(&path, json!({"name": "x"})));
    read.assert_error(503, "unavailable");
    write.assert_error(503, "unavailable");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "answered after {waited:?}");

    // And once it answers again, nothing was changed
    proxy.restore();
    assert_eq!(
        app.get(&path).await.assert_status(200)["name"],
        "Campaign summer"
    );
}

#[tokio::test]
async fn a_postgres_that_hangs_mid_request_is_answered_503_within_the_database_timeout() {
    // Given a service with a 2 s database timeout, and a campaign
    let (app, proxy, _) = app_behind_proxy(&[("ATTRIB_DATABASE_TIMEOUT_SECONDS", "2")]).await;
    let campaign = app.campaign("summer").await;
    let path = format!("/v1/campaigns/{campaign}");

    // When Postgres stops answering in the middle of a PATCH, on a connection that had
    // answered the pool's ping (the first UPDATE sends its statement's text)
    proxy.hang_on("UPDATE campaigns");
    let started = Instant::now();
    let write = app.patch(&path, json!({"name": "x"})).await;

    // Then the request is cut at the timeout and answered 503 unavailable
    write.assert_error(503, "unavailable");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "answered after {waited:?}");

    // And once Postgres answers again, the write it cut changed nothing
    proxy.restore();
    assert_eq!(
        app.get(&path).await.assert_status(200)["name"],
        "Campaign summer"
    );
}

/// The click id a redirect handed to the destination.
fn click_id_of(response: &reqwest::Response) -> String {
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "atid")
        .map(|(_, v)| v.into_owned())
        .expect("a click id")
}

async fn counts(db: &sqlx::PgPool, table: &str, id: &str) -> (i64, i64) {
    sqlx::query_as(&format!(
        "SELECT count(*), count(DISTINCT {id}) FROM {table}"
    ))
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_seconds_without_postgres_lose_nothing_and_store_nothing_twice() {
    // Given a service and its worker that reach Postgres through a proxy, a cached link,
    // and a shop that retries a refused conversion after `Retry-After`
    let (app, proxy, direct) = app_behind_proxy(&[
        ("ATTRIB_LINK_CACHE_SECONDS", "1"),
        ("ATTRIB_DATABASE_TIMEOUT_SECONDS", "2"),
    ])
    .await;
    let facts = sqlx::PgPool::connect(&direct).await.unwrap();
    app.short_link("emma").await;
    let worker = Arc::new(worker_for(
        &app,
        None,
        WorkerConfig {
            consumer: "outage".to_owned(),
            gather: Duration::ZERO,
            block: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
    ));
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(worker.clone().run(async {
        let _ = stopped.await;
    }));
    let follow = || app.visit("emma");
    let convert = |order: usize, click_id: &str| {
        app.client
            .post(format!("{}/v1/conversions", app.address))
            .bearer_auth(&app.admin_key)
            .json(
                &json!({"order_id": format!("order-{order}"), "amount_minor": 1000 + order,
                          "currency": "EUR", "click_id": click_id}),
            )
            .send()
    };
    let mut redirected = 0i64;
    let mut accepted = 0i64;
    let mut refused: Vec<(usize, String)> = Vec::new();
    for order in 0..3 {
        let response = follow().await;
        assert_eq!(response.status(), 302);
        redirected += 1;
        let click = click_id_of(&response);
        assert_eq!(convert(order, &click).await.unwrap().status(), 202);
        accepted += 1;
    }

    // When Postgres is away for 30 seconds while visitors click and the shop converts
    proxy.cut();
    let outage = Instant::now();
    let mut order = 3;
    while outage.elapsed() < Duration::from_secs(30) {
        let response = follow().await;
        assert_eq!(response.status(), 302, "a cached link during the outage");
        redirected += 1;
        if redirected % 25 == 0 {
            let click = click_id_of(&response);
            let answer = convert(order, &click).await.unwrap();
            assert_eq!(answer.status(), 503);
            assert!(answer.headers().contains_key("retry-after"));
            refused.push((order, click));
            order += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["postgres"], "unreachable");
    proxy.restore();
    for (order, click) in &refused {
        assert_eq!(convert(*order, click).await.unwrap().status(), 202);
        accepted += 1;
    }

    // Then the worker resumes by itself, and every click and conversion is stored once
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clicks = counts(&facts, "clicks", "click_id").await;
        let conversions = counts(&facts, "conversions", "order_id").await;
        if (clicks.0 >= redirected && conversions.0 >= accepted) || Instant::now() > deadline {
            assert_eq!(clicks, (redirected, redirected), "clicks (all, distinct)");
            assert_eq!(
                conversions,
                (accepted, accepted),
                "conversions (all, distinct)"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        refused.len() >= 5,
        "only {} conversions refused",
        refused.len()
    );
    // And the rollups equal a recount once the outbox is empty
    let deadline = Instant::now() + Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox")
        .fetch_one(&facts)
        .await
        .unwrap()
        > 0
    {
        assert!(Instant::now() < deadline, "the outbox did not empty");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_rollups_match_facts(&facts).await;
    assert_conversion_rollups_match_facts(&facts).await;
    let _ = stop_worker.send(());
    worker_task.await.unwrap().unwrap();
}
