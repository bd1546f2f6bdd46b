//! Invariants: every rollup table equals a recount of the facts it is made from (clicks,
//! conversions) or of the finer rollup it sums. Each check is a `Recount`, from which one
//! query is built; a failure names the table and shows the first differing rows of both
//! sides. `*_mismatches` report without panicking (so a test can show that a corrupted
//! rollup is caught); `assert_*` are what tests call after ingesting.

use attrib::domain::click_id::ClickSigner;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::app::CLICK_SECRET;

/// One rollup table against what it must equal.
struct Recount {
    /// What the table holds, for the failure message.
    what: &'static str,
    /// What it must equal, for the failure message.
    against: &'static str,
    /// A query with one row per key, carrying the `keys` and the left-hand `columns`.
    facts: &'static str,
    table: &'static str,
    keys: &'static [&'static str],
    /// (column of `facts`, column of `table`) pairs that must be equal.
    columns: &'static [(&'static str, &'static str)],
    /// A table row whose compared columns are all 0 stands for no row: ingest adds to
    /// rollup rows and never deletes one, so moving a conversion's credit elsewhere (a
    /// re-attribution) leaves its old row at 0, where a recount has none.
    zero_rows_are_absent: bool,
}

/// How many differing rows a failure shows.
const SHOWN: usize = 5;

impl Recount {
    fn sql(&self) -> String {
        let table = if self.zero_rows_are_absent {
            let any_counted: Vec<String> = self
                .columns
                .iter()
                .map(|(_, r)| format!("{r} <> 0"))
                .collect();
            format!(
                "(SELECT * FROM {} WHERE {})",
                self.table,
                any_counted.join(" OR ")
            )
        } else {
            self.table.to_owned()
        };
        let keys = self.keys.join(", ");
        let differs: Vec<String> = self
            .columns
            .iter()
            .map(|(f, r)| format!("f.{f} IS DISTINCT FROM r.{r}"))
            .collect();
        format!(
            "SELECT count(*) OVER (), to_jsonb(f), to_jsonb(r)
             FROM ({facts}) f
             FULL JOIN {table} r USING ({keys})
             WHERE {differs}
             ORDER BY {keys}
             LIMIT {SHOWN}",
            facts = self.facts,
            differs = differs.join(" OR "),
        )
    }

    /// The differences as one message, or None when the table equals its recount.
    async fn differences(
        &self,
        conn: &mut PgConnection,
        clicks: Option<&ConversionClicks>,
    ) -> Option<String> {
        let sql = self.sql();
        let mut query = sqlx::query_as::<_, (i64, Option<Value>, Option<Value>)>(&sql);
        if let Some(clicks) = clicks {
            query = query
                .bind(&clicks.conversion_ids)
                .bind(&clicks.link_ids)
                .bind(&clicks.clicked_at);
        }
        let rows = query
            .fetch_all(conn)
            .await
            .unwrap_or_else(|e| panic!("{}: the recount fails: {e}\n{sql}", self.table));
        let total = rows.first()?.0;
        let shown: Vec<String> = rows
            .iter()
            .map(|(_, f, r)| {
                let side =
                    |v: &Option<Value>| v.as_ref().map_or("none".to_owned(), Value::to_string);
                format!("\n    recount {}\n    {} {}", side(f), self.table, side(r))
            })
            .collect();
        Some(format!(
            "{}: {} differ from {} in {total} row(s), first {}:{}",
            self.table,
            self.what,
            self.against,
            shown.len(),
            shown.concat()
        ))
    }
}

const CLICK_RECOUNTS: [Recount; 3] = [
    Recount {
        what: "link rollups",
        against: "a recount of clicks",
        facts: "SELECT link_id, date_trunc('hour', clicked_at, 'UTC') AS hour, campaign_id,
                       influencer_id, count(*) FILTER (WHERE NOT is_bot) AS clicks,
                       count(*) FILTER (WHERE is_unique) AS unique_clicks,
                       count(*) FILTER (WHERE is_bot) AS bots
                FROM clicks GROUP BY 1, 2, 3, 4",
        table: "click_rollups",
        keys: &["link_id", "hour", "campaign_id", "influencer_id"],
        columns: &[
            ("clicks", "clicks"),
            ("unique_clicks", "unique_clicks"),
            ("bots", "bot_clicks"),
        ],
        zero_rows_are_absent: false,
    },
    Recount {
        what: "dimension rollups",
        against: "a recount of clicks",
        facts: "SELECT campaign_id, dim.dimension, date_trunc('hour', clicked_at, 'UTC') AS hour,
                       dim.value, count(*) FILTER (WHERE NOT is_bot) AS clicks,
                       count(*) FILTER (WHERE is_unique) AS unique_clicks,
                       count(*) FILTER (WHERE is_bot) AS bots
                FROM clicks
                CROSS JOIN LATERAL (VALUES ('country', coalesce(country, '')), ('device', device),
                                           ('browser', coalesce(browser, '')), ('os', coalesce(os, '')),
                                           ('referrer', coalesce(referrer_host, '')),
                                           ('trigger', trigger))
                           AS dim(dimension, value)
                GROUP BY 1, 2, 3, 4",
        table: "click_dim_rollups",
        keys: &["campaign_id", "dimension", "hour", "value"],
        columns: &[
            ("clicks", "clicks"),
            ("unique_clicks", "unique_clicks"),
            ("bots", "bot_clicks"),
        ],
        zero_rows_are_absent: false,
    },
    Recount {
        what: "daily rollups",
        against: "a recount of clicks",
        facts: "SELECT link_id, (clicked_at AT TIME ZONE 'UTC')::date AS day,
                       count(*) FILTER (WHERE NOT is_bot) AS clicks,
                       count(*) FILTER (WHERE is_unique) AS unique_clicks,
                       count(*) FILTER (WHERE is_bot) AS bots,
                       count(*) FILTER (WHERE burst AND is_unique) AS flagged_unique
                FROM clicks GROUP BY 1, 2",
        table: "click_daily",
        keys: &["link_id", "day"],
        columns: &[
            ("clicks", "clicks"),
            ("unique_clicks", "unique_clicks"),
            ("bots", "bot_clicks"),
            ("flagged_unique", "flagged_unique_clicks"),
        ],
        zero_rows_are_absent: false,
    },
];

/// Reads the decoded click ids from `$1` (conversion ids), `$2` (their links) and `$3`
/// (their click times): see `ConversionClicks`.
const CONVERSION_RECOUNT: Recount = Recount {
    what: "conversion rollups",
    against: "a recount of the conversions",
    facts: "WITH clicked AS (
                SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[])
                         AS k(conversion_id, link_id, clicked_at)),
              signals AS (
                -- The fraud signals of domain::fraud, read again from the facts: the
                -- influencer of the click's link, the click's time, the default 15 s.
                SELECT c.*, l.influencer_id AS click_influencer, k.clicked_at
                FROM conversions c
                LEFT JOIN clicked k ON k.conversion_id = c.id
                LEFT JOIN links l ON l.id = k.link_id)
            SELECT campaign_id, influencer_id, date_trunc('hour', occurred_at, 'UTC') AS hour,
                   via, kind, coalesce(link_id, 0) AS link_id, coalesce(code, '') AS code,
                   count(*) AS conversions, sum(amount_minor) AS revenue_minor,
                   sum(CASE WHEN cancelled_at IS NOT NULL THEN amount_minor
                            ELSE refunded_minor END) AS refunded_minor,
                   count(*) FILTER (WHERE cancelled_at IS NOT NULL
                                      OR (amount_minor > 0 AND refunded_minor = amount_minor))
                     AS voided,
                   count(*) FILTER (
                     WHERE cancelled_at IS NULL
                       AND NOT (amount_minor > 0 AND refunded_minor = amount_minor)
                       AND ((click_influencer IS NOT NULL
                             AND occurred_at - clicked_at < interval '15 seconds')
                            OR (via = 'code' AND click_influencer IS DISTINCT FROM influencer_id)))
                     AS flagged
            FROM signals WHERE status = 'attributed'
            GROUP BY 1, 2, 3, 4, 5, 6, 7",
    table: "conversion_rollups",
    keys: &[
        "campaign_id",
        "influencer_id",
        "hour",
        "via",
        "kind",
        "link_id",
        "code",
    ],
    columns: &[
        ("conversions", "conversions"),
        ("revenue_minor", "revenue_minor"),
        ("refunded_minor", "refunded_minor"),
        ("voided", "voided"),
        ("flagged", "flagged"),
    ],
    zero_rows_are_absent: true,
};

const CONVERSION_SUMS: [Recount; 2] = [
    Recount {
        what: "daily conversion rollups",
        against: "the hourly ones",
        facts: "SELECT campaign_id, influencer_id, (hour AT TIME ZONE 'UTC')::date AS day, via,
                       kind, link_id, code, sum(conversions) AS conversions,
                       sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
                       sum(voided) AS voided, sum(flagged) AS flagged
                FROM conversion_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7",
        table: "conversion_daily",
        keys: &[
            "campaign_id",
            "influencer_id",
            "day",
            "via",
            "kind",
            "link_id",
            "code",
        ],
        columns: &[
            ("conversions", "conversions"),
            ("revenue_minor", "revenue_minor"),
            ("refunded_minor", "refunded_minor"),
            ("voided", "voided"),
            ("flagged", "flagged"),
        ],
        zero_rows_are_absent: false,
    },
    Recount {
        what: "campaign hourly sales",
        against: "the rollups",
        facts: "SELECT campaign_id, hour, kind, sum(conversions) AS conversions,
                       sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
                       sum(voided) AS voided
                FROM conversion_rollups GROUP BY 1, 2, 3",
        table: "conversion_hourly",
        keys: &["campaign_id", "hour", "kind"],
        columns: &[
            ("conversions", "conversions"),
            ("revenue_minor", "revenue_minor"),
            ("refunded_minor", "refunded_minor"),
            ("voided", "voided"),
        ],
        zero_rows_are_absent: false,
    },
];

/// The conversions' click ids, decoded by the crate's own `ClickSigner`, as the arrays the
/// conversion recount reads.
struct ConversionClicks {
    conversion_ids: Vec<i64>,
    link_ids: Vec<i64>,
    clicked_at: Vec<DateTime<Utc>>,
}

impl ConversionClicks {
    /// Err: the click ids that do not verify. The API verifies a click id before it stores
    /// one, so such an id means a test stored garbage, and the recount would be wrong.
    async fn read(conn: &mut PgConnection) -> Result<ConversionClicks, Vec<String>> {
        let stored: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, click_id FROM conversions WHERE click_id IS NOT NULL ORDER BY id",
        )
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("read the conversions' click ids: {e}"));
        let signer = ClickSigner::new(CLICK_SECRET.as_bytes());
        let mut clicks = ConversionClicks {
            conversion_ids: Vec::with_capacity(stored.len()),
            link_ids: Vec::with_capacity(stored.len()),
            clicked_at: Vec::with_capacity(stored.len()),
        };
        let mut bad = Vec::new();
        for (id, raw) in stored {
            match signer.verify(&raw) {
                Ok(click) => {
                    clicks.conversion_ids.push(id);
                    clicks.link_ids.push(click.link_id);
                    clicks.clicked_at.push(click.clicked_at);
                }
                Err(e) => bad.push(format!(
                    "conversions: conversion {id} stores the click id {raw:?}, which does \
                     not verify ({e})"
                )),
            }
        }
        if bad.is_empty() {
            Ok(clicks)
        } else {
            Err(bad)
        }
    }
}

/// How the click rollups differ from a recount of the clicks; empty when they are right.
pub async fn click_rollup_mismatches(conn: &mut PgConnection) -> Vec<String> {
    let mut found = Vec::new();
    for recount in &CLICK_RECOUNTS {
        found.extend(recount.differences(&mut *conn, None).await);
    }
    found
}

/// How the conversion rollups differ from a recount of the conversions as they stand now
/// (credit, refunds, cancellation, fraud signals), and the daily and campaign-wide tables
/// from the hourly rollups; empty when they are right.
pub async fn conversion_rollup_mismatches(conn: &mut PgConnection) -> Vec<String> {
    let mut found = Vec::new();
    match ConversionClicks::read(&mut *conn).await {
        Ok(clicks) => found.extend(
            CONVERSION_RECOUNT
                .differences(&mut *conn, Some(&clicks))
                .await,
        ),
        Err(bad) => found.extend(bad),
    }
    for recount in &CONVERSION_SUMS {
        found.extend(recount.differences(&mut *conn, None).await);
    }
    found
}

/// Every difference between a rollup table and what it must equal.
pub async fn rollup_mismatches(conn: &mut PgConnection) -> Vec<String> {
    let mut found = click_rollup_mismatches(&mut *conn).await;
    found.extend(conversion_rollup_mismatches(&mut *conn).await);
    found
}

fn assert_none(mismatches: Vec<String>) {
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Click rollups must always equal a recount of the facts.
pub async fn assert_rollups_match_facts(db: &PgPool) {
    let mut conn = db.acquire().await.expect("a connection");
    assert_none(click_rollup_mismatches(&mut conn).await);
}

/// Conversion rollups must always equal a recount of the conversions as they stand now
/// (credit, refunds, cancellation, fraud signals), once every event is ingested.
pub async fn assert_conversion_rollups_match_facts(db: &PgPool) {
    let mut conn = db.acquire().await.expect("a connection");
    assert_none(conversion_rollup_mismatches(&mut conn).await);
}
