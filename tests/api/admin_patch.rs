//! Every admin `PATCH` goes through one flow (lock, apply, write, commit): a missing row is
//! a 404 naming the resource, an accepted patch is committed (a later read sees it), and a
//! refused one leaves the row as it was.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// A campaign `summer`, influencer `emma` enrolled in it, a link `emma` and a code
/// `EMMA20` of hers: (campaign id, influencer id, link id).
async fn one_of_each(app: &TestApp) -> (String, String, String) {
    let link = app.short_link("emma").await;
    let row = app.get(&format!("/v1/links/{link}")).await;
    let campaign = row.body["campaign_id"].as_str().unwrap().to_owned();
    let influencer = row.body["influencer_id"].as_str().unwrap().to_owned();
    app.post(
        "/v1/codes",
        json!({"code": "EMMA20", "campaign_id": campaign, "influencer_id": influencer,
               "discount_kind": "percent", "discount_value": 2000}),
    )
    .await
    .assert_status(201);
    (campaign, influencer, link)
}

#[tokio::test]
async fn a_patch_of_a_missing_row_is_a_404_naming_the_resource() {
    let app = spawn_app().await;
    let (campaign, influencer, _) = one_of_each(&app).await;
    let cases: [(Method, String, Value, &str); 7] = [
        (
            Method::PATCH,
            "/v1/campaigns/424242".into(),
            json!({"name": "x"}),
            "campaign",
        ),
        (
            Method::PATCH,
            "/v1/influencers/424242".into(),
            json!({"followers": 1}),
            "influencer",
        ),
        (
            Method::PATCH,
            format!("/v1/campaigns/{campaign}/enrollments/424242"),
            json!({"cpa_minor": 1}),
            "enrollment",
        ),
        (
            Method::PATCH,
            format!("/v1/campaigns/424242/enrollments/{influencer}"),
            json!({"cpa_minor": 1}),
            "enrollment",
        ),
        (
            Method::PATCH,
            "/v1/links/424242".into(),
            json!({"enabled": false}),
            "link",
        ),
        (
            Method::PATCH,
            "/v1/codes/NOPE99".into(),
            json!({"enabled": false}),
            "code",
        ),
        // Disabling a link is a patch of `enabled` through the same flow.
        (
            Method::DELETE,
            "/v1/links/424242".into(),
            Value::Null,
            "link",
        ),
    ];
    for (method, path, body, resource) in cases {
        let body = (!body.is_null()).then_some(&body);
        let reply = app
            .send(method.clone(), &path, Some(&app.admin_key), body)
            .await;
        reply.assert_error(404, "not_found");
        assert_eq!(
            reply.body["error"]["message"],
            format!("{resource} not found"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn every_accepted_patch_is_committed_and_a_refused_one_changes_nothing() {
    let app = spawn_app().await;
    let (campaign, influencer, link) = one_of_each(&app).await;
    // (resource path, accepted patch, the field it sets and its value, refused patch)
    let cases = [
        (
            format!("/v1/campaigns/{campaign}"),
            json!({"name": "Summer II"}),
            ("name", json!("Summer II")),
            json!({"name": "Summer III", "margin_bps": -1}),
        ),
        (
            format!("/v1/influencers/{influencer}"),
            json!({"followers": 2000}),
            ("followers", json!(2000)),
            json!({"followers": 3000, "contact_email": "not an email"}),
        ),
        (
            format!("/v1/campaigns/{campaign}/enrollments/{influencer}"),
            json!({"cpa_minor": 500}),
            ("cpa_minor", json!(500)),
            json!({"cpa_minor": 700, "target_value": 5}),
        ),
        (
            format!("/v1/links/{link}"),
            json!({"max_clicks": 9}),
            ("max_clicks", json!(9)),
            json!({"max_clicks": 10, "destination": "javascript:x"}),
        ),
        (
            "/v1/codes/EMMA20".into(),
            json!({"discount_value": 500}),
            ("discount_value", json!(500)),
            json!({"discount_value": 700, "max_per_customer": 0}),
        ),
    ];
    for (path, accepted, (field, value), refused) in cases {
        app.patch(&path, accepted).await.assert_status(200);
        let read = app.get(&path).await;
        assert_eq!(
            read.assert_status(200)[field],
            value,
            "GET {path} after PATCH"
        );

        let reply = app.patch(&path, refused).await;
        assert!(
            reply.status.is_client_error(),
            "PATCH {path}: {} {}",
            reply.status,
            reply.body
        );
        let read = app.get(&path).await;
        assert_eq!(read.body[field], value, "GET {path} after a refused PATCH");
    }
}
