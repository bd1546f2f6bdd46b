//! The ingest worker against real Redis streams and Postgres: enrichment, unique clicks,
//! rollups, exactly-once across crashes, dead letters, trimming.

use std::{sync::Arc, time::Duration};

use attrib::{
    enrich::geo::GeoIp,
    pipeline::keys::Keys,
    storage::clicks::{self, ClickRow},
    worker::{FailPoint, InjectedFailure, Worker, WorkerConfig, GROUP},
};
use chrono::{Datelike, DurationRound, Utc};
use serde_json::{json, Value};

use crate::helpers::{
    assert_rollups_match_facts, draining, spawn_app_with, stream_entries, worker_for, TestApp,
};

const GEOIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/geoip/GeoIP2-City-Test.mmdb"
);
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const PREVIEW_BOT: &str =
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)";

#[derive(sqlx::FromRow)]
struct StoredClick {
    country: Option<String>,
    city: Option<String>,
    device: String,
    browser: Option<String>,
    ip_prefix: Option<String>,
    referrer_host: Option<String>,
    is_bot: bool,
    is_unique: bool,
}

async fn app() -> TestApp {
    spawn_app_with(&[
        ("ATTRIB_GEOIP_DB", GEOIP),
        ("ATTRIB_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await
}

fn worker(app: &TestApp, consumer: &str, fail_point: Option<FailPoint>) -> Worker {
    let geo = GeoIp::open(std::path::Path::new(GEOIP)).unwrap();
    worker_for(app, Some(Arc::new(geo)), draining(consumer, fail_point))
}

async fn click(app: &TestApp, slug: &str, agent: &str, from: &str, visitor: Option<&str>) {
    let mut request = app
        .client
        .get(format!("{}/{slug}", app.address))
        .header("user-agent", agent)
        .header("x-forwarded-for", from)
        .header("referer", "https://www.instagram.com/p/xyz");
    if let Some(visitor) = visitor {
        request = request.header("cookie", format!("atv={visitor}"));
    }
    assert_eq!(request.send().await.unwrap().status(), 302);
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

async fn pending(app: &TestApp) -> i64 {
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let mut total = 0;
    for shard in 0..keys.shards() {
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(keys.stream(shard))
            .arg(GROUP)
            .query_async(&mut conn)
            .await
            .unwrap();
        if let redis::Value::Array(items) = reply {
            if let Some(redis::Value::Int(n)) = items.first() {
                total += n;
            }
        }
    }
    total
}

#[tokio::test]
async fn clicks_are_enriched_flagged_and_rolled_up() {
    // Given a link clicked from an iPhone in Sweden twice, a desktop in Britain, and a
    // link-preview bot
    let app = app().await;
    let link = app.short_link("emma").await;
    click(
        &app,
        "emma",
        IPHONE,
        "89.160.20.112",
        Some("visitorsweden01"),
    )
    .await;
    click(
        &app,
        "emma",
        IPHONE,
        "89.160.20.112",
        Some("visitorsweden01"),
    )
    .await;
    click(
        &app,
        "emma",
        DESKTOP,
        "81.2.69.142",
        Some("visitorbritain1"),
    )
    .await;
    click(&app, "emma", PREVIEW_BOT, "81.2.69.142", None).await;

    // When the worker ingests the streams
    let handled = worker(&app, "w1", None).drain().await.unwrap();

    // Then every click is stored once, enriched, without its raw address
    assert_eq!(handled, 4);
    let rows: Vec<StoredClick> = sqlx::query_as(
        "SELECT country, city, device, browser, ip_prefix, referrer_host, is_bot, is_unique
         FROM clicks ORDER BY clicked_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 4);
    let sweden = &rows[0];
    assert_eq!(sweden.country.as_deref(), Some("SE"));
    assert_eq!(sweden.city.as_deref(), Some("Linköping"));
    assert_eq!(sweden.device, "mobile");
    assert_eq!(sweden.browser.as_deref(), Some("Safari"));
    assert_eq!(sweden.ip_prefix.as_deref(), Some("89.160.20.0/24"));
    assert_eq!(sweden.referrer_host.as_deref(), Some("instagram.com"));
    assert!(
        sweden.is_unique,
        "first click of the visitor today is unique"
    );
    assert!(!rows[1].is_unique, "the repeat visit is not unique");
    assert_eq!(rows[2].country.as_deref(), Some("GB"));
    assert_eq!(rows[2].device, "desktop");
    assert!(
        rows[3].is_bot && !rows[3].is_unique,
        "the preview fetcher is a bot, never unique"
    );
    let raw_ips = scalar(
        &app,
        "SELECT count(*) FROM clicks WHERE ip_prefix LIKE '%.142%' OR ip_prefix LIKE '%.112%'",
    )
    .await;
    assert_eq!(raw_ips, 0);

    // And the link shows its non-bot and unique clicks from the rollups
    let view = app.get(&format!("/v1/links/{link}")).await;
    assert_eq!(view.body["clicks"], 3);
    assert_eq!(view.body["unique_clicks"], 2);
    let listed = app.get("/v1/links").await;
    assert_eq!(listed.body["data"][0]["clicks"], 3);
    assert_eq!(
        scalar(&app, "SELECT sum(bot_clicks)::bigint FROM click_rollups").await,
        1
    );
    assert_rollups_match_facts(&app.db).await;
    assert_eq!(pending(&app).await, 0, "everything is acknowledged");
}

#[tokio::test]
async fn a_crash_after_commit_and_before_ack_counts_nothing_twice() {
    let app = app().await;
    app.short_link("emma").await;
    for i in 0..7 {
        click(
            &app,
            "emma",
            DESKTOP,
            "81.2.69.142",
            Some(&format!("visitor0000000{i}")),
        )
        .await;
    }

    // When a worker commits its batch and dies before acknowledging it
    let crashed = worker(&app, "w1", Some(FailPoint::AfterCommit))
        .drain()
        .await;
    let failure = crashed.expect_err("the fail point stops the worker");
    assert!(failure.is::<InjectedFailure>());
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 7);
    assert!(pending(&app).await > 0, "the batch is still pending");

    // Then the restarted worker re-reads its pending entries and inserts nothing new
    worker(&app, "w1", None).drain().await.unwrap();
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 7);
    assert_eq!(
        scalar(&app, "SELECT sum(clicks)::bigint FROM click_rollups").await,
        7
    );
    assert_eq!(
        scalar(&app, "SELECT sum(unique_clicks)::bigint FROM click_rollups").await,
        7
    );
    assert_rollups_match_facts(&app.db).await;
    assert_eq!(pending(&app).await, 0);
}

#[tokio::test]
async fn a_crash_before_commit_loses_nothing_and_another_worker_takes_over() {
    let app = app().await;
    app.short_link("emma").await;
    for i in 0..5 {
        click(
            &app,
            "emma",
            IPHONE,
            "89.160.20.112",
            Some(&format!("visitor0000000{i}")),
        )
        .await;
    }

    // When a worker dies before committing
    let crashed = worker(&app, "dead-worker", Some(FailPoint::BeforeCommit))
        .drain()
        .await;
    assert!(crashed.expect_err("fails").is::<InjectedFailure>());
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM clicks").await,
        0,
        "nothing half-written"
    );

    // Then another worker claims the dead one's entries and stores each click once
    worker(&app, "live-worker", None).drain().await.unwrap();
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 5);
    assert_eq!(
        scalar(&app, "SELECT sum(clicks)::bigint FROM click_rollups").await,
        5
    );
    assert_rollups_match_facts(&app.db).await;
    assert_eq!(pending(&app).await, 0);
}

/// The names of the consumers of a shard's group.
async fn consumers(app: &TestApp, shard: usize) -> Vec<String> {
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: redis::streams::StreamInfoConsumersReply =
        redis::AsyncCommands::xinfo_consumers(&mut conn, keys.stream(shard), GROUP)
            .await
            .unwrap();
    let mut names: Vec<String> = info.consumers.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn consumers_that_own_nothing_and_sit_idle_are_removed_from_the_group() {
    // Given a consumer that died owning entries, one that owns nothing, and a live one
    let app = app().await;
    let link: i64 = app.short_link("emma").await.parse().unwrap();
    let shard = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards).shard_of(link);
    click(&app, "emma", IPHONE, "89.160.20.112", None).await;
    let crashed = worker(&app, "owner", Some(FailPoint::BeforeCommit))
        .drain()
        .await;
    assert!(crashed.is_err());
    let live = worker(&app, "live", None);
    let mut conn = redis::Client::open(app.settings.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    for name in ["empty-handed", "live"] {
        redis::cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg(keys.stream(shard))
            .arg(GROUP)
            .arg(name)
            .query_async::<i64>(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(
        consumers(&app, shard).await,
        ["empty-handed", "live", "owner"]
    );

    // When the live one sweeps for consumers idle for any time at all
    tokio::time::sleep(Duration::from_millis(20)).await;
    let removed = live
        .remove_idle_consumers(Duration::from_millis(10))
        .await
        .unwrap();

    // Then the empty-handed one is gone; the owner of pending entries and itself stay
    assert!(removed >= 1);
    assert_eq!(consumers(&app, shard).await, ["live", "owner"]);
    assert_eq!(
        pending(&app).await,
        1,
        "nothing dropped from the pending list"
    );
}

#[tokio::test]
async fn undecodable_entries_and_unknown_links_are_dead_lettered_with_a_reason() {
    let app = app().await;
    app.short_link("emma").await;
    click(&app, "emma", DESKTOP, "81.2.69.142", None).await;
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stranger = json!({"type": "click", "v": 1, "id": "x", "link_id": 999_999,
                          "at": "2026-06-01T00:00:00Z", "visitor": "v", "ip": null,
                          "user_agent": null, "referrer": null, "trigger": "link"});
    for payload in ["not json".to_owned(), stranger.to_string()] {
        redis::cmd("XADD")
            .arg(keys.stream(0))
            .arg("*")
            .arg("e")
            .arg(payload)
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }

    worker(&app, "w1", None).drain().await.unwrap();

    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 1);
    let dead = stream_entries(&app.settings.redis_url, &keys.dead_letter(0)).await;
    let reasons: Vec<String> = dead
        .iter()
        .flat_map(|(_, fields)| {
            fields
                .iter()
                .filter(|(k, _)| k == "reason")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("expected")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("999999")), "{reasons:?}");
    assert_eq!(pending(&app).await, 0);
}

/// Adds `payloads` to a shard's stream, one entry each.
async fn add_entries(app: &TestApp, shard: usize, payloads: &[String]) {
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for payload in payloads {
        redis::cmd("XADD")
            .arg(keys.stream(shard))
            .arg("*")
            .arg("e")
            .arg(payload)
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }
}

/// The dead letters of a shard as (reason, raw).
async fn dead_letters(app: &TestApp, shard: usize) -> Vec<(String, String)> {
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    stream_entries(&app.settings.redis_url, &keys.dead_letter(shard))
        .await
        .into_iter()
        .map(|(_, fields)| {
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (field("reason"), field("raw"))
        })
        .collect()
}

#[tokio::test]
async fn an_event_postgres_refuses_is_dead_lettered_and_the_rest_of_its_batch_stored() {
    // Given forty clicks in one shard, one of which Postgres refuses on its own (a NUL in
    // a text), and a conversion event it refuses too
    let app = app().await;
    let link: i64 = app.short_link("emma").await.parse().unwrap();
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let shard = keys.shard_of(link);
    let click = |id: &str, visitor: &str| {
        json!({"type": "click", "v": 1, "id": id, "link_id": link,
               "at": Utc::now(), "visitor": visitor, "ip": "81.2.69.142",
               "user_agent": DESKTOP, "referrer": null, "trigger": "link"})
        .to_string()
    };
    let mut payloads: Vec<String> = (0..40)
        .map(|n| click(&format!("c{n:02}"), &format!("v{n}")))
        .collect();
    payloads[17] = click("poison", "bad\u{0}visitor");
    payloads.push(
        json!({"type": "conversion", "v": 1, "id": "conversion:1", "conversion_id": 1,
               "campaign_id": null, "influencer_id": null, "link_id": null, "via": null,
               "kind": "sale\u{0}", "amount_minor": 100, "discount_minor": 0,
               "currency": "EUR", "occurred_at": Utc::now()})
        .to_string(),
    );
    add_entries(&app, shard, &payloads).await;

    // When the worker ingests the shard
    let worker = worker(&app, "w1", None);
    worker.drain().await.unwrap();

    // Then the 39 good clicks are stored, and the two others are dead-lettered with the
    // database's reason and without the visitor's address, counted, and acknowledged
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 39);
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM clicks WHERE click_id = 'poison'"
        )
        .await,
        0
    );
    let dead = dead_letters(&app, shard).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter().all(|(reason, _)| reason.contains("22021")),
        "{dead:?}"
    );
    assert!(
        dead[0].1.contains("poison") && !dead[0].1.contains("81.2.69.142"),
        "{dead:?}"
    );
    assert!(dead[1].1.contains("conversion:1"), "{dead:?}");
    let metrics = worker.metrics().render();
    assert!(
        metrics.contains("attrib_dead_letters_total{reason=\"refused\"} 2"),
        "{metrics}"
    );
    assert_eq!(pending(&app).await, 0);
    assert_rollups_match_facts(&app.db).await;

    // And the shard goes on: the next clicks are stored
    add_entries(&app, shard, &[click("after", "v-after")]).await;
    worker.drain().await.unwrap();
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 40);
}

#[tokio::test]
async fn an_entry_packing_many_events_is_stored_event_by_event() {
    let app = app().await;
    let link = app.short_link("emma").await;
    let link_id: i64 = link.parse().unwrap();
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let event = |id: &str| {
        json!({"type": "click", "v": 1, "id": id, "link_id": link_id,
               "at": "2026-06-01T00:00:00Z", "visitor": id, "ip": "81.2.69.142",
               "user_agent": DESKTOP, "referrer": null, "trigger": "link"})
        .to_string()
    };
    let packed = [event("c1"), "{broken".to_owned(), event("c2"), event("c3")].join("\n");
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XADD")
        .arg(keys.stream(0))
        .arg("*")
        .arg("e")
        .arg(packed)
        .query_async::<String>(&mut conn)
        .await
        .unwrap();

    worker(&app, "w1", None).drain().await.unwrap();

    let stored: Vec<String> = sqlx::query_scalar("SELECT click_id FROM clicks ORDER BY click_id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, ["c1", "c2", "c3"]);
    let dead = stream_entries(&app.settings.redis_url, &keys.dead_letter(0)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0]
            .1
            .contains(&("raw".to_owned(), "{broken".to_owned())),
        "{dead:?}"
    );
    assert_rollups_match_facts(&app.db).await;
    assert_eq!(pending(&app).await, 0);
}

#[tokio::test]
async fn trimming_keeps_what_is_not_acknowledged() {
    let app = app().await;
    app.short_link("emma").await;
    for _ in 0..3 {
        click(&app, "emma", DESKTOP, "81.2.69.142", None).await;
    }
    let w = worker(&app, "w1", None);
    w.drain().await.unwrap();
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let length = |conn: &mut redis::aio::MultiplexedConnection| {
        let keys = keys.clone();
        let mut conn = conn.clone();
        async move {
            let mut total = 0i64;
            for shard in 0..keys.shards() {
                total += redis::cmd("XLEN")
                    .arg(keys.stream(shard))
                    .query_async::<i64>(&mut conn)
                    .await
                    .unwrap();
            }
            total
        }
    };
    assert_eq!(length(&mut conn).await, 3);

    // A new click delivered to a consumer that never acknowledges it
    click(&app, "emma", DESKTOP, "81.2.69.142", None).await;
    for shard in 0..keys.shards() {
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg("stalled")
            .arg("STREAMS")
            .arg(keys.stream(shard))
            .arg(">")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    w.trim_all().await.unwrap();
    assert_eq!(
        length(&mut conn).await,
        1,
        "only the unacknowledged entry is left"
    );
}

#[tokio::test]
async fn the_running_worker_ingests_clicks_as_they_come() {
    // Given links on every shard and a running worker that writes one batch at a time,
    // as in `attrib run`
    let app = app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let mut links = Vec::new();
    for i in 0..8 {
        let slug = format!("emma{i}");
        let reply = app
            .post(
                "/v1/links",
                json!({"campaign_id": campaign, "influencer_id": influencer, "slug": slug,
                       "destination": "https://shop.example.com/"}),
            )
            .await;
        links.push((slug, reply.id()));
    }
    let (stop, task) = run_worker(
        &app,
        WorkerConfig {
            consumer: "live".into(),
            block: Duration::from_millis(100),
            parallel_writes: Some(1),
            ..WorkerConfig::default()
        },
    );

    // When each is clicked
    for (slug, _) in &links {
        click(&app, slug, DESKTOP, "81.2.69.142", None).await;
    }

    // Then every link shows its click
    for (_, link) in &links {
        let mut counted: Value = Value::Null;
        for _ in 0..100 {
            counted = app.get(&format!("/v1/links/{link}")).await.body["clicks"].clone();
            if counted == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(counted, 1, "link {link}");
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_click_that_reaches_the_stream_twice_is_stored_once() {
    // A spool replay cut short and repeated puts the same events in the stream again.
    let app = app().await;
    app.short_link("emma").await;
    click(&app, "emma", DESKTOP, "81.2.69.142", None).await;
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for shard in 0..keys.shards() {
        let entries = stream_entries(&app.settings.redis_url, &keys.stream(shard)).await;
        for (_, fields) in entries {
            for (field, payload) in fields {
                for _ in 0..2 {
                    redis::cmd("XADD")
                        .arg(keys.stream(shard))
                        .arg("*")
                        .arg(&field)
                        .arg(&payload)
                        .query_async::<String>(&mut conn)
                        .await
                        .unwrap();
                }
            }
        }
    }

    let handled = worker(&app, "w1", None).drain().await.unwrap();

    assert_eq!(handled, 3);
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 1);
    assert_eq!(
        scalar(&app, "SELECT sum(clicks)::bigint FROM click_rollups").await,
        1
    );
    assert_eq!(
        scalar(&app, "SELECT sum(unique_clicks)::bigint FROM click_rollups").await,
        1
    );
    assert_rollups_match_facts(&app.db).await;
}

fn stored_row(click_id: &str, visitor: &str, minutes_ago: i64, is_bot: bool) -> ClickRow {
    ClickRow {
        click_id: click_id.to_owned(),
        clicked_at: Utc::now()
            .duration_trunc(chrono::Duration::hours(1))
            .unwrap()
            - chrono::Duration::minutes(minutes_ago),
        link_id: 1,
        campaign_id: 1,
        influencer_id: 1,
        visitor: visitor.to_owned(),
        ip_prefix: None,
        country: Some("SE".to_owned()),
        region: None,
        city: None,
        device: "mobile".to_owned(),
        browser: None,
        os: None,
        referrer_host: None,
        trigger: "link".to_owned(),
        is_bot,
        burst: false,
    }
}

async fn write_batch(app: &TestApp, rows: &[ClickRow]) -> u64 {
    clicks::ensure_partition(&app.db, rows[0].clicked_at)
        .await
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let inserted = clicks::insert_batch(&mut tx, rows).await.unwrap();
    tx.commit().await.unwrap();
    inserted
}

#[tokio::test]
async fn a_batch_mixing_stored_and_new_clicks_adds_only_the_new_ones() {
    let app = app().await;
    let first = [
        stored_row("c1", "anna", 30, false),
        stored_row("c2", "anna", 20, false),
        stored_row("c3", "bot", 10, true),
    ];
    assert_eq!(write_batch(&app, &first).await, 3);

    // When a redelivered part of the batch comes back with new clicks, the plain insert
    // fails on the known ones and the batch is written again skipping them
    let second = [
        first[1].clone(),
        stored_row("c4", "anna", 5, false),
        first[2].clone(),
        stored_row("c6", "ben", 8, false),
        stored_row("c5", "ben", 2, false),
    ];
    assert_eq!(write_batch(&app, &second).await, 3);

    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 6);
    let unique: Vec<String> =
        sqlx::query_scalar("SELECT click_id FROM clicks WHERE is_unique ORDER BY click_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    // The first click of each visitor on the day, not the first one in the batch
    assert_eq!(unique, ["c1", "c6"]);
    assert_eq!(
        scalar(&app, "SELECT sum(clicks)::bigint FROM click_rollups").await,
        5
    );
    assert_rollups_match_facts(&app.db).await;
}

/// Starts `config` running on `app`; send on the returned channel to stop it.
fn run_worker(
    app: &TestApp,
    config: WorkerConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let running = Arc::new(worker_for(app, None, config));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(running.run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn wait_for_clicks(app: &TestApp, wanted: i64) -> i64 {
    let mut stored = 0;
    for _ in 0..200 {
        stored = scalar(app, "SELECT count(*) FROM clicks").await;
        if stored >= wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stored
}

#[tokio::test]
async fn clicks_arriving_while_the_worker_gathers_are_stored_in_one_transaction() {
    // Given a running worker that waits a second for more clicks once some arrive
    let app = app().await;
    app.short_link("emma").await;
    let (stop, task) = run_worker(
        &app,
        WorkerConfig {
            consumer: "live".into(),
            block: Duration::from_millis(100),
            gather: Duration::from_secs(1),
            ..WorkerConfig::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // When a link is clicked four times in a row
    for _ in 0..4 {
        click(&app, "emma", DESKTOP, "81.2.69.142", None).await;
    }

    // Then the four clicks are stored together: `ingested_at` is the transaction's time
    assert_eq!(wait_for_clicks(&app, 4).await, 4);
    assert_eq!(
        scalar(&app, "SELECT count(DISTINCT ingested_at) FROM clicks").await,
        1,
        "one transaction"
    );
    assert_rollups_match_facts(&app.db).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_batch_postgres_refused_is_taken_again_by_the_same_worker() {
    // Given a running worker that would claim idle entries only after a minute, and a
    // Postgres that refuses every click for now
    let app = app().await;
    app.short_link("emma").await;
    // (as a standby does that a failover left read-only: a failure not about the values)
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_for_now() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'read-only for now' USING ERRCODE = 'read_only_sql_transaction';
         END $$;
         CREATE TRIGGER refuse_for_now BEFORE INSERT ON clicks
           FOR EACH STATEMENT EXECUTE FUNCTION refuse_for_now();",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (stop, task) = run_worker(
        &app,
        WorkerConfig {
            consumer: "live".into(),
            block: Duration::from_millis(100),
            claim_idle: Duration::from_secs(60),
            ..WorkerConfig::default()
        },
    );

    // When clicks come, the worker's batch fails, and Postgres takes clicks again
    for _ in 0..3 {
        click(&app, "emma", DESKTOP, "81.2.69.142", None).await;
    }
    let mut delivered = 0;
    for _ in 0..100 {
        delivered = pending(&app).await;
        if delivered == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 3, "the worker read the clicks");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(scalar(&app, "SELECT count(*) FROM clicks").await, 0);
    sqlx::query("DROP TRIGGER refuse_for_now ON clicks")
        .execute(&app.db)
        .await
        .unwrap();

    // Then the same worker stores them once, long before it would claim idle entries
    assert_eq!(wait_for_clicks(&app, 3).await, 3);
    assert_eq!(pending(&app).await, 0);
    assert_rollups_match_facts(&app.db).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn click_partitions_exist_ahead_and_for_late_clicks() {
    // Given a worker that has started, and a click from a month long gone
    let app = app().await;
    let link: i64 = app.short_link("emma").await.parse().unwrap();
    let late = json!({"type": "click", "v": 1, "id": "late", "link_id": link,
                      "at": "2025-02-14T12:00:00Z", "visitor": "v", "ip": null,
                      "user_agent": DESKTOP, "referrer": null, "trigger": "link"});
    let keys = Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let client = redis::Client::open(app.settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XADD")
        .arg(keys.stream(keys.shard_of(link)))
        .arg("*")
        .arg("e")
        .arg(late.to_string())
        .query_async::<String>(&mut conn)
        .await
        .unwrap();

    worker(&app, "w1", None).drain().await.unwrap();

    // Then this month, the next two, and the late click's month have their partitions
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'clicks'::regclass",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let today = Utc::now().date_naive();
    for ahead in 0..3 {
        let month = today
            .with_day(1)
            .and_then(|first| first.checked_add_months(chrono::Months::new(ahead)))
            .unwrap();
        let name = month.format("clicks_%Y_%m").to_string();
        assert!(partitions.contains(&name), "{name} in {partitions:?}");
    }
    assert!(
        partitions.contains(&"clicks_2025_02".to_owned()),
        "{partitions:?}"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM clicks_2025_02 WHERE click_id = 'late'"
        )
        .await,
        1
    );
}
