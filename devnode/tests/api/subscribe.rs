//! Subscribe and subscribe-all streams.

use crate::common::*;
use devnode::{AppState, Options, app};
use serde_json::json;

const A: &str = "/xmtp/0/a/proto";
const B: &str = "/xmtp/0/b/proto";

#[tokio::test]
async fn subscribe_streams_envelopes_published_after_it_started() {
    let app = node().await;
    publish(&app, vec![env(A, 1, b"before")]).await;
    let mut lines = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    lines.assert_quiet().await;
    publish(&app, vec![env(A, 2, b"one"), env(B, 3, b"other topic")]).await;
    publish(&app, vec![env(A, 4, b"two")]).await;
    let first = lines.envelope().await;
    assert_eq!(first, env(A, 2, b"one"), "wire format: string ts, padded base64");
    assert_eq!(text_of(&lines.envelope().await), "two");
    // The duplicate of an already stored envelope is not streamed again.
    publish(&app, vec![env(A, 4, b"two")]).await;
    lines.assert_quiet().await;
}

#[tokio::test]
async fn each_line_is_a_result_object() {
    let app = node().await;
    let mut lines =
        subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A, B] })).await;
    publish(&app, vec![env(B, 9, b"x")]).await;
    match lines.next(std::time::Duration::from_secs(5)).await {
        Next::Line(v) => assert_eq!(v, json!({ "result": env(B, 9, b"x") })),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn subscribe_all_sees_every_topic() {
    let app = node().await;
    let mut lines = subscribe(&app, "/message/v1/subscribe-all", json!({})).await;
    // An empty body is accepted as `{}` too.
    let resp = send(&app, axum::http::Method::POST, "/message/v1/subscribe-all", "").await;
    assert_eq!(resp.status(), 200);
    drop(resp);
    publish(&app, vec![env(A, 1, b"a"), env(B, 2, b"b")]).await;
    publish(&app, vec![env("/xmtp/0/c", 3, b"c")]).await;
    let got: Vec<String> = [lines.envelope().await, lines.envelope().await, lines.envelope().await]
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(got, ["a", "b", "c"]);
}

#[tokio::test]
async fn several_subscribers_each_get_everything() {
    let app = node().await;
    let mut one = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let mut two = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    publish(&app, vec![env(A, 1, b"x")]).await;
    assert_eq!(text_of(&one.envelope().await), "x");
    assert_eq!(text_of(&two.envelope().await), "x");
}

#[tokio::test]
async fn lagging_subscriber_stream_is_ended_not_skipped() {
    let state = AppState::new(Options { stream_buffer: 4, ..Options::default() }).await.unwrap();
    let app = app(state);
    let mut lines = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    for i in 0..10u64 {
        publish(&app, vec![env(A, i, format!("m{i}").as_bytes())]).await;
    }
    // Never a silent gap: whatever arrives is a prefix, then the end.
    let mut seen = Vec::new();
    loop {
        match lines.next(std::time::Duration::from_secs(5)).await {
            Next::Line(v) => seen.push(text_of(&v["result"])),
            Next::End => break,
            Next::Timeout => panic!("lagging stream was not ended"),
        }
    }
    let prefix: Vec<String> = (0..seen.len()).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, prefix);
    assert!(seen.len() < 10);
    // The node itself is fine.
    publish(&app, vec![env(A, 99, b"after")]).await;
}

#[tokio::test]
async fn client_going_away_does_not_hurt_the_node() {
    let app = node().await;
    let lines = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    drop(lines);
    publish(&app, vec![env(A, 1, b"nobody listening")]).await;
    let resp = query(&app, json!({ "contentTopics": [A] })).await;
    assert_eq!(resp["envelopes"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn node_shutdown_ends_open_streams() {
    let state = AppState::in_memory();
    let app = app(state.clone());
    let mut lines = subscribe(&app, "/message/v1/subscribe-all", json!({})).await;
    publish(&app, vec![env(A, 1, b"x")]).await;
    assert_eq!(text_of(&lines.envelope().await), "x");
    state.shutdown();
    lines.assert_end().await;
}
