//! Analyst reports against real Postgres and Redis: clicks enter the streams as the
//! redirect writes them (at chosen times), the worker ingests them, conversions go through
//! the checkout API; every KPI is compared to numbers computed by hand.

use std::{collections::HashMap, sync::Arc};

use attrib::{
    auth::Scope,
    domain::click_id::ClickSigner,
    enrich::geo::GeoIp,
    pipeline::{
        events::{ClickEvent, Event, Trigger, SCHEMA_VERSION},
        keys::Keys,
    },
    worker::{SignalLimits, Worker, WorkerConfig},
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::{
    assert_rollups_match_facts, create_key, draining, spawn_app_with, stream_entries, worker_for,
    TestApp, CLICK_SECRET,
};

const GEOIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/geoip/GeoIP2-City-Test.mmdb"
);
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const PREVIEW_BOT: &str =
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)";
const SWEDEN: &str = "89.160.20.112";
const BRITAIN: &str = "81.2.69.142";

/// An app with an analyst key and a checkout key, clicks written straight into the
/// streams at chosen times, and a worker run on demand.
pub struct Desk {
    pub app: TestApp,
    analyst: String,
    pub checkout: String,
    signer: ClickSigner,
}

impl Desk {
    pub async fn open() -> Desk {
        let app = spawn_app_with(&[("ATTRIB_GEOIP_DB", GEOIP)]).await;
        let analyst = create_key(&app.db, "analyst", Scope::Analyst).await;
        let checkout = create_key(&app.db, "shop", Scope::Checkout).await;
        Desk {
            app,
            analyst,
            checkout,
            signer: ClickSigner::new(CLICK_SECRET.as_bytes()),
        }
    }

    pub async fn created(&self, path: &str, body: Value) -> String {
        self.app.post(path, body).await.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn influencer(&self, campaign: &str, handle: &str, terms: Value) -> String {
        let id = self
            .created("/v1/influencers", json!({"handle": handle}))
            .await;
        let mut body = terms;
        body["influencer_id"] = json!(id);
        self.app
            .post(&format!("/v1/campaigns/{campaign}/enrollments"), body)
            .await
            .assert_status(201);
        id
    }

    pub async fn link(&self, campaign: &str, influencer: &str, slug: &str) -> i64 {
        self.created(
            "/v1/links",
            json!({"campaign_id": campaign, "influencer_id": influencer, "slug": slug,
                   "destination": "https://shop.example.com/"}),
        )
        .await
        .parse()
        .unwrap()
    }

    /// A click as the redirect records it, at `at`; returns its click id.
    pub async fn click(
        &self,
        link_id: i64,
        at: &str,
        visitor: &str,
        agent: &str,
        ip: &str,
    ) -> String {
        self.click_with(link_id, at, visitor, agent, ip, Trigger::Link)
            .await
    }

    async fn click_with(
        &self,
        link_id: i64,
        at: &str,
        visitor: &str,
        agent: &str,
        ip: &str,
        trigger: Trigger,
    ) -> String {
        let at: DateTime<Utc> = at.parse().unwrap();
        let id = self.signer.issue(link_id, at).as_str().to_owned();
        self.push_click(link_id, &id, at, visitor, agent, ip, trigger)
            .await;
        id
    }

    /// The click `id` delivered once more, as after a producer's retry.
    pub async fn click_again(
        &self,
        link_id: i64,
        id: &str,
        at: &str,
        visitor: &str,
        agent: &str,
        ip: &str,
    ) {
        let at: DateTime<Utc> = at.parse().unwrap();
        self.push_click(link_id, id, at, visitor, agent, ip, Trigger::Link)
            .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn push_click(
        &self,
        link_id: i64,
        id: &str,
        at: DateTime<Utc>,
        visitor: &str,
        agent: &str,
        ip: &str,
        trigger: Trigger,
    ) {
        let event = Event::Click(ClickEvent {
            v: SCHEMA_VERSION,
            id: id.to_owned(),
            link_id,
            at,
            visitor: visitor.to_owned(),
            ip: Some(ip.to_owned()),
            user_agent: Some(agent.to_owned()),
            referrer: Some("https://www.instagram.com/p/launch".to_owned()),
            trigger,
        });
        let keys = Keys::new(
            &self.app.settings.redis_prefix,
            self.app.settings.stream_shards,
        );
        let client = redis::Client::open(self.app.settings.redis_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("XADD")
            .arg(keys.stream(keys.shard_of(link_id)))
            .arg("*")
            .arg("e")
            .arg(event.to_json())
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }

    /// A checkout call that may be refused (a refund beyond what is left, say).
    pub async fn try_checkout(&self, path: &str, body: Value) -> u16 {
        let reply = self
            .app
            .send(
                reqwest::Method::POST,
                path,
                Some(&self.checkout),
                Some(&body),
            )
            .await;
        assert!(
            reply.status.as_u16() < 500,
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        reply.status.as_u16()
    }

    pub async fn checkout(&self, path: &str, body: Value) -> Value {
        let reply = self
            .app
            .send(
                reqwest::Method::POST,
                path,
                Some(&self.checkout),
                Some(&body),
            )
            .await;
        assert!(reply.status.is_success(), "{path}: {}", reply.body);
        reply.body
    }

    /// Waits for the outbox relay, then ingests everything in the streams.
    pub async fn ingest(&self) {
        self.outbox_relayed().await;
        self.worker().drain().await.unwrap();
    }

    /// Takes every event out of the streams, lets `reorder` shuffle them, and ingests
    /// them one batch per event in that order.
    pub async fn ingest_after(&self, reorder: impl FnOnce(&mut Vec<(String, String)>)) {
        self.outbox_relayed().await;
        let keys = Keys::new(
            &self.app.settings.redis_prefix,
            self.app.settings.stream_shards,
        );
        let client = redis::Client::open(self.app.settings.redis_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut events = Vec::new();
        for shard in 0..keys.shards() {
            let stream = keys.stream(shard);
            for (_, fields) in stream_entries(&self.app.settings.redis_url, &stream).await {
                for (_, payload) in fields {
                    for line in payload.lines() {
                        events.push((stream.clone(), line.to_owned()));
                    }
                }
            }
            redis::cmd("DEL")
                .arg(&stream)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        reorder(&mut events);
        for (stream, line) in events {
            redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("e")
                .arg(line)
                .query_async::<String>(&mut conn)
                .await
                .unwrap();
            self.worker().drain().await.unwrap();
        }
    }

    async fn outbox_relayed(&self) {
        for _ in 0..200 {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE relayed_at IS NULL")
                    .fetch_one(&self.app.db)
                    .await
                    .unwrap();
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    fn worker(&self) -> Worker {
        let geo = GeoIp::open(std::path::Path::new(GEOIP)).unwrap();
        let config = WorkerConfig {
            // Three clicks a minute from one address make a burst here
            signals: SignalLimits {
                burst_clicks_per_minute: 2,
                ..SignalLimits::default()
            },
            ..draining("w", None)
        };
        worker_for(&self.app, Some(Arc::new(geo)), config)
    }

    pub async fn report(&self, path: &str) -> crate::helpers::Reply {
        self.app
            .send(reqwest::Method::GET, path, Some(&self.analyst), None)
            .await
    }

    /// The CSV of `path`: its header and rows, each row by column name.
    pub async fn csv(&self, path: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
        let response = self
            .app
            .client
            .get(format!("{}{path}", self.app.address))
            .bearer_auth(&self.analyst)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let text = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                header
                    .iter()
                    .cloned()
                    .zip(r.iter().map(String::from))
                    .collect()
            })
            .collect();
        (header, rows)
    }
}

/// Asserts a KPI: integers exactly, ratios to 1e-9, `null` as null.
#[track_caller]
fn assert_kpi(actual: &Value, name: &str, expected: Value) {
    let got = &actual[name];
    match (&expected, got) {
        (Value::Number(e), Value::Number(g)) if e.is_f64() => {
            let (e, g) = (e.as_f64().unwrap(), g.as_f64().unwrap());
            assert!((e - g).abs() < 1e-9, "{name}: expected {e}, got {g}");
        }
        _ => assert_eq!(got, &expected, "{name}"),
    }
}

/// Rows of objects, field by field as in `assert_kpi`.
#[track_caller]
fn assert_rows(actual: &Value, expected: &Value) {
    let (actual, expected) = (actual.as_array().unwrap(), expected.as_array().unwrap());
    assert_eq!(actual.len(), expected.len(), "{actual:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(
            a.as_object().unwrap().len(),
            e.as_object().unwrap().len(),
            "{a}"
        );
        for (name, value) in e.as_object().unwrap() {
            assert_kpi(a, name, value.clone());
        }
    }
}

/// The same check on a CSV cell: empty for null.
#[track_caller]
fn assert_cell(row: &HashMap<String, String>, name: &str, expected: &Value) {
    let cell = row.get(name).unwrap_or_else(|| panic!("no column {name}"));
    match expected {
        Value::Null => assert_eq!(cell, "", "{name}"),
        Value::Number(n) if n.is_f64() => {
            let got: f64 = cell.parse().unwrap();
            assert!(
                (got - n.as_f64().unwrap()).abs() < 1e-9,
                "{name}: expected {n}, got {got}"
            );
        }
        Value::Number(n) => assert_eq!(cell, &n.to_string(), "{name}"),
        Value::String(s) => assert_eq!(cell, s, "{name}"),
        other => assert_eq!(cell, &other.to_string(), "{name}"),
    }
}

/// Two influencers, hand-computed (see the comments for every figure).
struct Launch {
    desk: Desk,
    campaign: String,
    emma: String,
    nora: String,
}

async fn launch() -> Launch {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "Launch", "slug": "launch", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z", "budget_minor": 100_000,
                   "goal": "conversions", "goal_target": 10, "margin_bps": 5_000}),
        )
        .await;
    // Emma: a 100.00 flat fee, 0.10 per unique click, 5.00 per sale, 10 % revenue share
    let emma = desk
        .influencer(
            &campaign,
            "emma",
            json!({"flat_fee_minor": 10_000, "cpc_minor": 10, "cpa_minor": 500,
                   "revenue_share_bps": 1_000, "target_metric": "conversions",
                   "target_value": 5}),
        )
        .await;
    // Nora: 0.20 per unique click only, with a target of 10 clicks
    let nora = desk
        .influencer(
            &campaign,
            "nora",
            json!({"cpc_minor": 20, "target_metric": "clicks", "target_value": 10}),
        )
        .await;
    let emma_link = desk.link(&campaign, &emma, "emma-launch").await;
    let nora_link = desk.link(&campaign, &nora, "nora-launch").await;
    for (code, influencer) in [("EMMA10", &emma), ("NORA", &nora)] {
        desk.created(
            "/v1/codes",
            json!({"code": code, "campaign_id": campaign, "influencer_id": influencer,
                   "discount_kind": "percent", "discount_value": 1_000}),
        )
        .await;
    }

    // Emma's link: visitor A three times on the 10th (one unique), once more on the 11th
    // (unique again: a new day), visitor B once (unique, from Britain, by QR code), and a
    // link-preview bot. 5 clicks, 3 unique, 1 bot.
    let mut a_clicks = Vec::new();
    for at in [
        "2026-11-10T10:00:00Z",
        "2026-11-10T10:05:00Z",
        "2026-11-10T11:00:00Z",
        "2026-11-11T09:00:00Z",
    ] {
        a_clicks.push(desk.click(emma_link, at, "visitor-a", IPHONE, SWEDEN).await);
    }
    let (a_click, a_next_day) = (&a_clicks[0], &a_clicks[3]);
    let b_click = desk
        .click_with(
            emma_link,
            "2026-11-10T12:00:00Z",
            "visitor-b",
            IPHONE,
            BRITAIN,
            Trigger::Qr,
        )
        .await;
    desk.click(
        emma_link,
        "2026-11-10T13:00:00Z",
        "bot",
        PREVIEW_BOT,
        BRITAIN,
    )
    .await;
    // Nora's link: visitor C twice (one unique), visitor D once, and three "visitors"
    // from one address within twenty seconds: the third is a burst. 6 clicks, 5 unique,
    // 1 flagged (and unique, so not billed).
    let mut nora_clicks = Vec::new();
    for (at, visitor) in [
        ("2026-11-12T14:00:00Z", "visitor-c"),
        ("2026-11-12T14:30:00Z", "visitor-c"),
        ("2026-11-12T15:00:00Z", "visitor-d"),
        ("2026-11-12T16:00:00Z", "x1"),
        ("2026-11-12T16:00:10Z", "x2"),
        ("2026-11-12T16:00:20Z", "x3"),
    ] {
        nora_clicks.push(desk.click(nora_link, at, visitor, IPHONE, SWEDEN).await);
    }
    let d_click = &nora_clicks[2];

    let sale = |order: &str, amount: i64, at: &str| json!({"order_id": order, "amount_minor": amount, "currency": "EUR", "occurred_at": at});
    // Emma: e1 by code with A's click (100.00); e2 by B's click ten seconds after it
    // (50.00, flagged fast); e3 by code without a click (40.00, 10.00 refunded, flagged
    // as a leaked code); e4 redeemed at checkout with A's next click (20.00 less 10 %:
    // 18.00, discount 2.00). 4 sales, 2 flagged.
    let mut e1 = sale("e1", 10_000, "2026-11-10T15:00:00Z");
    e1["code"] = json!("EMMA10");
    e1["click_id"] = json!(a_click);
    let mut e2 = sale("e2", 5_000, "2026-11-10T12:00:10Z");
    e2["click_id"] = json!(b_click);
    let mut e3 = sale("e3", 4_000, "2026-11-11T10:00:00Z");
    e3["code"] = json!("emma10");
    for body in [e1, e2, e3] {
        desk.checkout("/v1/conversions", body).await;
    }
    desk.checkout("/v1/conversions/e3/refunds", json!({"amount_minor": 1_000}))
        .await;
    desk.checkout(
        "/v1/redemptions",
        json!({"code": "EMMA10", "order_id": "e4", "subtotal_minor": 2_000, "currency": "EUR",
               "click_id": a_next_day}),
    )
    .await;
    // Nora: n1 by code, leaked, refunded in full (neither counts); n2 by D's click (20.00).
    let mut n1 = sale("n1", 6_000, "2026-11-12T16:00:00Z");
    n1["code"] = json!("NORA");
    let mut n2 = sale("n2", 2_000, "2026-11-12T17:00:00Z");
    n2["click_id"] = json!(d_click);
    for body in [n1, n2] {
        desk.checkout("/v1/conversions", body).await;
    }
    desk.checkout("/v1/conversions/n1/refunds", json!({})).await;

    // Posts: Emma's latest snapshot is verified (an older self-reported one is ignored);
    // Nora's only snapshot is self-reported.
    let emma_post = desk
        .created(
            "/v1/posts",
            json!({"campaign_id": campaign, "influencer_id": emma,
                   "published_at": "2026-11-09T12:00:00Z"}),
        )
        .await;
    desk.app
        .post(
            &format!("/v1/posts/{emma_post}/metrics"),
            json!({"impressions": 500, "reach": 400, "likes": 1, "source": "self_reported",
                   "captured_at": "2026-11-10T00:00:00Z"}),
        )
        .await
        .assert_status(201);
    desk.app
        .post(
            &format!("/v1/posts/{emma_post}/metrics"),
            json!({"impressions": 2_000, "reach": 1_500, "likes": 100, "comments": 20,
                   "shares": 5, "saves": 25, "views": 900, "source": "verified",
                   "captured_at": "2026-11-12T00:00:00Z"}),
        )
        .await
        .assert_status(201);
    let nora_post = desk
        .created(
            "/v1/posts",
            json!({"campaign_id": campaign, "influencer_id": nora,
                   "published_at": "2026-11-11T12:00:00Z"}),
        )
        .await;
    desk.app
        .post(
            &format!("/v1/posts/{nora_post}/metrics"),
            json!({"impressions": 1_000, "reach": 800, "likes": 40, "comments": 10,
                   "source": "self_reported", "captured_at": "2026-11-12T00:00:00Z"}),
        )
        .await
        .assert_status(201);
    // Costs: Nora's gifting (30.00) and a campaign-wide agency fee (50.00)
    for (influencer, kind, amount) in [(Some(&nora), "gifting", 3_000), (None, "agency_fee", 5_000)]
    {
        desk.created(
            "/v1/costs",
            json!({"campaign_id": campaign, "influencer_id": influencer, "kind": kind,
                   "amount_minor": amount, "incurred_at": "2026-11-05T00:00:00Z"}),
        )
        .await;
    }

    desk.ingest().await;
    Launch {
        desk,
        campaign,
        emma,
        nora,
    }
}

/// The campaign's totals, by hand:
/// - clicks 5 + 6, unique 3 + 5, bots 1, flagged 1 (unique); impressions 2000 + 1000,
///   reach 1500 + 800 (Nora's unverified); engagements (100+20+5+25) + (40+10) = 200;
/// - sales: Emma e1, e2, e3, e4 = 4 (2 flagged); Nora n2 = 1 (n1 refunded in full);
///   revenue 10000 + 5000 + 3000 + 1800 + 2000 = 21800; discount 200; refunded 1000 + 6000;
/// - cost: Emma 10000 + 10×3 + 500×(4−2) + 10 % of 19800 = 13010; Nora 20×(5−1) + 3000 =
///   3080; agency fee 5000: 21090.
fn expected_totals() -> Vec<(&'static str, Value)> {
    vec![
        ("clicks", json!(11)),
        ("unique_clicks", json!(8)),
        ("bot_clicks", json!(1)),
        ("flagged_clicks", json!(1)),
        ("flagged_unique_clicks", json!(1)),
        ("impressions", json!(3_000)),
        ("reach", json!(2_300)),
        ("unverified_impressions", json!(1_000)),
        ("unverified_reach", json!(800)),
        ("engagements", json!(200)),
        ("posts", json!(2)),
        ("conversions", json!(5)),
        ("flagged_conversions", json!(2)),
        ("revenue_minor", json!(21_800)),
        ("discount_minor", json!(200)),
        ("refunded_minor", json!(7_000)),
        ("cost_minor", json!(21_090)),
        ("ctr", json!(11.0 / 3_000.0)),
        ("engagement_rate", json!(200.0 / 2_300.0)),
        ("cvr", json!(0.625)),
        ("aov_minor", json!(4_360)),
        ("epc_minor", json!(1_982)), // 1981.82
        ("cpa_minor", json!(4_218)),
        ("cpc_minor", json!(1_917)), // 1917.27
        ("cpe_minor", json!(105)),   // 105.45
        ("roas", json!(21_800.0 / 21_090.0)),
        ("roi", json!((21_800.0 * 0.5 - 21_090.0) / 21_090.0)),
        ("budget_used", json!(0.2109)),
        ("flat_fees_minor", json!(10_000)),
        ("click_fees_minor", json!(110)),
        ("conversion_fees_minor", json!(1_000)),
        ("revenue_share_minor", json!(1_980)),
        ("cost_lines_minor", json!(8_000)),
    ]
}

#[tokio::test]
async fn the_campaign_report_matches_the_hand_computed_kpis_in_json_and_csv() {
    let l = launch().await;
    let path = format!("/v1/reports/campaigns/{}", l.campaign);
    let reply = l.desk.report(&path).await;
    let body = reply.assert_status(200);
    let totals = &body["totals"];
    let cost = &totals["cost"];
    for (name, expected) in expected_totals() {
        let source = if name.ends_with("_fees_minor")
            || name == "revenue_share_minor"
            || name == "cost_lines_minor"
        {
            cost
        } else {
            totals
        };
        assert_kpi(source, name, expected);
    }
    assert_eq!(totals["conversions_by_kind"], json!({"sale": 5}));
    assert_eq!(
        body["goal"],
        json!({"goal": "conversions", "metric": "conversions", "target": 10.0, "value": 5.0,
               "progress": 0.5})
    );
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["from"], "2026-11-01T00:00:00Z");
    assert_eq!(
        body["ingest_lag_seconds"], 0.0,
        "everything was ingested: {body}"
    );

    // The signals are stored on the facts themselves
    let stored: (i64, Vec<String>, Vec<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM clicks WHERE burst),
                (SELECT array_agg(c.order_id ORDER BY c.order_id)
                 FROM conversion_events e JOIN conversions c ON c.id = e.conversion_id
                 WHERE e.fast_conversion AND e.event_type = 'conversion'),
                (SELECT array_agg(c.order_id ORDER BY c.order_id)
                 FROM conversion_events e JOIN conversions c ON c.id = e.conversion_id
                 WHERE e.leaked_code AND e.event_type = 'conversion')",
    )
    .fetch_one(&l.desk.app.db)
    .await
    .unwrap();
    assert_eq!(stored.0, 1, "x3's click");
    assert_eq!(stored.1, ["e2"]);
    assert_eq!(stored.2, ["e3", "n1"]);

    let (header, rows) = l.desk.csv(&format!("{path}?format=csv")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        &header[..5],
        ["campaign_id", "currency", "from", "to", "tz"]
    );
    for (name, expected) in expected_totals() {
        assert_cell(&rows[0], name, &expected);
    }
    assert_cell(&rows[0], "goal_progress", &json!(0.5));
}

#[tokio::test]
async fn influencers_are_ranked_by_the_goal_and_the_weakest_is_flagged() {
    let l = launch().await;
    let path = format!("/v1/reports/campaigns/{}/influencers", l.campaign);
    let reply = l.desk.report(&path).await;
    let body = reply.assert_status(200);
    assert_eq!(body["ranked_by"], "conversions");
    assert_eq!(body["average"], 2.5);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);

    // Emma: 4 sales, 1.6 × the average of 2.5, 4 of her target of 5
    let emma = &data[0];
    assert_eq!(emma["influencer_id"], json!(l.emma));
    assert_eq!(emma["handle"], "emma");
    let emma_expected = [
        ("rank", json!(1)),
        ("ratio_to_average", json!(1.6)),
        ("target_progress", json!(0.8)),
        ("underperforming", json!(false)),
        ("clicks", json!(5)),
        ("unique_clicks", json!(3)),
        ("bot_clicks", json!(1)),
        ("flagged_clicks", json!(0)),
        ("impressions", json!(2_000)),
        ("reach", json!(1_500)),
        ("unverified_reach", json!(0)),
        ("engagements", json!(150)),
        ("conversions", json!(4)),
        ("flagged_conversions", json!(2)),
        ("revenue_minor", json!(19_800)),
        ("discount_minor", json!(200)),
        ("cost_minor", json!(13_010)),
        ("conversion_fees_minor", json!(1_000)),
        ("ctr", json!(0.0025)),
        ("engagement_rate", json!(0.1)),
        ("cvr", json!(4.0 / 3.0)),
        ("aov_minor", json!(4_950)),
        ("epc_minor", json!(3_960)),
        ("cpa_minor", json!(3_253)), // 3252.5
        ("cpc_minor", json!(2_602)),
        ("cpe_minor", json!(87)), // 86.73
        ("roas", json!(19_800.0 / 13_010.0)),
        ("roi", json!((9_900.0 - 13_010.0) / 13_010.0)),
        ("budget_used", json!(0.1301)),
    ];
    // Nora: 1 sale (0.4 × average: underperforming), 6 of her 10 target clicks
    let nora = &data[1];
    assert_eq!(nora["influencer_id"], json!(l.nora));
    let nora_expected = [
        ("rank", json!(2)),
        ("ratio_to_average", json!(0.4)),
        ("target_progress", json!(0.6)),
        ("underperforming", json!(true)),
        ("clicks", json!(6)),
        ("unique_clicks", json!(5)),
        ("flagged_clicks", json!(1)),
        ("flagged_unique_clicks", json!(1)),
        ("unverified_impressions", json!(1_000)),
        ("unverified_reach", json!(800)),
        ("engagements", json!(50)),
        ("conversions", json!(1)),
        ("flagged_conversions", json!(0)),
        ("revenue_minor", json!(2_000)),
        ("refunded_minor", json!(6_000)),
        ("cost_minor", json!(3_080)),
        ("click_fees_minor", json!(80)),
        ("ctr", json!(0.006)),
        ("cvr", json!(0.2)),
        ("epc_minor", json!(333)), // 333.33
        ("cpa_minor", json!(3_080)),
        ("cpc_minor", json!(513)), // 513.33
        ("cpe_minor", json!(62)),  // 61.6
        ("roas", json!(2_000.0 / 3_080.0)),
        ("roi", json!((1_000.0 - 3_080.0) / 3_080.0)),
        ("budget_used", json!(0.0308)),
    ];
    for (row, expected) in [(emma, &emma_expected[..]), (nora, &nora_expected[..])] {
        for (name, value) in expected {
            let source = if name.ends_with("_fees_minor") {
                &row["cost"]
            } else {
                row
            };
            assert_kpi(source, name, value.clone());
        }
    }
    assert_eq!(nora["cost"]["cost_lines_minor"], 3_000);

    let (header, rows) = l.desk.csv(&format!("{path}?format=csv")).await;
    assert_eq!(&header[..3], ["influencer_id", "handle", "rank"]);
    for (row, expected) in [
        (&rows[0], &emma_expected[..]),
        (&rows[1], &nora_expected[..]),
    ] {
        for (name, value) in expected {
            assert_cell(row, name, value);
        }
    }

    // A lower threshold: nobody is below 30 % of the average or their target
    let lenient = l
        .desk
        .report(&format!("{path}?underperforming_percent=30"))
        .await;
    assert_eq!(lenient.body["data"][1]["underperforming"], false);
}

#[tokio::test]
async fn breakdowns_split_clicks_and_sales_by_dimension_link_and_code() {
    let l = launch().await;
    let by = |dimension: &str| {
        format!(
            "/v1/reports/breakdown?campaign_id={}&by={dimension}",
            l.campaign
        )
    };

    // Sweden: A four times (2 unique), C twice, D and x1–x3 (5 unique); Britain: B
    // (unique) and the bot
    let countries = l.desk.report(&by("country")).await;
    assert_rows(
        &countries.assert_status(200)["data"],
        &json!([
            {"value": "SE", "clicks": 10, "unique_clicks": 7, "bot_clicks": 0,
             "share": 10.0 / 11.0},
            {"value": "GB", "clicks": 1, "unique_clicks": 1, "bot_clicks": 1,
             "share": 1.0 / 11.0},
        ]),
    );
    let triggers = l.desk.report(&by("trigger")).await;
    assert_rows(
        &triggers.body["data"],
        &json!([
            {"value": "link", "clicks": 10, "unique_clicks": 7, "bot_clicks": 1,
             "share": 10.0 / 11.0},
            {"value": "qr", "clicks": 1, "unique_clicks": 1, "bot_clicks": 0,
             "share": 1.0 / 11.0},
        ]),
    );
    let referrers = l.desk.report(&by("referrer")).await;
    assert_eq!(referrers.body["data"][0]["value"], "instagram.com");
    assert_eq!(referrers.body["data"][0]["clicks"], 11);

    let links = l.desk.report(&by("link")).await;
    let links = links.body["data"].as_array().unwrap().clone();
    assert_eq!(links.len(), 2);
    // Most clicks first: Nora's 6, then Emma's 5
    assert_eq!(links[0]["slug"], "nora-launch");
    assert_eq!(links[0]["conversions"], 1);
    assert_eq!(links[0]["cvr"], 0.2);
    assert_eq!(links[1]["slug"], "emma-launch");
    assert_eq!(
        (
            &links[1]["clicks"],
            &links[1]["unique_clicks"],
            &links[1]["bot_clicks"],
            &links[1]["conversions"],
            &links[1]["revenue_minor"]
        ),
        (&json!(5), &json!(3), &json!(1), &json!(1), &json!(5_000)),
        "only e2 was credited through the link itself"
    );

    let codes = l.desk.report(&by("code")).await;
    assert_eq!(
        codes.body["data"],
        json!([
            {"code": "EMMA10", "influencer_id": l.emma, "conversions": 3,
             "revenue_minor": 14_800, "discount_minor": 200},
            {"code": "NORA", "influencer_id": l.nora, "conversions": 0,
             "revenue_minor": 0, "discount_minor": 0},
        ])
    );

    let (header, rows) = l.desk.csv(&format!("{}&format=csv", by("code"))).await;
    assert_eq!(
        header,
        [
            "code",
            "influencer_id",
            "conversions",
            "revenue_minor",
            "discount_minor"
        ]
    );
    assert_eq!(rows[0]["revenue_minor"], "14800");
}

#[tokio::test]
async fn a_time_series_buckets_by_day_in_the_asked_time_zone() {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "Night", "slug": "night", "currency": "SEK",
                   "starts_at": "2026-11-19T00:00:00Z", "ends_at": "2026-11-23T00:00:00Z"}),
        )
        .await;
    let emma = desk.influencer(&campaign, "emma", json!({})).await;
    let link = desk.link(&campaign, &emma, "night").await;
    // 22:30 UTC is 23:30 in Stockholm (the 20th); 23:30 and 00:30 UTC are the 21st there
    for (at, visitor) in [
        ("2026-11-20T22:30:00Z", "v1"),
        ("2026-11-20T23:30:00Z", "v2"),
        ("2026-11-21T00:30:00Z", "v3"),
    ] {
        desk.click(link, at, visitor, IPHONE, SWEDEN).await;
    }
    desk.ingest().await;

    let series = |tz: &str, interval: &str| {
        format!(
            "/v1/reports/timeseries?campaign_id={campaign}&from=2026-11-20&to=2026-11-21&tz={tz}&interval={interval}"
        )
    };
    let days = |reply: &crate::helpers::Reply| -> Vec<(String, i64)> {
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["date"].as_str().unwrap().to_owned(),
                    b["clicks"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let utc = desk.report(&series("UTC", "day")).await;
    assert_eq!(
        days(&utc),
        [("2026-11-20".to_owned(), 2), ("2026-11-21".to_owned(), 1)]
    );
    let stockholm = desk.report(&series("Europe/Stockholm", "day")).await;
    assert_eq!(
        days(&stockholm),
        [("2026-11-20".to_owned(), 1), ("2026-11-21".to_owned(), 2)]
    );
    assert_eq!(stockholm.body["from"], "2026-11-19T23:00:00Z");
    assert_eq!(stockholm.body["data"][1]["start"], "2026-11-20T23:00:00Z");

    // Hours: every hour of the two Stockholm days, empty ones included
    let hours = desk.report(&series("Europe/Stockholm", "hour")).await;
    let hours = hours.body["data"].as_array().unwrap();
    assert_eq!(hours.len(), 48);
    assert_eq!(
        hours
            .iter()
            .map(|h| h["clicks"].as_i64().unwrap())
            .sum::<i64>(),
        3
    );

    // One influencer's series is the campaign's here; another's is empty
    let emma_series = desk
        .report(&format!(
            "/v1/reports/timeseries?campaign_id={campaign}&influencer_id={emma}&from=2026-11-20&to=2026-11-21&tz=Europe/Stockholm"
        ))
        .await;
    assert_eq!(days(&emma_series), days(&stockholm));
    let nobody = desk
        .report(&format!(
            "/v1/reports/timeseries?campaign_id={campaign}&influencer_id=999999&from=2026-11-20&to=2026-11-21"
        ))
        .await;
    assert!(days(&nobody).iter().all(|(_, clicks)| *clicks == 0));

    // A link alone names its campaign; CSV carries the same buckets
    let (header, rows) = desk
        .csv(&format!(
            "/v1/reports/timeseries?link_id={link}&from=2026-11-20&to=2026-11-21&tz=Europe/Stockholm&format=csv"
        ))
        .await;
    assert_eq!(header[..3], ["start", "date", "clicks"]);
    assert_eq!(
        rows.iter()
            .map(|r| r["clicks"].as_str())
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
}

#[tokio::test]
async fn an_empty_campaign_reports_zeros_and_nulls_never_nan() {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "Quiet", "slug": "quiet", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-02T00:00:00Z"}),
        )
        .await;
    desk.influencer(&campaign, "emma", json!({})).await;

    let report = desk
        .report(&format!("/v1/reports/campaigns/{campaign}"))
        .await;
    let totals = &report.assert_status(200)["totals"];
    assert_eq!(totals["clicks"], 0);
    assert_eq!(totals["cost_minor"], 0);
    for ratio in [
        "ctr",
        "engagement_rate",
        "cvr",
        "aov_minor",
        "epc_minor",
        "cpa_minor",
        "cpc_minor",
        "cpe_minor",
        "roas",
        "roi",
        "budget_used",
    ] {
        assert_eq!(totals[ratio], Value::Null, "{ratio}");
    }
    assert_eq!(report.body["goal"]["progress"], Value::Null);

    let ranking = desk
        .report(&format!("/v1/reports/campaigns/{campaign}/influencers"))
        .await;
    let emma = &ranking.assert_status(200)["data"][0];
    assert_eq!(emma["ratio_to_average"], Value::Null);
    assert_eq!(emma["underperforming"], false);

    let (_, rows) = desk
        .csv(&format!("/v1/reports/campaigns/{campaign}?format=csv"))
        .await;
    assert_eq!(rows[0]["roi"], "");
    assert_eq!(rows[0]["clicks"], "0");
}

#[tokio::test]
async fn bad_report_parameters_are_refused_with_a_code() {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "C", "slug": "c", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z"}),
        )
        .await;
    let report = format!("/v1/reports/campaigns/{campaign}");
    for (path, status, code) in [
        (format!("{report}?tz=Mars/Olympus"), 400, "invalid_timezone"),
        (
            format!("{report}?from=2026-11-05&to=2026-11-01"),
            400,
            "invalid_range",
        ),
        (format!("{report}?from=yesterday"), 400, "invalid_datetime"),
        (format!("{report}?format=xml"), 400, "invalid_format"),
        (
            format!("{report}/influencers?underperforming_percent=150"),
            400,
            "invalid_percent",
        ),
        (
            format!("/v1/reports/breakdown?campaign_id={campaign}&by=planet"),
            400,
            "invalid_dimension",
        ),
        (
            "/v1/reports/breakdown?by=country".to_owned(),
            400,
            "campaign_required",
        ),
        (
            format!("/v1/reports/timeseries?campaign_id={campaign}&interval=week"),
            400,
            "invalid_interval",
        ),
        (
            format!("/v1/reports/timeseries?campaign_id={campaign}&interval=hour&from=2020-01-01&to=2026-01-01"),
            400,
            "range_too_large",
        ),
        (
            "/v1/reports/timeseries?influencer_id=1".to_owned(),
            400,
            "campaign_required",
        ),
        ("/v1/reports/campaigns/999999".to_owned(), 404, "not_found"),
        ("/v1/reports/campaigns/nonsense".to_owned(), 404, "not_found"),
    ] {
        desk.report(&path).await.assert_error(status, code);
    }

    // The checkout's key cannot read reports
    let refused = desk
        .app
        .send(reqwest::Method::GET, &report, Some(&desk.checkout), None)
        .await;
    refused.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_report_says_how_far_behind_ingest_is() {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "C", "slug": "c", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z"}),
        )
        .await;
    let emma = desk.influencer(&campaign, "emma", json!({})).await;
    let link = desk.link(&campaign, &emma, "lag").await;
    desk.click(link, "2026-11-10T10:00:00Z", "v", IPHONE, SWEDEN)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    let path = format!("/v1/reports/campaigns/{campaign}");
    let waiting = desk.report(&path).await;
    let lag = waiting.body["ingest_lag_seconds"].as_f64().unwrap();
    assert!(lag >= 1.0, "a click waits in the stream: lag {lag}");
    assert_eq!(waiting.body["totals"]["clicks"], 0);
    let scraped = desk.app.gauge("attrib_ingest_lag_seconds").await;
    assert!(
        scraped >= lag,
        "GET /metrics shows the same wait: {scraped}"
    );

    desk.ingest().await;
    let caught_up = desk.report(&path).await;
    assert_eq!(caught_up.body["ingest_lag_seconds"], 0.0);
    assert_eq!(desk.app.gauge("attrib_ingest_lag_seconds").await, 0.0);
    assert_eq!(caught_up.body["totals"]["clicks"], 1);
    assert_rollups_match_facts(&desk.app.db).await;
}

#[tokio::test]
async fn dropping_raw_clicks_past_the_retention_leaves_every_report_figure_as_it_was() {
    // Given the launch campaign, whose clicks are all of November 2026, ingested
    let l = launch().await;
    let paths = [
        format!("/v1/reports/campaigns/{}", l.campaign),
        format!("/v1/reports/campaigns/{}/influencers", l.campaign),
        format!(
            "/v1/reports/breakdown?campaign_id={}&by=country",
            l.campaign
        ),
        format!(
            "/v1/reports/timeseries?campaign_id={}&from=2026-11-01&to=2026-11-30&interval=day",
            l.campaign
        ),
    ];
    // What a report says, without the fields that say when it was read.
    let figures = |mut body: Value| {
        if let Some(object) = body.as_object_mut() {
            object.remove("as_of");
            object.remove("freshness");
        }
        body
    };
    let mut before = Vec::new();
    for path in &paths {
        before.push(figures(
            l.desk.report(path).await.assert_status(200).clone(),
        ));
    }
    let raw = |db: &sqlx::PgPool| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM clicks")
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert!(raw(&l.desk.app.db).await > 0);

    // When a worker keeps raw clicks only since the start of December
    let since_december = Utc::now() - "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let worker = worker_for(
        &l.desk.app,
        None,
        WorkerConfig {
            click_retention: Some(chrono::Duration::days(since_december.num_days())),
            ..draining("retention", None)
        },
    );
    let dropped = worker.apply_click_retention().await.unwrap();

    // Then November's partition is gone, and every report says what it said
    assert!(
        dropped.contains(&"clicks_2026_11".to_owned()),
        "{dropped:?}"
    );
    assert_eq!(raw(&l.desk.app.db).await, 0);
    for (path, before) in paths.iter().zip(&before) {
        let after = figures(l.desk.report(path).await.assert_status(200).clone());
        assert_eq!(&after, before, "{path}");
    }

    // And a click of November delivered late is not stored: the partition stays gone,
    // and the figures do not move
    let link = l.desk.link(&l.campaign, &l.emma, "emma-late").await;
    l.desk
        .click(link, "2026-11-20T10:00:00Z", "visitor-late", IPHONE, SWEDEN)
        .await;
    worker.drain().await.unwrap();
    let partition: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('clicks_2026_11')::text")
            .fetch_one(&l.desk.app.db)
            .await
            .unwrap();
    assert_eq!(partition, None);
    let after = figures(l.desk.report(&paths[0]).await.assert_status(200).clone());
    assert_eq!(after, before[0]);
}
