//! Property: whatever events arrive, in whatever order, with duplicates, refunds,
//! cancellations and re-attributions among them, the rollups equal a recount of the facts.

use proptest::prelude::*;
use serde_json::json;

use crate::{
    helpers::{assert_conversion_rollups_match_facts, assert_rollups_match_facts, fresh_database},
    reports::Desk,
};

const AGENTS: [&str; 2] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
];
const ADDRESSES: [&str; 3] = ["89.160.20.112", "81.2.69.142", "10.1.2.3"];

#[derive(Debug, Clone)]
enum Op {
    Click {
        link: usize,
        visitor: usize,
        bot: bool,
        address: usize,
        second: i64,
        twice: bool,
    },
    Convert {
        code: Option<usize>,
        click: Option<usize>,
        amount: i64,
        second: i64,
    },
    Refund {
        conversion: usize,
        amount: Option<i64>,
    },
    Cancel {
        conversion: usize,
    },
    Reattribute {
        clicks_win: bool,
        window_days: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    // Three days of seconds, so clicks share hours, days and minutes (bursts)
    let second = 0..3 * 86_400_i64;
    prop_oneof![
        4 => (0..3_usize, 0..5_usize, prop::bool::weighted(0.1), 0..3_usize, second.clone(), prop::bool::weighted(0.1))
            .prop_map(|(link, visitor, bot, address, second, twice)| Op::Click { link, visitor, bot, address, second, twice }),
        2 => (prop::option::of(0..2_usize), prop::option::of(0..40_usize), 0..10_000_i64, second)
            .prop_map(|(code, click, amount, second)| Op::Convert { code, click, amount, second }),
        1 => (0..20_usize, prop::option::of(1..4_000_i64))
            .prop_map(|(conversion, amount)| Op::Refund { conversion, amount }),
        1 => (0..20_usize).prop_map(|conversion| Op::Cancel { conversion }),
        1 => (any::<bool>(), 1..10_i64)
            .prop_map(|(clicks_win, window_days)| Op::Reattribute { clicks_win, window_days }),
    ]
}

async fn play(ops: Vec<Op>, reverse: bool) {
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "P", "slug": "p", "currency": "EUR",
                   "starts_at": "2026-11-01T00:00:00Z"}),
        )
        .await;
    let emma = desk.influencer(&campaign, "emma", json!({})).await;
    let nora = desk.influencer(&campaign, "nora", json!({})).await;
    let mut links = Vec::new();
    for (slug, owner) in [("e1", &emma), ("e2", &emma), ("n1", &nora)] {
        links.push(desk.link(&campaign, owner, slug).await);
    }
    for (code, owner) in [("EMMA", &emma), ("NORA", &nora)] {
        desk.created(
            "/v1/codes",
            json!({"code": code, "campaign_id": campaign, "influencer_id": owner,
                   "discount_kind": "free_shipping"}),
        )
        .await;
    }
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-10T00:00:00Z")
        .unwrap()
        .to_utc();
    let at = |second: i64| (start + chrono::Duration::seconds(second)).to_rfc3339();

    let mut clicks: Vec<String> = Vec::new();
    let mut orders = 0_usize;
    for op in ops {
        match op {
            Op::Click {
                link,
                visitor,
                bot,
                address,
                second,
                twice,
            } => {
                let agent = AGENTS[usize::from(bot)];
                let visitor = format!("v{visitor}");
                let id = desk
                    .click(
                        links[link],
                        &at(second),
                        &visitor,
                        agent,
                        ADDRESSES[address],
                    )
                    .await;
                if twice {
                    desk.click_again(
                        links[link],
                        &id,
                        &at(second),
                        &visitor,
                        agent,
                        ADDRESSES[address],
                    )
                    .await;
                }
                clicks.push(id);
            }
            Op::Convert {
                code,
                click,
                amount,
                second,
            } => {
                let code = code.map(|c| ["EMMA", "NORA"][c]);
                let click = click.and_then(|c| clicks.get(c % clicks.len().max(1)).cloned());
                orders += 1;
                desk.try_checkout(
                    "/v1/conversions",
                    json!({"order_id": format!("o{orders}"), "amount_minor": amount,
                           "currency": "EUR", "occurred_at": at(second), "code": code,
                           "click_id": click}),
                )
                .await;
            }
            Op::Refund { conversion, amount } if orders > 0 => {
                let order = 1 + conversion % orders;
                desk.try_checkout(
                    &format!("/v1/conversions/o{order}/refunds"),
                    json!({"amount_minor": amount}),
                )
                .await;
            }
            Op::Cancel { conversion } if orders > 0 => {
                let order = 1 + conversion % orders;
                desk.try_checkout(&format!("/v1/conversions/o{order}/cancel"), json!({}))
                    .await;
            }
            Op::Reattribute {
                clicks_win,
                window_days,
            } => {
                desk.app
                    .patch(
                        &format!("/v1/campaigns/{campaign}"),
                        json!({"attribution_priority": if clicks_win { "click" } else { "code" },
                               "attribution_window_days": window_days}),
                    )
                    .await
                    .assert_status(200);
                desk.app
                    .post(&format!("/v1/campaigns/{campaign}/reattribute"), json!({}))
                    .await
                    .assert_status(200);
            }
            Op::Refund { .. } | Op::Cancel { .. } => {}
        }
    }
    if reverse {
        desk.ingest_after(|events| events.reverse()).await;
    } else {
        desk.ingest().await;
    }
    assert_rollups_match_facts(&desk.app.db).await;
    assert_conversion_rollups_match_facts(&desk.app.db).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn rollups_equal_a_recount_after_any_event_stream(
        ops in prop::collection::vec(op(), 1..40),
        reverse in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(play(ops, reverse));
    }
}

/// Every ingest batch updates rollup rows. Postgres updates a row in place (HOT: no new
/// index entries, no bloat, even without vacuum) only when no index holds a column the
/// update changes, so the counters stay out of every index of the rollup tables.
#[tokio::test]
async fn rollup_counters_are_in_no_index() {
    const ROLLUPS: [&str; 6] = [
        "click_rollups",
        "click_daily",
        "click_dim_rollups",
        "conversion_rollups",
        "conversion_daily",
        "conversion_hourly",
    ];
    const COUNTERS: [&str; 12] = [
        "clicks",
        "unique_clicks",
        "bot_clicks",
        "flagged_clicks",
        "flagged_unique_clicks",
        "conversions",
        "voided",
        "cancelled",
        "revenue_minor",
        "refunded_minor",
        "discount_minor",
        "flagged",
    ];
    let db = sqlx::PgPool::connect(&fresh_database().await)
        .await
        .expect("test database");
    let counters: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relname = ANY($1) AND a.attname = ANY($2) AND a.attnum > 0",
    )
    .bind(ROLLUPS)
    .bind(COUNTERS)
    .fetch_all(&db)
    .await
    .expect("columns");
    for table in ROLLUPS {
        assert!(
            counters.iter().any(|(t, _)| t == table),
            "{table} has no counter columns: the list above is out of date"
        );
    }
    let indexed: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, a.attname::text
         FROM pg_index x
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)
         WHERE t.relname = ANY($1) AND a.attname = ANY($2)",
    )
    .bind(ROLLUPS)
    .bind(COUNTERS)
    .fetch_all(&db)
    .await
    .expect("indexes");
    assert!(
        indexed.is_empty(),
        "(table, index, counter) in an index: {indexed:?}"
    );
}
