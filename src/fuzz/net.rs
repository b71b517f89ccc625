//! What the node serves: its JSON answers (query pages, batch answers, stream lines, error
//! bodies) and the subscription's byte stream split into lines.
//!
//! In the browser the JSON goes through `JSON.parse` and `from_js`; natively through
//! `serde_json`. The `Deserialize` implementations are the same code either way (the derived
//! ones and `api.rs`'s lenient `uint64` and base64 readers), and those are what is fuzzed
//! here; `from_js`'s walk over JS values runs only in the browser.

use proptest::collection::vec;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::{bounded, check, fuzz, inputs};
use crate::fuzz_names::API_NAMES;
use crate::net::{
    BatchQueryResponse, LineBuffer, NetError, NodeErrorBody, QueryResponse, StreamLine,
};

fn envelope(ns: Value, message: &str) -> Value {
    json!({"contentTopic": "/xmtp/0/inbox-a1/proto", "timestampNs": ns, "message": message})
}

fn query_pages() -> Vec<Value> {
    vec![
        json!({
            "envelopes": [envelope(json!("1764000000000000001"), "CgRhYmNk"), envelope(json!(17), "-_8")],
            "pagingInfo": {
                "limit": 100,
                "direction": "SORT_DIRECTION_ASCENDING",
                "cursor": {"index": {"digest": "3q2+7w==", "senderTimeNs": "1764000000000000001"}},
            },
        }),
        json!({"envelopes": []}),
        json!({}),
    ]
}

/// Decodes `text` as `T`, its allocations bounded; a value read must read back the same
/// once written out.
fn decode_and_reencode<T>(text: &[u8]) -> super::Outcome
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(value) = bounded(text.len(), || serde_json::from_slice::<T>(text))? else {
        return Ok(false);
    };
    let again = serde_json::to_vec(&value).map(|json| serde_json::from_slice::<T>(&json));
    check(matches!(&again, Ok(Ok(v)) if *v == value), || {
        format!("{value:?} reads back as {again:?}")
    })?;
    Ok(true)
}

#[test]
fn query_response() {
    fuzz("query_response", inputs::json_text_from(query_pages(), API_NAMES), |text| {
        decode_and_reencode::<QueryResponse>(&text)
    });
}

#[test]
fn batch_query_response() {
    let valid = vec![json!({"responses": query_pages()}), json!({"responses": []})];
    fuzz("batch_query_response", inputs::json_text_from(valid, API_NAMES), |text| {
        decode_and_reencode::<BatchQueryResponse>(&text)
    });
}

fn stream_lines() -> Vec<Value> {
    vec![
        json!({"result": envelope(json!("1764000000000000001"), "CgRhYmNk")}),
        json!({"error": {"code": 14, "message": "unavailable", "details": []}}),
        json!({}),
    ]
}

#[test]
fn stream_line() {
    fuzz("stream_line", inputs::json_text_from(stream_lines(), API_NAMES), |text| {
        decode_and_reencode::<StreamLine>(&text)
    });
}

#[test]
fn node_error_body() {
    let valid = vec![json!({"code": 3, "message": "invalid topic"}), json!({"code": 14})];
    fuzz("node_error_body", inputs::json_text_from(valid, API_NAMES), |text| {
        // What a failed request makes of the body, under any status.
        if let Ok(body) = serde_json::from_slice::<NodeErrorBody>(&text) {
            for status in [200, 400, 429, 503, u16::MAX] {
                let _ = NetError::from_answer(status, Some(body.clone())).is_retryable();
            }
        }
        decode_and_reencode::<NodeErrorBody>(&text)
    });
}

/// A stream as the node sends it: lines of JSON, then cut into chunks anywhere.
#[test]
fn stream_chunks() {
    let lines: Vec<u8> =
        stream_lines().iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
    let chunks = (inputs::bytes_from(vec![lines]), vec(1..64usize, 1..16));
    fuzz("stream_chunks", chunks, |(stream, cuts)| {
        let mut buffer = LineBuffer::default();
        let (mut read, mut rest, mut decoded) = (Vec::new(), stream.as_slice(), false);
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at((*cut).min(rest.len()));
            rest = after;
            bounded(chunk.len(), || buffer.push(chunk))?
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            while let Some(line) = bounded(stream.len(), || buffer.next_line())? {
                // What the subscription does with each line.
                let line_read = bounded(line.len(), || {
                    serde_json::from_str::<StreamLine>(&String::from_utf8_lossy(&line))
                })?;
                decoded |= line_read.is_ok();
                read.extend_from_slice(&line);
                read.push(b'\n');
            }
        }
        // Every complete line comes out once, in order, and nothing else.
        let complete = stream.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        check(read == stream[..complete], || "the lines are not the stream's".into())?;
        Ok(decoded)
    });
}
