//! While Postgres is away: links the process has cached keep redirecting past their TTL
//! (stale if error), only links it never saw answer 503; a management write that cannot
//! begin its transaction fails like any other storage failure.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::json;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::helpers::{fresh_database, spawn_app_on};

/// A TCP proxy to Postgres that a test can cut (every connection closed, new ones refused
/// at once) and restore.
struct CuttableProxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepting = {
            let up = up.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: closed at once
                    }
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(pipe);
                }
            })
        };
        CuttableProxy {
            port,
            up,
            connections,
            accepting,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for pipe in self.connections.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

#[tokio::test]
async fn cached_links_keep_redirecting_while_postgres_is_away_for_longer_than_their_ttl() {
    // Given a service that reaches Postgres through a proxy, caches links for a second,
    // and has served the link `emma` once
    let direct = fresh_database().await;
    let mut url = url::Url::parse(&direct).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let proxy = CuttableProxy::start(target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let app = spawn_app_on(url.as_str(), &[("ATTRIB_LINK_CACHE_SECONDS", "1")]).await;
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
async fn an_admin_write_fails_like_a_read_while_postgres_is_away() {
    // Given a service that reaches Postgres through a proxy, and a campaign
    let direct = fresh_database().await;
    let mut url = url::Url::parse(&direct).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let proxy = CuttableProxy::start(target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let app = spawn_app_on(url.as_str(), &[]).await;
    let campaign = app.campaign("summer").await;
    let path = format!("/v1/campaigns/{campaign}");

    // When Postgres goes away
    proxy.cut();

    // Then a PATCH, which cannot begin its transaction, is answered like a GET, which
    // cannot run its query: both are storage failures
    let (patch, get) = tokio::join!(app.patch(&path, json!({"name": "x"})), app.get(&path));
    get.assert_error(500, "internal_error");
    patch.assert_error(500, "internal_error");
}
