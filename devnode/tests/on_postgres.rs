//! The API suite (`api/`) on the PostgreSQL store.
//! Needs the PostgreSQL 15 server binaries (see `common/postgres.rs`).

mod api;
mod common;
