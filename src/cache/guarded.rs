//! An in-process cache of rows whose invalidation cannot be undone by a load in flight.
//!
//! A miss reads its row from Postgres, then stores it. If the row changes and the cache is
//! told to forget it between that read and that store, a plain cache keeps the row as it
//! was before the change for its whole TTL: a revoked API key keeps working, a changed
//! discount keeps being given. Here every forget bumps a generation, under the lock that
//! every store takes to compare it: a load stores its row only if no forget happened since
//! it began. A forget also detaches a load in flight, so an asker that arrives after the
//! forget starts a fresh read instead of waiting for the old one.
//!
//! The guard is global, not per key (as in the link cache): a forget of one key makes the
//! loads of every key in flight at that moment go unstored, which costs them one more read
//! later and nothing else.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use moka::sync::Cache;
use tokio::sync::OnceCell;

use crate::storage::StorageError;

pub type Loaded<V> = Result<V, Arc<StorageError>>;

pub struct GuardedCache<V> {
    entries: Cache<String, V>,
    /// Bumped by every forget; compared by every store, both with this lock held.
    generation: Mutex<u64>,
    /// Misses being loaded, by key: later askers wait for the same load.
    loading: Mutex<HashMap<String, Arc<OnceCell<Loaded<V>>>>>,
}

/// The generation a load began in, to hand back to [`GuardedCache::store`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<V: Clone + Send + Sync + 'static> GuardedCache<V> {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        GuardedCache {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            generation: Mutex::new(0),
            loading: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.entries.get(key)
    }

    /// Taken before reading a row that is to be [`store`](Self::store)d.
    pub fn ticket(&self) -> Ticket {
        Ticket(*self.generation())
    }

    /// Keeps `value` unless something was forgotten since `ticket` was taken, in which case
    /// `value` may be the row as it was before that change. Returns whether it was kept.
    pub fn store(&self, key: &str, value: V, ticket: Ticket) -> bool {
        let generation = self.generation();
        if *generation != ticket.0 {
            return false;
        }
        self.entries.insert(key.to_owned(), value);
        true
    }

    /// The value for `key`, loaded by `load` on a miss (once, however many ask at the same
    /// time); kept if `keep` says so and no forget overtook the load.
    pub async fn get_or_load<F, Fut>(&self, key: &str, keep: fn(&V) -> bool, load: F) -> Loaded<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, StorageError>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let ticket = self.ticket();
        let cell = self.loading().entry(key.to_owned()).or_default().clone();
        cell.get_or_init(|| async {
            let loaded = load().await.map_err(Arc::new);
            if let Ok(value) = &loaded {
                if keep(value) {
                    self.store(key, value.clone(), ticket);
                }
            }
            let mut loading = self.loading();
            // A forget may have detached this load and a newer one taken its place.
            if loading.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                loading.remove(key);
            }
            loaded
        })
        .await
        .clone()
    }

    pub fn forget(&self, key: &str) {
        let mut generation = self.generation();
        *generation += 1;
        self.entries.invalidate(key);
        self.loading().remove(key);
    }

    pub fn forget_all(&self) {
        let mut generation = self.generation();
        *generation += 1;
        self.entries.invalidate_all();
        self.loading().clear();
    }

    /// Nothing under these locks can be left half-done by a panic, so a poisoned lock is
    /// used as it is.
    fn generation(&self) -> MutexGuard<'_, u64> {
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loading(&self) -> MutexGuard<'_, HashMap<String, Arc<OnceCell<Loaded<V>>>>> {
        self.loading.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn cache() -> GuardedCache<u32> {
        GuardedCache::new(100, Duration::from_secs(60))
    }

    fn always(_: &u32) -> bool {
        true
    }

    async fn slow_load(loads: &AtomicUsize, value: u32) -> Result<u32, StorageError> {
        loads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(value)
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_hits_load_nothing() {
        let cache = cache();
        let loads = AtomicUsize::new(0);
        let askers = (0..8).map(|_| cache.get_or_load("a", always, || slow_load(&loads, 1)));
        let got = futures_util::future::join_all(askers).await;
        assert!(got.iter().all(|v| v.as_ref().ok() == Some(&1)));
        let again = cache
            .get_or_load("a", always, || slow_load(&loads, 2))
            .await;
        assert_eq!(again.ok(), Some(1));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_load_overtaken_by_a_forget_is_not_kept() {
        let cache = cache();
        let loads = AtomicUsize::new(0);
        let stale = cache.get_or_load("a", always, || slow_load(&loads, 1));
        let forget = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cache.forget("a");
        };
        let (stale, ()) = tokio::join!(stale, forget);
        assert_eq!(stale.ok(), Some(1));
        assert_eq!(
            cache.get("a"),
            None,
            "a value read before the forget was kept"
        );
        let fresh = cache
            .get_or_load("a", always, || slow_load(&loads, 2))
            .await;
        assert_eq!(fresh.ok(), Some(2));
        assert_eq!(cache.get("a"), Some(2));
    }

    #[tokio::test]
    async fn a_load_overtaken_by_a_forget_of_everything_is_not_kept() {
        let cache = cache();
        let loads = AtomicUsize::new(0);
        let stale = cache.get_or_load("a", always, || slow_load(&loads, 1));
        let forget = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cache.forget_all();
        };
        let (stale, ()) = tokio::join!(stale, forget);
        assert_eq!(stale.ok(), Some(1));
        assert_eq!(
            cache.get("a"),
            None,
            "a value read before the forget was kept"
        );
    }

    #[tokio::test]
    async fn an_asker_after_a_forget_does_not_wait_for_the_read_before_it() {
        let cache = cache();
        let loads = AtomicUsize::new(0);
        let stale = cache.get_or_load("a", always, || slow_load(&loads, 1));
        let later = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cache.forget("a");
            cache
                .get_or_load("a", always, || slow_load(&loads, 2))
                .await
        };
        let (stale, later) = tokio::join!(stale, later);
        assert_eq!(stale.ok(), Some(1));
        assert_eq!(later.ok(), Some(2));
        assert_eq!(cache.get("a"), Some(2));
    }

    #[tokio::test]
    async fn a_stored_ticket_from_before_a_forget_is_refused() {
        let cache = cache();
        let ticket = cache.ticket();
        cache.forget("b");
        assert!(!cache.store("a", 1, ticket));
        assert_eq!(cache.get("a"), None);
        assert!(cache.store("a", 2, cache.ticket()));
        assert_eq!(cache.get("a"), Some(2));
    }

    #[tokio::test]
    async fn values_keep_says_no_to_are_not_kept_and_failures_neither() {
        let cache = cache();
        let loads = AtomicUsize::new(0);
        let got = cache
            .get_or_load("a", |v| *v != 0, || slow_load(&loads, 0))
            .await;
        assert_eq!(got.ok(), Some(0));
        assert_eq!(cache.get("a"), None);
        let failed = cache
            .get_or_load("a", always, || async {
                Err(StorageError::Database(sqlx::Error::PoolTimedOut))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.get("a"), None);
        assert!(cache.loading().is_empty());
    }
}
