//! IndexedDB: the schema, typed records and one transaction per state step.
//!
//! Reads are plain getters. Writes are collected in a [`Changes`] value — every record is
//! serialised *before* the transaction opens — and [`Store::save`] puts and deletes them all
//! in one read-write transaction that commits everything or nothing. Nothing but IndexedDB is
//! awaited inside it (a fetch or timer would let the browser auto-commit half a step).

mod at_rest;
mod builder;
mod db;
mod error;
mod idb;
mod records;
mod schema;

pub use at_rest::{WRAPPED_PICKLE_KEY, WrappedPickleKey};
pub use db::{Changes, Store};
pub use error::StoreError;
/// How each record and field is stored, for the browser tests of the converters.
#[cfg(feature = "test-export")]
#[doc(hidden)]
pub use records::Field;
pub use records::Record;
pub use schema::{SCHEMA_VERSION, index, store_names};
