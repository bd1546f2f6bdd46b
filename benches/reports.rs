//! Report latency against a running attrib over generated data: every report endpoint
//! called `REPORTS_REPEAT` times in a row (after a warm-up), median and p99, beside the
//! time of a `SELECT count(*)` over the raw clicks in the same database, the cost a report
//! reading raw events would start from.
//!
//! Run through `benches/reports.sh`, which generates the data (1 million clicks, then 10
//! million), starts `attrib serve` and passes `REPORTS_URL`, `REPORTS_KEY`,
//! `REPORTS_DATABASE_URL` and `REPORTS_LABEL`. Prints one `RESULT` line per measurement
//! for the script to compare the two sizes.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (run benches/reports.sh)"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = env("REPORTS_URL")?;
    let key = env("REPORTS_KEY")?;
    let database_url = env("REPORTS_DATABASE_URL")?;
    let label = env("REPORTS_LABEL")?;
    let repeat: usize = std::env::var("REPORTS_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);

    let db = sqlx::PgPool::connect(&database_url).await?;
    let clicks: i64 = sqlx::query_scalar("SELECT count(*) FROM clicks")
        .fetch_one(&db)
        .await?;
    let rollup_rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM click_rollups) + (SELECT count(*) FROM click_dim_rollups)
                + (SELECT count(*) FROM conversion_rollups)",
    )
    .fetch_one(&db)
    .await?;
    println!("data [{label}]: {clicks} clicks, {rollup_rows} rollup rows");

    let mut count_times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM clicks")
            .fetch_one(&db)
            .await?;
        count_times.push(started.elapsed());
    }
    count_times.sort();
    println!(
        "RESULT {label} count_star {:.2} {:.2}",
        ms(percentile(&count_times, 0.5)),
        ms(percentile(&count_times, 0.99))
    );

    let mut reports: Vec<(String, String)> = [
        ("campaign", "/v1/reports/campaigns/1"),
        ("campaign_csv", "/v1/reports/campaigns/1?format=csv"),
        ("influencers", "/v1/reports/campaigns/1/influencers"),
        (
            "timeseries_day",
            "/v1/reports/timeseries?campaign_id=1&interval=day&tz=Europe/Stockholm",
        ),
        (
            "timeseries_hour",
            "/v1/reports/timeseries?campaign_id=1&interval=hour",
        ),
        (
            "timeseries_influencer",
            "/v1/reports/timeseries?campaign_id=1&influencer_id=7&interval=day",
        ),
        (
            "timeseries_link",
            "/v1/reports/timeseries?link_id=7&interval=day",
        ),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_owned(), path.to_owned()))
    .collect();
    for by in [
        "country", "device", "browser", "os", "referrer", "trigger", "link", "code",
    ] {
        reports.push((
            format!("breakdown_{by}"),
            format!("/v1/reports/breakdown?campaign_id=1&by={by}"),
        ));
    }

    let client = reqwest::Client::new();

    // The figures must be right before their speed means anything: the campaign report's
    // totals against counts over the raw facts.
    let report: serde_json::Value = client
        .get(format!("{url}/v1/reports/campaigns/1"))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    let (human_clicks, counted_sales): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM clicks WHERE NOT is_bot),
                (SELECT count(*) FROM conversions
                 WHERE status = 'attributed' AND kind = 'sale' AND cancelled_at IS NULL
                   AND NOT (amount_minor > 0 AND refunded_minor = amount_minor))",
    )
    .fetch_one(&db)
    .await?;
    let totals = &report["totals"];
    if totals["clicks"].as_i64() != Some(human_clicks)
        || totals["conversions"].as_i64() != Some(counted_sales)
    {
        bail!(
            "the campaign report disagrees with the facts: clicks {} (facts {human_clicks}), \
             conversions {} (facts {counted_sales})",
            totals["clicks"],
            totals["conversions"]
        );
    }
    println!("checked [{label}]: the campaign report counts {human_clicks} clicks and {counted_sales} sales, as the facts do");
    for (name, path) in reports {
        let call = || async {
            let response = client
                .get(format!("{url}{path}"))
                .bearer_auth(&key)
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            if !status.is_success() {
                bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
            }
            Ok::<usize, anyhow::Error>(body.len())
        };
        for _ in 0..3 {
            call().await?;
        }
        let mut times = Vec::with_capacity(repeat);
        let mut bytes = 0;
        for _ in 0..repeat {
            let started = Instant::now();
            bytes = call().await?;
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "RESULT {label} {name} {:.2} {:.2} {bytes}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
    Ok(())
}
