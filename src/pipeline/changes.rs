//! Keeping in-process caches in step across processes: a change is announced on a Redis
//! pub/sub channel (the payload names what changed) and every process drops its copy.
//! Pub/sub delivers to whoever listens right now, so a process that was not listening
//! (starting, or reconnecting) drops everything once it listens again; entries also expire
//! by themselves, which bounds how long a lost message can matter.

use std::{future::Future, sync::Arc, time::Duration};

use futures_util::StreamExt;

const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(1);

/// A cache whose entries can be dropped by key.
pub trait Forgetful: Send + Sync + 'static {
    fn forget(&self, key: &str) -> impl Future<Output = ()> + Send;
    fn forget_all(&self);
}

/// `cache`, kept in step with what is announced on `channel` for the life of the process.
pub fn followed<C: Forgetful>(
    cache: C,
    client: &redis::Client,
    channel: String,
    what: &'static str,
) -> Arc<C> {
    let cache = Arc::new(cache);
    tokio::spawn(follow(cache.clone(), client.clone(), channel, what));
    cache
}

/// Drops `keys` from this process's `cache` at once and from every other process's copy
/// through `channel`.
pub async fn forget_everywhere<C: Forgetful>(
    cache: &C,
    client: &redis::Client,
    channel: &str,
    keys: &[&str],
    what: &'static str,
) {
    for key in keys {
        cache.forget(key).await;
    }
    announce(client, channel, keys, what).await;
}

/// Drops from `cache` what is announced on `channel`, for the life of the process.
async fn follow<C: Forgetful>(
    cache: Arc<C>,
    client: redis::Client,
    channel: String,
    what: &'static str,
) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    cache.forget_all();
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(key) = message.get_payload::<String>() {
                            cache.forget(&key).await;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, what, "cannot subscribe to changes"),
            },
            Err(e) => tracing::debug!(error = %e, what, "change feed unavailable"),
        }
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// Tells every process that `keys` changed. A failure only delays the change until the
/// caches' entries expire, so it is logged, not returned.
async fn announce(client: &redis::Client, channel: &str, keys: &[&str], what: &'static str) {
    let published = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("PUBLISH").arg(channel).arg(*key).ignore();
        }
        pipe.query_async::<()>(&mut conn).await
    };
    match tokio::time::timeout(ANNOUNCE_TIMEOUT, published).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, what, "could not announce a change"),
        Err(_) => tracing::warn!(what, "announcing a change timed out"),
    }
}
