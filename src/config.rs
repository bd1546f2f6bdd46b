//! Settings from `ATTRIB_*` environment variables, with their defaults.
//!
//! Every value is parsed once, at start-up, into the type the process uses (Postgres
//! connect options, a Redis client, the opened GeoIP database, the bootstrap key with its
//! hash, the log filter's directives), so a typo stops the process with a message naming
//! the variable instead of failing on the first request, and nothing downstream parses a
//! setting again. Secrets (the database and Redis passwords, the bootstrap key, the click
//! and visitor secrets) are kept out of `Debug` output so they never reach a log.

use std::{
    collections::HashMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use ipnet::IpNet;
use sqlx::{postgres::PgConnectOptions, ConnectOptions};
use url::Url;

use crate::{
    auth::NewSecret,
    enrich::geo::GeoIp,
    telemetry::{LogFilter, LogFormat},
};

#[derive(Clone)]
pub struct Settings {
    /// `ATTRIB_DATABASE_URL` as given (for tests and, redacted, for logs); the process
    /// connects with `database`.
    pub database_url: String,
    pub database: PgConnectOptions,
    pub database_max_connections: u32,
    /// `ATTRIB_REPORTS_DATABASE_URL`: where the report routes read (a streaming replica of
    /// `database`); `None`: from `database` too.
    pub reports_database: Option<PgConnectOptions>,
    /// How long a request waits for Postgres (a connection from the pool, or the answer
    /// of a hung server) before it is answered `503 unavailable`.
    pub database_timeout: Duration,
    /// `ATTRIB_REDIS_URL` as given (for tests and, redacted, for logs); the process
    /// connects through `redis`.
    pub redis_url: String,
    pub redis: redis::Client,
    /// Replicas that must acknowledge a click batch (`WAIT`) before it counts as in Redis;
    /// a batch fewer acknowledge is spooled too. 0: the master's answer is enough.
    pub redis_min_replicas: u32,
    /// Prepended to every Redis key, so several deployments (or tests) can share one server.
    pub redis_prefix: String,
    pub listen: SocketAddr,
    /// Where `attrib worker` serves `/healthz` and `/metrics`; `None`: it serves no HTTP.
    pub metrics_listen: Option<SocketAddr>,
    /// The base of every short URL handed out (`{public_url}/{slug}`).
    pub public_url: Url,
    pub trusted_proxies: Vec<IpNet>,
    /// Failed look-ups (unknown slugs, bad API keys) a minute per address before `429`;
    /// 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// Whether loopback addresses are limited too (they are exempt by default).
    pub rate_limit_loopback: bool,
    /// `ATTRIB_GEOIP_DB`, opened: one copy in memory for the redirects and the worker.
    pub geoip: Option<Arc<GeoIp>>,
    /// `ATTRIB_BOOTSTRAP_ADMIN_KEY` with its prefix and hash.
    pub bootstrap_admin_key: Option<NewSecret>,
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    pub log_filter: LogFilter,
    pub log_format: LogFormat,
    /// How long a stopping process (SIGTERM, SIGINT) waits for requests in flight, click
    /// batches and the worker's batch before it exits anyway.
    pub shutdown_timeout: Duration,
    /// Signs click ids; every process of a deployment must share it.
    pub click_secret: String,
    /// Where this runs: production refuses settings that are only fit for a laptop.
    pub env: Environment,
    /// Keys the cookieless visitor id; `None`: a key derived from the click secret.
    pub visitor_secret: Option<String>,
    /// The query parameter that carries the click id to the destination.
    pub click_id_param: String,
    /// Number of event stream shards.
    pub stream_shards: usize,
    /// Where events wait when Redis is unreachable.
    pub spool_dir: PathBuf,
    /// Most bytes the spool may hold; clicks beyond it are counted as unrecorded.
    pub spool_max_bytes: u64,
    /// How long a reserved redemption holds its slot before it is released automatically.
    pub hold_seconds: u32,
    /// An influencer below this percentage of the campaign average, or of their own
    /// target, is flagged `underperforming` in reports.
    pub underperforming_percent: u32,
    /// Clicks a minute from one visitor or address on one link before they are flagged
    /// as a burst; 0 turns the signal off.
    pub burst_clicks_per_minute: u32,
    /// A conversion sooner than this after its click is flagged as fast.
    pub fast_conversion_seconds: u32,
    /// `attrib run`: the nice value of the ingest worker's threads, so redirects come
    /// first when both want the CPU (0: same priority as the redirects).
    pub ingest_nice: i32,
    /// How long the ingest worker waits, once new clicks arrive, for more to join their
    /// batch (`WorkerConfig::gather`): fewer, larger transactions for a little freshness.
    pub ingest_gather_ms: u64,
    /// The worker's name in the consumer group: stable across restarts, so a restarted
    /// worker finishes its own pending entries. Two workers on one host need distinct names.
    pub worker_name: String,
    /// About how many entries each shard's dead-letter stream keeps (0: all).
    pub dead_letter_maxlen: usize,
    /// Days raw clicks are kept; `None`: for ever.
    pub click_retention_days: Option<u32>,
    /// How long a found link is served from memory before it is read again.
    pub link_cache_seconds: u64,
    /// How much longer an expired link is served should its reload fail (stale if error).
    pub link_stale_seconds: u64,
}

/// `ATTRIB_INGEST_GATHER_MS`: see `WorkerConfig::gather`.
pub const DEFAULT_INGEST_GATHER: std::time::Duration = std::time::Duration::from_millis(10);
/// `ATTRIB_DEAD_LETTER_MAXLEN`.
pub const DEFAULT_DEAD_LETTER_MAXLEN: usize = 10_000;
/// `ATTRIB_LINK_CACHE_SECONDS`.
pub const DEFAULT_LINK_CACHE_SECONDS: u64 = 60;
/// `ATTRIB_LINK_STALE_SECONDS`: a day of a Postgres outage.
pub const DEFAULT_LINK_STALE_SECONDS: u64 = 86_400;

/// Used when `ATTRIB_CLICK_SECRET` is unset: fine on a laptop, logged as a warning, and
/// refused with `ATTRIB_ENV=production` (anyone could forge click ids signed with it).
pub const DEVELOPMENT_CLICK_SECRET: &str = "attrib-development-click-secret-change-me";

/// `ATTRIB_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Reads settings from a map of variables; `from_env` and tests share it.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let database_url = get("ATTRIB_DATABASE_URL")
            .unwrap_or("postgres://postgres@127.0.0.1:5432/attrib")
            .to_owned();
        let parsed_db = Url::parse(&database_url).map_err(|e| ConfigError {
            var: "ATTRIB_DATABASE_URL",
            value: redact_url(&database_url),
            reason: e.to_string(),
        })?;
        if !matches!(parsed_db.scheme(), "postgres" | "postgresql") {
            return Err(ConfigError {
                var: "ATTRIB_DATABASE_URL",
                value: redact_url(&database_url),
                reason: "scheme must be postgres:// or postgresql://".into(),
            });
        }
        let database = PgConnectOptions::from_url(&parsed_db).map_err(|e| ConfigError {
            var: "ATTRIB_DATABASE_URL",
            value: redact_url(&database_url),
            reason: e.to_string(),
        })?;

        let reports_database = get("ATTRIB_REPORTS_DATABASE_URL")
            .map(|raw| parse_database_url("ATTRIB_REPORTS_DATABASE_URL", raw))
            .transpose()?;

        let redis_url = get("ATTRIB_REDIS_URL")
            .unwrap_or("redis://127.0.0.1:6379")
            .to_owned();
        let redis = redis::Client::open(redis_url.as_str()).map_err(|e| ConfigError {
            var: "ATTRIB_REDIS_URL",
            value: redact_url(&redis_url),
            reason: e.to_string(),
        })?;

        let redis_prefix = get("ATTRIB_REDIS_PREFIX").unwrap_or("attrib:").to_owned();
        if redis_prefix.contains(['{', '}']) || redis_prefix.len() > 64 {
            return Err(ConfigError {
                var: "ATTRIB_REDIS_PREFIX",
                value: redis_prefix,
                reason: "at most 64 characters and no braces (they are Redis Cluster hash tags)"
                    .into(),
            });
        }

        let listen_raw = get("ATTRIB_LISTEN").unwrap_or("127.0.0.1:8080");
        let listen: SocketAddr = listen_raw.parse().map_err(|_| ConfigError {
            var: "ATTRIB_LISTEN",
            value: listen_raw.to_owned(),
            reason: "expected host:port, e.g. 0.0.0.0:8080".into(),
        })?;

        let metrics_listen = get("ATTRIB_METRICS_LISTEN")
            .map(|raw| {
                raw.parse::<SocketAddr>().map_err(|_| ConfigError {
                    var: "ATTRIB_METRICS_LISTEN",
                    value: raw.to_owned(),
                    reason: "expected host:port, e.g. 0.0.0.0:9100".into(),
                })
            })
            .transpose()?;

        // A wildcard bind address is no place to send visitors; default to loopback.
        let public_default = if listen.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", listen.port())
        } else {
            format!("http://{listen}")
        };
        let public_raw = get("ATTRIB_PUBLIC_URL").unwrap_or(&public_default);
        let public_url = parse_public_url(public_raw).map_err(|reason| ConfigError {
            var: "ATTRIB_PUBLIC_URL",
            value: public_raw.to_owned(),
            reason,
        })?;

        let trusted_proxies = get("ATTRIB_TRUSTED_PROXIES")
            .map(parse_cidrs)
            .transpose()
            .map_err(|reason| ConfigError {
                var: "ATTRIB_TRUSTED_PROXIES",
                value: get("ATTRIB_TRUSTED_PROXIES").unwrap_or_default().to_owned(),
                reason,
            })?
            .unwrap_or_default();

        let rate_limit_loopback = match get("ATTRIB_RATE_LIMIT_LOOPBACK").unwrap_or("false") {
            "true" => true,
            "false" => false,
            other => {
                return Err(ConfigError {
                    var: "ATTRIB_RATE_LIMIT_LOOPBACK",
                    value: other.to_owned(),
                    reason: "expected true or false".into(),
                })
            }
        };

        let geoip = get("ATTRIB_GEOIP_DB")
            .map(|path| {
                GeoIp::open(Path::new(path))
                    .map(Arc::new)
                    .map_err(|reason| ConfigError {
                        var: "ATTRIB_GEOIP_DB",
                        value: path.to_owned(),
                        reason,
                    })
            })
            .transpose()?;

        let bootstrap_admin_key = get("ATTRIB_BOOTSTRAP_ADMIN_KEY")
            .map(|key| {
                crate::auth::secret_from(key).map_err(|reason| ConfigError {
                    var: "ATTRIB_BOOTSTRAP_ADMIN_KEY",
                    value: "[redacted]".into(),
                    reason,
                })
            })
            .transpose()?;

        let log_raw = get("ATTRIB_LOG").unwrap_or("info,sqlx=warn");
        let log_filter = LogFilter::parse(log_raw).map_err(|reason| ConfigError {
            var: "ATTRIB_LOG",
            value: log_raw.to_owned(),
            reason,
        })?;

        let log_format = match get("ATTRIB_LOG_FORMAT").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError {
                    var: "ATTRIB_LOG_FORMAT",
                    value: other.to_owned(),
                    reason: "expected text or json".into(),
                })
            }
        };

        let click_secret = get("ATTRIB_CLICK_SECRET")
            .unwrap_or(DEVELOPMENT_CLICK_SECRET)
            .to_owned();
        if click_secret.len() < 32 {
            return Err(ConfigError {
                var: "ATTRIB_CLICK_SECRET",
                value: "[redacted]".into(),
                reason: "must be at least 32 characters".into(),
            });
        }
        let env = match get("ATTRIB_ENV").unwrap_or("development") {
            "development" => Environment::Development,
            "production" => Environment::Production,
            other => {
                return Err(ConfigError {
                    var: "ATTRIB_ENV",
                    value: other.to_owned(),
                    reason: "expected development or production".into(),
                })
            }
        };
        if env == Environment::Production && click_secret == DEVELOPMENT_CLICK_SECRET {
            return Err(ConfigError {
                var: "ATTRIB_CLICK_SECRET",
                value: "[redacted]".into(),
                reason: "is unset or the published development key, which ATTRIB_ENV=production \
                         refuses: anyone could sign click ids with it"
                    .into(),
            });
        }
        let visitor_secret = get("ATTRIB_VISITOR_SECRET").map(str::to_owned);
        if visitor_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError {
                var: "ATTRIB_VISITOR_SECRET",
                value: "[redacted]".into(),
                reason: "must be at least 32 characters".into(),
            });
        }
        let click_id_param = get("ATTRIB_CLICK_ID_PARAM").unwrap_or("atid").to_owned();
        let param_ok = !click_id_param.is_empty()
            && click_id_param.len() <= 32
            && click_id_param
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !param_ok || click_id_param.starts_with("utm_") || click_id_param == "qr" {
            return Err(ConfigError {
                var: "ATTRIB_CLICK_ID_PARAM",
                value: click_id_param,
                reason: "1 to 32 letters, digits, '_' or '-', not utm_* or qr".into(),
            });
        }

        let worker_name = match get("ATTRIB_WORKER_NAME") {
            Some(name) => name.to_owned(),
            None => host_name(get("HOSTNAME")),
        };
        let name_ok = (1..=64).contains(&worker_name.len())
            && worker_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(ConfigError {
                var: "ATTRIB_WORKER_NAME",
                value: worker_name,
                reason: "1 to 64 letters, digits, '-', '_' or '.'".into(),
            });
        }

        Ok(Settings {
            database_url,
            database,
            reports_database,
            database_max_connections: parse_number(
                vars,
                "ATTRIB_DATABASE_MAX_CONNECTIONS",
                16,
                1..=1000,
            )?,
            database_timeout: Duration::from_secs(parse_number(
                vars,
                "ATTRIB_DATABASE_TIMEOUT_SECONDS",
                5,
                1..=300,
            )?),
            redis_url,
            redis,
            redis_min_replicas: parse_number(vars, "ATTRIB_REDIS_MIN_REPLICAS", 0, 0..=16)?,
            redis_prefix,
            listen,
            metrics_listen,
            public_url,
            trusted_proxies,
            rate_limit_per_minute: parse_number(
                vars,
                "ATTRIB_RATE_LIMIT_PER_MINUTE",
                60,
                0..=1_000_000,
            )?,
            rate_limit_loopback,
            geoip,
            bootstrap_admin_key,
            max_body_bytes: parse_number(
                vars,
                "ATTRIB_MAX_BODY_BYTES",
                256 * 1024,
                1024..=(64 << 20),
            )?,
            http_workers: parse_number(vars, "ATTRIB_HTTP_WORKERS", 0, 0..=256)?,
            log_filter,
            log_format,
            shutdown_timeout: Duration::from_secs(parse_number(
                vars,
                "ATTRIB_SHUTDOWN_TIMEOUT_SECONDS",
                30,
                1..=3600,
            )?),
            click_secret,
            visitor_secret,
            env,
            click_id_param,
            stream_shards: parse_number(vars, "ATTRIB_STREAM_SHARDS", 4, 1..=256)?,
            spool_dir: PathBuf::from(get("ATTRIB_SPOOL_DIR").unwrap_or("spool")),
            spool_max_bytes: parse_number(
                vars,
                "ATTRIB_SPOOL_MAX_BYTES",
                1 << 30,
                (1 << 10)..=(1 << 40),
            )?,
            hold_seconds: parse_number(vars, "ATTRIB_HOLD_SECONDS", 1800, 1..=7 * 86_400)?,
            underperforming_percent: parse_number(
                vars,
                "ATTRIB_UNDERPERFORMING_PERCENT",
                50,
                0..=100,
            )?,
            burst_clicks_per_minute: parse_number(
                vars,
                "ATTRIB_BURST_CLICKS_PER_MINUTE",
                10,
                0..=100_000,
            )?,
            fast_conversion_seconds: parse_number(
                vars,
                "ATTRIB_FAST_CONVERSION_SECONDS",
                15,
                0..=86_400,
            )?,
            ingest_nice: parse_number(vars, "ATTRIB_INGEST_NICE", 19, 0..=19)?,
            ingest_gather_ms: parse_number(
                vars,
                "ATTRIB_INGEST_GATHER_MS",
                DEFAULT_INGEST_GATHER.as_millis() as u64,
                0..=1000,
            )?,
            worker_name,
            link_cache_seconds: parse_number(
                vars,
                "ATTRIB_LINK_CACHE_SECONDS",
                DEFAULT_LINK_CACHE_SECONDS,
                1..=3600,
            )?,
            link_stale_seconds: parse_number(
                vars,
                "ATTRIB_LINK_STALE_SECONDS",
                DEFAULT_LINK_STALE_SECONDS,
                0..=30 * 86_400,
            )?,
            dead_letter_maxlen: parse_number(
                vars,
                "ATTRIB_DEAD_LETTER_MAXLEN",
                DEFAULT_DEAD_LETTER_MAXLEN,
                0..=100_000_000,
            )?,
            click_retention_days: match get("ATTRIB_CLICK_RETENTION_DAYS") {
                None => None,
                // A month at least: partitions are monthly, and a click may reach the
                // worker days late (spooled through a long Redis outage).
                Some(_) => Some(parse_number(
                    vars,
                    "ATTRIB_CLICK_RETENTION_DAYS",
                    0,
                    31..=36_500,
                )?),
            },
        })
    }
}

/// This machine's name (`HOSTNAME`, else `/etc/hostname`), for the worker's default
/// consumer name; `attrib` when it has none that would do.
fn host_name(from_env: Option<&str>) -> String {
    let from_file = || std::fs::read_to_string("/etc/hostname").ok();
    from_env
        .map(str::to_owned)
        .or_else(from_file)
        .map(|name| {
            name.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(64)
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "attrib".to_owned())
}

fn parse_number<T>(
    vars: &HashMap<String, String>,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = vars.get(var).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(ConfigError {
            var,
            value: raw.to_owned(),
            reason: format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        }),
    }
}

/// A `postgres://` URL as sqlx connects with it; refused with `var` named.
fn parse_database_url(var: &'static str, raw: &str) -> Result<PgConnectOptions, ConfigError> {
    let refused = |reason: String| ConfigError {
        var,
        value: redact_url(raw),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| refused(e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(refused(
            "scheme must be postgres:// or postgresql://".into(),
        ));
    }
    PgConnectOptions::from_url(&url).map_err(|e| refused(e.to_string()))
}

fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an absolute http:// or https:// URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not carry a query or fragment".into());
    }
    // Short URLs are `{base}/{slug}`: normalise so there is exactly one slash between.
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Url::parse(&trimmed).map_err(|e| e.to_string())
}

fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8) or an address"))
        })
        .collect()
}

/// Hides the password of a URL so it can be printed.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "[unparsable url]".into(),
    }
}

impl Settings {
    /// `{public_url}/{slug}`.
    pub fn short_url(&self, slug: &str) -> String {
        format!(
            "{}/{}",
            self.public_url.as_str().trim_end_matches('/'),
            slug
        )
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("database_timeout", &self.database_timeout)
            .field(
                "reports_database",
                &self
                    .reports_database
                    .as_ref()
                    .map(|db| format!("{}:{}", db.get_host(), db.get_port())),
            )
            .field("redis_url", &redact_url(&self.redis_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_min_replicas", &self.redis_min_replicas)
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("public_url", &self.public_url.as_str())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("geoip_db", &self.geoip.as_ref().map(|geo| geo.path()))
            .field(
                "bootstrap_admin_key",
                &self.bootstrap_admin_key.as_ref().map(|_| "[redacted]"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("http_workers", &self.http_workers)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("click_secret", &"[redacted]")
            .field(
                "visitor_secret",
                &self.visitor_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("env", &self.env)
            .field("click_id_param", &self.click_id_param)
            .field("stream_shards", &self.stream_shards)
            .field("spool_dir", &self.spool_dir)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("hold_seconds", &self.hold_seconds)
            .field("click_retention_days", &self.click_retention_days)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let settings = Settings::from_map(&HashMap::new()).expect("defaults are valid");
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.short_url("emma"), "http://127.0.0.1:8080/emma");
        assert!(settings.trusted_proxies.is_empty());
    }

    #[test]
    fn a_wildcard_listen_address_does_not_leak_into_short_urls() {
        let settings = Settings::from_map(&vars(&[("ATTRIB_LISTEN", "0.0.0.0:9000")])).unwrap();
        assert_eq!(settings.short_url("emma"), "http://127.0.0.1:9000/emma");
    }

    #[test]
    fn public_url_trailing_slash_is_normalised() {
        let settings =
            Settings::from_map(&vars(&[("ATTRIB_PUBLIC_URL", "https://go.brand.com/")])).unwrap();
        assert_eq!(settings.short_url("emma"), "https://go.brand.com/emma");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("ATTRIB_LISTEN", "not-an-address"),
            ("ATTRIB_PUBLIC_URL", "ftp://x"),
            ("ATTRIB_TRUSTED_PROXIES", "10.0.0.0/8, nonsense"),
            ("ATTRIB_DATABASE_URL", "mysql://x/y"),
            (
                "ATTRIB_DATABASE_URL",
                "postgres://db/attrib?sslmode=sometimes",
            ),
            ("ATTRIB_DATABASE_MAX_CONNECTIONS", "0"),
            ("ATTRIB_GEOIP_DB", "/nonexistent/file.mmdb"),
            ("ATTRIB_BOOTSTRAP_ADMIN_KEY", "short"),
            ("ATTRIB_LOG", "attrib=loud"),
            ("ATTRIB_MAX_BODY_BYTES", "lots"),
            ("ATTRIB_REDIS_PREFIX", "{tag}"),
            ("ATTRIB_CLICK_SECRET", "short"),
            ("ATTRIB_CLICK_ID_PARAM", "utm_id"),
            ("ATTRIB_STREAM_SHARDS", "0"),
            ("ATTRIB_HOLD_SECONDS", "0"),
            ("ATTRIB_SPOOL_MAX_BYTES", "1023"),
            ("ATTRIB_INGEST_NICE", "20"),
            ("ATTRIB_INGEST_GATHER_MS", "1001"),
            ("ATTRIB_ENV", "staging"),
            ("ATTRIB_RATE_LIMIT_PER_MINUTE", "-1"),
            ("ATTRIB_RATE_LIMIT_LOOPBACK", "yes"),
        ] {
            let err = Settings::from_map(&vars(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn the_worker_name_is_stable_and_can_be_set() {
        let first = Settings::from_map(&HashMap::new()).unwrap().worker_name;
        let again = Settings::from_map(&HashMap::new()).unwrap().worker_name;
        assert_eq!(first, again, "a restarted worker keeps its name");
        assert!(!first.is_empty());
        let named = Settings::from_map(&vars(&[("ATTRIB_WORKER_NAME", "ingest-2")])).unwrap();
        assert_eq!(named.worker_name, "ingest-2");
        let err = Settings::from_map(&vars(&[("ATTRIB_WORKER_NAME", "a b")])).unwrap_err();
        assert_eq!(err.var, "ATTRIB_WORKER_NAME");
    }

    #[test]
    fn production_refuses_the_development_click_secret() {
        for set_to_it in [None, Some(DEVELOPMENT_CLICK_SECRET)] {
            let mut given = vec![("ATTRIB_ENV", "production")];
            given.extend(set_to_it.map(|secret| ("ATTRIB_CLICK_SECRET", secret)));
            let err = Settings::from_map(&vars(&given)).unwrap_err();
            assert_eq!(err.var, "ATTRIB_CLICK_SECRET");
            assert!(err.to_string().contains("ATTRIB_ENV=production"), "{err}");
        }
        let own = "a-production-secret-of-forty-characters!";
        let settings = Settings::from_map(&vars(&[
            ("ATTRIB_ENV", "production"),
            ("ATTRIB_CLICK_SECRET", own),
        ]))
        .expect("production with its own secret starts");
        assert_eq!(settings.env, Environment::Production);
        let development = Settings::from_map(&HashMap::new()).expect("development default");
        assert_eq!(development.env, Environment::Development);
        assert_eq!(development.click_secret, DEVELOPMENT_CLICK_SECRET);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let settings = Settings::from_map(&vars(&[
            ("ATTRIB_DATABASE_URL", "postgres://u:hunter2@db/attrib"),
            ("ATTRIB_REDIS_URL", "redis://:swordfish@cache:6379/0"),
            (
                "ATTRIB_BOOTSTRAP_ADMIN_KEY",
                "atk_0123456789abcdefghijklmnopqrstuv",
            ),
        ]))
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("swordfish"), "{printed}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(printed.contains("cache:6379"), "{printed}");
    }

    #[test]
    fn settings_hold_what_they_parsed() {
        let geoip = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/geoip/GeoIP2-City-Test.mmdb"
        );
        let key = "atk_0123456789abcdefghijklmnopqrstuv";
        let settings = Settings::from_map(&vars(&[
            ("ATTRIB_GEOIP_DB", geoip),
            ("ATTRIB_BOOTSTRAP_ADMIN_KEY", key),
            (
                "ATTRIB_DATABASE_URL",
                "postgres://u@db.internal:6543/attrib",
            ),
        ]))
        .unwrap();
        let geo = settings.geoip.as_ref().expect("the database is opened");
        assert_eq!(
            geo.lookup("81.2.69.142".parse().unwrap())
                .country
                .as_deref(),
            Some("GB")
        );
        assert!(format!("{settings:?}").contains("GeoIP2-City-Test.mmdb"));
        let bootstrap = settings.bootstrap_admin_key.as_ref().unwrap();
        assert_eq!(bootstrap.secret, key);
        assert_eq!(bootstrap.prefix, crate::auth::prefix_of(key));
        assert_eq!(settings.database.get_host(), "db.internal");
        assert_eq!(settings.database.get_port(), 6543);
        assert_eq!(
            settings.redis.get_connection_info().addr().to_string(),
            "127.0.0.1:6379"
        );
    }

    #[test]
    fn trusted_proxies_accept_cidrs_and_addresses() {
        let settings = Settings::from_map(&vars(&[(
            "ATTRIB_TRUSTED_PROXIES",
            "10.0.0.0/8, 192.168.1.1, ::1",
        )]))
        .unwrap();
        assert_eq!(settings.trusted_proxies.len(), 3);
    }
}
