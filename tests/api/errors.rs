use reqwest::Method;

use crate::helpers::spawn_app;

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    let reply = app.get("/v1/nothing-here").await;
    reply.assert_error(404, "not_found");
    let public = app
        .send(Method::GET, "/nothing/here/either", None, None)
        .await;
    public.assert_error(404, "not_found");
}

#[tokio::test]
async fn an_unsupported_method_is_a_json_405() {
    let app = spawn_app().await;
    app.send(Method::PUT, "/v1/campaigns", Some(&app.admin_key), None)
        .await
        .assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_type_too() {
    let app = spawn_app().await;
    let response = app.raw(Method::POST, "/v1/campaigns", "{\"name\": ").await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");

    let response = app
        .raw(
            Method::POST,
            "/v1/campaigns",
            r#"{"name": 5, "slug": "x", "currency": "EUR"}"#,
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_body");
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(300 * 1024));
    let response = app.raw(Method::POST, "/v1/campaigns", &huge).await;
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_still_read_as_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/influencers", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"handle": "curl-user"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// serde reads a struct from an array too: `[null, null]` was a PATCH of an influencer's
/// handle and display name to nothing, answered 200.
#[tokio::test]
async fn a_body_that_is_no_json_object_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.influencer("arrays").await;
    let before = app.get(&format!("/v1/influencers/{id}")).await;
    for body in [r#"[null, null]"#, r#"["x", "y"]"#, "null", "7", r#""x""#] {
        let response = app
            .raw(Method::PATCH, &format!("/v1/influencers/{id}"), body)
            .await;
        assert_eq!(response.status(), 400, "{body}");
        let reply: serde_json::Value = response.json().await.unwrap();
        assert_eq!(reply["error"]["code"], "invalid_body", "{body}");
        let response = app.raw(Method::POST, "/v1/campaigns", body).await;
        assert_eq!(response.status(), 400, "POST {body}");
    }
    let response = app
        .raw(Method::POST, "/v1/conversions/no-such-order/refunds", "[1]")
        .await;
    assert_eq!(response.status(), 400, "refund [1]");
    assert_eq!(
        app.get(&format!("/v1/influencers/{id}")).await.body,
        before.body
    );
}
