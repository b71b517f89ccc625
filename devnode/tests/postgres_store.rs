//! What only the PostgreSQL store has to get right: the schema survives a
//! restart (migrations run again harmlessly), the full `u64` timestamp range
//! keeps its order in a signed column, duplicates are stored once,
//! retention deletes by the time an envelope was stored, and a database of
//! an older schema is upgraded with its envelopes.
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

#[tokio::test]
async fn retention_deletes_what_was_stored_before_the_cutoff() {
    let url = fresh_database_url().await;
    let (_, node) = open(&url).await;
    publish(&node, vec![env(TOPIC, 1, b"old"), env(TOPIC, 2, b"new")]).await;
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // Stored three days ago, as far as retention can tell.
    db.execute(
        "UPDATE envelopes SET stored_at = now() - interval '3 days' WHERE timestamp_ns = $1",
        &[&(1i64 ^ i64::MIN)],
    )
    .await
    .unwrap();

    let options =
        Options { database: Some(url.clone()), retention_days: Some(2), ..Options::default() };
    let node = app(AppState::new(options).await.unwrap());
    // Retention runs as a task right after the start.
    for _ in 0..50 {
        let body = query(&node, json!({ "contentTopics": [TOPIC] })).await;
        let texts: Vec<String> =
            body["envelopes"].as_array().unwrap().iter().map(text_of).collect();
        if texts == ["new"] {
            return;
        }
        assert_eq!(texts, ["old", "new"], "only the old one may go");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("retention did not delete the envelope stored three days ago");
}

#[tokio::test]
async fn a_database_of_schema_1_is_upgraded_with_its_envelopes_numbered() {
    let url = fresh_database_url().await;
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // What migration 1 left, with an envelope stored by that devnode.
    db.batch_execute(
        "CREATE TABLE schema_version (version integer NOT NULL);
         INSERT INTO schema_version VALUES (1);
         CREATE TABLE envelopes (
             topic text NOT NULL, timestamp_ns bigint NOT NULL, digest bytea NOT NULL,
             message bytea NOT NULL, stored_at timestamptz NOT NULL DEFAULT now(),
             CONSTRAINT envelopes_key UNIQUE (topic, timestamp_ns, digest));
         CREATE INDEX envelopes_stored_at ON envelopes (stored_at);",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO envelopes (topic, timestamp_ns, digest, message) VALUES ($1, $2, $3, $4)",
        &[&TOPIC, &(1i64 ^ i64::MIN), &vec![0u8; 32], &b"stored before".to_vec()],
    )
    .await
    .unwrap();

    let (_, node) = open(&url).await;
    let version: i32 =
        db.query_one("SELECT version FROM schema_version", &[]).await.unwrap().get(0);
    assert_eq!(version, 2);
    let unnumbered: i64 =
        db.query_one("SELECT count(*) FROM envelopes WHERE seq IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(unnumbered, 0);
    let mut lines =
        subscribe(&node, "/message/v1/subscribe", json!({ "contentTopics": [TOPIC] })).await;
    publish(&node, vec![env(TOPIC, 2, b"stored after")]).await;
    assert_eq!(text_of(&lines.envelope().await), "stored after");
    lines.assert_quiet().await;
    let body = query(&node, json!({ "contentTopics": [TOPIC] })).await;
    let texts: Vec<String> = body["envelopes"].as_array().unwrap().iter().map(text_of).collect();
    assert_eq!(texts, ["stored before", "stored after"]);
}
