//! A stored value outside its column's closed set, or not of its domain type's shape, is an
//! error wherever it is read, never quietly replaced by a default. Each test breaks its own
//! database: it drops the CHECK constraint that would refuse the value and writes it with
//! raw SQL.

use serde_json::json;

use crate::{
    checkout::Shop,
    helpers::{spawn_app, TestApp},
};

/// Drops `constraints` of `table` and runs `update` against the test's own database.
async fn corrupt(app: &TestApp, table: &str, constraints: &[&str], update: &str) {
    for constraint in constraints {
        sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
            .execute(&app.db)
            .await
            .unwrap();
    }
    let changed = sqlx::query(update).execute(&app.db).await.unwrap();
    assert_eq!(changed.rows_affected(), 1, "{update}");
}

#[tokio::test]
async fn an_unknown_discount_kind_is_an_error_not_a_percent_discount() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    app.post(
        "/v1/codes",
        json!({"code": "EMMA20", "campaign_id": campaign, "influencer_id": influencer,
               "discount_kind": "fixed", "discount_value": 500}),
    )
    .await
    .assert_status(201);
    corrupt(
        &app,
        "promo_codes",
        &[
            "promo_codes_discount_kind_check",
            "promo_codes_discount_check",
        ],
        "UPDATE promo_codes SET discount_kind = 'bogof' WHERE code = 'EMMA20'",
    )
    .await;

    app.get("/v1/codes/EMMA20")
        .await
        .assert_error(500, "internal_error");
    // A patch that leaves the kind alone used to read it as `percent` and write that back.
    app.patch("/v1/codes/EMMA20", json!({"discount_value": 700}))
        .await
        .assert_error(500, "internal_error");
    let (kind, value): (String, i64) = sqlx::query_as(
        "SELECT discount_kind, discount_value FROM promo_codes WHERE code = 'EMMA20'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), value), ("bogof", 500));
}

#[tokio::test]
async fn an_unknown_campaign_goal_or_status_is_an_error() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    corrupt(
        &app,
        "campaigns",
        &["campaigns_goal_check"],
        &format!("UPDATE campaigns SET goal = 'fame' WHERE id = {campaign}"),
    )
    .await;
    app.get(&format!("/v1/campaigns/{campaign}"))
        .await
        .assert_error(500, "internal_error");

    let other = app.campaign("winter").await;
    corrupt(
        &app,
        "campaigns",
        &["campaigns_status_override_check"],
        &format!("UPDATE campaigns SET status_override = 'paused' WHERE id = {other}"),
    )
    .await;
    app.get(&format!("/v1/campaigns/{other}"))
        .await
        .assert_error(500, "internal_error");
}

#[tokio::test]
async fn an_unknown_attribution_priority_is_an_error_not_code_first() {
    let shop = Shop::open().await;
    shop.code("EMMA20", json!({})).await;
    corrupt(
        &shop.app,
        "campaigns",
        &["campaigns_attribution_priority_check"],
        &format!(
            "UPDATE campaigns SET attribution_priority = 'newest' WHERE id = {}",
            shop.campaign
        ),
    )
    .await;

    let answer = shop
        .call(
            "/v1/conversions",
            Some(
                json!({"order_id": "o-1", "amount_minor": 5000, "currency": "EUR",
                        "code": "EMMA20"}),
            ),
        )
        .await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM conversions")
        .fetch_one(&shop.app.db)
        .await
        .unwrap();
    assert_eq!(recorded, 0);
}

#[tokio::test]
async fn a_stored_code_or_url_that_is_not_one_is_an_error() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    app.post(
        "/v1/codes",
        json!({"code": "EMMA20", "campaign_id": campaign, "influencer_id": influencer,
               "discount_kind": "percent", "discount_value": 2000}),
    )
    .await
    .assert_status(201);
    corrupt(
        &app,
        "promo_codes",
        &["promo_codes_code_check"],
        "UPDATE promo_codes SET code = 'emma 20' WHERE code = 'EMMA20'",
    )
    .await;
    app.get(&format!("/v1/codes?campaign_id={campaign}"))
        .await
        .assert_error(500, "internal_error");

    let post = app
        .post(
            "/v1/posts",
            json!({"campaign_id": campaign, "influencer_id": influencer,
                   "url": "https://social.example/p/1"}),
        )
        .await
        .id();
    // `posts.url` has no constraint on its scheme: only what the API wrote keeps it safe.
    corrupt(
        &app,
        "posts",
        &[],
        &format!("UPDATE posts SET url = 'javascript:alert(1)' WHERE id = {post}"),
    )
    .await;
    app.get(&format!("/v1/posts/{post}"))
        .await
        .assert_error(500, "internal_error");
}

#[tokio::test]
async fn a_link_reads_back_by_its_shape_and_a_destination_that_is_no_url_is_an_error() {
    let app = spawn_app().await;
    let link = app.short_link("emma").await;
    // A word reserved after a link took it does not make the link unreadable.
    sqlx::query(&format!(
        "UPDATE links SET slug = 'admin' WHERE id = {link}"
    ))
    .execute(&app.db)
    .await
    .unwrap();
    let reply = app.get(&format!("/v1/links/{link}")).await;
    assert_eq!(reply.assert_status(200)["slug"], "admin");

    // Within the column's CHECK (`^https?://`), but no URL: the redirect cannot use it.
    sqlx::query(&format!(
        "UPDATE links SET slug = 'emma', destination = 'https://' WHERE id = {link}"
    ))
    .execute(&app.db)
    .await
    .unwrap();
    let response = app
        .client
        .get(format!("{}/emma", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn a_stored_currency_that_is_not_iso_4217_is_an_error() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    // Three upper-case letters pass the column's CHECK; no currency is called that.
    corrupt(
        &app,
        "campaigns",
        &[],
        &format!("UPDATE campaigns SET currency = 'XYZ' WHERE id = {campaign}"),
    )
    .await;
    app.get(&format!("/v1/campaigns/{campaign}"))
        .await
        .assert_error(500, "internal_error");
}
