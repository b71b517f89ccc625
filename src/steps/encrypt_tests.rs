//! The encrypt step over the in-memory store and node: a group's reads do not grow with its
//! messages, and a group that fails is redone one message at a time without writing twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use super::encrypt_pending;
use crate::{
    engine::MessageState,
    net::memory::MemoryNode,
    sim::block_on,
    steps::{
        probes::{CountingStore, Log},
        test_devices::{Device, NOW, Wallet, device},
    },
    store::store_names::{CONVERSATIONS, INSTALLATIONS, MESSAGES, SESSIONS, USERS},
};

/// Alice, Bob on two installations and Carol, who already exchanged a message each way
/// (sessions and installation lists in place, fetched at [`NOW`]).
struct World {
    node: MemoryNode,
    alice: Device,
    bobs: [Device; 2],
    carol: Device,
}

impl World {
    fn new() -> Self {
        let node = MemoryNode::new();
        let alice = device(&node, &Wallet::new(1));
        let bobs = [device(&node, &Wallet::new(2)), device(&node, &Wallet::new(2))];
        let carol = device(&node, &Wallet::new(3));
        alice.send(&bobs[0].address, "to-bob", "hello", NOW);
        alice.send(&carol.address, "to-carol", "hello", NOW);
        alice.pass(&node, NOW).unwrap();
        Self { node, alice, bobs, carol }
    }

    /// Queues a message to each of `peers` in turn (named `m0`, `m1`...), then runs the
    /// encrypt step alone (within the refresh threshold: nothing is fetched) and returns
    /// what it asked of the store.
    fn encrypt(&self, peers: &[&Device]) -> Rc<Log> {
        for (i, peer) in peers.iter().enumerate() {
            self.alice.send(&peer.address, &format!("m{i}"), &format!("text {i}"), NOW + 1);
        }
        let log = Rc::new(Log::default());
        let store = CountingStore::new(&self.alice.store, &log);
        let clock = || NOW + 500;
        let ctx = self.alice.local.context(&store, &self.node, &clock);
        block_on(encrypt_pending(&ctx)).unwrap();
        for i in 0..peers.len() {
            let state = self.alice.message(&format!("m{i}")).unwrap().state;
            assert_eq!(state, MessageState::Committed, "m{i}");
        }
        log
    }

    /// Every device's passes until what Alice queued has arrived.
    fn settle(&self) {
        for at in [NOW + 600, NOW + 700, NOW + 800] {
            for device in [&self.alice, &self.bobs[0], &self.bobs[1], &self.carol] {
                device.pass(&self.node, at).unwrap();
            }
        }
    }

    /// The payloads Alice queued for message `nonce`, by recipient installation.
    fn payloads_of(&self, nonce: &str) -> Vec<String> {
        let id = self.alice.message(nonce).unwrap().id;
        let payloads = self.alice.outbound().into_iter().filter(|p| p.message_ids == [id.clone()]);
        let mut recipients: Vec<String> = payloads.map(|p| p.installation_id).collect();
        recipients.sort();
        recipients
    }
}

/// The store calls a group's reads make, by object store.
fn reads(log: &Log) -> Vec<(&'static str, usize)> {
    let stores = [USERS, INSTALLATIONS, SESSIONS, CONVERSATIONS, MESSAGES];
    let count = |store| log.calls.borrow().iter().filter(|c| c.store == store).count();
    stores.into_iter().map(|store| (store, count(store))).collect()
}

#[test]
fn a_group_reads_each_participant_and_the_sessions_once_whatever_its_size() {
    let two = World::new();
    let few = two.encrypt(&[&two.bobs[0], &two.carol]);
    let many = World::new();
    let peers: Vec<&Device> = (0..24).map(|i| [&many.bobs[0], &many.carol][i % 2]).collect();
    let lots = many.encrypt(&peers);

    assert_eq!(reads(&few), reads(&lots), "24 messages read as much as 2");
    // Alice, Bob and Carol: a user record and an installation list each; every session at
    // once; the conversations at once; the queue (then its end) and the group's messages.
    assert_eq!(
        reads(&lots),
        [(USERS, 3), (INSTALLATIONS, 3), (SESSIONS, 1), (CONVERSATIONS, 1), (MESSAGES, 3)]
    );
    assert_eq!(lots.count("save", ""), 1, "one group commit");

    // And the 24 arrive, in order, at both of Bob's installations and at Carol's.
    many.settle();
    for (i, peer) in peers.iter().enumerate() {
        let received = |d: &Device| d.message(&format!("m{i}")).map(|m| m.state);
        if std::ptr::eq(*peer, &many.carol) {
            assert_eq!(received(&many.carol), Some(MessageState::Received), "m{i}");
        } else {
            assert_eq!(received(&many.bobs[0]), Some(MessageState::Received), "m{i}");
            assert_eq!(received(&many.bobs[1]), Some(MessageState::Received), "m{i}");
        }
        assert_eq!(many.alice.message(&format!("m{i}")).unwrap().state, MessageState::Sent);
    }
}

#[test]
fn a_commit_that_fails_midway_is_redone_one_by_one_writing_each_message_once() {
    let world = World::new();
    world.alice.local.faults.fail_next_commit.set(true);
    let peers = [&world.bobs[0], &world.bobs[0], &world.carol, &world.bobs[0]];
    let log = world.encrypt(&peers);
    assert!(!world.alice.local.faults.fail_next_commit.get(), "the fault fired");
    assert_eq!(log.count("save", ""), 1 + peers.len(), "the group, then each alone");

    let bob_ids: Vec<String> = world.bobs.iter().map(|b| b.id.clone()).collect();
    let mut bob_ids_sorted = bob_ids.clone();
    bob_ids_sorted.sort();
    for (i, peer) in peers.iter().enumerate() {
        let expected = if std::ptr::eq(*peer, &world.carol) {
            vec![world.carol.id.clone()]
        } else {
            bob_ids_sorted.clone()
        };
        assert_eq!(world.payloads_of(&format!("m{i}")), expected, "m{i}: one payload each");
    }
    world.settle();
    for i in [0, 1, 3] {
        for bob in &world.bobs {
            let state = bob.message(&format!("m{i}")).map(|m| m.state);
            assert_eq!(state, Some(MessageState::Received), "m{i} at {}", bob.id);
        }
    }
    assert_eq!(world.carol.message("m2").map(|m| m.state), Some(MessageState::Received));
    let inbound = world.bobs.iter().chain([&world.carol]).flat_map(|d| d.inbound());
    let failures: Vec<_> = inbound.filter_map(|p| p.failure).collect();
    assert!(failures.is_empty(), "no session forked: {failures:?}");
}
