//! The in-process cache of links, so a redirect for a known slug does no Postgres I/O.
//!
//! Found links are kept for [`POSITIVE_TTL`], unknown slugs for [`NEGATIVE_TTL`] (so a
//! flood of random paths costs one query per slug, not one per request). Concurrent misses
//! on one slug share one query. A process that changes a link publishes its slug on a Redis
//! channel; every process drops its copy on receipt. A message lost while a process was
//! disconnected is covered by dropping everything on reconnect, and by the TTL.

use std::{sync::Arc, time::Duration};

use moka::{future::Cache, Expiry};
use sqlx::PgPool;

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
const CAPACITY: u64 = 500_000;

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

type Entry = Option<Arc<CachedLink>>;

struct TtlByPresence;

impl Expiry<String, Entry> for TtlByPresence {
    fn expire_after_create(
        &self,
        _slug: &String,
        entry: &Entry,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(if entry.is_some() {
            POSITIVE_TTL
        } else {
            NEGATIVE_TTL
        })
    }
}

pub struct LinkCache {
    entries: Cache<String, Entry>,
    db: PgPool,
    click_param: Arc<str>,
}

impl LinkCache {
    pub fn new(db: PgPool, click_param: &str) -> Self {
        LinkCache {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(TtlByPresence)
                .build(),
            db,
            click_param: click_param.into(),
        }
    }

    /// The link with this (normalised) slug, from memory when possible.
    pub async fn get(&self, slug: &str) -> Result<Entry, Arc<StorageError>> {
        if let Some(entry) = self.entries.get(slug).await {
            return Ok(entry);
        }
        let db = self.db.clone();
        let owned = slug.to_owned();
        let click_param = self.click_param.clone();
        self.entries
            .try_get_with(slug.to_owned(), async move {
                let link = links::find_by_slug(&db, &owned).await?;
                Ok(link.map(|l| Arc::new(CachedLink::new(l, &click_param))))
            })
            .await
    }
}

impl Forgetful for LinkCache {
    async fn forget(&self, slug: &str) {
        self.entries.invalidate(slug).await;
    }

    fn forget_all(&self) {
        self.entries.invalidate_all();
    }
}
