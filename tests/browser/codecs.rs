//! The hand-written codecs where they run: records to and from JS objects (`store/records.rs`),
//! and serde through JS values (`from_js.rs`, `to_js.rs`) for the options, the network JSON
//! and the Olm pickles, each compared with serde_json on the same values; and a database of
//! schema version 1 opened by this version.

use std::fmt::Debug;

use base64::Engine as _;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, aead::Aead};
use e2ee_sdk::{
    Client,
    codecs_for_tests::{from_js, to_js_json, to_js_plain},
    crypto::{Installation, OlmCiphertext, OlmSession, PickleKey},
    engine::{
        ConversationRecord, ConversationState, INBOX_CURSOR, InboundFailure, InboundPayloadRecord,
        InboundPayloadState, InboxCursorRecord, InstallationRecord, InstallationState,
        MessageRecord, MessageState, MetaRecord, OWN_INSTALLATION, OutboundPayloadRecord,
        OutboundPayloadState, OwnInstallationRecord, RejectedEntry, SessionRecord, UserRecord,
    },
    net::{
        BatchQueryRequest, BatchQueryResponse, Cursor, Envelope, IndexCursor, NodeClient,
        NodeErrorBody, PagingInfo, QueryRequest, QueryResponse, SortDirection, StreamLine,
        SubscribeRequest,
    },
    store::{
        Changes, Field, IdbStore, Record, SCHEMA_VERSION, Store, WRAPPED_PICKLE_KEY,
        WrappedPickleKey, index, store_names,
    },
    wire::Topic,
};
use js_sys::{Array, JSON, Object, Reflect, Uint8Array};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use vodozemac::olm::{Account, AccountPickle, OlmMessage, SessionConfig, SessionPickle};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{devnode_url, unique};

/// The largest integer a JS number holds exactly, 2^53 - 1.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// A JS value as JSON. A `Uint8Array` is an array of its bytes, or `{"Uint8Array": [...]}`
/// when `tag_bytes` (to tell it from an array of numbers). Numbers must be safe integers, and
/// `undefined` must not occur: records hold neither floats nor `undefined`.
fn json_of(value: &JsValue, tag_bytes: bool) -> Value {
    if value.is_null() {
        Value::Null
    } else if value.is_undefined() {
        panic!("`undefined` in a written value");
    } else if let Some(b) = value.as_bool() {
        Value::Bool(b)
    } else if let Some(s) = value.as_string() {
        Value::String(s)
    } else if let Some(n) = value.as_f64() {
        assert!(js_sys::Number::is_safe_integer(value), "{n} is not a safe integer");
        Value::from(n as i64)
    } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        let bytes = Value::from(bytes.to_vec());
        if tag_bytes { json!({ "Uint8Array": bytes }) } else { bytes }
    } else if Array::is_array(value) {
        Array::from(value).iter().map(|item| json_of(&item, tag_bytes)).collect()
    } else if value.is_object() {
        let mut object = serde_json::Map::new();
        for entry in Object::entries(value.unchecked_ref()).iter() {
            let entry: Array = entry.unchecked_into();
            object.insert(entry.get(0).as_string().unwrap(), json_of(&entry.get(1), tag_bytes));
        }
        Value::Object(object)
    } else {
        panic!("unexpected JS value {value:?}");
    }
}

/// A record (or field) through the hand-written converters, against serde on the same value:
/// - the object written is the JSON serde_json writes (bytes aside, which serde_json writes as
///   arrays of numbers and the store as `Uint8Array`);
/// - it is the very object serde's derive writes through `to_js` (what serde-wasm-bindgen
///   wrote, so rows written before and after the hand-written converters are alike), with
///   `Uint8Array` for bytes, `null` for `None`;
/// - it reads back as the original, by the hand-written reader and by serde's derive, and the
///   hand-written reader reads serde's object too.
fn check_field<T: Field + Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let written = value.to_js().unwrap();
    let serde_object = to_js_plain(value).unwrap();
    assert_eq!(json_of(&written, false), serde_json::to_value(value).unwrap(), "{value:?}");
    assert_eq!(json_of(&written, true), json_of(&serde_object, true), "{value:?}");
    assert_eq!(&T::from_js(written.clone()).unwrap(), value);
    assert_eq!(&from_js::<T>(written).unwrap(), value);
    assert_eq!(&T::from_js(serde_object).unwrap(), value);
}

pub(super) fn rejected() -> Vec<RejectedEntry> {
    vec![
        RejectedEntry {
            installation_id: Some("ab".repeat(16)),
            code: "KEY_MISMATCH".into(),
            reason: "the bundle's keys do not match its id".into(),
        },
        RejectedEntry { installation_id: None, code: "MALFORMED".into(), reason: String::new() },
    ]
}

pub(super) fn user(rejected: Vec<RejectedEntry>, fetched: Option<u64>) -> UserRecord {
    UserRecord {
        address: "0x00000000000000000000000000000000000000b0".into(),
        installations_fetched_at_ms: fetched,
        rejected,
        revoked: vec!["0123".into()],
    }
}

pub(super) fn installation(
    state: InstallationState,
    last_notice_at_ms: Option<u64>,
) -> InstallationRecord {
    InstallationRecord {
        id: "cd".repeat(16),
        address: "0xaaaa".into(),
        state,
        bundle: (0..=255).collect(),
        expires_at_ms: MAX_SAFE,
        last_notice_at_ms,
    }
}

pub(super) fn message(state: MessageState, failure: Option<&str>, content: &[u8]) -> MessageRecord {
    MessageRecord {
        id: format!("m-{}", state.name()),
        convo_id: "c1".into(),
        sender_address: "0xaaaa".into(),
        sent_at_ms: MAX_SAFE,
        state,
        content_type: "text/plain; charset=utf-8".into(),
        content: content.to_vec(),
        failure: failure.map(str::to_owned),
        resends: u32::MAX,
    }
}

pub(super) fn outbound(
    seq: Option<u64>,
    state: OutboundPayloadState,
    ids: &[&str],
) -> OutboundPayloadRecord {
    OutboundPayloadRecord {
        seq,
        installation_id: "i1".into(),
        message_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        state,
        payload: vec![0, 1, 2, 255],
        created_at_ms: MAX_SAFE,
        attempts: 7,
        last_error: seq.map(|_| "node refused: \"bad\"\n".into()),
        payload_hash: seq.map(|_| "ef".repeat(32)),
        session_id: seq.map(|_| "session ✓".into()),
        repairs: seq.map_or_else(Vec::new, |_| vec!["ab".repeat(32), "cd".repeat(32)]),
    }
}

pub(super) fn inbound(
    state: InboundPayloadState,
    failure: Option<InboundFailure>,
) -> InboundPayloadRecord {
    InboundPayloadRecord {
        hash: format!("{:064}", state.name().len() * 10 + failure.map_or(0, |f| f.name().len())),
        state,
        order: format!("{:020}", u64::MAX),
        received_at_ms: MAX_SAFE,
        payload: if failure.is_some() { Vec::new() } else { vec![9; 3] },
        sender_installation_id: failure.map(|f| f.name().to_lowercase()),
        failure,
        detail: failure.map(|f| format!("{f}")),
        notice_pending: failure.is_some(),
    }
}

pub(super) fn own_installation(published: bool) -> OwnInstallationRecord {
    OwnInstallationRecord {
        key: OWN_INSTALLATION.into(),
        id: "ef".repeat(16),
        address: "0xaaaa".into(),
        pickle: "c2VhbGVk".into(),
        bundle: Vec::new(),
        bundle_published: published,
        fallback_created_at_ms: 0,
        expires_at_ms: MAX_SAFE,
        revoked: !published,
    }
}

#[wasm_bindgen_test]
fn every_record_type_matches_serde() {
    check_field(&MetaRecord { key: "k".into(), value: vec![0; 32] });
    check_field(&MetaRecord { key: String::new(), value: Vec::new() });
    for entry in rejected() {
        check_field(&entry);
    }
    check_field(&user(rejected(), Some(MAX_SAFE)));
    check_field(&user(Vec::new(), None));
    check_field(&user(Vec::new(), Some(0)));
    for &state in InstallationState::ALL {
        check_field(&installation(state, Some(MAX_SAFE)));
        check_field(&installation(state, None));
    }
    check_field(&SessionRecord {
        installation_id: "i1".into(),
        version: u32::MAX,
        pickle: vec![7; 64],
        previous: vec![serde_bytes::ByteBuf::from(vec![1, 2, 3]), serde_bytes::ByteBuf::new()],
    });
    check_field(&SessionRecord {
        installation_id: "i1".into(),
        version: 0,
        pickle: Vec::new(),
        previous: Vec::new(),
    });
    for &state in ConversationState::ALL {
        check_field(&ConversationRecord {
            id: "c1".into(),
            peer_address: "0xbbbb".into(),
            state,
            created_at_ms: MAX_SAFE,
        });
    }
    for &state in MessageState::ALL {
        check_field(&message(state, Some("BAD_MAC: ünïcödé \u{1F512}"), b"hello"));
        check_field(&message(state, None, b""));
    }
    for &state in OutboundPayloadState::ALL {
        check_field(&outbound(Some(MAX_SAFE), state, &["m1", "m2"]));
        check_field(&outbound(None, state, &[]));
    }
    for &state in InboundPayloadState::ALL {
        check_field(&inbound(state, None));
        for &failure in InboundFailure::ALL {
            check_field(&inbound(state, Some(failure)));
        }
    }
    check_field(&InboxCursorRecord {
        key: INBOX_CURSOR.into(),
        digest: vec![0xaa; 32],
        sender_time_ns: u64::MAX.to_string(),
    });
    check_field(&InboxCursorRecord {
        key: INBOX_CURSOR.into(),
        digest: Vec::new(),
        sender_time_ns: "0".into(),
    });
    check_field(&own_installation(true));
    check_field(&own_installation(false));
}

/// `value` as a JS object, from JSON with the `bytes` properties as `Uint8Array`s.
fn object(value: Value, bytes: &[&str]) -> JsValue {
    let object = JSON::parse(&value.to_string()).unwrap();
    for name in bytes {
        let array: Vec<u8> = serde_json::from_value(value[name].clone()).unwrap();
        Reflect::set(&object, &(*name).into(), &Uint8Array::from(&array[..])).unwrap();
    }
    object
}

fn set(object: &JsValue, name: &str, value: JsValue) -> JsValue {
    let copy = Object::assign(&Object::new(), object.unchecked_ref());
    Reflect::set(&copy, &name.into(), &value).unwrap();
    copy.into()
}

fn without(object: &JsValue, name: &str) -> JsValue {
    let copy = Object::assign(&Object::new(), object.unchecked_ref());
    Reflect::delete_property(&copy, &name.into()).unwrap();
    copy.into()
}

/// Both readers agree on what they refuse, and the hand-written one says why.
fn both_refuse<T: Field + DeserializeOwned + Debug>(object: JsValue, why: &str) {
    let reason = T::from_js(object.clone()).unwrap_err();
    assert!(reason.contains(why), "{reason:?} does not say {why:?}");
    assert!(from_js::<T>(object).is_err(), "serde's derive read it: {reason}");
}

#[wasm_bindgen_test]
fn stored_objects_that_do_not_fit_are_refused_or_defaulted_like_serde() {
    let message = message(MessageState::Sent, None, b"x");
    let stored = message.to_js().unwrap();
    both_refuse::<MessageRecord>(
        set(&stored, "state", "DELIVERED".into()),
        "unknown name `DELIVERED`",
    );
    both_refuse::<MessageRecord>(set(&stored, "state", "sent".into()), "`UNDECRYPTABLE`");
    both_refuse::<MessageRecord>(
        set(&stored, "state", 3.into()),
        "expected one of `UNINITIALIZED`",
    );
    both_refuse::<MessageRecord>(
        set(&stored, "sent_at_ms", (MAX_SAFE as f64 + 1.0).into()),
        "sent_at_ms",
    );
    both_refuse::<MessageRecord>(set(&stored, "sent_at_ms", (-1).into()), "sent_at_ms");
    both_refuse::<MessageRecord>(set(&stored, "sent_at_ms", 1.5.into()), "sent_at_ms");
    both_refuse::<MessageRecord>(set(&stored, "content", "aGk=".into()), "content");
    both_refuse::<MessageRecord>(
        set(&stored, "resends", (f64::from(u32::MAX) + 1.0).into()),
        "resends",
    );
    both_refuse::<MessageRecord>(without(&stored, "convo_id"), "missing field `convo_id`");
    both_refuse::<MessageRecord>("m1".into(), "an object");
    let inbound =
        inbound(InboundPayloadState::Failed, Some(InboundFailure::BadMac)).to_js().unwrap();
    both_refuse::<InboundPayloadRecord>(
        set(&inbound, "failure", "BAD_MACS".into()),
        "`BAD_NOTICE`",
    );

    // Fields marked `default` may be absent (rows older than the field), and read as defaults.
    let failed = MessageRecord { failure: Some("x".into()), resends: 2, ..message.clone() };
    let stored_failed = failed.to_js().unwrap();
    for (absent, expected) in [
        ("failure", MessageRecord { failure: None, ..failed.clone() }),
        ("resends", MessageRecord { resends: 0, ..failed.clone() }),
    ] {
        let old = without(&stored_failed, absent);
        assert_eq!(MessageRecord::from_js(old.clone()).unwrap(), expected);
        assert_eq!(from_js::<MessageRecord>(old).unwrap(), expected);
    }
    // An `ArrayBuffer` reads as bytes, as a `Uint8Array` does.
    let buffer = Uint8Array::from(&b"x"[..]).buffer();
    assert_eq!(MessageRecord::from_js(set(&stored, "content", buffer.into())).unwrap(), message);

    // What a JS number cannot hold is refused on the way in, not rounded.
    let huge = MessageRecord { sent_at_ms: MAX_SAFE + 1, ..message.clone() };
    assert!(huge.to_js().unwrap_err().contains("can't be represented as a JavaScript number"));
    assert!(to_js_plain(&huge).is_err());
}

/// Each record through `Store`: written, read back equal, and stored as the object written.
async fn stored_as_written<R: Record + PartialEq + Debug>(
    store: &IdbStore,
    db: &rexie::Rexie,
    key: &R::Key,
    record: &R,
) {
    let mut changes = Changes::new();
    changes.put(record).unwrap();
    store.save(changes).await.unwrap();
    assert_eq!(store.get::<R>(key).await.unwrap().as_ref(), Some(record));
    let tx = db.transaction(&[R::STORE], rexie::TransactionMode::ReadOnly).unwrap();
    let raw = tx.store(R::STORE).unwrap().get(to_js_plain(key).unwrap()).await.unwrap().unwrap();
    assert_eq!(json_of(&raw, true), json_of(&record.to_js().unwrap(), true));
}

#[wasm_bindgen_test]
async fn records_are_stored_as_the_objects_written() {
    let name = unique("codecs");
    let store = IdbStore::open(&name).await.unwrap();
    let raw = rexie::Rexie::builder(&name).build().await.unwrap();
    let meta = MetaRecord { key: "k".into(), value: vec![1, 2] };
    stored_as_written(&store, &raw, &meta.key, &meta).await;
    let user = user(rejected(), Some(MAX_SAFE));
    stored_as_written(&store, &raw, &user.address, &user).await;
    let installation = installation(InstallationState::SessionCreated, None);
    stored_as_written(&store, &raw, &installation.id, &installation).await;
    let session = SessionRecord {
        installation_id: "i1".into(),
        version: u32::MAX,
        pickle: Vec::new(),
        previous: Vec::new(),
    };
    stored_as_written(&store, &raw, &session.installation_id, &session).await;
    let conversation = ConversationRecord {
        id: "c1".into(),
        peer_address: "0xbbbb".into(),
        state: ConversationState::Invited,
        created_at_ms: 0,
    };
    stored_as_written(&store, &raw, &conversation.id, &conversation).await;
    let message = message(MessageState::Undecryptable, Some("x"), b"");
    stored_as_written(&store, &raw, &message.id, &message).await;
    let outbound = outbound(Some(MAX_SAFE), OutboundPayloadState::Failed, &["m1"]);
    stored_as_written(&store, &raw, &MAX_SAFE, &outbound).await;
    let inbound = inbound(InboundPayloadState::Rejected, Some(InboundFailure::Replay));
    stored_as_written(&store, &raw, &inbound.hash, &inbound).await;
    let cursor = InboxCursorRecord {
        key: INBOX_CURSOR.into(),
        digest: vec![3; 32],
        sender_time_ns: u64::MAX.to_string(),
    };
    stored_as_written(&store, &raw, &cursor.key, &cursor).await;
    let own = own_installation(true);
    stored_as_written(&store, &raw, &own.key, &own).await;

    // The wrapped pickle key holds a `CryptoKey`, which IndexedDB stores as the browser's own
    // object: it reads back as one, and still unwraps the key.
    let pickle_key = PickleKey::from_bytes([5; 32]);
    let wrapped = WrappedPickleKey::wrap(&pickle_key).await.unwrap();
    let mut changes = Changes::new();
    changes.put(&wrapped).unwrap();
    store.save(changes).await.unwrap();
    let read =
        store.get::<WrappedPickleKey>(&WRAPPED_PICKLE_KEY.to_owned()).await.unwrap().unwrap();
    assert_eq!((&read.key, &read.iv, &read.wrapped), (&wrapped.key, &wrapped.iv, &wrapped.wrapped));
    assert!(read.wrapping_key.is_instance_of::<web_sys::CryptoKey>());
    assert_eq!(read.unwrap_pickle_key().await.unwrap().as_bytes(), pickle_key.as_bytes());
    let object = wrapped.to_js().unwrap();
    assert!(Reflect::get(&object, &"iv".into()).unwrap().is_instance_of::<Uint8Array>());
    assert_eq!(
        json_of(&without(&object, "wrapping_key"), false),
        json!({
            "key": WRAPPED_PICKLE_KEY, "iv": wrapped.iv, "wrapped": wrapped.wrapped,
        })
    );
    raw.close();
    store.close();
}

/// `ClientOptions` as `Client.create` reads them with `from_js`, against serde_json reading
/// the same options as JSON; `pickleKey` is a `Uint8Array` in JS and an array in JSON.
fn read_options(options: &Value) -> (Result<Value, String>, Result<Value, String>) {
    let mut js = object(options.clone(), &[]);
    let key = options
        .get("pickleKey")
        .and_then(|key| serde_json::from_value::<Vec<u8>>(key.clone()).ok());
    if let Some(key) = key {
        js = set(&js, "pickleKey", Uint8Array::from(&key[..]).into());
    }
    let js = set(&js, "signer", Object::new().into());
    (Client::read_options_for_tests(js), Client::options_from_json_for_tests(&options.to_string()))
}

#[wasm_bindgen_test]
fn client_options_read_as_serde_json_reads_them() {
    let key: Vec<u8> = (0..32).collect();
    let minimal = json!({ "nodeUrl": "http://127.0.0.1:5555", "dbName": "app" });
    let read = Client::read_options_for_tests(object(minimal.clone(), &[])).unwrap();
    assert_eq!(
        read,
        json!({
            "nodeUrl": "http://127.0.0.1:5555", "dbName": "app", "refreshThresholdMs": null,
            "pickleKey": null, "requestTimeoutMs": null, "deleteSentPayloads": false,
        })
    );
    let accepted = [
        minimal.clone(),
        json!({
            "nodeUrl": "", "dbName": "ünïcödé", "refreshThresholdMs": MAX_SAFE,
            "pickleKey": key, "requestTimeoutMs": u32::MAX, "deleteSentPayloads": true,
        }),
        json!({
            "nodeUrl": "u", "dbName": "d", "refreshThresholdMs": 0, "pickleKey": [],
            "requestTimeoutMs": 0, "deleteSentPayloads": false, "unknownOption": [1, 2],
        }),
        json!({
            "nodeUrl": "u", "dbName": "d", "refreshThresholdMs": null, "pickleKey": null,
            "requestTimeoutMs": null,
        }),
    ];
    for options in &accepted {
        let (read, reference) = read_options(options);
        assert_eq!(read.unwrap(), reference.unwrap(), "{options}");
    }
    // `undefined` is as good as absent.
    let undefined = set(&object(minimal.clone(), &[]), "refreshThresholdMs", JsValue::UNDEFINED);
    assert_eq!(Client::read_options_for_tests(undefined).unwrap(), read);

    let refused = [
        json!({ "dbName": "app" }),
        json!({ "nodeUrl": 5, "dbName": "app" }),
        json!({ "nodeUrl": "u", "dbName": "d", "refreshThresholdMs": -1 }),
        json!({ "nodeUrl": "u", "dbName": "d", "refreshThresholdMs": 1.5 }),
        json!({ "nodeUrl": "u", "dbName": "d", "refreshThresholdMs": "60000" }),
        json!({ "nodeUrl": "u", "dbName": "d", "requestTimeoutMs": u64::from(u32::MAX) + 1 }),
        json!({ "nodeUrl": "u", "dbName": "d", "pickleKey": [256] }),
        json!({ "nodeUrl": "u", "dbName": "d", "deleteSentPayloads": "yes" }),
    ];
    for options in &refused {
        let (read, reference) = read_options(options);
        assert!(read.is_err() && reference.is_err(), "{options}: {read:?} {reference:?}");
    }
    // Where the two differ, by design: a JS number above 2^53 - 1 is not an exact integer, so
    // it is refused rather than rounded (serde_json reads the exact decimal); and a string is
    // not bytes (serde_json would take its UTF-8).
    for options in [
        json!({ "nodeUrl": "u", "dbName": "d", "refreshThresholdMs": MAX_SAFE + 1 }),
        json!({ "nodeUrl": "u", "dbName": "d", "pickleKey": "AAAA" }),
    ] {
        let (read, reference) = read_options(&options);
        assert!(read.is_err() && reference.is_ok(), "{options}: {read:?} {reference:?}");
    }
}

/// A network value both ways: the body `net` writes (`to_js` then `JSON.stringify`) is the
/// JSON serde_json writes, and serde_json's text reads back (`JSON.parse` then `from_js`) as
/// the value.
fn check_net<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let text: String = JSON::stringify(&to_js_json(value).unwrap()).unwrap().into();
    assert_eq!(text, serde_json::to_string(value).unwrap());
    let parsed = JSON::parse(&serde_json::to_string(value).unwrap()).unwrap();
    assert_eq!(&from_js::<T>(parsed).unwrap(), value);
}

/// An answer's text read by `net`'s path and by serde_json: the same value, or both refuse.
fn decode_both<T: DeserializeOwned + PartialEq + Debug>(text: &str) -> Option<T> {
    let ours = JSON::parse(text).map_err(|e| format!("{e:?}")).and_then(from_js::<T>);
    let reference = serde_json::from_str::<T>(text).map_err(|e| e.to_string());
    match (ours, reference) {
        (Ok(ours), Ok(reference)) => {
            assert_eq!(ours, reference, "{text}");
            Some(ours)
        }
        (Err(_), Err(_)) => None,
        (ours, reference) => panic!("{text}: net read {ours:?}, serde_json {reference:?}"),
    }
}

fn envelope(timestamp_ns: u64, message: &[u8]) -> Envelope {
    Envelope { content_topic: "/xmtp/0/m-x/proto".into(), timestamp_ns, message: message.to_vec() }
}

#[wasm_bindgen_test]
fn network_json_matches_serde_json() {
    let cursor = Cursor { index: IndexCursor { digest: vec![0xfb; 32], sender_time_ns: u64::MAX } };
    let paging =
        |direction| PagingInfo { limit: Some(u32::MAX), cursor: Some(cursor.clone()), direction };
    for value in [envelope(u64::MAX, &[0xff, 0xfe, 0]), envelope(0, &[])] {
        check_net(&value);
    }
    let requests = [
        QueryRequest::default(),
        QueryRequest {
            content_topics: vec!["/xmtp/0/a/proto".into(), "/xmtp/0/b/proto".into()],
            start_time_ns: Some(u64::MAX),
            end_time_ns: Some(0),
            paging_info: Some(paging(Some(SortDirection::Descending))),
        },
        QueryRequest { paging_info: Some(PagingInfo::default()), ..QueryRequest::default() },
    ];
    for request in &requests {
        check_net(request);
    }
    check_net(&BatchQueryRequest { requests: requests.to_vec() });
    check_net(&BatchQueryRequest { requests: Vec::new() });
    check_net(&SubscribeRequest { content_topics: vec!["/xmtp/0/a/proto".into()] });
    for direction in [None, Some(SortDirection::Unspecified), Some(SortDirection::Ascending)] {
        let response = QueryResponse {
            envelopes: vec![envelope(1, b"a")],
            paging_info: Some(paging(direction)),
        };
        check_net(&response);
        check_net(&BatchQueryResponse { responses: vec![response, QueryResponse::default()] });
    }
    check_net(&StreamLine { result: Some(envelope(5, b"hi")), error: None });
    check_net(&StreamLine {
        result: None,
        error: Some(NodeErrorBody { code: -14, message: "down".into() }),
    });

    // What nodes may send that this SDK never writes: numbers for `uint64`, URL-safe or
    // unpadded base64, absent lists, unknown fields; and what must be refused.
    let read: Envelope =
        decode_both(r#"{"contentTopic":"t","timestampNs":9007199254740991,"message":"-_8"}"#)
            .unwrap();
    assert_eq!((read.timestamp_ns, read.message), (MAX_SAFE, vec![0xfb, 0xff]));
    let read: Envelope =
        decode_both(r#"{"contentTopic":"t","timestampNs":"18446744073709551615","message":"aGk"}"#)
            .unwrap();
    assert_eq!((read.timestamp_ns, read.message), (u64::MAX, b"hi".to_vec()));
    assert_eq!(decode_both::<QueryResponse>("{}"), Some(QueryResponse::default()));
    assert_eq!(
        decode_both::<BatchQueryResponse>(r#"{"responses":[{}],"x":1}"#).unwrap().responses.len(),
        1
    );
    let line: StreamLine =
        decode_both(r#"{"error":{"code":14,"message":"down","details":[]}}"#).unwrap();
    assert_eq!(line.error, Some(NodeErrorBody { code: 14, message: "down".into() }));
    let paged: QueryResponse = decode_both(
        r#"{"envelopes":[],"pagingInfo":{"limit":100,"direction":"SORT_DIRECTION_ASCENDING","cursor":{"index":{"digest":"AA==","senderTimeNs":"7"}}}}"#,
    )
    .unwrap();
    assert_eq!(paged.next_cursor().unwrap().index.sender_time_ns, 7);
    for bad in [
        r#"{"contentTopic":"t","timestampNs":"-1","message":""}"#,
        r#"{"contentTopic":"t","timestampNs":1.5,"message":""}"#,
        r#"{"contentTopic":"t","timestampNs":-1,"message":""}"#,
        r#"{"contentTopic":"t","timestampNs":"1","message":"!!"}"#,
        r#"{"contentTopic":"t","timestampNs":"1","message":[1]}"#,
        r#"{"timestampNs":"1","message":""}"#,
        r#"[]"#,
        r#"null"#,
    ] {
        assert_eq!(decode_both::<Envelope>(bad), None, "{bad}");
    }
    assert_eq!(decode_both::<QueryResponse>(r#"{"pagingInfo":{"direction":"UP"}}"#), None);
}

#[wasm_bindgen_test]
async fn node_answers_read_as_serde_json_reads_them() {
    // Through `NodeClient` (net's own `json::encode`/`decode`) and, for the same query, the
    // raw answer read by serde_json.
    let node = NodeClient::new(devnode_url());
    let topic = format!("/xmtp/0/{}/proto", unique("codecs"));
    let sent: Vec<Envelope> = [(1, &b""[..]), (MAX_SAFE, b"\xff\x00"), (u64::MAX - 1, b"last")]
        .into_iter()
        .map(|(at, bytes)| Envelope { content_topic: topic.clone(), ..envelope(at, bytes) })
        .collect();
    node.publish(&sent).await.unwrap();
    let request = QueryRequest {
        content_topics: vec![topic.clone()],
        paging_info: Some(PagingInfo { limit: Some(2), ..PagingInfo::default() }),
        ..QueryRequest::default()
    };
    let through_net = node.query(&request).await.unwrap();
    let raw = gloo_net::http::Request::post(&format!("{}/message/v1/query", devnode_url()))
        .header("Content-Type", "application/json")
        .body(serde_json::to_string(&request).unwrap())
        .unwrap()
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(through_net, serde_json::from_str::<QueryResponse>(&raw).unwrap(), "{raw}");
    assert_eq!(through_net.envelopes, sent[..2]);
    assert!(through_net.next_cursor().is_some());
    let all = node.query_all(&[Topic::parse(&topic).unwrap()]).await.unwrap();
    assert_eq!(all, sent);
}

/// `json` sealed as the SDK seals pickles (nonce, ChaCha20-Poly1305, base64), here from
/// serde_json's text.
fn seal(json: &[u8], key: &PickleKey) -> String {
    let nonce = [3u8; 12];
    let sealed =
        ChaCha20Poly1305::new(key.as_bytes().into()).encrypt(&Nonce::from(nonce), json).unwrap();
    base64::engine::general_purpose::STANDARD.encode([&nonce[..], &sealed].concat())
}

/// The JSON text inside a pickle the SDK sealed.
fn open(sealed: &str, key: &PickleKey) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).unwrap();
    let (nonce, body) = bytes.split_first_chunk::<12>().unwrap();
    let json =
        ChaCha20Poly1305::new(key.as_bytes().into()).decrypt(&Nonce::from(*nonce), body).unwrap();
    String::from_utf8(json).unwrap()
}

/// A vodozemac pickle through the SDK: serde_json's text sealed, read by the SDK (`from_js`),
/// sealed again by it (`to_js`, `JSON.stringify`), and opened: the same text as serde_json
/// writes for the original.
fn check_pickle<P: Serialize, T>(
    pickle: &P,
    restore: impl Fn(&str, &PickleKey) -> T,
    reseal: impl Fn(&T, &PickleKey) -> String,
) -> T {
    let key = PickleKey::from_bytes([9; 32]);
    let expected = serde_json::to_string(pickle).unwrap();
    let direct: String = JSON::stringify(&to_js_json(pickle).unwrap()).unwrap().into();
    assert_eq!(direct, expected);
    let restored = restore(&seal(expected.as_bytes(), &key), &key);
    assert_eq!(open(&reseal(&restored, &key), &key), expected);
    restored
}

#[wasm_bindgen_test]
fn olm_pickles_match_serde_json() {
    let mut alice = Account::new();
    alice.generate_fallback_key();
    let mut bob = Account::new();
    bob.generate_fallback_key();
    let bob_fallback = bob.fallback_key().into_values().next().unwrap();
    let mut outbound = alice
        .create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), bob_fallback)
        .unwrap();
    let OlmMessage::PreKey(first) = outbound.encrypt(b"1").unwrap() else {
        panic!("a pre-key message")
    };
    let mut inbound = bob
        .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &first)
        .unwrap()
        .session;
    // A few turns, so that both sides have sending and receiving chains.
    for turn in 0..3 {
        let reply = inbound.encrypt(format!("reply {turn}")).unwrap();
        outbound.decrypt(&reply).unwrap();
        let next = outbound.encrypt(format!("next {turn}")).unwrap();
        inbound.decrypt(&next).unwrap();
    }
    let skipped = outbound.encrypt(b"skipped").unwrap();
    let later = outbound.encrypt(b"later").unwrap();
    inbound.decrypt(&later).unwrap();

    for account in [&alice, &bob] {
        let pickle: AccountPickle = account.pickle();
        let restored = check_pickle(
            &pickle,
            |sealed, key| Installation::from_encrypted_pickle(sealed, key).unwrap(),
            |installation, key| installation.to_encrypted_pickle(key).unwrap(),
        );
        assert_eq!(restored.identity_keys().curve25519, account.curve25519_key().to_base64());
    }
    for session in [&outbound, &inbound] {
        let pickle: SessionPickle = session.pickle();
        let restored = check_pickle(
            &pickle,
            |sealed, key| OlmSession::from_encrypted_pickle(sealed, key).unwrap(),
            |session, key| session.to_encrypted_pickle(key).unwrap(),
        );
        assert_eq!(restored.session_id(), session.session_id());
    }
    // The restored receiving side still opens the message it skipped.
    let mut restored = OlmSession::from_encrypted_pickle(
        &seal(
            serde_json::to_string(&inbound.pickle()).unwrap().as_bytes(),
            &PickleKey::from_bytes([1; 32]),
        ),
        &PickleKey::from_bytes([1; 32]),
    )
    .unwrap();
    let (message_type, ciphertext) = skipped.to_parts();
    let skipped = OlmCiphertext { message_type: message_type as u32, ciphertext };
    assert_eq!(restored.decrypt(&skipped).unwrap(), b"skipped");
}

/// The object stores and indexes of schema version 1 (before receiving: `inbound_payloads`
/// indexed by `state` alone, no `by_hash` on the outbound queue) or 2 (as today, with
/// `conversations.by_state`).
async fn create_version(name: &str, version: u32) -> rexie::Rexie {
    use rexie::{Index, ObjectStore};
    use store_names::*;
    let mut outbound = ObjectStore::new(OUTBOUND_PAYLOADS)
        .key_path("seq")
        .auto_increment(true)
        .add_index(Index::new("by_state", "state"))
        .add_index(Index::new("by_message", "message_ids").multi_entry(true));
    let mut inbound = ObjectStore::new(INBOUND_PAYLOADS).key_path("hash");
    if version == 1 {
        inbound = inbound.add_index(Index::new("by_state", "state"));
    } else {
        outbound = outbound.add_index(Index::new("by_hash", "payload_hash"));
        inbound = inbound.add_index(Index::new_array("by_state_order", ["state", "order"]));
    }
    rexie::Rexie::builder(name)
        .version(version)
        .add_object_store(ObjectStore::new(META).key_path("key"))
        .add_object_store(ObjectStore::new(USERS).key_path("address"))
        .add_object_store(
            ObjectStore::new(INSTALLATIONS)
                .key_path("id")
                .add_index(Index::new("by_address", "address")),
        )
        .add_object_store(ObjectStore::new(SESSIONS).key_path("installation_id"))
        .add_object_store(
            ObjectStore::new(CONVERSATIONS)
                .key_path("id")
                .add_index(Index::new("by_state", "state")),
        )
        .add_object_store(
            ObjectStore::new(MESSAGES)
                .key_path("id")
                .add_index(Index::new_array("by_state_time", ["state", "sent_at_ms"]))
                .add_index(Index::new_array("by_conversation_time", ["convo_id", "sent_at_ms"])),
        )
        .add_object_store(outbound)
        .add_object_store(inbound)
        .build()
        .await
        .unwrap()
}

async fn put_raw(db: &rexie::Rexie, store: &str, objects: &[JsValue]) {
    let tx = db.transaction(&[store], rexie::TransactionMode::ReadWrite).unwrap();
    let object_store = tx.store(store).unwrap();
    for object in objects {
        object_store.put(object, None).await.unwrap();
    }
    tx.done().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_version_1_database_opens_with_every_record() {
    an_old_database_opens_with_every_record(1).await;
}

#[wasm_bindgen_test]
async fn a_version_2_database_opens_with_every_record() {
    an_old_database_opens_with_every_record(2).await;
}

async fn an_old_database_opens_with_every_record(version: u32) {
    let name = unique("old");
    let old = create_version(&name, version).await;
    assert_eq!(old.version().unwrap(), version);
    // Rows as version 1 wrote them (serde-wasm-bindgen over its records): without the fields
    // added since (`last_notice_at_ms`, `resends`, `session_id`), `rejected` entries in
    // camelCase.
    let address = "0x00000000000000000000000000000000000000b0";
    put_raw(
        &old,
        store_names::META,
        &[
            object(json!({ "key": "eviction", "value": [1, 2, 3] }), &["value"]),
            object(
                json!({
                    "key": OWN_INSTALLATION, "id": "own", "address": address, "pickle": "c2VhbGVk",
                    "bundle": [4, 5], "bundle_published": true, "fallback_created_at_ms": MAX_SAFE,
                    "expires_at_ms": 1_800_000_000_000u64, "revoked": false,
                }),
                &["bundle"],
            ),
        ],
    )
    .await;
    put_raw(&old, store_names::USERS, &[object(json!({
        "address": address, "installations_fetched_at_ms": 1_700_000_000_000u64,
        "rejected": [{ "installationId": "i9", "code": "BUNDLE_EXPIRED", "reason": "expired" },
                     { "installationId": null, "code": "MALFORMED", "reason": "" }],
    }), &[])])
    .await;
    put_raw(
        &old,
        store_names::INSTALLATIONS,
        &[object(
            json!({
                "id": "i1", "address": address, "state": "SESSION_CREATED", "bundle": [6],
                "expires_at_ms": MAX_SAFE,
            }),
            &["bundle"],
        )],
    )
    .await;
    put_raw(
        &old,
        store_names::SESSIONS,
        &[object(json!({ "installation_id": "i1", "version": 3, "pickle": [7, 8] }), &["pickle"])],
    )
    .await;
    put_raw(
        &old,
        store_names::CONVERSATIONS,
        &[object(
            json!({ "id": "c1", "peer_address": address, "state": "INVITED", "created_at_ms": 5 }),
            &[],
        )],
    )
    .await;
    let message = |id: &str, state: &str, at: u64| {
        object(
            json!({
                "id": id, "convo_id": "c1", "sender_address": address, "sent_at_ms": at,
                "state": state, "content_type": "text/plain", "content": [104, 105], "failure": null,
            }),
            &["content"],
        )
    };
    put_raw(
        &old,
        store_names::MESSAGES,
        &[
            message("m2", "UNINITIALIZED", 20),
            message("m1", "UNINITIALIZED", 10),
            message("m0", "SENT", 5),
        ],
    )
    .await;
    let queued = |state: &str| {
        object(
            json!({
                "installation_id": "i1", "message_ids": ["m1", "m2"], "state": state, "payload": [9],
                "created_at_ms": 10, "attempts": 2, "last_error": "timeout", "payload_hash": null,
            }),
            &["payload"],
        )
    };
    put_raw(&old, store_names::OUTBOUND_PAYLOADS, &[queued("SENT"), queued("UNINITIALIZED")]).await;
    // Version 1 wrote no inbound payloads (receiving came with version 2), but its store
    // existed: rows in today's shape, to see the new index built over them.
    let received = |hash: &str, state: InboundPayloadState, ns: u64| InboundPayloadRecord {
        hash: hash.into(),
        state,
        order: format!("{ns:020}"),
        received_at_ms: 1,
        payload: vec![1],
        sender_installation_id: None,
        failure: None,
        detail: None,
        notice_pending: false,
    };
    let inbound = [
        received("h3", InboundPayloadState::Received, 30),
        received("h1", InboundPayloadState::Received, 10),
        received("h2", InboundPayloadState::Processed, 20),
        received("h4", InboundPayloadState::Received, u64::MAX),
    ];
    put_raw(
        &old,
        store_names::INBOUND_PAYLOADS,
        &inbound.iter().map(|p| p.to_js().unwrap()).collect::<Vec<_>>(),
    )
    .await;
    old.close();

    let store = IdbStore::open(&name).await.unwrap();
    assert_eq!(store.version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.get::<MetaRecord>(&"eviction".into()).await.unwrap().unwrap().value,
        [1, 2, 3]
    );
    let own = store.get::<OwnInstallationRecord>(&OWN_INSTALLATION.into()).await.unwrap().unwrap();
    assert_eq!(
        (own.id.as_str(), own.bundle, own.fallback_created_at_ms),
        ("own", vec![4, 5], MAX_SAFE)
    );
    let user = store.get::<UserRecord>(&address.to_owned()).await.unwrap().unwrap();
    assert_eq!(
        user.rejected.iter().map(|r| r.installation_id.as_deref()).collect::<Vec<_>>(),
        [Some("i9"), None]
    );
    assert_eq!(user.installations_fetched_at_ms, Some(1_700_000_000_000));
    let installation = store.get::<InstallationRecord>(&"i1".into()).await.unwrap().unwrap();
    assert_eq!(
        (installation.state, installation.last_notice_at_ms),
        (InstallationState::SessionCreated, None)
    );
    assert_eq!(store.get::<SessionRecord>(&"i1".into()).await.unwrap().unwrap().pickle, [7, 8]);
    let conversation = store.get::<ConversationRecord>(&"c1".into()).await.unwrap().unwrap();
    assert_eq!(conversation.state, ConversationState::Invited);
    let messages = store.all::<MessageRecord>().await.unwrap();
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m.resends == 0 && m.content == b"hi" && m.failure.is_none()));
    let queue = store.all::<OutboundPayloadRecord>().await.unwrap();
    let queue: Vec<_> =
        queue.iter().map(|p| (p.seq, p.state, p.session_id.clone(), p.attempts)).collect();
    assert_eq!(
        queue,
        [
            (Some(1), OutboundPayloadState::Sent, None, 2),
            (Some(2), OutboundPayloadState::Uninitialized, None, 2)
        ]
    );

    // Version 1's indexes still answer, and version 2's new ones are built over the old rows.
    let pending: Vec<String> = store
        .by_index::<MessageRecord>(
            index::MESSAGES_BY_STATE_TIME,
            &(MessageState::Uninitialized, 0),
            &(MessageState::Uninitialized, MAX_SAFE),
            None,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(pending, ["m1", "m2"]);
    let to_process: Vec<String> = store
        .by_index::<InboundPayloadRecord>(
            index::INBOUND_BY_STATE_ORDER,
            &(InboundPayloadState::Received, ""),
            &(InboundPayloadState::Received, "~"),
            None,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.hash)
        .collect();
    assert_eq!(to_process, ["h1", "h3", "h4"]);
    assert_eq!(store.all::<InboundPayloadRecord>().await.unwrap().len(), inbound.len());
    store.close();

    // The upgrade replaced version 1's `inbound_payloads` index, added `by_hash` and dropped
    // `conversations.by_state`.
    let v2 = rexie::Rexie::builder(&name).build().await.unwrap();
    let tx = v2
        .transaction(
            &[
                store_names::INBOUND_PAYLOADS,
                store_names::OUTBOUND_PAYLOADS,
                store_names::CONVERSATIONS,
            ],
            rexie::TransactionMode::ReadOnly,
        )
        .unwrap();
    assert!(tx.store(store_names::CONVERSATIONS).unwrap().index_names().is_empty());
    assert_eq!(
        tx.store(store_names::INBOUND_PAYLOADS).unwrap().index_names(),
        [index::INBOUND_BY_STATE_ORDER]
    );
    let mut outbound = tx.store(store_names::OUTBOUND_PAYLOADS).unwrap().index_names();
    outbound.sort();
    assert_eq!(
        outbound,
        [index::OUTBOUND_BY_HASH, index::OUTBOUND_BY_MESSAGE, index::OUTBOUND_BY_STATE]
    );
    drop(tx);
    v2.close();
}
