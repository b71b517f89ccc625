//! Routes under `/devnode/` (not part of XMTP's API). Public: the health check and the
//! request statistics (read-only, and nothing the message API does not already show).
//! Admin, for tests: the fault config and the stats reset, mounted only when the node has an
//! admin token, and then answered only to requests that carry it.
//!
//! Why both a token and `content-type: application/json`: CORS does not stop a *simple*
//! request (a `no-cors` POST with a text body) from being processed, only its answer from
//! being read, so any web page could otherwise switch the node's faults. The token is the
//! lock; requiring JSON as well makes every admin POST a non-simple request that browsers
//! preflight, so a page on another origin never gets one through even by a leaked token.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::routes::read_json;
use crate::{AppState, FaultConfig, Stats};

/// The routes anyone may call.
pub(crate) fn public_router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/devnode/stats", get(get_stats))
        .route("/devnode/health", get(health))
}

/// The admin routes, behind [`require_token`] (`state` holds the token).
pub(crate) fn admin_router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/devnode/faults", get(get_faults).post(set_faults))
        .route("/devnode/stats/reset", post(reset_stats))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_token))
}

/// Lets a request through only with `authorization: Bearer <token>` and, for a POST,
/// `content-type: application/json`.
async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let authorized = match (state.admin_token(), presented) {
        (Some(token), Some(presented)) => same_secret(token.as_bytes(), presented.as_bytes()),
        _ => false,
    };
    if !authorized {
        return Err(ApiError::unauthenticated(
            "admin routes need the node's admin token as `authorization: Bearer <token>`",
        ));
    }
    if req.method() == Method::POST && !is_json(req.headers().get(header::CONTENT_TYPE)) {
        return Err(ApiError::unsupported_media_type(
            "admin requests need `content-type: application/json`",
        ));
    }
    Ok(next.run(req).await)
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Compares in time independent of where the first difference is, so the answer's timing
/// does not reveal the token byte by byte.
fn same_secret(expected: &[u8], presented: &[u8]) -> bool {
    expected.len() == presented.len()
        && expected.iter().zip(presented).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

async fn get_faults(State(state): State<AppState>) -> Json<FaultConfig> {
    Json(state.faults())
}

/// Replaces the whole config (missing fields = off) and reseeds; unknown
/// fields are rejected so a typo cannot silently leave a fault off.
async fn set_faults(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<FaultConfig>, ApiError> {
    let config: FaultConfig = read_json(req).await?;
    state.set_faults(config).map_err(ApiError::invalid)?;
    Ok(Json(state.faults()))
}

async fn get_stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    state.stats().await.map(Json).map_err(|e| ApiError::internal(e.to_string()))
}

async fn reset_stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    state.reset_stats();
    get_stats(State(state)).await
}

/// 200 `{"status":"ok","store":…}` when the store answers (PostgreSQL: a
/// query through the pool, and the notification listener connected), 503
/// `{"status":"unavailable","reason":…}` otherwise, for load balancers.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store().check().await {
        Ok(store) => (StatusCode::OK, Json(json!({ "status": "ok", "store": store }))),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": reason })),
        ),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::{is_json, same_secret};

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!same_secret(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same_secret(b"0123456789abcdef", b""));
    }

    #[test]
    fn json_content_types() {
        for ok in ["application/json", "application/json; charset=utf-8", "Application/JSON"] {
            assert!(is_json(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "multipart/form-data", ""] {
            assert!(!is_json(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
        assert!(!is_json(None));
    }
}
