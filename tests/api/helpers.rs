//! `spawn_app()`: the real application on a free port, with its own database (cloned from a
//! migrated template) and its own Redis key prefix, so every test runs in parallel with
//! the others and sees only its own data.

use std::{collections::HashMap, path::Path};

use attrib::{
    auth::{self, Scope},
    config::Settings,
    startup::Application,
    storage,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection, PgPool};

pub const PUBLIC_URL: &str = "https://go.test";
pub const CLICK_SECRET: &str = "test-click-secret-0123456789abcdef0123";

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub client: reqwest::Client,
    pub admin_key: String,
    pub db: PgPool,
    /// The app's spool directory, removed with the app so a suite run leaves none behind.
    _spool: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The `error.code` of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("reply has no id: {:?} {}", self.status, self.body))
            .to_owned()
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "body: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

fn server_base() -> String {
    std::env::var("ATTRIB_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn redis_url() -> String {
    std::env::var("ATTRIB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A database with every migration applied, cloned per test (much faster than migrating).
/// Its name carries a digest of the migrations, so changing one makes a new template.
async fn template_database(admin: &mut PgConnection) -> String {
    let digest: u64 = storage::MIGRATOR
        .iter()
        .flat_map(|m| m.checksum.iter().copied())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let name = format!("attrib_test_template_{digest:016x}");
    // Test processes start together: one builds the template, the others wait for it.
    admin
        .execute("SELECT pg_advisory_lock(74657374)")
        .await
        .expect("advisory lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut *admin)
            .await
            .expect("look up template");
    if !exists {
        let building = format!("{name}_building");
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{building}\"").as_str())
            .await
            .expect("drop half-built template");
        admin
            .execute(format!("CREATE DATABASE \"{building}\"").as_str())
            .await
            .expect("create template");
        let pool = PgPool::connect(&format!("{}/{building}", server_base()))
            .await
            .expect("connect to template");
        storage::migrate(&pool).await.expect("migrate template");
        pool.close().await;
        admin
            .execute(format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\"").as_str())
            .await
            .expect("publish template");
    }
    admin
        .execute("SELECT pg_advisory_unlock(74657374)")
        .await
        .expect("advisory unlock");
    name
}

pub async fn fresh_database() -> String {
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_base()))
        .await
        .expect("Postgres must be running (scripts/services.sh starts it)");
    let template = template_database(&mut admin).await;
    let name = format!("attrib_test_{}", uuid::Uuid::new_v4().simple());
    let mut attempts = 0;
    loop {
        let created = admin
            .execute(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"").as_str())
            .await;
        match created {
            Ok(_) => break,
            // Another test cloning the template at the same instant: try again.
            Err(_) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot create test database: {e}"),
        }
    }
    format!("{}/{name}", server_base())
}

pub fn test_settings(database_url: &str, spool: &Path, extra: &[(&str, &str)]) -> Settings {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("attrib_test:{id}:");
    let mut vars: HashMap<String, String> = [
        ("ATTRIB_DATABASE_URL", database_url.to_owned()),
        ("ATTRIB_REDIS_URL", redis_url()),
        ("ATTRIB_REDIS_PREFIX", prefix),
        ("ATTRIB_LISTEN", "127.0.0.1:0".to_owned()),
        ("ATTRIB_PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("ATTRIB_HTTP_WORKERS", "1".to_owned()),
        ("ATTRIB_DATABASE_MAX_CONNECTIONS", "4".to_owned()),
        ("ATTRIB_LOG", "warn".to_owned()),
        ("ATTRIB_CLICK_SECRET", CLICK_SECRET.to_owned()),
        ("ATTRIB_SPOOL_DIR", spool.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_map(&vars).expect("test settings are valid")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let database_url = fresh_database().await;
    spawn_app_on(&database_url, extra).await
}

/// Starts an application on an existing database (e.g. to restart one).
pub async fn spawn_app_on(database_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let spool = tempfile::Builder::new()
        .prefix("attrib-test-spool-")
        .tempdir()
        .expect("spool directory");
    let settings = test_settings(database_url, spool.path(), extra);
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let db = PgPool::connect(database_url).await.expect("test pool");
    let admin_key = create_key(&db, "test-admin", Scope::Admin).await;
    TestApp {
        address,
        settings,
        // Redirects are what some tests look at, so they are never followed.
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client"),
        admin_key,
        db,
        _spool: spool,
    }
}

pub async fn create_key(db: &PgPool, name: &str, scope: Scope) -> String {
    let secret = auth::generate_secret();
    storage::api_keys::insert(db, name, scope, &secret)
        .await
        .expect("insert key");
    secret.secret
}

impl TestApp {
    /// A request with `key` (None: no Authorization header).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("response body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Reply { status, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(&self.admin_key), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(&self.admin_key), Some(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(&self.admin_key), Some(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, Some(&self.admin_key), None)
            .await
    }

    pub async fn raw(&self, method: Method, path: &str, body: &str) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.admin_key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent")
    }

    // Fixtures: the smallest valid objects, returning their ids.

    pub async fn campaign(&self, slug: &str) -> String {
        self.post(
            "/v1/campaigns",
            json!({"name": format!("Campaign {slug}"), "slug": slug, "currency": "EUR",
                   "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}),
        )
        .await
        .id()
    }

    pub async fn influencer(&self, handle: &str) -> String {
        self.post("/v1/influencers", json!({"handle": handle}))
            .await
            .id()
    }

    pub async fn enroll(&self, campaign_id: &str, influencer_id: &str) {
        self.post(
            &format!("/v1/campaigns/{campaign_id}/enrollments"),
            json!({"influencer_id": influencer_id}),
        )
        .await
        .assert_status(201);
    }

    /// A campaign with one enrolled influencer: (campaign_id, influencer_id).
    pub async fn enrolled(&self, campaign_slug: &str, handle: &str) -> (String, String) {
        let campaign = self.campaign(campaign_slug).await;
        let influencer = self.influencer(handle).await;
        self.enroll(&campaign, &influencer).await;
        (campaign, influencer)
    }

    /// Campaign `summer`, influencer `emma` enrolled in it, and a link with `slug` to
    /// `https://shop.example.com/`; returns the link's id.
    pub async fn short_link(&self, slug: &str) -> String {
        let (campaign, influencer) = self.enrolled("summer", "emma").await;
        self.post(
            "/v1/links",
            json!({"campaign_id": campaign, "influencer_id": influencer, "slug": slug,
                   "destination": "https://shop.example.com/"}),
        )
        .await
        .id()
    }

    /// The value of one sample of `GET /metrics`, e.g.
    /// `attrib_click_events_total{durable_in="redis"}`; 0 when absent.
    pub async fn metric(&self, sample: &str) -> u64 {
        self.metrics_text()
            .await
            .lines()
            .filter_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
            .next()
            .unwrap_or(0)
    }

    async fn metrics_text(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("a metrics body")
    }

    /// The value of a gauge of `GET /metrics`, which must be there.
    pub async fn gauge(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .next()
            .unwrap_or_else(|| panic!("no {name} in GET /metrics: {text}"))
    }

    /// Every page of a list, following `next_cursor`; also checks page sizes.
    pub async fn collect_pages(&self, path: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
                None => format!("{path}{separator}limit={limit}"),
            };
            let reply = self.get(&url).await;
            let body = reply.assert_status(200).clone();
            let page = body["data"].as_array().expect("data array").clone();
            assert!(page.len() <= limit);
            items.extend(page);
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        items
    }
}

/// Every entry of a Redis stream, as (entry id, field-value pairs).
pub async fn stream_entries(redis_url: &str, key: &str) -> Vec<(String, Vec<(String, String)>)> {
    let client = redis::Client::open(redis_url).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE")
}

/// The click events in every shard of the app's streams (on `redis_url`).
pub async fn stream_clicks(
    app: &TestApp,
    redis_url: &str,
) -> Vec<attrib::pipeline::events::ClickEvent> {
    use attrib::pipeline::events::Event;
    let keys =
        attrib::pipeline::keys::Keys::new(&app.settings.redis_prefix, app.settings.stream_shards);
    let mut clicks = Vec::new();
    for shard in 0..keys.shards() {
        for (_, fields) in stream_entries(redis_url, &keys.stream(shard)).await {
            for (_, payload) in fields {
                for line in Event::lines_of(payload.as_bytes()) {
                    if let Event::Click(click) = Event::from_json(line).expect("an event") {
                        clicks.push(click);
                    }
                }
            }
        }
    }
    clicks
}

/// A worker on the app's database, Redis and key prefix.
pub fn worker_for(
    app: &TestApp,
    geo: Option<std::sync::Arc<attrib::enrich::geo::GeoIp>>,
    config: attrib::worker::WorkerConfig,
) -> attrib::worker::Worker {
    attrib::worker::Worker::new(
        app.db.clone(),
        redis::Client::open(app.settings.redis_url.as_str()).expect("Redis URL"),
        attrib::pipeline::keys::Keys::new(&app.settings.redis_prefix, app.settings.stream_shards),
        geo,
        config,
    )
}

/// For tests that drain: one read takes every entry a test makes, nothing waits for more,
/// and other consumers' entries may be claimed at once.
pub fn draining(
    consumer: &str,
    fail_point: Option<attrib::worker::FailPoint>,
) -> attrib::worker::WorkerConfig {
    attrib::worker::WorkerConfig {
        consumer: consumer.to_owned(),
        batch_size: 10_000,
        read_size: 10_000,
        gather: std::time::Duration::ZERO,
        claim_idle: std::time::Duration::from_millis(0),
        block: std::time::Duration::from_millis(100),
        fail_point,
        ..attrib::worker::WorkerConfig::default()
    }
}

/// Click rollups must always equal a recount of the facts.
pub async fn assert_rollups_match_facts(db: &PgPool) {
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT link_id, date_trunc('hour', clicked_at, 'UTC') AS hour, campaign_id,
                  influencer_id, count(*) FILTER (WHERE NOT is_bot) AS clicks,
                  count(*) FILTER (WHERE is_unique) AS unique_clicks, count(*) FILTER (WHERE is_bot) AS bots
           FROM clicks GROUP BY 1, 2, 3, 4) facts
         FULL JOIN click_rollups r USING (link_id, hour, campaign_id, influencer_id)
         WHERE facts.clicks IS DISTINCT FROM r.clicks
            OR facts.unique_clicks IS DISTINCT FROM r.unique_clicks
            OR facts.bots IS DISTINCT FROM r.bot_clicks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        mismatches, 0,
        "link rollups differ from a recount of clicks"
    );
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT campaign_id, dim.dimension, date_trunc('hour', clicked_at, 'UTC') AS hour,
                  dim.value, count(*) FILTER (WHERE NOT is_bot) AS clicks,
                  count(*) FILTER (WHERE is_unique) AS unique_clicks, count(*) FILTER (WHERE is_bot) AS bots
           FROM clicks
           CROSS JOIN LATERAL (VALUES ('country', coalesce(country, '')), ('device', device),
                                      ('browser', coalesce(browser, '')), ('os', coalesce(os, '')),
                                      ('referrer', coalesce(referrer_host, '')), ('trigger', trigger))
                      AS dim(dimension, value)
           GROUP BY 1, 2, 3, 4) facts
         FULL JOIN click_dim_rollups r USING (campaign_id, dimension, hour, value)
         WHERE facts.clicks IS DISTINCT FROM r.clicks
            OR facts.unique_clicks IS DISTINCT FROM r.unique_clicks
            OR facts.bots IS DISTINCT FROM r.bot_clicks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        mismatches, 0,
        "dimension rollups differ from a recount of clicks"
    );
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT link_id, (clicked_at AT TIME ZONE 'UTC')::date AS day,
                  count(*) FILTER (WHERE NOT is_bot) AS clicks,
                  count(*) FILTER (WHERE is_unique) AS unique_clicks,
                  count(*) FILTER (WHERE is_bot) AS bots,
                  count(*) FILTER (WHERE burst AND is_unique) AS flagged_unique
           FROM clicks GROUP BY 1, 2) facts
         FULL JOIN click_daily d USING (link_id, day)
         WHERE facts.clicks IS DISTINCT FROM d.clicks
            OR facts.unique_clicks IS DISTINCT FROM d.unique_clicks
            OR facts.bots IS DISTINCT FROM d.bot_clicks
            OR facts.flagged_unique IS DISTINCT FROM d.flagged_unique_clicks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        mismatches, 0,
        "daily rollups differ from a recount of clicks"
    );
}

/// Conversion rollups must always equal a recount of the conversions as they stand now
/// (credit, refunds, cancellation, fraud signals), once every event is ingested.
pub async fn assert_conversion_rollups_match_facts(db: &PgPool) {
    type Mismatch = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let mismatches: Vec<Mismatch> = sqlx::query_as(
        "WITH signals AS (
               -- The fraud signals of domain::fraud, read again from the facts: the click
               -- id's link and time (bytes 2-9 and 10-15 of the id), the default 15 s.
               SELECT c.*, l.influencer_id AS click_influencer,
                      to_timestamp(('x' || encode(substring(decode(translate(c.click_id, '-_', '+/'),
                                                                    'base64') FROM 10 FOR 6), 'hex'))
                                   ::bit(48)::bigint / 1000.0) AS clicked_at
               FROM conversions c LEFT JOIN links l ON l.id = click_link_id(c.click_id)),
             facts AS (
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
               GROUP BY 1, 2, 3, 4, 5, 6, 7),
             rolled AS (
               SELECT * FROM conversion_rollups
               WHERE conversions <> 0 OR revenue_minor <> 0 OR refunded_minor <> 0 OR voided <> 0
                  OR flagged <> 0)
             SELECT f.conversions, r.conversions, f.revenue_minor, r.revenue_minor, r.voided,
                    f.flagged, r.flagged
             FROM facts f
             FULL JOIN rolled r USING (campaign_id, influencer_id, hour, via, kind, link_id, code)
             WHERE f.conversions IS DISTINCT FROM r.conversions
                OR f.revenue_minor IS DISTINCT FROM r.revenue_minor
                OR f.refunded_minor IS DISTINCT FROM r.refunded_minor
                OR f.voided IS DISTINCT FROM r.voided
                OR f.flagged IS DISTINCT FROM r.flagged",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert!(
        mismatches.is_empty(),
        "conversion rollups differ from a recount: {mismatches:?}"
    );
    let daily_mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT campaign_id, influencer_id, (hour AT TIME ZONE 'UTC')::date AS day, via, kind,
                  link_id, code, sum(conversions) AS conversions,
                  sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
                  sum(voided) AS voided, sum(flagged) AS flagged
           FROM conversion_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7) hourly
         FULL JOIN conversion_daily d USING (campaign_id, influencer_id, day, via, kind, link_id, code)
         WHERE hourly.conversions IS DISTINCT FROM d.conversions
            OR hourly.revenue_minor IS DISTINCT FROM d.revenue_minor
            OR hourly.refunded_minor IS DISTINCT FROM d.refunded_minor
            OR hourly.voided IS DISTINCT FROM d.voided
            OR hourly.flagged IS DISTINCT FROM d.flagged",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        daily_mismatches, 0,
        "daily conversion rollups differ from the hourly ones"
    );
    let campaign_mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT campaign_id, hour, kind, sum(conversions) AS conversions,
                  sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
                  sum(voided) AS voided
           FROM conversion_rollups GROUP BY 1, 2, 3) hourly
         FULL JOIN conversion_hourly c USING (campaign_id, hour, kind)
         WHERE hourly.conversions IS DISTINCT FROM c.conversions
            OR hourly.revenue_minor IS DISTINCT FROM c.revenue_minor
            OR hourly.refunded_minor IS DISTINCT FROM c.refunded_minor
            OR hourly.voided IS DISTINCT FROM c.voided",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        campaign_mismatches, 0,
        "campaign hourly sales differ from the rollups"
    );
}
