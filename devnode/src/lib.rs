//! `devnode`: a local HTTP node speaking XMTP's message API v1
//! (`xmtp.message_api.v1` over HTTP/JSON, as XMTP's grpc-gateway serves it),
//! plus request statistics and, for tests that pass an admin token, fault
//! injection, so the SDK can be tested end to end without a network.
//!
//! Use [`app`] to get an [`axum::Router`] over an [`AppState`] (tests drive
//! it in-process), or [`serve`] to run it on a listener (which adds the
//! `Host` check of loopback binds).

mod admin;
mod api;
mod backend;
mod cors;
mod error;
mod faults;
mod host;
mod limits;
mod metrics;
mod notify;
mod postgres;
mod routes;
mod stats;
mod store;
mod stream;

use std::future::{Future, IntoFuture as _};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

pub use cors::AllowedOrigins;
pub use faults::FaultConfig;
pub use limits::{Rate, RateLimits};
pub use metrics::Metrics;
pub use stats::{RequestCounts, Stats};
pub use store::StoreError;

use backend::Backend;
use faults::Faults;
use limits::Limiter;
use stats::Counters;
use store::{Store, StoredEnvelope};
use stream::Event;

/// Largest accepted request body: 16 MiB (larger answers 413, code 8).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Largest accepted envelope message once decoded: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most content topics one query or subscribe may name.
pub const MAX_TOPICS: usize = 100;
/// Page size used for a limit of 0 or over this value, as XMTP nodes do.
pub const MAX_PAGE_LIMIT: usize = 100;

/// How long [`serve`] lets in-flight requests finish after the shutdown
/// signal before returning anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to build an [`AppState`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Persist envelopes to this JSON-lines file (loaded first if it
    /// exists); `None` keeps everything in memory.
    pub data: Option<PathBuf>,
    /// Initial fault seed; every fault starts off either way.
    pub seed: Option<u64>,
    /// Envelopes a subscriber may fall behind by before its stream is ended
    /// (clamped to `1..=1048576`).
    pub stream_buffer: usize,
    /// Mounts the admin routes (`/devnode/faults`, `/devnode/stats/reset`),
    /// answered only to requests carrying this token as
    /// `authorization: Bearer <token>`; `None` leaves them out (404).
    pub admin_token: Option<String>,
    /// Keep envelopes in this PostgreSQL database
    /// (`postgres://user:password@host:port/dbname`) instead of `data`.
    pub database: Option<String>,
    /// With `database`: delete envelopes stored more than this many days ago
    /// (checked at start and hourly); `None` keeps them forever.
    pub retention_days: Option<u32>,
    /// Origins whose pages may read the answers (CORS); loopback by default.
    pub allow_origins: AllowedOrigins,
    /// Per-IP and per-topic rate limits; off by default.
    pub rate_limits: RateLimits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            data: None,
            seed: None,
            stream_buffer: 1024,
            admin_token: None,
            database: None,
            retention_days: None,
            allow_origins: AllowedOrigins::default(),
            rate_limits: RateLimits::default(),
        }
    }
}

/// Shared node state: storage, fault config, counters and the channel that
/// feeds subscribe streams. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    store: Backend,
    faults: Mutex<Faults>,
    counters: Mutex<Counters>,
    events: broadcast::Sender<Event>,
    shutdown: watch::Sender<bool>,
    admin_token: Option<String>,
    // Operability: metrics, rate limits, CORS policy.
    metrics: Metrics,
    limiter: Limiter,
    allow_origins: AllowedOrigins,
}

/// Locks a mutex; a panic elsewhere must not take the whole node down, and
/// every critical section leaves the data consistent, so poison is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    /// Builds the state: connects to `options.database` (migrating its
    /// schema) or loads `options.data`, if given. Must run inside a Tokio
    /// runtime (retention runs as a task on it).
    pub async fn new(options: Options) -> Result<Self, StoreError> {
        let events = event_channel(&options);
        let metrics = Metrics::default();
        let store = match (&options.database, &options.data) {
            (Some(_), Some(_)) => {
                return Err(StoreError::Options("give a database or a data file, not both"));
            }
            // On PostgreSQL the store's listener feeds the streams.
            (Some(url), None) => {
                let notifications = metrics.notifications();
                Backend::Postgres(
                    postgres::PgStore::connect(url, events.clone(), notifications).await?,
                )
            }
            (None, Some(path)) => Backend::Local(Mutex::new(Store::open(path)?)),
            (None, None) => Backend::Local(Mutex::new(Store::in_memory())),
        };
        if options.retention_days.is_some() && options.database.is_none() {
            return Err(StoreError::Options("retention needs a database"));
        }
        let retention_days = options.retention_days;
        let state = Self::from_parts(store, events, metrics, options);
        if let Some(days) = retention_days {
            postgres::spawn_retention(Arc::downgrade(&state.inner), days);
        }
        Ok(state)
    }

    /// An in-memory node with default options.
    pub fn in_memory() -> Self {
        let options = Options::default();
        let events = event_channel(&options);
        let store = Backend::Local(Mutex::new(Store::in_memory()));
        Self::from_parts(store, events, Metrics::default(), options)
    }

    fn from_parts(
        store: Backend,
        events: broadcast::Sender<Event>,
        metrics: Metrics,
        options: Options,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store,
                faults: Mutex::new(Faults::new(FaultConfig {
                    seed: options.seed.unwrap_or(0),
                    ..FaultConfig::default()
                })),
                counters: Mutex::new(Counters::default()),
                events,
                shutdown,
                admin_token: options.admin_token,
                metrics,
                limiter: Limiter::new(&options.rate_limits),
                allow_origins: options.allow_origins,
            }),
        }
    }

    /// The token the admin routes ask for; `None` when they are off.
    pub fn admin_token(&self) -> Option<&str> {
        self.inner.admin_token.as_deref()
    }

    /// The fault config in force.
    pub fn faults(&self) -> FaultConfig {
        lock(&self.inner.faults).config().clone()
    }

    /// Replaces the fault config and reseeds its RNGs; rejects rates
    /// outside `0..=1`.
    pub fn set_faults(&self, config: FaultConfig) -> Result<(), String> {
        config.validate()?;
        *lock(&self.inner.faults) = Faults::new(config);
        Ok(())
    }

    /// Request counters plus the stored envelope count.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let envelopes = self.inner.store.len().await?;
        Ok(lock(&self.inner.counters).snapshot(envelopes))
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        *lock(&self.inner.counters) = Counters::default();
    }

    /// The node's Prometheus metrics (served at `GET /metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    pub(crate) fn store(&self) -> &Backend {
        &self.inner.store
    }

    pub(crate) fn fault_state(&self) -> MutexGuard<'_, Faults> {
        lock(&self.inner.faults)
    }

    pub(crate) fn counters(&self) -> MutexGuard<'_, Counters> {
        lock(&self.inner.counters)
    }

    /// Hands a freshly stored envelope to the open streams, in the order the
    /// memory or file store stored them (on PostgreSQL the listener feeds the
    /// streams instead, see `notify.rs`).
    pub(crate) fn announce(&self, envelope: Arc<StoredEnvelope>) {
        // Err only means nobody is subscribed right now.
        let _ = self.inner.events.send(Event::Envelope(envelope));
    }

    /// Receivers a new subscribe stream listens on.
    pub(crate) fn listen(&self) -> (broadcast::Receiver<Event>, watch::Receiver<bool>) {
        (self.inner.events.subscribe(), self.inner.shutdown.subscribe())
    }

    /// Ends every open subscribe stream (and any opened later), so a
    /// graceful server shutdown is not held up by endless bodies.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }
}

/// The channel that feeds subscribe streams, holding `stream_buffer` events.
fn event_channel(options: &Options) -> broadcast::Sender<Event> {
    // broadcast::channel panics on 0 or absurd capacities.
    broadcast::channel(options.stream_buffer.clamp(1, 1 << 20)).0
}

/// The full HTTP surface: message API v1, the public `/devnode/` routes, the
/// admin routes if the state has an admin token, `/metrics`, JSON 404/405,
/// CORS, rate limits, and the request metrics and log spans.
pub fn app(state: AppState) -> Router {
    let admin = match state.admin_token() {
        Some(_) => admin::admin_router(&state),
        None => Router::new(),
    };
    let origins = state.inner.allow_origins.clone();
    let message_api = routes::router()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), limits::limit_by_ip));
    Router::new()
        .merge(message_api)
        .merge(admin::public_router())
        .merge(admin)
        .route("/metrics", axum::routing::get(metrics::scrape))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(cors::layer(origins.clone()))
        .layer(axum::middleware::from_fn_with_state(origins, cors::strip_for_foreign_origins))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then ends all
/// subscribe streams and waits (at most a few seconds) for in-flight
/// requests to finish. On a loopback address, only requests whose `Host`
/// names that address are answered (the others get 403: DNS rebinding).
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut router = app(state.clone());
    if let Some(hosts) = host::LoopbackHosts::for_bind(listener.local_addr()?) {
        // Outermost, so a rebound page's request reaches nothing, not even the counters.
        router = router.layer(axum::middleware::from_fn_with_state(hosts, host::check));
    }
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let signal_state = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, ending streams, finishing requests");
        signal_state.shutdown();
        let _ = fired_tx.send(());
    };
    // The peer address feeds the per-IP rate limit.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(signal).into_future();
    let deadline = async move {
        match fired_rx.await {
            Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
            // The server ended on its own; let that branch win.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("requests still running {SHUTDOWN_GRACE:?} after shutdown; leaving them");
            Ok(())
        }
    }
}
