//! The in-process cache of links, so a redirect for a known slug does no Postgres I/O.
//!
//! Found links are kept for `fresh_for` (`ATTRIB_LINK_CACHE_SECONDS`, 60 s by default),
//! unknown slugs for [`NEGATIVE_TTL`] (so a flood of random paths costs one query per slug,
//! not one per request). Concurrent misses on one slug share one query. A process that
//! changes a link publishes its slug on a Redis channel; every process drops its copy on
//! receipt. A message lost while a process was disconnected is covered by expiring
//! everything on reconnect, and by the TTL.
//!
//! Stale if error: an expired entry is kept for `stale_for` more
//! (`ATTRIB_LINK_STALE_SECONDS`, a day by default). When its reload fails (Postgres away),
//! the old value is served and counted (`attrib_link_cache_stale_total`), and the next
//! reload is tried [`NEGATIVE_TTL`] later, so redirects of known links go on through a
//! Postgres outage and only one request per slug every few seconds waits on a reload.
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
    domain::{destination::Prepared, slug::LinkSlug},
    pipeline::changes::Forgetful,
    storage::{
        links::{self, Link},
        StorageError,
    },
};

pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const CAPACITY: usize = 500_000;
const SHARDS: usize = 64;

/// A link as the redirect path needs it: the row, plus its destination and each rule's
/// destination with the UTM parameters already merged in.
#[derive(Debug)]
pub struct CachedLink {
    pub link: Link,
    pub destination: Prepared,
    pub rule_destinations: Vec<Prepared>,
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

/// How long entries are served: fresh, then stale should their reload fail.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub fresh_for: Duration,
    pub stale_for: Duration,
}

pub struct LinkCache {
    slots: Slots<Entry>,
    db: PgPool,
    click_param: Arc<str>,
    stale_serves: prometheus::IntCounter,
}

impl LinkCache {
    pub fn new(
        db: PgPool,
        click_param: &str,
        lifetimes: Lifetimes,
        stale_serves: prometheus::IntCounter,
    ) -> Self {
        LinkCache {
            slots: Slots::new(CAPACITY, lifetimes),
            db,
            click_param: click_param.into(),
            stale_serves,
        }
    }

    /// The link with this slug if memory holds it fresh: what answers without Postgres.
    pub fn peek(&self, slug: &str) -> Option<Entry> {
        match self.slots.cached(slug, Instant::now()) {
            Cached::Fresh(entry) => Some(entry),
            _ => None,
        }
    }

    /// The link with this slug, from memory when possible.
    pub async fn get(&self, slug: &LinkSlug) -> Result<Entry, Arc<StorageError>> {
        let (entry, freshness) = self
            .slots
            .get_or_load(slug.as_str(), || async {
                let link = links::find_by_slug(&self.db, slug).await?;
                Ok(link.map(|l| Arc::new(CachedLink::new(l, &self.click_param))))
            })
            .await?;
        if let Freshness::Stale(failed) = freshness {
            self.stale_serves.inc();
            if let Some(error) = failed {
                tracing::warn!(
                    %error,
                    slug = slug.as_str(),
                    "link reload failed; serving the cached copy"
                );
            }
        }
        Ok(entry)
    }
}

/// Whether a value came from memory or Postgres, or was served after its reload failed
/// (with why, when this ask tried the reload).
#[derive(Debug)]
enum Freshness {
    Fresh,
    Stale(Option<Arc<StorageError>>),
}

impl Forgetful for LinkCache {
    async fn forget(&self, slug: &str) {
        self.slots.forget(slug);
    }

    /// Only expires: a change missed while disconnected is reloaded at once, but should
    /// Postgres be away too, the copies are still there to serve stale.
    fn forget_all(&self) {
        self.slots.expire_all();
    }
}

/// Values by key, each for the TTL [`Expiring::ttl`] gives it, loaded once however many
/// ask at the same time, and kept `stale_for` longer for when a reload fails.
struct Slots<V> {
    lifetimes: Lifetimes,
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
    /// Until when the value may be served should a reload fail.
    stale_until: Instant,
    /// After a failed reload: when to try again; until then the stale value is served.
    retry_at: Instant,
}

trait Expiring {
    /// `None`: the cache's `fresh_for`.
    fn ttl(&self) -> Option<Duration>;
}

impl Expiring for Entry {
    fn ttl(&self) -> Option<Duration> {
        if self.is_some() {
            None
        } else {
            Some(NEGATIVE_TTL)
        }
    }
}

impl<V: Clone + Expiring> Slots<V> {
    fn new(capacity: usize, lifetimes: Lifetimes) -> Self {
        Slots {
            lifetimes,
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::with_hasher(RandomState::default())))
                .collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::default(),
            loading: Mutex::new(HashMap::with_hasher(RandomState::default())),
            generation: AtomicU64::new(0),
        }
    }

    async fn get_or_load<F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<(V, Freshness), Arc<StorageError>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, StorageError>>,
    {
        let now = Instant::now();
        let stale = match self.cached(key, now) {
            Cached::Fresh(value) => return Ok((value, Freshness::Fresh)),
            Cached::Stale { value, retry_at } if retry_at > now => {
                return Ok((value, Freshness::Stale(None)));
            }
            Cached::Stale { value, .. } => Some(value),
            Cached::Missing => None,
        };
        let generation = self.generation.load(Ordering::Acquire);
        let cell = self.loading().entry(key.into()).or_default().clone();
        let loaded = cell
            .get_or_init(|| async {
                let loaded = load().await.map_err(Arc::new);
                match &loaded {
                    Ok(value) => self.store(key, value.clone(), generation),
                    // Those asking meanwhile are served the stale value without waiting.
                    Err(_) => self.retry_later(key, Instant::now() + NEGATIVE_TTL),
                }
                self.loading().remove(key);
                loaded
            })
            .await
            .clone();
        match (loaded, stale) {
            (Ok(value), _) => Ok((value, Freshness::Fresh)),
            (Err(error), Some(value)) => Ok((value, Freshness::Stale(Some(error)))),
            (Err(error), None) => Err(error),
        }
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

    fn cached(&self, key: &str, now: Instant) -> Cached<V> {
        let shard = self.reading(key);
        match shard.get(key) {
            Some(slot) if slot.expires > now => Cached::Fresh(slot.value.clone()),
            Some(slot) if slot.stale_until > now => Cached::Stale {
                value: slot.value.clone(),
                retry_at: slot.retry_at,
            },
            _ => Cached::Missing,
        }
    }

    /// A stale value whose reload failed is served as it is until `at`.
    fn retry_later(&self, key: &str, at: Instant) {
        if let Some(slot) = self.writing(key).get_mut(key) {
            slot.retry_at = at;
        }
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
            shard.retain(|_, slot| slot.stale_until > now);
            let excess = (shard.len() + 1).saturating_sub(self.per_shard * 9 / 10);
            let victims: Vec<Box<str>> = shard.keys().take(excess).cloned().collect();
            for victim in victims {
                shard.remove(&victim);
            }
        }
        let expires = now + value.ttl().unwrap_or(self.lifetimes.fresh_for);
        let stale_until = expires + self.lifetimes.stale_for;
        shard.insert(
            key.into(),
            Slot {
                value,
                expires,
                stale_until,
                retry_at: expires,
            },
        );
    }

    fn forget(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.writing(key).remove(key);
    }

    /// Every value is reloaded on its next use, and still served stale should that fail.
    fn expire_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let now = Instant::now();
        for shard in self.shards.iter() {
            for slot in write(shard).values_mut() {
                slot.expires = slot.expires.min(now);
                slot.retry_at = slot.retry_at.min(now);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|shard| read(shard).len()).sum()
    }
}

enum Cached<V> {
    Fresh(V),
    Stale { value: V, retry_at: Instant },
    Missing,
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
        fn ttl(&self) -> Option<Duration> {
            Some(Duration::from_millis(u64::from(self.0)))
        }
    }

    /// Kept stale for `stale_ms` after their TTL.
    fn slots(capacity: usize, stale_ms: u64) -> Slots<Value> {
        Slots::new(
            capacity,
            Lifetimes {
                fresh_for: Duration::from_secs(60),
                stale_for: Duration::from_millis(stale_ms),
            },
        )
    }

    fn value(got: &Result<(Value, Freshness), Arc<StorageError>>) -> Option<Value> {
        got.as_ref().ok().map(|(v, _)| v.clone())
    }

    fn cached_fresh(slots: &Slots<Value>, key: &str) -> Option<Value> {
        match slots.cached(key, Instant::now()) {
            Cached::Fresh(v) => Some(v),
            _ => None,
        }
    }

    async fn failing() -> Result<Value, StorageError> {
        Err(StorageError::Database(sqlx::Error::PoolTimedOut))
    }

    async fn load_counted(loads: &AtomicUsize, value: u32) -> Result<Value, StorageError> {
        loads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Value(value))
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_hits_load_nothing() {
        let slots = slots(100, 0);
        let loads = AtomicUsize::new(0);
        let askers = (0..8).map(|_| slots.get_or_load("a", || load_counted(&loads, 60_000)));
        let got = futures_util::future::join_all(askers).await;
        assert!(got.iter().all(|v| value(v) == Some(Value(60_000))));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let again = slots.get_or_load("a", || load_counted(&loads, 1)).await;
        assert_eq!(value(&again), Some(Value(60_000)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn values_expire_after_their_ttl() {
        let slots = slots(100, 0);
        let loads = AtomicUsize::new(0);
        let _ = slots.get_or_load("a", || load_counted(&loads, 30)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = slots
            .get_or_load("a", || load_counted(&loads, 60_000))
            .await;
        assert_eq!(value(&again), Some(Value(60_000)));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_load_overtaken_by_a_forget_is_not_kept() {
        let slots = slots(100, 0);
        let loads = AtomicUsize::new(0);
        let stale = slots.get_or_load("a", || load_counted(&loads, 60_000));
        let forget = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            slots.forget("a");
        };
        let (stale, ()) = tokio::join!(stale, forget);
        assert_eq!(value(&stale), Some(Value(60_000)));
        assert!(
            cached_fresh(&slots, "a").is_none(),
            "a value read before the forget was kept"
        );
        let fresh = slots
            .get_or_load("a", || load_counted(&loads, 50_000))
            .await;
        assert_eq!(value(&fresh), Some(Value(50_000)));
        assert_eq!(cached_fresh(&slots, "a"), Some(Value(50_000)));
    }

    #[tokio::test]
    async fn failed_loads_are_not_kept() {
        let slots = slots(100, 0);
        let failed = slots.get_or_load("a", failing).await;
        assert!(failed.is_err());
        assert!(cached_fresh(&slots, "a").is_none());
        assert!(slots.loading.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_cache_makes_room_instead_of_growing() {
        let capacity = SHARDS * 4;
        let slots = slots(capacity, 0);
        for key in 0..capacity * 10 {
            let _ = slots
                .get_or_load(&key.to_string(), || async { Ok(Value(60_000)) })
                .await;
        }
        assert!(slots.len() <= capacity, "{} entries", slots.len());
        let newest = (capacity * 10 - 1).to_string();
        assert_eq!(cached_fresh(&slots, &newest), Some(Value(60_000)));
    }

    #[tokio::test]
    async fn an_expired_value_whose_reload_fails_is_served_stale_until_its_window_ends() {
        // Given a value past its TTL, still within its stale window
        let slots = slots(100, 200);
        let loads = AtomicUsize::new(0);
        let _ = slots.get_or_load("a", || load_counted(&loads, 10)).await;
        tokio::time::sleep(Duration::from_millis(30)).await;

        // When its reload fails, the old value is served, said to be stale
        let got = slots.get_or_load("a", failing).await;
        assert_eq!(value(&got), Some(Value(10)));
        assert!(matches!(got, Ok((_, Freshness::Stale(_)))));

        // And the next asks within the retry interval do not try again
        let tried = AtomicUsize::new(0);
        let again = slots
            .get_or_load("a", || async {
                tried.fetch_add(1, Ordering::SeqCst);
                failing().await
            })
            .await;
        assert_eq!(value(&again), Some(Value(10)));
        assert_eq!(tried.load(Ordering::SeqCst), 0);

        // And once the stale window is over, a failed load is an error
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(slots.get_or_load("a", failing).await.is_err());
    }
}
