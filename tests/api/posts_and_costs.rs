use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_post_collects_metric_snapshots_with_their_source() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let post = app
        .post(
            "/v1/posts",
            json!({"campaign_id": campaign, "influencer_id": influencer, "platform": "TikTok",
                   "url": "https://www.tiktok.com/@emma/video/1", "published_at": "2026-06-02T18:00:00Z"}),
        )
        .await;
    let body = post.assert_status(201).clone();
    assert_eq!(body["platform"], "tiktok");
    assert_eq!(
        app.get(&format!("/v1/posts/{}", post.id())).await.body,
        body
    );

    let path = format!("/v1/posts/{}/metrics", post.id());
    let snapshot = app
        .post(
            &path,
            json!({"impressions": 50_000, "reach": 30_000, "likes": 2_000, "comments": 150,
                   "shares": 40, "saves": 90, "views": 45_000, "source": "self_reported",
                   "captured_at": "2026-06-03T00:00:00Z"}),
        )
        .await;
    let snap = snapshot.assert_status(201);
    assert_eq!(snap["source"], "self_reported");
    assert_eq!(snap["impressions"], 50_000);
    assert_eq!(snap["post_id"], body["id"]);
    app.post(&path, json!({"impressions": 52_000, "source": "verified"}))
        .await
        .assert_status(201);
    assert_eq!(app.collect_pages(&path, 1).await.len(), 2);
    assert_eq!(
        app.collect_pages(&format!("/v1/posts?campaign_id={campaign}"), 5)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_posts_and_snapshots_are_refused() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let outsider = app.influencer("outsider").await;
    app.post(
        "/v1/posts",
        json!({"campaign_id": campaign, "influencer_id": outsider}),
    )
    .await
    .assert_error(422, "not_enrolled");
    app.post(
        "/v1/posts",
        json!({"campaign_id": campaign, "influencer_id": influencer, "url": "javascript:x"}),
    )
    .await
    .assert_error(400, "invalid_url_scheme");
    let post = app
        .post(
            "/v1/posts",
            json!({"campaign_id": campaign, "influencer_id": influencer}),
        )
        .await
        .id();
    let path = format!("/v1/posts/{post}/metrics");
    let cases = [
        (
            json!({"impressions": 1, "source": "rumour"}),
            "invalid_body",
        ),
        (
            json!({"impressions": -1, "source": "api"}),
            "invalid_number",
        ),
        (json!({"source": "api"}), "empty_snapshot"),
        (json!({"impressions": 1}), "invalid_body"),
        (
            json!({"impressions": 1, "source": "api", "captured_at": "now"}),
            "invalid_datetime",
        ),
    ];
    for (body, code) in cases {
        app.post(&path, body).await.assert_error(400, code);
    }
    app.post(
        "/v1/posts/999999/metrics",
        json!({"impressions": 1, "source": "api"}),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn cost_lines_belong_to_a_campaign_and_optionally_an_influencer() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let wide = app
        .post(
            "/v1/costs",
            json!({"campaign_id": campaign, "kind": "agency_fee", "amount_minor": 250_000,
                   "description": "Agency retainer", "incurred_at": "2026-06-01T00:00:00Z"}),
        )
        .await;
    let body = wide.assert_status(201);
    assert!(body["influencer_id"].is_null());
    assert_eq!(body["amount_minor"], 250_000);
    assert_eq!(body["kind"], "agency_fee");
    let gifting = app
        .post(
            "/v1/costs",
            json!({"campaign_id": campaign, "influencer_id": influencer, "kind": "gifting",
                   "amount_minor": 12_000}),
        )
        .await;
    assert_eq!(
        gifting.assert_status(201)["influencer_id"],
        influencer.as_str()
    );
    assert_eq!(
        app.collect_pages(&format!("/v1/costs?campaign_id={campaign}"), 1)
            .await
            .len(),
        2
    );
    assert_eq!(
        app.collect_pages(&format!("/v1/costs?influencer_id={influencer}"), 5)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_cost_lines_are_refused() {
    let app = spawn_app().await;
    let (campaign, _) = app.enrolled("summer", "emma").await;
    let outsider = app.influencer("outsider").await;
    let cases = [
        (
            json!({"campaign_id": campaign, "kind": "bribe", "amount_minor": 1}),
            400,
            "invalid_body",
        ),
        (
            json!({"campaign_id": campaign, "kind": "gifting", "amount_minor": -1}),
            400,
            "invalid_amount",
        ),
        (
            json!({"campaign_id": "999999", "kind": "gifting", "amount_minor": 1}),
            422,
            "campaign_not_found",
        ),
        (
            json!({"campaign_id": campaign, "influencer_id": outsider, "kind": "gifting", "amount_minor": 1}),
            422,
            "not_enrolled",
        ),
    ];
    for (body, status, code) in cases {
        app.post("/v1/costs", body).await.assert_error(status, code);
    }
}

#[tokio::test]
async fn post_metrics_are_bounded_so_reports_on_them_always_answer() {
    // Given a post in a campaign
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let post = app
        .post(
            "/v1/posts",
            json!({"campaign_id": campaign, "influencer_id": influencer}),
        )
        .await
        .id();
    let path = format!("/v1/posts/{post}/metrics");

    // When an admin sends metrics whose sum would overflow a bigint, they are refused
    app.post(
        &path,
        json!({"likes": i64::MAX, "comments": i64::MAX, "source": "api"}),
    )
    .await
    .assert_error(400, "invalid_number");
    app.post(
        &path,
        json!({"impressions": 1_000_000_000_001_i64, "source": "api"}),
    )
    .await
    .assert_error(400, "invalid_number");

    // And the largest accepted values still make a report
    let max = 1_000_000_000_000_i64;
    app.post(
        &path,
        json!({"impressions": max, "reach": max, "likes": max, "comments": max,
               "shares": max, "saves": max, "views": max, "source": "api"}),
    )
    .await
    .assert_status(201);
    let report = app.get(&format!("/v1/reports/campaigns/{campaign}")).await;
    let body = report.assert_status(200);
    assert_eq!(body["totals"]["engagements"], 4 * max, "{body}");
}
