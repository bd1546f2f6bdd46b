//! What the worker asks Postgres about and remembers: the owners of links, and the months
//! whose `clicks` partition exists.
//!
//! Owns both caches. Guarantees: an owner is remembered only once read from `links`, and
//! links never change owner, so a remembered owner is never stale; a link not found is
//! not remembered (it may be created later) and is asked about again. A month is
//! remembered only after its partition was made sure of, so a click is never written to a
//! month without one. Both caches are shared by every shard loop; a poisoned lock is an
//! error, never a panic.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgPool;

use crate::storage::clicks::{self, ClickRow};

pub(super) struct Lookups {
    db: PgPool,
    /// Link id → (campaign id, influencer id).
    owners: Mutex<HashMap<i64, (i64, i64)>>,
    /// (year, month) of the `clicks` partitions known to exist.
    partitions: Mutex<HashSet<(i32, u32)>>,
}

impl Lookups {
    pub(super) fn new(db: PgPool) -> Self {
        Lookups {
            db,
            owners: Mutex::new(HashMap::new()),
            partitions: Mutex::new(HashSet::new()),
        }
    }

    /// Campaign and influencer of each of `link_ids` that exists.
    pub(super) async fn owners_of(
        &self,
        link_ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, (i64, i64)>> {
        let wanted: Vec<i64> = {
            let known = self
                .owners
                .lock()
                .map_err(|_| anyhow::anyhow!("owner cache poisoned"))?;
            link_ids
                .iter()
                .copied()
                .filter(|id| !known.contains_key(id))
                .collect()
        };
        let loaded = if wanted.is_empty() {
            HashMap::new()
        } else {
            clicks::link_owners(&self.db, &wanted).await?
        };
        let mut known = self
            .owners
            .lock()
            .map_err(|_| anyhow::anyhow!("owner cache poisoned"))?;
        known.extend(loaded);
        Ok(link_ids
            .iter()
            .filter_map(|id| known.get(id).map(|o| (*id, *o)))
            .collect())
    }

    /// The partition of every month `rows` were clicked in exists afterwards.
    pub(super) async fn ensure_partitions_of(&self, rows: &[ClickRow]) -> anyhow::Result<()> {
        let mut months: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    row.clicked_at.year(),
                    row.clicked_at.month(),
                    row.clicked_at,
                )
            })
            .collect();
        months.sort_unstable_by_key(|(year, month, _)| (*year, *month));
        months.dedup_by_key(|(year, month, _)| (*year, *month));
        for (_, _, at) in months {
            self.ensure_partition(at).await?;
        }
        Ok(())
    }

    /// After partitions were dropped: each month is made sure of again before a click of it
    /// is written.
    pub(super) fn forget_partitions(&self) {
        if let Ok(mut known) = self.partitions.lock() {
            known.clear();
        }
    }

    /// The partition of the month holding `at` exists afterwards.
    pub(super) async fn ensure_partition(&self, at: DateTime<Utc>) -> anyhow::Result<()> {
        let month = (at.year(), at.month());
        let known = self
            .partitions
            .lock()
            .map_err(|_| anyhow::anyhow!("partition cache poisoned"))?
            .contains(&month);
        if !known {
            clicks::ensure_partition(&self.db, at).await?;
            self.partitions
                .lock()
                .map_err(|_| anyhow::anyhow!("partition cache poisoned"))?
                .insert(month);
        }
        Ok(())
    }
}
