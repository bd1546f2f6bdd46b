//! SQL of the click facts: `clicks`, `visitor_days`, `click_rollups`.
//!
//! A batch is written in one transaction the caller commits:
//! 1. claim the visitor-days the batch's non-bot clicks open (first click of a visitor on a
//!    link per UTC day): those clicks are the unique ones;
//! 2. insert the clicks (`ON CONFLICT DO NOTHING`: a redelivered click is skipped) and add
//!    exactly the rows inserted to the hourly rollups.
//!
//! A click delivered twice conflicts in both steps and changes nothing, so the rollups
//! always equal a recount of `clicks`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::StorageError;

#[derive(Debug, Clone)]
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
}

/// The month partition holding `at` exists afterwards.
pub async fn ensure_partition(db: &PgPool, at: DateTime<Utc>) -> Result<(), StorageError> {
    sqlx::query("SELECT ensure_click_partition($1)")
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
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

/// Writes a batch; returns how many clicks were new.
pub async fn insert_batch(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[ClickRow],
) -> Result<u64, StorageError> {
    let col = |f: fn(&ClickRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&ClickRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let click_ids = col(|r| r.click_id.clone());
    let visitors = col(|r| r.visitor.clone());
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.clicked_at).collect();
    let link_ids: Vec<i64> = rows.iter().map(|r| r.link_id).collect();
    let bots: Vec<bool> = rows.iter().map(|r| r.is_bot).collect();

    let claimed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO visitor_days (link_id, day, visitor, click_id)
         SELECT DISTINCT ON (link_id, day, visitor) link_id, day, visitor, click_id
         FROM (SELECT link_id, (at AT TIME ZONE 'UTC')::date AS day, visitor, click_id, at
               FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::bool[])
                    AS b(link_id, at, visitor, click_id, is_bot)
               WHERE NOT is_bot) firsts
         ORDER BY link_id, day, visitor, at, click_id
         ON CONFLICT DO NOTHING
         RETURNING click_id",
    )
    .bind(&link_ids)
    .bind(&times)
    .bind(&visitors)
    .bind(&click_ids)
    .bind(&bots)
    .fetch_all(&mut **tx)
    .await?;
    // Flags computed here rather than with `= ANY(array)` in SQL, which is quadratic.
    let claimed: std::collections::HashSet<String> = claimed.into_iter().collect();
    let unique: Vec<bool> = click_ids.iter().map(|id| claimed.contains(id)).collect();

    let inserted: i64 = sqlx::query_scalar(
        "WITH batch AS (
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[],
                                $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],
                                $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                                $15::text[], $16::bool[], $17::bool[])
             AS b(click_id, clicked_at, link_id, campaign_id, influencer_id, visitor, ip_prefix,
                  country, region, city, device, browser, os, referrer_host, trigger, is_bot,
                  is_unique)),
         inserted AS (
           INSERT INTO clicks (click_id, clicked_at, link_id, campaign_id, influencer_id, visitor,
                               ip_prefix, country, region, city, device, browser, os,
                               referrer_host, trigger, is_bot, is_unique)
           SELECT * FROM batch
           ON CONFLICT DO NOTHING
           RETURNING link_id, campaign_id, influencer_id, clicked_at, country, device, is_bot,
                     is_unique),
         rolled AS (
           INSERT INTO click_rollups AS r (link_id, hour, country, device, campaign_id,
                                           influencer_id, clicks, unique_clicks, bot_clicks)
           SELECT link_id, date_trunc('hour', clicked_at, 'UTC'), coalesce(country, ''), device,
                  campaign_id, influencer_id,
                  count(*) FILTER (WHERE NOT is_bot), count(*) FILTER (WHERE is_unique),
                  count(*) FILTER (WHERE is_bot)
           FROM inserted
           GROUP BY 1, 2, 3, 4, 5, 6
           ON CONFLICT (link_id, hour, country, device) DO UPDATE
             SET clicks = r.clicks + EXCLUDED.clicks,
                 unique_clicks = r.unique_clicks + EXCLUDED.unique_clicks,
                 bot_clicks = r.bot_clicks + EXCLUDED.bot_clicks)
         SELECT count(*) FROM inserted",
    )
    .bind(&click_ids)
    .bind(&times)
    .bind(&link_ids)
    .bind(rows.iter().map(|r| r.campaign_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.influencer_id).collect::<Vec<_>>())
    .bind(&visitors)
    .bind(opt(|r| r.ip_prefix.clone()))
    .bind(opt(|r| r.country.clone()))
    .bind(opt(|r| r.region.clone()))
    .bind(opt(|r| r.city.clone()))
    .bind(col(|r| r.device.clone()))
    .bind(opt(|r| r.browser.clone()))
    .bind(opt(|r| r.os.clone()))
    .bind(opt(|r| r.referrer_host.clone()))
    .bind(col(|r| r.trigger.clone()))
    .bind(&bots)
    .bind(&unique)
    .fetch_one(&mut **tx)
    .await?;
    Ok(u64::try_from(inserted).unwrap_or(0))
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
