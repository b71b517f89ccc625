//! `--data`: envelopes survive a restart; a torn last line is tolerated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use axum::Router;
use common::*;
use devnode::{AppState, Options, StoreError, app};
use serde_json::json;

const A: &str = "/xmtp/0/a/proto";

async fn open(path: &Path) -> Result<Router, StoreError> {
    AppState::new(Options { data: Some(path.to_path_buf()), ..Options::default() }).await.map(app)
}

async fn texts(app: &Router) -> Vec<String> {
    let resp = query(app, json!({ "contentTopics": [A] })).await;
    resp["envelopes"].as_array().unwrap().iter().map(text_of).collect()
}

#[tokio::test]
async fn envelopes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.jsonl");
    {
        let node = open(&path).await.unwrap();
        publish(&node, vec![env(A, 1, b"one"), env(A, 2, b"two")]).await;
        publish(&node, vec![env(A, 3, b"three"), env(A, 1, b"one")]).await;
    }
    let lines = std::fs::read_to_string(&path).unwrap();
    assert_eq!(lines.lines().count(), 3, "duplicates are not appended: {lines}");
    let node = open(&path).await.unwrap();
    assert_eq!(texts(&node).await, ["one", "two", "three"]);
    assert_eq!(get(&node, "/devnode/stats").await.1["envelopes"], json!(3));
    // Still deduplicated against what was loaded.
    publish(&node, vec![env(A, 2, b"two")]).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
}

#[tokio::test]
async fn torn_last_line_is_cut_off_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.jsonl");
    {
        let node = open(&path).await.unwrap();
        publish(&node, vec![env(A, 1, b"one"), env(A, 2, b"two")]).await;
    }
    // A crash mid-append.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"contentTopic":"/xmtp/0/a/proto","timesta"#);
    std::fs::write(&path, &bytes).unwrap();
    {
        let node = open(&path).await.unwrap();
        assert_eq!(texts(&node).await, ["one", "two"]);
        publish(&node, vec![env(A, 3, b"three")]).await;
    }
    let node = open(&path).await.unwrap();
    assert_eq!(texts(&node).await, ["one", "two", "three"]);
}

#[tokio::test]
async fn complete_last_line_without_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.jsonl");
    let line = serde_json::to_string(&env(A, 1, b"one")).unwrap();
    std::fs::write(&path, line).unwrap();
    {
        let node = open(&path).await.unwrap();
        assert_eq!(texts(&node).await, ["one"]);
        publish(&node, vec![env(A, 2, b"two")]).await;
    }
    let node = open(&path).await.unwrap();
    assert_eq!(texts(&node).await, ["one", "two"]);
}

#[tokio::test]
async fn corrupt_line_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.jsonl");
    let good = serde_json::to_string(&env(A, 1, b"one")).unwrap();
    std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
    match open(&path).await {
        Err(StoreError::Corrupt { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a corrupt-file error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn missing_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.jsonl");
    let node = open(&path).await.unwrap();
    assert!(path.exists());
    assert!(texts(&node).await.is_empty());
    assert!(open(&dir.path().join("no/such/dir/x.jsonl")).await.is_err());
}
