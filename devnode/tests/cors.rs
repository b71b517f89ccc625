//! CORS: loopback origins on any port are allowed, others get nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Request, Response};
use common::node;
use tower::ServiceExt as _;

async fn preflight(origin: &str, path: &str) -> Response<Body> {
    let req = Request::options(path)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-client-version")
        .body(Body::empty())
        .unwrap();
    node().await.oneshot(req).await.unwrap()
}

fn header<'a>(resp: &'a Response<Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn preflight_from_loopback_origins_is_allowed() {
    for origin in ["http://localhost:3000", "http://127.0.0.1:8080", "https://[::1]:5173"] {
        let resp = preflight(origin, "/message/v1/query").await;
        assert!(resp.status().is_success(), "{origin}: {}", resp.status());
        assert_eq!(header(&resp, "access-control-allow-origin"), Some(origin));
        assert_eq!(header(&resp, "access-control-max-age"), Some("600"));
        let methods = header(&resp, "access-control-allow-methods").unwrap();
        for m in ["GET", "POST", "OPTIONS"] {
            assert!(methods.contains(m), "{methods}");
        }
        let headers = header(&resp, "access-control-allow-headers").unwrap().to_ascii_lowercase();
        for h in ["content-type", "authorization", "x-client-version", "x-app-version"] {
            assert!(headers.contains(h), "{headers}");
        }
    }
}

#[tokio::test]
async fn preflight_from_other_origins_gets_no_cors_headers() {
    for origin in
        ["https://evil.example", "http://localhost.evil.example", "http://192.168.1.2:3000"]
    {
        let resp = preflight(origin, "/message/v1/query").await;
        let cors: Vec<_> =
            resp.headers().keys().filter(|k| k.as_str().starts_with("access-control-")).collect();
        assert!(cors.is_empty(), "{origin}: {cors:?}");
    }
}

#[tokio::test]
async fn actual_requests_and_errors_carry_cors_headers() {
    for (path, status) in [("/devnode/health", 200), ("/nope", 404)] {
        let req = Request::get(path)
            .header("origin", "http://localhost:3000")
            .body(Body::empty())
            .unwrap();
        let resp = node().await.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(header(&resp, "access-control-allow-origin"), Some("http://localhost:3000"));
    }
    let req = Request::get("/devnode/health")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let resp = node().await.oneshot(req).await.unwrap();
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
}
