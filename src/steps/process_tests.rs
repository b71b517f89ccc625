//! The process step in groups, over the in-memory store and node: what a group reads and
//! saves, counted by a wrapper store; a payload that errors, a conflict and a repair inside a
//! group; and the inbox stream covered by a pull.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use prost::Message as _;

use super::process_received;
use crate::{
    crypto::OlmCiphertext,
    engine::{
        InboundFailure, InboundPayloadState, MessageRecord, MessageState, SessionRecord, marker_id,
        processed,
    },
    net::{Follow, Node, memory::MemoryNode},
    sim::block_on,
    steps::{
        hostile_payloads_tests::{chat, publish_to, sign_payload},
        probes::CountingStore,
        processor,
        test_devices::{Device, NOW, quiet_pair},
    },
    store::{Changes, Record, Store},
    wire::{InboxPayload, Invite, Plaintext, PlaintextKind, Topic, payload_hash},
};

/// A store over `device`'s that logs what the steps ask of it.
fn counting(device: &Device) -> CountingStore {
    CountingStore::new(&device.store, &Rc::default())
}

/// Alice sends `count` messages ("m0", "m1", …) that Bob's inbox stores but does not process.
fn stored_at_bob(node: &MemoryNode, alice: &Device, bob: &Device, count: u64) -> Vec<String> {
    for i in 0..count {
        alice.send(&bob.address, &format!("m{i}"), "text", NOW + 1 + i);
    }
    alice.pass(node, NOW + 100).unwrap();
    bob.local.faults.hold_inbound.set(true);
    bob.pass(node, NOW + 101).unwrap();
    bob.local.faults.hold_inbound.set(false);
    let waiting: Vec<String> = bob
        .inbound()
        .into_iter()
        .filter(|p| p.state == InboundPayloadState::Received)
        .map(|p| p.hash)
        .collect();
    assert_eq!(waiting.len() as u64, count);
    waiting
}

fn process_at(bob: &Device, store: &CountingStore, node: &MemoryNode, now: u64) {
    let clock = move || now;
    let ctx = bob.local.context(store, node, &clock);
    block_on(process_received(&ctx)).unwrap();
}

fn session_of(device: &Device, peer: &Device) -> SessionRecord {
    block_on(device.store.get::<SessionRecord>(&peer.id)).unwrap().unwrap()
}

fn states(device: &Device) -> Vec<(InboundPayloadState, Option<InboundFailure>)> {
    let mut states: Vec<_> = device.inbound().into_iter().map(|p| (p.state, p.failure)).collect();
    states.sort_by_key(|s| format!("{s:?}"));
    states
}

/// A group of payloads from one sender is one transaction; the sender's sessions are read
/// once, each payload opening on the session the one before it advanced, and stored once.
#[test]
fn a_group_from_one_sender_is_one_save_and_one_read_of_its_sessions() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    stored_at_bob(&node, &alice, &bob, 5);
    let before = session_of(&bob, &alice);

    let counting = counting(&bob);
    process_at(&bob, &counting, &node, NOW + 102);
    assert_eq!(counting.log.saves(), 1, "one transaction for the group");
    assert_eq!(counting.log.reads_of(SessionRecord::STORE), 1, "the sessions read once");
    assert_eq!(counting.log.reads_of(MessageRecord::STORE), 1, "the messages read at once");
    for i in 0..5 {
        assert_eq!(bob.message(&format!("m{i}")).unwrap().state, MessageState::Received);
    }
    assert!(states(&bob).iter().all(|s| *s == (InboundPayloadState::Processed, None)));
    assert_eq!(session_of(&bob, &alice).version, before.version + 1, "stored once");
}

/// A payload that cannot be stored fails its group; alone, every other payload of the group
/// is processed and that one is refused after its tries.
#[test]
fn a_payload_that_errors_is_refused_without_blocking_its_group() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    let waiting = stored_at_bob(&node, &alice, &bob, 4);
    let doomed = bob.inbound().into_iter().find(|p| p.hash == waiting[1]).unwrap();

    let counting = counting(&bob);
    // Saves that would mark this payload `PROCESSED` fail (a payload that cannot be stored).
    let hash = doomed.hash.clone();
    counting.fail_saves_when(move |changes| {
        let written = format!("{changes:?}");
        written.contains(hash.as_str()) && written.contains("\"PROCESSED\"")
    });
    process_at(&bob, &counting, &node, NOW + 102);
    let shown: Vec<MessageRecord> = block_on(bob.store.all::<MessageRecord>()).unwrap();
    assert_eq!(shown.len(), 4, "hello and the three others: {shown:?}");
    let refused = bob.inbound().into_iter().find(|p| p.hash == doomed.hash).unwrap();
    assert_eq!(
        (refused.state, refused.failure),
        (InboundPayloadState::Rejected, Some(InboundFailure::ProcessingFailed))
    );
    let processed =
        bob.inbound().iter().filter(|p| p.state == InboundPayloadState::Processed).count();
    assert_eq!(processed, 4, "hello and the three others");
}

/// Another writer moves a payload of the group and the sender's session between the group's
/// reads and its commit: the group is redone from fresh reads, that payload left as the
/// other writer left it, nothing written twice.
#[test]
fn a_conflict_mid_group_redoes_it_with_nothing_doubled() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    let waiting = stored_at_bob(&node, &alice, &bob, 3);
    let first = bob.inbound().into_iter().find(|p| p.hash == waiting[0]).unwrap();
    let session = session_of(&bob, &alice);

    let mut racing = Changes::new();
    racing.put(&processed(&first, InboundPayloadState::Processed, None)).unwrap();
    racing.put(&SessionRecord { version: session.version + 1, ..session.clone() }).unwrap();
    let counting = counting(&bob);
    counting.race_next_save(racing);
    process_at(&bob, &counting, &node, NOW + 102);

    assert_eq!(counting.log.saves(), 2, "the conflicting commit, then the redone one");
    assert!(states(&bob).iter().all(|s| *s == (InboundPayloadState::Processed, None)));
    let shown: Vec<MessageRecord> = block_on(bob.store.all::<MessageRecord>()).unwrap();
    assert_eq!(shown.len(), 3, "hello and the two the group still had: {shown:?}");
    assert_eq!(session_of(&bob, &alice).version, session.version + 2);
}

/// A payload that does not decrypt and the re-send that repairs it, in one group: the
/// marker the first writes is seen, and deleted, by the second.
#[test]
fn a_repair_and_its_marker_in_one_group() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    alice.local.faults.corrupt_next_payload.set(true);
    let broken = stored_at_bob(&node, &alice, &bob, 1).remove(0);

    // The re-send, on a new session, naming the broken payload.
    let message = chat(&alice, &bob, "resent", NOW + 1);
    let plaintext = Plaintext {
        kind: Some(PlaintextKind::Invite(Invite {
            convo_id: message.convo_id.clone(),
            message: Some(message.clone()),
        })),
        repairs: vec![broken.clone()],
    };
    let bundle = {
        let record = block_on(alice.store.get::<crate::engine::InstallationRecord>(&bob.id));
        crate::wire::ContactEntry::decode_bundle(&record.unwrap().unwrap().bundle).unwrap()
    };
    let installation = alice.local.installation.borrow();
    let mut session = installation
        .create_outbound_session(&bundle.identity_key, &bundle.fallback_key.unwrap().key)
        .unwrap();
    let OlmCiphertext { message_type, ciphertext } =
        session.encrypt(&plaintext.encode_to_vec()).unwrap();
    let mut payload = InboxPayload {
        sender_address: alice.address.clone(),
        sender_installation_id: alice.id.clone(),
        message_type,
        ciphertext,
        ..InboxPayload::default()
    };
    sign_payload(&installation, &bob.id, &mut payload);
    let resend = payload.encode_to_vec();
    publish_to(&node, &bob, NOW + 200, vec![resend.clone()]);
    bob.local.faults.hold_inbound.set(true);
    bob.pass(&node, NOW + 201).unwrap();
    bob.local.faults.hold_inbound.set(false);
    assert_eq!(states(&bob).iter().filter(|s| s.0 == InboundPayloadState::Received).count(), 2);

    let counting = counting(&bob);
    process_at(&bob, &counting, &node, NOW + 202);
    assert_eq!(counting.log.saves(), 1, "one group");
    let failed = bob.inbound().into_iter().find(|p| p.hash == broken).unwrap();
    assert_eq!(
        (failed.state, failed.failure),
        (InboundPayloadState::Failed, Some(InboundFailure::BadMac))
    );
    let repaired = bob.inbound().into_iter().find(|p| p.hash == payload_hash(&resend)).unwrap();
    assert_eq!(repaired.state, InboundPayloadState::Processed);
    assert_eq!(bob.message(&message.id).unwrap().state, MessageState::Received);
    assert_eq!(bob.message(&marker_id(&broken)), None, "the marker is gone");
    let notices = bob.outbound().into_iter().filter(|p| p.message_ids.is_empty()).count();
    assert_eq!(notices, 1, "the sender was asked once");
}

/// A stream connection covered by a pull brings envelopes that are processed without a pull
/// each; after a reconnection, an envelope waits for the catch-up before it is processed.
#[test]
fn a_covered_stream_needs_no_pull_per_envelope() {
    let node = MemoryNode::new();
    let (alice, bob) = quiet_pair(&node);
    let mut subscription = node.subscribe(&[Topic::inbox(&bob.id)]);
    let follow = |now: u64, subscription: &mut crate::net::memory::MemorySubscription| {
        let event = block_on(subscription.next()).unwrap();
        block_on(processor::on_inbox_event(&bob.local, &bob.store, event, now));
    };
    let pass = |now: u64| {
        let clock = move || now;
        let ctx = bob.local.context(&bob.store, &node, &clock);
        block_on(processor::pass(&ctx, &bob.local)).unwrap();
    };
    follow(NOW + 1, &mut subscription);
    assert!(!bob.local.stream.is_synced(), "connected, not covered yet");
    pass(NOW + 2);
    assert!(bob.local.stream.is_synced(), "the catch-up after the connection covers it");

    alice.send(&bob.address, "streamed", "streamed", NOW + 3);
    alice.pass(&node, NOW + 3).unwrap();
    let queries = node.requests().queries;
    follow(NOW + 4, &mut subscription);
    pass(NOW + 5);
    assert_eq!(bob.message("streamed").unwrap().state, MessageState::Received);
    assert_eq!(node.requests().queries, queries, "no pull for it");

    // A reconnection: what it streams waits for the catch-up.
    subscription.close();
    let mut subscription = node.subscribe(&[Topic::inbox(&bob.id)]);
    follow(NOW + 6, &mut subscription);
    assert!(!bob.local.stream.is_synced());
    alice.send(&bob.address, "after", "after", NOW + 7);
    alice.pass(&node, NOW + 7).unwrap();
    follow(NOW + 8, &mut subscription);
    let clock = || NOW + 9;
    block_on(process_received(&bob.local.context(&bob.store, &node, &clock))).unwrap();
    assert_eq!(bob.message("after"), None, "not processed ahead of the catch-up");
    pass(NOW + 10);
    assert_eq!(bob.message("after").unwrap().state, MessageState::Received);
    assert!(bob.local.stream.is_synced());
}

/// `both` finishes each of its futures, however many times each is pending first, and polls
/// neither again once it is done.
#[test]
fn both_awaits_two_futures_together() {
    use std::{future::Future, pin::Pin, task::Poll};
    struct PendingFor(u32, &'static str);
    impl Future for PendingFor {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<&'static str> {
            assert_ne!(self.0, u32::MAX, "polled after it finished");
            if self.0 == 0 {
                self.0 = u32::MAX;
                return Poll::Ready(self.1);
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    let joined = super::super::context::both(PendingFor(3, "a"), PendingFor(0, "b"));
    assert_eq!(block_on(joined), ("a", "b"));
    let joined = super::super::context::both(PendingFor(0, "a"), PendingFor(5, "b"));
    assert_eq!(block_on(joined), ("a", "b"));
}
