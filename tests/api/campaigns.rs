use serde_json::json;

use crate::helpers::spawn_app;

fn summer() -> serde_json::Value {
    json!({
        "name": "Summer drop",
        "slug": "Summer-26",
        "currency": "sek",
        "starts_at": "2026-06-01T02:00:00+02:00",
        "ends_at": "2026-09-01T00:00:00Z",
        "budget_minor": 5_000_000,
        "goal": "revenue",
        "goal_target": 20_000_000.0,
        "margin_bps": 4000
    })
}

#[tokio::test]
async fn creating_a_campaign_returns_it_whole_with_defaults() {
    let app = spawn_app().await;
    let reply = app.post("/v1/campaigns", summer()).await;
    let body = reply.assert_status(201).clone();
    assert_eq!(body["slug"], "summer-26");
    assert_eq!(body["currency"], "SEK");
    assert_eq!(body["starts_at"], "2026-06-01T00:00:00Z");
    assert_eq!(body["budget_minor"], 5_000_000);
    assert_eq!(body["goal"], "revenue");
    assert_eq!(body["margin_bps"], 4000);
    assert_eq!(body["attribution_window_days"], 30);
    assert_eq!(body["attribution_priority"], "code");
    assert!(body["id"].is_string(), "ids are opaque strings");
    assert!(body["created_at"].is_string());

    let fetched = app.get(&format!("/v1/campaigns/{}", reply.id())).await;
    assert_eq!(fetched.assert_status(200), &body);
}

#[tokio::test]
async fn status_follows_the_dates_unless_set() {
    let app = spawn_app().await;
    let future = app
        .post(
            "/v1/campaigns",
            json!({"name": "f", "slug": "future", "currency": "EUR", "starts_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(future.assert_status(201)["status"], "draft");
    let past = app
        .post(
            "/v1/campaigns",
            json!({"name": "p", "slug": "past", "currency": "EUR",
                   "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-02-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.assert_status(201)["status"], "ended");
    let running = app
        .post(
            "/v1/campaigns",
            json!({"name": "r", "slug": "running", "currency": "EUR"}),
        )
        .await;
    assert_eq!(running.assert_status(201)["status"], "active");

    let set = app
        .patch(
            &format!("/v1/campaigns/{}", future.id()),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(set.assert_status(200)["status"], "active");
    let cleared = app
        .patch(
            &format!("/v1/campaigns/{}", future.id()),
            json!({"status": null}),
        )
        .await;
    assert_eq!(cleared.assert_status(200)["status"], "draft");
}

#[tokio::test]
async fn a_duplicate_slug_is_409_in_any_case() {
    let app = spawn_app().await;
    app.post("/v1/campaigns", summer()).await.assert_status(201);
    let mut again = summer();
    again["slug"] = json!("SUMMER-26");
    app.post("/v1/campaigns", again)
        .await
        .assert_error(409, "slug_taken");
}

#[tokio::test]
async fn invalid_campaign_fields_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let cases: &[(&str, serde_json::Value, u16, &str)] = &[
        ("currency", json!("EURO"), 400, "invalid_currency"),
        ("currency", json!("XYZ"), 400, "invalid_currency"),
        ("starts_at", json!("2026-06-01"), 400, "invalid_datetime"),
        (
            "ends_at",
            json!("2026-05-01T00:00:00Z"),
            422,
            "ends_before_starts",
        ),
        ("budget_minor", json!(-1), 400, "invalid_amount"),
        ("budget_minor", json!(1.5), 400, "invalid_body"),
        (
            "attribution_window_days",
            json!(0),
            400,
            "invalid_attribution_window",
        ),
        (
            "attribution_window_days",
            json!(366),
            400,
            "invalid_attribution_window",
        ),
        ("margin_bps", json!(10_001), 400, "invalid_basis_points"),
        ("goal", json!("fame"), 400, "invalid_body"),
        ("attribution_priority", json!("first"), 400, "invalid_body"),
        ("goal_target", json!(-5), 400, "invalid_number"),
        ("slug", json!("summer 26"), 400, "invalid_slug"),
        ("name", json!(""), 400, "invalid_text"),
        ("surprise", json!(1), 400, "invalid_body"),
    ];
    for (field, value, status, code) in cases {
        let mut body = summer();
        body[*field] = value.clone();
        app.post("/v1/campaigns", body)
            .await
            .assert_error(*status, code);
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM campaigns")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn patch_changes_editable_fields_and_clears_nullable_ones() {
    let app = spawn_app().await;
    let id = app.post("/v1/campaigns", summer()).await.id();
    let reply = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"name": "Summer drop II", "budget_minor": null, "attribution_window_days": 7,
                   "attribution_priority": "click", "ends_at": "2026-10-01T00:00:00Z"}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["name"], "Summer drop II");
    assert!(body["budget_minor"].is_null());
    assert_eq!(body["attribution_window_days"], 7);
    assert_eq!(body["attribution_priority"], "click");
    assert_eq!(body["ends_at"], "2026-10-01T00:00:00Z");
    assert_eq!(body["margin_bps"], 4000, "untouched fields stay");
}

#[tokio::test]
async fn patch_refuses_bad_values_and_the_currency() {
    let app = spawn_app().await;
    let id = app.post("/v1/campaigns", summer()).await.id();
    let path = format!("/v1/campaigns/{id}");
    app.patch(&path, json!({"ends_at": "2026-01-01T00:00:00Z"}))
        .await
        .assert_error(422, "ends_before_starts");
    app.patch(&path, json!({"currency": "EUR"}))
        .await
        .assert_error(400, "invalid_body");
    app.patch(&path, json!({"margin_bps": -1}))
        .await
        .assert_error(400, "invalid_basis_points");
    let other = app
        .post(
            "/v1/campaigns",
            json!({"name": "o", "slug": "other", "currency": "EUR"}),
        )
        .await
        .id();
    app.patch(
        &format!("/v1/campaigns/{other}"),
        json!({"slug": "summer-26"}),
    )
    .await
    .assert_error(409, "slug_taken");
    let unchanged = app.get(&path).await;
    assert_eq!(unchanged.body["ends_at"], "2026-09-01T00:00:00Z");
}

#[tokio::test]
async fn unknown_campaigns_are_404() {
    let app = spawn_app().await;
    app.get("/v1/campaigns/424242")
        .await
        .assert_error(404, "not_found");
    app.get("/v1/campaigns/not-an-id")
        .await
        .assert_error(404, "not_found");
    app.patch("/v1/campaigns/424242", json!({"name": "x"}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn lists_are_paginated_with_an_opaque_cursor() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.campaign(&format!("c{i}")).await;
    }
    let first = app.get("/v1/campaigns?limit=2").await;
    let body = first.assert_status(200);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert!(body["next_cursor"].is_string());

    let all = app.collect_pages("/v1/campaigns", 2).await;
    let slugs: Vec<&str> = all.iter().map(|c| c["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["c0", "c1", "c2", "c3", "c4"]);

    let everything = app.get("/v1/campaigns").await;
    assert!(everything.body["next_cursor"].is_null());

    app.get("/v1/campaigns?limit=0")
        .await
        .assert_error(400, "invalid_limit");
    app.get("/v1/campaigns?limit=501")
        .await
        .assert_error(400, "invalid_limit");
    app.get("/v1/campaigns?limit=x")
        .await
        .assert_error(400, "invalid_query");
    app.get("/v1/campaigns?cursor=forged")
        .await
        .assert_error(400, "invalid_cursor");
    app.get("/v1/campaigns?color=red")
        .await
        .assert_error(400, "invalid_query");
}
