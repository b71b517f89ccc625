//! The API suite again, on the JSON-lines file store: `common` picks the store from this
//! binary's crate name.
// Each suite file declares its own `mod common` so it also runs alone.
#![allow(clippy::duplicate_mod)]

#[path = "admin.rs"]
mod admin;
#[path = "faults.rs"]
mod faults;
#[path = "limits.rs"]
mod limits;
#[path = "message_api.rs"]
mod message_api;
#[path = "subscribe.rs"]
mod subscribe;
