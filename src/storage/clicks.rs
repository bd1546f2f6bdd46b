//! SQL of the click facts: `clicks`, `visitor_days`, and their rollups `click_rollups`
//! (link × hour), `click_daily` (link × UTC day) and `click_dim_rollups` (campaign ×
//! dimension × hour × value).
//!
//! A batch is written in one transaction the caller commits:
//! 1. claim the visitor-days the batch's non-bot clicks open (first click of a visitor on a
//!    link per UTC day): those clicks are the unique ones;
//! 2. insert the clicks; the insert is plain, and when a click of the batch is already
//!    stored (a redelivery), it is taken back and done again with `ON CONFLICT DO NOTHING`,
//!    which skips the known clicks and says which it inserted;
//! 3. add exactly the inserted rows to the rollups, as `domain::rollup` counts them.
//!
//! A click delivered twice conflicts in both steps and changes nothing, so the rollups
//! always equal a recount of `clicks`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgPool, Postgres, Transaction};

use super::StorageError;
use crate::domain::rollup::{self, ClickFact, ClickRollups, DimensionRow, LinkRow};

/// Serialised only for a dead letter, should Postgres refuse the row.
#[derive(Debug, Clone, Serialize)]
pub struct ClickRow {
    pub click_id: String,
    pub clicked_at: DateTime<Utc>,
    pub link_id: i64,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub visitor: String,
    pub ip_prefix: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub device: String,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub referrer_host: Option<String>,
    pub trigger: String,
    pub is_bot: bool,
    /// Past the burst limit of its visitor or address on its link (`domain::fraud`).
    pub burst: bool,
}

/// The month partition holding `at` exists afterwards.
pub async fn ensure_partition(db: &PgPool, at: DateTime<Utc>) -> Result<(), StorageError> {
    sqlx::query("SELECT ensure_click_partition($1)")
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
}

/// Drops the month partitions of `clicks` that end at or before `cutoff`; returns their
/// names, oldest first.
pub async fn drop_partitions_before(
    db: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, StorageError> {
    Ok(
        sqlx::query_scalar("SELECT drop_click_partitions_before($1)")
            .bind(cutoff)
            .fetch_all(db)
            .await?,
    )
}

/// Campaign and influencer of each link id that exists.
pub async fn link_owners(
    db: &PgPool,
    link_ids: &[i64],
) -> Result<HashMap<i64, (i64, i64)>, StorageError> {
    let rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, campaign_id, influencer_id FROM links WHERE id = ANY($1)")
            .bind(link_ids)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(id, c, i)| (id, (c, i))).collect())
}

/// Inserts the batch's clicks; `$on_conflict` is empty or `ON CONFLICT DO NOTHING`, and
/// `$result` says what was inserted (a count, or the click ids).
///
/// Arrays are unnested in the select list: `FROM unnest(a, b, …)` materialises every array
/// in a tuple store first, which cost Postgres more than the insert itself.
macro_rules! insert_clicks_sql {
    ($on_conflict:literal, $result:literal) => {
        concat!(
            "WITH inserted AS (
               INSERT INTO clicks (click_id, clicked_at, link_id, campaign_id, influencer_id,
                                   visitor, ip_prefix, country, region, city, device, browser,
                                   os, referrer_host, trigger, is_bot, is_unique, burst)
               SELECT unnest($1::text[]), unnest($2::timestamptz[]), unnest($3::bigint[]),
                      unnest($4::bigint[]), unnest($5::bigint[]), unnest($6::text[]),
                      unnest($7::text[]), unnest($8::text[]), unnest($9::text[]),
                      unnest($10::text[]), unnest($11::text[]), unnest($12::text[]),
                      unnest($13::text[]), unnest($14::text[]), unnest($15::text[]),
                      unnest($16::bool[]), unnest($17::bool[]), unnest($18::bool[])
               ",
            $on_conflict,
            "
               RETURNING click_id)
             ",
            $result
        )
    };
}

/// For a batch none of whose clicks is stored yet: the common case, and a plain insert
/// costs Postgres about half of one that checks every row for a conflict first.
const INSERT_NEW_CLICKS: &str = insert_clicks_sql!("", "SELECT count(*) FROM inserted");
/// For a batch that was delivered before (a worker died before its `XACK`).
const INSERT_CLICKS_SKIPPING_KNOWN: &str = insert_clicks_sql!(
    "ON CONFLICT DO NOTHING",
    "SELECT coalesce(array_agg(click_id), '{}') FROM inserted"
);

/// Writes a batch; returns how many clicks were new.
pub async fn insert_batch(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[ClickRow],
) -> Result<u64, StorageError> {
    let claimed = claim_visitor_days(tx, rows).await?;
    let unique: Vec<bool> = rows.iter().map(|r| claimed.contains(&r.click_id)).collect();

    // Inside a savepoint: a redelivered click fails the plain insert, and only that
    // statement is taken back before the batch is written again skipping known clicks.
    let mut attempt = tx.begin().await?;
    let inserted: Vec<(&ClickRow, bool)> =
        match insert_clicks::<i64>(&mut attempt, INSERT_NEW_CLICKS, rows, &unique).await {
            Ok(_) => {
                attempt.commit().await?;
                rows.iter().zip(unique.iter().copied()).collect()
            }
            Err(e) if is_unique_violation(&e) => {
                attempt.rollback().await?;
                let new: Vec<String> =
                    insert_clicks(tx, INSERT_CLICKS_SKIPPING_KNOWN, rows, &unique).await?;
                // A click twice in one batch is inserted once: each id is taken once.
                let mut new: HashSet<&str> = new.iter().map(String::as_str).collect();
                rows.iter()
                    .zip(unique.iter().copied())
                    .filter(|(row, _)| new.remove(row.click_id.as_str()))
                    .collect()
            }
            Err(e) => return Err(e.into()),
        };
    add_to_rollups(tx, &inserted).await?;
    Ok(inserted.len() as u64)
}

impl ClickRow {
    /// The click as the rollups count it; `unique`: it opened a visitor-day.
    fn fact(&self, unique: bool) -> ClickFact<'_> {
        ClickFact {
            link_id: self.link_id,
            campaign_id: self.campaign_id,
            influencer_id: self.influencer_id,
            clicked_at: self.clicked_at,
            is_bot: self.is_bot,
            burst: self.burst,
            unique,
            country: self.country.as_deref(),
            device: &self.device,
            browser: self.browser.as_deref(),
            os: self.os.as_deref(),
            referrer_host: self.referrer_host.as_deref(),
            trigger: &self.trigger,
        }
    }
}

/// Adds the inserted clicks to the rollups: per link and hour, per link and UTC day, and
/// per campaign, dimension, hour and value. Counted by [`rollup::click_rollups`] rather
/// than grouped in SQL: the six dimensions alone made six rows of every click, and
/// grouping them in Postgres took a third of the ingest time, while a batch only touches a
/// few rows of each rollup. Rows come in key order: batches of other shards update the
/// same campaign rows, and taking their locks in one order keeps them from deadlocking.
async fn add_to_rollups(
    tx: &mut Transaction<'_, Postgres>,
    inserted: &[(&ClickRow, bool)],
) -> Result<(), StorageError> {
    let ClickRollups {
        hours,
        days,
        dimensions: dims,
    } = rollup::click_rollups(inserted.iter().map(|&(row, unique)| row.fact(unique)));
    fn link<T, V>(rows: &[LinkRow<T>], f: impl Fn(&LinkRow<T>) -> V) -> Vec<V> {
        rows.iter().map(f).collect()
    }
    fn dim<'a, V>(rows: &[DimensionRow<'a>], f: impl Fn(&DimensionRow<'a>) -> V) -> Vec<V> {
        rows.iter().map(f).collect()
    }
    sqlx::query(
        "WITH hours AS (
           INSERT INTO click_rollups AS r (link_id, hour, campaign_id, influencer_id, clicks,
                                           unique_clicks, bot_clicks, flagged_clicks,
                                           flagged_unique_clicks)
           SELECT unnest($1::bigint[]), unnest($2::timestamptz[]), unnest($3::bigint[]),
                  unnest($4::bigint[]), unnest($5::bigint[]), unnest($6::bigint[]),
                  unnest($7::bigint[]), unnest($8::bigint[]), unnest($9::bigint[])
           ON CONFLICT (link_id, hour) DO UPDATE
             SET clicks = r.clicks + EXCLUDED.clicks,
                 unique_clicks = r.unique_clicks + EXCLUDED.unique_clicks,
                 bot_clicks = r.bot_clicks + EXCLUDED.bot_clicks,
                 flagged_clicks = r.flagged_clicks + EXCLUDED.flagged_clicks,
                 flagged_unique_clicks = r.flagged_unique_clicks + EXCLUDED.flagged_unique_clicks),
         days AS (
           INSERT INTO click_daily AS d (link_id, day, campaign_id, influencer_id, clicks,
                                         unique_clicks, bot_clicks, flagged_clicks,
                                         flagged_unique_clicks)
           SELECT unnest($10::bigint[]), unnest($11::date[]), unnest($12::bigint[]),
                  unnest($13::bigint[]), unnest($14::bigint[]), unnest($15::bigint[]),
                  unnest($16::bigint[]), unnest($17::bigint[]), unnest($18::bigint[])
           ON CONFLICT (link_id, day) DO UPDATE
             SET clicks = d.clicks + EXCLUDED.clicks,
                 unique_clicks = d.unique_clicks + EXCLUDED.unique_clicks,
                 bot_clicks = d.bot_clicks + EXCLUDED.bot_clicks,
                 flagged_clicks = d.flagged_clicks + EXCLUDED.flagged_clicks,
                 flagged_unique_clicks = d.flagged_unique_clicks + EXCLUDED.flagged_unique_clicks)
         INSERT INTO click_dim_rollups AS x (campaign_id, dimension, hour, value, clicks,
                                             unique_clicks, bot_clicks)
         SELECT unnest($19::bigint[]), unnest($20::text[]), unnest($21::timestamptz[]),
                unnest($22::text[]), unnest($23::bigint[]), unnest($24::bigint[]),
                unnest($25::bigint[])
         ON CONFLICT (campaign_id, dimension, hour, value) DO UPDATE
           SET clicks = x.clicks + EXCLUDED.clicks,
               unique_clicks = x.unique_clicks + EXCLUDED.unique_clicks,
               bot_clicks = x.bot_clicks + EXCLUDED.bot_clicks",
    )
    .bind(link(&hours, |r| r.link_id))
    .bind(link(&hours, |r| r.at))
    .bind(link(&hours, |r| r.campaign_id))
    .bind(link(&hours, |r| r.influencer_id))
    .bind(link(&hours, |r| r.counts.clicks))
    .bind(link(&hours, |r| r.counts.unique_clicks))
    .bind(link(&hours, |r| r.counts.bot_clicks))
    .bind(link(&hours, |r| r.counts.flagged_clicks))
    .bind(link(&hours, |r| r.counts.flagged_unique_clicks))
    .bind(link(&days, |r| r.link_id))
    .bind(link(&days, |r| r.at))
    .bind(link(&days, |r| r.campaign_id))
    .bind(link(&days, |r| r.influencer_id))
    .bind(link(&days, |r| r.counts.clicks))
    .bind(link(&days, |r| r.counts.unique_clicks))
    .bind(link(&days, |r| r.counts.bot_clicks))
    .bind(link(&days, |r| r.counts.flagged_clicks))
    .bind(link(&days, |r| r.counts.flagged_unique_clicks))
    .bind(dim(&dims, |r| r.campaign_id))
    .bind(dim(&dims, |r| r.dimension))
    .bind(dim(&dims, |r| r.hour))
    .bind(dim(&dims, |r| r.value))
    .bind(dim(&dims, |r| r.counts.clicks))
    .bind(dim(&dims, |r| r.counts.unique_clicks))
    .bind(dim(&dims, |r| r.counts.bot_clicks))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims the visitor-days opened by the batch's non-bot clicks; returns the click ids
/// that opened one (the unique clicks).
async fn claim_visitor_days(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[ClickRow],
) -> Result<HashSet<String>, StorageError> {
    // The first click of each visitor-day within the batch is its only candidate; chosen
    // here, because sorting the batch in SQL for `DISTINCT ON` took Postgres longer than
    // the claims themselves.
    let mut firsts: foldhash::HashMap<(i64, NaiveDate, &str), &ClickRow> = Default::default();
    for row in rows.iter().filter(|r| !r.is_bot) {
        let key = (
            row.link_id,
            row.clicked_at.date_naive(),
            row.visitor.as_str(),
        );
        firsts
            .entry(key)
            .and_modify(|first| {
                if (row.clicked_at, &row.click_id) < (first.clicked_at, &first.click_id) {
                    *first = row;
                }
            })
            .or_insert(row);
    }
    // In key order: the index is written in order, and concurrent batches lock keys in the
    // same order.
    let mut firsts: Vec<_> = firsts.into_iter().collect();
    firsts.sort_unstable_by(|a, b| a.0.cmp(&b.0));

    let claimed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO visitor_days (link_id, day, visitor, click_id)
         SELECT unnest($1::bigint[]), unnest($2::date[]), unnest($3::text[]), unnest($4::text[])
         ON CONFLICT DO NOTHING
         RETURNING click_id",
    )
    .bind(
        firsts
            .iter()
            .map(|((link, ..), _)| *link)
            .collect::<Vec<_>>(),
    )
    .bind(
        firsts
            .iter()
            .map(|((_, day, _), _)| *day)
            .collect::<Vec<_>>(),
    )
    .bind(
        firsts
            .iter()
            .map(|((.., visitor), _)| *visitor)
            .collect::<Vec<_>>(),
    )
    .bind(
        firsts
            .iter()
            .map(|(_, row)| row.click_id.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(claimed.into_iter().collect())
}

async fn insert_clicks<O>(
    tx: &mut Transaction<'_, Postgres>,
    sql: &'static str,
    rows: &[ClickRow],
    unique: &[bool],
) -> Result<O, sqlx::Error>
where
    O: Send + Unpin,
    (O,): for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let text = |f: fn(&ClickRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&ClickRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let int = |f: fn(&ClickRow) -> i64| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query_scalar(sql)
        .bind(text(|r| &r.click_id))
        .bind(rows.iter().map(|r| r.clicked_at).collect::<Vec<_>>())
        .bind(int(|r| r.link_id))
        .bind(int(|r| r.campaign_id))
        .bind(int(|r| r.influencer_id))
        .bind(text(|r| &r.visitor))
        .bind(opt(|r| r.ip_prefix.as_deref()))
        .bind(opt(|r| r.country.as_deref()))
        .bind(opt(|r| r.region.as_deref()))
        .bind(opt(|r| r.city.as_deref()))
        .bind(text(|r| &r.device))
        .bind(opt(|r| r.browser.as_deref()))
        .bind(opt(|r| r.os.as_deref()))
        .bind(opt(|r| r.referrer_host.as_deref()))
        .bind(text(|r| &r.trigger))
        .bind(rows.iter().map(|r| r.is_bot).collect::<Vec<_>>())
        .bind(unique)
        .bind(rows.iter().map(|r| r.burst).collect::<Vec<_>>())
        .fetch_one(&mut **tx)
        .await
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "23505")
}

/// Forgets visitor-days older than `keep_days`: only late events still need them.
pub async fn prune_visitor_days(db: &PgPool, keep_days: i32) -> Result<u64, StorageError> {
    let done =
        sqlx::query("DELETE FROM visitor_days WHERE day < (now() AT TIME ZONE 'UTC')::date - $1")
            .bind(keep_days)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}

/// Ingested non-bot and unique clicks per link, from the rollups.
pub async fn link_totals(
    db: &PgPool,
    link_ids: &[i64],
) -> Result<HashMap<i64, (i64, i64)>, StorageError> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT link_id, sum(clicks)::bigint, sum(unique_clicks)::bigint
         FROM click_rollups WHERE link_id = ANY($1) GROUP BY link_id",
    )
    .bind(link_ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, c, u)| (id, (c, u))).collect())
}
