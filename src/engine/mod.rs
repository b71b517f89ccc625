//! The state machine, sans-IO.
//!
//! The engine takes records in and returns records to write plus requests to send; it never
//! touches IndexedDB or the network, so all of its logic runs natively under `cargo test`.
//! `store/` persists what it returns, `net/` carries what it asks for, and `client.rs` wires
//! the two together.
//!
//! It holds the records and the states they carry; the processors grow here.

mod delivery;
mod records;
mod refresh;
mod send;
mod states;

pub use delivery::{
    DeliveryUpdate, MAX_ATTEMPTS, QueueError, cancel, on_publish_failed, on_published, retry,
};
pub use records::{
    ConversationRecord, InboundPayloadRecord, InstallationRecord, MessageRecord, MetaRecord,
    OWN_INSTALLATION, OutboundPayloadRecord, OwnInstallationRecord, SessionRecord, UserRecord,
};
pub use refresh::{RefreshPlan, RejectedEntry, needs_refresh, plan_refresh};
pub use send::{Recipient, SendError, SendStep, SessionUpdate, conversation_id, plan_send};
pub use states::{
    ConversationState, InboundPayloadState, InstallationState, MessageState, OutboundPayloadState,
};
