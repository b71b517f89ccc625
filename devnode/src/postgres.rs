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
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use crate::api::EnvelopeIn;
use crate::store::{Page, PageQuery, StoreError, StoredEnvelope};

/// Schema migrations, applied in order; `schema_version` records how many ran.
/// Append only: never edit one that has shipped.
const MIGRATIONS: &[&str] = &["CREATE TABLE envelopes (
        topic text NOT NULL,
        timestamp_ns bigint NOT NULL,
        digest bytea NOT NULL,
        message bytea NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT envelopes_key UNIQUE (topic, timestamp_ns, digest)
    );
    CREATE INDEX envelopes_stored_at ON envelopes (stored_at);"];

/// Serializes migrations between replicas starting at once (an arbitrary
/// constant, "devnode" in ASCII, naming its advisory lock).
const MIGRATION_LOCK: i64 = 0x0064_6576_6e6f_6465;

/// Connections a node keeps open at most.
const POOL_SIZE: usize = 16;

/// How often retention deletes old envelopes.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Envelopes in a PostgreSQL database.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: Pool,
    /// Publishes of this process run one at a time so subscribers see them
    /// in commit order. A second replica will get its envelopes through
    /// LISTEN/NOTIFY instead: `publish` already yields exactly what it stored.
    publish_order: tokio::sync::Mutex<()>,
}

/// The error with its causes: tokio-postgres says only "db error" at the top.
fn db_err(e: impl std::error::Error) -> StoreError {
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

impl PgStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`, no TLS) and
    /// brings the schema up to date.
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(db_err)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(db_err)?;
        let store = Self { pool, publish_order: tokio::sync::Mutex::new(()) };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(db_err)?;
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

    /// Stores a batch in one statement; a row already there (or twice in the
    /// batch) is an exact duplicate and skipped. Announces the new ones in
    /// input order.
    pub(crate) async fn publish(
        &self,
        envelopes: Vec<EnvelopeIn>,
        announce: impl Fn(Arc<StoredEnvelope>),
    ) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        // The stored form keeps only the base64 wire text; the raw bytes go to the table.
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
        let _order = self.publish_order.lock().await;
        let rows = client
            .query(
                "INSERT INTO envelopes (topic, timestamp_ns, digest, message)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bytea[], $4::bytea[])
                 ON CONFLICT DO NOTHING
                 RETURNING topic, timestamp_ns, digest",
                &[&topics, &timestamps, &digests, &messages],
            )
            .await
            .map_err(db_err)?;
        let mut stored = HashSet::with_capacity(rows.len());
        for row in &rows {
            let digest: &[u8] = row.get(2);
            stored.insert((row.get::<_, String>(0), from_sql_ts(row.get(1)), digest.to_vec()));
        }
        for envelope in batch {
            let key = (envelope.topic.clone(), envelope.timestamp_ns, envelope.digest.to_vec());
            if stored.contains(&key) {
                announce(Arc::new(envelope));
            }
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
        let rows = client.query(&sql, &params).await.map_err(db_err)?;
        let mut envelopes: Vec<Arc<StoredEnvelope>> = rows
            .into_iter()
            .map(|row| {
                Arc::new(StoredEnvelope::new(EnvelopeIn {
                    content_topic: row.get(0),
                    timestamp_ns: from_sql_ts(row.get(1)),
                    message: row.get(2),
                }))
            })
            .collect();
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

/// Runs retention now and then every [`RETENTION_EVERY`], for as long as the
/// store lives. Failures are logged and retried at the next round.
pub(crate) fn spawn_retention(store: std::sync::Weak<crate::Inner>, days: u32) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = store.upgrade() else { return };
            if let crate::backend::Backend::Postgres(pg) = &inner.store {
                match pg.expire(days).await {
                    Ok(0) => {}
                    Ok(n) => eprintln!("devnode: retention deleted {n} envelopes"),
                    Err(e) => eprintln!("devnode: retention failed: {e}"),
                }
            }
            drop(inner);
            tokio::time::sleep(RETENTION_EVERY).await;
        }
    });
}
