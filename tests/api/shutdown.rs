//! SIGTERM while clients redirect at full speed: the process exits 0 within the shutdown
//! timeout, and after a restart exactly the clicks whose `302` a client received are in
//! Postgres (give or take the requests cut mid-flight, which got no `302`), none twice.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::helpers::{assert_rollups_match_facts, Deployment};

const CLIENTS: usize = 16;

#[derive(Default)]
struct Tally {
    redirected: AtomicU64,
    /// Requests that ended in a transport error: cut mid-flight, or never connected.
    failed: AtomicU64,
    /// Any other answer (a 503 would mean a click neither in Redis nor in the spool).
    other: AtomicU64,
}

/// Follows `url` until its first transport error, which ends the client.
async fn redirect_until_refused(url: String, tally: Arc<Tally>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client");
    loop {
        match client
            .get(&url)
            .header("user-agent", "Mozilla/5.0 (iPhone)")
            .send()
            .await
        {
            Ok(response) if response.status() == 302 => {
                tally.redirected.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {
                tally.other.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                tally.failed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

async fn stored_clicks(db: &sqlx::PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT click_id) FROM clicks")
        .fetch_one(db)
        .await
        .expect("count clicks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_redirect_load_keeps_every_acknowledged_click_once() {
    // Given `attrib run` serving a link, and clients following it as fast as they can
    let deployment = Deployment::new(&[("ATTRIB_SHUTDOWN_TIMEOUT_SECONDS", "15")]).await;
    let mut running = deployment.start("run").await;
    let app = deployment.client().await;
    app.short_link("emma").await;
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(redirect_until_refused(
                format!("{}/emma", deployment.address),
                tally.clone(),
            ))
        })
        .collect();
    let loaded = Instant::now();
    while tally.redirected.load(Ordering::SeqCst) < 2000
        && loaded.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // When it gets SIGTERM mid-load
    running.signal(libc::SIGTERM);
    let signalled = Instant::now();

    // Then it stops accepting, answers what is in flight, and exits 0 within the timeout
    let status = running.exited(Duration::from_secs(20)).await;
    assert!(status.success(), "{status}: {}", deployment.log_text());
    let stopped_in = signalled.elapsed();
    assert!(
        stopped_in < Duration::from_secs(15),
        "stopped after {stopped_in:?}"
    );
    for client in clients {
        client.await.expect("client task");
    }
    let redirected = tally.redirected.load(Ordering::SeqCst) as i64;
    let cut = tally.failed.load(Ordering::SeqCst) as i64;
    assert!(redirected >= 2000, "only {redirected} redirects under load");
    assert_eq!(
        tally.other.load(Ordering::SeqCst),
        0,
        "answers other than 302"
    );

    // And once it runs again, exactly the acknowledged clicks reach Postgres, none twice
    let _again = deployment.start("run").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut stored, mut distinct) = stored_clicks(&app.db).await;
    let mut settled_since = Instant::now();
    loop {
        let now = stored_clicks(&app.db).await;
        if now != (stored, distinct) {
            (stored, distinct) = now;
            settled_since = Instant::now();
        }
        let settled = settled_since.elapsed() > Duration::from_secs(3);
        if (stored >= redirected && settled) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "{redirected} redirects, {cut} requests cut, {stored} clicks stored; stopped in {:?}",
        stopped_in
    );
    assert_eq!(stored, distinct, "a click stored twice");
    assert!(
        (redirected..=redirected + cut).contains(&stored),
        "{stored} clicks stored for {redirected} redirects ({cut} requests cut)"
    );
    assert_rollups_match_facts(&app.db).await;
    let log = deployment.log_text();
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn sigint_stops_serve_and_worker_as_sigterm_does() {
    // Given `attrib serve` and `attrib worker` of one deployment
    let deployment = Deployment::new(&[("ATTRIB_SHUTDOWN_TIMEOUT_SECONDS", "10")]).await;
    let mut serve = deployment.start("serve").await;
    let mut worker = deployment.start_logging("worker", "worker started").await;

    // When each gets SIGINT (Ctrl-C)
    serve.signal(libc::SIGINT);
    worker.signal(libc::SIGINT);

    // Then each stops in order and exits 0
    let (served, worked) = (
        serve.exited(Duration::from_secs(15)).await,
        worker.exited(Duration::from_secs(15)).await,
    );
    let log = deployment.log_text();
    assert!(served.success(), "serve: {served}: {log}");
    assert!(worked.success(), "worker: {worked}: {log}");
    assert!(log.contains("finishing the requests in flight"), "{log}");
    assert!(log.contains("finishing the batch in hand"), "{log}");
    assert!(log.matches("stopped").count() >= 2, "{log}");
}
