//! The in-process caches of API keys and of code terms: a look-up that read its row before
//! a change was announced does not keep that row after it. Two apps share a database and a
//! Redis prefix; one reaches Postgres through a proxy that can hold back its answers, so
//! its look-up is caught between its read and its store while the other app changes the
//! row and announces it.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use attrib::auth::Scope;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::helpers::{create_key, fresh_database, spawn_app_on, TestApp};

/// Long enough for a request to reach its look-up, or an announcement its subscriber.
const SETTLE: Duration = Duration::from_millis(300);

/// A TCP proxy to Postgres that forwards everything, except that while it holds for a
/// marker, the answers on a connection that sent the marker (a query's parameter, so a
/// prepared statement is caught too) wait. Holding only those, not every answer, lets the
/// pool's own checks pass, so the query is sent and read before its answer is held.
struct SlowPostgres {
    url: String,
    marker: Arc<Mutex<Option<Vec<u8>>>>,
}

impl SlowPostgres {
    async fn start(database_url: &str) -> Self {
        let mut url = url::Url::parse(database_url).unwrap();
        let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(listener.local_addr().unwrap().port()))
            .unwrap();
        let marker: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let shared = marker.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (marker, upstream) = (shared.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let caught = AtomicBool::new(false);
                    let holding =
                        || caught.load(Ordering::SeqCst) && marker.lock().unwrap().is_some();
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from_client.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if let Some(m) = marker.lock().unwrap().as_deref() {
                                if buf[..n].windows(m.len()).any(|w| w == m) {
                                    caught.store(true, Ordering::SeqCst);
                                }
                            }
                            if to_server.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from_server.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            while holding() {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            if to_client.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! {
                        () = up => {}
                        () = down => {}
                    }
                });
            }
        });
        SlowPostgres {
            url: url.to_string(),
            marker,
        }
    }

    /// Holds the answers to queries that carry `marker` from now on.
    fn hold_answers_to(&self, marker: &str) {
        *self.marker.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }

    fn release(&self) {
        *self.marker.lock().unwrap() = None;
    }
}

/// `slow` behind the proxy, `direct` on the same database and Redis prefix.
async fn two_apps() -> (SlowPostgres, TestApp, TestApp) {
    let database_url = fresh_database().await;
    let proxy = SlowPostgres::start(&database_url).await;
    let slow = spawn_app_on(&proxy.url, &[]).await;
    let direct = spawn_app_on(
        &database_url,
        &[("ATTRIB_REDIS_PREFIX", &slow.settings.redis_prefix)],
    )
    .await;
    (proxy, slow, direct)
}

async fn call(app: &TestApp, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", app.address);
    let request = match body {
        Some(body) => app.client.post(url).json(&body),
        None => app.client.get(url),
    };
    let response = request.bearer_auth(key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_key_revoked_while_its_lookup_is_in_flight_is_not_cached_as_valid() {
    let (proxy, slow, direct) = two_apps().await;
    let created = direct
        .post("/v1/api-keys", json!({"name": "ops", "scope": "admin"}))
        .await;
    let body = created.assert_status(201).clone();
    let (id, key) = (body["id"].as_str().unwrap(), body["key"].as_str().unwrap());

    // Given the slow app reading the key, its answer held back
    proxy.hold_answers_to(body["prefix"].as_str().unwrap());
    let first = {
        let (client, url, key) = (
            slow.client.clone(),
            format!("{}/v1/campaigns", slow.address),
            key.to_owned(),
        );
        tokio::spawn(async move { client.get(url).bearer_auth(key).send().await })
    };
    tokio::time::sleep(SETTLE).await;

    // When the other app revokes it and the revocation is announced, then the read ends
    direct
        .delete(&format!("/v1/api-keys/{id}"))
        .await
        .assert_status(200);
    tokio::time::sleep(SETTLE).await;
    proxy.release();
    first.await.unwrap().unwrap();

    // Then the slow app does not keep the key it read before the revocation
    let (status, body) = call(&slow, key, "/v1/campaigns", None).await;
    assert_eq!(status, 401, "a revoked key was accepted: {body}");
}

#[tokio::test]
async fn a_discount_changed_while_its_terms_are_read_is_not_cached_as_it_was() {
    let (proxy, slow, direct) = two_apps().await;
    let (campaign, influencer) = direct.enrolled("summer", "emma").await;
    direct
        .post(
            "/v1/codes",
            json!({"code": "RACETERMS", "campaign_id": campaign, "influencer_id": influencer,
                   "discount_kind": "fixed", "discount_value": 1000}),
        )
        .await
        .assert_status(201);
    let key = create_key(&direct.db, "shop", Scope::Checkout).await;
    let cart = json!({"subtotal_minor": 5000, "currency": "EUR"});
    // The slow app knows the key already (validation reads the code from the database)
    let (status, _) = call(&slow, &key, "/v1/codes/RACETERMS/validate", Some(cart)).await;
    assert_eq!(status, 200);
    let order = |id: &str| {
        json!({"code": "RACETERMS", "order_id": id, "subtotal_minor": 5000,
                                  "currency": "EUR"})
    };

    // Given the slow app reading the code's terms for a redemption, its answer held back
    proxy.hold_answers_to("RACETERMS");
    let first = {
        let (client, url, key, body) = (
            slow.client.clone(),
            format!("{}/v1/redemptions", slow.address),
            key.clone(),
            order("first"),
        );
        tokio::spawn(async move { client.post(url).bearer_auth(key).json(&body).send().await })
    };
    tokio::time::sleep(SETTLE).await;

    // When the other app changes the discount and announces it, then the read ends
    direct
        .patch("/v1/codes/RACETERMS", json!({"discount_value": 2500}))
        .await
        .assert_status(200);
    tokio::time::sleep(SETTLE).await;
    proxy.release();
    first.await.unwrap().unwrap();

    // Then the slow app's next redemption gives the new discount, not the one it read
    let (status, body) = call(&slow, &key, "/v1/redemptions", Some(order("second"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["discount_minor"], 2500,
        "the old discount was kept: {body}"
    );
}

/// A process listens for changes before it serves: were its first subscription made
/// later, the "drop everything" that comes with it would empty caches already serving
/// (a link just redirected from memory would need Postgres again, and a rate-limited
/// address would be refused it).
#[tokio::test]
async fn every_cache_listens_for_changes_before_the_app_serves() {
    let database_url = fresh_database().await;
    let spool = tempfile::tempdir().unwrap();
    let settings = crate::helpers::test_settings(&database_url, spool.path(), &[]);
    let keys = attrib::pipeline::keys::Keys::new(&settings.redis_prefix, settings.stream_shards);
    let app = attrib::startup::Application::build(settings.clone())
        .await
        .unwrap();

    // Asked before the app runs, and before this test yields to anything it spawned
    let redis = redis::Client::open(settings.redis_url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let channels = [keys.link_changes(), keys.key_changes(), keys.code_changes()];
    let listeners: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channels)
        .query_async(&mut conn)
        .await
        .unwrap();

    let expected: Vec<(String, i64)> = channels.iter().map(|c| (c.clone(), 1)).collect();
    assert_eq!(listeners, expected);
    drop(app);
}
