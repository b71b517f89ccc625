//! The API suite (`api/`) on the in-memory store.

mod api;
mod common;
