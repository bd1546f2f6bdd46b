//! `GET /metrics`: traffic of every kind moves its families, and no label holds what a
//! client chose (a slug, a code, an order id, an address).

use std::sync::Arc;

use reqwest::{redirect::Policy, Method};
use serde_json::json;

use crate::helpers::{draining, spawn_app, worker_for, Deployment, TestApp};

/// The sum of the samples of `family` whose labels include every `k="v"` of `labels`.
fn sample(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            let base = name.split('{').next()?;
            (base == family && labels.iter().all(|l| name.contains(l)))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("a body")
}

#[tokio::test]
async fn traffic_moves_every_family_and_labels_stay_bounded() {
    let app = spawn_app().await;
    let link = app.short_link("metered-link").await;
    let campaign = app.get(&format!("/v1/links/{link}")).await.body["campaign_id"]
        .as_str()
        .expect("campaign id")
        .to_owned();
    let influencer = app.get(&format!("/v1/links/{link}")).await.body["influencer_id"]
        .as_str()
        .expect("influencer id")
        .to_owned();
    let gone = app
        .post(
            "/v1/links",
            json!({"campaign_id": campaign, "influencer_id": influencer, "slug": "closed-link",
                   "destination": "https://shop.example.com/", "enabled": false}),
        )
        .await
        .id();
    assert!(!gone.is_empty());
    app.post(
        "/v1/codes",
        json!({"code": "METERED10", "campaign_id": campaign, "influencer_id": influencer,
               "discount_kind": "percent", "discount_value": 1000}),
    )
    .await
    .assert_status(201);

    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let visit = |slug: &'static str| {
        let browser = browser.clone();
        let url = format!("{}/{slug}", app.address);
        async move {
            browser
                .get(url)
                .header("x-forwarded-for", "203.0.113.77")
                .send()
                .await
                .expect("visit")
                .status()
        }
    };
    assert_eq!(visit("metered-link").await, 302);
    assert_eq!(visit("metered-link").await, 302);
    assert_eq!(visit("no-such-link").await, 404);
    assert_eq!(visit("closed-link").await, 410);
    app.send(Method::GET, "/a/b/c", None, None).await;

    let redemption = json!({"code": "METERED10", "order_id": "metered-order-1",
                            "subtotal_minor": 5000, "currency": "EUR"});
    app.post("/v1/redemptions", redemption.clone())
        .await
        .assert_status(201);
    app.post("/v1/redemptions", redemption)
        .await
        .assert_status(200);
    app.post(
        "/v1/redemptions",
        json!({"code": "NOSUCHCODE", "order_id": "metered-order-2",
               "subtotal_minor": 5000, "currency": "EUR"}),
    )
    .await
    .assert_error(422, "code_not_found");
    app.post(
        "/v1/conversions",
        json!({"order_id": "metered-order-3", "amount_minor": 1200, "currency": "EUR"}),
    )
    .await
    .assert_status(202);

    let text = scrape(&app).await;
    let moved = |family: &str, labels: &[&str]| sample(&text, family, labels);
    let redirect_route = r#"route="/{slug}""#;
    assert_eq!(
        moved(
            "attrib_http_requests_total",
            &[redirect_route, r#"method="GET""#, r#"status="302""#]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "attrib_http_requests_total",
            &[
                r#"route="/v1/redemptions""#,
                r#"method="POST""#,
                r#"status="422""#
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "attrib_http_requests_total",
            &[r#"route="unmatched""#, r#"status="404""#]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "attrib_http_request_duration_seconds_count",
            &[redirect_route, r#"method="GET""#]
        ),
        4.0
    );
    for (outcome, count) in [("redirect", 2.0), ("not_found", 1.0), ("gone", 1.0)] {
        let label = format!(r#"outcome="{outcome}""#);
        assert_eq!(
            moved("attrib_redirects_total", &[&label]),
            count,
            "{outcome}"
        );
    }
    assert!(moved("attrib_link_cache_requests_total", &[r#"result="hit""#]) >= 1.0);
    assert!(moved("attrib_link_cache_requests_total", &[r#"result="miss""#]) >= 1.0);
    assert_eq!(
        moved("attrib_click_events_total", &[r#"durable_in="redis""#]),
        2.0
    );
    assert!(moved("attrib_stream_entries", &[]) >= 1.0);
    assert!(text.contains("attrib_stream_pending{"));
    assert!(text.contains("attrib_spool_events 0"));
    for (outcome, count) in [
        ("committed", 1.0),
        ("replayed", 1.0),
        ("code_not_found", 1.0),
    ] {
        let label = format!(r#"outcome="{outcome}""#);
        assert_eq!(
            moved("attrib_redemptions_total", &[&label]),
            count,
            "{outcome}"
        );
    }
    assert_eq!(
        moved("attrib_conversions_total", &[r#"status="unattributed""#]),
        1.0
    );
    assert!(moved("attrib_db_pool_connections", &[]) >= 1.0);
    assert!(moved("process_resident_memory_bytes", &[]) > 0.0);

    // What the worker stores moves its own families (`attrib run` serves them here too).
    let worker = Arc::new(worker_for(&app, None, draining("metered", None)));
    worker.prepare().await.expect("worker ready");
    // The conversion reaches the streams through the outbox relay, which polls.
    let relayed_by = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut ingest = String::new();
    while std::time::Instant::now() < relayed_by {
        worker.drain().await.expect("drained");
        ingest = worker.metrics().render();
        if sample(
            &ingest,
            "attrib_ingest_events_total",
            &[r#"kind="conversion""#],
        ) >= 1.0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&ingest, "attrib_ingest_events_total", &[r#"kind="click""#]),
        2.0
    );
    assert!(
        sample(
            &ingest,
            "attrib_ingest_events_total",
            &[r#"kind="conversion""#]
        ) >= 1.0
    );
    assert!(sample(&ingest, "attrib_ingest_batch_events_count", &[]) >= 1.0);
    assert!(sample(&ingest, "attrib_ingest_batch_duration_seconds_count", &[]) >= 1.0);
    assert_eq!(
        sample(&ingest, "attrib_ingest_delay_seconds_count", &[]),
        2.0
    );

    for chosen_by_clients in [
        "metered-link",
        "closed-link",
        "no-such-link",
        "METERED10",
        "NOSUCHCODE",
        "metered-order",
        "203.0.113",
        "/a/b/c",
    ] {
        assert!(
            !text.contains(chosen_by_clients) && !ingest.contains(chosen_by_clients),
            "{chosen_by_clients} in a label"
        );
    }
}

#[tokio::test]
async fn a_worker_running_alone_serves_its_metrics_on_attrib_metrics_listen() {
    // Given `attrib serve`, and `attrib worker` of the same deployment with its own port
    let api = Deployment::new(&[]).await;
    let _serve = api.start("serve").await;
    let worker = api.sibling(&[
        ("ATTRIB_METRICS_LISTEN", "{listen}"),
        ("ATTRIB_WORKER_NAME", "alone"),
    ]);
    let _worker = worker.start("worker").await;
    let app = api.client().await;
    app.short_link("emma").await;

    // When a visitor follows the link twice
    for _ in 0..2 {
        assert_eq!(app.visit("emma").await.status(), 302);
    }

    // Then the worker's own /metrics counts what it stored, with its pool and process
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = client
            .get(format!("{}/metrics", worker.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if sample(&text, "attrib_ingest_events_total", &[r#"kind="click""#]) == 2.0 {
            assert!(text.contains("attrib_db_pool_connections{"), "{text}");
            assert!(text.contains("process_resident_memory_bytes"), "{text}");
            assert!(text.contains("attrib_ingest_batch_events_count"), "{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
