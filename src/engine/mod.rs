//! The state machine, sans-IO.
//!
//! The engine takes records in and returns records to write plus requests to send; it never
//! touches IndexedDB or the network, so all of its logic runs natively under `cargo test`.
//! `store/` persists what it returns, `net/` carries what it asks for, and `client.rs` wires
//! the two together.
//!

mod delivery;
mod message_id;
mod receive;
mod records;
mod refresh;
mod send;
mod states;

pub use delivery::{DeliveryUpdate, QueueError, cancel, on_publish_failed, on_published, retry};
pub use message_id::{message_id, message_id_matches};
pub use receive::{
    FailureStep, MAX_NOTICES_AT_ONCE, NOTICE_INTERVAL_MS, Opened, PendingNotices, ReceiveStep,
    Rejection, SenderKeys, carried_message, marker_id, open_payload, parse_inbound,
    plan_decryption_failure, plan_pending_notices, plan_receive, processed, receivable,
    verify_notice, verify_payload,
};
pub use records::{
    ConversationRecord, INBOX_CURSOR, InboundPayloadRecord, InboxCursorRecord, InstallationRecord,
    MAX_PREVIOUS_SESSIONS, MessageRecord, MetaRecord, OWN_INSTALLATION, OutboundPayloadRecord,
    OwnInstallationRecord, SessionRecord, UserRecord,
};
pub use refresh::{
    MAX_INSTALLATIONS_PER_ACCOUNT, RefreshPlan, RejectedEntry, needs_refresh, plan_refresh,
};
pub use send::{
    MAX_RESENDS, Recipient, Resend, ResendStep, SendError, SendStep, SessionUpdate,
    conversation_id, plan_resend, plan_send,
};
pub(crate) use states::named;
pub use states::{
    ConversationState, InboundFailure, InboundPayloadState, InstallationState, MessageState, Named,
    OutboundPayloadState, deserialize_named, expected_names,
};
