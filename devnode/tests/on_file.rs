//! The API suite (`api/`) on the JSON-lines file store.

mod api;
mod common;
