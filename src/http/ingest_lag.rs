//! How far ingest is behind, as reports and `GET /metrics` show it: the age of the oldest
//! event not yet in the rollups, waiting in a stream (see [`crate::pipeline::lag`]) or in
//! the outbox.

use chrono::{DateTime, Utc};

use crate::{pipeline::lag, state::AppState, storage::outbox};

/// Seconds the oldest waiting event has waited at `now` (0 when none waits); `None` when
/// Redis or Postgres does not answer.
pub async fn seconds(state: &AppState, now: DateTime<Utc>) -> Option<f64> {
    let mut conn = state.redis_commands.connection().await.ok()?;
    let streamed = match lag::oldest_unacknowledged(&mut conn, &state.keys).await {
        Ok(oldest) => oldest,
        Err(_) => {
            state.redis_commands.forget().await;
            return None;
        }
    };
    let outboxed = outbox::oldest(&state.db).await.ok()?;
    let oldest = streamed.into_iter().chain(outboxed).min();
    Some(oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0))
}
