//! The database layout: every object store and index, created by one upgrade from one
//! version number.
//!
//! To change the schema, bump [`SCHEMA_VERSION`] and describe the new layout here: the
//! upgrade (idb's builder, run in `onupgradeneeded`) creates the stores and indexes that are
//! missing and deletes those no longer listed. It moves no data: a changed key path needs a
//! new store and a copy step written here. A database written by a newer
//! version of the SDK refuses to open ([`super::StoreError::NewerSchema`]) rather than being
//! misread.

use super::builder::{DatabaseBuilder, Index, ObjectStore};

/// The schema version, which is the IndexedDB database version.
pub const SCHEMA_VERSION: u32 = 2;

/// Object store names.
pub mod store_names {
    /// Small named values of this installation (its encrypted account, cursors).
    pub const META: &str = "meta";
    /// Accounts this installation has talked to, with when their installations were fetched.
    pub const USERS: &str = "users";
    /// Verified installations of those accounts.
    pub const INSTALLATIONS: &str = "installations";
    /// Encrypted Olm sessions, one per peer installation.
    pub const SESSIONS: &str = "sessions";
    /// Conversations, keyed by the id derived from the two addresses.
    pub const CONVERSATIONS: &str = "conversations";
    /// Messages sent and received.
    pub const MESSAGES: &str = "messages";
    /// The ordered queue of encrypted payloads to publish (auto-increment key).
    pub const OUTBOUND_PAYLOADS: &str = "outbound_payloads";
    /// Payloads pulled from this installation's inbox, keyed by their sha-256.
    pub const INBOUND_PAYLOADS: &str = "inbound_payloads";
}

/// Index names.
pub mod index {
    /// The largest number a key can hold exactly (2^53 - 1): the open end of a time range.
    pub const MAX_KEY_NUMBER: u64 = 9_007_199_254_740_991;

    /// `installations` by `address`.
    pub const INSTALLATIONS_BY_ADDRESS: &str = "by_address";
    /// `conversations` by `state`.
    pub const CONVERSATIONS_BY_STATE: &str = "by_state";
    /// `messages` by `[state, sent_at_ms]`: the processor's queue in timestamp order.
    pub const MESSAGES_BY_STATE_TIME: &str = "by_state_time";
    /// `messages` by `[convo_id, sent_at_ms]`: a conversation's history in order.
    pub const MESSAGES_BY_CONVERSATION_TIME: &str = "by_conversation_time";
    /// `outbound_payloads` by `state` (ties in key, so sequential-id, order).
    pub const OUTBOUND_BY_STATE: &str = "by_state";
    /// `outbound_payloads` by each id in `message_ids` (multi-entry).
    pub const OUTBOUND_BY_MESSAGE: &str = "by_message";
    /// `outbound_payloads` by `payload_hash`: the payload a decryption-failure notice names.
    pub const OUTBOUND_BY_HASH: &str = "by_hash";
    /// `inbound_payloads` by `[state, order]`: the `RECEIVED` ones in envelope order.
    /// (Version 1 had `by_state` on `state` alone.)
    pub const INBOUND_BY_STATE_ORDER: &str = "by_state_order";
}

/// The builder that opens (and if needed creates or upgrades) the database `name`.
pub(super) fn builder(name: &str) -> DatabaseBuilder {
    use store_names::*;
    DatabaseBuilder::new(name)
        .version(SCHEMA_VERSION)
        .add_object_store(ObjectStore::new(META).key_path("key"))
        .add_object_store(ObjectStore::new(USERS).key_path("address"))
        .add_object_store(
            ObjectStore::new(INSTALLATIONS)
                .key_path("id")
                .add_index(Index::new(index::INSTALLATIONS_BY_ADDRESS, "address")),
        )
        .add_object_store(ObjectStore::new(SESSIONS).key_path("installation_id"))
        .add_object_store(
            ObjectStore::new(CONVERSATIONS)
                .key_path("id")
                .add_index(Index::new(index::CONVERSATIONS_BY_STATE, "state")),
        )
        .add_object_store(
            ObjectStore::new(MESSAGES)
                .key_path("id")
                .add_index(Index::new_array(index::MESSAGES_BY_STATE_TIME, ["state", "sent_at_ms"]))
                .add_index(Index::new_array(
                    index::MESSAGES_BY_CONVERSATION_TIME,
                    ["convo_id", "sent_at_ms"],
                )),
        )
        .add_object_store(
            ObjectStore::new(OUTBOUND_PAYLOADS)
                .key_path("seq")
                .auto_increment(true)
                .add_index(Index::new(index::OUTBOUND_BY_STATE, "state"))
                .add_index(Index::new(index::OUTBOUND_BY_MESSAGE, "message_ids").multi_entry(true))
                .add_index(Index::new(index::OUTBOUND_BY_HASH, "payload_hash")),
        )
        .add_object_store(
            ObjectStore::new(INBOUND_PAYLOADS)
                .key_path("hash")
                .add_index(Index::new_array(index::INBOUND_BY_STATE_ORDER, ["state", "order"])),
        )
}
