//! The decoders that read JS values, fuzzed where they run: the network's JSON after
//! `JSON.parse` (`from_js.rs`) and records read back from IndexedDB (`store/records.rs`), fed
//! random values and mutations of valid ones. Each must answer a value or an error, never
//! panic (a panic fails the test). The native targets (`src/fuzz/`) cover the same types'
//! serde side and every byte decoder; these cover the walks over JS values.
//!
//! `FUZZ_CASES` at build time sets the cases per target (default 300, the test command's
//! run); `FUZZ_SEED` the seed.

use e2ee_sdk::{
    codecs_for_tests::{from_js, to_js_json},
    engine::{
        ConversationRecord, ConversationState, InboundFailure, InboundPayloadState,
        InboxCursorRecord, InstallationRecord, InstallationState, MessageState, MetaRecord,
        OutboundPayloadState, SessionRecord,
    },
    net::{
        BatchQueryResponse, Cursor, Envelope, IndexCursor, NodeErrorBody, PagingInfo,
        QueryResponse, StreamLine,
    },
    store::Field,
};
use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use super::codecs::{inbound, installation, message, outbound, own_installation, rejected, user};

fn cases() -> u32 {
    option_env!("FUZZ_CASES").and_then(|n| n.parse().ok()).unwrap_or(300)
}

fn seed() -> u64 {
    option_env!("FUZZ_SEED").and_then(|n| n.parse().ok()).unwrap_or(0x5eed_f022)
}

/// xorshift64*: deterministic, so a failing case replays from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, name: &str) -> Self {
        let mixed = name.bytes().fold(seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Self(mixed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A real field or state name of the records or the API's JSON, so random objects hit real
/// fields.
fn random_name(rng: &mut Rng) -> &'static str {
    let (records, api) = (e2ee_sdk::fuzz_names::RECORD_NAMES, e2ee_sdk::fuzz_names::API_NAMES);
    let i = rng.below((records.len() + api.len()) as u64) as usize;
    records.get(i).copied().unwrap_or_else(|| api[i - records.len()])
}

fn random_number(rng: &mut Rng) -> f64 {
    let special = [
        0.0,
        -1.0,
        1.5,
        2f64.powi(53),
        2f64.powi(53) - 1.0,
        2f64.powi(64),
        f64::NAN,
        f64::INFINITY,
    ];
    match rng.below(3) {
        0 => special[rng.below(special.len() as u64) as usize],
        1 => rng.below(1000) as f64,
        _ => rng.next() as f64,
    }
}

fn random_text(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => random_name(rng).to_owned(),
        1 => rng.next().to_string(),
        2 => "99999999999999999999999999".to_owned(),
        3 => "AAAA/+==".chars().take(rng.below(9) as usize).collect(),
        _ => (0..rng.below(12)).map(|_| char::from(b' ' + rng.below(95) as u8)).collect(),
    }
}

fn random_value(rng: &mut Rng, depth: u32) -> JsValue {
    match rng.below(if depth > 3 { 7 } else { 9 }) {
        0 => JsValue::NULL,
        1 => JsValue::UNDEFINED,
        2 => JsValue::from_bool(rng.below(2) == 0),
        3 => JsValue::from_f64(random_number(rng)),
        4 => JsValue::from_str(&random_text(rng)),
        5 => {
            let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            Uint8Array::from(&bytes[..]).into()
        }
        6 => js_sys::BigInt::from(rng.next()).into(),
        7 => (0..rng.below(5)).map(|_| random_value(rng, depth + 1)).collect::<Array>().into(),
        _ => {
            let object = Object::new();
            for _ in 0..rng.below(8) {
                let name = random_name(rng);
                let _ = Reflect::set(&object, &name.into(), &random_value(rng, depth + 1));
            }
            object.into()
        }
    }
}

/// A copy of `value` with some parts replaced by random values or removed.
fn mutated(value: &JsValue, rng: &mut Rng, depth: u32) -> JsValue {
    if rng.below(8) == 0 {
        return random_value(rng, depth);
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        let copy: Array = array.iter().map(|v| mutated(&v, rng, depth + 1)).collect();
        if rng.below(6) == 0 {
            copy.push(&random_value(rng, depth + 1));
        }
        return copy.into();
    }
    if value.is_object() && !value.is_instance_of::<Uint8Array>() {
        let copy = Object::new();
        for pair in Object::entries(value.unchecked_ref()).iter() {
            let pair = Array::from(&pair);
            if rng.below(10) != 0 {
                let _ = Reflect::set(&copy, &pair.get(0), &mutated(&pair.get(1), rng, depth + 1));
            }
        }
        return copy.into();
    }
    value.clone()
}

/// Runs `decode` on `cases()` inputs: random values, and mutations of `valid`. Returns how
/// many decoded to a value (some must, or the valid inputs are not valid).
fn fuzz(name: &str, valid: &[JsValue], decode: impl Fn(JsValue) -> bool) {
    let mut rng = Rng::new(seed(), name);
    let mut decoded = 0;
    for case in 0..cases() {
        let input = match (case % 4, valid.len() as u64) {
            (0, _) | (_, 0) => random_value(&mut rng, 0),
            (1, n) => valid[rng.below(n) as usize].clone(),
            (_, n) => mutated(&valid[rng.below(n) as usize], &mut rng, 0),
        };
        decoded += u32::from(decode(input));
    }
    assert!(decoded > 0, "fuzz {name}: nothing decoded; are its valid inputs still valid?");
}

fn records<T: Field>(name: &str, valid: &[T]) {
    let valid: Vec<JsValue> = valid.iter().map(|r| r.to_js().unwrap()).collect();
    fuzz(name, &valid, |value| T::from_js(value).is_ok());
}

fn network<T: Serialize + DeserializeOwned>(name: &str, valid: &[T]) {
    let valid: Vec<JsValue> = valid.iter().map(|v| to_js_json(v).unwrap()).collect();
    fuzz(name, &valid, |value| from_js::<T>(value).is_ok());
}

#[wasm_bindgen_test]
fn records_read_back_from_indexeddb() {
    records("meta", &[MetaRecord { key: "k".into(), value: vec![1; 32] }]);
    records("user", &[user(rejected(), Some(5)), user(Vec::new(), None)]);
    let installations: Vec<InstallationRecord> =
        InstallationState::ALL.iter().map(|&state| installation(state, Some(1))).collect();
    records("installation", &installations);
    records(
        "session",
        &[SessionRecord {
            installation_id: "i".into(),
            version: 3,
            pickle: vec![7; 64],
            previous: vec![serde_bytes::ByteBuf::from(vec![1, 2])],
        }],
    );
    records(
        "conversation",
        &[ConversationRecord {
            id: "c".into(),
            peer_address: "0x00".into(),
            state: ConversationState::Invited,
            created_at_ms: 1,
        }],
    );
    records("message", &[message(MessageState::Sent, Some("why"), b"text")]);
    records("outbound", &[outbound(Some(4), OutboundPayloadState::Sent, &["m1", "m2"])]);
    records("inbound", &[inbound(InboundPayloadState::Failed, Some(InboundFailure::BadMac))]);
    records("own_installation", &[own_installation(true)]);
    records(
        "inbox_cursor",
        &[InboxCursorRecord { key: "c".into(), digest: vec![1; 32], sender_time_ns: "5".into() }],
    );
}

#[wasm_bindgen_test]
fn the_nodes_json_after_json_parse() {
    let envelope = Envelope {
        content_topic: "/xmtp/0/m-x/proto".into(),
        timestamp_ns: 17,
        message: vec![1, 2, 3],
    };
    let cursor = Cursor { index: IndexCursor { digest: vec![9; 32], sender_time_ns: 3 } };
    let paging = PagingInfo { limit: Some(50), cursor: Some(cursor), direction: None };
    let answer = QueryResponse { envelopes: vec![envelope.clone()], paging_info: Some(paging) };
    network("query_response", &[answer.clone(), QueryResponse::default()]);
    network("batch_query_response", &[BatchQueryResponse { responses: vec![answer] }]);
    let error = NodeErrorBody { code: 14, message: "down".into() };
    network(
        "stream_line",
        &[
            StreamLine { result: Some(envelope), error: None },
            StreamLine { result: None, error: Some(error.clone()) },
        ],
    );
    network("node_error_body", &[error]);
}
