//! Helpers shared by the integration tests: drive the Router in-process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod postgres;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use devnode::{AppState, Options, app};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The admin token of [`node`]; [`send`] presents it on every request.
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The store the nodes of this test binary use: the API suite (`api/`) runs
/// in `memory.rs`, `on_file.rs` and `on_postgres.rs`, whose crate names pick
/// the store; every other test binary uses memory.
fn store_options() -> Options {
    match env!("CARGO_CRATE_NAME") {
        "on_postgres" => Options { database: Some(String::new()), ..Options::default() },
        "on_file" => {
            // Kept (cargo's per-target temp dir), as the node outlives this call.
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("devnode-file-store");
            std::fs::create_dir_all(&dir).unwrap();
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("{}-{n}.jsonl", std::process::id());
            let path = dir.join(name);
            // A leftover of an earlier run with the same pid must not leak in.
            let _ = std::fs::remove_file(&path);
            Options { data: Some(path), ..Options::default() }
        }
        _ => Options::default(),
    }
}

/// A fresh node with its admin routes on (behind [`ADMIN_TOKEN`]), on this
/// binary's store.
pub(crate) async fn node() -> Router {
    node_with_admin().await.1
}

/// [`node`] and its state, to look into.
pub(crate) async fn node_with_admin() -> (AppState, Router) {
    let mut options = Options { admin_token: Some(ADMIN_TOKEN.to_owned()), ..store_options() };
    if options.database.is_some() {
        options.database = Some(postgres::fresh_database_url().await);
    }
    let state = AppState::new(options).await.unwrap();
    (state.clone(), app(state))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

/// A wire envelope with a string timestamp.
pub(crate) fn env(topic: &str, ts: u64, message: &[u8]) -> Value {
    json!({ "contentTopic": topic, "timestampNs": ts.to_string(), "message": b64(message) })
}

/// Sends a JSON request with a raw body, as the tests' admin, and returns the raw response.
pub(crate) async fn send(
    app: &Router,
    method: Method,
    path: &str,
    body: impl Into<Body>,
) -> Response<Body> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(body.into())
        .unwrap();
    app.clone().oneshot(req).await.unwrap()
}

/// Reads a whole (finite) response body as JSON.
pub(crate) async fn json_body(resp: Response<Body>) -> Value {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// POSTs JSON, returns status and parsed body.
pub(crate) async fn post(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = send(app, Method::POST, path, body.to_string()).await;
    let status = resp.status();
    (status, json_body(resp).await)
}

/// GETs, returns status and parsed body.
pub(crate) async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let resp = send(app, Method::GET, path, Body::empty()).await;
    let status = resp.status();
    (status, json_body(resp).await)
}

/// Publishes envelopes and asserts success.
pub(crate) async fn publish(app: &Router, envelopes: Vec<Value>) {
    let (status, body) = post(app, "/message/v1/publish", json!({ "envelopes": envelopes })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({}));
}

/// Runs one query and asserts success.
pub(crate) async fn query(app: &Router, request: Value) -> Value {
    let (status, body) = post(app, "/message/v1/query", request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Pages through a query by sending the cursor back until there is none;
/// returns every page's envelopes.
pub(crate) async fn query_all_pages(app: &Router, mut request: Value) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    loop {
        let resp = query(app, request.clone()).await;
        pages.push(resp["envelopes"].as_array().cloned().unwrap_or_default());
        match resp.get("pagingInfo").and_then(|p| p.get("cursor")) {
            Some(cursor) => {
                request["pagingInfo"]["cursor"] = cursor.clone();
            }
            None => return pages,
        }
        assert!(pages.len() < 1000, "paging does not terminate");
    }
}

/// Asserts an error status and the gRPC-style JSON body; returns the message.
pub(crate) fn assert_error(
    status: StatusCode,
    body: &Value,
    want_status: u16,
    want_code: i64,
) -> String {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["code"], json!(want_code), "{body}");
    assert_eq!(body["details"], json!([]), "{body}");
    let message = body["message"].as_str().expect("message string").to_owned();
    assert!(!message.is_empty());
    message
}

/// What reading a stream produced.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    Line(Value),
    End,
    Timeout,
}

/// Reads newline-delimited JSON from a streaming response body.
pub(crate) struct Lines {
    body: Body,
    buf: Vec<u8>,
    ended: bool,
}

impl Lines {
    pub(crate) fn new(resp: Response<Body>) -> Self {
        Self { body: resp.into_body(), buf: Vec::new(), ended: false }
    }

    /// The next line, waiting at most `wait`.
    pub(crate) async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Next::Line(serde_json::from_slice(&line).unwrap());
            }
            if self.ended {
                assert!(self.buf.is_empty(), "stream ended mid-line");
                return Next::End;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Next::Timeout,
                Ok(None) => self.ended = true,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next line's envelope (`result`), failing on end or timeout.
    pub(crate) async fn envelope(&mut self) -> Value {
        match self.next(Duration::from_secs(5)).await {
            Next::Line(v) => v["result"].clone(),
            other => panic!("expected a stream line, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives for a short while.
    pub(crate) async fn assert_quiet(&mut self) {
        match self.next(Duration::from_millis(200)).await {
            Next::Timeout => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Asserts the stream ends (soon).
    pub(crate) async fn assert_end(&mut self) {
        match self.next(Duration::from_secs(5)).await {
            Next::End => {}
            other => panic!("expected end of stream, got {other:?}"),
        }
    }
}

/// Opens a subscribe stream and checks the response head.
pub(crate) async fn subscribe(app: &Router, path: &str, body: Value) -> Lines {
    let resp = send(app, Method::POST, path, body.to_string()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    Lines::new(resp)
}

/// The message bytes of a wire envelope, as text.
pub(crate) fn text_of(envelope: &Value) -> String {
    String::from_utf8(unb64(envelope["message"].as_str().unwrap())).unwrap()
}

/// Scrapes and returns the exposition text, checking its content type.
pub(crate) async fn scrape(app: &Router) -> String {
    let resp = send(app, Method::GET, "/metrics", Body::empty()).await;
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The value of the sample named exactly `series` (name plus labels).
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
