//! Every rejected input answers with the right status and a gRPC-style
//! JSON error body, and never takes the node down.

use crate::common::*;
use axum::body::Body;
use axum::http::Method;
use devnode::{MAX_BODY_BYTES, MAX_MESSAGE_BYTES};
use serde_json::{Value, json};

const TOPIC: &str = "/xmtp/0/t/proto";

async fn post_raw(
    app: &axum::Router,
    path: &str,
    body: impl Into<Body>,
) -> (axum::http::StatusCode, Value) {
    let resp = send(app, Method::POST, path, body).await;
    let status = resp.status();
    (status, json_body(resp).await)
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = node().await;
    for path in [
        "/message/v1/publish",
        "/message/v1/query",
        "/message/v1/batch-query",
        "/message/v1/subscribe",
        "/message/v1/subscribe-all",
        "/devnode/faults",
    ] {
        let (status, body) = post_raw(&app, path, "{\"envelopes\": [").await;
        let message = assert_error(status, &body, 400, 3);
        assert!(message.contains("invalid JSON"), "{path}: {message}");
    }
    let (status, body) = post_raw(&app, "/message/v1/publish", r#"{"envelopes": "nope"}"#).await;
    assert_error(status, &body, 400, 3);
    let (status, body) = post(
        &app,
        "/message/v1/publish",
        json!({ "envelopes": [{ "contentTopic": TOPIC, "timestampNs": "soon" }] }),
    )
    .await;
    let message = assert_error(status, &body, 400, 3);
    assert!(message.contains("expected uint64"), "{message}");
    let (status, body) = post(
        &app,
        "/message/v1/query",
        json!({ "contentTopics": [TOPIC], "pagingInfo": { "direction": "SIDEWAYS" } }),
    )
    .await;
    let message = assert_error(status, &body, 400, 3);
    assert!(message.contains("SIDEWAYS"), "{message}");
}

#[tokio::test]
async fn bad_base64_is_400() {
    let app = node().await;
    let (status, body) = post(
        &app,
        "/message/v1/publish",
        json!({ "envelopes": [{ "contentTopic": TOPIC, "timestampNs": "1", "message": "not*base64!" }] }),
    )
    .await;
    let message = assert_error(status, &body, 400, 3);
    assert!(message.contains("base64"), "{message}");
    let (status, body) = post(
        &app,
        "/message/v1/query",
        json!({ "contentTopics": [TOPIC], "pagingInfo": { "cursor": { "index": { "digest": "%%%", "senderTimeNs": "1" } } } }),
    )
    .await;
    assert_error(status, &body, 400, 3);
}

#[tokio::test]
async fn topic_without_prefix_is_400() {
    let app = node().await;
    let (status, body) = post(
        &app,
        "/message/v1/publish",
        json!({ "envelopes": [env(TOPIC, 1, b"ok"), env("/xmtp/1/x", 1, b"x")] }),
    )
    .await;
    let message = assert_error(status, &body, 400, 3);
    assert!(message.contains("envelopes[1]") && message.contains("/xmtp/0/"), "{message}");
    // Nothing of a rejected batch is stored.
    let (_, stats) = get(&app, "/devnode/stats").await;
    assert_eq!(stats["envelopes"], json!(0));
    let (status, body) = post(
        &app,
        "/message/v1/publish",
        json!({ "envelopes": [{ "timestampNs": "1", "message": "" }] }),
    )
    .await;
    assert_error(status, &body, 400, 3);
    for path in ["/message/v1/query", "/message/v1/subscribe"] {
        let (status, body) = post(&app, path, json!({ "contentTopics": ["topic"] })).await;
        assert_error(status, &body, 400, 3);
    }
}

#[tokio::test]
async fn message_over_one_mib_is_400() {
    let app = node().await;
    let exactly = vec![7u8; MAX_MESSAGE_BYTES];
    publish(&app, vec![env(TOPIC, 1, &exactly)]).await;
    let over = vec![7u8; MAX_MESSAGE_BYTES + 1];
    let (status, body) =
        post(&app, "/message/v1/publish", json!({ "envelopes": [env(TOPIC, 2, &over)] })).await;
    let message = assert_error(status, &body, 400, 3);
    assert!(message.contains("1048577") && message.contains("1048576"), "{message}");
}

#[tokio::test]
async fn too_many_or_no_topics_is_400() {
    let app = node().await;
    let topics: Vec<String> = (0..101).map(|i| format!("/xmtp/0/t{i}")).collect();
    for path in ["/message/v1/query", "/message/v1/subscribe"] {
        let (status, body) = post(&app, path, json!({ "contentTopics": topics })).await;
        let message = assert_error(status, &body, 400, 3);
        assert!(message.contains("100") && message.contains("101"), "{message}");
        let (status, body) = post(&app, path, json!({ "contentTopics": [] })).await;
        assert_error(status, &body, 400, 3);
        let (status, body) = post_raw(&app, path, "").await;
        assert_error(status, &body, 400, 3);
    }
    let (status, body) = post(
        &app,
        "/message/v1/batch-query",
        json!({ "requests": [{ "contentTopics": [TOPIC] }, { "contentTopics": topics }] }),
    )
    .await;
    let message = assert_error(status, &body, 400, 3);
    assert!(message.contains("requests[1]"), "{message}");
    // Exactly 100 is fine.
    let (status, _) =
        post(&app, "/message/v1/query", json!({ "contentTopics": &topics[..100] })).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn body_over_16_mib_is_413() {
    let app = node().await;
    // With a Content-Length header (rejected before reading).
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let req = axum::http::Request::post("/message/v1/publish")
        .header("content-length", big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    let status = resp.status();
    let body = json_body(resp).await;
    let message = assert_error(status, &body, 413, 8);
    assert!(message.contains("16777217 bytes") && message.contains("16777216"), "{message}");
    // Without one (caught while reading).
    let (status, body) = post_raw(&app, "/message/v1/publish", big).await;
    let message = assert_error(status, &body, 413, 8);
    assert!(message.contains("16777216"), "{message}");
    // Streamed in chunks.
    let chunks = (0..17).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024 * 1024]));
    let streamed = Body::from_stream(futures_util::stream::iter(chunks));
    let (status, body) = post_raw(&app, "/message/v1/query", streamed).await;
    assert_error(status, &body, 413, 8);
    // Just under the limit is read (and then judged on its content).
    let mut fine = vec![b' '; MAX_BODY_BYTES - 2];
    fine.splice(0..2, *b"{}");
    let (status, _) = post_raw(&app, "/message/v1/publish", fine).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405() {
    let app = node().await;
    let (status, body) = post(&app, "/message/v1/nope", json!({})).await;
    let message = assert_error(status, &body, 404, 5);
    assert!(message.contains("/message/v1/nope"), "{message}");
    let (status, body) = get(&app, "/").await;
    assert_error(status, &body, 404, 5);
    let (status, body) = get(&app, "/message/v1/query").await;
    assert_error(status, &body, 405, 12);
    let (status, body) = post(&app, "/devnode/health", json!({})).await;
    assert_error(status, &body, 405, 12);
}
