//! An end-to-end encrypted 1:1 messaging SDK for the browser.
//!
//! Web apps use one JS class, [`Client`]. Messages are encrypted with Olm double-ratchet
//! sessions (vodozemac) to every installation of both participants, every state change is an
//! IndexedDB transaction, and the network is the XMTP message API v1 over `fetch`.
//!
//! The modules follow the architecture: [`engine`] is the pure state machine; [`store`]
//! (IndexedDB) and [`net`] (HTTP) are the only parts that touch the browser; [`crypto`] holds
//! the Olm accounts and sessions; [`wire`] the payload formats and topic names; and the
//! `Client` binding only translates between JS and Rust. Dependencies point inward: the
//! engine imports neither `store` nor `net`.

#[cfg(target_arch = "wasm32")]
mod client;
#[cfg(feature = "test-export")]
#[doc(hidden)]
pub mod codecs_for_tests;
mod collections;
pub mod crypto;
pub mod engine;
mod error;
mod from_js;
// The decoders' fuzz targets: native tests only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz;
#[cfg(any(test, feature = "test-export"))]
#[doc(hidden)]
pub mod fuzz_names;
mod js;
pub mod net;
// Natively the steps run only in the simulator's tests.
// Natively: the in-memory store and node are serde_json and native futures.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim;
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code, unused_imports))]
mod steps;
pub mod store;
#[cfg(target_arch = "wasm32")]
mod tabs;
mod to_js;
#[cfg(target_arch = "wasm32")]
mod wake;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub use client::{Client, ClientOptions, Conversation, MessageStream, version};
pub use error::{ErrorCode, SdkError};
