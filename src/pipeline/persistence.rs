//! What a Redis restart would lose, read from Redis's own persistence settings at start-up.
//!
//! A click is acknowledged (its `302` sent) once it is in a stream, so a Redis that keeps
//! nothing on disk loses every click not yet ingested when it restarts. Conversion events
//! are safe either way (their outbox rows stay until ingested, see [`super::outbox`]).

use redis::aio::MultiplexedConnection;

/// How Redis keeps the streams across a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// Append-only file: a restart loses at most what `appendfsync` leaves unsynced
    /// (about a second with `everysec`).
    AppendOnly { fsync: String },
    /// Snapshots only: a restart loses everything since the last snapshot.
    Snapshots { save: String },
    /// Nothing on disk: a restart loses every click not yet ingested.
    None,
    /// Redis does not say (`CONFIG` disabled, as on some hosted services).
    Unknown,
}

impl Persistence {
    pub fn from_settings(
        appendonly: Option<&str>,
        fsync: Option<&str>,
        save: Option<&str>,
    ) -> Self {
        match (appendonly, save) {
            (Some("yes"), _) => Persistence::AppendOnly {
                fsync: fsync.unwrap_or("everysec").to_owned(),
            },
            (Some(_), Some(save)) if !save.trim().is_empty() => Persistence::Snapshots {
                save: save.trim().to_owned(),
            },
            (Some(_), Some(_)) => Persistence::None,
            _ => Persistence::Unknown,
        }
    }

    /// The risk to name in a warning; `None` when there is nothing to warn about.
    pub fn risk(&self) -> Option<String> {
        match self {
            Persistence::AppendOnly { fsync } if fsync == "no" => Some(
                "Redis appends to its log but leaves syncing to the OS (appendfsync no): \
                 a machine crash can lose some seconds of clicks already redirected"
                    .to_owned(),
            ),
            Persistence::AppendOnly { .. } | Persistence::Unknown => None,
            Persistence::Snapshots { save } => Some(format!(
                "Redis keeps only snapshots (save {save:?}, appendonly no): a restart loses \
                 the clicks redirected since the last snapshot and not yet ingested; set \
                 appendonly yes"
            )),
            Persistence::None => Some(
                "Redis keeps nothing on disk (appendonly no, no save points): a restart \
                 loses every click redirected and not yet ingested; set appendonly yes"
                    .to_owned(),
            ),
        }
    }
}

/// Reads the settings with `CONFIG GET`.
pub async fn read(conn: &mut MultiplexedConnection) -> Persistence {
    async fn get(conn: &mut MultiplexedConnection, name: &str) -> Option<String> {
        let pairs: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(conn)
            .await
            .ok()?;
        pairs.into_iter().nth(1)
    }
    let appendonly = get(conn, "appendonly").await;
    let fsync = get(conn, "appendfsync").await;
    let save = get(conn, "save").await;
    Persistence::from_settings(appendonly.as_deref(), fsync.as_deref(), save.as_deref())
}

/// Logs a warning naming the risk, if Redis answers and there is one.
pub async fn warn_if_volatile(client: redis::Client) {
    let timeout = std::time::Duration::from_secs(2);
    let Ok(mut conn) = super::connection::connect(&client, timeout, Some(timeout)).await else {
        return;
    };
    if let Some(risk) = read(&mut conn).await.risk() {
        tracing::warn!("{risk}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_append_only_file_is_free_of_warnings() {
        let aof = Persistence::from_settings(Some("yes"), Some("everysec"), Some(""));
        assert_eq!(aof.risk(), None);
        let none = Persistence::from_settings(Some("no"), Some("everysec"), Some(""));
        assert_eq!(none, Persistence::None);
        assert!(none.risk().is_some_and(|r| r.contains("nothing on disk")));
        let snapshots = Persistence::from_settings(Some("no"), None, Some("3600 1 300 100"));
        assert!(snapshots.risk().is_some_and(|r| r.contains("snapshots")));
        assert_eq!(Persistence::from_settings(None, None, None).risk(), None);
    }
}
