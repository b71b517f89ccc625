//! Admin routes: health, stats and the fault config itself.

use crate::common::*;
use devnode::{AppState, FaultConfig, Options, Stats, app};
use serde_json::json;

const A: &str = "/xmtp/0/a/proto";
const B: &str = "/xmtp/0/b/proto";

#[tokio::test]
async fn health() {
    let (status, body) = get(&node().await, "/devnode/health").await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert_eq!(body["status"], "ok", "{body}");
}

#[tokio::test]
async fn stats_count_requests_and_reset() {
    let app = node().await;
    let (_, fresh) = get(&app, "/devnode/stats").await;
    assert_eq!(
        fresh,
        json!({ "requests": { "publish": 0, "query": 0, "batchQuery": 0, "subscribe": 0, "subscribeAll": 0 },
                "queriesByTopic": {}, "envelopes": 0 })
    );
    publish(&app, vec![env(A, 1, b"x"), env(B, 2, b"y")]).await;
    query(&app, json!({ "contentTopics": [A] })).await;
    query(&app, json!({ "contentTopics": [A, B] })).await;
    post(
        &app,
        "/message/v1/batch-query",
        json!({ "requests": [{ "contentTopics": [A] }, { "contentTopics": [B] }] }),
    )
    .await;
    let _s1 = subscribe(&app, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let _s2 = subscribe(&app, "/message/v1/subscribe-all", json!({})).await;
    // An invalid request still counts as received.
    post(&app, "/message/v1/query", json!({ "contentTopics": [] })).await;

    let (_, stats) = get(&app, "/devnode/stats").await;
    assert_eq!(
        stats,
        json!({ "requests": { "publish": 1, "query": 3, "batchQuery": 1, "subscribe": 1, "subscribeAll": 1 },
                "queriesByTopic": { A: 3, B: 2 }, "envelopes": 2 })
    );
    let typed: Stats = serde_json::from_value(stats).unwrap();
    assert_eq!(typed.requests.query, 3);

    let (status, after) = post(&app, "/devnode/stats/reset", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(after["requests"]["query"], json!(0));
    assert_eq!(after["queriesByTopic"], json!({}));
    assert_eq!(after["envelopes"], json!(2), "stored envelopes are not a counter");
}

#[tokio::test]
async fn fault_config_round_trip_and_validation() {
    let app = node().await;
    let (status, none) = get(&app, "/devnode/faults").await;
    assert_eq!(status, 200);
    assert_eq!(
        none,
        json!({ "seed": 0, "publishFailRate": 0.0, "latencyMs": 0, "dropAckRate": 0.0,
                "duplicateRate": 0.0, "reorderRate": 0.0 })
    );
    let full = json!({ "seed": 9, "publishFailRate": 0.25, "latencyMs": 5, "dropAckRate": 0.5,
                       "duplicateRate": 0.75, "reorderRate": 1.0, "streamCutAfter": 3 });
    let (status, set) = post(&app, "/devnode/faults", full.clone()).await;
    assert_eq!((status.as_u16(), &set), (200, &full));
    assert_eq!(get(&app, "/devnode/faults").await.1, full);

    // Replaces the whole config: missing fields go back to off.
    let (_, partial) = post(&app, "/devnode/faults", json!({ "duplicateRate": 1 })).await;
    assert_eq!(partial["duplicateRate"], json!(1.0));
    assert_eq!(partial["seed"], json!(0));
    assert_eq!(partial["reorderRate"], json!(0.0));
    assert!(partial.get("streamCutAfter").is_none());

    for bad in [
        json!({ "publishFailRate": 1.5 }),
        json!({ "dropAckRate": -0.1 }),
        json!({ "reorderRate": 2 }),
        json!({ "duplicateRate": "lots" }),
        json!({ "publishFailrate": 1.0 }),
    ] {
        let (status, body) = post(&app, "/devnode/faults", bad.clone()).await;
        assert_error(status, &body, 400, 3);
    }
    // A rejected config leaves the previous one in force.
    assert_eq!(get(&app, "/devnode/faults").await.1, partial);
}

#[tokio::test]
async fn seed_option_and_typed_api() {
    let options =
        Options { seed: Some(77), admin_token: Some(ADMIN_TOKEN.into()), ..Options::default() };
    let state = AppState::new(options).await.unwrap();
    assert_eq!(state.faults(), FaultConfig { seed: 77, ..FaultConfig::default() });
    let app = app(state.clone());
    assert_eq!(get(&app, "/devnode/faults").await.1["seed"], json!(77));
    assert!(
        state.set_faults(FaultConfig { duplicate_rate: 3.0, ..FaultConfig::default() }).is_err()
    );
    state.set_faults(FaultConfig { latency_ms: 1, ..FaultConfig::default() }).unwrap();
    assert_eq!(get(&app, "/devnode/faults").await.1["latencyMs"], json!(1));
    assert_eq!(state.stats().await.unwrap().envelopes, 0);
}
