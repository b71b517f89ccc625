//! A throwaway PostgreSQL cluster for tests and benchmarks.
//!
//! [`Cluster::start`] runs `initdb` into a fresh temporary directory and starts the server on
//! a free loopback port with its Unix socket in that directory (so it never touches a system
//! cluster's socket or port). Authentication is `trust` for the `postgres` user; `fsync` stays
//! on, as in production, so a benchmark's acknowledged writes are durable. The server and the
//! directory are removed when the [`Cluster`] is dropped or [`stop`](Cluster::stop)ped.
//!
//! PostgreSQL refuses to run as root: then every server command runs as the `postgres` user
//! through `runuser`, and the directory is handed to that user.
//!
//! A cluster kept in a `static` (one per test binary) is never dropped:
//! [`Cluster::stop_when_process_exits`] leaves a watchdog shell that stops it once the
//! process is gone.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

/// Where Debian's postgresql-15 package puts the server binaries.
pub const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

/// What failed, with the command's output when there is one.
pub type Result<T = ()> = std::result::Result<T, String>;

/// A running throwaway cluster, stopped and deleted when dropped.
#[derive(Debug)]
pub struct Cluster {
    /// The temporary directory: the data directory, the log and the socket.
    dir: PathBuf,
    port: u16,
    /// Whether server commands run as the `postgres` user (we are root).
    as_postgres: bool,
    next_database: AtomicUsize,
    stopped: bool,
}

impl Cluster {
    /// Creates and starts a cluster. Fails with a message naming the package to install when
    /// the PostgreSQL 15 server binaries are missing.
    pub fn start() -> Result<Self> {
        if !bin("initdb").exists() || !bin("pg_ctl").exists() {
            return Err(format!(
                "PostgreSQL 15 server binaries not found at {BIN_DIR}: install postgresql-15 \
                 (Debian/Ubuntu: apt-get install postgresql-15) to run devnode's PostgreSQL \
                 tests and benchmarks"
            ));
        }
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let dir = tempfile::Builder::new()
            .prefix("pgtmp-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep();
        // From here on, dropping the value removes the directory, also when starting fails.
        let mut cluster =
            Self { dir, port: 0, as_postgres, next_database: AtomicUsize::new(0), stopped: false };
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(&cluster.dir);
            run(chown, "chown")?;
        }
        let mut initdb = cluster.server_command("initdb");
        // `--no-sync` only skips syncing initdb's own files; the server keeps fsync on.
        initdb.arg("-D").arg(cluster.data()).args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        run(initdb, "initdb")?;

        cluster.port = free_port()?;
        let mut pg_ctl = cluster.server_command("pg_ctl");
        pg_ctl.arg("-D").arg(cluster.data()).arg("-l").arg(cluster.dir.join("log"));
        pg_ctl.args(["-w", "-o"]).arg(format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=300",
            cluster.port,
            cluster.dir.display()
        ));
        pg_ctl.arg("start");
        run(pg_ctl, "pg_ctl start").map_err(|e| format!("{e}\nserver log:\n{}", cluster.log()))?;
        Ok(cluster)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (`postgres` always exists).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database (`pgtmp_0`, `pgtmp_1`, …) and returns its URL.
    pub fn create_database(&self) -> Result<String> {
        let name = format!("pgtmp_{}", self.next_database.fetch_add(1, Ordering::Relaxed));
        let mut createdb = Command::new(bin("createdb"));
        createdb.args(["-h", "127.0.0.1", "-U", "postgres", "-p", &self.port.to_string(), &name]);
        run(createdb, "createdb")?;
        Ok(self.url(&name))
    }

    /// Stops the server (fast shutdown: open sessions are ended) and removes the directory.
    pub fn stop(mut self) -> Result {
        self.shut_down()
    }

    /// Leaves a detached shell that stops the server and removes the directory once this
    /// process has exited, for a cluster that is never dropped (kept in a `static`).
    pub fn stop_when_process_exits(&self) -> Result {
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            runas = if self.as_postgres { "runuser -u postgres -- " } else { "" },
            pg_ctl = bin("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        // Never waited for: the watchdog must outlive this process.
        Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the cluster's watchdog shell: {e}"))?;
        Ok(())
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn server_command(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(bin(program));
            cmd
        } else {
            Command::new(bin(program))
        }
    }

    fn shut_down(&mut self) -> Result {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        let mut outcome = Ok(());
        if self.port != 0 {
            let mut pg_ctl = self.server_command("pg_ctl");
            pg_ctl.arg("-D").arg(self.data()).args(["-m", "fast", "-w", "stop"]);
            outcome = run(pg_ctl, "pg_ctl stop");
        }
        let removed = std::fs::remove_dir_all(&self.dir)
            .map_err(|e| format!("cannot remove {}: {e}", self.dir.display()));
        outcome.and(removed)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            eprintln!("pgtmp: {e}");
        }
    }
}

fn bin(name: &str) -> PathBuf {
    Path::new(BIN_DIR).join(name)
}

/// A port the system just handed out, so most likely still free when the server binds it.
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

fn run(mut cmd: Command, what: &str) -> Result {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_serves_new_databases_and_is_removed_when_stopped() {
        let cluster = Cluster::start().unwrap();
        let dir = cluster.dir.clone();
        let first = cluster.create_database().unwrap();
        let second = cluster.create_database().unwrap();
        assert_ne!(first, second);
        let port = cluster.port().to_string();
        // psql over TCP, as the node connects: the database must exist and answer.
        let out = Command::new(bin("psql"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "pgtmp_1", "-tAc"])
            .arg("SELECT current_setting('fsync')")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "on");
        assert!(first.ends_with("/pgtmp_0") && second.ends_with("/pgtmp_1"));
        cluster.stop().unwrap();
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err());
    }
}
