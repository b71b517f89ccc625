//! The database layout: every object store and index, created by one upgrade from one
//! version number.
//!
//! To change the schema, bump [`SCHEMA_VERSION`] and describe the new layout here: the
//! upgrade (idb's builder, run in `onupgradeneeded`) creates the stores and indexes that are
//! missing and deletes those no longer listed. It moves no data: a changed key path needs a
//! new store and a copy step written here. A database written by a newer
//! version of the SDK refuses to open ([`super::StoreError::NewerSchema`]) rather than being
//! misread.

/// The schema version, which is the IndexedDB database version.
pub const SCHEMA_VERSION: u32 = 3;

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

// Read by the IndexedDB upgrade and the tests' in-memory store; natively outside tests, by
// nothing.
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
mod spec {
    use super::{index, store_names};

    /// An object store: its name, primary key path, whether keys are generated, its indexes.
    #[derive(Debug)]
    pub(crate) struct StoreSpec {
        pub(crate) name: &'static str,
        pub(crate) key_path: &'static str,
        pub(crate) auto_increment: bool,
        pub(crate) indexes: &'static [IndexSpec],
    }

    /// An index: its name, the fields it is on (one, or several compared in order) and whether an
    /// array field indexes each of its elements.
    #[derive(Debug)]
    pub(crate) struct IndexSpec {
        pub(crate) name: &'static str,
        pub(crate) key_path: &'static [&'static str],
        pub(crate) multi_entry: bool,
    }

    const fn index(name: &'static str, key_path: &'static [&'static str]) -> IndexSpec {
        IndexSpec { name, key_path, multi_entry: false }
    }

    /// The layout, read by the IndexedDB upgrade and by the in-memory store alike.
    pub(crate) const STORES: &[StoreSpec] = {
        use store_names::*;
        &[
            StoreSpec { name: META, key_path: "key", auto_increment: false, indexes: &[] },
            StoreSpec { name: USERS, key_path: "address", auto_increment: false, indexes: &[] },
            StoreSpec {
                name: INSTALLATIONS,
                key_path: "id",
                auto_increment: false,
                indexes: &[index(index::INSTALLATIONS_BY_ADDRESS, &["address"])],
            },
            StoreSpec {
                name: SESSIONS,
                key_path: "installation_id",
                auto_increment: false,
                indexes: &[],
            },
            StoreSpec {
                name: CONVERSATIONS,
                key_path: "id",
                auto_increment: false,
                // (Versions 1 and 2 had a `by_state` index nothing queried.)
                indexes: &[],
            },
            StoreSpec {
                name: MESSAGES,
                key_path: "id",
                auto_increment: false,
                indexes: &[
                    index(index::MESSAGES_BY_STATE_TIME, &["state", "sent_at_ms"]),
                    index(index::MESSAGES_BY_CONVERSATION_TIME, &["convo_id", "sent_at_ms"]),
                ],
            },
            StoreSpec {
                name: OUTBOUND_PAYLOADS,
                key_path: "seq",
                auto_increment: true,
                indexes: &[
                    index(index::OUTBOUND_BY_STATE, &["state"]),
                    IndexSpec {
                        name: index::OUTBOUND_BY_MESSAGE,
                        key_path: &["message_ids"],
                        multi_entry: true,
                    },
                    index(index::OUTBOUND_BY_HASH, &["payload_hash"]),
                ],
            },
            StoreSpec {
                name: INBOUND_PAYLOADS,
                key_path: "hash",
                auto_increment: false,
                indexes: &[index(index::INBOUND_BY_STATE_ORDER, &["state", "order"])],
            },
        ]
    };
}
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(unused_imports))]
pub(crate) use spec::STORES;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) use spec::StoreSpec;

/// The builder that opens (and if needed creates or upgrades) the database `name`.
#[cfg(target_arch = "wasm32")]
pub(super) fn builder(name: &str) -> super::builder::DatabaseBuilder {
    use super::builder::{DatabaseBuilder, Index, ObjectStore};
    let mut builder = DatabaseBuilder::new(name).version(SCHEMA_VERSION);
    for spec in STORES {
        let mut store = ObjectStore::new(spec.name).key_path(spec.key_path);
        if spec.auto_increment {
            store = store.auto_increment(true);
        }
        for index in spec.indexes {
            store = store.add_index(match index.key_path {
                [single] if index.multi_entry => Index::new(index.name, single).multi_entry(true),
                [single] => Index::new(index.name, single),
                several => Index::new_array(index.name, several.iter().copied()),
            });
        }
        builder = builder.add_object_store(store);
    }
    builder
}
