//! Everything that can go wrong with the database.

#[cfg(target_arch = "wasm32")]
use super::idb;

/// A failed database operation. The browser's reason is kept as text for bug reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// IndexedDB is missing or refused to open (a private window, a blocked origin, a
    /// corrupted profile). The SDK never falls back to memory.
    #[error("IndexedDB is unavailable: {0}")]
    Unavailable(String),
    /// The database was written by a newer version of the SDK.
    #[error("expected a database of schema version {supported} or older, got a newer one")]
    NewerSchema {
        /// The newest version this code reads.
        supported: u32,
    },
    /// The origin's storage quota is used up.
    #[error("the storage quota is exceeded: {0}")]
    QuotaExceeded(String),
    /// A transaction failed or was aborted; nothing of it was written.
    #[error("the transaction was not committed: {0}")]
    Transaction(String),
    /// A record could not be serialised for storage.
    #[error("could not encode a {store} record: {reason}")]
    Encode {
        /// The object store.
        store: &'static str,
        /// Why.
        reason: String,
    },
    /// A record the step read changed before it could commit (another tab advanced it);
    /// nothing was written, and the step is to be redone.
    #[error("a {store} record changed since it was read")]
    Conflict {
        /// The object store.
        store: &'static str,
    },
    /// The database was deleted or evicted while in use: the data this client relied on is
    /// gone, and nothing more is written.
    #[error("the database was evicted or deleted while in use")]
    Evicted,
    /// A stored record could not be read back as its type (a corrupted or foreign row).
    #[error("could not decode a {store} record: {reason}")]
    Decode {
        /// The object store.
        store: &'static str,
        /// Why.
        reason: String,
    },
}

#[cfg(target_arch = "wasm32")]
impl StoreError {
    /// Classifies a failure to open the database.
    pub(super) fn opening(error: idb::Error) -> Self {
        match error.name.as_deref() {
            Some("VersionError") => Self::NewerSchema { supported: super::SCHEMA_VERSION },
            Some("QuotaExceededError") => Self::QuotaExceeded(IDB_ERROR.into()),
            _ => Self::Unavailable(IDB_ERROR.into()),
        }
    }

    /// Whether the failure is the connection having been closed under us.
    pub(super) fn is_connection_closed(error: &idb::Error) -> bool {
        error.name.as_deref() == Some("InvalidStateError")
    }

    /// Classifies a failure inside a transaction.
    pub(super) fn in_transaction(error: idb::Error) -> Self {
        match error.name.as_deref() {
            Some("QuotaExceededError") => Self::QuotaExceeded(IDB_ERROR.into()),
            _ => Self::Transaction(IDB_ERROR.into()),
        }
    }
}

#[cfg(target_arch = "wasm32")]
/// The text of every IndexedDB failure, as the `rexie` wrapper this replaced wrote it (the
/// classification above carries what matters).
const IDB_ERROR: &str = "idb error";
