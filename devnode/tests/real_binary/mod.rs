//! Helpers for the tests that run the real `devnode` binary and talk HTTP/1.1 to it over TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// The admin token the binary is started with where a test needs the admin routes.
pub(crate) const TOKEN: &str = "binary-test-token-0123456789";

/// Starts the binary on a free port and parses the address it prints.
pub(crate) async fn start(extra: &[&str]) -> (Child, SocketAddr) {
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
pub(crate) async fn write_post(
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

/// One JSON POST with the admin token, on its own connection; returns status and JSON body.
pub(crate) async fn http_post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {TOKEN}");
    let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    http(addr, "POST", path, &addr.to_string(), &headers, &body.to_string()).await
}

/// One request with exactly these `Host` and other headers, on its own connection; returns
/// status and JSON body.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    stream.write_all((head + body).as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    (status, serde_json::from_str(body).unwrap())
}

/// Reads from a stream until `needle` shows up in what was received.
pub(crate) async fn read_until(stream: &mut TcpStream, received: &mut Vec<u8>, needle: &str) {
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
