//! The application under test: `spawn_app()` starts the real application on a free port,
//! with its own database (cloned from a migrated template) and its own Redis key prefix, so
//! every test runs in parallel with the others and sees only its own data; `TestApp` sends
//! it requests and reads its metrics.

use std::{collections::HashMap, path::Path};

use attrib::{
    auth::{self, Scope},
    config::Settings,
    startup::Application,
    storage,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
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

pub fn redis_url() -> String {
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
        client: no_redirects(),
        admin_key,
        db,
        _spool: spool,
    }
}

/// Redirects are what some tests look at, so they are never followed.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// A client of an attrib this test started some other way (the binary, in a process of
/// its own) at `address`, with an admin key of its own.
pub async fn client_of(address: String, settings: Settings) -> TestApp {
    let db = PgPool::connect(&settings.database_url)
        .await
        .expect("test pool");
    let admin_key = create_key(&db, "test-admin", Scope::Admin).await;
    TestApp {
        address,
        settings,
        client: no_redirects(),
        admin_key,
        db,
        _spool: tempfile::tempdir().expect("a directory"),
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
