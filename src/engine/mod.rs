//! The state machine, sans-IO.
//!
//! The engine takes records in and returns records to write plus requests to send; it never
//! touches IndexedDB or the network, so all of its logic runs natively under `cargo test`.
//! `store/` persists what it returns, `net/` carries what it asks for, and `client.rs` wires
//! the two together.
//!
//! For now it holds the states every record carries (see [`states`]); the processors of the
//! sending and receiving issues grow here.

mod states;

pub use states::{
    ConversationState, InboundPayloadState, InstallationState, MessageState, OutboundPayloadState,
};
