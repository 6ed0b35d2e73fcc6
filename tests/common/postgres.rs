//! A private PostgreSQL for the tests: `initdb` and `pg_ctl` into a temporary folder, listening
//! only on a Unix socket in that folder, with nothing shared with any other PostgreSQL on the
//! machine. No TCP port: PostgreSQL cannot bind port 0 and report it, and a port found free
//! beforehand may be taken by someone else before the server binds it; a socket in a folder
//! of our own cannot collide.
//!
//! The binaries are PostgreSQL's (`/usr/lib/postgresql/<version>/bin`, or PATH); scripts/test.sh
//! installs the `postgresql` package when they are missing. PostgreSQL refuses to run as root,
//! so as root the server runs as `nobody` (through `runuser`). A cluster that cannot start
//! fails the test with the reason: a test that cannot run never passes.
//!
//! Cleanup does not depend on `Drop` (statics are never dropped, and a test may abort): each
//! cluster has a guardian shell whose standard input is a pipe held by the test process; when
//! the process ends, the pipe closes and the guardian stops the server and removes its folder.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use sqlx::Connection;

/// One private PostgreSQL server.
pub struct Cluster {
    bin: PathBuf,
    /// The data folder (inside `root`).
    data: PathBuf,
    /// The temporary folder holding everything (kept; the guardian removes it).
    root: PathBuf,
    /// The guardian; dropping its stdin stops the server.
    guardian: Mutex<Option<Child>>,
}

/// The folder of PostgreSQL's server binaries.
fn binaries() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    if let Some(bin) = versions.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file()).unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH); run scripts/test.sh, which installs it")
    })
}

/// Whether this process runs as root (PostgreSQL then runs as `nobody`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The uid and gid of `nobody` from /etc/passwd.
fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("no user nobody to run PostgreSQL as (it refuses root)");
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

impl Cluster {
    /// Creates and starts a new cluster; panics with PostgreSQL's own words when it cannot.
    pub fn start() -> Cluster {
        let bin = binaries();
        let root = tempfile::Builder::new().prefix("eseal-pg").tempdir().unwrap().keep();
        let data = root.join("data");
        if is_root() {
            let (uid, gid) = nobody();
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).unwrap();
        }
        let cluster = Cluster { bin, data, root, guardian: Mutex::new(None) };
        cluster.spawn_guardian();
        let out = cluster
            .command("initdb")
            .args([
                "-D",
                cluster.data.to_str().unwrap(),
                "-U",
                "eseal",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb ({e})"));
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.resume();
        cluster
    }

    /// The command `program` of PostgreSQL, run as `nobody` when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "nobody", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Stops the server and removes the folder when this process ends, however it ends.
    fn spawn_guardian(&self) {
        let as_nobody = if is_root() { "runuser -u nobody -- " } else { "" };
        let stop = format!(
            "{as_nobody}'{}' -D '{}' -m immediate stop",
            self.bin.join("pg_ctl").display(),
            self.data.display()
        );
        let script =
            format!("cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf '{}'", self.root.display());
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        *self.guardian.lock().unwrap() = Some(child.expect("cannot start the guardian shell"));
    }

    /// Starts (or starts again) the server; waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=32MB",
            self.root.display()
        );
        let log = self.root.join("server.log");
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl ({e})"));
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: connections are closed, committed data kept).
    pub fn pause(&self) {
        let out = self
            .command("pg_ctl")
            .args(["-D", self.data.to_str().unwrap(), "-m", "fast", "-w", "stop"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of `database` on this server: its socket folder as the `host` parameter (the
    /// host name is then not used).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://eseal@localhost/{database}?host={}", self.root.display())
    }

    /// A new empty database of its own; returns its URL.
    pub async fn new_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        self.url(&name)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// The folder of the cluster.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the guardian's stdin makes it stop the server and remove the folder.
        if let Some(mut guardian) = self.guardian.lock().unwrap().take() {
            if let Some(mut stdin) = guardian.stdin.take() {
                let _ = stdin.flush();
            }
            let _ = guardian.wait();
        }
    }
}

/// The cluster this test binary shares between its tests (each test makes its own database).
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(Cluster::start)
}
