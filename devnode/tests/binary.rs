//! Runs the real `devnode` binary and talks HTTP/1.1 to it over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod real_binary;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use real_binary::{TOKEN, http, http_post, read_until, start, write_post};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::timeout;

const TOPIC: &str = "/xmtp/0/binary-test/proto";

#[tokio::test]
async fn real_binary_publish_query_subscribe_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    let (mut child, addr) =
        start(&["--data", data.to_str().unwrap(), "--seed", "5", "--admin-token", TOKEN]).await;

    let message = STANDARD.encode(b"over real tcp");
    let envelope = json!({ "contentTopic": TOPIC, "timestampNs": "123", "message": message });
    let (status, body) =
        http_post(addr, "/message/v1/publish", json!({ "envelopes": [envelope] })).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) =
        http_post(addr, "/message/v1/query", json!({ "contentTopics": [TOPIC] })).await;
    assert_eq!((status, body), (200, json!({ "envelopes": [envelope] })));
    let (status, faults) = http_post(addr, "/devnode/stats/reset", json!({})).await;
    assert_eq!(status, 200, "{faults}");

    // A live stream over TCP sees a later publish.
    let mut sub = TcpStream::connect(addr).await.unwrap();
    write_post(
        &mut sub,
        addr,
        "/message/v1/subscribe",
        &json!({ "contentTopics": [TOPIC] }),
        false,
    )
    .await;
    let mut received = Vec::new();
    read_until(&mut sub, &mut received, "\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));
    let later = STANDARD.encode(b"streamed");
    let envelope2 = json!({ "contentTopic": TOPIC, "timestampNs": "124", "message": later });
    let (status, _) =
        http_post(addr, "/message/v1/publish", json!({ "envelopes": [envelope2] })).await;
    assert_eq!(status, 200);
    read_until(&mut sub, &mut received, &later).await;

    // A client vanishing mid-stream does not hurt the node.
    let mut gone = TcpStream::connect(addr).await.unwrap();
    write_post(&mut gone, addr, "/message/v1/subscribe-all", &json!({}), false).await;
    drop(gone);
    let (status, body) =
        http_post(addr, "/message/v1/query", json!({ "contentTopics": [TOPIC] })).await;
    assert_eq!(status, 200);
    assert_eq!(body["envelopes"].as_array().unwrap().len(), 2);

    // SIGTERM: clean exit even with a stream still open.
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    let exit = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("devnode exits on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    // The data file outlives the process.
    let (mut child, addr) = start(&["--data", data.to_str().unwrap()]).await;
    let (status, body) =
        http_post(addr, "/message/v1/query", json!({ "contentTopics": [TOPIC] })).await;
    assert_eq!(status, 200);
    assert_eq!(body["envelopes"].as_array().unwrap().len(), 2);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn bad_listen_address_fails_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_devnode"))
        .args(["--listen", "256.0.0.1:1"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn loopback_bind_answers_only_its_own_host_names() {
    let (mut child, addr) = start(&[]).await;
    let port = addr.port();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")]
    {
        let (status, body) = http(addr, "GET", "/devnode/health", &host, &[], "").await;
        assert_eq!((status, body), (200, json!({ "status": "ok", "store": "local" })), "{host}");
    }
    // A page whose own name was made to resolve to 127.0.0.1 (DNS rebinding) sends its name.
    let query = json!({ "contentTopics": [TOPIC] }).to_string();
    let json = [("Content-Type", "application/json")];
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_owned(),
    ] {
        for (method, path) in [("POST", "/message/v1/query"), ("GET", "/devnode/health")] {
            let (status, body) = http(addr, method, path, &host, &json, &query).await;
            assert_eq!(status, 403, "{host} {path}: {body}");
            assert_eq!(body["code"], json!(7), "{body}");
        }
    }
    // Refused requests reached nothing, not even the counters.
    let (_, stats) = http(addr, "GET", "/devnode/stats", &addr.to_string(), &[], "").await;
    assert_eq!(stats["requests"]["query"], json!(0), "{stats}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn admin_routes_are_off_unless_started_with_a_token() {
    let faults = json!({ "publishFailRate": 1 }).to_string();
    let auth = format!("Bearer {TOKEN}");
    let admin = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];

    let (mut child, addr) = start(&[]).await;
    let host = addr.to_string();
    for (method, path) in
        [("GET", "/devnode/faults"), ("POST", "/devnode/faults"), ("POST", "/devnode/stats/reset")]
    {
        let (status, body) = http(addr, method, path, &host, &admin, &faults).await;
        assert_eq!((status, &body["code"]), (404, &json!(5)), "{method} {path}: {body}");
    }
    child.kill().await.unwrap();

    let (mut child, addr) = start(&["--admin-token", TOKEN]).await;
    let (status, body) =
        http(addr, "POST", "/devnode/faults", &addr.to_string(), &admin, &faults).await;
    assert_eq!((status, &body["publishFailRate"]), (200, &json!(1.0)), "{body}");
    child.kill().await.unwrap();
}

/// Runs the binary with `args` to its exit (it must exit on its own); status and stderr.
async fn run_to_exit(args: &[&str]) -> (std::process::ExitStatus, String, Vec<u8>) {
    let out = timeout(
        Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_devnode")).args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("devnode exits on its own")
    .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned(), out.stdout)
}

#[tokio::test]
async fn non_loopback_bind_needs_allow_remote_and_warns() {
    let (status, stderr, stdout) = run_to_exit(&["--listen", "0.0.0.0:0"]).await;
    assert!(!status.success());
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--allow-remote"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "nothing was bound, so no address is printed");

    let mut child = Command::new(env!("CARGO_BIN_EXE_devnode"))
        .args(["--listen", "0.0.0.0:0", "--allow-remote"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    timeout(Duration::from_secs(20), BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("devnode started")
        .unwrap();
    assert!(line.starts_with("devnode listening on http://0.0.0.0:"), "{line:?}");
    child.kill().await.unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    assert!(stderr.contains("WARNING") && stderr.contains("anyone who can reach it"), "{stderr}");
}

#[tokio::test]
async fn weak_admin_tokens_are_refused() {
    for token in ["", "short", "has spaces in the token!"] {
        let (status, stderr, _) =
            run_to_exit(&["--listen", "127.0.0.1:0", "--admin-token", token]).await;
        assert!(!status.success(), "{token:?}");
        assert!(stderr.contains("--admin-token"), "{token:?}: {stderr}");
    }
}

#[tokio::test]
async fn rate_limit_by_peer_address_over_real_tcp() {
    let (mut child, addr) = start(&["--rate-limit-ip", "0.5", "--rate-limit-ip-burst", "2"]).await;
    let host = addr.to_string();
    let json = [("Content-Type", "application/json")];
    let query = json!({ "contentTopics": [TOPIC] }).to_string();
    for _ in 0..2 {
        let (status, body) = http(addr, "POST", "/message/v1/query", &host, &json, &query).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http(addr, "POST", "/message/v1/query", &host, &json, &query).await;
    assert_eq!((status, &body["code"]), (429, &json!(8)), "{body}");
    assert!(body["message"].as_str().unwrap().contains("retry in 2 s"), "{body}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn bad_operability_flags_are_refused() {
    for (args, flag) in [
        (&["--allow-origin", "https://app.example.com/"][..], "--allow-origin"),
        (&["--rate-limit-ip", "0"][..], "--rate-limit-ip"),
        (&["--rate-limit-topic=-3"][..], "--rate-limit-topic"),
    ] {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let (status, stderr, stdout) = run_to_exit(&all).await;
        assert!(!status.success(), "{args:?}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing is served");
    }
}
