//! [`Record`]: which object store holds each engine record, and its primary key.

use serde::Serialize;

use super::schema::store_names;
#[cfg(target_arch = "wasm32")]
use super::{at_rest::WrappedPickleKey, records::Field};
use crate::engine::{
    ConversationRecord, InboundPayloadRecord, InboxCursorRecord, InstallationRecord, MessageRecord,
    MetaRecord, OutboundPayloadRecord, OwnInstallationRecord, SessionRecord, UserRecord,
};

/// How a record becomes a stored value: in the browser the plain JS object of `records`;
/// natively (the in-memory store) serde's JSON form, which has the same field names.
#[cfg(target_arch = "wasm32")]
pub trait Codec: Field {}
#[cfg(target_arch = "wasm32")]
impl<T: Field> Codec for T {}

/// How a record becomes a stored value (see the browser's definition).
#[cfg(not(target_arch = "wasm32"))]
pub trait Codec: Serialize + serde::de::DeserializeOwned {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Serialize + serde::de::DeserializeOwned> Codec for T {}

/// A record type and the object store that holds it.
pub trait Record: Codec {
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

#[cfg(target_arch = "wasm32")]
record! {
    WrappedPickleKey => META, String;
}
