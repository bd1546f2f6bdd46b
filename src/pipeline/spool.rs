//! The local spool: where events go when Redis cannot take them, so a redirect never
//! fails for analytics' sake and nothing acknowledged is lost.
//!
//! Each process appends to its own file (`spool-<uuid>.log`, one `stream<TAB>event` line
//! per event) and holds an exclusive lock on it while it may write. An append is flushed
//! to disk (`fdatasync`) before the events are acknowledged. The replayer takes every
//! spool file it can lock — its own after rotating, or one a dead process left — pushes
//! its events to Redis and deletes it. A replay cut short is simply replayed again: the
//! worker writes events idempotently on their ids, so a second copy in the stream changes
//! nothing in Postgres.

use std::{
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

const PREFIX: &str = "spool-";
const SUFFIX: &str = ".log";

pub struct Spool {
    dir: PathBuf,
    active: Mutex<Option<(PathBuf, File)>>,
}

/// One spooled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub stream: String,
    pub payload: String,
}

impl Spool {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_owned(),
            active: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends events durably (written and synced) before returning.
    pub fn append(&self, events: &[(&str, &str)]) -> std::io::Result<()> {
        let mut lines = String::new();
        for (stream, payload) in events {
            lines.push_str(stream);
            lines.push('\t');
            lines.push_str(payload);
            lines.push('\n');
        }
        let mut active = self
            .active
            .lock()
            .map_err(|_| std::io::Error::other("spool lock poisoned"))?;
        if active.is_none() {
            let path = self.dir.join(format!("{PREFIX}{}{SUFFIX}", uuid_like()));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            file.lock()?;
            *active = Some((path, file));
        }
        let Some((_, file)) = active.as_mut() else {
            return Err(std::io::Error::other("spool file missing"));
        };
        file.write_all(lines.as_bytes())?;
        file.sync_data()
    }

    /// Whether any spool file (this process's or another's) waits for replay.
    pub fn has_pending(&self) -> bool {
        self.files().map(|f| !f.is_empty()).unwrap_or(false)
    }

    /// Closes this process's file so the replayer can take it; the next append starts a
    /// new one.
    pub fn rotate(&self) {
        if let Ok(mut active) = self.active.lock() {
            *active = None;
        }
    }

    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Every spool file no live process is writing, locked for the caller until the
    /// returned handle is dropped.
    pub fn claim(&self) -> std::io::Result<Vec<Claimed>> {
        let mut claimed = Vec::new();
        for path in self.files()? {
            let Ok(file) = File::open(&path) else {
                continue;
            };
            if file.try_lock().is_ok() {
                claimed.push(Claimed { path, file });
            }
        }
        Ok(claimed)
    }
}

/// A spool file taken for replay.
pub struct Claimed {
    path: PathBuf,
    file: File,
}

impl Claimed {
    /// Its events; a torn last line (a crash mid-append, never acknowledged) is skipped.
    pub fn events(&self) -> std::io::Result<Vec<Spooled>> {
        let mut events = Vec::new();
        for line in BufReader::new(&self.file).lines() {
            let line = line?;
            let Some((stream, payload)) = line.split_once('\t') else {
                continue;
            };
            if serde_json::from_str::<serde_json::Value>(payload).is_err() {
                tracing::warn!(file = %self.path.display(), "skipping a torn spool line");
                continue;
            }
            events.push(Spooled {
                stream: stream.to_owned(),
                payload: payload.to_owned(),
            });
        }
        Ok(events)
    }

    /// Deletes the file once its events are safely in Redis.
    pub fn remove(self) -> std::io::Result<()> {
        fs::remove_file(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    crate::hex::lower(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("attrib-spool-test-{}", uuid_like()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_active_file_cannot_be_claimed_until_rotated() {
        let spool = Spool::open(&temp_dir()).unwrap();
        spool
            .append(&[("s0", r#"{"a":1}"#), ("s1", r#"{"b":2}"#)])
            .unwrap();
        assert!(spool.has_pending());
        assert!(
            spool.claim().unwrap().is_empty(),
            "its writer holds the lock"
        );

        spool.rotate();
        let claimed = spool.claim().unwrap();
        assert_eq!(claimed.len(), 1);
        let events = claimed[0].events().unwrap();
        assert_eq!(
            events,
            vec![
                Spooled {
                    stream: "s0".into(),
                    payload: r#"{"a":1}"#.into()
                },
                Spooled {
                    stream: "s1".into(),
                    payload: r#"{"b":2}"#.into()
                },
            ]
        );
        for c in claimed {
            c.remove().unwrap();
        }
        assert!(!spool.has_pending());
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = temp_dir();
        fs::write(dir.join("spool-dead.log"), "s0\t{\"a\":1}\ns0\t{\"a\":").unwrap();
        let spool = Spool::open(&dir).unwrap();
        let claimed = spool.claim().unwrap();
        assert_eq!(claimed[0].events().unwrap().len(), 1);
    }
}
