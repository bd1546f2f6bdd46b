//! API keys as authentication sees them, kept in process so a request costs no database
//! read for its key.
//!
//! Entries expire after [`TTL`]; revoking a key drops it at once in the revoking process
//! and, through the key-change channel ([`crate::pipeline::changes`]), in every other one.
//! A look-up that read the key before it was revoked does not store it after the drop
//! ([`GuardedCache`]), so a revoked key cannot come back for a TTL. Unknown prefixes are
//! kept too, so guessing costs one query per prefix. Use is still recorded in the database
//! at most once a minute per key and process.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use sqlx::PgPool;

use super::guarded::GuardedCache;
use crate::{
    pipeline::changes::Forgetful,
    storage::{
        api_keys::{self, ApiKeyRow},
        StorageError,
    },
};

pub const TTL: Duration = Duration::from_secs(30);
const CAPACITY: u64 = 100_000;
const TOUCH_EVERY_SECONDS: i64 = 60;

#[derive(Debug)]
pub struct CachedKey {
    pub row: ApiKeyRow,
    /// Unix seconds of the last recorded use, by this process.
    touched: AtomicI64,
}

impl CachedKey {
    /// Whether this request should record the key's use (once a minute at most).
    pub fn due_for_touch(&self, now: i64) -> bool {
        let last = self.touched.load(Ordering::Relaxed);
        now - last >= TOUCH_EVERY_SECONDS
            && self
                .touched
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

pub struct KeyCache {
    entries: GuardedCache<Option<Arc<CachedKey>>>,
    db: PgPool,
}

impl KeyCache {
    pub fn new(db: PgPool) -> Self {
        KeyCache {
            entries: GuardedCache::new(CAPACITY, TTL),
            db,
        }
    }

    /// Whether memory holds this prefix (found or not): a look-up that needs no Postgres.
    pub fn holds(&self, prefix: &str) -> bool {
        self.entries.get(prefix).is_some()
    }

    /// The key with this prefix, if any.
    pub async fn get(&self, prefix: &str) -> Result<Option<Arc<CachedKey>>, Arc<StorageError>> {
        self.entries
            .get_or_load(
                prefix,
                |_| true,
                || async {
                    let row = api_keys::find_by_prefix(&self.db, prefix).await?;
                    Ok(row.map(|row| {
                        let touched = row.last_used_at.map_or(0, |t| t.timestamp());
                        Arc::new(CachedKey {
                            row,
                            touched: AtomicI64::new(touched),
                        })
                    }))
                },
            )
            .await
    }
}

impl Forgetful for KeyCache {
    async fn forget(&self, prefix: &str) {
        self.entries.forget(prefix);
    }

    fn forget_all(&self) {
        self.entries.forget_all();
    }
}
