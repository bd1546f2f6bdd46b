//! Redemption load against a running attrib: closed-loop throughput with 256 clients and
//! open-loop latency at a fixed rate, each over 10 000 codes ("spread") and on one hot code.
//!
//! Run through `benches/checkout.sh`, which seeds the codes, starts `attrib serve` and
//! passes `CHECKOUT_URL`, `CHECKOUT_KEY` and `CHECKOUT_DATABASE_URL`. Every request is a
//! new order (`POST /v1/redemptions`, mode commit), so each one takes a slot. Afterwards
//! the hot code's counter is checked against the successes and its limit.
//!
//! Latency at the fixed rate counts from when a request was due, not when it was sent, so
//! a stall shows in the percentiles (no coordinated omission).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;

const CODES: u64 = 10_000;
const HOT: &str = "HOTCODE";

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (run benches/checkout.sh)"))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Load {
    client: reqwest::Client,
    url: String,
    key: String,
    next_order: AtomicU64,
    run: u64,
}

#[derive(Default)]
struct Tally {
    created: u64,
    refused: u64,
    other: u64,
    /// The first unexpected answer, to say what went wrong.
    first_other: Option<String>,
    latencies_us: Vec<u64>,
}

impl Load {
    async fn redeem(&self, hot: bool) -> Result<u16, reqwest::Error> {
        let n = self.next_order.fetch_add(1, Ordering::Relaxed);
        let code = if hot {
            HOT.to_owned()
        } else {
            format!("S{}", n % CODES + 1)
        };
        let body = json!({"code": code, "order_id": format!("bench-{}-{n}", self.run),
                          "subtotal_minor": 5000, "currency": "EUR"});
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        Ok(status)
    }
}

fn record(tally: &Mutex<Tally>, status: Result<u16, reqwest::Error>, latency: Duration) {
    if let Ok(mut t) = tally.lock() {
        match status {
            Ok(201) => t.created += 1,
            Ok(422) => t.refused += 1,
            other => {
                t.other += 1;
                if t.first_other.is_none() {
                    t.first_other = Some(format!("{other:?}"));
                }
            }
        }
        t.latencies_us.push(latency.as_micros() as u64);
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Waits for every request of a phase; its tally and how long the phase took.
async fn finish(
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tally: Arc<Mutex<Tally>>,
    started: Instant,
) -> (Tally, f64) {
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Arc::try_unwrap(tally)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    (tally, elapsed)
}

async fn closed_loop(load: Arc<Load>, hot: bool, clients: u64, secs: u64) -> (Tally, f64) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (load, tally) = (load.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let sent = Instant::now();
                let status = load.redeem(hot).await;
                record(&tally, status, sent.elapsed());
            }
        }));
    }
    finish(tasks, tally, started).await
}

async fn fixed_rate(load: Arc<Load>, hot: bool, rate: u64, secs: u64) -> (Tally, f64) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = rate * secs;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (load, tally) = (load.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let status = load.redeem(hot).await;
            record(&tally, status, due.elapsed());
        }));
    }
    finish(tasks, tally, started).await
}

fn report(name: &str, mut tally: Tally, elapsed: f64) -> (u64, f64, f64) {
    tally.latencies_us.sort_unstable();
    let p50 = percentile(&tally.latencies_us, 50.0);
    let p99 = percentile(&tally.latencies_us, 99.0);
    println!(
        "{name}: {:.0} redemptions/s ({} created, {} refused, {} other in {elapsed:.1} s), p50 {p50:.2} ms, p99 {p99:.2} ms",
        tally.created as f64 / elapsed,
        tally.created,
        tally.refused,
        tally.other,
    );
    if let Some(first) = &tally.first_other {
        println!("  first unexpected answer: {first}");
    }
    (tally.created, p50, p99)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = env_number("DURATION", 15);
    let clients = env_number("CLIENTS", 256);
    let rate = env_number("RATE", 1000);
    let db = sqlx::PgPool::connect(&env("CHECKOUT_DATABASE_URL")?).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()?;
    let load = Arc::new(Load {
        client,
        url: format!("{}/v1/redemptions", env("CHECKOUT_URL")?),
        key: env("CHECKOUT_KEY")?,
        next_order: AtomicU64::new(0),
        run: std::process::id() as u64,
    });

    // Warm-up: connections and caches.
    let _ = closed_loop(load.clone(), false, clients, 2).await;

    let (tally, t) = closed_loop(load.clone(), false, clients, secs).await;
    report(&format!("spread, {clients} clients"), tally, t);
    let (tally, t) = closed_loop(load.clone(), true, clients, secs).await;
    let (mut hot_created, _, _) = report(&format!("hot code, {clients} clients"), tally, t);
    let (tally, t) = fixed_rate(load.clone(), false, rate, secs).await;
    let (_, _, spread_p99) = report(&format!("spread at {rate}/s"), tally, t);
    let (tally, t) = fixed_rate(load.clone(), true, rate, secs).await;
    let (created, _, hot_p99) = report(&format!("hot code at {rate}/s"), tally, t);
    hot_created += created;

    let (counter, limit, rows): (i64, i64, i64) = sqlx::query_as(
        "SELECT p.redemptions, p.max_redemptions,
                (SELECT count(*) FROM redemptions r WHERE r.code_id = p.id AND r.status = 'committed')
         FROM promo_codes p WHERE p.code = $1",
    )
    .bind(HOT)
    .fetch_one(&db)
    .await?;
    println!(
        "hot code: {hot_created} successes counted by the client, {rows} committed rows, counter {counter}, limit {limit}: {}",
        if hot_created > 0 && counter == rows && rows == hot_created as i64 && counter <= limit { "consistent, no over-redemption" } else { "MISMATCH" }
    );
    println!("targets: spread >= 5000/s, hot >= 2000/s, p99 at {rate}/s < 20 ms (spread {spread_p99:.2} ms, hot {hot_p99:.2} ms)");
    Ok(())
}
