//! Envelope storage: per-topic ordered maps keyed the way XMTP/waku index
//! envelopes, `(timestampNs, sha256(topic ++ message))`, optionally backed
//! by an append-only JSON-lines file.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::api::{self, EnvelopeIn, EnvelopeOut};

/// Storage order key: `(timestampNs, digest)`.
pub(crate) type Key = (u64, [u8; 32]);

/// Why a data file could not be opened or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened, read or repaired.
    #[error("data file {path}: {source}")]
    Io {
        /// The data file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line other than the last one is not a valid envelope; only a torn
    /// last line (a crash mid-append) is repaired automatically.
    #[error("data file {path}: line {line} is not a valid envelope: {reason}")]
    Corrupt {
        /// The data file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
    /// New envelopes could not be appended to the data file.
    #[error("could not persist envelopes: {0}")]
    Append(io::Error),
    /// The store options contradict each other.
    #[error("{0}")]
    Options(&'static str),
    /// The PostgreSQL database failed or could not be reached.
    #[error("database: {0}")]
    Database(String),
}

/// A stored envelope, shared between the store, queries and subscribers.
#[derive(Debug)]
pub(crate) struct StoredEnvelope {
    pub(crate) topic: String,
    pub(crate) timestamp_ns: u64,
    pub(crate) digest: [u8; 32],
    /// The wire form, computed once since every query and stream emits it.
    pub(crate) wire: EnvelopeOut,
}

impl StoredEnvelope {
    pub(crate) fn new(env: EnvelopeIn) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(env.content_topic.as_bytes());
        hasher.update(&env.message);
        let digest: [u8; 32] = hasher.finalize().into();
        let wire = EnvelopeOut {
            content_topic: env.content_topic.clone(),
            timestamp_ns: env.timestamp_ns.to_string(),
            message: api::encode_b64(&env.message),
        };
        Self { topic: env.content_topic, timestamp_ns: env.timestamp_ns, digest, wire }
    }

    /// The order key of this envelope.
    pub(crate) fn key(&self) -> Key {
        (self.timestamp_ns, self.digest)
    }
}

/// A position to continue from: everything strictly after (ascending) or
/// strictly before (descending) it. The digest is compared as a byte
/// string so a cursor that is not 32 bytes long still orders sensibly.
#[derive(Debug, Clone)]
pub(crate) struct CursorKey {
    pub(crate) timestamp_ns: u64,
    pub(crate) digest: Vec<u8>,
}

/// What to read in one page.
#[derive(Debug, Clone)]
pub(crate) struct PageQuery<'a> {
    pub(crate) topics: &'a [String],
    /// Inclusive lower bound on timestampNs.
    pub(crate) start_ns: u64,
    /// Inclusive upper bound on timestampNs.
    pub(crate) end_ns: u64,
    pub(crate) descending: bool,
    pub(crate) cursor: Option<CursorKey>,
    pub(crate) limit: usize,
}

/// A page of results; `more` says whether anything remains beyond it.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) envelopes: Vec<Arc<StoredEnvelope>>,
    pub(crate) more: bool,
}

/// All stored envelopes plus the optional file they are persisted in.
#[derive(Debug, Default)]
pub(crate) struct Store {
    topics: HashMap<String, BTreeMap<Key, Arc<StoredEnvelope>>>,
    count: usize,
    file: Option<DataFile>,
}

#[derive(Debug)]
struct DataFile {
    path: PathBuf,
    file: File,
    /// Length of the valid prefix, to roll back a failed append.
    len: u64,
}

impl Store {
    /// An empty store that lives in memory only.
    pub(crate) fn in_memory() -> Self {
        Self::default()
    }

    /// Opens (creating if needed) and loads a data file. A torn last line is
    /// cut off so later appends start on a fresh line.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let io_err = |source| StoreError::Io { path: path.to_path_buf(), source };
        let mut file =
            OpenOptions::new().read(true).append(true).create(true).open(path).map_err(io_err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err)?;

        let mut store = Self::default();
        let mut valid_len = 0usize;
        let mut needs_newline = false;
        let mut start = 0usize;
        let mut line_no = 0usize;
        while start < bytes.len() {
            line_no += 1;
            let (end, complete) = match bytes[start..].iter().position(|&b| b == b'\n') {
                Some(i) => (start + i, true),
                None => (bytes.len(), false),
            };
            let line = &bytes[start..end];
            let is_last = end + 1 >= bytes.len();
            if !line.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<EnvelopeIn>(line) {
                    Ok(env) => {
                        store.insert_in_memory(env);
                    }
                    // A crash mid-append leaves at most the last line torn.
                    Err(_) if is_last => break,
                    Err(e) => {
                        return Err(StoreError::Corrupt {
                            path: path.to_path_buf(),
                            line: line_no,
                            reason: e.to_string(),
                        });
                    }
                }
            }
            valid_len = if complete { end + 1 } else { end };
            needs_newline = !complete;
            start = end + 1;
        }

        let mut len = valid_len as u64;
        if len < bytes.len() as u64 {
            file.set_len(len).map_err(io_err)?;
        }
        if needs_newline {
            file.write_all(b"\n").map_err(io_err)?;
            len += 1;
        }
        store.file = Some(DataFile { path: path.to_path_buf(), file, len });
        Ok(store)
    }

    /// Number of distinct envelopes stored.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Stores envelopes, skipping exact duplicates (same topic, timestamp and
    /// message, hence same key). New ones are appended to the data file first
    /// and only then made visible, so an acknowledged publish is on disk (in
    /// the OS cache: it survives the process, not a power cut). Returns the
    /// newly stored envelopes in input order.
    pub(crate) fn insert(&mut self, envs: Vec<EnvelopeIn>) -> io::Result<Vec<Arc<StoredEnvelope>>> {
        let mut fresh: Vec<StoredEnvelope> = Vec::new();
        for env in envs {
            let stored = StoredEnvelope::new(env);
            let key = stored.key();
            let known = self.topics.get(&stored.topic).is_some_and(|m| m.contains_key(&key))
                || fresh.iter().any(|s| s.topic == stored.topic && s.key() == key);
            if !known {
                fresh.push(stored);
            }
        }
        if let Some(data) = &mut self.file {
            let mut buf = Vec::new();
            for stored in &fresh {
                serde_json::to_writer(&mut buf, &stored.wire).map_err(io::Error::other)?;
                buf.push(b'\n');
            }
            if !buf.is_empty() {
                if let Err(e) = data.file.write_all(&buf).and_then(|()| data.file.flush()) {
                    // Drop a partial line so the file stays loadable and the
                    // next append does not glue onto garbage.
                    let _ = data.file.set_len(data.len);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("appending to {}: {e}", data.path.display()),
                    ));
                }
                data.len += buf.len() as u64;
            }
        }
        Ok(fresh.into_iter().map(|stored| self.insert_stored(stored)).collect())
    }

    fn insert_in_memory(&mut self, env: EnvelopeIn) {
        let stored = StoredEnvelope::new(env);
        let known = self.topics.get(&stored.topic).is_some_and(|m| m.contains_key(&stored.key()));
        if !known {
            self.insert_stored(stored);
        }
    }

    fn insert_stored(&mut self, stored: StoredEnvelope) -> Arc<StoredEnvelope> {
        let stored = Arc::new(stored);
        self.topics
            .entry(stored.topic.clone())
            .or_default()
            .insert(stored.key(), Arc::clone(&stored));
        self.count += 1;
        stored
    }

    /// Reads one page across the given topics, merged in key order.
    pub(crate) fn page(&self, q: &PageQuery<'_>) -> Page {
        let mut lo = q.start_ns;
        let mut hi = if q.end_ns == 0 { u64::MAX } else { q.end_ns };
        if let Some(c) = &q.cursor {
            if q.descending {
                hi = hi.min(c.timestamp_ns);
            } else {
                lo = lo.max(c.timestamp_ns);
            }
        }
        let mut out: Vec<Arc<StoredEnvelope>> = Vec::new();
        if lo > hi {
            // BTreeMap::range panics on an inverted range.
            return Page { envelopes: out, more: false };
        }
        let range = (lo, [0u8; 32])..=(hi, [0xffu8; 32]);
        let take = q.limit.saturating_add(1);
        let mut seen = std::collections::HashSet::new();
        for topic in q.topics {
            // A topic listed twice must not double its results.
            if !seen.insert(topic.as_str()) {
                continue;
            }
            let Some(map) = self.topics.get(topic) else {
                continue;
            };
            let beyond = |k: &Key| match &q.cursor {
                None => true,
                Some(c) => {
                    let ord = (k.0, &k.1[..]).cmp(&(c.timestamp_ns, &c.digest[..]));
                    if q.descending { ord.is_lt() } else { ord.is_gt() }
                }
            };
            if q.descending {
                out.extend(
                    map.range(range.clone())
                        .rev()
                        .filter(|(k, _)| beyond(k))
                        .take(take)
                        .map(|(_, v)| Arc::clone(v)),
                );
            } else {
                out.extend(
                    map.range(range.clone())
                        .filter(|(k, _)| beyond(k))
                        .take(take)
                        .map(|(_, v)| Arc::clone(v)),
                );
            }
        }
        if q.descending {
            out.sort_by_key(|e| std::cmp::Reverse(e.key()));
        } else {
            out.sort_by_key(|e| e.key());
        }
        let more = out.len() > q.limit;
        out.truncate(q.limit);
        Page { envelopes: out, more }
    }
}
