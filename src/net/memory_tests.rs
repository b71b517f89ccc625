//! Tests of the in-memory node: devnode's semantics and each fault.

#![allow(clippy::unwrap_used)]

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Wake;

use super::*;

const A: &str = "/xmtp/0/a";
const B: &str = "/xmtp/0/b";

fn env(topic: &str, timestamp_ns: u64, message: &str) -> Envelope {
    Envelope { content_topic: topic.into(), timestamp_ns, message: message.into() }
}

fn topic(name: &str) -> Topic {
    Topic::parse(name).unwrap()
}

/// Counts wakes, to show who wakes whom.
#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` to completion; returns its output and how many polls answered `Pending`
/// and how many wakes it asked for meanwhile.
fn run<F: Future>(fut: F) -> (F::Output, usize, usize) {
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(Arc::clone(&wakes));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for pending in 0..1000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return (out, pending, wakes.0.load(Ordering::SeqCst));
        }
    }
    unreachable!("the future never became ready")
}

fn block_on<F: Future>(fut: F) -> F::Output {
    run(fut).0
}

/// One poll with a no-op waker.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

fn query(topics: &[&str], paging_info: Option<PagingInfo>) -> QueryRequest {
    let content_topics = topics.iter().map(|t| t.to_string()).collect();
    QueryRequest { content_topics, paging_info, ..QueryRequest::default() }
}

/// Reads every page; returns the envelopes and the page sizes.
fn read_all(
    node: &MemoryNode,
    limit: Option<u32>,
    direction: Option<SortDirection>,
) -> (Vec<Envelope>, Vec<usize>) {
    let (mut all, mut sizes, mut cursor) = (Vec::new(), Vec::new(), None);
    loop {
        let paging = PagingInfo { limit, cursor: cursor.take(), direction };
        let page = block_on(node.query(&query(&[A, B], Some(paging)))).unwrap();
        sizes.push(page.envelopes.len());
        all.extend(page.envelopes.iter().cloned());
        match page.next_cursor() {
            Some(next) => cursor = Some(next.clone()),
            None => return (all, sizes),
        }
    }
}

fn connected(sub: &mut MemorySubscription, reconnect: bool) {
    assert_eq!(block_on(sub.next()), Ok(SubscriptionEvent::Connected { reconnect }));
}

fn delivered(sub: &mut MemorySubscription, envelope: &Envelope) {
    assert_eq!(block_on(sub.next()), Ok(SubscriptionEvent::Envelope(envelope.clone())));
}

fn faults(f: impl FnOnce(&mut NodeFaults)) -> NodeFaults {
    let mut faults = NodeFaults { seed: 1, ..NodeFaults::default() };
    f(&mut faults);
    faults
}

#[test]
fn pages_merge_two_topics_in_key_order_both_ways() {
    let node = MemoryNode::new();
    // Timestamps repeat within and across topics, so the digest breaks ties.
    let published: Vec<Envelope> =
        (0..150u64).map(|i| env([A, B][i as usize % 2], i / 3, &format!("m{i}"))).collect();
    block_on(node.publish(&published)).unwrap();
    block_on(node.publish(&[env("/xmtp/0/other", 1, "not asked for")])).unwrap();
    let key = |e: &Envelope| {
        let digest = Sha256::new().chain_update(&e.content_topic).chain_update(&e.message);
        (e.timestamp_ns, digest.finalize().to_vec())
    };
    let mut expected = published.clone();
    expected.sort_by_key(key);
    // The cursor names the last envelope of the page.
    let cursor_after_first_page = |direction| {
        let paging = PagingInfo { direction, ..PagingInfo::default() };
        let page = block_on(node.query(&query(&[A, B], Some(paging)))).unwrap();
        let IndexCursor { sender_time_ns, digest } = page.next_cursor().unwrap().index.clone();
        (sender_time_ns, digest)
    };

    assert_eq!(read_all(&node, None, None), (expected.clone(), vec![100, 50]));
    assert_eq!(cursor_after_first_page(None), key(&expected[99]));
    assert_eq!(read_all(&node, Some(40), None).1, vec![40, 40, 40, 30]);
    assert_eq!(read_all(&node, Some(50), None).1, vec![50, 50, 50], "no cursor when done");
    let (descending, sizes) = read_all(&node, Some(500), Some(SortDirection::Descending));
    expected.reverse();
    assert_eq!((descending, sizes), (expected.clone(), vec![100, 50]));
    let descending = cursor_after_first_page(Some(SortDirection::Descending));
    assert_eq!(descending, key(&expected[99]));
    assert_eq!(node.envelopes(A).len(), 75);
    let twice = block_on(node.query(&query(&[A, A], None))).unwrap();
    assert_eq!(twice.envelopes.len(), 75, "a topic named twice counts once");
}

#[test]
fn time_bounds_are_inclusive_and_zero_is_unbounded() {
    let node = MemoryNode::new();
    let all: Vec<Envelope> = (1..=9).map(|t| env(A, t, "m")).collect();
    block_on(node.publish(&all)).unwrap();
    let times = |start, end| {
        let request = QueryRequest { start_time_ns: start, end_time_ns: end, ..query(&[A], None) };
        let page = block_on(node.query(&request)).unwrap();
        page.envelopes.iter().map(|e| e.timestamp_ns).collect::<Vec<_>>()
    };
    assert_eq!(times(Some(3), Some(5)), [3, 4, 5]);
    assert_eq!(times(Some(8), Some(0)), [8, 9]);
    assert_eq!(times(None, Some(2)), [1, 2]);
    assert_eq!(times(Some(6), Some(5)), Vec::<u64>::new());
}

#[test]
fn an_exact_duplicate_is_stored_once_and_streamed_once() {
    let node = MemoryNode::new();
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    let (first, later) = (env(A, 5, "hi"), env(A, 6, "hi"));
    block_on(node.publish(&[first.clone(), first.clone()])).unwrap();
    block_on(node.publish(std::slice::from_ref(&first))).unwrap();
    block_on(node.publish(std::slice::from_ref(&later))).unwrap();
    assert_eq!(node.envelopes(A), [first.clone(), later.clone()]);
    delivered(&mut sub, &first);
    delivered(&mut sub, &later);
    assert!(poll_once(sub.next()).is_pending());
}

#[test]
fn streams_carry_only_what_is_published_once_connected() {
    let node = MemoryNode::new();
    block_on(node.publish(&[env(A, 1, "before subscribe")])).unwrap();
    let mut sub = node.subscribe(&[topic(A)]);
    block_on(node.publish(&[env(A, 2, "before the first next")])).unwrap();
    connected(&mut sub, false);
    let (other, wanted) = (env(B, 3, "other topic"), env(A, 4, "after"));
    block_on(node.publish(&[other, wanted.clone()])).unwrap();
    delivered(&mut sub, &wanted);
    assert!(poll_once(sub.next()).is_pending());
}

#[test]
fn a_publish_wakes_the_waiting_subscriber() {
    let node = MemoryNode::new();
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(Arc::clone(&wakes));
    let mut cx = Context::from_waker(&waker);
    let mut next = pin!(sub.next());
    assert!(next.as_mut().poll(&mut cx).is_pending());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    block_on(node.publish(&[env(A, 1, "m")])).unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    let event = SubscriptionEvent::Envelope(env(A, 1, "m"));
    assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(Ok(event)));
}

#[test]
fn a_lagging_stream_ends_once_then_reconnects() {
    let node = MemoryNode::new();
    node.set_max_lag(3);
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    let three: Vec<Envelope> = (0..3).map(|t| env(A, t, "m")).collect();
    block_on(node.publish(&three)).unwrap();
    three.iter().for_each(|e| delivered(&mut sub, e));
    block_on(node.publish(&(10..14).map(|t| env(A, t, "m")).collect::<Vec<_>>())).unwrap();
    let error = block_on(sub.next()).unwrap_err();
    assert!(matches!(error, NetError::Network(_)) && error.is_retryable());
    connected(&mut sub, true);
    let after = env(A, 20, "after");
    block_on(node.publish(std::slice::from_ref(&after))).unwrap();
    delivered(&mut sub, &after);
}

#[test]
fn close_makes_every_next_aborted_and_a_dropped_handle_is_forgotten() {
    let node = MemoryNode::new();
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    sub.close();
    block_on(node.publish(&[env(A, 1, "m")])).unwrap();
    assert_eq!(block_on(sub.next()), Err(NetError::Aborted));
    assert_eq!(block_on(sub.next()), Err(NetError::Aborted));

    let mut dropped = node.subscribe(&[topic(A)]);
    connected(&mut dropped, false);
    assert_eq!(node.inner.borrow().feeds.len(), 1);
    drop(dropped);
    block_on(node.publish(&[env(A, 2, "m")])).unwrap();
    assert!(node.inner.borrow().feeds.is_empty());
}

#[test]
fn invalid_requests_are_refused_for_good_and_counted() {
    let node = MemoryNode::new();
    let refused = |result: Result<(), NetError>| {
        let error = result.unwrap_err();
        assert!(matches!(error, NetError::Node { status: 400, code: 3, .. }), "{error:?}");
        assert!(!error.is_retryable());
    };
    refused(block_on(node.publish(&[env("/xmtp/1/a", 1, "m")])));
    let huge = Envelope { message: vec![0; MAX_MESSAGE_BYTES + 1], ..env(A, 1, "") };
    refused(block_on(node.publish(&[huge])));
    refused(block_on(node.query(&query(&[], None))).map(drop));
    refused(block_on(node.query(&query(&[A; 101], None))).map(drop));
    refused(block_on(node.query(&query(&["/other"], None))).map(drop));
    refused(block_on(node.subscribe(&[]).next()).map(drop));
    block_on(node.publish(&[env(A, 1, &"x".repeat(MAX_MESSAGE_BYTES))])).unwrap();
    block_on(node.query(&query(&[A; 100], None))).unwrap();
    assert_eq!(node.envelopes(A).len(), 1);
    let counts = RequestCounts { publishes: 3, queries: 4, subscribes: 1 };
    assert_eq!(node.requests(), counts);
}

#[test]
fn publish_fail_stores_nothing_and_is_retryable() {
    let node = MemoryNode::new();
    node.set_faults(faults(|f| f.publish_fail_rate = 1.0));
    let error = block_on(node.publish(&[env(A, 1, "m")])).unwrap_err();
    assert!(matches!(error, NetError::Node { status: 503, code: 14, .. }));
    assert!(error.is_retryable());
    assert!(node.envelopes(A).is_empty());
}

#[test]
fn a_dropped_ack_stores_and_streams_but_errs_retryably() {
    let node = MemoryNode::new();
    node.set_faults(faults(|f| f.drop_ack_rate = 1.0));
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    let error = block_on(node.publish(&[env(A, 1, "m")])).unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(node.envelopes(A), [env(A, 1, "m")]);
    delivered(&mut sub, &env(A, 1, "m"));
}

#[test]
fn a_refusal_stores_nothing_and_is_not_retryable() {
    let node = MemoryNode::new();
    node.set_faults(faults(|f| f.refuse_rate = 1.0));
    let error = block_on(node.publish(&[env(A, 1, "m")])).unwrap_err();
    assert!(matches!(error, NetError::Node { status: 400, code: 3, .. }));
    assert!(!error.is_retryable());
    assert!(node.envelopes(A).is_empty());
}

#[test]
fn a_failed_query_is_retryable() {
    let node = MemoryNode::new();
    block_on(node.publish(&[env(A, 1, "m")])).unwrap();
    node.set_faults(faults(|f| f.query_fail_rate = 1.0));
    let error = block_on(node.query(&query(&[A], None))).unwrap_err();
    assert!(matches!(error, NetError::Node { status: 503, code: 14, .. }));
    assert!(error.is_retryable());
    node.set_faults(NodeFaults::default());
    assert_eq!(block_on(node.query(&query(&[A], None))).unwrap().envelopes.len(), 1);
}

#[test]
fn duplicates_are_delivered_twice_in_streams_and_pages() {
    let node = MemoryNode::new();
    node.set_faults(faults(|f| f.duplicate_rate = 1.0));
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    let (a, b) = (env(A, 1, "a"), env(A, 2, "b"));
    block_on(node.publish(&[a.clone(), b.clone()])).unwrap();
    for e in [&a, &a, &b, &b] {
        delivered(&mut sub, e);
    }
    let page = block_on(node.query(&query(&[A], None))).unwrap();
    assert_eq!(page.envelopes, [a.clone(), a, b.clone(), b]);
    assert_eq!(node.envelopes(A).len(), 2);
}

#[test]
fn a_reordered_envelope_comes_after_the_next_one() {
    let node = MemoryNode::new();
    node.set_faults(faults(|f| f.reorder_rate = 1.0));
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    let all: Vec<Envelope> = (1..=4).map(|t| env(A, t, "m")).collect();
    block_on(node.publish(&all[..3])).unwrap();
    delivered(&mut sub, &all[1]);
    delivered(&mut sub, &all[0]);
    assert!(poll_once(sub.next()).is_pending(), "the third is held for the fourth");
    block_on(node.publish(&all[3..])).unwrap();
    delivered(&mut sub, &all[3]);
    delivered(&mut sub, &all[2]);
}

#[test]
fn a_cut_stream_errs_loses_the_envelope_and_reconnects() {
    let node = MemoryNode::new();
    node.set_faults(faults(|f| f.cut_rate = 1.0));
    let mut sub = node.subscribe(&[topic(A)]);
    connected(&mut sub, false);
    block_on(node.publish(&[env(A, 1, "lost")])).unwrap();
    let error = block_on(sub.next()).unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    connected(&mut sub, true);
    assert!(poll_once(sub.next()).is_pending(), "not delivered on the new stream either");
    node.set_faults(NodeFaults::default());
    block_on(node.publish(&[env(A, 2, "kept")])).unwrap();
    delivered(&mut sub, &env(A, 2, "kept"));
}

#[test]
fn latency_yields_pending_and_wakes_itself() {
    let node = MemoryNode::new();
    assert_eq!(run(node.publish(&[env(A, 1, "m")])).1, 0);
    node.set_faults(faults(|f| f.latency_yields = 4));
    let mut pendings = Vec::new();
    for t in 0..40 {
        let (result, pending, wakes) = run(node.publish(&[env(A, t, "m")]));
        result.unwrap();
        assert_eq!(pending, wakes, "each Pending wakes the task again");
        pendings.push(pending);
    }
    let (page, pending, _) = run(node.query(&query(&[A], None)));
    assert_eq!(page.unwrap().envelopes.len(), 40);
    pendings.push(pending);
    assert!(pendings.iter().all(|&p| p <= 4), "{pendings:?}");
    assert!(pendings.contains(&0) && pendings.contains(&4), "{pendings:?}");
}

/// Every fault at once: a trace of what the publisher, a reader and a subscriber saw.
fn trace(seed: u64) -> Vec<String> {
    let node = MemoryNode::new();
    node.set_faults(NodeFaults {
        seed,
        publish_fail_rate: 0.2,
        drop_ack_rate: 0.2,
        refuse_rate: 0.1,
        query_fail_rate: 0.3,
        duplicate_rate: 0.2,
        reorder_rate: 0.2,
        cut_rate: 0.1,
        latency_yields: 3,
    });
    let mut sub = node.subscribe(&[topic(A)]);
    let mut trace = Vec::new();
    for t in 0..60 {
        let (published, pending, _) = run(node.publish(&[env(A, t, "m")]));
        let queried = block_on(node.query(&query(&[A], None))).map(|p| p.envelopes.len());
        trace.push(format!("{published:?} after {pending} / {queried:?}"));
        while let Poll::Ready(event) = poll_once(sub.next()) {
            trace.push(format!("{event:?}"));
        }
    }
    trace
}

#[test]
fn the_same_seed_replays_the_same_faults() {
    let first = trace(7);
    assert_eq!(first, trace(7));
    assert_ne!(first, trace(8));
    let all = first.join("\n");
    for seen in ["Ok(())", "code: 14", "code: 3", "stream cut", "reconnect: true"] {
        assert!(all.contains(seen), "{seen} never happened");
    }
}
