//! [`NodeClient`]: one node's message API v1 over `fetch`, at one URL or several that fail
//! over (see [`super::failover`]).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use gloo_net::http::Request;
use gloo_timers::callback::Timeout;
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::JsValue;
use web_sys::{AbortController, AbortSignal};

use super::{
    NetError,
    api::{
        BatchQueryRequest, BatchQueryResponse, Envelope, NodeErrorBody, QueryRequest, QueryResponse,
    },
    failover::NodeUrls,
    json,
    node_state::NodeSeen,
    subscription::Subscription,
};
use crate::{js::describe, wire::Topic};

/// The largest answer body used: a page of honest envelopes is far below it. (The browser
/// reads the body before it is measured; a node cannot make the client decode or keep more.)
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
const _: () = assert!(MAX_ANSWER_BYTES == 16 << 20, "update the TooLarge text");

/// A client of one node (at one URL, or several replicas that serve the same data). Cheap to
/// clone; holds no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClient {
    /// Shared by the clones, so a URL found down is left by all of them.
    urls: Rc<NodeUrls>,
    timeout_ms: u32,
    /// What this client's requests (and its clones') found since the processors last
    /// settled the node's state.
    seen: Rc<RefCell<NodeSeen>>,
}

#[derive(Serialize)]
struct PublishBody<'a> {
    envelopes: &'a [Envelope],
}

impl NodeClient {
    /// How long a request may take before it fails with [`NetError::Timeout`].
    pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;

    /// A client of the node at `base_url` (for example `http://127.0.0.1:5555`).
    pub fn new(base_url: &str) -> Self {
        Self::with_urls(&[base_url])
    }

    /// A client of the node at `urls` (replicas serving the same data): requests go to the
    /// first until it fails, then fail over to the next (see [`super::failover`]).
    pub fn with_urls(urls: &[&str]) -> Self {
        Self {
            urls: Rc::new(NodeUrls::new(urls)),
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            seen: Rc::default(),
        }
    }

    /// The same client with another request timeout.
    pub fn with_timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The base URL in use now, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.urls.in_use().1
    }

    /// Every URL of the node, in the order given.
    pub fn urls(&self) -> &[String] {
        self.urls.all()
    }

    pub(super) fn node_urls(&self) -> &NodeUrls {
        &self.urls
    }

    /// What the requests found since the last call (the processors settle the node's
    /// state from it after each pass).
    pub fn take_seen(&self) -> NodeSeen {
        self.seen.take()
    }

    /// Publishes a batch of envelopes; `Ok` means the node stored all of them.
    pub async fn publish(&self, envelopes: &[Envelope]) -> Result<(), NetError> {
        let _: serde::de::IgnoredAny =
            self.post("/message/v1/publish", &PublishBody { envelopes }).await?;
        Ok(())
    }

    /// One page of a query.
    pub async fn query(&self, request: &QueryRequest) -> Result<QueryResponse, NetError> {
        self.post("/message/v1/query", request).await
    }

    /// Several queries in one request, answered in order.
    pub async fn batch_query(
        &self,
        requests: Vec<QueryRequest>,
    ) -> Result<Vec<QueryResponse>, NetError> {
        let expected = requests.len();
        let answer: BatchQueryResponse =
            self.post("/message/v1/batch-query", &BatchQueryRequest { requests }).await?;
        if answer.responses.len() != expected {
            return Err(NetError::Decode(format!(
                "expected {expected} batch-query responses, got {}",
                answer.responses.len()
            )));
        }
        Ok(answer.responses)
    }

    /// Every envelope on `topics`, oldest first, following cursors to the last page.
    pub async fn query_all(&self, topics: &[Topic]) -> Result<Vec<Envelope>, NetError> {
        super::query_all(self, topics).await
    }

    /// Follows `topics`: envelopes published from now on, reconnecting with backoff.
    pub fn subscribe(&self, topics: &[Topic]) -> Subscription {
        Subscription::new(self.clone(), topics.iter().map(|t| t.to_string()).collect())
    }

    /// POSTs `body` as JSON to `path` and decodes the answer, within the timeout.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &'static str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, NetError> {
        let text = self.post_text(path, json::encode(body)?).await?;
        // An answer that is not the API's JSON (a page served with 200) is not a node's.
        json::decode(&text).inspect_err(|e| self.note_failure(path, e))
    }

    fn note_failure(&self, path: &'static str, error: &NetError) {
        self.seen.borrow_mut().record_failure(path, error);
    }

    /// The body of a successful answer to a POST of `body`, failing over to the next URL if
    /// need be. Not generic, so each answer type adds only its decoding, not another copy of
    /// the request's state machine. The node's state sees one outcome: the list is one node,
    /// unreachable only when every URL tried failed.
    async fn post_text(&self, path: &'static str, body: String) -> Result<String, NetError> {
        // One JS string, handed to each attempt without copying the (up to 8 MiB) body.
        let body = JsValue::from(body);
        let outcome = self.urls.fail_over(|url| self.answer_text(url, path, &body)).await;
        self.seen.borrow_mut().record(path, &outcome);
        outcome
    }

    async fn answer_text(&self, url: &str, path: &str, body: &JsValue) -> Result<String, NetError> {
        let deadline = Deadline::start(self.timeout_ms)?;
        let response = self
            .send(url, path, body, &deadline.signal())
            .await
            .map_err(|e| deadline.classify(e))?;
        let text = response.text().await.map_err(|e| deadline.classify(e))?;
        if text.len() > MAX_ANSWER_BYTES {
            return Err(NetError::TooLarge("more than 16 MiB".into()));
        }
        if !response.ok() {
            return Err(NetError::from_answer(
                response.status(),
                json::decode::<NodeErrorBody>(&text).ok(),
            ));
        }
        Ok(text)
    }

    /// Starts a POST of a JSON body to `url`; the answer's body is left unread.
    pub(super) async fn send(
        &self,
        url: &str,
        path: &str,
        body: &JsValue,
        signal: &AbortSignal,
    ) -> Result<gloo_net::http::Response, gloo_net::Error> {
        Request::post(&format!("{url}{path}"))
            .header("Content-Type", "application/json")
            .abort_signal(Some(signal))
            .body(body.clone())?
            .send()
            .await
    }

    pub(super) fn timeout_ms(&self) -> u32 {
        self.timeout_ms
    }
}

/// An `AbortController` that fires after a timeout, remembering whether the timer or the
/// caller aborted, so the two surface as [`NetError::Timeout`] and [`NetError::Aborted`].
pub(super) struct Deadline {
    controller: AbortController,
    timed_out: Rc<Cell<bool>>,
    timer: Option<Timeout>,
    timeout_ms: u32,
}

impl Deadline {
    pub(super) fn start(timeout_ms: u32) -> Result<Self, NetError> {
        let controller = AbortController::new().map_err(|e| NetError::Network(describe(&e)))?;
        let timed_out = Rc::new(Cell::new(false));
        let timer = {
            let (controller, timed_out) = (controller.clone(), timed_out.clone());
            Timeout::new(timeout_ms, move || {
                timed_out.set(true);
                controller.abort();
            })
        };
        Ok(Self { controller, timed_out, timer: Some(timer), timeout_ms })
    }

    pub(super) fn signal(&self) -> AbortSignal {
        self.controller.signal()
    }

    /// Stops the timer; the controller still aborts on [`Deadline::abort`].
    pub(super) fn disarm(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.cancel();
        }
    }

    pub(super) fn abort(&self) {
        self.controller.abort();
    }

    pub(super) fn classify(&self, error: gloo_net::Error) -> NetError {
        if self.timed_out.get() {
            return NetError::Timeout(self.timeout_ms);
        }
        match error {
            gloo_net::Error::JsError(e) if e.name == "AbortError" => NetError::Aborted,
            gloo_net::Error::JsError(e) => NetError::Network(format!("{}: {}", e.name, e.message)),
            other => NetError::Network(other.to_string()),
        }
    }
}
