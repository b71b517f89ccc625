//! The state steps: each reads, goes to the network, computes with the engine in memory and
//! commits one transaction. They are siblings over the two interfaces, [`Store`] and
//! [`Node`], and share only their [`Context`]:
//!
//! - `identity`: open or create this installation, publish its bundle, revoke one;
//! - `queue`: a conversation, a queued message, a retry or a cancel (the app's calls);
//! - `encrypt`: queued messages encrypted for every installation, committed in groups;
//! - `deliver`: the outbound queue published in order;
//! - `pull`: the inbox stored from its cursor;
//! - `process`: stored payloads decrypted, one transaction each;
//! - `notice`: a peer's decryption-failure notice answered with a re-send;
//! - `processor`: one pass of all of them, as the browser's loop (`runner`) and the
//!   simulator run it.
//!
//! [`Store`]: crate::store::Store
//! [`Node`]: crate::net::Node

#[cfg(target_arch = "wasm32")]
pub(crate) mod browser_identity;
mod context;
mod deliver;
mod encrypt;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod hostile_contacts_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod hostile_payloads_tests;
pub(crate) mod identity;
mod notice;
/// A store and a node that log what a step asks of them, for the steps' tests.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod probes;
mod process;
pub(crate) mod processor;
mod pull;
pub(crate) mod queue;
#[cfg(target_arch = "wasm32")]
pub(crate) mod runner;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod test_devices;

pub(crate) use context::{Faults, Local, Pull};
#[cfg(target_arch = "wasm32")]
pub(crate) use context::{installations, parse_address};
