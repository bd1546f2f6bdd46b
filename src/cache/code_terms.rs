//! Promo codes as a redemption reads them, kept in process so a redemption costs no
//! database read for its code's terms.
//!
//! Entries expire after [`TTL`]; changing a code drops it at once in the changing process
//! and, through the code-change channel ([`crate::pipeline::changes`]), in every other one.
//! A read that began before a change does not store its row after the drop
//! ([`GuardedCache`]), so an old discount cannot come back for a TTL. Only found codes are
//! kept, so a code created after a miss is found at once. Being a copy is safe for the
//! limits: `redeem_codes` checks `enabled` and the usage limit again on the locked row. An entry's `redemptions` count is not kept current and is not used.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;

use super::guarded::GuardedCache;
use crate::{
    domain::code::PromoCode,
    pipeline::changes::Forgetful,
    storage::{
        redemptions::{code_for_cart, CodeForCart},
        StorageError,
    },
};

pub const TTL: Duration = Duration::from_secs(60);
const CAPACITY: u64 = 200_000;

pub struct CodeTermsCache {
    entries: GuardedCache<Arc<CodeForCart>>,
    db: PgPool,
}

impl CodeTermsCache {
    pub fn new(db: PgPool) -> Self {
        CodeTermsCache {
            entries: GuardedCache::new(CAPACITY, TTL),
            db,
        }
    }

    /// The code with its campaign's currency, if it exists.
    pub async fn get(&self, code: &PromoCode) -> Result<Option<Arc<CodeForCart>>, StorageError> {
        if let Some(found) = self.entries.get(code.as_str()) {
            return Ok(Some(found));
        }
        let ticket = self.entries.ticket();
        let Some(found) = code_for_cart(&self.db, code).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        self.entries.store(code.as_str(), found.clone(), ticket);
        Ok(Some(found))
    }
}

impl Forgetful for CodeTermsCache {
    async fn forget(&self, code: &str) {
        self.entries.forget(code);
    }

    fn forget_all(&self) {
        self.entries.forget_all();
    }
}
