use attrib::domain::kpi::Kpi;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn enrolling_records_the_compensation_terms() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    let influencer = app.influencer("emma").await;
    let reply = app
        .post(
            &format!("/v1/campaigns/{campaign}/enrollments"),
            json!({"influencer_id": influencer, "flat_fee_minor": 50_000, "cpc_minor": 25,
                   "cpa_minor": 1_000, "revenue_share_bps": 750,
                   "target_metric": "conversions", "target_value": 40}),
        )
        .await;
    let body = reply.assert_status(201).clone();
    assert_eq!(body["influencer_id"], influencer.as_str());
    assert_eq!(body["campaign_id"], campaign.as_str());
    assert_eq!(body["flat_fee_minor"], 50_000);
    assert_eq!(body["cpc_minor"], 25);
    assert_eq!(body["cpa_minor"], 1_000);
    assert_eq!(body["revenue_share_bps"], 750);
    assert_eq!(body["target_metric"], "conversions");
    assert_eq!(body["target_value"], 40.0);

    let fetched = app
        .get(&format!(
            "/v1/campaigns/{campaign}/enrollments/{influencer}"
        ))
        .await;
    assert_eq!(fetched.assert_status(200), &body);
    let listed = app
        .collect_pages(&format!("/v1/campaigns/{campaign}/enrollments"), 10)
        .await;
    assert_eq!(listed, vec![body]);
}

#[tokio::test]
async fn enrolling_twice_is_409() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    app.post(
        &format!("/v1/campaigns/{campaign}/enrollments"),
        json!({"influencer_id": influencer}),
    )
    .await
    .assert_error(409, "already_enrolled");
}

#[tokio::test]
async fn unknown_campaign_or_influencer_is_refused() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    let influencer = app.influencer("emma").await;
    app.post(
        "/v1/campaigns/999999/enrollments",
        json!({"influencer_id": influencer}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(
        &format!("/v1/campaigns/{campaign}/enrollments"),
        json!({"influencer_id": "999999"}),
    )
    .await
    .assert_error(422, "influencer_not_found");
    app.post(
        &format!("/v1/campaigns/{campaign}/enrollments"),
        json!({"influencer_id": "emma"}),
    )
    .await
    .assert_error(422, "influencer_not_found");
}

#[tokio::test]
async fn invalid_terms_are_refused() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    let influencer = app.influencer("emma").await;
    let path = format!("/v1/campaigns/{campaign}/enrollments");
    let cases = [
        (json!({"cpc_minor": -1}), 400, "invalid_amount"),
        (
            json!({"revenue_share_bps": 10_001}),
            400,
            "invalid_basis_points",
        ),
        (
            json!({"target_metric": "likes", "target_value": 3}),
            400,
            "invalid_metric",
        ),
        (json!({"target_metric": "clicks"}), 422, "incomplete_target"),
        (
            json!({"target_metric": "clicks", "target_value": -3}),
            400,
            "invalid_number",
        ),
        (json!({"flat_fee_basis": "hourly"}), 400, "invalid_body"),
    ];
    for (mut body, status, code) in cases {
        body["influencer_id"] = json!(influencer);
        app.post(&path, body).await.assert_error(status, code);
    }
}

#[tokio::test]
async fn patch_changes_terms_of_one_enrollment() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let path = format!("/v1/campaigns/{campaign}/enrollments/{influencer}");
    let reply = app
        .patch(
            &path,
            json!({"cpa_minor": 500, "flat_fee_basis": "post", "target_metric": "revenue_minor",
                   "target_value": 1_000_000}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["cpa_minor"], 500);
    assert_eq!(body["flat_fee_basis"], "post");
    assert_eq!(body["target_metric"], "revenue_minor");

    let cleared = app
        .patch(&path, json!({"target_metric": null, "target_value": null}))
        .await;
    assert!(cleared.assert_status(200)["target_metric"].is_null());
    app.patch(&path, json!({"target_value": 5}))
        .await
        .assert_error(422, "incomplete_target");
    app.patch(
        &format!("/v1/campaigns/{campaign}/enrollments/999999"),
        json!({"cpa_minor": 1}),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn every_kpi_is_stored_by_its_wire_name() {
    let app = spawn_app().await;
    for kpi in Kpi::ALL {
        let stored: String = sqlx::query_scalar("SELECT $1")
            .bind(kpi)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, kpi.as_str());
        let read: Kpi = sqlx::query_scalar("SELECT $1::text")
            .bind(kpi.as_str())
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(read, kpi);
    }
}

#[tokio::test]
async fn a_stored_target_that_is_no_kpi_is_an_error_not_a_default() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let path = format!("/v1/campaigns/{campaign}/enrollments/{influencer}");
    for kpi in Kpi::targets() {
        let reply = app
            .patch(
                &path,
                json!({"target_metric": kpi.as_str(), "target_value": 1}),
            )
            .await;
        assert_eq!(reply.assert_status(200)["target_metric"], kpi.as_str());
        let fetched = app.get(&path).await;
        assert_eq!(fetched.assert_status(200)["target_metric"], kpi.as_str());
    }

    // Written behind the API's back, e.g. by a hand-run migration
    sqlx::query("UPDATE enrollments SET target_metric = 'likes'")
        .execute(&app.db)
        .await
        .unwrap();
    app.get(&path).await.assert_error(500, "internal_error");
    app.get(&format!("/v1/reports/campaigns/{campaign}/influencers"))
        .await
        .assert_error(500, "internal_error");
}
