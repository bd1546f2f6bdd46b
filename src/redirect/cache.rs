//! The in-process cache of links, so a redirect for a known slug does no Postgres I/O.
//!
//! Found links are kept for [`POSITIVE_TTL`], unknown slugs for [`NEGATIVE_TTL`] (so a
//! flood of random paths costs one query per slug, not one per request). Concurrent misses
//! on one slug share one query. A process that changes a link publishes its slug on a Redis
//! channel; every process drops its copy on receipt. A message lost while a process was
//! disconnected is covered by dropping everything on reconnect, and by the TTL.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use moka::{future::Cache, Expiry};
use sqlx::PgPool;

use crate::{
    domain::destination::Prepared,
    storage::{
        links::{self, Link},
        StorageError,
    },
};

pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const CAPACITY: u64 = 500_000;
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

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

    pub async fn forget(&self, slug: &str) {
        self.entries.invalidate(slug).await;
    }

    pub fn forget_all(&self) {
        self.entries.invalidate_all();
    }
}

/// Keeps `cache` in step with link changes announced on `channel`, for the life of the
/// process.
pub async fn follow_changes(cache: Arc<LinkCache>, client: redis::Client, channel: String) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    // Whatever changed while we were not listening is forgotten wholesale.
                    cache.forget_all();
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(slug) = message.get_payload::<String>() {
                            cache.forget(&slug).await;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to link changes"),
            },
            Err(e) => tracing::debug!(error = %e, "link change feed unavailable"),
        }
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// Tells every process that these slugs changed. Failure only delays the change until the
/// caches' TTL, so it is logged, not returned.
pub async fn announce_change(client: &redis::Client, channel: &str, slugs: &[&str]) {
    let published = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut pipe = redis::pipe();
        for slug in slugs {
            pipe.cmd("PUBLISH").arg(channel).arg(*slug).ignore();
        }
        pipe.query_async::<()>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(1), published).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not announce a link change"),
        Err(_) => tracing::warn!("announcing a link change timed out"),
    }
}
