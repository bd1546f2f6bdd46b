use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Reply, TestApp};

async fn code(app: &TestApp, campaign: &str, influencer: &str, extra: Value) -> Reply {
    let mut body = json!({
        "code": "emma20",
        "campaign_id": campaign,
        "influencer_id": influencer,
        "discount_kind": "percent",
        "discount_value": 2000,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/v1/codes", body).await
}

#[tokio::test]
async fn a_code_is_stored_upper_case_and_found_in_any_case() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let reply = code(
        &app,
        &campaign,
        &influencer,
        json!({"max_redemptions": 100, "max_per_customer": 1, "min_subtotal_minor": 5000,
               "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-09-01T00:00:00Z"}),
    )
    .await;
    let body = reply.assert_status(201).clone();
    assert_eq!(body["code"], "EMMA20");
    assert_eq!(body["discount_kind"], "percent");
    assert_eq!(body["discount_value"], 2000);
    assert_eq!(body["max_redemptions"], 100);
    assert_eq!(body["max_per_customer"], 1);
    assert_eq!(body["min_subtotal_minor"], 5000);
    assert_eq!(body["enabled"], true);
    assert_eq!(body["redemptions"], 0);
    assert_eq!(app.get("/v1/codes/emma20").await.body, body);
    assert_eq!(app.get("/v1/codes/EmMa20").await.body, body);
    app.get("/v1/codes/NOPE99")
        .await
        .assert_error(404, "not_found");
    app.get("/v1/codes/not%20a%20code")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_duplicate_code_is_409_whatever_its_case() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    code(&app, &campaign, &influencer, json!({}))
        .await
        .assert_status(201);
    code(&app, &campaign, &influencer, json!({"code": "EMMA20"}))
        .await
        .assert_error(409, "code_taken");
}

#[tokio::test]
async fn discounts_and_limits_are_validated() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let cases = [
        (json!({"discount_value": 0}), 400, "invalid_discount"),
        (json!({"discount_value": 10_001}), 400, "invalid_discount"),
        (
            json!({"discount_kind": "fixed", "discount_value": null}),
            400,
            "invalid_discount",
        ),
        (
            json!({"discount_kind": "fixed", "discount_value": -100}),
            400,
            "invalid_discount",
        ),
        (json!({"discount_kind": "bogo"}), 400, "invalid_body"),
        (json!({"max_redemptions": 0}), 400, "invalid_number"),
        (json!({"max_per_customer": -1}), 400, "invalid_number"),
        (json!({"min_subtotal_minor": -1}), 400, "invalid_amount"),
        (
            json!({"starts_at": "2026-09-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}),
            422,
            "ends_before_starts",
        ),
        (json!({"starts_at": "June"}), 400, "invalid_datetime"),
        (json!({"code": "EMMA 20"}), 400, "invalid_code"),
        (json!({"code": "E"}), 400, "invalid_code"),
        (json!({"count": 5}), 400, "invalid_body"),
    ];
    for (extra, status, code_name) in cases {
        code(&app, &campaign, &influencer, extra)
            .await
            .assert_error(status, code_name);
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM promo_codes")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn free_shipping_carries_no_value_and_fixed_is_minor_units() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let shipping = code(
        &app,
        &campaign,
        &influencer,
        json!({"code": "SHIPFREE", "discount_kind": "free_shipping", "discount_value": 999}),
    )
    .await;
    assert_eq!(shipping.assert_status(201)["discount_value"], 0);
    let fixed = code(
        &app,
        &campaign,
        &influencer,
        json!({"code": "TENOFF", "discount_kind": "fixed", "discount_value": 1000}),
    )
    .await;
    assert_eq!(fixed.assert_status(201)["discount_value"], 1000);
}

#[tokio::test]
async fn a_code_needs_an_enrolled_influencer() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    let outsider = app.influencer("outsider").await;
    code(&app, &campaign, &outsider, json!({}))
        .await
        .assert_error(422, "not_enrolled");
    code(&app, "999999", &outsider, json!({}))
        .await
        .assert_error(422, "campaign_not_found");
}

#[tokio::test]
async fn ten_thousand_codes_are_generated_in_one_call() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let reply = app
        .post(
            "/v1/codes/generate",
            json!({"count": 10_000, "prefix": "sum-", "campaign_id": campaign,
                   "influencer_id": influencer, "discount_kind": "percent",
                   "discount_value": 1500, "max_redemptions": 1}),
        )
        .await;
    let body = reply.assert_status(201);
    assert_eq!(body["count"], 10_000);
    let codes: Vec<&str> = body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = codes.iter().copied().collect();
    assert_eq!(unique.len(), 10_000);
    for c in &codes {
        let random = c.strip_prefix("SUM-").expect("prefix");
        assert_eq!(random.len(), 10);
        assert!(!random.contains(['0', 'O', '1', 'I', 'L']), "{c}");
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM promo_codes WHERE code LIKE 'SUM-%' AND max_redemptions = 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 10_000);
    let one = app
        .get(&format!("/v1/codes/{}", codes[0].to_lowercase()))
        .await;
    assert_eq!(one.assert_status(200)["discount_value"], 1500);
}

#[tokio::test]
async fn generation_parameters_are_validated() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let base = json!({"campaign_id": campaign, "influencer_id": influencer,
                      "discount_kind": "free_shipping"});
    let cases = [
        (json!({"count": 0}), "invalid_count"),
        (json!({"count": 10_001}), "invalid_count"),
        (json!({}), "invalid_count"),
        (json!({"count": 5, "prefix": "no spaces"}), "invalid_prefix"),
        (json!({"count": 5, "length": 4}), "invalid_length"),
        (json!({"count": 5, "code": "EMMA20"}), "invalid_body"),
    ];
    for (extra, error) in cases {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        app.post("/v1/codes/generate", body)
            .await
            .assert_error(400, error);
    }
}

#[tokio::test]
async fn patch_changes_terms_but_not_below_existing_redemptions() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    code(&app, &campaign, &influencer, json!({"max_redemptions": 10}))
        .await
        .assert_status(201);
    let reply = app
        .patch(
            "/v1/codes/emma20",
            json!({"discount_kind": "fixed", "discount_value": 500, "enabled": false,
                   "max_per_customer": 2, "ends_at": "2027-01-01T00:00:00Z"}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["discount_kind"], "fixed");
    assert_eq!(body["discount_value"], 500);
    assert_eq!(body["enabled"], false);
    assert_eq!(body["max_per_customer"], 2);

    sqlx::query("UPDATE promo_codes SET redemptions = 7 WHERE code = 'EMMA20'")
        .execute(&app.db)
        .await
        .unwrap();
    app.patch("/v1/codes/EMMA20", json!({"max_redemptions": 5}))
        .await
        .assert_error(422, "limit_below_redemptions");
    app.patch(
        "/v1/codes/EMMA20",
        json!({"discount_kind": "percent", "discount_value": 0}),
    )
    .await
    .assert_error(400, "invalid_discount");
    app.patch("/v1/codes/EMMA20", json!({"redemptions": 0}))
        .await
        .assert_error(400, "invalid_body");
    app.patch("/v1/codes/NOPE99", json!({"enabled": true}))
        .await
        .assert_error(404, "not_found");
    let cleared = app
        .patch("/v1/codes/EMMA20", json!({"max_redemptions": null}))
        .await;
    assert!(cleared.assert_status(200)["max_redemptions"].is_null());
}

#[tokio::test]
async fn codes_are_listed_by_campaign_and_influencer() {
    let app = spawn_app().await;
    let (campaign, emma) = app.enrolled("summer", "emma").await;
    let noah = app.influencer("noah").await;
    app.enroll(&campaign, &noah).await;
    for (name, influencer) in [("EMMA1", &emma), ("EMMA2", &emma), ("NOAH1", &noah)] {
        code(&app, &campaign, influencer, json!({"code": name}))
            .await
            .assert_status(201);
    }
    let emma_codes = app
        .collect_pages(&format!("/v1/codes?influencer_id={emma}"), 1)
        .await;
    let names: Vec<&str> = emma_codes
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["EMMA1", "EMMA2"]);
    assert_eq!(
        app.collect_pages(&format!("/v1/codes?campaign_id={campaign}"), 2)
            .await
            .len(),
        3
    );
}
