//! A lazily (re)connected Redis connection for single commands off the batcher, such as
//! the `max_clicks` counter. A failed command drops the connection; the next call
//! reconnects.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

const TIMEOUT: Duration = Duration::from_millis(500);

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

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *slot = Some(conn.clone());
        Ok(conn)
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
                *self.conn.lock().await = None;
                None
            }
        }
    }
}
