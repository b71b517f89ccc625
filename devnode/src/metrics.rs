//! Prometheus metrics at `GET /metrics` (OpenMetrics text), plus the
//! middleware that counts and times every request and logs it as a
//! `tracing` span.
//!
//! Metric names (all prefixed `devnode_`):
//! - `requests_total{route, code}`: answered requests by route pattern and
//!   HTTP status (`route="unmatched"` for unknown paths, to bound cardinality);
//! - `request_duration_seconds{route}`: histogram of the time to the response
//!   head (for a subscribe stream: until the stream starts, not its length);
//! - `envelopes_stored_total`: envelopes this replica newly stored (exact
//!   duplicates not counted);
//! - `open_streams`: subscribe streams open on this replica now;
//! - `notifications_total`: store notifications received from other replicas
//!   (bumped by the listener through [`Metrics::notification`]);
//! - `rate_limited_total{limit}`: requests answered 429, by `ip` or `topic`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

use crate::AppState;

/// The OpenMetrics content type Prometheus asks for and this module writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

/// Which rate limit answered 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Ip,
    Topic,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The node's metrics; one per [`AppState`], reached with
/// [`AppState::metrics`]. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    envelopes_stored: Counter,
    open_streams: Gauge,
    notifications: Counter,
    rate_limited: Family<LimitLabels, Counter>,
}

/// 0.5 ms to ~16 s, doubling: publishes and queries take around a
/// millisecond in memory and tens of milliseconds on a busy database.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::with_prefix("devnode"),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            envelopes_stored: Counter::default(),
            open_streams: Gauge::default(),
            notifications: Counter::default(),
            rate_limited: Family::default(),
        };
        metrics.registered()
    }
}

impl Metrics {
    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register("requests", "Answered HTTP requests by route and status", self.requests.clone());
        r.register(
            "request_duration_seconds",
            "Time to the response head, by route",
            self.latency.clone(),
        );
        r.register(
            "envelopes_stored",
            "Envelopes newly stored by this replica",
            self.envelopes_stored.clone(),
        );
        r.register("open_streams", "Subscribe streams open now", self.open_streams.clone());
        r.register(
            "notifications",
            "Store notifications received from the database",
            self.notifications.clone(),
        );
        r.register("rate_limited", "Requests answered 429, by limit", self.rate_limited.clone());
        self
    }

    /// Counts one notification received (PostgreSQL `NOTIFY` of envelopes
    /// stored by any replica).
    pub fn notification(&self) {
        self.notifications.inc();
    }

    /// The notification counter itself, for the replica listener's task
    /// (which outlives no `AppState` but cannot borrow one).
    pub(crate) fn notifications(&self) -> Counter {
        self.notifications.clone()
    }

    /// Counts envelopes this replica newly stored.
    pub(crate) fn envelopes_stored(&self, count: u64) {
        self.envelopes_stored.inc_by(count);
    }

    /// Counts an open stream until the returned guard is dropped (with the
    /// stream body, however the stream ends).
    pub(crate) fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }

    pub(crate) fn rate_limited(&self, kind: LimitKind) {
        let limit = match kind {
            LimitKind::Ip => "ip",
            LimitKind::Topic => "topic",
        };
        self.rate_limited.get_or_create(&LimitLabels { limit }).inc();
    }

    fn observe(&self, route: &str, status: StatusCode, seconds: f64) {
        let route = route.to_owned();
        self.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(seconds);
        self.requests.get_or_create(&RequestLabels { route, code: status.as_u16() }).inc();
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Keeps `open_streams` up while alive.
#[derive(Debug)]
pub(crate) struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    match state.metrics().encode() {
        Ok(text) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response()
        }
        Err(_) => crate::error::ApiError::internal("could not encode the metrics").into_response(),
    }
}

/// Outermost middleware of [`crate::app`]: one `request` span per request
/// (method, route), a debug event with status and latency when it is
/// answered, and the request metrics.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", method = %req.method(), route = %route);
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    span.in_scope(|| {
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(status = status.as_u16(), latency_us, "answered");
    });
    state.metrics().observe(&route, status, elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::StatusCode;

    use super::{LimitKind, Metrics};

    #[test]
    fn exposition_carries_every_metric() {
        let metrics = Metrics::default();
        metrics.observe("/message/v1/publish", StatusCode::OK, 0.002);
        metrics.observe("/message/v1/publish", StatusCode::OK, 0.004);
        metrics.envelopes_stored(3);
        metrics.notification();
        metrics.rate_limited(LimitKind::Topic);
        let stream = metrics.stream_opened();
        let text = metrics.encode().unwrap();
        for line in [
            "devnode_requests_total{route=\"/message/v1/publish\",code=\"200\"} 2",
            "devnode_request_duration_seconds_count{route=\"/message/v1/publish\"} 2",
            "devnode_envelopes_stored_total 3",
            "devnode_open_streams 1",
            "devnode_notifications_total 1",
            "devnode_rate_limited_total{limit=\"topic\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        drop(stream);
        assert!(metrics.encode().unwrap().lines().any(|l| l == "devnode_open_streams 0"));
    }
}
