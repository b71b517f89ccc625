//! Runs the real `devnode` binary and talks HTTP/1.1 to it over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;

const TOPIC: &str = "/xmtp/0/binary-test/proto";

/// Starts the binary on a free port and parses the address it prints.
async fn start(extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devnode"))
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    timeout(Duration::from_secs(20), BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("devnode printed its address in time")
        .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("devnode listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = addr.parse().unwrap();
    assert_ne!(addr.port(), 0, "the bound port is printed, not the requested 0");
    (child, addr)
}

/// Writes the head (and body) of an HTTP/1.1 POST.
async fn write_post(
    stream: &mut TcpStream,
    addr: SocketAddr,
    path: &str,
    body: &Value,
    close: bool,
) {
    let body = body.to_string();
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
}

/// One request on its own connection; returns status and JSON body.
async fn http_post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    write_post(&mut stream, addr, path, &body, true).await;
    let mut raw = Vec::new();
    timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    (status, serde_json::from_str(body).unwrap())
}

/// Reads from a stream until `needle` shows up in what was received.
async fn read_until(stream: &mut TcpStream, received: &mut Vec<u8>, needle: &str) {
    let found = |buf: &[u8]| String::from_utf8_lossy(buf).contains(needle);
    timeout(Duration::from_secs(10), async {
        while !found(received) {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before {needle:?} arrived");
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{needle:?} did not arrive"));
}

#[tokio::test]
async fn real_binary_publish_query_subscribe_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    let (mut child, addr) = start(&["--data", data.to_str().unwrap(), "--seed", "5"]).await;

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
