//! The `attrib` binary in a process of its own, for what only a process shows: its log,
//! its answer to SIGTERM, a restart. A [`Deployment`] is what survives a restart (the
//! database, the Redis prefix, the spool directory, the port); each [`Running`] is one
//! process of it, killed if the test ends while it runs.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use attrib::config::Settings;

use super::app::{client_of, fresh_database, redis_url, TestApp, CLICK_SECRET, PUBLIC_URL};

pub struct Deployment {
    pub vars: HashMap<String, String>,
    pub address: String,
    /// Every process's stderr, appended.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

pub struct Running {
    child: Child,
}

/// A port nothing listens on now (the kernel's pick, released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl Deployment {
    pub async fn new(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("attrib-process-")
            .tempdir()
            .expect("a directory");
        let port = free_port();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut vars: HashMap<String, String> = [
            ("ATTRIB_DATABASE_URL", fresh_database().await),
            ("ATTRIB_REDIS_URL", redis_url()),
            ("ATTRIB_REDIS_PREFIX", format!("attrib_test:{id}:")),
            ("ATTRIB_LISTEN", format!("127.0.0.1:{port}")),
            ("ATTRIB_PUBLIC_URL", PUBLIC_URL.to_owned()),
            ("ATTRIB_HTTP_WORKERS", "2".to_owned()),
            ("ATTRIB_DATABASE_MAX_CONNECTIONS", "4".to_owned()),
            ("ATTRIB_CLICK_SECRET", CLICK_SECRET.to_owned()),
            (
                "ATTRIB_SPOOL_DIR",
                dir.path().join("spool").display().to_string(),
            ),
            ("ATTRIB_WORKER_NAME", "process-test".to_owned()),
            ("ATTRIB_INGEST_NICE", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Deployment {
            vars,
            address: format!("http://127.0.0.1:{port}"),
            log: dir.path().join("attrib.log"),
            _dir: dir,
        }
    }

    /// Another process of the same deployment (database, Redis prefix, spool directory
    /// apart) on a port of its own, with `extra` settings; `{listen}` in a value is its
    /// listen address.
    pub fn sibling(&self, extra: &[(&str, &str)]) -> Deployment {
        let dir = tempfile::Builder::new()
            .prefix("attrib-process-")
            .tempdir()
            .expect("a directory");
        let listen = format!("127.0.0.1:{}", free_port());
        let mut vars = self.vars.clone();
        vars.insert("ATTRIB_LISTEN".to_owned(), listen.clone());
        vars.insert(
            "ATTRIB_SPOOL_DIR".to_owned(),
            dir.path().join("spool").display().to_string(),
        );
        for (k, v) in extra {
            vars.insert((*k).to_owned(), v.replace("{listen}", &listen));
        }
        Deployment {
            vars,
            address: format!("http://{listen}"),
            log: dir.path().join("attrib.log"),
            _dir: dir,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings::from_map(&self.vars).expect("valid settings")
    }

    /// `attrib <command>`, once it answers `/healthz`.
    pub async fn start(&self, command: &str) -> Running {
        let mut running = self.spawn(command);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                panic!(
                    "attrib {command} exited at start ({status}): {}",
                    self.log_text()
                );
            }
            let probe = client.get(format!("{}/healthz", self.address)).send().await;
            if probe.is_ok_and(|r| r.status() == 200) {
                return running;
            }
            assert!(
                Instant::now() < deadline,
                "attrib {command} did not start: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `attrib <command>`, once its log has a line containing `started`.
    pub async fn start_logging(&self, command: &str, started: &str) -> Running {
        let before = self.log_text().len();
        let mut running = self.spawn(command);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log_text()[before..].contains(started) {
            if let Ok(Some(status)) = running.child.try_wait() {
                panic!(
                    "attrib {command} exited at start ({status}): {}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "attrib {command} did not start: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running
    }

    fn spawn(&self, command: &str) -> Running {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_attrib"))
            .arg(command)
            .env_clear()
            .envs(&self.vars)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start attrib");
        Running { child }
    }

    /// A client with an admin key of its own.
    pub async fn client(&self) -> TestApp {
        client_of(self.address.clone(), self.settings()).await
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Running {
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) with a pid this test spawned and still owns (not yet reaped).
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal})");
    }

    /// How the process ended, which it must within `within`.
    pub async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for attrib") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "attrib still runs after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
