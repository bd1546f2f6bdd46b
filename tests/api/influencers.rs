use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_influencer_is_created_with_a_normalised_handle() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/influencers",
            json!({"handle": "@Emma.Styles", "display_name": "Emma", "platform": "Instagram",
                   "followers": 120_000, "contact_email": "emma@example.com"}),
        )
        .await;
    let body = reply.assert_status(201).clone();
    assert_eq!(body["handle"], "emma.styles");
    assert_eq!(body["platform"], "instagram");
    assert_eq!(body["followers"], 120_000);
    assert_eq!(body["contact_email"], "emma@example.com");
    assert_eq!(
        app.get(&format!("/v1/influencers/{}", reply.id()))
            .await
            .body,
        body
    );
}

#[tokio::test]
async fn the_display_name_defaults_to_the_handle() {
    let app = spawn_app().await;
    let reply = app.post("/v1/influencers", json!({"handle": "noah"})).await;
    assert_eq!(reply.assert_status(201)["display_name"], "noah");
}

#[tokio::test]
async fn a_duplicate_handle_is_409() {
    let app = spawn_app().await;
    app.influencer("emma").await;
    app.post("/v1/influencers", json!({"handle": "@EMMA"}))
        .await
        .assert_error(409, "handle_taken");
}

#[tokio::test]
async fn invalid_influencer_fields_are_400() {
    let app = spawn_app().await;
    let cases = [
        (json!({"handle": "emma styles"}), "invalid_handle"),
        (json!({"handle": ""}), "invalid_handle"),
        (json!({"handle": "emma", "followers": -1}), "invalid_number"),
        (
            json!({"handle": "emma", "contact_email": "emma"}),
            "invalid_email",
        ),
        (
            json!({"handle": "emma", "platform": "insta gram"}),
            "invalid_platform",
        ),
        (json!({"display_name": "no handle"}), "invalid_body"),
    ];
    for (body, code) in cases {
        app.post("/v1/influencers", body)
            .await
            .assert_error(400, code);
    }
}

#[tokio::test]
async fn patch_updates_and_clears_fields() {
    let app = spawn_app().await;
    let id = app
        .post(
            "/v1/influencers",
            json!({"handle": "emma", "followers": 10, "contact_email": "e@example.com"}),
        )
        .await
        .id();
    let reply = app
        .patch(
            &format!("/v1/influencers/{id}"),
            json!({"followers": 2000, "contact_email": null, "display_name": "Emma S"}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["followers"], 2000);
    assert!(body["contact_email"].is_null());
    assert_eq!(body["display_name"], "Emma S");
    app.patch("/v1/influencers/999", json!({"followers": 1}))
        .await
        .assert_error(404, "not_found");
    app.influencer("noah").await;
    app.patch(&format!("/v1/influencers/{id}"), json!({"handle": "Noah"}))
        .await
        .assert_error(409, "handle_taken");
}

#[tokio::test]
async fn influencers_are_listed_page_by_page() {
    let app = spawn_app().await;
    for handle in ["a1", "a2", "a3"] {
        app.influencer(handle).await;
    }
    let all = app.collect_pages("/v1/influencers", 1).await;
    let handles: Vec<&str> = all.iter().map(|i| i["handle"].as_str().unwrap()).collect();
    assert_eq!(handles, ["a1", "a2", "a3"]);
}
