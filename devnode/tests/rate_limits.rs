//! Rate limits per client IP and per topic: 429, code 8, `retry-after`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use common::*;
use devnode::{AppState, Options, Rate, RateLimits, app};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const A: &str = "/xmtp/0/limit-a/proto";
const B: &str = "/xmtp/0/limit-b/proto";

async fn limited_node(limits: RateLimits) -> Router {
    let options = Options { rate_limits: limits, ..Options::default() };
    app(AppState::new(options).await.unwrap())
}

/// A message API POST as it arrives over TCP from `peer`, with extra headers.
async fn from_peer(
    app: &Router,
    peer: &str,
    headers: &[(&str, &str)],
    path: &str,
    body: Value,
) -> Response<Body> {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut req = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.extension(ConnectInfo(peer)).body(Body::from(body.to_string())).unwrap();
    app.clone().oneshot(req).await.unwrap()
}

fn query_body(topics: &[&str]) -> Value {
    json!({ "contentTopics": topics })
}

/// Asserts a 429 with code 8 and a `retry-after` of `secs`.
async fn assert_limited(resp: Response<Body>, secs: &str) -> String {
    assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some(secs));
    let status = resp.status();
    let body = json_body(resp).await;
    assert_error(status, &body, 429, 8)
}

#[tokio::test(start_paused = true)]
async fn per_ip_limit_answers_429_then_refills() {
    let rate = Rate::new(2.0, 3).unwrap();
    let app = limited_node(RateLimits { per_ip: Some(rate), ..RateLimits::default() }).await;
    let query = "/message/v1/query";
    for _ in 0..3 {
        let resp = from_peer(&app, "192.0.2.1:1000", &[], query, query_body(&[A])).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Any message API route counts against the same bucket, whatever port the client uses.
    let resp = from_peer(&app, "192.0.2.1:2000", &[], "/message/v1/publish", json!({})).await;
    let message = assert_limited(resp, "1").await;
    assert!(message.contains("too many requests"), "{message}");
    // Another client is not affected, nor are the node's own routes.
    let resp = from_peer(&app, "192.0.2.2:1000", &[], query, query_body(&[A])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(get(&app, "/devnode/stats").await.0, StatusCode::OK);
    // Half a second brings back one token (2 per second).
    tokio::time::advance(Duration::from_millis(500)).await;
    let resp = from_peer(&app, "192.0.2.1:1000", &[], query, query_body(&[A])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = from_peer(&app, "192.0.2.1:1000", &[], query, query_body(&[A])).await;
    assert_limited(resp, "1").await;
}

#[tokio::test(start_paused = true)]
async fn forwarded_for_is_used_only_when_trusted() {
    let rate = Rate::new(1.0, 1).unwrap();
    let proxy = "10.0.0.1:4000";
    let query = "/message/v1/query";
    let via = |client: &'static str| [("x-forwarded-for", client)];

    // Untrusted: every request from the proxy shares its bucket, whatever it claims.
    let app = limited_node(RateLimits { per_ip: Some(rate), ..RateLimits::default() }).await;
    let first = from_peer(&app, proxy, &via("198.51.100.1"), query, query_body(&[A])).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = from_peer(&app, proxy, &via("198.51.100.2"), query, query_body(&[A])).await;
    assert_limited(second, "1").await;

    // Trusted: the address the proxy appended (the last one) is the client.
    let limits =
        RateLimits { per_ip: Some(rate), trust_forwarded_for: true, ..RateLimits::default() };
    let app = limited_node(limits).await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let resp = from_peer(&app, proxy, &via(client), query, query_body(&[A])).await;
        assert_eq!(resp.status(), StatusCode::OK, "{client}");
    }
    // A client cannot dodge the limit by prepending addresses of its own.
    let claimed = via("203.0.113.9, 198.51.100.1");
    let spoofed = from_peer(&app, proxy, &claimed, query, query_body(&[A])).await;
    assert_limited(spoofed, "1").await;
}

#[tokio::test(start_paused = true)]
async fn per_topic_limit_covers_publish_query_and_subscribe() {
    let rate = Rate::new(1.0, 2).unwrap();
    let app = limited_node(RateLimits { per_topic: Some(rate), ..RateLimits::default() }).await;
    // Two envelopes on one topic in one publish take one token.
    publish(&app, vec![env(A, 1, b"x"), env(A, 2, b"y")]).await;
    query(&app, query_body(&[A])).await;
    let (status, body) = post(&app, "/message/v1/subscribe", query_body(&[A])).await;
    let message = assert_error(status, &body, 429, 8);
    assert!(message.contains("content topic"), "{message}");
    let (status, body) = post(&app, "/message/v1/query", query_body(&[A])).await;
    assert_error(status, &body, 429, 8);
    // A request naming a limited topic is refused whole and charges none of its topics.
    let (status, body) = post(
        &app,
        "/message/v1/batch-query",
        json!({ "requests": [query_body(&[B]), query_body(&[A])] }),
    )
    .await;
    assert_error(status, &body, 429, 8);
    let (status, body) = post(
        &app,
        "/message/v1/publish",
        json!({ "envelopes": [env(B, 3, b"b"), env(A, 3, b"a")] }),
    )
    .await;
    assert_error(status, &body, 429, 8);
    query(&app, query_body(&[B])).await;
    query(&app, query_body(&[B])).await;
    // Nothing of the refused publish was stored.
    tokio::time::advance(Duration::from_secs(1)).await;
    let page = query(&app, query_body(&[A, B])).await;
    assert_eq!(page["envelopes"].as_array().unwrap().len(), 2, "{page}");
    // Limits are not counted as served queries.
    let (_, stats) = get(&app, "/devnode/stats").await;
    assert_eq!(stats["queriesByTopic"][A], json!(2), "{stats}");
    // And the metric tells operators how often it happened.
    let resp = send(&app, axum::http::Method::GET, "/metrics", Body::empty()).await;
    let text = String::from_utf8(
        http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes().to_vec(),
    )
    .unwrap();
    assert!(text.lines().any(|l| l == r#"devnode_rate_limited_total{limit="topic"} 4"#), "{text}");
}

#[tokio::test]
async fn limits_are_off_by_default() {
    let app = node().await;
    for i in 0..200 {
        let resp = from_peer(&app, "192.0.2.1:1000", &[], "/message/v1/query", query_body(&[A]));
        assert_eq!(resp.await.status(), StatusCode::OK, "request {i}");
    }
}
