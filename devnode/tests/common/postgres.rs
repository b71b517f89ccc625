//! A throwaway PostgreSQL cluster for the suites that run on the PostgreSQL
//! store (the `pgtmp` crate): one per test binary, started on first use and
//! removed by a watchdog shell once the test process has exited (statics are
//! never dropped). Each test gets its own database, dropped with the cluster.

use std::sync::OnceLock;

use pgtmp::Cluster;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// A URL of a new, empty database on this binary's cluster.
pub(crate) async fn fresh_database_url() -> String {
    let cluster = CLUSTER.get_or_init(|| {
        let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        cluster.stop_when_process_exits().unwrap_or_else(|e| panic!("{e}"));
        cluster
    });
    // `createdb` runs as a child process for a few tens of milliseconds: blocking the
    // test's runtime that long is harmless.
    cluster.create_database().unwrap_or_else(|e| panic!("{e}"))
}
