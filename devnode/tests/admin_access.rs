//! Who may use the admin routes: nobody unless the node has an admin token, and then only a
//! JSON request that carries it. CORS does not stop a page on another origin from *sending*
//! a simple request (a `no-cors` POST with a text body); these checks are what stop it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use common::*;
use devnode::{AppState, FaultConfig};
use serde_json::json;
use tower::ServiceExt as _;

const ADMIN_ROUTES: [(&str, &str); 3] =
    [("GET", "/devnode/faults"), ("POST", "/devnode/faults"), ("POST", "/devnode/stats/reset")];

/// A request with exactly `headers`; status and JSON body.
async fn request(
    app: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req =
        Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    (status, json_body(resp).await)
}

#[tokio::test]
async fn admin_routes_are_absent_without_a_token() {
    let app = devnode::app(AppState::in_memory());
    for (method, path) in ADMIN_ROUTES {
        // Even with a token of some kind: there is none to match.
        let auth = [("content-type", "application/json"), ("authorization", "Bearer x")];
        let (status, body) = request(&app, method, path, &auth, "{}").await;
        assert_error(status.try_into().unwrap(), &body, 404, 5);
    }
    // The public ones stay.
    assert_eq!(get(&app, "/devnode/health").await.1, json!({ "status": "ok", "store": "local" }));
    assert_eq!(get(&app, "/devnode/stats").await.0, 200);
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_and_changes_nothing() {
    let (state, app) = node_with_admin().await;
    let wrong = format!("Bearer {ADMIN_TOKEN}x");
    let lower = format!("bearer {ADMIN_TOKEN}");
    let short = format!("Bearer {}", &ADMIN_TOKEN[1..]);
    for auth in [None, Some(wrong.as_str()), Some(ADMIN_TOKEN), Some(&lower), Some(&short)] {
        for (method, path) in ADMIN_ROUTES {
            let mut headers = vec![("content-type", "application/json")];
            headers.extend(auth.map(|a| ("authorization", a)));
            let (status, body) =
                request(&app, method, path, &headers, r#"{"publishFailRate":1}"#).await;
            assert_error(status.try_into().unwrap(), &body, 401, 16);
        }
    }
    assert_eq!(state.faults(), FaultConfig::default());
}

#[tokio::test]
async fn an_admin_post_must_be_declared_json() {
    let (state, app) = node_with_admin().await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    for content_type in
        [None, Some("text/plain;charset=UTF-8"), Some("application/x-www-form-urlencoded")]
    {
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend(content_type.map(|c| ("content-type", c)));
        for path in ["/devnode/faults", "/devnode/stats/reset"] {
            let (status, body) =
                request(&app, "POST", path, &headers, r#"{"publishFailRate":1}"#).await;
            assert_error(status.try_into().unwrap(), &body, 415, 3);
        }
    }
    assert_eq!(state.faults(), FaultConfig::default());
    // The same with JSON declared goes through.
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let (status, body) =
        request(&app, "POST", "/devnode/faults", &headers, r#"{"publishFailRate":1}"#).await;
    assert_eq!((status, &body["publishFailRate"]), (200, &json!(1.0)), "{body}");
    assert_eq!(state.faults().publish_fail_rate, 1.0);
}

#[tokio::test]
async fn a_cross_origin_simple_request_is_refused() {
    // What `fetch(node + "/devnode/faults", { method: "POST", mode: "no-cors", body })` sends
    // from any web page.
    let app = node().await;
    let headers =
        [("origin", "https://evil.example"), ("content-type", "text/plain;charset=UTF-8")];
    let (status, body) =
        request(&app, "POST", "/devnode/faults", &headers, r#"{"publishFailRate":1}"#).await;
    assert_error(status.try_into().unwrap(), &body, 401, 16);
    assert_eq!(get(&app, "/devnode/faults").await.1["publishFailRate"], json!(0.0));
}
