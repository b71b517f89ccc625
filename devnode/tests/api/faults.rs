//! Every fault switch, and seeded replay.

use std::time::Duration;

use crate::common::*;
use axum::Router;
use serde_json::{Value, json};

const A: &str = "/xmtp/0/a/proto";

async fn set_faults(app: &Router, config: Value) {
    let (status, body) = post(app, "/devnode/faults", config).await;
    assert_eq!(status, 200, "{body}");
}

async fn stored(app: &Router) -> u64 {
    get(app, "/devnode/stats").await.1["envelopes"].as_u64().unwrap()
}

#[tokio::test]
async fn publish_fail_rate_one_fails_and_stores_nothing() {
    let app = node().await;
    let mut lines = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    set_faults(&app, json!({ "publishFailRate": 1.0 })).await;
    let (status, body) =
        post(&app, "/message/v1/publish", json!({ "envelopes": [env(A, 1, b"x")] })).await;
    assert_error(status, &body, 503, 14);
    assert_eq!(stored(&app).await, 0);
    assert_eq!(query(&app, json!({ "contentTopics": [A] })).await["envelopes"], json!([]));
    lines.assert_quiet().await;
    // Switching the fault off makes publishing work again.
    set_faults(&app, json!({})).await;
    publish(&app, vec![env(A, 1, b"x")]).await;
    assert_eq!(stored(&app).await, 1);
}

#[tokio::test]
async fn drop_ack_rate_one_stores_but_answers_503() {
    let app = node().await;
    let mut lines = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    set_faults(&app, json!({ "dropAckRate": 1.0 })).await;
    let (status, body) =
        post(&app, "/message/v1/publish", json!({ "envelopes": [env(A, 1, b"x")] })).await;
    let message = assert_error(status, &body, 503, 14);
    assert!(message.contains("acknowledgement dropped"), "{message}");
    assert_eq!(stored(&app).await, 1);
    assert_eq!(text_of(&lines.envelope().await), "x");
    // The client's retry is deduplicated by the node.
    let (status, _) =
        post(&app, "/message/v1/publish", json!({ "envelopes": [env(A, 1, b"x")] })).await;
    assert_eq!(status, 503);
    assert_eq!(stored(&app).await, 1);
    lines.assert_quiet().await;
}

#[tokio::test(start_paused = true)]
async fn latency_delays_publish_and_queries() {
    let app = node().await;
    set_faults(&app, json!({ "latencyMs": 1500 })).await;
    let started = tokio::time::Instant::now();
    publish(&app, vec![env(A, 1, b"x")]).await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let started = tokio::time::Instant::now();
    query(&app, json!({ "contentTopics": [A] })).await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let started = tokio::time::Instant::now();
    post(&app, "/message/v1/batch-query", json!({ "requests": [] })).await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // Admin routes are not delayed.
    let started = tokio::time::Instant::now();
    get(&app, "/devnode/health").await;
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn duplicate_rate_one_doubles_query_results_and_stream_items() {
    let app = node().await;
    publish(&app, (0..150).map(|i| env(A, i, format!("m{i}").as_bytes())).collect()).await;
    set_faults(&app, json!({ "duplicateRate": 1.0 })).await;
    let mut lines = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let pages =
        query_all_pages(&app, json!({ "contentTopics": [A], "pagingInfo": { "limit": 100 } }))
            .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [200, 100]);
    let all = pages.concat();
    for (i, pair) in all.chunks(2).enumerate() {
        assert_eq!(pair[0], pair[1]);
        assert_eq!(text_of(&pair[0]), format!("m{i}"), "paging is unaffected");
    }
    publish(&app, vec![env(A, 500, b"p"), env(A, 501, b"q")]).await;
    let got: Vec<String> = [
        lines.envelope().await,
        lines.envelope().await,
        lines.envelope().await,
        lines.envelope().await,
    ]
    .iter()
    .map(text_of)
    .collect();
    assert_eq!(got, ["p", "p", "q", "q"]);
    lines.assert_quiet().await;
}

#[tokio::test]
async fn reorder_rate_one_swaps_neighbours_in_streams() {
    let app = node().await;
    set_faults(&app, json!({ "reorderRate": 1.0 })).await;
    let mut lines = subscribe(&app, "/message/v1/subscribe-all", json!({})).await;
    for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
        publish(&app, vec![env(A, i as u64, m.as_bytes())]).await;
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(text_of(&lines.envelope().await));
    }
    assert_eq!(got, ["b", "a", "d", "c"]);
    // Queries are not reordered.
    let q = query(&app, json!({ "contentTopics": [A] })).await;
    let texts: Vec<String> = q["envelopes"].as_array().unwrap().iter().map(text_of).collect();
    assert_eq!(texts, ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn stream_cut_after_ends_each_stream_after_n() {
    let app = node().await;
    set_faults(&app, json!({ "streamCutAfter": 2 })).await;
    let mut one = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let mut all = subscribe(&app, "/message/v1/subscribe-all", json!({})).await;
    for i in 0..5u64 {
        publish(&app, vec![env(A, i, format!("m{i}").as_bytes())]).await;
    }
    for lines in [&mut one, &mut all] {
        assert_eq!(text_of(&lines.envelope().await), "m0");
        assert_eq!(text_of(&lines.envelope().await), "m1");
        lines.assert_end().await;
    }
    set_faults(&app, json!({ "streamCutAfter": 0 })).await;
    subscribe(&app, "/message/v1/subscribe-all", json!({})).await.assert_end().await;
}

/// Publish outcomes, query duplication and stream faults for one run.
async fn run(app: &Router, config: &Value, run_id: u32) -> (Vec<u16>, Vec<usize>, Vec<String>) {
    set_faults(app, config.clone()).await;
    let topic = format!("/xmtp/0/run-{run_id}");
    let mut lines =
        subscribe(app, "/message/v1/subscribe", json!({ "contentTopics": [topic] })).await;
    let mut statuses = Vec::new();
    for i in 0..40u64 {
        let (status, _) = post(
            app,
            "/message/v1/publish",
            json!({ "envelopes": [env(&topic, i, format!("m{i}").as_bytes())] }),
        )
        .await;
        statuses.push(status.as_u16());
    }
    let stored = statuses.iter().filter(|&&s| s == 200).count();
    let mut streamed = Vec::new();
    while let Next::Line(v) = lines.next(Duration::from_millis(300)).await {
        streamed.push(text_of(&v["result"]));
    }
    let mut per_query = Vec::new();
    for _ in 0..5 {
        let q = query(app, json!({ "contentTopics": [topic] })).await;
        per_query.push(q["envelopes"].as_array().unwrap().len());
    }
    assert!(per_query.iter().all(|&n| n >= stored && n <= 2 * stored));
    (statuses, per_query, streamed)
}

#[tokio::test]
async fn same_seed_replays_the_same_decisions() {
    let app = node().await;
    let config =
        json!({ "seed": 42, "publishFailRate": 0.5, "duplicateRate": 0.5, "reorderRate": 0.5 });
    let first = run(&app, &config, 1).await;
    // Reposting the config reseeds: a second run (on a fresh topic, same
    // message texts) sees exactly the same decisions.
    let second = run(&app, &config, 2).await;
    assert_eq!(first, second);
    let (statuses, per_query, streamed) = &first;
    assert!(statuses.contains(&200) && statuses.contains(&503), "a rate of 0.5 mixes outcomes");
    let stored = statuses.iter().filter(|&&s| s == 200).count();
    assert!(per_query.iter().any(|&n| n > stored), "some query results duplicated");
    let mut in_order = streamed.clone();
    in_order.sort_by_key(|m| m[1..].parse::<u32>().unwrap());
    assert_ne!(streamed, &in_order, "some stream items reordered");
    assert!(streamed.len() > stored, "some stream items duplicated");
    let other = run(
        &app,
        &json!({ "seed": 43, "publishFailRate": 0.5, "duplicateRate": 0.5, "reorderRate": 0.5 }),
        3,
    )
    .await;
    assert_ne!(first.0, other.0, "another seed decides differently");
}
