//! Postgres access: the connection pool, migrations, and one module of SQL per table.
//!
//! Queries are checked at run time (no database needed to compile). Violations of the
//! schema's constraints are classified here, once, so a duplicate slug is a 409 and a
//! missing enrollment a 422 wherever they happen.
//!
//! Rows and inputs carry the domain's types (newtypes, enums), encoded by the domain: a
//! stored value that does not decode into its type fails the read
//! ([`StorageError::undecodable`]), never becomes a default.

pub mod api_keys;
pub mod campaigns;
pub mod clicks;
pub mod codes;
pub mod conversions;
pub mod costs;
pub mod enrollments;
pub mod influencers;
pub mod links;
pub mod outbox;
pub mod posts;
pub mod reattribution;
pub mod redemptions;
pub mod reports;

use sqlx::{
    pool::PoolConnection,
    postgres::{PgPoolOptions, PgRow},
    Encode, FromRow, PgExecutor, PgPool, Postgres, Transaction, Type,
};

use crate::config::Settings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A transaction on the pool, as every multi-statement change takes it.
pub type Tx<'c> = Transaction<'c, Postgres>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique constraint: the thing already exists.
    #[error("{code}: {message}")]
    Conflict { code: &'static str, message: String },
    /// A foreign-key or check constraint a client's input broke.
    #[error("{code}: {message}")]
    Refused { code: &'static str, message: String },
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        let Some(db) = err.as_database_error() else {
            return StorageError::Database(err);
        };
        let constraint = db.constraint().unwrap_or_default();
        match db.code().as_deref() {
            // unique_violation
            Some("23505") => {
                let (code, message) = match constraint {
                    "campaigns_slug_key" => ("slug_taken", "a campaign with this slug exists"),
                    "influencers_handle_key" => {
                        ("handle_taken", "an influencer with this handle exists")
                    }
                    "enrollments_campaign_influencer_key" => (
                        "already_enrolled",
                        "the influencer is already enrolled in this campaign",
                    ),
                    "links_slug_key" => ("slug_taken", "a link with this slug exists"),
                    "promo_codes_code_key" => ("code_taken", "this promo code exists"),
                    "api_keys_prefix_key" => {
                        ("key_prefix_taken", "an API key with this prefix exists")
                    }
                    _ => ("conflict", "the resource already exists"),
                };
                StorageError::Conflict {
                    code,
                    message: message.into(),
                }
            }
            // foreign_key_violation
            Some("23503") => {
                let (code, message) = if constraint.ends_with("enrollment_fkey") {
                    (
                        "not_enrolled",
                        "the influencer is not enrolled in this campaign",
                    )
                } else if constraint.contains("campaign") {
                    ("campaign_not_found", "campaign_id does not name a campaign")
                } else if constraint.contains("influencer") {
                    (
                        "influencer_not_found",
                        "influencer_id does not name an influencer",
                    )
                } else {
                    (
                        "reference_not_found",
                        "a referenced resource does not exist",
                    )
                };
                StorageError::Refused {
                    code,
                    message: message.into(),
                }
            }
            // check_violation: the domain types should have caught it; still the client's input.
            Some("23514") => StorageError::Refused {
                code: "constraint_violation",
                message: format!("the values break the rule {constraint}"),
            },
            _ => StorageError::Database(err),
        }
    }
}

impl StorageError {
    /// A row was read but a column did not decode into its type: a stored value outside the
    /// closed set (or the shape) its domain type allows. Trying again reads the same row.
    pub fn undecodable(&self) -> bool {
        matches!(
            self,
            StorageError::Database(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))
        )
    }

    /// Postgres cannot be reached or cannot serve now: no connection within the database
    /// timeout, a broken connection, a server shutting down or starting, a read-only
    /// standby during a failover, no connection slot left. Worth trying again shortly.
    pub fn is_unavailable(&self) -> bool {
        let StorageError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // 08: connection exception; 57P01-03: shutting down or starting up;
                // 25006: a read-only (standby) transaction; 53300: too many connections.
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01" | "57P02" | "57P03" | "25006" | "53300"
                    )
            }),
            _ => false,
        }
    }

    /// Why Postgres refused the values written, when it did: a data exception (class 22:
    /// out of range, bad encoding, a NUL in text), an integrity constraint (23) or a
    /// program limit such as an index row too large (54). `None` for every failure that is
    /// not about the values (a lost connection, a read-only standby, a lock timeout), which
    /// the same write may survive when tried again.
    pub fn refusal(&self) -> Option<String> {
        match self {
            StorageError::Conflict { code, message } | StorageError::Refused { code, message } => {
                Some(format!("{code}: {message}"))
            }
            StorageError::Database(sqlx::Error::Encode(e)) => Some(format!("encoding: {e}")),
            StorageError::Database(e) => {
                let db = e.as_database_error()?;
                let code = db.code()?;
                matches!(code.get(..2), Some("22" | "23" | "54"))
                    .then(|| format!("{code}: {}", db.message()))
            }
        }
    }
}

/// A pool that connects lazily, so the service starts (and redirects from cache) even
/// while Postgres is briefly away.
pub fn pool(settings: &Settings) -> PgPool {
    pool_on(settings, settings.database.clone())
}

/// Where the report routes read: the reporting replica's own pool when there is one, else
/// `primary`.
pub fn reports_pool(settings: &Settings, primary: &PgPool) -> PgPool {
    match &settings.reports_database {
        Some(replica) => pool_on(settings, replica.clone()),
        None => primary.clone(),
    }
}

fn pool_on(settings: &Settings, options: sqlx::postgres::PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(settings.database_timeout)
        .connect_lazy_with(options)
}

/// How far `db` is behind its primary, in seconds: 0 on a primary, and on a standby that
/// has replayed everything it received; otherwise the age of the last transaction it
/// replayed.
pub async fn replay_delay_seconds(db: &PgPool) -> Result<f64, StorageError> {
    Ok(sqlx::query_scalar(
        "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
                     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                     ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
                END::float8",
    )
    .fetch_one(db)
    .await?)
}

/// Starts a transaction. Failing to (the pool timed out, the connection broke) is a
/// storage error like any other, answered the same way as a failed query.
pub async fn begin(db: &PgPool) -> Result<Tx<'static>, StorageError> {
    Ok(db.begin().await?)
}

/// Commits `tx`, with its failure classified like any other storage error.
pub async fn commit(tx: Tx<'_>) -> Result<(), StorageError> {
    Ok(tx.commit().await?)
}

/// One connection of the pool, for several statements outside a transaction.
pub async fn acquire(db: &PgPool) -> Result<PoolConnection<Postgres>, StorageError> {
    Ok(db.acquire().await?)
}

/// Whether Postgres answers a query now (the readiness probe's question).
pub async fn answers(db: &PgPool) -> bool {
    matches!(
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db).await,
        Ok(1)
    )
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Narrows a list to the children of a campaign and/or an influencer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParentFilter {
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
}

/// Keyset pagination over ascending ids: rows with `id > after`, one more than `limit` to
/// know whether a next page exists.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: i64,
    pub limit: i64,
}

impl PageRequest {
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

/// Splits a fetched page into the rows to return and the id to continue after.
pub fn finish_page<T>(
    mut rows: Vec<T>,
    page: PageRequest,
    id_of: impl Fn(&T) -> i64,
) -> (Vec<T>, Option<i64>) {
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(&id_of);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// One page of `SELECT {columns} FROM {table}` in id order. `table` and `columns` are
/// constants of the calling module, never client input.
pub async fn list_page<T>(
    db: &PgPool,
    table: &str,
    columns: &str,
    page: PageRequest,
) -> Result<Vec<T>, StorageError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(&format!(
        "SELECT {columns} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(db)
    .await?)
}

/// Like [`list_page`], for tables with `campaign_id` and `influencer_id` columns.
pub async fn list_children<T>(
    db: &PgPool,
    table: &str,
    columns: &str,
    filter: ParentFilter,
    page: PageRequest,
) -> Result<Vec<T>, StorageError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(&format!(
        "SELECT {columns} FROM {table}
         WHERE ($1::bigint IS NULL OR campaign_id = $1)
           AND ($2::bigint IS NULL OR influencer_id = $2)
           AND id > $3
         ORDER BY id LIMIT $4"
    ))
    .bind(filter.campaign_id)
    .bind(filter.influencer_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(db)
    .await?)
}

/// Whether a read locks the row it finds (`FOR UPDATE`) until its transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    No,
    ForUpdate,
}

impl RowLock {
    /// The clause ending the `SELECT`.
    pub fn clause(self) -> &'static str {
        match self {
            RowLock::No => "",
            RowLock::ForUpdate => " FOR UPDATE",
        }
    }
}

/// `SELECT {columns} FROM {table} WHERE {key_column} = $1`, locked when asked: the one
/// read of a row by its key behind each table module's `get` and `lock`, so the two cannot
/// drift apart. `table`, `columns` and `key_column` are constants of the calling module,
/// never client input.
pub async fn row_by_key<'e, T, K>(
    db: impl PgExecutor<'e>,
    table: &str,
    columns: &str,
    key_column: &str,
    key: K,
    lock: RowLock,
) -> Result<Option<T>, StorageError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    K: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send,
{
    Ok(sqlx::query_as(&format!(
        "SELECT {columns} FROM {table} WHERE {key_column} = $1{}",
        lock.clause()
    ))
    .bind(key)
    .fetch_optional(db)
    .await?)
}
