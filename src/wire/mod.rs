//! Payload formats and topic names.
//!
//! Topic names live here, not in `net/`, because they are part of the protocol both sides
//! must agree on; `net/` only carries envelopes. Payloads are protobuf (prost): the contact
//! topic's bundles and revocations, and the inbox payloads (Olm messages carrying invites and
//! messages).

mod contact;
mod payload;
mod topic;

pub use contact::{
    BUNDLE_VERSION, ContactEntry, ContactEntryKind, InstallationBundle, MAX_CONTACT_ENTRY_BYTES,
    Revocation, SignedFallbackKey, fallback_signing_bytes, link_text, revocation_text,
};
pub use payload::{
    ChatMessage, DecryptionFailureNotice, InboxPayload, Invite, MAX_INBOX_PAYLOAD_BYTES, Plaintext,
    PlaintextKind, hex, payload_hash,
};
pub use topic::{TOPIC_PREFIX, Topic, TopicError};

/// The largest integer a JS number (and so a stored field) holds exactly: 2^53 − 1. Every
/// number read from the wire is checked against it before it can reach the store.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
