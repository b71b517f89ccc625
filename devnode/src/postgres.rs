//! The PostgreSQL envelope store. One table, `envelopes`, keyed by
//! `(topic, timestamp_ns, digest)`: the unique constraint is the
//! exact-duplicate rule and its index serves paging in both directions.
//!
//! `timestamp_ns` is a `u64` on the wire but PostgreSQL has no unsigned
//! type, so it is stored as `bigint` with the top bit flipped
//! ([`to_sql_ts`]): signed order of the stored value = unsigned order of the
//! timestamp, so the index, range bounds and cursors work unchanged.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::api::EnvelopeIn;
use crate::notify::{self, Feed};
use crate::store::{Page, PageQuery, StoreError, StoredEnvelope};
use crate::stream::Event;
use prometheus_client::metrics::counter::Counter;

/// Schema migrations, applied in order; `schema_version` records how many ran.
/// Append only: never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the envelopes.
    "CREATE TABLE envelopes (
        topic text NOT NULL,
        timestamp_ns bigint NOT NULL,
        digest bytea NOT NULL,
        message bytea NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT envelopes_key UNIQUE (topic, timestamp_ns, digest)
    );
    CREATE INDEX envelopes_stored_at ON envelopes (stored_at);",
    // 2: the feed's position (see `notify.rs`): existing rows get numbers too.
    "ALTER TABLE envelopes ADD COLUMN seq bigserial;
    CREATE UNIQUE INDEX envelopes_seq ON envelopes (seq);",
];

/// Serializes migrations between replicas starting at once (an arbitrary
/// constant, "devnode" in ASCII, naming its advisory lock).
const MIGRATION_LOCK: i64 = 0x0064_6576_6e6f_6465;

/// Held by each publish from before its rows take their `seq` until commit,
/// so `seq` order is commit order across replicas (see `notify.rs`).
const PUBLISH_LOCK: i64 = MIGRATION_LOCK + 1;

/// Stores a batch and announces it, in one statement (one round trip, its
/// own transaction). The lock comes first: its CTE is joined to the rows,
/// so it is taken before the first row is formed and takes its `seq`.
/// Exact duplicates are skipped; an all-duplicate batch notifies nothing.
const PUBLISH: &str = "WITH publish_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($5)),
    stored AS (
        INSERT INTO envelopes (topic, timestamp_ns, digest, message)
        SELECT batch.* FROM UNNEST($1::text[], $2::bigint[], $3::bytea[], $4::bytea[]) AS batch
            CROSS JOIN publish_lock
        ON CONFLICT DO NOTHING
        RETURNING seq)
    SELECT max(seq), pg_notify($6, max(seq)::text) FROM stored HAVING count(*) > 0";

/// Connections a node keeps open at most.
const POOL_SIZE: usize = 16;

/// How often retention deletes old envelopes.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Envelopes in a PostgreSQL database.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: Pool,
    /// Hands what any replica stores to this process's streams.
    feed: Feed,
}

/// The error with its causes: tokio-postgres says only "db error" at the top.
pub(crate) fn db_err(e: impl std::error::Error) -> StoreError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    StoreError::Database(message)
}

/// `u64` → order-preserving `i64` (flips the top bit).
fn to_sql_ts(ts: u64) -> i64 {
    (ts ^ (1 << 63)) as i64
}

/// Inverse of [`to_sql_ts`].
fn from_sql_ts(ts: i64) -> u64 {
    (ts as u64) ^ (1 << 63)
}

/// The envelope whose topic, timestamp and message are columns `first`,
/// `first + 1` and `first + 2` of `row`.
pub(crate) fn envelope_from_row(row: &Row, first: usize) -> StoredEnvelope {
    StoredEnvelope::new(EnvelopeIn {
        content_topic: row.get(first),
        timestamp_ns: from_sql_ts(row.get(first + 1)),
        message: row.get(first + 2),
    })
}

impl PgStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`, no TLS),
    /// brings the schema up to date and starts the listener that feeds
    /// `events` (the process's streams).
    pub(crate) async fn connect(
        url: &str,
        events: broadcast::Sender<Event>,
        notifications: Counter,
    ) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(db_err)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(db_err)?;
        migrate(&pool).await?;
        let feed = Feed::start(&config, events, notifications).await?;
        Ok(Self { pool, feed })
    }

    /// Stores a batch in one statement; a row already there (or twice in the
    /// batch) is an exact duplicate and skipped. Returns once the new ones
    /// reached this process's streams (through the listener, like those of
    /// every other replica).
    pub(crate) async fn publish(&self, envelopes: Vec<EnvelopeIn>) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        // The digest is the stored envelope's; the raw bytes go to the table.
        let (batch, messages): (Vec<StoredEnvelope>, Vec<Vec<u8>>) = envelopes
            .into_iter()
            .map(|e| {
                let message = e.message.clone();
                (StoredEnvelope::new(e), message)
            })
            .filter(|(e, _)| seen.insert((e.topic.clone(), e.key())))
            .unzip();
        if batch.is_empty() {
            return Ok(());
        }
        let topics: Vec<&str> = batch.iter().map(|e| e.topic.as_str()).collect();
        let timestamps: Vec<i64> = batch.iter().map(|e| to_sql_ts(e.timestamp_ns)).collect();
        let digests: Vec<&[u8]> = batch.iter().map(|e| &e.digest[..]).collect();

        let client = self.pool.get().await.map_err(db_err)?;
        let statement = client.prepare_cached(PUBLISH).await.map_err(db_err)?;
        let params: [&(dyn ToSql + Sync); 6] =
            [&topics, &timestamps, &digests, &messages, &PUBLISH_LOCK, &notify::CHANNEL];
        let stored = client.query_opt(&statement, &params).await.map_err(db_err)?;
        drop(client);
        if let Some(row) = stored {
            self.feed.reached(row.get(0)).await;
        }
        Ok(())
    }

    /// One page, in the same order and with the same cursor rule as the
    /// in-process store: strictly after (ascending) or before (descending)
    /// the cursor's `(timestamp, digest)`.
    pub(crate) async fn page(&self, q: &PageQuery<'_>) -> Result<Page, StoreError> {
        let end_ns = if q.end_ns == 0 { u64::MAX } else { q.end_ns };
        let take = i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let (order, beyond) = if q.descending { ("DESC", "<") } else { ("ASC", ">") };
        // Like the memory store: each topic reads at most a page from its
        // own index range in order (no sort), then the pages are merged.
        // With and without a cursor are separate statements so a generic
        // plan still gets the cursor as an index condition.
        let cursor_condition = match q.cursor {
            Some(_) => format!("AND (timestamp_ns, digest) {beyond} ($5, $6)"),
            None => String::new(),
        };
        let sql = format!(
            "SELECT e.topic, e.timestamp_ns, e.message
             FROM (SELECT DISTINCT unnest($1::text[]) AS topic) AS t
             CROSS JOIN LATERAL (
                 SELECT topic, timestamp_ns, digest, message FROM envelopes
                 WHERE topic = t.topic AND timestamp_ns BETWEEN $2 AND $3 {cursor_condition}
                 ORDER BY timestamp_ns {order}, digest {order} LIMIT $4
             ) AS e
             ORDER BY e.timestamp_ns {order}, e.digest {order} LIMIT $4"
        );
        let (start, end) = (to_sql_ts(q.start_ns), to_sql_ts(end_ns));
        let cursor = q.cursor.as_ref().map(|c| (to_sql_ts(c.timestamp_ns), c.digest.as_slice()));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&q.topics, &start, &end, &take];
        if let Some((timestamp, digest)) = &cursor {
            params.push(timestamp);
            params.push(digest);
        }
        let client = self.pool.get().await.map_err(db_err)?;
        // Four statements in all (order × cursor), prepared once per pooled
        // connection: a page is then one round trip, not two.
        let statement = client.prepare_cached(&sql).await.map_err(db_err)?;
        let rows = client.query(&statement, &params).await.map_err(db_err)?;
        let mut envelopes: Vec<Arc<StoredEnvelope>> =
            rows.iter().map(|row| Arc::new(envelope_from_row(row, 0))).collect();
        let more = envelopes.len() > q.limit;
        envelopes.truncate(q.limit);
        Ok(Page { envelopes, more })
    }

    /// Number of envelopes stored.
    pub(crate) async fn len(&self) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(db_err)?;
        let row = client.query_one("SELECT count(*) FROM envelopes", &[]).await.map_err(db_err)?;
        usize::try_from(row.get::<_, i64>(0)).map_err(db_err)
    }

    /// `Ok` when the database answers through the pool and the listener is
    /// connected; otherwise why not. No timeout of its own: a database that
    /// does not answer fails the caller's (a load balancer's) check timeout,
    /// and a timer here would fire early under tests' paused clocks.
    pub(crate) async fn check(&self) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| db_err(e).to_string())?;
        client.query_one("SELECT 1", &[]).await.map_err(|e| db_err(e).to_string())?;
        self.feed.check()
    }

    /// Deletes envelopes stored more than `days` days ago; returns how many.
    pub(crate) async fn expire(&self, days: u32) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(db_err)?;
        client
            .execute(
                "DELETE FROM envelopes WHERE stored_at < now() - make_interval(days => $1)",
                &[&i32::try_from(days).map_err(db_err)?],
            )
            .await
            .map_err(db_err)
    }
}

/// Brings the schema up to date; replicas starting at once take turns.
async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(db_err)?;
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        .await
        .map_err(db_err)?;
    let row = tx.query_opt("SELECT version FROM schema_version", &[]).await.map_err(db_err)?;
    let done = match row {
        Some(row) => usize::try_from(row.get::<_, i32>(0)).map_err(db_err)?,
        None => {
            tx.execute("INSERT INTO schema_version VALUES (0)", &[]).await.map_err(db_err)?;
            0
        }
    };
    if done > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "schema version {done} is newer than this devnode ({})",
            MIGRATIONS.len()
        )));
    }
    for migration in &MIGRATIONS[done..] {
        tx.batch_execute(migration).await.map_err(db_err)?;
    }
    let version = i32::try_from(MIGRATIONS.len()).map_err(db_err)?;
    tx.execute("UPDATE schema_version SET version = $1", &[&version]).await.map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

/// Runs retention now and then every [`RETENTION_EVERY`], for as long as the
/// store lives. Failures are logged and retried at the next round.
pub(crate) fn spawn_retention(store: std::sync::Weak<crate::Inner>, days: u32) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = store.upgrade() else { return };
            if let crate::backend::Backend::Postgres(pg) = &inner.store {
                match pg.expire(days).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "retention"),
                    Err(e) => tracing::error!(error = %e, "retention failed"),
                }
            }
            drop(inner);
            tokio::time::sleep(RETENTION_EVERY).await;
        }
    });
}
