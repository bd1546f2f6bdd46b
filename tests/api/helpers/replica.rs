//! A Postgres primary and a streaming standby of this test's own, on free ports in a
//! temporary directory, stopped when dropped: what a reporting replica is, with a replay
//! the test can pause.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub struct PrimaryAndStandby {
    primary_port: u16,
    standby_port: u16,
    primary: PathBuf,
    standby: PathBuf,
    _dir: tempfile::TempDir,
}

/// The newest installed server's programs (Debian keeps them out of PATH).
fn bin(program: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<u32> = std::fs::read_dir(root)
        .expect("PostgreSQL is installed (scripts/services.sh installs it)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let version = versions.last().expect("a PostgreSQL version");
    root.join(version.to_string()).join("bin").join(program)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs a server program as `postgres` when this test runs as root (the server refuses
/// root), else as the current user.
fn run(program: &str, args: &[&str]) {
    let is_root = unsafe { libc::geteuid() } == 0;
    let mut command = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(program));
        c
    } else {
        Command::new(bin(program))
    };
    let output = command
        .args(args)
        .output()
        .expect("run a PostgreSQL program");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn give_to_postgres(path: &Path) {
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success());
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("a configuration file");
    file.write_all(text.as_bytes()).expect("written");
}

impl PrimaryAndStandby {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("attrib-replica-")
            .tempdir()
            .expect("a directory");
        give_to_postgres(dir.path());
        let primary = dir.path().join("primary");
        let standby = dir.path().join("standby");
        let (primary_port, standby_port) = (free_port(), free_port());
        let sockets = dir.path().display().to_string();
        run(
            "initdb",
            &[
                "-D",
                &primary.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ],
        );
        append(
            &primary.join("postgresql.conf"),
            &format!(
                "\nport = {primary_port}\nlisten_addresses = '127.0.0.1'\n\
                 unix_socket_directories = '{sockets}'\nwal_level = replica\n\
                 max_wal_senders = 4\nfsync = off\nsynchronous_commit = off\n"
            ),
        );
        let log = |name: &str| dir.path().join(format!("{name}.log")).display().to_string();
        run(
            "pg_ctl",
            &[
                "-D",
                &primary.display().to_string(),
                "-l",
                &log("primary"),
                "-w",
                "start",
            ],
        );
        run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby.display().to_string(),
                "-R",
                "-X",
                "stream",
            ],
        );
        append(
            &standby.join("postgresql.conf"),
            &format!("\nport = {standby_port}\n"),
        );
        run(
            "pg_ctl",
            &[
                "-D",
                &standby.display().to_string(),
                "-l",
                &log("standby"),
                "-w",
                "start",
            ],
        );
        PrimaryAndStandby {
            primary_port,
            standby_port,
            primary,
            standby,
            _dir: dir,
        }
    }
}

impl PrimaryAndStandby {
    /// The URL of `database` on the primary.
    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    /// The URL of `database` on the standby.
    pub fn standby_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.standby_port
        )
    }
}

impl Drop for PrimaryAndStandby {
    fn drop(&mut self) {
        for data in [&self.standby, &self.primary] {
            let is_root = unsafe { libc::geteuid() } == 0;
            let mut command = if is_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin("pg_ctl"));
                c
            } else {
                Command::new(bin("pg_ctl"))
            };
            let _ = command
                .args(["-D"])
                .arg(data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}
