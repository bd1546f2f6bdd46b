//! Abuse limits: an address that keeps asking for unknown slugs or presenting bad API keys
//! is answered `429` past its limit, while known slugs and valid keys are never limited.

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

const LIMIT: usize = 3;

/// Three failures a minute per address, loopback included, with the test's own address a
/// trusted proxy so `X-Forwarded-For` can stand for other clients.
async fn strict_app() -> TestApp {
    spawn_app_with(&[
        ("ATTRIB_RATE_LIMIT_PER_MINUTE", "3"),
        ("ATTRIB_RATE_LIMIT_LOOPBACK", "true"),
        ("ATTRIB_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Answer {
    #[track_caller]
    fn assert_rate_limited(&self) {
        assert_eq!(self.status, 429, "{}", self.body);
        assert_eq!(self.body["error"]["code"], "rate_limited", "{}", self.body);
        let wait = self.retry_after.expect("Retry-After");
        assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    }
}

/// GET `path` as the client `from` (None: the test's own loopback address), with `key`.
async fn get(app: &TestApp, path: &str, from: Option<&str>, key: Option<&str>) -> Answer {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

#[tokio::test]
async fn unknown_slugs_past_the_limit_are_refused_while_known_slugs_keep_redirecting() {
    let app = strict_app().await;
    app.short_link("emma").await;
    let client = Some("203.0.113.10");
    // (a link visitors follow, so the process holds it)
    assert_eq!(get(&app, "/emma", None, None).await.status, 302);

    // Given an address that asked for as many unknown slugs as it may
    for n in 0..LIMIT {
        let answer = get(&app, &format!("/nosuch{n}"), client, None).await;
        assert_eq!(answer.status, 404, "{}", answer.body);
    }

    // Then its next unknown slug, redirect or QR code, is refused with a time to retry
    get(&app, "/nosuch-more", client, None)
        .await
        .assert_rate_limited();
    get(&app, "/nosuch-more/qr.svg", client, None)
        .await
        .assert_rate_limited();
    // While a known slug still redirects it, every time
    for _ in 0..5 {
        assert_eq!(get(&app, "/emma", client, None).await.status, 302);
        assert_eq!(get(&app, "/emma/qr.png", client, None).await.status, 200);
    }
    // And, until its allowance is back, a slug not in memory is refused before any
    // look-up: a link made meanwhile is not found for it (Postgres was not asked)
    app.post(
        "/v1/links",
        json!({"campaign_id": "1", "influencer_id": "1", "slug": "later",
               "destination": "https://shop.example.com/"}),
    )
    .await
    .assert_status(201);
    get(&app, "/later", client, None)
        .await
        .assert_rate_limited();
    // And another address is not limited
    assert_eq!(
        get(&app, "/later", Some("198.51.100.20"), None)
            .await
            .status,
        302
    );
    assert_eq!(
        get(&app, "/nosuch0", Some("198.51.100.20"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn failed_key_lookups_past_the_limit_are_refused_while_valid_keys_work() {
    let app = strict_app().await;
    let bad_key = "atk_thisisnotakeyofthisserveratall000000";
    // (a valid key this process has seen, as a shop's key is after its first request)
    assert_eq!(
        get(&app, "/v1/campaigns", None, Some(&app.admin_key))
            .await
            .status,
        200
    );

    // Given the test's own address presenting bad keys, or none, as often as it may
    assert_eq!(get(&app, "/v1/campaigns", None, None).await.status, 401);
    for _ in 1..LIMIT {
        let answer = get(&app, "/v1/campaigns", None, Some(bad_key)).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }

    // Then the next bad key is refused with a time to retry, and so is an unknown slug
    get(&app, "/v1/campaigns", None, Some(bad_key))
        .await
        .assert_rate_limited();
    get(&app, "/nosuch", None, None).await.assert_rate_limited();
    // While a valid key from the same address, known to the process, works
    assert_eq!(
        get(&app, "/v1/campaigns", None, Some(&app.admin_key))
            .await
            .status,
        200
    );
    // And a client behind the trusted proxy has its own allowance
    assert_eq!(
        get(&app, "/v1/campaigns", Some("198.51.100.20"), Some(bad_key))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn loopback_is_not_limited_unless_asked_for() {
    let app = spawn_app_with(&[("ATTRIB_RATE_LIMIT_PER_MINUTE", "1")]).await;
    for n in 0..5 {
        assert_eq!(
            get(&app, &format!("/nosuch{n}"), None, None).await.status,
            404
        );
        assert_eq!(get(&app, "/v1/campaigns", None, None).await.status, 401);
    }
}
