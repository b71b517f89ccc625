//! `GET /metrics`: the numbers follow what the node did.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

const A: &str = "/xmtp/0/metrics-a/proto";

#[tokio::test]
async fn metrics_count_requests_envelopes_and_streams() {
    let (state, app) = node_with_admin().await;
    publish(&app, vec![env(A, 1, b"one"), env(A, 2, b"two")]).await;
    // An exact duplicate is acknowledged but not stored again.
    publish(&app, vec![env(A, 2, b"two"), env(A, 3, b"three")]).await;
    query(&app, json!({ "contentTopics": [A] })).await;
    let (status, _) = post(&app, "/message/v1/query", json!({ "contentTopics": ["bad"] })).await;
    assert_eq!(status, 400);
    let (status, _) = get(&app, "/no/such/route").await;
    assert_eq!(status, 404);
    let mut stream =
        subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    state.metrics().notification();
    state.metrics().notification();

    let text = scrape(&app).await;
    let publish_200 = r#"devnode_requests_total{route="/message/v1/publish",code="200"}"#;
    assert_eq!(sample(&text, publish_200), Some(2.0), "{text}");
    let query_200 = r#"devnode_requests_total{route="/message/v1/query",code="200"}"#;
    assert_eq!(sample(&text, query_200), Some(1.0), "{text}");
    let query_400 = r#"devnode_requests_total{route="/message/v1/query",code="400"}"#;
    assert_eq!(sample(&text, query_400), Some(1.0), "{text}");
    let unmatched = r#"devnode_requests_total{route="unmatched",code="404"}"#;
    assert_eq!(sample(&text, unmatched), Some(1.0), "{text}");
    let subscribed = r#"devnode_requests_total{route="/message/v1/subscribe",code="200"}"#;
    assert_eq!(sample(&text, subscribed), Some(1.0), "{text}");
    let latency = r#"devnode_request_duration_seconds_count{route="/message/v1/query"}"#;
    assert_eq!(sample(&text, latency), Some(2.0), "{text}");
    let all_buckets =
        r#"devnode_request_duration_seconds_bucket{le="+Inf",route="/message/v1/publish"}"#;
    assert_eq!(sample(&text, all_buckets), Some(2.0), "{text}");
    assert_eq!(sample(&text, "devnode_envelopes_stored_total"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "devnode_open_streams"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "devnode_notifications_total"), Some(2.0), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    // The stream still works, and closing it is seen.
    publish(&app, vec![env(A, 4, b"four")]).await;
    assert_eq!(text_of(&stream.envelope().await), "four");
    drop(stream);
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "devnode_open_streams"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "devnode_envelopes_stored_total"), Some(4.0), "{text}");
    // The scrape before this one is counted too.
    let scrapes = r#"devnode_requests_total{route="/metrics",code="200"}"#;
    assert_eq!(sample(&text, scrapes), Some(1.0), "{text}");
}

#[tokio::test]
async fn a_stream_ended_by_shutdown_is_no_longer_open() {
    let (state, app) = node_with_admin().await;
    let mut stream = subscribe(&app, "/message/v1/subscribe-all", json!({})).await;
    assert_eq!(sample(&scrape(&app).await, "devnode_open_streams"), Some(1.0));
    state.shutdown();
    assert_eq!(stream.next(std::time::Duration::from_secs(5)).await, Next::End);
    drop(stream);
    assert_eq!(sample(&scrape(&app).await, "devnode_open_streams"), Some(0.0));
}
