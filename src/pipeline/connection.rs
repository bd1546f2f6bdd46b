//! Redis connections: the one way to open one with timeouts, and a lazily (re)connected
//! shared connection for single commands off the batcher, such as the `max_clicks`
//! counter.
//!
//! [`SharedConnection`] never makes a caller wait in line: its lock is held only to read
//! or swap the connection, never across a connect. At most one connect is in flight;
//! callers arriving meanwhile wait for that same attempt (at most one connect timeout,
//! however many they are) instead of each starting their own. After a failed connect or
//! command it backs off, as the producer does: for `BACKOFF` every call answers
//! "unavailable" at once without touching the network, so redirects of `max_clicks`
//! links do not wait on a Redis that hangs.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use redis::aio::MultiplexedConnection;
use tokio::sync::OnceCell;

const TIMEOUT: Duration = Duration::from_millis(500);
/// How long after a failure Redis is left alone.
const BACKOFF: Duration = Duration::from_secs(1);

/// A multiplexed connection that gives up connecting after `connect_timeout` and waiting
/// for a reply after `response_timeout` (`None` for blocking reads).
pub async fn connect(
    client: &redis::Client,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(response_timeout);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// One connect attempt, shared by every caller that arrives while it runs. If the caller
/// driving it is cancelled (a visitor hung up), the next waiter takes it over.
type Attempt = Arc<OnceCell<Option<MultiplexedConnection>>>;

#[derive(Default)]
struct State {
    conn: Option<MultiplexedConnection>,
    attempt: Option<Attempt>,
    /// No connect before this instant.
    retry_at: Option<Instant>,
}

pub struct SharedConnection {
    client: redis::Client,
    timeout: Duration,
    backoff: Duration,
    state: Mutex<State>,
}

impl SharedConnection {
    pub fn new(client: redis::Client) -> Self {
        Self::with_timing(client, TIMEOUT, BACKOFF)
    }

    /// `timeout` for connecting and for each reply; `backoff` after a failure.
    pub fn with_timing(client: redis::Client, timeout: Duration, backoff: Duration) -> Self {
        SharedConnection {
            client,
            timeout,
            backoff,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement: a panic elsewhere cannot break it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection, connecting if there is none; an error at once while backing off.
    pub async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let attempt = {
            let mut state = self.state();
            if let Some(conn) = &state.conn {
                return Ok(conn.clone());
            }
            if state.retry_at.is_some_and(|t| Instant::now() < t) {
                return Err(unavailable("backing off after a failure"));
            }
            state.attempt.get_or_insert_with(Attempt::default).clone()
        };
        let outcome = attempt
            .get_or_init(|| async {
                connect(&self.client, self.timeout, Some(self.timeout))
                    .await
                    .map_err(|e| tracing::debug!(error = %e, "Redis connect failed"))
                    .ok()
            })
            .await
            .clone();
        let mut state = self.state();
        // The first caller back from an attempt records its outcome.
        if state
            .attempt
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, &attempt))
        {
            state.attempt = None;
            match &outcome {
                Some(conn) => state.conn = Some(conn.clone()),
                None => state.retry_at = Some(Instant::now() + self.backoff),
            }
        }
        outcome.ok_or_else(|| unavailable("cannot connect"))
    }

    /// Drops the connection after a failed command and backs off; the first call after
    /// that reconnects.
    pub async fn forget(&self) {
        let mut state = self.state();
        state.conn = None;
        state.retry_at = Some(Instant::now() + self.backoff);
    }

    /// `INCR key`; `None` when Redis cannot answer.
    pub async fn incr(&self, key: &str) -> Option<i64> {
        let mut conn = self.connection().await.ok()?;
        match redis::cmd("INCR")
            .arg(key)
            .query_async::<i64>(&mut conn)
            .await
        {
            Ok(n) => Some(n),
            Err(_) => {
                self.forget().await;
                None
            }
        }
    }
}

fn unavailable(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "Redis unavailable", why.into()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A TCP server that accepts connections and never answers: a Redis that hangs.
    /// Counts the connections it accepted, i.e. the connect attempts made.
    async fn hanging_redis() -> (redis::Client, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        (client, accepted)
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_connect_to_a_hanging_redis_then_back_off() {
        // Given a Redis that accepts connections and never answers
        let (client, accepted) = hanging_redis().await;
        let timeout = Duration::from_millis(200);
        let shared = Arc::new(SharedConnection::with_timing(
            client,
            timeout,
            Duration::from_millis(500),
        ));

        // When fifty redirects count a click at the same time
        let started = Instant::now();
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move { shared.incr("k").await })
            })
            .collect();
        for call in calls {
            // Then none of them gets a count
            assert_eq!(call.await.unwrap(), None);
        }
        // And they waited for one connect attempt together, not one each in line
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < timeout * 10, "{:?}", started.elapsed());

        // And while backing off, calls answer at once without trying Redis
        for _ in 0..20 {
            assert_eq!(shared.incr("k").await, None);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // And once the back-off is over, Redis is tried again, once
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(shared.incr("k").await, None);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_connect_is_taken_over_by_the_next_caller() {
        // Given a caller that gives up while its connect to a hanging Redis runs
        let (client, accepted) = hanging_redis().await;
        let shared = SharedConnection::with_timing(
            client,
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), shared.incr("k")).await;

        // When the next caller comes, it is not left waiting on the abandoned attempt
        assert_eq!(shared.incr("k").await, None);

        // Then it made the attempt itself, and the failure it saw starts the back-off
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(shared.incr("k").await, None);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_live_redis_is_connected_once_and_reused() {
        let url = std::env::var("ATTRIB_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
        let shared = SharedConnection::new(redis::Client::open(url).unwrap());
        let key = format!("attrib_test:{}:incr", rand::random::<u64>());
        assert_eq!(shared.incr(&key).await, Some(1));
        assert_eq!(shared.incr(&key).await, Some(2));
        let mut conn = shared.connection().await.unwrap();
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
