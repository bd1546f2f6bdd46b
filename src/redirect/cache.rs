//! The in-process cache of links, so a redirect for a known slug does no Postgres I/O.
//!
//! Found links are kept for [`POSITIVE_TTL`], unknown slugs for [`NEGATIVE_TTL`] (so a
//! flood of random paths costs one query per slug, not one per request). Concurrent misses
//! on one slug share one query. A process that changes a link publishes its slug on a Redis
//! channel; every process drops its copy on receipt. A message lost while a process was
//! disconnected is covered by dropping everything on reconnect, and by the TTL.
//!
//! A hit is the redirect's whole lookup, so it is kept to a hash, a shared read lock and a
//! clock read: the map is split into `SHARDS` (64) read-mostly shards, and there is no
//! recency bookkeeping. A general-purpose cache (moka, before) spent a fifth of the
//! redirect's own CPU time on the hit path. When a shard is full, expired entries go first,
//! then arbitrary ones: the hot set of links is refilled in one query each.

use std::{
    collections::HashMap,
    future::Future,
    hash::BuildHasher,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::{Duration, Instant},
};

use foldhash::fast::RandomState;
use sqlx::PgPool;
use tokio::sync::OnceCell;

use crate::{
    domain::destination::Prepared,
    pipeline::changes::Forgetful,
    storage::{
        links::{self, Link},
        StorageError,
    },
};

pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const CAPACITY: usize = 500_000;
const SHARDS: usize = 64;

/// A link as the redirect path needs it: the row, plus its destination and each rule's
/// destination with the UTM parameters already merged in.
#[derive(Debug)]
pub struct CachedLink {
    pub link: Link,
    pub destination: Option<Prepared>,
    pub rule_destinations: Vec<Option<Prepared>>,
}

impl CachedLink {
    fn new(link: Link, click_param: &str) -> Self {
        let utm = &link.utm.0;
        CachedLink {
            destination: Prepared::new(&link.destination, utm, click_param),
            rule_destinations: link
                .rules
                .0
                .iter()
                .map(|rule| Prepared::new(&rule.destination, utm, click_param))
                .collect(),
            link,
        }
    }
}

/// `None`: no link has this slug (remembered for [`NEGATIVE_TTL`]).
type Entry = Option<Arc<CachedLink>>;

pub struct LinkCache {
    slots: Slots<Entry>,
    db: PgPool,
    click_param: Arc<str>,
}

impl LinkCache {
    pub fn new(db: PgPool, click_param: &str) -> Self {
        LinkCache {
            slots: Slots::new(CAPACITY),
            db,
            click_param: click_param.into(),
        }
    }

    /// The link with this (normalised) slug, from memory when possible.
    pub async fn get(&self, slug: &str) -> Result<Entry, Arc<StorageError>> {
        self.slots
            .get_or_load(slug, || async {
                let link = links::find_by_slug(&self.db, slug).await?;
                Ok(link.map(|l| Arc::new(CachedLink::new(l, &self.click_param))))
            })
            .await
    }
}

impl Forgetful for LinkCache {
    async fn forget(&self, slug: &str) {
        self.slots.forget(slug);
    }

    fn forget_all(&self) {
        self.slots.forget_all();
    }
}

/// Values by key, each for the TTL [`Expiring::ttl`] gives it, loaded once however many
/// ask at the same time.
struct Slots<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    per_shard: usize,
    hasher: RandomState,
    /// Misses being loaded, by key: later askers wait for the same load.
    loading: Mutex<Map<Arc<OnceCell<Loaded<V>>>>>,
    /// Bumped by every forget: a load that started before a forget must not store what it
    /// read, which may be the value as it was before the change.
    generation: AtomicU64,
}

type Loaded<V> = Result<V, Arc<StorageError>>;
type Map<V> = HashMap<Box<str>, V, RandomState>;
type Shard<V> = Map<Slot<V>>;

struct Slot<V> {
    value: V,
    expires: Instant,
}

trait Expiring {
    fn ttl(&self) -> Duration;
}

impl Expiring for Entry {
    fn ttl(&self) -> Duration {
        if self.is_some() {
            POSITIVE_TTL
        } else {
            NEGATIVE_TTL
        }
    }
}

impl<V: Clone + Expiring> Slots<V> {
    fn new(capacity: usize) -> Self {
        Slots {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::with_hasher(RandomState::default())))
                .collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::default(),
            loading: Mutex::new(HashMap::with_hasher(RandomState::default())),
            generation: AtomicU64::new(0),
        }
    }

    async fn get_or_load<F, Fut>(&self, key: &str, load: F) -> Loaded<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, StorageError>>,
    {
        if let Some(value) = self.cached(key) {
            return Ok(value);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let cell = self.loading().entry(key.into()).or_default().clone();
        cell.get_or_init(|| async {
            let loaded = load().await.map_err(Arc::new);
            if let Ok(value) = &loaded {
                self.store(key, value.clone(), generation);
            }
            self.loading().remove(key);
            loaded
        })
        .await
        .clone()
    }

    /// A panic while one of these locks was held cannot leave a map inconsistent, so a
    /// poisoned lock is used as it is.
    fn loading(&self) -> MutexGuard<'_, Map<Arc<OnceCell<Loaded<V>>>>> {
        self.loading.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reading(&self, key: &str) -> RwLockReadGuard<'_, Shard<V>> {
        read(self.shard(key))
    }

    fn writing(&self, key: &str) -> RwLockWriteGuard<'_, Shard<V>> {
        write(self.shard(key))
    }

    fn shard(&self, key: &str) -> &RwLock<Shard<V>> {
        let hash = self.hasher.hash_one(key) as usize;
        &self.shards[hash % SHARDS]
    }

    fn cached(&self, key: &str) -> Option<V> {
        let shard = self.reading(key);
        let slot = shard.get(key)?;
        (slot.expires > Instant::now()).then(|| slot.value.clone())
    }

    fn store(&self, key: &str, value: V, generation: u64) {
        let now = Instant::now();
        let mut shard = self.writing(key);
        // Checked under the shard's lock, which `forget` takes after bumping the
        // generation: either the forget finds this value and drops it, or this sees the
        // new generation and stores nothing.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            shard.retain(|_, slot| slot.expires > now);
            let excess = (shard.len() + 1).saturating_sub(self.per_shard * 9 / 10);
            let victims: Vec<Box<str>> = shard.keys().take(excess).cloned().collect();
            for victim in victims {
                shard.remove(&victim);
            }
        }
        let expires = now + value.ttl();
        shard.insert(key.into(), Slot { value, expires });
    }

    fn forget(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.writing(key).remove(key);
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            write(shard).clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|shard| read(shard).len()).sum()
    }
}

/// Poisoned locks are used as they are (see [`Slots::loading`]).
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Value(u32);

    impl Expiring for Value {
        fn ttl(&self) -> Duration {
            Duration::from_millis(u64::from(self.0))
        }
    }

    async fn load_counted(loads: &AtomicUsize, value: u32) -> Result<Value, StorageError> {
        loads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Value(value))
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_hits_load_nothing() {
        let slots = Slots::new(100);
        let loads = AtomicUsize::new(0);
        let askers = (0..8).map(|_| slots.get_or_load("a", || load_counted(&loads, 60_000)));
        let got = futures_util::future::join_all(askers).await;
        assert!(got.iter().all(|v| v.as_ref().ok() == Some(&Value(60_000))));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let again = slots.get_or_load("a", || load_counted(&loads, 1)).await;
        assert_eq!(again.ok(), Some(Value(60_000)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn values_expire_after_their_ttl() {
        let slots = Slots::new(100);
        let loads = AtomicUsize::new(0);
        let _ = slots.get_or_load("a", || load_counted(&loads, 30)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = slots
            .get_or_load("a", || load_counted(&loads, 60_000))
            .await;
        assert_eq!(again.ok(), Some(Value(60_000)));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_load_overtaken_by_a_forget_is_not_kept() {
        let slots = Slots::new(100);
        let loads = AtomicUsize::new(0);
        let stale = slots.get_or_load("a", || load_counted(&loads, 60_000));
        let forget = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            slots.forget("a");
        };
        let (stale, ()) = tokio::join!(stale, forget);
        assert_eq!(stale.ok(), Some(Value(60_000)));
        assert!(
            slots.cached("a").is_none(),
            "a value read before the forget was kept"
        );
        let fresh = slots
            .get_or_load("a", || load_counted(&loads, 50_000))
            .await;
        assert_eq!(fresh.ok(), Some(Value(50_000)));
        assert_eq!(slots.cached("a"), Some(Value(50_000)));
    }

    #[tokio::test]
    async fn failed_loads_are_not_kept() {
        let slots: Slots<Value> = Slots::new(100);
        let failed = slots
            .get_or_load("a", || async {
                Err(StorageError::Database(sqlx::Error::PoolTimedOut))
            })
            .await;
        assert!(failed.is_err());
        assert!(slots.cached("a").is_none());
        assert!(slots.loading.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_cache_makes_room_instead_of_growing() {
        let capacity = SHARDS * 4;
        let slots = Slots::new(capacity);
        for key in 0..capacity * 10 {
            let _ = slots
                .get_or_load(&key.to_string(), || async { Ok(Value(60_000)) })
                .await;
        }
        assert!(slots.len() <= capacity, "{} entries", slots.len());
        let newest = (capacity * 10 - 1).to_string();
        assert_eq!(slots.cached(&newest), Some(Value(60_000)));
    }
}
