//! Which object store holds each engine record.

use serde::{Serialize, de::DeserializeOwned};

use super::schema::store_names;
use crate::engine::{
    ConversationRecord, InboundPayloadRecord, InboxCursorRecord, InstallationRecord, MessageRecord,
    MetaRecord, OutboundPayloadRecord, OwnInstallationRecord, SessionRecord, UserRecord,
};

/// A record type and the object store that holds it.
pub trait Record: Serialize + DeserializeOwned {
    /// The object store's name.
    const STORE: &'static str;
    /// The primary key's type.
    type Key: Serialize;
}

macro_rules! record {
    ($($row:ty => $store:ident, $key:ty;)*) => {$(
        impl Record for $row {
            const STORE: &'static str = store_names::$store;
            type Key = $key;
        }
    )*};
}

record! {
    MetaRecord => META, String;
    OwnInstallationRecord => META, String;
    InboxCursorRecord => META, String;
    UserRecord => USERS, String;
    InstallationRecord => INSTALLATIONS, String;
    SessionRecord => SESSIONS, String;
    ConversationRecord => CONVERSATIONS, String;
    MessageRecord => MESSAGES, String;
    OutboundPayloadRecord => OUTBOUND_PAYLOADS, u64;
    InboundPayloadRecord => INBOUND_PAYLOADS, String;
}
