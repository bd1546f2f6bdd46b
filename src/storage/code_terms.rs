//! Promo codes as a redemption reads them, kept in process so a redemption costs no
//! database read for its code's terms.
//!
//! Entries expire after [`TTL`]; changing a code drops it at once in the changing process
//! and, through the code-change channel ([`crate::pipeline::changes`]), in every other one.
//! Only found codes are kept, so a code created after a miss is found at once. Being a
//! copy is safe for the limits: `redeem_codes` checks `enabled` and the usage limit again
//! on the locked row. An entry's `redemptions` count is not kept current and is not used.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use sqlx::PgPool;

use super::{
    redemptions::{code_for_cart, CodeForCart},
    StorageError,
};
use crate::pipeline::changes::Forgetful;

pub const TTL: Duration = Duration::from_secs(60);
const CAPACITY: u64 = 200_000;

pub struct CodeTermsCache {
    entries: Cache<String, Arc<CodeForCart>>,
    db: PgPool,
}

impl CodeTermsCache {
    pub fn new(db: PgPool) -> Self {
        CodeTermsCache {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            db,
        }
    }

    /// The code with its campaign's currency, if it exists.
    pub async fn get(&self, code: &str) -> Result<Option<Arc<CodeForCart>>, StorageError> {
        if let Some(found) = self.entries.get(code).await {
            return Ok(Some(found));
        }
        let Some(found) = code_for_cart(&self.db, code).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        self.entries.insert(code.to_owned(), found.clone()).await;
        Ok(Some(found))
    }
}

impl Forgetful for CodeTermsCache {
    async fn forget(&self, code: &str) {
        self.entries.invalidate(code).await;
    }

    fn forget_all(&self) {
        self.entries.invalidate_all();
    }
}
