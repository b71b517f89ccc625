//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, ends
//! open streams cleanly (the chunked body is terminated, not cut), lets an
//! in-flight publish finish and be stored, and exits 0 promptly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod real_binary;

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use real_binary::{TOKEN, http_post, read_until, start, write_post};
use serde_json::json;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::timeout;

const TOPIC: &str = "/xmtp/0/shutdown-test/proto";
/// How long the in-flight publish is held (the `latencyMs` fault).
const PUBLISH_LATENCY: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn sigterm_ends_streams_finishes_publishes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    let data_arg = data.to_str().unwrap();
    let (mut child, addr) = start(&["--data", data_arg, "--admin-token", TOKEN]).await;

    // An open stream, headers received.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let subscribe = json!({ "contentTopics": [TOPIC] });
    write_post(&mut stream, addr, "/message/v1/subscribe", &subscribe, false).await;
    let mut received = Vec::new();
    read_until(&mut stream, &mut received, "\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));

    // A publish that is still being answered when SIGTERM arrives.
    let latency = PUBLISH_LATENCY.as_millis() as u64;
    let (status, _) = http_post(addr, "/devnode/faults", json!({ "latencyMs": latency })).await;
    assert_eq!(status, 200);
    let message = STANDARD.encode(b"in flight at shutdown");
    let envelope = json!({ "contentTopic": TOPIC, "timestampNs": "7", "message": message });
    let in_flight = tokio::spawn(http_post(
        addr,
        "/message/v1/publish",
        json!({ "envelopes": [envelope.clone()] }),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = child.id().unwrap().to_string();
    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());

    // The stream ends at once, with the chunked terminator: a clean end the client can tell
    // from a cut connection.
    timeout(Duration::from_secs(2), stream.read_to_end(&mut received))
        .await
        .expect("the stream ends promptly on SIGTERM")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.ends_with("0\r\n\r\n"), "stream not terminated cleanly: {text:?}");
    assert!(signalled.elapsed() < PUBLISH_LATENCY, "the stream waited for the publish");

    // No new connections are accepted meanwhile.
    let refused = timeout(Duration::from_secs(1), async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "still accepting connections after SIGTERM");

    // The in-flight publish is answered and acknowledged...
    let (status, body) = timeout(Duration::from_secs(5), in_flight).await.unwrap().unwrap();
    assert_eq!((status, body), (200, json!({})));
    // ...and the process exits 0 as soon as it is, well before the grace period runs out.
    let exit = timeout(Duration::from_secs(5), child.wait()).await.expect("exited").unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(4), "took {:?}", signalled.elapsed());

    // What was acknowledged is stored.
    let (mut child, addr) = start(&["--data", data_arg]).await;
    let (status, body) =
        http_post(addr, "/message/v1/query", json!({ "contentTopics": [TOPIC] })).await;
    assert_eq!((status, body), (200, json!({ "envelopes": [envelope] })));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sigint_exits_zero_and_logs_the_shutdown_as_json() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devnode"))
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = timeout(Duration::from_secs(20), stdout.read(&mut first)).await.unwrap().unwrap();
    assert!(first[..n].starts_with(b"devnode listening on http://"));
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().await.unwrap().success());
    let exit = timeout(Duration::from_secs(5), child.wait()).await.expect("exited").unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    let events: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let messages: Vec<&str> =
        events.iter().filter_map(|e| e["fields"]["message"].as_str()).collect();
    for wanted in ["listening", "SIGINT: shutting down", "stopped"] {
        assert!(messages.contains(&wanted), "{wanted:?} not in {messages:?}");
    }
    assert!(events.iter().all(|e| e["level"].is_string() && e["timestamp"].is_string()));
}
