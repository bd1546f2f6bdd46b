//! Deciding concurrent redemptions together: one `redeem_codes` call
//! ([`crate::storage::redemptions::take_slots`]), one transaction and one commit (one WAL
//! flush) for everything that arrived while the previous batch was in flight. A popular
//! code's counter is a single row every checkout must update; decided one redemption per
//! commit, its throughput is bounded by how fast Postgres can flush, so the batch is the
//! unit of work instead. Like the click producer, an idle service adds no
//! waiting: a lone request is a batch of one.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

pub use crate::storage::redemptions::{BatchItem, Decided};
use crate::{
    pipeline::events,
    storage::{conversions, redemptions, StorageError},
};

const MAX_BATCH: usize = 128;
const QUEUE: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the redemption queue is full")]
    Overloaded,
    #[error("the batch was not decided: {0}")]
    Failed(String),
}

struct Job {
    item: BatchItem,
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

    pub async fn decide(&self, item: BatchItem) -> Result<Decided, BatchError> {
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
    let items: Vec<&BatchItem> = batch.iter().map(|job| &job.item).collect();
    redemptions::take_slots(db, &items).await
}
