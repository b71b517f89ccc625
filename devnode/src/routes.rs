//! Handlers of `xmtp.message_api.v1`: publish, query, batch-query,
//! subscribe, subscribe-all; plus the JSON 404/405 answers and the request
//! body reader every route shares.

use std::collections::HashSet;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::{
    BatchQueryRequest, BatchQueryResponse, Cursor, Direction, IndexCursor, PagingInfo,
    PublishRequest, QueryRequest, QueryResponse, SubscribeRequest, TOPIC_PREFIX,
};
use crate::error::ApiError;
use crate::faults::PublishFault;
use crate::limits::limit_topics;
use crate::store::{CursorKey, PageQuery};
use crate::stream::{self, TopicFilter};
use crate::{AppState, MAX_BODY_BYTES, MAX_MESSAGE_BYTES, MAX_PAGE_LIMIT, MAX_TOPICS};

/// Routes under `/message/v1/`.
pub(crate) fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/message/v1/publish", post(publish))
        .route("/message/v1/query", post(query))
        .route("/message/v1/batch-query", post(batch_query))
        .route("/message/v1/subscribe", post(subscribe))
        .route("/message/v1/subscribe-all", post(subscribe_all))
}

/// Any unknown path: 404, code 5.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// A known path with the wrong method: 405, code 12.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("method {method} not allowed on {}", uri.path()))
}

/// Reads and parses a JSON body. The body is read here, not by axum's
/// `Json` extractor, so that every rejection has the gRPC-style JSON body.
/// An empty body counts as `{}`.
pub(crate) async fn read_json<T: DeserializeOwned + Default>(req: Request) -> Result<T, ApiError> {
    let too_large = |size: String| {
        ApiError::too_large(format!(
            "request body{size} exceeds the limit of {MAX_BODY_BYTES} bytes (16 MiB)"
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large(format!(" of {len} bytes")));
    }
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large(String::new())
        } else {
            ApiError::invalid(format!("could not read request body: {e}"))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("invalid JSON request body: {e}")))
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The `latencyMs` fault, applied before answering publish and queries.
async fn injected_latency(state: &AppState) {
    let ms = state.fault_state().config().latency_ms;
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

fn check_topic(topic: &str) -> Result<(), ApiError> {
    if topic.starts_with(TOPIC_PREFIX) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "expected content topic starting with {TOPIC_PREFIX:?}, got {topic:?}"
        )))
    }
}

fn check_topics(topics: &[String]) -> Result<(), ApiError> {
    if topics.is_empty() {
        return Err(ApiError::invalid("expected at least one content topic, got none"));
    }
    if topics.len() > MAX_TOPICS {
        return Err(ApiError::invalid(format!(
            "expected at most {MAX_TOPICS} content topics, got {}",
            topics.len()
        )));
    }
    topics.iter().try_for_each(|t| check_topic(t))
}

async fn publish(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.counters().requests.publish += 1;
    injected_latency(&state).await;
    let body: PublishRequest = read_json(req).await?;
    for (i, env) in body.envelopes.iter().enumerate() {
        check_topic(&env.content_topic)
            .map_err(|e| ApiError::invalid(format!("envelopes[{i}]: {}", e.message)))?;
        if env.message.len() > MAX_MESSAGE_BYTES {
            return Err(ApiError::invalid(format!(
                "envelopes[{i}]: expected message of at most {MAX_MESSAGE_BYTES} bytes (1 MiB), \
                 got {} bytes",
                env.message.len()
            )));
        }
    }
    limit_topics(&state, body.envelopes.iter().map(|e| e.content_topic.as_str()))?;
    // Decided only for valid requests, so bad ones do not shift the replay.
    let fault = state.fault_state().publish();
    if fault == PublishFault::Fail {
        return Err(ApiError::unavailable("injected fault: publish failed, nothing stored"));
    }
    state
        .store()
        .publish(body.envelopes, |env| {
            state.metrics().envelopes_stored(1);
            state.announce(env);
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if fault == PublishFault::DropAck {
        return Err(ApiError::unavailable(
            "injected fault: acknowledgement dropped (envelopes were stored)",
        ));
    }
    Ok(Json(json!({})))
}

/// Runs one (already validated) query and applies the duplicate fault.
async fn run_query(state: &AppState, req: &QueryRequest) -> Result<QueryResponse, ApiError> {
    let paging = req.paging_info.clone().unwrap_or_default();
    let limit = match usize::try_from(paging.limit) {
        Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
        _ => MAX_PAGE_LIMIT,
    };
    let direction = match paging.direction {
        Direction::Unspecified => Direction::Ascending,
        d => d,
    };
    let cursor = paging
        .cursor
        .and_then(|c| c.index)
        .map(|i| CursorKey { timestamp_ns: i.sender_time_ns, digest: i.digest });
    let page = state
        .store()
        .page(&PageQuery {
            topics: &req.content_topics,
            start_ns: req.start_time_ns,
            end_ns: req.end_time_ns,
            descending: direction.is_descending(),
            cursor,
            limit,
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let paging_info = match (page.more, page.envelopes.last()) {
        (true, Some(last)) => Some(PagingInfo {
            limit: limit as u64,
            direction,
            cursor: Some(Cursor {
                index: Some(IndexCursor {
                    digest: last.digest.to_vec(),
                    sender_time_ns: last.timestamp_ns,
                }),
            }),
        }),
        _ => None,
    };
    let mut envelopes = Vec::with_capacity(page.envelopes.len());
    let mut faults = state.fault_state();
    for env in &page.envelopes {
        if faults.duplicate_in_query() {
            envelopes.push(env.wire.clone());
        }
        envelopes.push(env.wire.clone());
    }
    Ok(QueryResponse { envelopes, paging_info })
}

async fn query(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<QueryResponse>, ApiError> {
    state.counters().requests.query += 1;
    injected_latency(&state).await;
    let body: QueryRequest = read_json(req).await?;
    check_topics(&body.content_topics)?;
    limit_topics(&state, body.content_topics.iter().map(String::as_str))?;
    state.counters().count_query_topics(&body.content_topics);
    Ok(Json(run_query(&state, &body).await?))
}

async fn batch_query(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<BatchQueryResponse>, ApiError> {
    state.counters().requests.batch_query += 1;
    injected_latency(&state).await;
    let body: BatchQueryRequest = read_json(req).await?;
    for (i, q) in body.requests.iter().enumerate() {
        check_topics(&q.content_topics)
            .map_err(|e| ApiError::invalid(format!("requests[{i}]: {}", e.message)))?;
    }
    limit_topics(&state, body.requests.iter().flat_map(|q| &q.content_topics).map(String::as_str))?;
    {
        let mut counters = state.counters();
        for q in &body.requests {
            counters.count_query_topics(&q.content_topics);
        }
    }
    let mut responses = Vec::with_capacity(body.requests.len());
    for q in &body.requests {
        responses.push(run_query(&state, q).await?);
    }
    Ok(Json(BatchQueryResponse { responses }))
}

async fn subscribe(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    state.counters().requests.subscribe += 1;
    let body: SubscribeRequest = read_json(req).await?;
    check_topics(&body.content_topics)?;
    limit_topics(&state, body.content_topics.iter().map(String::as_str))?;
    let topics: HashSet<String> = body.content_topics.into_iter().collect();
    Ok(open_stream(&state, TopicFilter::Topics(topics)))
}

/// `subscribe-all` takes an empty request; any JSON object is accepted.
#[derive(Debug, Default, serde::Deserialize)]
struct Empty {}

async fn subscribe_all(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    state.counters().requests.subscribe_all += 1;
    let _: Empty = read_json(req).await?;
    Ok(open_stream(&state, TopicFilter::All))
}

/// Starts listening *before* answering, so anything published once the
/// client has the response headers is delivered.
fn open_stream(state: &AppState, filter: TopicFilter) -> Response {
    let (rx, shutdown) = state.listen();
    let faults = state.fault_state().open_stream();
    // Dropped with the body, however the stream ends.
    let open = state.metrics().stream_opened();
    let lines = stream::lines(rx, shutdown, filter, faults).inspect(move |_| {
        let _ = &open;
    });
    let body = Body::from_stream(lines);
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
