//! devnode's API suite. It runs once per store, as the modules of one test binary per store
//! (`memory.rs`, `on_file.rs`, `on_postgres.rs`), whose crate name `common` reads to pick the
//! store: one copy of `common` (and one PostgreSQL cluster) per binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod faults;
mod limits;
mod message_api;
mod subscribe;
