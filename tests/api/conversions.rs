//! Conversions: attribution by code and by signed click id, idempotency, refunds,
//! cancellation, and their events reaching Postgres through the outbox and the worker.

use std::time::Duration;

use attrib::{
    pipeline::keys::Keys,
    worker::{FailPoint, Worker},
};
use chrono::Utc;
use serde_json::{json, Value};

use crate::{
    checkout::{order, Answer, Shop},
    helpers::{draining, worker_for},
};

impl Shop {
    async fn convert(&self, body: Value) -> Answer {
        self.call("/v1/conversions", Some(body)).await
    }

    /// A link for the shop's influencer; returns the click id of one visit.
    async fn click_id(&self, slug: &str) -> String {
        self.app
            .post(
                "/v1/links",
                json!({"campaign_id": self.campaign, "influencer_id": self.influencer,
                       "slug": slug, "destination": "https://shop.example.com/"}),
            )
            .await
            .assert_status(201);
        let response = self
            .app
            .client
            .get(format!("{}/{slug}", self.app.address))
            .send()
            .await
            .unwrap();
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "atid")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    /// A second influencer enrolled in the campaign with code `code`.
    async fn conversion(&self, order_id: &str) -> crate::helpers::Reply {
        self.app
            .send(
                reqwest::Method::GET,
                &format!("/v1/conversions/{order_id}"),
                Some(&self.key),
                None,
            )
            .await
    }

    async fn rival_code(&self, handle: &str, code: &str) -> String {
        let rival = self.app.influencer(handle).await;
        self.app.enroll(&self.campaign, &rival).await;
        self.app
            .post(
                "/v1/codes",
                json!({"code": code, "campaign_id": self.campaign, "influencer_id": rival,
                       "discount_kind": "percent", "discount_value": 1000}),
            )
            .await
            .assert_status(201);
        rival
    }

    async fn worker(&self, consumer: &str, fail_point: Option<FailPoint>) -> Worker {
        worker_for(&self.app, None, draining(consumer, fail_point))
    }

    /// Waits until the relay has moved every outbox event to the streams.
    async fn outbox_drained(&self) {
        for _ in 0..100 {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE relayed_at IS NULL")
                    .fetch_one(&self.app.db)
                    .await
                    .unwrap();
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the outbox was not relayed");
    }

    /// Conversions, revenue, discount, refunded, cancelled, voided (no longer counted).
    async fn rollup(&self) -> (i64, i64, i64, i64, i64, i64) {
        sqlx::query_as(
            "SELECT coalesce(sum(conversions), 0)::bigint, coalesce(sum(revenue_minor), 0)::bigint,
                    coalesce(sum(discount_minor), 0)::bigint,
                    coalesce(sum(refunded_minor), 0)::bigint, coalesce(sum(cancelled), 0)::bigint,
                    coalesce(sum(voided), 0)::bigint
             FROM conversion_rollups",
        )
        .fetch_one(&self.app.db)
        .await
        .unwrap()
    }
}

fn sale(order_id: &str, amount: i64) -> Value {
    json!({"order_id": order_id, "amount_minor": amount, "currency": "EUR"})
}

#[tokio::test]
async fn a_code_beats_a_click_unless_the_campaign_prefers_clicks() {
    let shop = Shop::open().await;
    let click = shop.click_id("emma-link").await;
    let rival = shop.rival_code("nora", "NORA10").await;

    let mut both = sale("o-1", 5000);
    both["click_id"] = json!(click);
    both["code"] = json!("nora10");
    let answer = shop.convert(both.clone()).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "attributed");
    assert_eq!(answer.body["attributed"]["influencer_id"], json!(rival));
    assert_eq!(answer.body["attributed"]["via"], "code");
    assert_eq!(answer.body["rule"], "code_over_click");

    shop.app
        .patch(
            &format!("/v1/campaigns/{}", shop.campaign),
            json!({"attribution_priority": "click"}),
        )
        .await
        .assert_status(200);
    both["order_id"] = json!("o-2");
    let answer = shop.convert(both).await;
    assert_eq!(
        answer.body["attributed"]["influencer_id"],
        json!(shop.influencer)
    );
    assert_eq!(answer.body["attributed"]["via"], "click");
    assert!(answer.body["attributed"]["link_id"].is_string());
    assert_eq!(answer.body["rule"], "click_over_code");
}

#[tokio::test]
async fn a_click_counts_within_the_window_only_and_a_forged_one_is_refused() {
    let shop = Shop::open().await;
    // The click is not ingested (no worker runs here): attribution reads the click id alone.
    let click = shop.click_id("emma-link").await;

    let mut fresh = sale("in-window", 4000);
    fresh["click_id"] = json!(click);
    let answer = shop.convert(fresh).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["status"], "attributed");
    assert_eq!(answer.body["attributed"]["via"], "click");
    assert_eq!(answer.body["rule"], "last_click_in_window");

    let mut late = sale("too-late", 4000);
    late["click_id"] = json!(click);
    late["occurred_at"] = json!((Utc::now() + chrono::Duration::days(31)).to_rfc3339());
    let answer = shop.convert(late).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["status"], "unqualified");
    assert!(answer.body["attributed"].is_null());
    assert_eq!(answer.body["rule"], "click_outside_window");

    let mut forged = sale("forged", 4000);
    let mut tampered = click.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    forged["click_id"] = json!(String::from_utf8(tampered).unwrap());
    shop.convert(forged).await.rejected(422, "invalid_click_id");
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversions WHERE order_id = 'forged'")
            .fetch_one(&shop.app.db)
            .await
            .unwrap();
    assert_eq!(stored, 0);

    let nothing = shop
        .convert(json!({"order_id": "lead-1", "kind": "lead",
                                      "amount_minor": 0, "currency": "EUR"}))
        .await;
    assert_eq!(nothing.body["status"], "unattributed");
    assert_eq!(nothing.body["kind"], "lead");
}

#[tokio::test]
async fn an_order_is_recorded_once_and_its_currency_must_be_the_campaigns() {
    let shop = Shop::open().await;
    shop.code("EMMA", json!({})).await;
    let mut body = sale("o-1", 5000);
    body["code"] = json!("EMMA");
    assert_eq!(shop.convert(body.clone()).await.status, 202);
    let again = shop.convert(body.clone()).await;
    assert_eq!((again.status, again.replayed), (200, true));
    body["amount_minor"] = json!(6000);
    shop.convert(body).await.rejected(409, "order_conflict");

    let mut sek = sale("o-2", 5000);
    sek["code"] = json!("EMMA");
    sek["currency"] = json!("SEK");
    shop.convert(sek).await.rejected(422, "currency_mismatch");
    shop.convert(json!({"order_id": "o-3", "amount_minor": -5, "currency": "EUR"}))
        .await
        .rejected(400, "invalid_amount");
    shop.convert(
        json!({"order_id": "o-3", "amount_minor": 5, "currency": "EUR", "kind": "Big Sale!"}),
    )
    .await
    .rejected(400, "invalid_kind");
}

#[tokio::test]
async fn refunds_never_exceed_the_amount_and_cancellation_ends_it() {
    let shop = Shop::open().await;
    shop.convert(sale("r-1", 10_000)).await;

    let partial = shop
        .call(
            "/v1/conversions/r-1/refunds",
            Some(json!({"amount_minor": 2500})),
        )
        .await;
    assert_eq!(partial.status, 200, "{}", partial.body);
    assert_eq!(partial.body["refunded_minor"], 2500);
    shop.call(
        "/v1/conversions/r-1/refunds",
        Some(json!({"amount_minor": 7501})),
    )
    .await
    .rejected(422, "refund_exceeds_amount");
    let rest = shop.call("/v1/conversions/r-1/refunds", None).await;
    assert_eq!(rest.body["refunded_minor"], 10_000);
    shop.call("/v1/conversions/r-1/refunds", None)
        .await
        .rejected(422, "refund_exceeds_amount");
    shop.call(
        "/v1/conversions/r-1/refunds",
        Some(json!({"amount_minor": "all"})),
    )
    .await
    .rejected(400, "invalid_body");
    shop.call("/v1/conversions/nope/refunds", None)
        .await
        .rejected(404, "not_found");

    shop.convert(sale("r-2", 3000)).await;
    let cancelled = shop.call("/v1/conversions/r-2/cancel", None).await;
    assert_eq!(cancelled.status, 200);
    assert!(cancelled.body["cancelled_at"].is_string());
    shop.call("/v1/conversions/r-2/refunds", None)
        .await
        .rejected(409, "conversion_cancelled");
}

#[tokio::test]
async fn a_committed_redemption_creates_its_orders_conversion() {
    let shop = Shop::open().await;
    shop.code("EMMA20", json!({})).await;
    let done = shop.redeem(order("EMMA20", "shop-1", 5000)).await;
    assert_eq!(done.status, 201);

    let conversion = shop.conversion("shop-1").await;
    let body = conversion.assert_status(200);
    assert_eq!(body["amount_minor"], 4000, "the subtotal less the discount");
    assert_eq!(body["attributed"]["via"], "code");
    assert_eq!(body["rule"], "redemption");
    // The shop reporting the same order again is a replay; another amount a conflict
    let again = shop.convert(sale("shop-1", 4000)).await;
    assert_eq!((again.status, again.replayed), (200, true));
    shop.convert(sale("shop-1", 5000))
        .await
        .rejected(409, "order_conflict");

    // A reserved redemption creates nothing until committed
    let mut hold = order("EMMA20", "shop-2", 5000);
    hold["mode"] = json!("reserve");
    let held = shop.redeem(hold).await;
    let none = shop.conversion("shop-2").await;
    none.assert_error(404, "not_found");
    let id = held.body["id"].as_str().unwrap();
    shop.call(&format!("/v1/redemptions/{id}/commit"), None)
        .await;
    let created = shop.conversion("shop-2").await;
    assert_eq!(created.assert_status(200)["amount_minor"], 4000);

    // Cancelling the redemption cancels its conversion
    shop.call(&format!("/v1/redemptions/{id}/cancel"), None)
        .await;
    let cancelled = shop.conversion("shop-2").await;
    assert!(cancelled.assert_status(200)["cancelled_at"].is_string());
}

#[tokio::test]
async fn conversion_events_reach_postgres_once_across_a_worker_crash() {
    let shop = Shop::open().await;
    shop.code("EMMA20", json!({})).await;
    shop.redeem(order("EMMA20", "w-1", 5000)).await; // 4000 revenue, 1000 discount
    let mut coded = sale("w-2", 3000);
    coded["code"] = json!("EMMA20");
    shop.convert(coded).await;
    shop.call(
        "/v1/conversions/w-2/refunds",
        Some(json!({"amount_minor": 500})),
    )
    .await;
    shop.convert(sale("w-3", 999)).await; // unattributed: stored, not rolled up
    shop.outbox_drained().await;

    // A worker that commits and dies before acknowledging
    let crashed = shop
        .worker("w", Some(FailPoint::AfterCommit))
        .await
        .drain()
        .await;
    assert!(crashed.is_err());
    // Then its restart stores nothing twice
    shop.worker("w", None).await.drain().await.unwrap();

    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM conversion_events")
        .fetch_one(&shop.app.db)
        .await
        .unwrap();
    assert_eq!(events, 4, "three conversions and one refund");
    assert_eq!(shop.rollup().await, (2, 7000, 1000, 500, 0, 0));
}

#[tokio::test]
async fn a_refund_ingested_before_its_conversion_still_nets_out() {
    let shop = Shop::open().await;
    shop.code("EMMA", json!({})).await;
    let mut body = sale("early-refund", 8000);
    body["code"] = json!("EMMA");
    shop.convert(body).await;
    shop.call(
        "/v1/conversions/early-refund/refunds",
        Some(json!({"amount_minor": 3000})),
    )
    .await;
    shop.call("/v1/conversions/early-refund/cancel", None).await;
    shop.outbox_drained().await;

    // Put the events back in the opposite order: cancellation, refund, conversion
    let keys = Keys::new(
        &shop.app.settings.redis_prefix,
        shop.app.settings.stream_shards,
    );
    let client = redis::Client::open(shop.app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut lines: Vec<(String, String)> = Vec::new();
    for shard in 0..keys.shards() {
        for (_, fields) in
            crate::helpers::stream_entries(&shop.app.settings.redis_url, &keys.stream(shard)).await
        {
            for (_, payload) in fields {
                for line in payload.lines() {
                    lines.push((keys.stream(shard), line.to_owned()));
                }
            }
        }
        redis::cmd("DEL")
            .arg(keys.stream(shard))
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(lines.len(), 3);
    for (stream, line) in lines.iter().rev() {
        redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("e")
            .arg(line)
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
        // One event per worker batch, in that order
        shop.worker("w", None).await.drain().await.unwrap();
    }

    // 8000 revenue, 3000 refunded, the remaining 5000 cancelled: nets to zero, and the
    // conversion no longer counts
    assert_eq!(shop.rollup().await, (1, 8000, 0, 8000, 1, 1));
}

#[tokio::test]
async fn a_conversion_stops_counting_once_whatever_ends_it() {
    let shop = Shop::open().await;
    shop.code("EMMA", json!({})).await;
    let coded = |order_id: &str, amount: i64| {
        let mut body = sale(order_id, amount);
        body["code"] = json!("EMMA");
        body
    };
    // Refunded in two parts, then cancelled: only the refund that reaches the amount voids
    shop.convert(coded("full-refund", 1000)).await;
    for amount in [400, 600] {
        shop.call(
            "/v1/conversions/full-refund/refunds",
            Some(json!({"amount_minor": amount})),
        )
        .await;
    }
    shop.call("/v1/conversions/full-refund/cancel", None).await;
    // A lead of no amount: cancelling it voids it
    let mut lead = coded("lead", 0);
    lead["kind"] = json!("lead");
    shop.convert(lead).await;
    shop.call("/v1/conversions/lead/cancel", None).await;
    // Partly refunded only: still counts
    shop.convert(coded("partial", 500)).await;
    shop.call(
        "/v1/conversions/partial/refunds",
        Some(json!({"amount_minor": 100})),
    )
    .await;
    shop.outbox_drained().await;
    shop.worker("w", None).await.drain().await.unwrap();

    assert_eq!(shop.rollup().await, (3, 1500, 0, 1100, 2, 2));
}

#[tokio::test]
async fn a_code_that_is_not_a_code_is_refused_before_anything_is_stored() {
    let shop = Shop::open().await;
    for code in ["\u{0}", "EMMA\u{0}20", &"A".repeat(3000), "EMMA 20"] {
        let mut body = sale("o-bad", 5000);
        body["code"] = json!(code);
        let answer = shop.convert(body).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (400, Some("invalid_code")),
            "{code:?}: {}",
            answer.body
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM conversions")
        .fetch_one(&shop.app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn revenue_beyond_a_bigint_neither_stops_ingest_nor_fails_the_report() {
    // Given 9 300 conversions of the largest amount accepted, on one code in one hour:
    // their sum, 9.3 × 10^18 minor units, is more than a bigint holds
    let shop = Shop::open().await;
    let campaign: i64 = shop.campaign.parse().unwrap();
    let influencer: i64 = shop.influencer.parse().unwrap();
    let now = Utc::now();
    let event = |n: i64| {
        json!({"type": "conversion", "v": 1, "id": format!("conversion:{n}"),
               "conversion_id": n, "campaign_id": campaign, "influencer_id": influencer,
               "link_id": null, "via": "code", "kind": "sale",
               "amount_minor": attrib::domain::money::MAX_AMOUNT_MINOR, "discount_minor": 0,
               "currency": "EUR", "occurred_at": now, "code": "EMMA20"})
        .to_string()
    };
    let keys = Keys::new(
        &shop.app.settings.redis_prefix,
        shop.app.settings.stream_shards,
    );
    let mut conn = redis::Client::open(shop.app.settings.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for chunk in (1..=9300).collect::<Vec<i64>>().chunks(500) {
        let lines: Vec<String> = chunk.iter().map(|n| event(*n)).collect();
        redis::cmd("XADD")
            .arg(keys.stream(0))
            .arg("*")
            .arg("e")
            .arg(lines.join("\n"))
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }

    // When the worker ingests them
    shop.worker("w1", None).await.drain().await.unwrap();

    // Then every one is stored and counted exactly, none dead-lettered
    let (events, revenue): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversion_events),
                (SELECT sum(revenue_minor)::text FROM conversion_rollups)",
    )
    .fetch_one(&shop.app.db)
    .await
    .unwrap();
    assert_eq!(events, 9300);
    assert_eq!(revenue, "9300000000000000000");
    let dead =
        crate::helpers::stream_entries(&shop.app.settings.redis_url, &keys.dead_letter(0)).await;
    assert!(dead.is_empty(), "{dead:?}");

    // And the report answers, its revenue held at the largest value it can show
    let report = shop
        .app
        .get(&format!("/v1/reports/campaigns/{}", shop.campaign))
        .await;
    let body = report.assert_status(200);
    assert_eq!(body["totals"]["revenue_minor"], json!(i64::MAX), "{body}");
    assert_eq!(body["totals"]["conversions"], 9300);
}
