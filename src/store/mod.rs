//! Storage: the [`Store`] interface the state steps write through, its browser implementation
//! ([`IdbStore`], IndexedDB) and, natively in tests, an in-memory one with the same semantics.
//!
//! Reads are plain getters. Writes are collected in a [`Changes`] value — every record is
//! encoded *before* the transaction opens — and [`Store::save`] puts and deletes them all in
//! one read-write transaction that commits everything or nothing, after checking that what
//! the step read is unchanged. Nothing but IndexedDB is awaited inside it (a fetch or timer
//! would let the browser auto-commit half a step).

#[cfg(target_arch = "wasm32")]
mod at_rest;
#[cfg(target_arch = "wasm32")]
mod builder;
mod changes;
mod error;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod idb_store;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod memory;
mod queries;
mod record;
#[cfg(target_arch = "wasm32")]
mod records;
mod schema;
// Read by the browser's store; natively only its format's tests and fuzz target.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod sealing;
/// The behaviour suite every store passes (natively, and in the browser tests).
#[cfg(any(test, feature = "test-export"))]
#[doc(hidden)]
pub mod suite;

#[cfg(target_arch = "wasm32")]
pub use at_rest::{WRAPPED_PICKLE_KEY, WrappedPickleKey};
pub use changes::Changes;
pub use error::StoreError;
#[cfg(target_arch = "wasm32")]
pub use idb_store::IdbStore;
pub use queries::{conversations, inbound_failures, messages};
pub use record::Record;
/// How each record and field is stored, for the browser tests of the converters.
#[cfg(all(feature = "test-export", target_arch = "wasm32"))]
#[doc(hidden)]
pub use records::Field;
pub use schema::{SCHEMA_VERSION, index, store_names};
use serde::Serialize;

/// What the state steps read and write. Every read is its own snapshot; [`Store::save`] is
/// the only write and is atomic. Implementations must agree on everything a step can
/// observe: key order (IndexedDB's: numbers before strings before arrays), index contents
/// (a record whose indexed field is absent is not in the index; a multi-entry index holds each
/// element), the checks of [`Changes`] and which errors a save gives.
#[allow(async_fn_in_trait)] // single-threaded: no Send bound wanted
pub trait Store {
    /// The record of type `R` with primary key `key`.
    async fn get<R: Record>(&self, key: &R::Key) -> Result<Option<R>, StoreError>;

    /// The records of type `R` with primary keys `keys`, in their order (`None` where there
    /// is none): one snapshot, one round trip, however many keys.
    async fn get_many<R: Record>(&self, keys: &[R::Key]) -> Result<Vec<Option<R>>, StoreError>;

    /// For each of `keys`, the records of type `R` whose `index` key equals it, in index
    /// order: one snapshot, one round trip, however many keys.
    async fn by_index_each<R: Record, K: Serialize>(
        &self,
        index: &str,
        keys: &[K],
    ) -> Result<Vec<Vec<R>>, StoreError>;

    /// Every record of type `R`, in primary-key order.
    async fn all<R: Record>(&self) -> Result<Vec<R>, StoreError>;

    /// Records of type `R` whose `index` key lies in `[lower, upper]`, in index order, at
    /// most `limit` of them. Pass the same bound twice for an exact match.
    async fn by_index<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError>;

    /// The last `limit` records of type `R` whose `index` key lies in `[lower, upper]`,
    /// newest (highest key) first.
    async fn by_index_newest_first<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: u32,
    ) -> Result<Vec<R>, StoreError>;

    /// Records of type `R` from primary key `from` on, in key order, at most `limit`.
    async fn starting_at<R: Record>(
        &self,
        from: &R::Key,
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError>;

    /// Writes every change in one transaction: all of them are committed, or (on any
    /// failure, or a check that no longer holds: [`StoreError::Conflict`]) none.
    async fn save(&self, changes: Changes) -> Result<(), StoreError>;
}
