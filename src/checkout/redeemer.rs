//! Deciding concurrent redemptions together: one `redeem_codes` call, one transaction and
//! one commit (one WAL flush) for everything that arrived while the previous batch was in
//! flight. A popular code's counter is a single row every checkout must update; decided one
//! redemption per commit, its throughput is bounded by how fast Postgres can flush, so the
//! batch is the unit of work instead. Like the click producer, an idle service adds no
//! waiting: a lone request is a batch of one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{
    domain::{click_id::ClickId, code::PromoCode, money::Currency},
    pipeline::events,
    storage::{
        conversions::{self, NewConversion},
        redemptions::RedemptionRow,
        StorageError,
    },
};

const MAX_BATCH: usize = 128;
const QUEUE: usize = 16_384;

/// One redemption as `redeem_codes()` reads it (field names are its item keys).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub code_id: i64,
    pub code: PromoCode,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub order_id: String,
    pub customer_ref: Option<String>,
    pub click_id: Option<ClickId>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub currency: Currency,
    pub hold_until: Option<DateTime<Utc>>,
    pub request_hash: String,
    pub max_per_customer: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    /// The conversion a redemption that commits at once creates.
    #[serde(skip)]
    pub conversion: Option<NewConversion>,
    /// Given by the batch: the id that conversion is inserted with, and its finished event.
    pub conversion_id: Option<i64>,
    pub event: Option<String>,
}

impl Item {
    /// The item for a redemption as it will be stored (its id not known yet).
    pub fn of(
        row: &RedemptionRow,
        max_per_customer: Option<i64>,
        conversion: Option<NewConversion>,
    ) -> Self {
        Item {
            code_id: row.code_id,
            code: row.code.clone(),
            campaign_id: row.campaign_id,
            influencer_id: row.influencer_id,
            order_id: row.order_id.clone(),
            customer_ref: row.customer_ref.clone(),
            click_id: row.click_id.clone(),
            subtotal_minor: row.subtotal_minor,
            discount_minor: row.discount_minor,
            currency: row.currency,
            hold_until: row.hold_expires_at,
            request_hash: row.request_hash.clone(),
            max_per_customer,
            occurred_at: row.created_at,
            conversion,
            conversion_id: None,
            event: None,
        }
    }
}

/// What the database decided for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Created {
        id: i64,
        created_at: DateTime<Utc>,
    },
    /// The order already has a redemption (`id`).
    Duplicate {
        id: i64,
    },
    CustomerLimitReached,
    UsageLimitReached,
    /// Disabled since the caller read its terms (from a cache, or before a change made in
    /// the database directly).
    CodeInactive,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the redemption queue is full")]
    Overloaded,
    #[error("the batch was not decided: {0}")]
    Failed(String),
}

struct Job {
    item: Item,
    done: oneshot::Sender<Result<Decided, String>>,
}

#[derive(Clone)]
pub struct Redeemer {
    sender: mpsc::Sender<Job>,
}

impl Redeemer {
    /// Starts `parallel` batch deciders on the current runtime.
    pub fn start(db: PgPool, parallel: usize) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..parallel.max(1) {
            tokio::spawn(decide_batches(db.clone(), receiver.clone()));
        }
        Redeemer { sender }
    }

    pub async fn decide(&self, item: Item) -> Result<Decided, BatchError> {
        let (done, verdict) = oneshot::channel();
        self.sender
            .try_send(Job { item, done })
            .map_err(|_| BatchError::Overloaded)?;
        verdict
            .await
            .map_err(|_| BatchError::Failed("the decider stopped".to_owned()))?
            .map_err(BatchError::Failed)
    }
}

async fn decide_batches(db: PgPool, receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        match decide(&db, &mut batch).await {
            Ok(decisions) => {
                for (job, decided) in batch.drain(..).zip(decisions) {
                    let _ = job.done.send(Ok(decided));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, redemptions = batch.len(), "redemption batch failed");
                let message = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(message.clone()));
                }
            }
        }
    }
}

/// One row of `redeem_codes()`.
#[derive(sqlx::FromRow)]
struct Outcome {
    idx: i32,
    outcome: String,
    redemption_id: Option<i64>,
    created_at: Option<DateTime<Utc>>,
}

/// Gives each conversion to create its id and event: the event is finished in Rust, and the
/// database function only stores it.
async fn name_conversions(db: &PgPool, batch: &mut [Job]) -> Result<(), StorageError> {
    let creating = batch
        .iter()
        .filter(|job| job.item.conversion.is_some())
        .count();
    let mut ids = conversions::allocate_ids(db, creating).await?.into_iter();
    for item in batch.iter_mut().map(|job| &mut job.item) {
        let Some(conversion) = &item.conversion else {
            continue;
        };
        let Some(id) = ids.next() else {
            return Err(StorageError::Refused {
                code: "unexpected_outcome",
                message: format!("{creating} conversion ids were asked for, fewer came"),
            });
        };
        item.event = Some(events::conversion_recorded(id, conversion).to_json());
        item.conversion_id = Some(id);
    }
    Ok(())
}

async fn decide(db: &PgPool, batch: &mut [Job]) -> Result<Vec<Decided>, StorageError> {
    name_conversions(db, batch).await?;
    let items: Vec<&Item> = batch.iter().map(|job| &job.item).collect();
    let rows: Vec<Outcome> = sqlx::query_as(
        "SELECT idx, outcome, redemption_id, created_at FROM redeem_codes($1) ORDER BY idx",
    )
    .bind(sqlx::types::Json(&items))
    .fetch_all(db)
    .await?;
    let mut decisions = Vec::with_capacity(batch.len());
    for (expected, row) in rows.into_iter().enumerate() {
        let Outcome {
            idx,
            outcome,
            redemption_id: id,
            created_at,
        } = row;
        let decided = match (outcome.as_str(), id, created_at) {
            _ if idx as usize != expected => None,
            ("created", Some(id), Some(created_at)) => Some(Decided::Created { id, created_at }),
            ("duplicate", Some(id), _) => Some(Decided::Duplicate { id }),
            ("customer_limit_reached", _, _) => Some(Decided::CustomerLimitReached),
            ("usage_limit_reached", _, _) => Some(Decided::UsageLimitReached),
            ("code_inactive", _, _) => Some(Decided::CodeInactive),
            _ => None,
        };
        let Some(decided) = decided else {
            return Err(StorageError::Refused {
                code: "unexpected_outcome",
                message: format!("redeem_codes answered {outcome:?} for item {idx}"),
            });
        };
        decisions.push(decided);
    }
    if decisions.len() != batch.len() {
        return Err(StorageError::Refused {
            code: "unexpected_outcome",
            message: format!(
                "redeem_codes decided {} of {} items",
                decisions.len(),
                batch.len()
            ),
        });
    }
    Ok(decisions)
}
