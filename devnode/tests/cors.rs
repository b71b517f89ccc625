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

/// A memory node with `--allow-origin` values.
async fn node_allowing(origins: &[&str]) -> axum::Router {
    let values: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
    let allow_origins = devnode::AllowedOrigins::from_flags(&values).unwrap();
    let options = devnode::Options { allow_origins, ..devnode::Options::default() };
    devnode::app(devnode::AppState::new(options).await.unwrap())
}

async fn preflight_on(app: &axum::Router, origin: &str) -> Response<Body> {
    let req = Request::options("/message/v1/publish")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn allow_origin_replaces_the_loopback_default() {
    let app = node_allowing(&["https://chat.example.com", "http://intranet.example:8080"]).await;
    for origin in ["https://chat.example.com", "http://intranet.example:8080"] {
        let resp = preflight_on(&app, origin).await;
        assert_eq!(header(&resp, "access-control-allow-origin"), Some(origin));
        assert!(header(&resp, "access-control-allow-methods").unwrap().contains("POST"));
    }
    for origin in ["http://localhost:3000", "https://evil.example", "http://chat.example.com"] {
        let resp = preflight_on(&app, origin).await;
        let cors: Vec<_> =
            resp.headers().keys().filter(|k| k.as_str().starts_with("access-control-")).collect();
        assert!(cors.is_empty(), "{origin}: {cors:?}");
    }
}

#[tokio::test]
async fn allow_origin_star_allows_every_origin() {
    let app = node_allowing(&["*"]).await;
    for origin in ["https://anything.example", "http://localhost:3000"] {
        let resp = preflight_on(&app, origin).await;
        assert_eq!(header(&resp, "access-control-allow-origin"), Some(origin));
    }
}
