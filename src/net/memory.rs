//! An in-memory [`Node`] with devnode's semantics and faults, for native tests and the
//! deterministic simulator.
//!
//! Single-threaded (`Rc<RefCell<..>>`) and executor-agnostic: a future that cannot answer yet
//! registers its waker and is woken by what makes it ready (a publish, or itself for injected
//! latency); nothing blocks, sleeps, spawns or needs tokio.
//!
//! Simplified against devnode (`devnode/src`): no HTTP, JSON or 16 MiB body limit, no
//! batch-query or subscribe-all (the [`Node`] trait has neither); latency is counted in polls
//! answering `Pending` rather than milliseconds; a stream is cut at random per envelope
//! (`cut_rate`) rather than after a fixed count; a stream reads the fault rates at each
//! decision, so `set_faults` also heals streams already open (devnode fixes them when a stream
//! opens), though each stream still draws from its own RNG; injected refusals and query
//! failures are extra faults devnode lacks.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use sha2::{Digest, Sha256};

use super::{
    Cursor, Envelope, Follow, IndexCursor, MAX_PAGE_LIMIT, NetError, Node, PagingInfo,
    QueryRequest, QueryResponse, SortDirection, SubscriptionEvent,
};
use crate::wire::{TOPIC_PREFIX, Topic};

/// Largest message one envelope may carry, as devnode: 1 MiB.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most topics one query or subscription may name, as devnode.
const MAX_TOPICS: usize = 100;
/// How many envelopes a subscriber may fall behind by, as devnode's default stream buffer.
const DEFAULT_MAX_LAG: usize = 1024;

// Labels of the RNG streams derived from one seed (as in devnode's faults.rs), so that e.g.
// an extra query cannot shift which publish fails.
const PUBLISH_RNG: u64 = 1;
const QUERY_RNG: u64 = 2;
const LATENCY_RNG: u64 = 3;
const FIRST_STREAM_RNG: u64 = 4;

/// Storage order key: `(timestamp_ns, sha256(content_topic ++ message))`.
type Key = (u64, [u8; 32]);

/// Faults to inject. Rates are probabilities (0, the default, is off; 1 always fires).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct NodeFaults {
    /// Seed of the decision RNGs: the same seed and requests replay the same decisions.
    pub(crate) seed: u64,
    /// Share of publishes answered 503 (code 14) without storing anything.
    pub(crate) publish_fail_rate: f64,
    /// Share of publishes stored and streamed, then answered 503 (code 14): a lost ack.
    pub(crate) drop_ack_rate: f64,
    /// Share of publishes refused with 400 (code 3), nothing stored: not retryable.
    pub(crate) refuse_rate: f64,
    /// Share of queries answered 503 (code 14).
    pub(crate) query_fail_rate: f64,
    /// Share of envelopes delivered twice, in query pages and streams (as devnode).
    pub(crate) duplicate_rate: f64,
    /// Share of stream envelopes held back and delivered after the next one.
    pub(crate) reorder_rate: f64,
    /// Per streamed envelope, the chance the stream ends with an error instead of delivering
    /// it (with whatever it had queued or held back).
    pub(crate) cut_rate: f64,
    /// Most times a publish or query answers `Pending` (waking itself) before answering; the
    /// number is drawn per call from `0..=latency_yields`.
    pub(crate) latency_yields: u32,
}

/// Requests received, valid or not, counted on arrival as devnode does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestCounts {
    /// Calls to [`Node::publish`].
    pub(crate) publishes: u64,
    /// Calls to [`Node::query`].
    pub(crate) queries: u64,
    /// Stream connection attempts (first connections and reconnections).
    pub(crate) subscribes: u64,
}

/// The in-memory node. Clones are handles on the same node.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryNode {
    /// The shared state.
    inner: Rc<RefCell<Inner>>,
}

/// What a [`MemoryNode`] holds.
#[derive(Debug)]
struct Inner {
    /// Envelopes per topic, in key order.
    topics: HashMap<String, BTreeMap<Key, Envelope>>,
    /// Open streams; weak so a dropped subscription frees its queue (pruned on publish).
    feeds: Vec<Weak<RefCell<Feed>>>,
    /// Envelopes a stream may have waiting before it is ended.
    max_lag: usize,
    /// The faults in force.
    faults: NodeFaults,
    /// Decides publish faults.
    publish_rng: Rng,
    /// Decides query faults.
    query_rng: Rng,
    /// Decides latency.
    latency_rng: Rng,
    /// Streams opened since the faults were set: labels each stream's own RNG.
    streams_opened: u64,
    /// Request counters.
    requests: RequestCounts,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            topics: HashMap::new(),
            feeds: Vec::new(),
            max_lag: DEFAULT_MAX_LAG,
            faults: NodeFaults::default(),
            publish_rng: Rng::derive(0, PUBLISH_RNG),
            query_rng: Rng::derive(0, QUERY_RNG),
            latency_rng: Rng::derive(0, LATENCY_RNG),
            streams_opened: 0,
            requests: RequestCounts::default(),
        }
    }
}

/// The node's side of one stream connection: what was published for it and not yet taken.
#[derive(Debug, Default)]
struct Feed {
    /// Topics followed.
    topics: HashSet<String>,
    /// Envelopes waiting to be taken, oldest first.
    queue: VecDeque<Envelope>,
    /// Set when the queue overflowed `max_lag`: the stream is ended, never skipped.
    lagged: bool,
    /// The waker of a `next()` waiting for an envelope.
    waker: Option<Waker>,
}

impl Feed {
    /// Queues the envelopes this stream follows; returns the waker to wake, if any.
    fn offer(&mut self, fresh: &[Envelope], max_lag: usize) -> Option<Waker> {
        let mut changed = false;
        for envelope in fresh.iter().filter(|e| self.topics.contains(&e.content_topic)) {
            if self.lagged {
                break;
            }
            if self.queue.len() >= max_lag {
                // The stream will end; what it queued is of no use and must not pile up.
                self.lagged = true;
                self.queue.clear();
            } else {
                self.queue.push_back(envelope.clone());
            }
            changed = true;
        }
        if changed { self.waker.take() } else { None }
    }
}

impl MemoryNode {
    /// An empty node, faults off, `max_lag` 1024.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Replaces the faults in force and reseeds every RNG from `faults.seed`.
    pub(crate) fn set_faults(&self, faults: NodeFaults) {
        let mut inner = self.inner.borrow_mut();
        inner.publish_rng = Rng::derive(faults.seed, PUBLISH_RNG);
        inner.query_rng = Rng::derive(faults.seed, QUERY_RNG);
        inner.latency_rng = Rng::derive(faults.seed, LATENCY_RNG);
        inner.streams_opened = 0;
        inner.faults = faults;
    }

    /// The faults in force.
    pub(crate) fn faults(&self) -> NodeFaults {
        self.inner.borrow().faults
    }

    /// Sets how many envelopes a stream may fall behind by before it is ended (at least 1).
    pub(crate) fn set_max_lag(&self, max_lag: usize) {
        self.inner.borrow_mut().max_lag = max_lag.max(1);
    }

    /// The envelopes stored on `topic`, in order.
    pub(crate) fn envelopes(&self, topic: &str) -> Vec<Envelope> {
        let inner = self.inner.borrow();
        inner.topics.get(topic).map(|map| map.values().cloned().collect()).unwrap_or_default()
    }

    /// The requests received so far.
    pub(crate) fn requests(&self) -> RequestCounts {
        self.inner.borrow().requests
    }

    /// The `latency_yields` fault: answers `Pending` a random number of times, waking itself
    /// each time, so the executor runs other tasks in between.
    async fn latency(&self) {
        let mut left = {
            let mut inner = self.inner.borrow_mut();
            let max = inner.faults.latency_yields;
            inner.latency_rng.up_to(max)
        };
        poll_fn(|cx| {
            if left == 0 {
                return Poll::Ready(());
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}

impl Node for MemoryNode {
    type Subscription = MemorySubscription;

    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), NetError> {
        self.inner.borrow_mut().requests.publishes += 1;
        self.latency().await;
        let mut wakers = Vec::new();
        let result = self.inner.borrow_mut().publish(envelopes, &mut wakers);
        // Woken only once the node is released, in case a waker polls in place.
        wakers.into_iter().for_each(Waker::wake);
        result
    }

    async fn query(&self, request: &QueryRequest) -> Result<QueryResponse, NetError> {
        self.inner.borrow_mut().requests.queries += 1;
        self.latency().await;
        self.inner.borrow_mut().query(request)
    }

    fn subscribe(&self, topics: &[Topic]) -> MemorySubscription {
        MemorySubscription {
            node: self.clone(),
            topics: topics.iter().map(|t| t.as_str().to_owned()).collect(),
            connection: None,
            connected_before: false,
            closed: false,
        }
    }
}

impl Inner {
    /// Validates, applies the publish faults, stores and streams; `wakers` gets the wakers of
    /// the streams that got envelopes.
    fn publish(&mut self, envelopes: &[Envelope], wakers: &mut Vec<Waker>) -> Result<(), NetError> {
        check_envelopes(envelopes)?;
        // Decided only for valid requests, so bad ones do not shift the replay (as devnode).
        let faults = self.faults;
        if self.publish_rng.chance(faults.publish_fail_rate) {
            return Err(unavailable("injected fault: publish failed, nothing stored"));
        }
        if self.publish_rng.chance(faults.refuse_rate) {
            return Err(invalid("injected refusal: publish refused, nothing stored"));
        }
        let drop_ack = self.publish_rng.chance(faults.drop_ack_rate);
        let fresh: Vec<Envelope> = envelopes.iter().filter(|e| self.insert(e)).cloned().collect();
        self.announce(&fresh, wakers);
        if drop_ack {
            return Err(unavailable("injected fault: acknowledgement dropped (envelopes stored)"));
        }
        Ok(())
    }

    /// Stores an envelope; says whether it was new. An exact duplicate (same topic, timestamp
    /// and message) has the same key, so it replaces an identical value and counts as old.
    fn insert(&mut self, envelope: &Envelope) -> bool {
        let key = (envelope.timestamp_ns, digest(&envelope.content_topic, &envelope.message));
        let map = self.topics.entry(envelope.content_topic.clone()).or_default();
        map.insert(key, envelope.clone()).is_none()
    }

    /// Hands new envelopes to the open streams, forgetting the ones whose handle is gone.
    fn announce(&mut self, fresh: &[Envelope], wakers: &mut Vec<Waker>) {
        let max_lag = self.max_lag;
        self.feeds.retain(|weak| {
            let Some(feed) = weak.upgrade() else {
                return false;
            };
            wakers.extend(feed.borrow_mut().offer(fresh, max_lag));
            true
        });
    }

    /// One page of a query, as devnode's `run_query`.
    fn query(&mut self, request: &QueryRequest) -> Result<QueryResponse, NetError> {
        check_topics(&request.content_topics)?;
        if self.query_rng.chance(self.faults.query_fail_rate) {
            return Err(unavailable("injected fault: query failed"));
        }
        let paging = request.paging_info.clone().unwrap_or_default();
        let limit = match paging.limit {
            Some(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
            _ => MAX_PAGE_LIMIT,
        };
        let direction = match paging.direction {
            None | Some(SortDirection::Unspecified) => SortDirection::Ascending,
            Some(direction) => direction,
        };
        let descending = direction == SortDirection::Descending;
        let cursor = paging.cursor.map(|c| c.index);
        let (page, more) = self.page(request, descending, cursor.as_ref(), limit as usize);
        let paging_info = match (more, page.last()) {
            (true, Some(((time, digest), _))) => Some(PagingInfo {
                limit: Some(limit),
                cursor: Some(Cursor {
                    index: IndexCursor { digest: digest.to_vec(), sender_time_ns: *time },
                }),
                direction: Some(direction),
            }),
            _ => None,
        };
        let mut envelopes = Vec::with_capacity(page.len());
        for (_, envelope) in page {
            if self.query_rng.chance(self.faults.duplicate_rate) {
                envelopes.push(envelope.clone());
            }
            envelopes.push(envelope);
        }
        Ok(QueryResponse { envelopes, paging_info })
    }

    /// Up to `limit` envelopes of the request's topics merged in key order, strictly beyond
    /// the cursor, and whether more remain (as devnode's `Store::page`).
    fn page(
        &self,
        request: &QueryRequest,
        descending: bool,
        cursor: Option<&IndexCursor>,
        limit: usize,
    ) -> (Vec<(Key, Envelope)>, bool) {
        let mut low = request.start_time_ns.unwrap_or(0);
        let mut high = request.end_time_ns.filter(|&t| t != 0).unwrap_or(u64::MAX);
        if let Some(c) = cursor {
            if descending {
                high = high.min(c.sender_time_ns);
            } else {
                low = low.max(c.sender_time_ns);
            }
        }
        let mut out = Vec::new();
        if low > high {
            // BTreeMap::range panics on an inverted range.
            return (out, false);
        }
        // The digest is compared as bytes, so a cursor digest of any length orders sensibly.
        let beyond = |key: &Key| {
            cursor.is_none_or(|c| {
                let order = (key.0, &key.1[..]).cmp(&(c.sender_time_ns, &c.digest[..]));
                if descending { order.is_lt() } else { order.is_gt() }
            })
        };
        let mut seen = HashSet::new();
        for topic in &request.content_topics {
            // A topic named twice must not double its results.
            let Some(map) = self.topics.get(topic).filter(|_| seen.insert(topic)) else {
                continue;
            };
            let range = map.range((low, [0; 32])..=(high, [0xff; 32]));
            let wanted = range.filter(|(key, _)| beyond(key)).map(|(k, e)| (*k, e.clone()));
            // limit + 1 from each topic is enough to fill the page and know whether more remain.
            if descending {
                out.extend(wanted.rev().take(limit + 1));
            } else {
                out.extend(wanted.take(limit + 1));
            }
        }
        if descending {
            out.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
        } else {
            out.sort_by_key(|(key, _)| *key);
        }
        let more = out.len() > limit;
        out.truncate(limit);
        (out, more)
    }

    /// Opens a stream connection on `topics`, with its own fault RNG.
    fn connect(&mut self, topics: &[String]) -> Result<Connection, NetError> {
        self.requests.subscribes += 1;
        check_topics(topics)?;
        self.feeds.retain(|weak| weak.strong_count() > 0);
        let feed = Feed { topics: topics.iter().cloned().collect(), ..Feed::default() };
        let feed = Rc::new(RefCell::new(feed));
        self.feeds.push(Rc::downgrade(&feed));
        // The n-th stream since the faults were set always gets the same RNG, as devnode.
        let rng = Rng::derive(self.faults.seed, FIRST_STREAM_RNG.wrapping_add(self.streams_opened));
        self.streams_opened += 1;
        Ok(Connection { feed, rng, ready: VecDeque::new(), held: None })
    }
}

/// A subscription to a [`MemoryNode`]. It connects on the first [`Follow::next`] (as the
/// HTTP one does), so it carries what is published after that call, not after `subscribe`.
#[derive(Debug)]
pub(crate) struct MemorySubscription {
    /// The node, to (re)connect and read the fault rates.
    node: MemoryNode,
    /// Topics followed.
    topics: Vec<String>,
    /// The open connection, if any.
    connection: Option<Connection>,
    /// Whether a connection was opened before: the next `Connected` is a reconnection.
    connected_before: bool,
    /// Set by [`Follow::close`].
    closed: bool,
}

/// The subscriber's side of one connection, where the stream faults apply.
#[derive(Debug)]
struct Connection {
    /// Shared with the node, which fills it.
    feed: Rc<RefCell<Feed>>,
    /// This stream's fault RNG.
    rng: Rng,
    /// Envelopes ready to deliver, faults applied.
    ready: VecDeque<Envelope>,
    /// An envelope held back by the reorder fault until the next one.
    held: Option<Envelope>,
}

impl Connection {
    /// Queues an envelope, applying the reorder and duplicate faults (devnode's `accept`).
    fn accept(&mut self, envelope: Envelope, faults: &NodeFaults) {
        if self.held.is_none() && self.rng.chance(faults.reorder_rate) {
            self.held = Some(envelope);
            return;
        }
        self.push(envelope, faults);
        if let Some(held) = self.held.take() {
            self.push(held, faults);
        }
    }

    /// Queues an envelope, twice if the duplicate fault says so.
    fn push(&mut self, envelope: Envelope, faults: &NodeFaults) {
        if self.rng.chance(faults.duplicate_rate) {
            self.ready.push_back(envelope.clone());
        }
        self.ready.push_back(envelope);
    }
}

impl MemorySubscription {
    /// One step of [`Follow::next`]: `Pending` (waker registered) only while nothing is ready.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<SubscriptionEvent, NetError>> {
        loop {
            if self.closed {
                return Poll::Ready(Err(NetError::Aborted));
            }
            let Some(connection) = &mut self.connection else {
                let connection = self.node.inner.borrow_mut().connect(&self.topics)?;
                self.connection = Some(connection);
                let reconnect = std::mem::replace(&mut self.connected_before, true);
                return Poll::Ready(Ok(SubscriptionEvent::Connected { reconnect }));
            };
            let faults = self.node.faults();
            if let Some(envelope) = connection.ready.pop_front() {
                if connection.rng.chance(faults.cut_rate) {
                    // What was queued or held back is lost with the connection, as devnode.
                    self.connection = None;
                    return Poll::Ready(Err(NetError::Network(
                        "injected fault: stream cut".into(),
                    )));
                }
                return Poll::Ready(Ok(SubscriptionEvent::Envelope(envelope)));
            }
            let next = {
                let mut feed = connection.feed.borrow_mut();
                if feed.lagged {
                    None
                } else if let Some(envelope) = feed.queue.pop_front() {
                    Some(envelope)
                } else {
                    feed.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            };
            match next {
                Some(envelope) => connection.accept(envelope, &faults),
                None => {
                    self.connection = None;
                    let message = "stream ended: the subscriber fell too far behind".into();
                    return Poll::Ready(Err(NetError::Network(message)));
                }
            }
        }
    }
}

impl Follow for MemorySubscription {
    async fn next(&mut self) -> Result<SubscriptionEvent, NetError> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn close(&mut self) {
        self.closed = true;
        self.connection = None;
    }
}

/// SplitMix64: a tiny deterministic RNG, plenty for fault decisions.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    /// The RNG of stream `label` under `seed`; nearby seeds and labels land far apart.
    fn derive(seed: u64, label: u64) -> Self {
        Self(splitmix64(seed ^ splitmix64(label)))
    }

    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        out
    }

    /// True with probability `rate`; a rate of 0 draws nothing, so a fault left off does not
    /// shift the decisions of the others (as devnode).
    fn chance(&mut self, rate: f64) -> bool {
        // The top 53 bits make a uniform f64 in [0, 1).
        rate > 0.0 && ((self.next_u64() >> 11) as f64) / 9_007_199_254_740_992.0 < rate
    }

    /// Uniform in `0..=max`; draws nothing for 0.
    fn up_to(&mut self, max: u32) -> u32 {
        if max == 0 { 0 } else { (self.next_u64() % (u64::from(max) + 1)) as u32 }
    }
}

/// SplitMix64's increment.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's step and finalizer (the same function as devnode's).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// sha-256 of the topic's bytes then the message: the second half of the order key.
fn digest(topic: &str, message: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(topic.as_bytes()).chain_update(message).finalize().into()
}

/// 400, code 3 (invalid argument): the request itself is wrong; not retryable.
fn invalid(message: impl Into<String>) -> NetError {
    NetError::Node { status: 400, code: 3, message: message.into() }
}

/// 503, code 14 (unavailable): what devnode answers for injected faults; retryable.
fn unavailable(message: impl Into<String>) -> NetError {
    NetError::Node { status: 503, code: 14, message: message.into() }
}

/// A topic must carry the v1 prefix (only the prefix is checked, as devnode).
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.starts_with(TOPIC_PREFIX) {
        Ok(())
    } else {
        Err(format!("expected content topic starting with {TOPIC_PREFIX:?}, got {topic:?}"))
    }
}

/// Every envelope of a publish has a v1 topic and at most 1 MiB of message.
fn check_envelopes(envelopes: &[Envelope]) -> Result<(), NetError> {
    for (i, envelope) in envelopes.iter().enumerate() {
        check_topic(&envelope.content_topic)
            .map_err(|e| invalid(format!("envelopes[{i}]: {e}")))?;
        let size = envelope.message.len();
        if size > MAX_MESSAGE_BYTES {
            let limit = "expected a message of at most 1 MiB";
            return Err(invalid(format!("envelopes[{i}]: {limit}, got {size} bytes")));
        }
    }
    Ok(())
}

/// A query or subscription names 1..=100 well-formed topics.
fn check_topics(topics: &[String]) -> Result<(), NetError> {
    if topics.is_empty() || topics.len() > MAX_TOPICS {
        let count = topics.len();
        return Err(invalid(format!("expected 1 to {MAX_TOPICS} content topics, got {count}")));
    }
    topics.iter().try_for_each(|t| check_topic(t)).map_err(invalid)
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
