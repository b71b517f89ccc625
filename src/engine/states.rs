//! The explicit states stored on each record.
//!
//! Each is stored by name (`"UNINITIALIZED"`, `"SESSION_CREATED"`, ...) so the database stays
//! readable in the browser's devtools and a renamed Rust variant cannot silently reinterpret
//! old rows: an unknown name fails to decode instead.

use serde::{Deserialize, Serialize};

/// Where a conversation is in the seed's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConversationState {
    /// Created locally; no invite has been committed yet, so the next message carries one.
    Uninitialized,
    /// An invite has been committed (or received): later messages go as plain messages.
    Invited,
}

/// What this installation knows of another installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstallationState {
    /// Its verified bundle is stored, but no Olm session exists with it yet.
    Uninitialized,
    /// An Olm session with it is stored.
    SessionCreated,
}

/// Life of a message this installation sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageState {
    /// Durably stored; not yet encrypted for the recipients' installations.
    Uninitialized,
    /// Encrypted: every outbound payload for it is queued in the same transaction.
    Committed,
    /// Every outbound payload for it has been acknowledged by the node.
    Sent,
    /// Gave up (for example a payload exhausted its retries); the record keeps the reason.
    Failed,
    /// Received from another installation.
    Received,
    /// Stands for a payload from this sender that could not be decrypted; the sender was
    /// asked to re-send, and the message it re-sends replaces this marker.
    Undecryptable,
}

/// Life of one encrypted payload in the outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundPayloadState {
    /// Queued for publishing, in sequential-id order.
    Uninitialized,
    /// Acknowledged by the node.
    Sent,
    /// Exhausted its retries; reported to the app rather than blocking the queue.
    Failed,
}

/// Life of one payload pulled from this installation's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InboundPayloadState {
    /// Stored raw, before processing, so a reload resumes it.
    Received,
    /// Decrypted and its results stored.
    Processed,
    /// Could not be decrypted; the record keeps the reason, and the sender was asked to
    /// re-send.
    Failed,
    /// Refused (malformed, unknown or forged sender, a replay...); the record keeps the
    /// reason. Nothing is asked of the sender.
    Rejected,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn json<T: Serialize>(state: T) -> String {
        serde_json::to_string(&state).unwrap()
    }

    #[test]
    fn states_are_stored_by_name() {
        assert_eq!(json(InstallationState::SessionCreated), "\"SESSION_CREATED\"");
        assert_eq!(json(MessageState::Uninitialized), "\"UNINITIALIZED\"");
        assert_eq!(json(OutboundPayloadState::Sent), "\"SENT\"");
        assert_eq!(json(InboundPayloadState::Processed), "\"PROCESSED\"");
        assert_eq!(json(ConversationState::Invited), "\"INVITED\"");
        for failure in
            [super::super::InboundFailure::BadMac, super::super::InboundFailure::UnknownSession]
        {
            assert_eq!(json(failure), format!("\"{}\"", failure.code()), "stored as its code");
        }
    }

    #[test]
    fn unknown_state_names_fail_to_decode() {
        assert!(serde_json::from_str::<MessageState>("\"DELIVERED\"").is_err());
        let ok: MessageState = serde_json::from_str("\"COMMITTED\"").unwrap();
        assert_eq!(ok, MessageState::Committed);
    }
}
