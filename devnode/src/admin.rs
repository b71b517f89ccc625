//! Admin/test routes under `/devnode/` (not part of XMTP's API): fault
//! injection, request statistics and a health check.

use axum::Json;
use axum::extract::{Request, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::routes::read_json;
use crate::{AppState, FaultConfig, Stats};

/// Routes under `/devnode/`.
pub(crate) fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/devnode/faults", get(get_faults).post(set_faults))
        .route("/devnode/stats", get(get_stats))
        .route("/devnode/stats/reset", post(reset_stats))
        .route("/devnode/health", get(health))
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

async fn get_stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.stats())
}

async fn reset_stats(State(state): State<AppState>) -> Json<Stats> {
    state.reset_stats();
    Json(state.stats())
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}
