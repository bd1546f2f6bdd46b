//! Keeping in-process caches in step across processes: a change is announced on a Redis
//! pub/sub channel (the payload names what changed) and every process drops its copy.
//! Pub/sub delivers to whoever listens right now, so a process that was not listening
//! (starting, or reconnecting) drops everything once it listens again; entries also expire
//! by themselves, which bounds how long a lost message can matter.

use std::{future::Future, sync::Arc, time::Duration};

use futures_util::StreamExt;
use tokio::sync::oneshot;

const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long start-up waits for the first subscription; past it (Redis away or slow) the
/// process serves anyway and listens as soon as it can.
const FIRST_SUBSCRIPTION_WAIT: Duration = Duration::from_secs(2);

/// A cache whose entries can be dropped by key.
pub trait Forgetful: Send + Sync + 'static {
    fn forget(&self, key: &str) -> impl Future<Output = ()> + Send;
    fn forget_all(&self);
}

/// `cache`, kept in step with what is announced on `channel` for the life of the process.
///
/// Returns once the first subscription is made (or has failed, or
/// 2 s have passed): a subscription drops every entry, so one made
/// after the process began serving would drop entries loaded in between, and a redirect
/// that was answered from memory a moment ago would suddenly need Postgres again.
pub async fn followed<C: Forgetful>(
    cache: C,
    client: &redis::Client,
    channel: String,
    what: &'static str,
) -> Arc<C> {
    let cache = Arc::new(cache);
    let (listening, first_attempt) = oneshot::channel();
    tokio::spawn(follow(
        cache.clone(),
        client.clone(),
        channel,
        what,
        listening,
    ));
    // Either way the process goes on: without Redis it serves, and listens later.
    let _ = tokio::time::timeout(FIRST_SUBSCRIPTION_WAIT, first_attempt).await;
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
    listening: oneshot::Sender<()>,
) {
    let mut listening = Some(listening);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    cache.forget_all();
                    if let Some(started) = listening.take() {
                        let _ = started.send(());
                    }
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
        // The first attempt failed: start-up need not wait for the next one.
        if let Some(started) = listening.take() {
            let _ = started.send(());
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
