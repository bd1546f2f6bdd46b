//! The local spool: where events go when Redis cannot take them, so a redirect never
//! fails for analytics' sake and nothing acknowledged is lost.
//!
//! Each process appends to its own file (`spool-<uuid>.log`, one `stream<TAB>event` line
//! per event) and holds an exclusive lock on it while it may write. An append is flushed
//! to disk (`fdatasync`) before the events are acknowledged. The replayer takes every
//! spool file it can lock — its own after rotating, or one a dead process left — streams
//! its events to Redis a chunk at a time (a file is never loaded whole) and deletes it. A
//! replay cut short is simply replayed again: the worker writes events idempotently on
//! their ids, so a second copy in the stream changes nothing in Postgres.
//!
//! Guarantees under failure:
//! - A file holds whole lines only, except for a crash in the middle of an append (never
//!   acknowledged; its torn last line is skipped on replay). An append that fails (a short
//!   write, a full disk, a failed sync) cuts the file back to its length before the append;
//!   if even that fails the file is given up and the next append starts a new one, so an
//!   acknowledged event is never glued onto a torn line.
//! - The spool directory holds at most `max_bytes` (`ATTRIB_SPOOL_MAX_BYTES`): an append
//!   that would pass it is refused whole ([`AppendError::Full`]), and its events are
//!   counted as unrecorded by the caller. Files other processes write at the same time are
//!   counted as they were when this process started its file, so several processes on one
//!   directory can together pass the cap by what they wrote since.

use std::{
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

const PREFIX: &str = "spool-";
const SUFFIX: &str = ".log";
/// Longer lines are no event this process wrote (events are far smaller): skipped on
/// replay without being held in memory.
const MAX_LINE: u64 = 4 << 20;

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    active: Mutex<Option<Active>>,
    /// Test-only fault: the next append writes this many bytes and then fails.
    #[cfg(test)]
    fail_next_write_after: Mutex<Option<usize>>,
}

/// This process's file, and what the spool held besides it when it was started.
struct Active {
    path: PathBuf,
    file: File,
    /// Bytes of whole, synced lines in `file`.
    len: u64,
    others: u64,
}

/// One spooled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub stream: String,
    pub payload: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the spool is full: {used} bytes, {max} allowed (ATTRIB_SPOOL_MAX_BYTES)")]
    Full { used: u64, max: u64 },
    #[error("cannot write the spool: {0}")]
    Io(#[from] std::io::Error),
}

impl Spool {
    /// A spool in `dir` (created if missing) holding at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            active: Mutex::new(None),
            #[cfg(test)]
            fail_next_write_after: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends events durably (written and synced) before returning; on any error none
    /// of them is in the spool.
    pub fn append(&self, events: &[(&str, &str)]) -> Result<(), AppendError> {
        let mut lines = String::new();
        for (stream, payload) in events {
            lines.push_str(stream);
            lines.push('\t');
            lines.push_str(payload);
            lines.push('\n');
        }
        let bytes = lines.as_bytes();
        let mut slot = self
            .active
            .lock()
            .map_err(|_| std::io::Error::other("spool lock poisoned"))?;
        let active = match slot.as_mut() {
            Some(active) => active,
            None => slot.insert(self.start_file()?),
        };
        let used = active.others.saturating_add(active.len);
        if used.saturating_add(bytes.len() as u64) > self.max_bytes {
            return Err(AppendError::Full {
                used,
                max: self.max_bytes,
            });
        }
        match self.write_synced(&mut active.file, bytes) {
            Ok(()) => {
                active.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Part of the batch may be on disk: cut it off, so the file ends with the
                // last acknowledged event and the next append starts a line of its own.
                let cut = active
                    .file
                    .set_len(active.len)
                    .and_then(|()| active.file.sync_data());
                if let Err(cut_err) = cut {
                    tracing::error!(
                        error = %cut_err,
                        file = %active.path.display(),
                        "cannot cut a failed spool append back; starting a new file"
                    );
                    // Dropping the file releases its lock: the replayer takes it as it is,
                    // skipping the torn line, and nothing is ever appended behind it.
                    *slot = None;
                }
                Err(e.into())
            }
        }
    }

    fn start_file(&self) -> std::io::Result<Active> {
        let others = self.bytes_on_disk()?;
        let path = self.dir.join(format!("{PREFIX}{}{SUFFIX}", uuid_like()));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.lock()?;
        Ok(Active {
            path,
            file,
            len: 0,
            others,
        })
    }

    fn write_synced(&self, file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.fail_next_write_after.lock().unwrap().take() {
            file.write_all(&bytes[..n.min(bytes.len())])?;
            return Err(std::io::Error::other("injected write failure"));
        }
        file.write_all(bytes)?;
        file.sync_data()
    }

    /// What every spool file in the directory holds now.
    fn bytes_on_disk(&self) -> std::io::Result<u64> {
        Ok(self
            .files()?
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .fold(0, u64::saturating_add))
    }

    /// How many events the spool files hold now (their lines; a torn last line counts
    /// too), for the gauge of a process that finds a spool left by its predecessor. Reads
    /// every file: the spool is empty but after an outage, and a GiB reads in a second.
    pub fn waiting_events(&self) -> u64 {
        let Ok(files) = self.files() else {
            return 0;
        };
        let mut lines = 0u64;
        let mut buffer = vec![0u8; 64 * 1024];
        for path in files {
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            while let Ok(read) = std::io::Read::read(&mut file, &mut buffer) {
                if read == 0 {
                    break;
                }
                lines += buffer[..read].iter().filter(|b| **b == b'\n').count() as u64;
            }
        }
        lines
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
                claimed.push(Claimed {
                    path,
                    reader: BufReader::new(file),
                });
            }
        }
        Ok(claimed)
    }
}

/// A spool file taken for replay (its lock is held by `reader`'s file).
pub struct Claimed {
    path: PathBuf,
    reader: BufReader<File>,
}

impl Claimed {
    /// Its next events, at most `max` of them; empty once the file is read. Lines that are
    /// no event (a torn last line from a crash mid-append, never acknowledged) are skipped.
    pub fn next_events(&mut self, max: usize) -> std::io::Result<Vec<Spooled>> {
        let mut events = Vec::new();
        let mut line = Vec::new();
        while events.len() < max {
            line.clear();
            match read_line(&mut self.reader, &mut line)? {
                Line::End => break,
                Line::TooLong => {
                    tracing::warn!(file = %self.path.display(), "skipping an overlong spool line");
                }
                Line::Read => match parse_line(&line) {
                    Some(event) => events.push(event),
                    None => {
                        tracing::warn!(file = %self.path.display(), "skipping a torn spool line");
                    }
                },
            }
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

enum Line {
    Read,
    TooLong,
    End,
}

/// One line into `buf` (without its newline), reading at most [`MAX_LINE`] bytes of it
/// into memory; the rest of a longer line is read past.
fn read_line(reader: &mut BufReader<File>, buf: &mut Vec<u8>) -> std::io::Result<Line> {
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Read);
    }
    if (n as u64) < MAX_LINE {
        // The file ends without a newline: a torn append.
        return Ok(Line::Read);
    }
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(Line::TooLong);
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Line::TooLong);
            }
            None => {
                let len = chunk.len();
                reader.consume(len);
            }
        }
    }
}

fn parse_line(line: &[u8]) -> Option<Spooled> {
    let line = std::str::from_utf8(line).ok()?;
    let (stream, payload) = line.split_once('\t')?;
    serde_json::from_str::<serde_json::Value>(payload).ok()?;
    Some(Spooled {
        stream: stream.to_owned(),
        payload: payload.to_owned(),
    })
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    crate::domain::hex::lower(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    /// A directory of the test's own, removed with everything in it when dropped.
    fn temp_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("attrib-spool-test-")
            .tempdir()
            .unwrap()
    }

    fn ev(stream: &str, payload: &str) -> Spooled {
        Spooled {
            stream: stream.into(),
            payload: payload.into(),
        }
    }

    /// Every event of every claimable file, in order.
    fn replay_all(spool: &Spool) -> Vec<Spooled> {
        let mut all = Vec::new();
        for mut claimed in spool.claim().unwrap() {
            loop {
                let chunk = claimed.next_events(2).unwrap();
                if chunk.is_empty() {
                    break;
                }
                all.extend(chunk);
            }
        }
        all
    }

    fn dir_bytes(dir: &Path) -> u64 {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    #[test]
    fn a_reopened_spool_counts_the_events_it_holds() {
        let dir = temp_dir();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&[("s0", "a"), ("s1", "b")]).unwrap();
        spool.append(&[("s0", "c")]).unwrap();
        drop(spool);
        let reopened = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(reopened.waiting_events(), 3);
        let empty = temp_dir();
        assert_eq!(
            Spool::open(empty.path(), 1 << 20).unwrap().waiting_events(),
            0
        );
    }

    #[test]
    fn the_active_file_cannot_be_claimed_until_rotated() {
        let dir = temp_dir();
        let spool = Spool::open(dir.path(), GIB).unwrap();
        spool
            .append(&[("s0", r#"{"a":1}"#), ("s1", r#"{"b":2}"#)])
            .unwrap();
        assert!(spool.has_pending());
        assert!(
            spool.claim().unwrap().is_empty(),
            "its writer holds the lock"
        );

        spool.rotate();
        let mut claimed = spool.claim().unwrap();
        assert_eq!(claimed.len(), 1);
        let events = claimed[0].next_events(10).unwrap();
        assert_eq!(events, vec![ev("s0", r#"{"a":1}"#), ev("s1", r#"{"b":2}"#)]);
        assert!(claimed[0].next_events(10).unwrap().is_empty());
        for c in claimed {
            c.remove().unwrap();
        }
        assert!(!spool.has_pending());
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = temp_dir();
        fs::write(
            dir.path().join("spool-dead.log"),
            "s0\t{\"a\":1}\ns0\t{\"a\":",
        )
        .unwrap();
        let spool = Spool::open(dir.path(), GIB).unwrap();
        assert_eq!(replay_all(&spool), vec![ev("s0", r#"{"a":1}"#)]);
    }

    #[test]
    fn a_file_is_replayed_in_chunks_of_the_size_asked() {
        let dir = temp_dir();
        let spool = Spool::open(dir.path(), GIB).unwrap();
        let payloads: Vec<String> = (0..5).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
        let events: Vec<(&str, &str)> = payloads.iter().map(|p| ("s0", p.as_str())).collect();
        spool.append(&events).unwrap();
        spool.rotate();

        let mut claimed = spool.claim().unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| {
            let chunk = claimed[0].next_events(2).unwrap();
            (!chunk.is_empty()).then_some(chunk.len())
        })
        .collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_one_read() {
        let dir = temp_dir();
        let mut content = "s0\t".to_owned();
        content.push_str(&"x".repeat(MAX_LINE as usize + 10));
        content.push_str("\ns0\t{\"a\":1}\n");
        fs::write(dir.path().join("spool-dead.log"), content).unwrap();
        let spool = Spool::open(dir.path(), GIB).unwrap();
        assert_eq!(replay_all(&spool), vec![ev("s0", r#"{"a":1}"#)]);
    }

    #[test]
    fn a_failed_append_leaves_no_torn_line_for_the_next_one_to_join() {
        // Given a spool holding one acknowledged event
        let dir = temp_dir();
        let spool = Spool::open(dir.path(), GIB).unwrap();
        spool.append(&[("s0", r#"{"a":1}"#)]).unwrap();

        // When the next append fails half-way through its line
        *spool.fail_next_write_after.lock().unwrap() = Some(6);
        assert!(spool.append(&[("s0", r#"{"b":2}"#)]).is_err());
        // And the one after it succeeds
        spool.append(&[("s0", r#"{"c":3}"#)]).unwrap();

        // Then the file holds exactly the two acknowledged events, whole
        spool.rotate();
        assert_eq!(
            replay_all(&spool),
            vec![ev("s0", r#"{"a":1}"#), ev("s0", r#"{"c":3}"#)]
        );
        assert_eq!(
            fs::read_to_string(spool.files().unwrap().remove(0)).unwrap(),
            "s0\t{\"a\":1}\ns0\t{\"c\":3}\n"
        );
    }

    #[test]
    fn appends_beyond_the_cap_are_refused_whole_and_the_spool_stays_under_it() {
        // Given a spool with room for a few events, and a file another process left
        let dir = temp_dir();
        let line = "s0\t{\"n\":0}\n".len() as u64;
        fs::write(dir.path().join("spool-dead.log"), "s0\t{\"n\":0}\n").unwrap();
        let spool = Spool::open(dir.path(), 4 * line).unwrap();

        // When events keep coming
        let mut accepted = 0;
        let mut refused = 0;
        for _ in 0..10 {
            match spool.append(&[("s0", r#"{"n":1}"#)]) {
                Ok(()) => accepted += 1,
                Err(AppendError::Full { .. }) => refused += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }

        // Then those that fit are taken, the rest refused, and the cap holds
        assert_eq!((accepted, refused), (3, 7));
        assert!(dir_bytes(dir.path()) <= 4 * line);
        // And a batch that does not fit whole is refused whole
        spool.rotate();
        let two = [("s0", r#"{"n":2}"#), ("s0", r#"{"n":3}"#)];
        assert!(matches!(spool.append(&two), Err(AppendError::Full { .. })));
        assert_eq!(dir_bytes(dir.path()), 4 * line);
    }
}
