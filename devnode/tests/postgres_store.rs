//! What only the PostgreSQL store has to get right: the schema survives a
//! restart (migrations run again harmlessly), the full `u64` timestamp range
//! keeps its order in a signed column, and duplicates are stored once.
//! Needs the PostgreSQL 15 server binaries (see `common/postgres.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::postgres::fresh_database_url;
use common::*;
use devnode::{AppState, Options, app};
use serde_json::json;

const TOPIC: &str = "/xmtp/0/pg/proto";

async fn open(url: &str) -> (AppState, axum::Router) {
    let options = Options { database: Some(url.to_owned()), ..Options::default() };
    let state = AppState::new(options).await.unwrap();
    (state.clone(), app(state))
}

#[tokio::test]
async fn envelopes_survive_a_restart_and_duplicates_are_stored_once() {
    let url = fresh_database_url().await;
    let (state, node) = open(&url).await;
    publish(&node, vec![env(TOPIC, 5, b"a"), env(TOPIC, 5, b"a"), env(TOPIC, 6, b"b")]).await;
    publish(&node, vec![env(TOPIC, 6, b"b"), env(TOPIC, 7, b"c")]).await;
    assert_eq!(state.stats().await.unwrap().envelopes, 3);
    drop((state, node));

    let (state, node) = open(&url).await;
    assert_eq!(state.stats().await.unwrap().envelopes, 3);
    let body = query(&node, json!({ "contentTopics": [TOPIC] })).await;
    let texts: Vec<String> = body["envelopes"].as_array().unwrap().iter().map(text_of).collect();
    assert_eq!(texts, ["a", "b", "c"]);
}

#[tokio::test]
async fn the_whole_timestamp_range_keeps_its_order() {
    let (_, node) = open(&fresh_database_url().await).await;
    let stamps = [u64::MAX, 0, 1 << 63, (1 << 63) - 1, 1];
    let envs = stamps.iter().map(|ts| env(TOPIC, *ts, ts.to_string().as_bytes())).collect();
    publish(&node, envs).await;
    let mut sorted = stamps;
    sorted.sort_unstable();
    let pages =
        query_all_pages(&node, json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": 2 } }))
            .await;
    let got: Vec<u64> = pages.concat().iter().map(|e| text_of(e).parse().unwrap()).collect();
    assert_eq!(got, sorted);
    let bounded = query(
        &node,
        json!({ "contentTopics": [TOPIC], "startTimeNs": "1", "endTimeNs": (1u64 << 63).to_string() }),
    )
    .await;
    assert_eq!(bounded["envelopes"].as_array().unwrap().len(), 3);
}
