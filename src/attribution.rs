//! Re-attribution as a use case: a campaign's conversions decided again under today's
//! rules ([`crate::storage::reattribution`] does it batch by batch under row locks), each
//! move carrying the event [`crate::pipeline::events`] defines for it.

use sqlx::PgPool;

use crate::{
    pipeline::events,
    storage::{
        reattribution::{self, Outcome},
        StorageError,
    },
};

pub async fn reattribute(db: &PgPool, campaign_id: i64) -> Result<Outcome, StorageError> {
    reattribution::reattribute(db, campaign_id, |moved| {
        events::reattributed(moved).to_json()
    })
    .await
}
