//! Several processes on one Redis and one Postgres, with no coordination but the stores:
//! two `attrib run` take clicks, conversions and holds, and everything is stored once and
//! expired once; two `attrib migrate` at the same time migrate once.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use attrib::auth::Scope;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use crate::helpers::{
    assert_conversion_rollups_match_facts, assert_rollups_match_facts, create_key, Deployment,
};

/// The sum of the samples of `sample` (a name with its labels) in a process's /metrics.
async fn metric(client: &reqwest::Client, address: &str, sample: &str) -> f64 {
    let text = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix(sample)?.trim().parse::<f64>().ok())
        .sum()
}

async fn count(db: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_attrib_run_processes_store_every_event_once_and_expire_each_hold_once() {
    // Given two `attrib run` of one deployment, each with its own port, spool and worker
    let first = Deployment::new(&[("ATTRIB_HOLD_SECONDS", "1")]).await;
    let second = first.sibling(&[("ATTRIB_WORKER_NAME", "second")]);
    let (_first, _second) = (first.start("run").await, second.start("run").await);
    let app = first.client().await;
    let link = app.short_link("emma").await;
    let owner = app.get(&format!("/v1/links/{link}")).await.body;
    app.post(
        "/v1/codes",
        json!({"code": "HOLD10", "campaign_id": owner["campaign_id"],
               "influencer_id": owner["influencer_id"],
               "discount_kind": "percent", "discount_value": 1000}),
    )
    .await
    .assert_status(201);
    let shop = create_key(&app.db, "shop", Scope::Checkout).await;
    let addresses = [first.address.as_str(), second.address.as_str()];
    let client = &app.client;

    // When visitors click through both, the shop reports each order to one of them and
    // retries it on the other, and holds are taken on both and left to expire
    let mut clicks = Vec::new();
    for i in 0..200 {
        let followed = client
            .get(format!("{}/emma", addresses[i % 2]))
            .header("user-agent", "Mozilla/5.0 (iPhone)")
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), 302);
        let location = url::Url::parse(followed.headers()["location"].to_str().unwrap()).unwrap();
        let (_, click) = location.query_pairs().find(|(k, _)| k == "atid").unwrap();
        clicks.push(click.into_owned());
    }
    for (order, click) in clicks.iter().take(20).enumerate() {
        for address in [addresses[order % 2], addresses[(order + 1) % 2]] {
            let reported = client
                .post(format!("{address}/v1/conversions"))
                .bearer_auth(&shop)
                .json(
                    &json!({"order_id": format!("order-{order}"), "amount_minor": 5000,
                              "currency": "EUR", "click_id": click}),
                )
                .send()
                .await
                .unwrap();
            assert!(reported.status().is_success(), "{}", reported.status());
        }
    }
    for hold in 0..6 {
        let held = client
            .post(format!("{}/v1/redemptions", addresses[hold % 2]))
            .bearer_auth(&shop)
            .json(
                &json!({"code": "HOLD10", "order_id": format!("hold-{hold}"),
                          "subtotal_minor": 5000, "currency": "EUR", "mode": "reserve"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(held.status(), 201);
    }

    // Then every click and conversion is stored once, by whichever worker read it
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = count(&app.db, "SELECT count(DISTINCT click_id) FROM clicks").await;
        let converted = count(&app.db, "SELECT count(*) FROM conversions").await;
        let waiting = count(&app.db, "SELECT count(*) FROM outbox").await;
        let expired = count(
            &app.db,
            "SELECT count(*) FROM redemptions WHERE status = 'expired'",
        )
        .await;
        if (stored == 200 && converted == 20 && waiting == 0 && expired == 6)
            || Instant::now() > deadline
        {
            assert_eq!(stored, 200);
            assert_eq!(converted, 20);
            assert_eq!(waiting, 0, "outbox rows left");
            assert_eq!(expired, 6, "expired holds");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count(&app.db, "SELECT count(*) FROM clicks").await, 200);
    assert_rollups_match_facts(&app.db).await;
    assert_conversion_rollups_match_facts(&app.db).await;
    // and each hold was expired by one process's sweep, not both
    let mut expirations = 0.0;
    for address in addresses {
        expirations += metric(
            client,
            address,
            r#"attrib_redemptions_total{outcome="expired"}"#,
        )
        .await;
    }
    assert_eq!(expirations, 6.0);
    // and the two workers stored the 200 clicks between them, none twice
    let mut stored_by = Vec::new();
    for address in addresses {
        stored_by.push(
            metric(
                client,
                address,
                r#"attrib_ingest_events_total{kind="click"}"#,
            )
            .await,
        );
    }
    assert_eq!(stored_by.iter().sum::<f64>(), 200.0, "{stored_by:?}");
}

#[tokio::test]
async fn two_migrations_at_once_apply_each_migration_once() {
    // Given an empty database
    let direct = crate::helpers::fresh_database().await;
    let (server, _) = direct.rsplit_once('/').unwrap();
    let name = format!("attrib_empty_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap();
    let url = format!("{server}/{name}");

    // When two `attrib migrate` run at the same time
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_attrib"))
            .arg("migrate")
            .env("ATTRIB_DATABASE_URL", &url)
            .env("ATTRIB_LOG", "warn")
            .spawn()
            .expect("start attrib migrate")
    };
    let (mut one, mut two) = (spawn(), spawn());

    // Then both succeed, and each migration is applied once
    assert!(one.wait().unwrap().success());
    assert!(two.wait().unwrap().success());
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let applied = count(&db, "SELECT count(*) FROM _sqlx_migrations").await;
    let distinct = count(&db, "SELECT count(DISTINCT version) FROM _sqlx_migrations").await;
    assert_eq!(applied, distinct);
    assert_eq!(applied as usize, attrib::storage::MIGRATOR.iter().count());
    db.close().await;
    admin
        .execute(format!("DROP DATABASE \"{name}\" WITH (FORCE)").as_str())
        .await
        .unwrap();
}
