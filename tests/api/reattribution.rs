//! Re-attribution: after a campaign's window or priority changes, its conversions are
//! decided again from their facts and the reports follow, whatever order the events of
//! the move arrive in, and with refunds arriving meanwhile.

use serde_json::{json, Value};

use crate::{helpers::assert_conversion_rollups_match_facts, reports::Desk};

struct Shift {
    desk: Desk,
    campaign: String,
}

/// Emma has code EMMA, Nora a link. c1: Emma's code with Nora's click two hours before
/// (code wins by default); c2: Nora's click nine days before; c3: Emma's code alone,
/// 5.00 of 30.00 refunded.
async fn shift() -> Shift {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "Shift", "slug": "shift", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z"}),
        )
        .await;
    let emma = desk.influencer(&campaign, "emma", json!({})).await;
    let nora = desk.influencer(&campaign, "nora", json!({})).await;
    desk.created(
        "/v1/codes",
        json!({"code": "EMMA", "campaign_id": campaign, "influencer_id": emma,
               "discount_kind": "free_shipping"}),
    )
    .await;
    let link = desk.link(&campaign, &nora, "nora").await;
    let late = desk
        .click(
            link,
            "2026-11-10T10:00:00Z",
            "v1",
            IPHONE_AGENT,
            "89.160.20.112",
        )
        .await;
    let early = desk
        .click(
            link,
            "2026-11-01T10:00:00Z",
            "v2",
            IPHONE_AGENT,
            "89.160.20.112",
        )
        .await;
    for (order, amount, at, code, click) in [
        (
            "c1",
            5_000,
            "2026-11-10T12:00:00Z",
            Some("EMMA"),
            Some(&late),
        ),
        ("c2", 2_000, "2026-11-10T10:00:00Z", None, Some(&early)),
        ("c3", 3_000, "2026-11-10T13:00:00Z", Some("EMMA"), None),
    ] {
        desk.checkout(
            "/v1/conversions",
            json!({"order_id": order, "amount_minor": amount, "currency": "EUR",
                   "occurred_at": at, "code": code, "click_id": click}),
        )
        .await;
    }
    desk.checkout("/v1/conversions/c3/refunds", json!({"amount_minor": 500}))
        .await;
    Shift { desk, campaign }
}

const IPHONE_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

impl Shift {
    /// (handle, conversions, revenue) per influencer, from the influencer report.
    async fn standings(&self) -> Vec<(String, i64, i64)> {
        let report = self
            .desk
            .report(&format!(
                "/v1/reports/campaigns/{}/influencers",
                self.campaign
            ))
            .await;
        let mut rows: Vec<(String, i64, i64)> = report.assert_status(200)["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["handle"].as_str().unwrap().to_owned(),
                    r["conversions"].as_i64().unwrap(),
                    r["revenue_minor"].as_i64().unwrap(),
                )
            })
            .collect();
        rows.sort();
        rows
    }

    async fn change_rules(&self) {
        self.desk
            .app
            .patch(
                &format!("/v1/campaigns/{}", self.campaign),
                json!({"attribution_priority": "click", "attribution_window_days": 7}),
            )
            .await
            .assert_status(200);
    }

    async fn reattribute(&self) -> Value {
        self.desk
            .app
            .post(
                &format!("/v1/campaigns/{}/reattribute", self.campaign),
                json!({}),
            )
            .await
            .assert_status(200)
            .clone()
    }

    async fn status_of(&self, order: &str) -> Value {
        self.desk
            .app
            .send(
                reqwest::Method::GET,
                &format!("/v1/conversions/{order}"),
                Some(&self.desk.checkout),
                None,
            )
            .await
            .body
    }
}

#[tokio::test]
async fn new_rules_move_the_credit_and_the_reports_follow() {
    let s = shift().await;
    s.desk.ingest().await;
    assert_eq!(
        s.standings().await,
        [("emma".to_owned(), 2, 7_500), ("nora".to_owned(), 1, 2_000)]
    );

    // When clicks win and only a week counts
    s.change_rules().await;
    let outcome = s.reattribute().await;
    assert_eq!(
        (&outcome["examined"], &outcome["moved"]),
        (&json!(3), &json!(2))
    );
    // A refund arriving after the move is Nora's now
    s.desk
        .checkout("/v1/conversions/c1/refunds", json!({"amount_minor": 1_000}))
        .await;
    s.desk.ingest().await;

    // c1 is Nora's by her click, c2's click is outside the week, c3 stays Emma's
    assert_eq!(
        s.standings().await,
        [("emma".to_owned(), 1, 2_500), ("nora".to_owned(), 1, 4_000)]
    );
    let c1 = s.status_of("c1").await;
    assert_eq!(c1["attributed"]["via"], "click");
    assert_eq!(c1["rule"], "click_over_code");
    assert_eq!(s.status_of("c2").await["status"], "unqualified");
    assert_conversion_rollups_match_facts(&s.desk.app.db).await;

    // Deciding again under the same rules moves nothing
    let again = s.reattribute().await;
    assert_eq!(again["moved"], 0);
    s.desk.ingest().await;
    assert_eq!(
        s.standings().await,
        [("emma".to_owned(), 1, 2_500), ("nora".to_owned(), 1, 4_000)]
    );
}

#[tokio::test]
async fn a_move_ingested_before_its_conversion_still_lands_right() {
    let s = shift().await;
    s.change_rules().await;
    s.reattribute().await;
    s.desk.ingest_after(|events| events.reverse()).await;

    assert_eq!(
        s.standings().await,
        [("emma".to_owned(), 1, 2_500), ("nora".to_owned(), 1, 5_000)]
    );
    assert_conversion_rollups_match_facts(&s.desk.app.db).await;
}

#[tokio::test]
async fn refunds_racing_a_reattribution_are_counted_under_the_credit_they_saw() {
    let s = shift().await;
    s.change_rules().await;
    let refunds = async {
        for _ in 0..20 {
            s.desk
                .checkout("/v1/conversions/c1/refunds", json!({"amount_minor": 10}))
                .await;
        }
    };
    let (_, outcome) = tokio::join!(refunds, s.reattribute());
    assert_eq!(outcome["moved"], 2);
    s.desk.ingest().await;

    assert_eq!(
        s.standings().await,
        [("emma".to_owned(), 1, 2_500), ("nora".to_owned(), 1, 4_800)]
    );
    assert_conversion_rollups_match_facts(&s.desk.app.db).await;
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversion_events WHERE event_type = 'reattribution'",
    )
    .fetch_one(&s.desk.app.db)
    .await
    .unwrap();
    assert_eq!(stored, 2, "one move each for c1 and c2");
}
