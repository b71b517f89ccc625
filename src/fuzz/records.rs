//! Records read back from storage, and the state names inside them.
//!
//! Natively the in-memory store keeps records as JSON values and reads them with serde (what
//! is fuzzed here: the records' `Deserialize`, states by name, bytes, defaults). In the
//! browser `store/records.rs` reads them from JS objects field by field; that walk over JS
//! values runs only there (`tests/browser/codecs.rs` compares it with serde's).

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::{bounded, check, fuzz, inputs};
use crate::engine::{
    ConversationRecord, ConversationState, InboundFailure, InboundPayloadRecord,
    InboundPayloadState, InboxCursorRecord, InstallationRecord, InstallationState, MessageRecord,
    MessageState, MetaRecord, Named, OutboundPayloadRecord, OutboundPayloadState,
    OwnInstallationRecord, RejectedEntry, SessionRecord, UserRecord,
};
use crate::fuzz_names::RECORD_NAMES;

/// Reads JSON values as `R` the way the in-memory store does; a record read must read back
/// the same once written out.
fn fuzz_record<R>(name: &str, valid: &[R])
where
    R: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let valid: Vec<Value> = valid.iter().filter_map(|r| serde_json::to_value(r).ok()).collect();
    fuzz(name, inputs::json_from(valid, RECORD_NAMES), |value| {
        let size = value.to_string().len();
        let Ok(record) = bounded(size, || serde_json::from_value::<R>(value))? else {
            return Ok(false);
        };
        let again = serde_json::to_value(&record).map(serde_json::from_value::<R>);
        check(matches!(&again, Ok(Ok(r)) if *r == record), || {
            format!("{record:?} reads back as {again:?}")
        })?;
        Ok(true)
    });
}

const ADDRESS: &str = "0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a";
const AT: u64 = 1_764_000_000_000;

#[test]
fn record_meta() {
    fuzz_record("record_meta", &[MetaRecord { key: "pickle_key".into(), value: vec![1, 2, 255] }]);
}

#[test]
fn record_user() {
    let rejected = RejectedEntry {
        installation_id: Some("a1".into()),
        code: "EXPIRED".into(),
        reason: "r".into(),
    };
    fuzz_record(
        "record_user",
        &[
            UserRecord {
                address: ADDRESS.into(),
                installations_fetched_at_ms: Some(AT),
                rejected: vec![rejected],
                revoked: vec!["b2".into()],
            },
            UserRecord {
                address: ADDRESS.into(),
                installations_fetched_at_ms: None,
                rejected: Vec::new(),
                revoked: Vec::new(),
            },
        ],
    );
}

#[test]
fn record_installation() {
    fuzz_record(
        "record_installation",
        &[InstallationRecord {
            id: "a1".repeat(32),
            address: ADDRESS.into(),
            state: InstallationState::SessionCreated,
            bundle: vec![10, 3, 1, 2, 3],
            expires_at_ms: AT,
            last_notice_at_ms: Some(AT),
        }],
    );
}

#[test]
fn record_session() {
    fuzz_record(
        "record_session",
        &[SessionRecord {
            installation_id: "a1".repeat(32),
            version: 3,
            pickle: b"c2VhbGVk".to_vec(),
            previous: vec![serde_bytes::ByteBuf::from(b"b2xk".to_vec())],
        }],
    );
}

#[test]
fn record_conversation() {
    fuzz_record(
        "record_conversation",
        &[ConversationRecord {
            id: "c1".into(),
            peer_address: ADDRESS.into(),
            state: ConversationState::Invited,
            created_at_ms: AT,
        }],
    );
}

#[test]
fn record_message() {
    fuzz_record(
        "record_message",
        &[MessageRecord {
            id: "m1".into(),
            convo_id: "c1".into(),
            sender_address: ADDRESS.into(),
            sent_at_ms: AT,
            state: MessageState::Undecryptable,
            content_type: "text/plain".into(),
            content: b"hi".to_vec(),
            failure: Some("BAD_MAC: x".into()),
            resends: 1,
        }],
    );
}

#[test]
fn record_outbound_payload() {
    fuzz_record(
        "record_outbound_payload",
        &[OutboundPayloadRecord {
            seq: Some(7),
            installation_id: "a1".into(),
            message_ids: vec!["m1".into()],
            state: OutboundPayloadState::Failed,
            payload: vec![1, 2],
            created_at_ms: AT,
            attempts: 2,
            last_error: Some("503".into()),
            payload_hash: Some("f0".repeat(32)),
            session_id: Some("s1".into()),
            repairs: vec!["e0".repeat(32)],
        }],
    );
}

#[test]
fn record_inbound_payload() {
    fuzz_record(
        "record_inbound_payload",
        &[InboundPayloadRecord {
            hash: "f0".repeat(32),
            state: InboundPayloadState::Failed,
            order: format!("{:020}", AT * 1_000_000),
            received_at_ms: AT,
            payload: vec![10, 0],
            sender_installation_id: Some("a1".into()),
            failure: Some(InboundFailure::BadMac),
            detail: Some("d".into()),
            notice_pending: true,
        }],
    );
}

#[test]
fn record_inbox_cursor() {
    fuzz_record(
        "record_inbox_cursor",
        &[InboxCursorRecord {
            key: "inbox_cursor".into(),
            digest: vec![0xde, 0xad],
            sender_time_ns: "1764000000000000001".into(),
        }],
    );
}

#[test]
fn record_own_installation() {
    fuzz_record(
        "record_own_installation",
        &[OwnInstallationRecord {
            key: "own_installation".into(),
            id: "a1".repeat(32),
            address: ADDRESS.into(),
            pickle: "c2VhbGVk".into(),
            bundle: vec![10, 0],
            bundle_published: true,
            fallback_created_at_ms: AT,
            expires_at_ms: AT,
            revoked: false,
        }],
    );
}

/// Reads any string as each state table's name: a variant whose name it is, or none.
fn fuzz_names<T: Named + std::fmt::Debug + PartialEq>(name: &str) {
    let names: Vec<String> = T::NAMES.iter().map(|n| (*n).to_owned()).collect();
    fuzz(name, inputs::text_from(names), |text| {
        let read = bounded(text.len(), || T::from_name(&text))?;
        check(read.is_none_or(|v| v.name() == text), || format!("{text:?} read as {read:?}"))?;
        check(read.is_some() == T::NAMES.contains(&text.as_str()), || format!("{text:?} missed"))?;
        Ok(read.is_some())
    });
}

#[test]
fn state_names() {
    fuzz_names::<ConversationState>("names_conversation_state");
    fuzz_names::<InstallationState>("names_installation_state");
    fuzz_names::<MessageState>("names_message_state");
    fuzz_names::<OutboundPayloadState>("names_outbound_payload_state");
    fuzz_names::<InboundPayloadState>("names_inbound_payload_state");
    fuzz_names::<InboundFailure>("names_inbound_failure");
}
