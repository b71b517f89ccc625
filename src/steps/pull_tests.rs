//! The inbox cursor: moved by a covered stream as by a pull, and never dragged far ahead of
//! this installation's clock by an envelope's date.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{CURSOR_AHEAD_NS, pull_inbox};
use crate::{
    engine::MessageState,
    net::{Follow, Node, memory::MemoryNode, memory::MemorySubscription},
    sim::block_on,
    steps::{
        context::saved_cursor,
        hostile_payloads_tests::publish_to,
        process::process_received,
        processor,
        test_devices::{Device, NOW, quiet_pair},
    },
    wire::Topic,
};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const YEAR: u64 = 365 * 24 * HOUR;

fn saved_ns(device: &Device) -> u64 {
    block_on(saved_cursor(&device.store)).unwrap().unwrap().index.sender_time_ns
}

fn follow(device: &Device, subscription: &mut MemorySubscription, now: u64) {
    let event = block_on(subscription.next()).unwrap();
    block_on(processor::on_inbox_event(&device.local, &device.store, event, now));
}

/// A stream connection covered by a pull moves the saved cursor with each envelope, so the
/// catch-up after a reconnection looks back from the newest, not from the last pull.
#[test]
fn a_covered_stream_moves_the_cursor() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    let mut subscription = node.subscribe(&[Topic::inbox(&bob.id)]);
    follow(&bob, &mut subscription, NOW + 1);
    bob.pass(&node, NOW + 2).unwrap();
    assert!(bob.local.stream.is_synced());

    for (i, at) in [20 * MINUTE, 40 * MINUTE, 60 * MINUTE].into_iter().enumerate() {
        let id = format!("s{i}");
        alice.send(&bob.address, &id, "streamed", NOW + at);
        alice.pass(&node, NOW + at).unwrap();
        let queries = node.requests().queries;
        follow(&bob, &mut subscription, NOW + at);
        assert_eq!(saved_ns(&bob) / 1_000_000, NOW + at, "moved by {id}");
        let clock = || NOW + at;
        block_on(process_received(&bob.local.context(&bob.store, &node, &clock))).unwrap();
        assert_eq!(bob.message(&id).unwrap().state, MessageState::Received);
        assert_eq!(node.requests().queries, queries, "no query for {id}");
    }

    // The reconnection's catch-up reads back CATCH_UP_NS from the newest: the last envelope
    // only (from the last pull's cursor it would read all four).
    let clock = || NOW + 61 * MINUTE;
    let ctx = bob.local.context(&bob.store, &node, &clock);
    assert_eq!(block_on(pull_inbox(&ctx, true)).unwrap(), 1);
}

/// The attack: anyone may publish to an inbox with a far-future date. Had it moved the
/// cursor, every later envelope would sit behind it, out of every pull's reach.
#[test]
fn a_far_future_envelope_does_not_move_the_cursor() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    publish_to(&node, &bob, NOW + YEAR, vec![b"from the future".to_vec()]);
    bob.pass(&node, NOW + MINUTE).unwrap();
    assert!(saved_ns(&bob) <= (NOW + MINUTE) * 1_000_000 + CURSOR_AHEAD_NS);

    alice.send(&bob.address, "later", "later", NOW + 2 * MINUTE);
    alice.pass(&node, NOW + 2 * MINUTE).unwrap();
    bob.pass(&node, NOW + 3 * MINUTE).unwrap();
    assert_eq!(bob.message("later").unwrap().state, MessageState::Received);
}

/// A sender whose clock runs an hour ahead is still received: its envelope is processed once
/// read, though the cursor stays near this installation's now.
#[test]
fn a_sender_far_ahead_is_received_without_moving_the_cursor() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    alice.send(&bob.address, "ahead", "ahead", NOW + HOUR);
    alice.pass(&node, NOW + HOUR).unwrap();

    // By a pull.
    bob.pass(&node, NOW + MINUTE).unwrap();
    assert_eq!(bob.message("ahead").unwrap().state, MessageState::Received);
    assert!(saved_ns(&bob) <= (NOW + MINUTE) * 1_000_000 + CURSOR_AHEAD_NS);

    // By a covered stream.
    let mut subscription = node.subscribe(&[Topic::inbox(&bob.id)]);
    follow(&bob, &mut subscription, NOW + 2 * MINUTE);
    bob.pass(&node, NOW + 2 * MINUTE).unwrap();
    alice.send(&bob.address, "streamed ahead", "streamed ahead", NOW + HOUR + 1);
    alice.pass(&node, NOW + HOUR + 1).unwrap();
    let before = saved_ns(&bob);
    follow(&bob, &mut subscription, NOW + 3 * MINUTE);
    assert_eq!(saved_ns(&bob), before, "not moved by a date past the limit");
    let clock = || NOW + 3 * MINUTE;
    block_on(process_received(&bob.local.context(&bob.store, &node, &clock))).unwrap();
    assert_eq!(bob.message("streamed ahead").unwrap().state, MessageState::Received);
}
