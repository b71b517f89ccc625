//! The wire shapes against the protobuf-JSON mapping, natively with serde_json.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

fn envelope() -> Envelope {
    Envelope {
        content_topic: "/xmtp/0/inbox-a/proto".into(),
        timestamp_ns: 1_764_000_000_123_456_789,
        message: b"hi\xff".to_vec(),
    }
}

#[test]
fn envelope_uses_strings_for_uint64_and_padded_base64() {
    let value = serde_json::to_value(envelope()).unwrap();
    assert_eq!(
        value,
        json!({
            "contentTopic": "/xmtp/0/inbox-a/proto",
            "timestampNs": "1764000000123456789",
            "message": "aGn/",
        })
    );
    assert_eq!(serde_json::from_value::<Envelope>(value).unwrap(), envelope());
}

#[test]
fn decoding_accepts_numbers_and_url_safe_unpadded_base64() {
    let e: Envelope = serde_json::from_value(json!({
        "contentTopic": "/xmtp/0/x", "timestampNs": 42, "message": "aGn_", "extra": true
    }))
    .unwrap();
    assert_eq!((e.timestamp_ns, e.message), (42, b"hi\xff".to_vec()));
    let e: Envelope =
        serde_json::from_value(json!({"contentTopic": "t", "timestampNs": "1", "message": "aGk"}))
            .unwrap();
    assert_eq!(e.message, b"hi");
}

#[test]
fn decoding_rejects_bad_values_without_panicking() {
    for bad in [
        json!({"contentTopic": "t", "timestampNs": "-1", "message": ""}),
        json!({"contentTopic": "t", "timestampNs": 1.5, "message": ""}),
        json!({"contentTopic": "t", "timestampNs": "1", "message": "!!!"}),
        json!({"contentTopic": "t", "message": ""}),
        json!({"contentTopic": 7, "timestampNs": "1", "message": ""}),
    ] {
        assert!(serde_json::from_value::<Envelope>(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn query_omits_absent_fields_and_names_enums() {
    let request = QueryRequest {
        content_topics: vec!["/xmtp/0/a".into()],
        start_time_ns: Some(5),
        end_time_ns: None,
        paging_info: Some(PagingInfo {
            limit: Some(100),
            cursor: Some(Cursor { index: IndexCursor { digest: vec![1, 2], sender_time_ns: 9 } }),
            direction: Some(SortDirection::Descending),
        }),
    };
    let value = serde_json::to_value(&request).unwrap();
    assert_eq!(
        value,
        json!({
            "contentTopics": ["/xmtp/0/a"],
            "startTimeNs": "5",
            "pagingInfo": {
                "limit": 100,
                "cursor": {"index": {"digest": "AQI=", "senderTimeNs": "9"}},
                "direction": "SORT_DIRECTION_DESCENDING",
            },
        })
    );
    assert_eq!(serde_json::from_value::<QueryRequest>(value).unwrap(), request);
}

#[test]
fn last_page_has_no_cursor() {
    let last: QueryResponse = serde_json::from_value(json!({"envelopes": []})).unwrap();
    assert!(last.next_cursor().is_none());
    let empty: QueryResponse = serde_json::from_value(json!({})).unwrap();
    assert!(empty.envelopes.is_empty());
    let more: QueryResponse = serde_json::from_value(json!({
        "envelopes": [],
        "pagingInfo": {"cursor": {"index": {"digest": "", "senderTimeNs": "3"}}}
    }))
    .unwrap();
    assert_eq!(more.next_cursor().map(|c| c.index.sender_time_ns), Some(3));
}

#[test]
fn stream_lines_carry_a_result_or_an_error() {
    let line: StreamLine = serde_json::from_value(
        json!({"result": {"contentTopic": "t", "timestampNs": "1", "message": ""}}),
    )
    .unwrap();
    assert_eq!(line.result.map(|e| e.timestamp_ns), Some(1));
    let line: StreamLine =
        serde_json::from_value(json!({"error": {"code": 14, "message": "down", "details": []}}))
            .unwrap();
    assert_eq!(line.error.map(|e| e.code), Some(14));
    let value: Value = serde_json::to_value(NodeErrorBody::default()).unwrap();
    assert_eq!(value, json!({"code": 0, "message": ""}));
}
