//! The checkout API: validation, redemptions under concurrency, holds, idempotency.

use std::time::Duration;

use attrib::auth::Scope;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{create_key, spawn_app, spawn_app_on, spawn_app_with, TestApp};

pub struct Answer {
    pub status: u16,
    pub replayed: bool,
    pub body: Value,
}

impl Answer {
    #[track_caller]
    pub fn rejected(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
    }
}

/// An app with a checkout key, campaign `summer` (EUR), influencer `emma` enrolled.
pub struct Shop {
    pub app: TestApp,
    pub key: String,
    pub campaign: String,
    pub influencer: String,
}

impl Shop {
    pub async fn open() -> Shop {
        Self::open_with(&[]).await
    }

    pub async fn open_with(extra: &[(&str, &str)]) -> Shop {
        let app = spawn_app_with(extra).await;
        let key = create_key(&app.db, "shop", Scope::Checkout).await;
        let (campaign, influencer) = app.enrolled("summer", "emma").await;
        Shop {
            app,
            key,
            campaign,
            influencer,
        }
    }

    /// Creates `code` with the given terms (percent 20 % unless said otherwise).
    pub async fn code(&self, code: &str, terms: Value) -> Value {
        let mut body = json!({"code": code, "campaign_id": self.campaign,
                              "influencer_id": self.influencer,
                              "discount_kind": "percent", "discount_value": 2000});
        for (k, v) in terms.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.app
            .post("/v1/codes", body)
            .await
            .assert_status(201)
            .clone()
    }

    pub async fn call(&self, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            replayed,
            body,
        }
    }

    pub async fn redeem(&self, body: Value) -> Answer {
        self.call("/v1/redemptions", Some(body)).await
    }

    pub async fn validate(&self, code: &str, body: Value) -> Answer {
        self.call(&format!("/v1/codes/{code}/validate"), Some(body))
            .await
    }

    pub async fn redemptions_of(&self, code: &str) -> i64 {
        self.app.get(&format!("/v1/codes/{code}")).await.body["redemptions"]
            .as_i64()
            .unwrap()
    }
}

pub fn order(code: &str, order_id: &str, subtotal: i64) -> Value {
    json!({"code": code, "order_id": order_id, "subtotal_minor": subtotal, "currency": "EUR"})
}

#[tokio::test]
async fn a_valid_code_reports_its_discount_and_changes_nothing() {
    let shop = Shop::open().await;
    shop.code("EMMA20", json!({"max_redemptions": 1})).await;

    for _ in 0..3 {
        let answer = shop
            .validate("emma20", json!({"subtotal_minor": 4999, "currency": "eur"}))
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["valid"], true);
        // 20 % of 49.99 is 9.998: rounded half up to 10.00
        assert_eq!(answer.body["discount_minor"], 1000);
    }
    assert_eq!(
        shop.redemptions_of("EMMA20").await,
        0,
        "validation takes no slot"
    );
}

#[tokio::test]
async fn every_rejection_reason_is_reported_by_validate_and_by_redeem() {
    let shop = Shop::open().await;
    shop.code("OFF", json!({"enabled": false})).await;
    shop.code("SOON", json!({"starts_at": "2099-01-01T00:00:00Z"}))
        .await;
    shop.code(
        "OVER",
        json!({"starts_at": "2020-01-01T00:00:00Z",
                             "ends_at": "2021-01-01T00:00:00Z"}),
    )
    .await;
    shop.code("BIGCART", json!({"min_subtotal_minor": 10_000}))
        .await;
    shop.code("ONCE", json!({"max_redemptions": 1})).await;
    shop.code("MINE", json!({"max_per_customer": 1})).await;
    shop.redeem(order("ONCE", "first", 5000)).await;
    let mut first = order("MINE", "mine-1", 5000);
    first["customer_ref"] = json!("cust-1");
    assert_eq!(shop.redeem(first).await.status, 201);

    let cases = [
        ("NOSUCH", 5000, "EUR", None, "code_not_found"),
        ("!!", 5000, "EUR", None, "code_not_found"),
        ("OFF", 5000, "EUR", None, "code_inactive"),
        ("SOON", 5000, "EUR", None, "not_started"),
        ("OVER", 5000, "EUR", None, "expired"),
        ("BIGCART", 9999, "EUR", None, "minimum_not_met"),
        ("BIGCART", 10_000, "SEK", None, "currency_mismatch"),
        ("ONCE", 5000, "EUR", None, "usage_limit_reached"),
        (
            "MINE",
            5000,
            "EUR",
            Some("cust-1"),
            "customer_limit_reached",
        ),
    ];
    for (i, (code, subtotal, currency, customer, reason)) in cases.into_iter().enumerate() {
        let mut cart = json!({"subtotal_minor": subtotal, "currency": currency});
        if let Some(customer) = customer {
            cart["customer_ref"] = json!(customer);
        }
        let verdict = shop.validate(code, cart.clone()).await;
        assert_eq!(verdict.status, 200, "{code}: {}", verdict.body);
        assert_eq!(verdict.body["valid"], false, "{code}");
        assert_eq!(verdict.body["reason"], reason, "{code}");

        cart["code"] = json!(code);
        cart["order_id"] = json!(format!("order-{i}"));
        shop.redeem(cart).await.rejected(422, reason);
    }
    // Nothing was taken by the rejected attempts
    assert_eq!(shop.redemptions_of("ONCE").await, 1);
    assert_eq!(shop.redemptions_of("MINE").await, 1);
    assert_eq!(shop.redemptions_of("BIGCART").await, 0);
    // And another customer may still use MINE
    let mut other = order("MINE", "mine-2", 5000);
    other["customer_ref"] = json!("cust-2");
    assert_eq!(shop.redeem(other).await.status, 201);
}

#[tokio::test]
async fn a_code_disabled_after_its_terms_were_read_is_inactive_not_used_up() {
    let shop = Shop::open().await;
    shop.code("PATCHED", json!({})).await;
    shop.code("INDB", json!({})).await;
    // Given both codes' terms in the process's cache, from a first redemption each
    for code in ["PATCHED", "INDB"] {
        let first = shop.redeem(order(code, &format!("{code}-1"), 5000)).await;
        assert_eq!(first.status, 201, "{}", first.body);
    }

    // When one is disabled through the API and the other in the database, behind the cache
    shop.app
        .patch("/v1/codes/PATCHED", json!({"enabled": false}))
        .await
        .assert_status(200);
    sqlx::query("UPDATE promo_codes SET enabled = false WHERE code = 'INDB'")
        .execute(&shop.app.db)
        .await
        .unwrap();

    // Then both are inactive, to validation and to redemption, and nothing is taken
    for code in ["PATCHED", "INDB"] {
        let verdict = shop
            .validate(code, json!({"subtotal_minor": 5000, "currency": "EUR"}))
            .await;
        assert_eq!(verdict.body["reason"], "code_inactive", "{code}");
        shop.redeem(order(code, &format!("{code}-2"), 5000))
            .await
            .rejected(422, "code_inactive");
        assert_eq!(shop.redemptions_of(code).await, 1, "{code}");
        // while the order redeemed before still replays
        let again = shop.redeem(order(code, &format!("{code}-1"), 5000)).await;
        assert_eq!((again.status, again.replayed), (200, true), "{code}");
    }
}

#[tokio::test]
async fn a_committed_redemption_carries_its_discount_and_takes_a_slot() {
    let shop = Shop::open().await;
    shop.code(
        "TENOFF",
        json!({"discount_kind": "fixed", "discount_value": 1000}),
    )
    .await;
    shop.code("SHIPFREE", json!({"discount_kind": "free_shipping"}))
        .await;

    let answer = shop.redeem(order("tenoff", "A-1", 600)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["status"], "committed");
    assert_eq!(body["code"], "TENOFF");
    assert_eq!(
        body["discount_minor"], 600,
        "a fixed discount never exceeds the subtotal"
    );
    assert_eq!(body["campaign_id"], json!(shop.campaign));
    assert_eq!(body["influencer_id"], json!(shop.influencer));
    assert!(body["hold_expires_at"].is_null());
    assert!(body["id"].is_string());
    assert_eq!(shop.redemptions_of("TENOFF").await, 1);

    let free = shop.redeem(order("SHIPFREE", "A-2", 2500)).await;
    assert_eq!(free.status, 201);
    assert_eq!(free.body["discount_minor"], 0);
    assert_eq!(free.body["discount_kind"], "free_shipping");

    let id = body["id"].as_str().unwrap();
    let fetched = shop
        .app
        .send(
            reqwest::Method::GET,
            &format!("/v1/redemptions/{id}"),
            Some(&shop.key),
            None,
        )
        .await;
    assert_eq!(fetched.assert_status(200)["order_id"], "A-1");
}

#[tokio::test]
async fn five_hundred_concurrent_orders_on_a_code_limited_to_one_hundred() {
    let shop = Shop::open_with(&[("ATTRIB_DATABASE_MAX_CONNECTIONS", "20")]).await;
    shop.code("HOT", json!({"max_redemptions": 100})).await;

    let answers =
        join_all((0..500).map(|i| shop.redeem(order("HOT", &format!("hot-{i}"), 5000)))).await;

    let created = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 422 && a.body["error"]["code"] == "usage_limit_reached")
        .count();
    assert_eq!((created, refused), (100, 400));
    assert_eq!(shop.redemptions_of("HOT").await, 100);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM redemptions")
        .fetch_one(&shop.app.db)
        .await
        .unwrap();
    assert_eq!(stored, 100);
}

#[tokio::test]
async fn a_customer_limit_holds_under_concurrency() {
    let shop = Shop::open().await;
    shop.code("TWICE", json!({"max_per_customer": 2})).await;

    let answers = join_all((0..30).map(|i| {
        let mut body = order("TWICE", &format!("t-{i}"), 5000);
        body["customer_ref"] = json!("same-customer");
        shop.redeem(body)
    }))
    .await;

    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 2);
    assert!(answers
        .iter()
        .filter(|a| a.status != 201)
        .all(|a| a.body["error"]["code"] == "customer_limit_reached"));
    assert_eq!(shop.redemptions_of("TWICE").await, 2);
}

#[tokio::test]
async fn a_hold_is_committed_or_released_and_release_frees_the_slot() {
    let shop = Shop::open().await;
    shop.code("HOLD", json!({"max_redemptions": 1})).await;

    let mut reserve = order("HOLD", "h-1", 5000);
    reserve["mode"] = json!("reserve");
    let held = shop.redeem(reserve).await;
    assert_eq!(held.status, 201, "{}", held.body);
    assert_eq!(held.body["status"], "reserved");
    assert!(held.body["hold_expires_at"].is_string());
    // The hold takes the only slot
    shop.redeem(order("HOLD", "h-2", 5000))
        .await
        .rejected(422, "usage_limit_reached");

    let id = held.body["id"].as_str().unwrap().to_owned();
    let released = shop
        .call(&format!("/v1/redemptions/{id}/release"), None)
        .await;
    assert_eq!(released.status, 200);
    assert_eq!(released.body["status"], "released");
    assert_eq!(shop.redemptions_of("HOLD").await, 0);
    // Releasing again changes nothing; committing a released hold is refused
    let again = shop
        .call(&format!("/v1/redemptions/{id}/release"), None)
        .await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(shop.redemptions_of("HOLD").await, 0);
    shop.call(&format!("/v1/redemptions/{id}/commit"), None)
        .await
        .rejected(409, "not_reserved");

    // The freed slot goes to the next order, held and then committed
    let mut next = order("HOLD", "h-3", 5000);
    next["mode"] = json!("reserve");
    let next = shop.redeem(next).await;
    assert_eq!(next.status, 201);
    let next_id = next.body["id"].as_str().unwrap();
    let committed = shop
        .call(&format!("/v1/redemptions/{next_id}/commit"), None)
        .await;
    assert_eq!(committed.status, 200);
    assert_eq!(committed.body["status"], "committed");
    assert!(committed.body["committed_at"].is_string());
    assert_eq!(shop.redemptions_of("HOLD").await, 1);
    // A committed redemption cannot be released, only cancelled
    shop.call(&format!("/v1/redemptions/{next_id}/release"), None)
        .await
        .rejected(409, "not_reserved");
}

#[tokio::test]
async fn an_expired_hold_frees_its_slot_and_cannot_be_committed() {
    let shop = Shop::open_with(&[("ATTRIB_HOLD_SECONDS", "1")]).await;
    shop.code("BRIEF", json!({"max_redemptions": 1})).await;
    let mut reserve = order("BRIEF", "b-1", 5000);
    reserve["mode"] = json!("reserve");
    let held = shop.redeem(reserve).await;
    assert_eq!(held.status, 201);
    let id = held.body["id"].as_str().unwrap().to_owned();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = attrib::storage::redemptions::expire_holds(&shop.app.db)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(shop.redemptions_of("BRIEF").await, 0);
    shop.call(&format!("/v1/redemptions/{id}/commit"), None)
        .await
        .rejected(409, "not_reserved");
    let fetched = shop
        .app
        .send(
            reqwest::Method::GET,
            &format!("/v1/redemptions/{id}"),
            Some(&shop.key),
            None,
        )
        .await;
    assert_eq!(fetched.assert_status(200)["status"], "expired");
    assert_eq!(shop.redeem(order("BRIEF", "b-2", 5000)).await.status, 201);
}

#[tokio::test]
async fn committing_a_hold_after_its_expiry_is_refused_even_before_the_sweep() {
    let shop = Shop::open_with(&[("ATTRIB_HOLD_SECONDS", "1")]).await;
    shop.code("LATE", json!({"max_redemptions": 1})).await;
    let mut reserve = order("LATE", "l-1", 5000);
    reserve["mode"] = json!("reserve");
    let id = shop.redeem(reserve).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    shop.call(&format!("/v1/redemptions/{id}/commit"), None)
        .await
        .rejected(409, "not_reserved");
    assert_eq!(shop.redemptions_of("LATE").await, 0, "the slot came back");
}

#[tokio::test]
async fn cancelling_frees_the_slot_of_a_committed_redemption_and_a_refund_does_not() {
    let shop = Shop::open().await;
    shop.code("UNDO", json!({"max_redemptions": 1})).await;
    let done = shop.redeem(order("UNDO", "u-1", 5000)).await;
    let id = done.body["id"].as_str().unwrap().to_owned();

    let cancelled = shop
        .call(&format!("/v1/redemptions/{id}/cancel"), None)
        .await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(shop.redemptions_of("UNDO").await, 0);
    let again = shop
        .call(&format!("/v1/redemptions/{id}/cancel"), None)
        .await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(
        shop.redemptions_of("UNDO").await,
        0,
        "cancelled once, freed once"
    );
    assert_eq!(shop.redeem(order("UNDO", "u-2", 5000)).await.status, 201);
    // A refund of that order's conversion keeps the slot taken
    let refund = shop.call("/v1/conversions/u-2/refunds", None).await;
    assert_eq!(refund.status, 200, "{}", refund.body);
    assert_eq!(shop.redemptions_of("UNDO").await, 1);
    shop.redeem(order("UNDO", "u-3", 5000))
        .await
        .rejected(422, "usage_limit_reached");
    shop.call("/v1/redemptions/999999/cancel", None)
        .await
        .rejected(404, "not_found");
}

#[tokio::test]
async fn the_same_order_again_is_replayed_and_a_different_body_is_a_conflict() {
    let shop = Shop::open().await;
    shop.code("ONCEMORE", json!({})).await;
    let first = shop.redeem(order("ONCEMORE", "o-1", 5000)).await;
    assert_eq!((first.status, first.replayed), (201, false));

    let replay = shop.redeem(order("oncemore", "o-1", 5000)).await;
    assert_eq!((replay.status, replay.replayed), (200, true));
    assert_eq!(replay.body["id"], first.body["id"]);

    shop.redeem(order("ONCEMORE", "o-1", 6000))
        .await
        .rejected(409, "order_conflict");
    assert_eq!(shop.redemptions_of("ONCEMORE").await, 1);
}

#[tokio::test]
async fn an_order_replayed_after_its_code_is_used_up_is_still_a_replay() {
    let shop = Shop::open().await;
    shop.code("LAST", json!({"max_redemptions": 1})).await;
    let first = shop.redeem(order("LAST", "only", 5000)).await;
    assert_eq!(first.status, 201);

    let replay = shop.redeem(order("LAST", "only", 5000)).await;
    assert_eq!((replay.status, replay.replayed), (200, true));
    assert_eq!(replay.body["id"], first.body["id"]);
    shop.redeem(order("LAST", "only", 4000))
        .await
        .rejected(409, "order_conflict");
    shop.redeem(order("LAST", "another", 5000))
        .await
        .rejected(422, "usage_limit_reached");
    assert_eq!(shop.redemptions_of("LAST").await, 1);
}

#[tokio::test]
async fn concurrent_duplicates_of_an_order_make_one_redemption() {
    let shop = Shop::open().await;
    shop.code("DUP", json!({})).await;

    let answers = join_all((0..20).map(|_| shop.redeem(order("DUP", "same-order", 5000)))).await;

    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    assert!(answers
        .iter()
        .filter(|a| a.status != 201)
        .all(|a| a.status == 200 && a.replayed));
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| a.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(shop.redemptions_of("DUP").await, 1);
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let shop = Shop::open().await;
    shop.code("SAFE", json!({})).await;
    let cases = [
        (
            json!({"code": "SAFE", "order_id": "x", "subtotal_minor": -1, "currency": "EUR"}),
            400,
            "invalid_amount",
        ),
        (
            json!({"code": "SAFE", "order_id": "x", "subtotal_minor": 100, "currency": "EURO"}),
            400,
            "invalid_currency",
        ),
        (
            json!({"code": "SAFE", "order_id": "", "subtotal_minor": 100, "currency": "EUR"}),
            400,
            "invalid_text",
        ),
        (
            json!({"code": "SAFE", "order_id": "x", "subtotal_minor": 100, "currency": "EUR", "mode": "later"}),
            400,
            "invalid_body",
        ),
        (
            json!({"code": "SAFE", "order_id": "x", "subtotal_minor": 100, "currency": "EUR", "coupon": 1}),
            400,
            "invalid_body",
        ),
        (
            json!({"code": "SAFE", "order_id": "x", "subtotal_minor": 100, "currency": "EUR",
                "click_id": "AQAAAAAAAAAHAAGUx_____AAAAAAAAAAAAAAAA"}),
            422,
            "invalid_click_id",
        ),
    ];
    for (body, status, code) in cases {
        let answer = shop.redeem(body.clone()).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{body}");
    }
    assert_eq!(shop.redemptions_of("SAFE").await, 0);
    let answer = shop
        .validate("SAFE", json!({"subtotal_minor": "ten", "currency": "EUR"}))
        .await;
    assert_eq!(answer.status, 400);
}

#[tokio::test]
async fn checkout_routes_need_a_checkout_or_admin_key() {
    let app = spawn_app().await;
    let analyst = create_key(&app.db, "reports", Scope::Analyst).await;
    let body = order("ANY", "o", 100);
    let reply = app
        .send(
            reqwest::Method::POST,
            "/v1/redemptions",
            Some(&analyst),
            Some(&body),
        )
        .await;
    reply.assert_error(403, "forbidden");
    let reply = app
        .send(reqwest::Method::POST, "/v1/redemptions", None, Some(&body))
        .await;
    reply.assert_error(401, "unauthorized");
    // An admin key may call checkout routes
    let reply = app
        .send(
            reqwest::Method::POST,
            "/v1/redemptions",
            Some(&app.admin_key),
            Some(&body),
        )
        .await;
    reply.assert_error(422, "code_not_found");
}

#[tokio::test]
async fn a_code_change_applies_to_the_next_redemption() {
    let shop = Shop::open().await;
    shop.code("EMMA20", json!({})).await;
    let first = shop.redeem(order("EMMA20", "o-1", 10_000)).await;
    assert_eq!(first.body["discount_minor"], 2000, "{}", first.body);

    // When the code's terms change after a redemption read them
    shop.app
        .patch(
            "/v1/codes/emma20",
            json!({"discount_value": 1000, "min_subtotal_minor": 5000}),
        )
        .await
        .assert_status(200);

    // Then the very next redemption applies the new terms
    let second = shop.redeem(order("emma20", "o-2", 10_000)).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.body["discount_minor"], 1000, "{}", second.body);
    shop.redeem(order("EMMA20", "o-3", 4_000))
        .await
        .rejected(422, "minimum_not_met");
}

#[tokio::test]
async fn another_process_applies_a_code_change_it_had_cached() {
    // Given two processes on one database and one Redis prefix
    let shop = Shop::open().await;
    let prefix = shop.app.settings.redis_prefix.clone();
    let other = Shop {
        app: spawn_app_on(
            &shop.app.settings.database_url,
            &[("ATTRIB_REDIS_PREFIX", prefix.as_str())],
        )
        .await,
        key: shop.key.clone(),
        campaign: shop.campaign.clone(),
        influencer: shop.influencer.clone(),
    };
    shop.code("EMMA20", json!({})).await;
    // and the other has read the code's terms
    let first = other.redeem(order("EMMA20", "o-1", 10_000)).await;
    assert_eq!(first.body["discount_minor"], 2000, "{}", first.body);

    // When the first process changes the code
    shop.app
        .patch("/v1/codes/EMMA20", json!({"discount_value": 500}))
        .await
        .assert_status(200);

    // Then the other applies the change well before its copy would expire
    let mut followed = false;
    for attempt in 0..50 {
        let answer = other
            .redeem(order("EMMA20", &format!("o-next-{attempt}"), 10_000))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        if answer.body["discount_minor"] == 500 {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(followed, "the code change did not reach the other process");
}
