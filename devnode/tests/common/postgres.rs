//! A throwaway PostgreSQL cluster for the suites that run on the PostgreSQL
//! store: one per test binary, started on first use (`initdb` into a
//! temporary directory, a free loopback port, the socket in that directory)
//! and removed by a watchdog shell once the test process has exited. Each
//! test gets its own database, dropped with the cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where Debian's postgresql-15 package puts the server binaries.
const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A URL of a new, empty database on this binary's cluster.
pub(crate) async fn fresh_database_url() -> String {
    let port = CLUSTER.get_or_init(start).port;
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test cluster at {admin}: {e}"));
    tokio::spawn(connection);
    // Each suite file compiles its own copy of this module (and cluster):
    // the module path keeps names apart anyway.
    let name = format!(
        "{}_{}",
        module_path!().replace("::", "_"),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    format!("postgres://postgres@127.0.0.1:{port}/{name}")
}

fn bin(name: &str) -> PathBuf {
    Path::new(BIN_DIR).join(name)
}

/// PostgreSQL refuses to run as root: then every server command runs as the
/// `postgres` user.
fn server_command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start() -> Cluster {
    assert!(
        bin("initdb").exists() && bin("pg_ctl").exists(),
        "PostgreSQL 15 server binaries not found at {BIN_DIR}: install postgresql-15 (Debian/Ubuntu: \
         apt-get install postgresql-15) to run devnode's PostgreSQL tests"
    );
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let dir = tempfile::Builder::new().prefix("devnode-pg-").tempdir().unwrap().keep();
    if is_root {
        let mut chown = Command::new("chown");
        chown.arg("postgres:").arg(&dir);
        run(chown, "chown");
    }
    let data = dir.join("data");
    let mut initdb = server_command(&bin("initdb"), is_root);
    initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync"]);
    run(initdb, "initdb");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut pg_ctl = server_command(&bin("pg_ctl"), is_root);
    pg_ctl.arg("-D").arg(&data).arg("-l").arg(dir.join("log")).args(["-w", "-o"]).arg(format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=300",
        dir.display()
    ));
    pg_ctl.arg("start");
    run(pg_ctl, "pg_ctl start");

    // Statics are never dropped: a detached shell stops the server and
    // removes the directory once this process is gone.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runas = if is_root { "runuser -u postgres -- " } else { "" },
        pg_ctl = bin("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    #[expect(clippy::zombie_processes, reason = "the watchdog must outlive this process")]
    let _watchdog = Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Cluster { port }
}
