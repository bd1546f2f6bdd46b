//! The rollup invariants can fail: on real clicks and conversions they hold, and a
//! corrupted row of any rollup table (or a stored click id that does not verify) is
//! reported, naming the table it is in and the tables summed from it.

use std::collections::BTreeSet;

use attrib::domain::click_id::ClickSigner;
use serde_json::json;

use crate::{
    helpers::{
        assert_conversion_rollups_match_facts, assert_rollups_match_facts, rollup_mismatches,
    },
    reports::Desk,
};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/// Clicks ingested by the worker, a conversion by click id ten seconds after its click
/// (flagged as fast) and one by code with a later click of the code's owner (not flagged
/// as a leaked code): the recount tells them apart only by decoding the click ids.
async fn desk_with_sales() -> Desk {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "I", "slug": "i", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z"}),
        )
        .await;
    let emma = desk.influencer(&campaign, "emma", json!({})).await;
    let link = desk.link(&campaign, &emma, "emma-link").await;
    desk.created(
        "/v1/codes",
        json!({"code": "EMMA", "campaign_id": campaign, "influencer_id": emma,
               "discount_kind": "free_shipping"}),
    )
    .await;
    let click = desk
        .click(link, "2026-11-10T10:00:00Z", "v1", IPHONE, "89.160.20.112")
        .await;
    let later = desk
        .click(link, "2026-11-11T09:00:00Z", "v2", IPHONE, "81.2.69.142")
        .await;
    desk.checkout(
        "/v1/conversions",
        json!({"order_id": "by-click", "amount_minor": 5_000, "currency": "EUR",
               "occurred_at": "2026-11-10T10:00:10Z", "click_id": click}),
    )
    .await;
    desk.checkout(
        "/v1/conversions",
        json!({"order_id": "by-code", "amount_minor": 4_000, "currency": "EUR",
               "occurred_at": "2026-11-11T12:00:00Z", "code": "EMMA", "click_id": later}),
    )
    .await;
    desk.ingest().await;
    desk
}

/// The tables named by `mismatches` (each message starts with one).
fn tables(mismatches: &[String]) -> BTreeSet<&str> {
    mismatches
        .iter()
        .map(|m| m.split(':').next().unwrap_or(m))
        .collect()
}

#[tokio::test]
async fn a_corrupted_row_of_any_rollup_table_is_reported() {
    let desk = desk_with_sales().await;
    let db = &desk.app.db;
    assert_rollups_match_facts(db).await;
    assert_conversion_rollups_match_facts(db).await;
    let flagged: i64 = sqlx::query_scalar("SELECT sum(flagged)::bigint FROM conversion_rollups")
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(
        flagged, 1,
        "only the sale ten seconds after its click is flagged"
    );

    // (table, a counter of it, the tables then found wrong: the daily and campaign-wide
    // conversion tables are compared with sums of conversion_rollups)
    let cases = [
        ("click_rollups", "clicks", &["click_rollups"][..]),
        ("click_dim_rollups", "clicks", &["click_dim_rollups"]),
        ("click_daily", "clicks", &["click_daily"]),
        (
            "conversion_rollups",
            "conversions",
            &[
                "conversion_daily",
                "conversion_hourly",
                "conversion_rollups",
            ],
        ),
        ("conversion_daily", "conversions", &["conversion_daily"]),
        ("conversion_hourly", "conversions", &["conversion_hourly"]),
    ];
    for (table, counter, wrong) in cases {
        for corruption in [
            format!("UPDATE {table} SET {counter} = {counter} + 1"),
            format!("DELETE FROM {table}"),
        ] {
            // In a transaction rolled back afterwards, so every case starts from good data.
            let mut tx = db.begin().await.unwrap();
            let changed = sqlx::query(&format!(
                "{corruption} WHERE ctid = (SELECT ctid FROM {table} LIMIT 1)"
            ))
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
            assert_eq!(changed, 1, "{corruption}: {table} has rows");
            let found = rollup_mismatches(&mut tx).await;
            assert_eq!(
                tables(&found),
                wrong.iter().copied().collect(),
                "{corruption}: {found:#?}"
            );
            let reported = found.iter().find(|m| m.starts_with(table)).unwrap();
            assert!(
                reported.contains(&format!("\"{counter}\":")),
                "the message shows the rows: {reported}"
            );
            tx.rollback().await.unwrap();
        }
    }
    assert!(rollup_mismatches(&mut db.acquire().await.unwrap())
        .await
        .is_empty());
}

#[tokio::test]
async fn a_stored_click_id_that_does_not_verify_is_reported() {
    let desk = desk_with_sales().await;
    let db = &desk.app.db;
    let link: i64 = sqlx::query_scalar("SELECT id FROM links")
        .fetch_one(db)
        .await
        .unwrap();
    let foreign = ClickSigner::new(b"another deployment").issue(link, chrono::Utc::now());
    let mut tx = db.begin().await.unwrap();
    sqlx::query("UPDATE conversions SET click_id = $1 WHERE click_id IS NOT NULL")
        .bind(foreign.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    let found = rollup_mismatches(&mut tx).await;
    assert_eq!(
        tables(&found),
        BTreeSet::from(["conversions"]),
        "{found:#?}"
    );
    assert!(found[0].contains(foreign.as_str()), "{}", found[0]);
}
