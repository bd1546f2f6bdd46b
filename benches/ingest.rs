//! Worker ingest rate against a plain `COPY` of the same rows, in one run.
//!
//! Fills the event streams with N click events (default 1 000 000, `INGEST_EVENTS`),
//! spread over 1 000 links and realistic user agents and addresses, in time order over the
//! last day with real signed click ids, packed 100 to a stream entry as the redirect's
//! producer packs them under load; then lets the worker
//! (all shards concurrently, enrichment on with the MaxMind fixture) ingest them into
//! Postgres and times it from the first read to the last commit. Then it `COPY`s the same
//! number of already-enriched rows into an unindexed, logged table of the same columns and
//! times that. Prints both rates and their ratio.
//!
//! Needs `INGEST_DATABASE_URL` (an empty database it may fill) and `INGEST_REDIS_URL`;
//! run it through `benches/ingest.sh`, which prepares both.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use attrib::{
    domain::click_id::ClickSigner,
    enrich::geo::GeoIp,
    pipeline::{
        events::{ClickEvent, Event, Trigger, SCHEMA_VERSION},
        keys::Keys,
    },
    storage,
    worker::{Worker, WorkerConfig},
};
use chrono::{Duration as ChronoDuration, Utc};
use sqlx::PgPool;

// As in the `attrib` binary, so the worker runs with the allocator it ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LINKS: i64 = 1000;
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
];
const ADDRESSES: &[&str] = &[
    "81.2.69.142",
    "89.160.20.112",
    "216.160.83.56",
    "175.16.199.1",
    "2.125.160.216",
    "10.0.0.1",
];
const PREFIX: &str = "attrib_ingest_bench:";
const SHARDS: usize = 4;
const EVENTS_PER_ENTRY: usize = 100;

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (run benches/ingest.sh)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize = std::env::var("INGEST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let db = PgPool::connect(&env("INGEST_DATABASE_URL")?).await?;
    let redis = redis::Client::open(env("INGEST_REDIS_URL")?)?;
    let geo_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/geoip/GeoIP2-City-Test.mmdb"
    );
    storage::migrate(&db).await?;
    let keys = Keys::new(PREFIX, SHARDS);

    let link_ids = seed_links(&db).await?;
    println!("filling {SHARDS} streams with {events} click events…");
    fill_streams(&redis, &keys, &link_ids, events).await?;

    let worker = Arc::new(Worker::new(
        db.clone(),
        redis.clone(),
        keys.clone(),
        Some(Arc::new(
            GeoIp::open(std::path::Path::new(geo_path)).map_err(anyhow::Error::msg)?,
        )),
        WorkerConfig {
            consumer: "bench".into(),
            block: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
    ));
    worker.prepare().await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(worker.clone().run(async {
        let _ = stopped.await;
    }));
    loop {
        let stored: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(clicks + bot_clicks), 0)::bigint FROM click_rollups",
        )
        .fetch_one(&db)
        .await?;
        if stored as usize >= events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    running.await??;
    let ingest_rate = events as f64 / ingest_secs;

    let copy_secs = plain_copy(&db, events).await?;
    let copy_rate = events as f64 / copy_secs;
    clear_streams(&redis, &keys).await?;

    println!("worker ingest: {events} events in {ingest_secs:.2} s = {ingest_rate:.0} events/s");
    println!("plain COPY:    {events} rows in {copy_secs:.2} s = {copy_rate:.0} rows/s");
    println!(
        "ingest ratio: {:.3} of plain COPY (target >= 0.25)",
        ingest_rate / copy_rate
    );
    Ok(())
}

async fn seed_links(db: &PgPool) -> anyhow::Result<Vec<i64>> {
    let campaign: i64 = sqlx::query_scalar(
        "INSERT INTO campaigns (name, slug, currency, starts_at) VALUES ('bench', 'bench', 'EUR', now())
         RETURNING id",
    )
    .fetch_one(db)
    .await?;
    let influencer: i64 = sqlx::query_scalar(
        "INSERT INTO influencers (handle, display_name) VALUES ('bench', 'bench') RETURNING id",
    )
    .fetch_one(db)
    .await?;
    sqlx::query("INSERT INTO enrollments (campaign_id, influencer_id) VALUES ($1, $2)")
        .bind(campaign)
        .bind(influencer)
        .execute(db)
        .await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO links (slug, campaign_id, influencer_id, destination, utm)
         SELECT 'i' || g, $1, $2, 'https://shop.example.com/', '{\"source\":\"b\",\"medium\":\"b\",\"campaign\":\"b\"}'
         FROM generate_series(1, $3) g RETURNING id",
    )
    .bind(campaign)
    .bind(influencer)
    .bind(LINKS)
    .fetch_all(db)
    .await?)
}

fn event(i: usize, events: usize, link_ids: &[i64], signer: &ClickSigner) -> (i64, String) {
    let link_id = link_ids[i % link_ids.len()];
    let day_ms = 86_400_000;
    let at =
        Utc::now() - ChronoDuration::milliseconds(day_ms - (i * day_ms as usize / events) as i64);
    let event = Event::Click(ClickEvent {
        v: SCHEMA_VERSION,
        id: signer.issue(link_id, at).as_str().to_owned(),
        link_id,
        at,
        visitor: format!("visitor{}", i % 50_000),
        ip: Some(ADDRESSES[i % ADDRESSES.len()].to_owned()),
        user_agent: Some(AGENTS[i % AGENTS.len()].to_owned()),
        referrer: Some("https://www.instagram.com/".to_owned()),
        trigger: if i.is_multiple_of(10) {
            Trigger::Qr
        } else {
            Trigger::Link
        },
    });
    (link_id, event.to_json())
}

async fn fill_streams(
    redis: &redis::Client,
    keys: &Keys,
    link_ids: &[i64],
    events: usize,
) -> anyhow::Result<()> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    clear_streams(redis, keys).await?;
    let signer = ClickSigner::new(b"ingest bench secret");
    let mut entries: Vec<Vec<String>> = vec![Vec::new(); keys.shards()];
    let mut packed: Vec<(usize, String)> = Vec::new();
    for i in 0..events {
        let (link_id, payload) = event(i, events, link_ids, &signer);
        let shard = keys.shard_of(link_id);
        entries[shard].push(payload);
        if entries[shard].len() == EVENTS_PER_ENTRY {
            packed.push((shard, entries[shard].join("\n")));
            entries[shard].clear();
        }
    }
    for (shard, lines) in entries.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        packed.push((shard, lines.join("\n")));
    }
    for chunk in packed.chunks(100) {
        let mut pipe = redis::pipe();
        for (shard, lines) in chunk {
            pipe.cmd("XADD")
                .arg(keys.stream(*shard))
                .arg("*")
                .arg("e")
                .arg(lines)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
    }
    Ok(())
}

async fn clear_streams(redis: &redis::Client, keys: &Keys) -> anyhow::Result<()> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    for shard in 0..keys.shards() {
        redis::cmd("DEL")
            .arg(keys.stream(shard))
            .arg(keys.dead_letter(shard))
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok(())
}

/// `COPY` of `events` rows shaped like `clicks` into an unindexed, logged table.
async fn plain_copy(db: &PgPool, events: usize) -> anyhow::Result<f64> {
    sqlx::query("DROP TABLE IF EXISTS copy_baseline")
        .execute(db)
        .await?;
    sqlx::query(
        "CREATE TABLE copy_baseline (click_id text, clicked_at timestamptz, link_id bigint,
           campaign_id bigint, influencer_id bigint, visitor text, ip_prefix text, country text,
           region text, city text, device text, browser text, os text, referrer_host text,
           trigger text, is_bot boolean, is_unique boolean)",
    )
    .execute(db)
    .await?;
    let now = Utc::now();
    let mut data = String::with_capacity(events * 160);
    for i in 0..events {
        let at = now - ChronoDuration::seconds((i % 86_400) as i64);
        data.push_str(&format!(
            "bench-{i:010}\t{}\t{}\t1\t1\tvisitor{}\t81.2.69.0/24\tGB\tENG\tLondon\tmobile\tSafari\tiPhone\tinstagram.com\tlink\tf\tt\n",
            at.to_rfc3339(),
            i % 1000,
            i % 50_000
        ));
    }
    let started = Instant::now();
    let mut conn = db.acquire().await?;
    let mut copy = conn.copy_in_raw("COPY copy_baseline FROM STDIN").await?;
    for chunk in data.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    Ok(started.elapsed().as_secs_f64())
}
