//! Hostile peers against the steps, over the in-memory store and node: each test first shows
//! the attack and what the user must still get.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;

use prost::Message as _;

use super::{
    queue,
    test_devices::{Device, NOW, Wallet, device},
};
use crate::{
    crypto::OlmCiphertext,
    engine::{
        ConversationRecord, InboundFailure, InboundPayloadRecord, InboundPayloadState,
        MessageRecord, MessageState, conversation_id, message_id,
    },
    net::{
        Envelope, Node,
        memory::{MemoryNode, NodeFaults},
    },
    sim::block_on,
    store::{Changes, Store},
    wire::{ChatMessage, InboxPayload, Plaintext, PlaintextKind, Topic},
};

impl Device {
    /// A message from this installation to `to`, encrypted on a new session with it (an
    /// invite), as the payload bytes a peer may send.
    pub(super) fn encrypt_to(&self, to: &Device, message: ChatMessage) -> Vec<u8> {
        use crate::engine::InstallationRecord;
        let record = block_on(self.store.get::<InstallationRecord>(&to.id)).unwrap().unwrap();
        let bundle = crate::wire::ContactEntry::decode_bundle(&record.bundle).unwrap();
        let installation = self.local.installation.borrow();
        let mut session = installation
            .create_outbound_session(&bundle.identity_key, &bundle.fallback_key.unwrap().key)
            .unwrap();
        let plaintext = Plaintext {
            kind: Some(PlaintextKind::Invite(crate::wire::Invite {
                convo_id: message.convo_id.clone(),
                message: Some(message),
            })),
            repairs: Vec::new(),
        };
        let OlmCiphertext { message_type, ciphertext } =
            session.encrypt(&plaintext.encode_to_vec()).unwrap();
        let mut payload = InboxPayload {
            sender_address: self.address.clone(),
            sender_installation_id: self.id.clone(),
            message_type,
            ciphertext,
            ..InboxPayload::default()
        };
        sign_payload(&installation, &to.id, &mut payload);
        payload.encode_to_vec()
    }
}

/// Signs `payload` for `recipient` as the sender installation does.
pub(super) fn sign_payload(
    installation: &crate::crypto::Installation,
    recipient: &str,
    payload: &mut InboxPayload,
) {
    payload.signature = installation.sign(&payload.signing_bytes(recipient));
}

/// Publishes `payloads` to `to`'s inbox, dated `at_ms`.
pub(super) fn publish_to(node: &MemoryNode, to: &Device, at_ms: u64, payloads: Vec<Vec<u8>>) {
    let topic = Topic::inbox(&to.id);
    let envelopes: Vec<Envelope> = payloads
        .into_iter()
        .enumerate()
        .map(|(i, p)| Envelope::new(&topic, at_ms, i as u64, p))
        .collect();
    block_on(node.publish(&envelopes)).unwrap();
}

/// Alice and Bob, each with one installation, who know each other.
pub(super) fn pair(node: &MemoryNode) -> (Device, Device) {
    let (alice, bob) = (device(node, &Wallet::new(1)), device(node, &Wallet::new(2)));
    alice.send(&bob.address, "hello", "hello", NOW);
    alice.pass(node, NOW).unwrap();
    bob.pass(node, NOW).unwrap();
    assert_eq!(bob.message("hello").unwrap().state, MessageState::Received);
    (alice, bob)
}

pub(super) fn chat(from: &Device, to: &Device, id: &str, sent_at_ms: u64) -> ChatMessage {
    let convo_id = conversation_id(&from.address, &to.address);
    ChatMessage {
        id: message_id(&from.address, &convo_id, id),
        convo_id,
        sender_address: from.address.clone(),
        sent_at_ms,
        content_type: "text/plain".into(),
        content: b"hi".to_vec(),
        recipient_address: to.address.clone(),
    }
}

fn failure_of(device: &Device, state: InboundPayloadState) -> Vec<Option<InboundFailure>> {
    device.inbound().into_iter().filter(|p| p.state == state).map(|p| p.failure).collect()
}

/// Attack 1: one message dated past 2^53 - 1 cannot be stored; it must not freeze the
/// queue behind it.
#[test]
fn a_message_dated_beyond_safe_integers_does_not_freeze_the_inbox() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    let bad = alice.encrypt_to(&bob, chat(&alice, &bob, "frozen", u64::MAX));
    publish_to(&node, &bob, NOW + 1, vec![bad]);
    alice.send(&bob.address, "after", "after", NOW + 2);
    alice.pass(&node, NOW + 2).unwrap();
    for i in 0..3 {
        let _ = bob.pass(&node, NOW + 3 + i);
    }
    assert_eq!(bob.message("after").map(|m| m.state), Some(MessageState::Received));
    assert_eq!(bob.message("frozen"), None);
    assert_eq!(failure_of(&bob, InboundPayloadState::Received), Vec::new());
    let rejected = failure_of(&bob, InboundPayloadState::Rejected);
    assert_eq!(rejected, [Some(InboundFailure::Malformed)]);
    // Refused bytes are not kept (a flood would fill the disk); the hash is.
    assert!(
        bob.inbound()
            .iter()
            .all(|p| p.state != InboundPayloadState::Rejected || p.payload.is_empty())
    );
}

/// Per-item isolation: a payload whose sender cannot be looked up (the node refuses
/// queries) waits without holding up the payloads behind it.
#[test]
fn a_payload_that_cannot_be_processed_now_does_not_hold_up_the_ones_behind() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    let carol = device(&node, &Wallet::new(3));
    carol.send(&bob.address, "from-carol", "hi", NOW + 1);
    carol.pass(&node, NOW + 1).unwrap();
    alice.send(&bob.address, "after", "after", NOW + 2);
    alice.pass(&node, NOW + 2).unwrap();
    bob.local.faults.hold_inbound.set(true);
    bob.pass(&node, NOW + 3).unwrap();
    bob.local.faults.hold_inbound.set(false);
    node.set_faults(NodeFaults { query_fail_rate: 1.0, ..NodeFaults::default() });
    let _ = bob.pass(&node, NOW + 4);
    assert_eq!(bob.message("after").map(|m| m.state), Some(MessageState::Received));
    assert_eq!(bob.message("from-carol"), None, "Carol's installation is not known yet");
    node.set_faults(NodeFaults::default());
    bob.pass(&node, NOW + 5).unwrap();
    assert_eq!(bob.message("from-carol").map(|m| m.state), Some(MessageState::Received));
}

/// Per-item isolation on the send side: a message that cannot be encrypted fails on its
/// own, after bounded retries; the others go out.
#[test]
fn a_message_that_cannot_be_encrypted_does_not_stop_sending() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    // A conversation with a peer whose address cannot be parsed: every try errors.
    let broken = ConversationRecord {
        id: "broken".into(),
        peer_address: "0xnot-an-address".into(),
        state: crate::engine::ConversationState::Uninitialized,
        created_at_ms: NOW,
    };
    let mut changes = Changes::new();
    changes.put(&broken).unwrap();
    changes
        .put(&MessageRecord {
            id: "bad".into(),
            convo_id: "broken".into(),
            sender_address: alice.address.clone(),
            sent_at_ms: NOW + 1,
            state: MessageState::Uninitialized,
            content_type: "text/plain".into(),
            content: b"x".to_vec(),
            failure: None,
            resends: 0,
        })
        .unwrap();
    block_on(alice.store.save(changes)).unwrap();
    alice.send(&bob.address, "good", "good", NOW + 2);
    for i in 0..3 {
        let _ = alice.pass(&node, NOW + 3 + i);
    }
    assert_eq!(alice.message("good").map(|m| m.state), Some(MessageState::Sent));
    let bad = alice.message("bad").unwrap();
    assert_eq!(bad.state, MessageState::Failed, "{bad:?}");
}

/// Attack 4: a decryption-failure notice must not bring back a cancelled message.
#[test]
fn a_notice_does_not_undo_a_cancel() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    node.set_faults(NodeFaults { publish_fail_rate: 1.0, ..NodeFaults::default() });
    alice.send(&bob.address, "cancelled", "secret", NOW + 1);
    let _ = alice.pass(&node, NOW + 1);
    let cancelled = alice.message("cancelled").unwrap().id;
    block_on(queue::requeue(&alice.store, &cancelled, false)).unwrap();
    node.set_faults(NodeFaults::default());
    // Bob (or anyone holding his key) says the first payload failed.
    let hello = alice.message("hello").unwrap().id;
    let hello = alice.outbound().into_iter().find(|p| p.message_ids == [hello.clone()]).unwrap();
    let notice = bob_notice(&bob, &alice, hello.payload_hash.as_deref().unwrap());
    publish_to(&node, &alice, NOW + 2, vec![notice]);
    alice.pass(&node, NOW + 3).unwrap();
    alice.pass(&node, NOW + 4).unwrap();
    bob.pass(&node, NOW + 5).unwrap();
    assert_eq!(bob.message("cancelled"), None, "a cancelled message was delivered");
    let cancelled = alice.message("cancelled").unwrap();
    assert_eq!(cancelled.state, MessageState::Failed);
}

/// `from`'s signed notice that payload `hash` from `to` failed.
fn bob_notice(from: &Device, to: &Device, hash: &str) -> Vec<u8> {
    use crate::engine::{InstallationRecord, Rejection, plan_decryption_failure};
    let sender = block_on(from.store.get::<InstallationRecord>(&to.id)).unwrap().unwrap();
    let record = InboundPayloadRecord {
        hash: hash.into(),
        state: InboundPayloadState::Received,
        order: format!("{:020}", 1),
        received_at_ms: NOW,
        payload: Vec::new(),
        sender_installation_id: Some(to.id.clone()),
        failure: None,
        detail: None,
        notice_pending: false,
    };
    let rejection = Rejection { failure: InboundFailure::BadMac, detail: String::new() };
    let step = plan_decryption_failure(
        &from.local.installation.borrow(),
        &from.address,
        &record,
        &rejection,
        &sender,
        None,
        NOW + 2,
    );
    step.notice.unwrap().payload
}

/// Attack 5: an established session's pre-key payload re-published with a field appended
/// (a new hash) must change nothing.
#[test]
fn a_pre_key_payload_replayed_with_a_field_appended_changes_nothing() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    bob.send(&alice.address, "reply", "reply", NOW + 1);
    bob.pass(&node, NOW + 1).unwrap();
    alice.pass(&node, NOW + 2).unwrap();
    alice.send(&bob.address, "second", "second", NOW + 3);
    alice.pass(&node, NOW + 3).unwrap();
    bob.pass(&node, NOW + 4).unwrap();
    let first = node.envelopes(&Topic::inbox(&bob.id).to_string()).remove(0);
    let mut replay = first.message.clone();
    replay.extend_from_slice(&[0x78, 0x01]); // field 15, varint 1: unknown, skipped
    assert!(InboxPayload::decode(replay.as_slice()).is_ok());
    publish_to(&node, &bob, NOW + 5, vec![replay]);
    bob.pass(&node, NOW + 6).unwrap();
    alice.send(&bob.address, "next", "next", NOW + 7);
    alice.pass(&node, NOW + 7).unwrap();
    bob.pass(&node, NOW + 8).unwrap();
    assert_eq!(bob.message("next").map(|m| m.state), Some(MessageState::Received));
    let markers: Vec<_> = block_on(bob.store.all::<MessageRecord>())
        .unwrap()
        .into_iter()
        .filter(|m| m.state == MessageState::Undecryptable)
        .collect();
    assert_eq!(markers, Vec::new());
    assert_eq!(
        failure_of(&bob, InboundPayloadState::Rejected),
        [Some(InboundFailure::NonCanonical)]
    );
}

/// Attack 6: a payload that only claims a sender shows nothing and asks nothing of it.
#[test]
fn a_payload_forging_its_sender_is_refused_quietly() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    let forged = InboxPayload {
        sender_address: alice.address.clone(),
        sender_installation_id: alice.id.clone(),
        message_type: 1,
        ciphertext: olm_shaped_junk(),
        ..InboxPayload::default()
    };
    publish_to(&node, &bob, NOW + 1, vec![forged.encode_to_vec()]);
    let notices_before = bob.outbound().len();
    bob.pass(&node, NOW + 2).unwrap();
    let shown = block_on(bob.store.all::<MessageRecord>()).unwrap();
    assert!(shown.iter().all(|m| m.state != MessageState::Undecryptable), "{shown:?}");
    assert_eq!(bob.outbound().len(), notices_before, "no notice to the claimed sender");
    assert_eq!(
        failure_of(&bob, InboundPayloadState::Rejected),
        [Some(InboundFailure::BadSignature)]
    );
    // The genuine sender's messages still arrive.
    alice.send(&bob.address, "genuine", "genuine", NOW + 3);
    alice.pass(&node, NOW + 3).unwrap();
    bob.pass(&node, NOW + 4).unwrap();
    assert_eq!(bob.message("genuine").map(|m| m.state), Some(MessageState::Received));
}

/// A well-formed Olm normal message (version, ratchet key, chain index, ciphertext, MAC)
/// that no session authenticates.
fn olm_shaped_junk() -> Vec<u8> {
    let mut bytes = vec![3, 0x0a, 0x20];
    bytes.extend([9u8; 32]);
    bytes.extend([0x10, 0x00, 0x22, 16]);
    bytes.extend([0u8; 16 + 8]);
    bytes
}

/// Per-item isolation: a payload whose every save fails is refused after a bounded number
/// of tries (`PROCESSING_FAILED`), and the one behind it is processed.
#[test]
fn a_payload_that_keeps_failing_is_refused_after_bounded_tries() {
    let node = MemoryNode::new();
    let (alice, bob) = pair(&node);
    alice.send(&bob.address, "doomed", "doomed", NOW + 1);
    alice.pass(&node, NOW + 1).unwrap();
    alice.send(&bob.address, "after", "after", NOW + 2);
    alice.pass(&node, NOW + 2).unwrap();
    bob.local.faults.hold_inbound.set(true);
    bob.pass(&node, NOW + 3).unwrap();
    bob.local.faults.hold_inbound.set(false);
    let failing = std::rc::Rc::new(Cell::new(super::context::TRIES));
    let left = failing.clone();
    bob.store.set_save_fault(move || {
        let fail = left.get() > 0;
        left.set(left.get().saturating_sub(1));
        fail
    });
    let _ = bob.pass(&node, NOW + 4);
    assert_eq!(failing.get(), 0);
    assert_eq!(bob.message("doomed"), None);
    assert_eq!(bob.message("after").map(|m| m.state), Some(MessageState::Received));
    let rejected = failure_of(&bob, InboundPayloadState::Rejected);
    assert_eq!(rejected, [Some(InboundFailure::ProcessingFailed)]);
}

/// Attack 8: a flood of junk is processed a bounded number at a time, each refused with
/// its bytes dropped, and the pass asks for the next one at once.
#[test]
fn a_flood_is_processed_in_bounded_rounds() {
    let node = MemoryNode::new();
    let (_alice, bob) = pair(&node);
    let cap = super::process::MAX_PER_PASS;
    let junk: Vec<Vec<u8>> = (0..cap + 10).map(|i| format!("junk {i}").into_bytes()).collect();
    publish_to(&node, &bob, NOW + 1, junk);
    bob.local.faults.hold_inbound.set(true);
    bob.pass(&node, NOW + 2).unwrap();
    bob.local.faults.hold_inbound.set(false);
    let clock = || NOW + 3;
    let ctx = bob.local.context(&bob.store, &node, &clock);
    block_on(super::process::process_received(&ctx)).unwrap();
    assert!(ctx.more.get(), "the next pass is asked for at once");
    let waiting = failure_of(&bob, InboundPayloadState::Received).len();
    assert_eq!(waiting, 10);
    bob.pass(&node, NOW + 4).unwrap();
    let rejected = bob.inbound();
    let rejected: Vec<_> =
        rejected.iter().filter(|p| p.state == InboundPayloadState::Rejected).collect();
    assert_eq!(rejected.len(), cap + 10);
    assert!(rejected.iter().all(|p| p.payload.is_empty()), "refused bytes are dropped");
}
