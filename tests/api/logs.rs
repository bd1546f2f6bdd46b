//! The log of a real process: JSON lines with the request id of the request they were
//! written for, one access line per API request and none per redirect, and nothing in it
//! that identifies a visitor or opens the service (addresses, keys, secrets).

use serde_json::Value;

use crate::helpers::Deployment;

const BOOTSTRAP_KEY: &str = "bootstrap-admin-key-for-the-log-test-0123456789";
const VISITOR_ADDRESS: &str = "203.0.113.77";

fn lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

#[tokio::test]
async fn json_logs_carry_the_request_id_an_access_line_per_api_request_and_no_secrets() {
    // Given `attrib serve` logging JSON behind a trusted proxy, with a bootstrap key
    let deployment = Deployment::new(&[
        ("ATTRIB_LOG_FORMAT", "json"),
        ("ATTRIB_LOG", "debug,sqlx=info"),
        ("ATTRIB_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("ATTRIB_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY),
    ])
    .await;
    let running = deployment.start("serve").await;
    let app = deployment.client().await;
    app.short_link("emma").await;
    let client = &app.client;
    let url = |path: &str| format!("{}{path}", deployment.address);

    // When a visitor follows the link through the proxy, and clients call the API with
    // their own request id, an unusable one, a bad key and the bootstrap key
    for _ in 0..3 {
        let followed = client
            .get(url("/emma"))
            .header("x-forwarded-for", VISITOR_ADDRESS)
            .header("x-request-id", "redirect-id-1")
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), 302);
        assert_eq!(followed.headers()["x-request-id"], "redirect-id-1");
    }
    let listed = client
        .get(url("/v1/campaigns"))
        .bearer_auth(BOOTSTRAP_KEY)
        .header("x-request-id", "shop-req 42")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["x-request-id"], "shop-req 42");
    let too_long = "x".repeat(129);
    let refused = client
        .get(url("/v1/campaigns"))
        .bearer_auth("atk_not-a-key-anyone-has-0123456789")
        .header("x-request-id", &too_long)
        .header("x-forwarded-for", VISITOR_ADDRESS)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let generated = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!generated.is_empty() && generated != too_long);
    drop(running);

    // Then every line is a JSON object with the fields a log pipeline indexes
    let log = deployment.log_text();
    let lines = lines(&log);
    assert!(!lines.is_empty());
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line.get(field).is_some(), "no {field}: {line}");
        }
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["target"] == "attrib::http::request_log")
        .collect();
    // one access line per API request, by route template, with its request id
    let listing: Vec<_> = access
        .iter()
        .filter(|l| l["request_id"] == "shop-req 42")
        .collect();
    assert_eq!(listing.len(), 1, "{access:#?}");
    assert_eq!(listing[0]["route"], "/v1/campaigns");
    assert_eq!(listing[0]["method"], "GET");
    assert_eq!(listing[0]["status"], 200);
    assert_eq!(listing[0]["level"], "INFO");
    assert!(listing[0]["duration_ms"].as_f64().is_some());
    let unauthorized: Vec<_> = access
        .iter()
        .filter(|l| l["request_id"] == generated.as_str())
        .collect();
    assert_eq!(unauthorized.len(), 1, "{access:#?}");
    assert_eq!(unauthorized[0]["status"], 401);
    // none for the redirects
    assert!(
        !access.iter().any(|l| l["route"] == "/{slug}"),
        "{access:#?}"
    );
    // and no line written while serving a request lacks its id
    assert!(access.iter().all(|l| l["request_id"].is_string()));

    // And nothing in the log names the visitor, or a key or secret
    for secret in [
        VISITOR_ADDRESS,
        BOOTSTRAP_KEY,
        app.admin_key.as_str(),
        "atk_not-a-key-anyone-has-0123456789",
        crate::helpers::CLICK_SECRET,
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log");
    }
}
