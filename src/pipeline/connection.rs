//! Redis connections: the one way to open one with timeouts, and a lazily (re)connected
//! shared connection for single commands off the batcher, such as the `max_clicks`
//! counter (a failed command drops it; the next call reconnects).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

const TIMEOUT: Duration = Duration::from_millis(500);

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

pub struct SharedConnection {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl SharedConnection {
    pub fn new(client: redis::Client) -> Self {
        SharedConnection {
            client,
            conn: Mutex::new(None),
        }
    }

    pub async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = connect(&self.client, TIMEOUT, Some(TIMEOUT)).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Drops the connection after a failure: the next call reconnects.
    pub async fn forget(&self) {
        *self.conn.lock().await = None;
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
