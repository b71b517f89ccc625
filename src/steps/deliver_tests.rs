//! The deliver step over the in-memory store and node, through the probes: batches go out
//! once and in order, read their messages in one transaction each, and never mark a payload
//! (or a message) `SENT` before the node acknowledged it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use super::deliver_pending;
use crate::steps::encrypt::probes::{CountingStore, Log, RecordingNode};
use crate::{
    engine::{MessageRecord, MessageState, OutboundPayloadRecord, OutboundPayloadState},
    error::SdkError,
    net::{NetError, memory::MemoryNode},
    sim::block_on,
    steps::test_devices::{Device, NOW, Wallet, device},
    store::{Changes, Store},
};

/// An installation with a queue, and the probes around its store and node.
struct Queue {
    device: Device,
    node: MemoryNode,
    log: Rc<Log>,
    recording: RecordingNode,
    store: CountingStore,
}

impl Queue {
    /// A new installation whose queue holds, for each entry of `payloads_per_message`, a
    /// `COMMITTED` message with that many payloads of `bytes` bytes (each payload's bytes
    /// are its own), queued in message order.
    fn new(payloads_per_message: &[usize], bytes: usize) -> Self {
        let node = MemoryNode::new();
        let device = device(&node, &Wallet::new(1));
        let mut changes = Changes::new();
        for (m, &count) in payloads_per_message.iter().enumerate() {
            let id = format!("m{m:04}");
            changes.put(&message(&id)).unwrap();
            for k in 0..count {
                let mut payload = format!("{id}/{k}").into_bytes();
                payload.resize(bytes.max(payload.len()), 0);
                changes.put(&queued(&id, k, payload)).unwrap();
            }
        }
        block_on(device.store.save(changes)).unwrap();
        let log = Rc::new(Log::default());
        let recording = RecordingNode::new(&node, &device.store, &log);
        let store = CountingStore::new(&device.store, &log);
        Self { device, node, log, recording, store }
    }

    fn deliver(&self) -> Result<(), SdkError> {
        let clock = || NOW;
        let ctx = self.device.local.context(&self.store, &self.recording, &clock);
        block_on(deliver_pending(&ctx))
    }

    /// The payloads, in queue order.
    fn payloads(&self) -> Vec<OutboundPayloadRecord> {
        block_on(self.device.store.all::<OutboundPayloadRecord>()).unwrap()
    }

    fn message_state(&self, id: &str) -> MessageState {
        block_on(self.device.store.get::<MessageRecord>(&id.to_owned())).unwrap().unwrap().state
    }

    /// How many envelopes each publish carried.
    fn publish_sizes(&self) -> Vec<usize> {
        self.log.publishes.borrow().iter().map(|p| p.envelopes.len()).collect()
    }

    /// The payload bytes of every publish, in the order they went out.
    fn published(&self) -> Vec<Vec<u8>> {
        let publishes = self.log.publishes.borrow();
        publishes.iter().flat_map(|p| p.envelopes.iter().map(|e| e.message.clone())).collect()
    }

    /// Every envelope the node holds for the payloads (it keeps an exact duplicate once).
    fn stored_on_node(&self) -> Vec<Vec<u8>> {
        let topics: crate::collections::VecSet<String> =
            self.payloads().into_iter().map(|p| p.installation_id).collect();
        let topics = topics.into_iter().map(|i| crate::wire::Topic::inbox(&i).to_string());
        topics.flat_map(|t| self.node.envelopes(&t)).map(|e| e.message).collect()
    }
}

fn message(id: &str) -> MessageRecord {
    MessageRecord {
        id: id.into(),
        convo_id: "c".into(),
        sender_address: "0xa".into(),
        sent_at_ms: NOW,
        state: MessageState::Committed,
        content_type: "text/plain".into(),
        content: Vec::new(),
        failure: None,
        resends: 0,
    }
}

fn queued(message: &str, k: usize, payload: Vec<u8>) -> OutboundPayloadRecord {
    OutboundPayloadRecord {
        seq: None,
        installation_id: format!("installation{k}"),
        message_ids: vec![message.into()],
        state: OutboundPayloadState::Uninitialized,
        payload,
        created_at_ms: NOW,
        attempts: 0,
        last_error: None,
        payload_hash: None,
        session_id: None,
        repairs: Vec::new(),
    }
}

fn unavailable() -> NetError {
    NetError::Node { status: 503, code: 14, message: "down".into() }
}

fn sorted(mut items: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    items.sort();
    items
}

#[test]
fn a_backlog_goes_out_once_in_order_reading_each_batchs_messages_at_once() {
    // 200 messages of 1 to 3 payloads each: 399 payloads.
    let shape: Vec<usize> = (0..200).map(|m| 1 + m % 3).collect();
    let queue = Queue::new(&shape, 64);
    queue.deliver().unwrap();

    assert_eq!(queue.publish_sizes(), [50, 50, 50, 50, 50, 50, 50, 49]);
    let in_queue_order: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
    assert_eq!(queue.published(), in_queue_order, "each payload once, in queue order");
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Sent));
    assert!((0..200).all(|m| queue.message_state(&format!("m{m:04}")) == MessageState::Sent));

    // Per batch: one read of the queue, one of the batch's messages' payloads, one of the
    // messages, one save (before: two reads per message).
    let log = &queue.log;
    let outbound = crate::store::store_names::OUTBOUND_PAYLOADS;
    assert_eq!(log.count("by_index", outbound), 9, "8 batches, then the empty queue");
    assert_eq!(log.count("by_index_each", outbound), 8);
    assert_eq!(log.count("get_many", crate::store::store_names::MESSAGES), 8);
    assert_eq!(log.count("save", ""), 8);
    assert_eq!(log.calls.borrow().len(), 9 + 8 * 3, "{:?}", log.calls.borrow());
}

#[test]
fn a_failed_publish_marks_nothing_unacknowledged_sent() {
    for stored_anyway in [false, true] {
        let queue = Queue::new(&[1; 120], 64);
        // The second publish fails; the node stored it if the failure is a lost
        // acknowledgement.
        queue.recording.fail_when(move |n| (n == 1).then(|| (unavailable(), stored_anyway)));
        let error = queue.deliver().unwrap_err();
        assert_eq!(error.code, crate::error::ErrorCode::NodeRejected, "{error}");

        assert_eq!(queue.publish_sizes(), [50, 50]);
        let payloads = queue.payloads();
        let states: Vec<(OutboundPayloadState, u32)> =
            payloads.iter().map(|p| (p.state, p.attempts)).collect();
        use OutboundPayloadState::*;
        assert_eq!(states[..50], [(Sent, 0); 50]);
        assert_eq!(states[50..100], [(Uninitialized, 1); 50], "failed: an attempt counted");
        assert_eq!(states[100..], [(Uninitialized, 0); 20], "never sent");
        assert_eq!(queue.message_state("m0049"), MessageState::Sent);
        assert_eq!(queue.message_state("m0050"), MessageState::Committed);

        // Next time the same envelopes go out again, then the rest.
        let failed = queue.log.publishes.borrow()[1].envelopes.clone();
        queue.recording.fail_when(|_| None);
        queue.deliver().unwrap();
        assert_eq!(queue.publish_sizes(), [50, 50, 50, 20]);
        assert_eq!(queue.log.publishes.borrow()[2].envelopes, failed, "exact duplicates");
        assert!(queue.payloads().iter().all(|p| p.state == Sent));
        let everything: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
        assert_eq!(sorted(queue.stored_on_node()), sorted(everything), "each once on the node");
    }
}

#[test]
fn a_message_whose_payloads_span_two_batches_is_sent_after_both() {
    // 49 one-payload messages, then one of 3 payloads: the first batch ends with its first.
    let mut shape = vec![1; 49];
    shape.extend([3, 1, 1]);
    let queue = Queue::new(&shape, 64);
    queue.recording.fail_when(|n| (n == 1).then(|| (unavailable(), false)));
    assert!(queue.deliver().is_err());
    let split: Vec<OutboundPayloadState> =
        queue.payloads()[49..52].iter().map(|p| p.state).collect();
    use OutboundPayloadState::*;
    assert_eq!(split, [Sent, Uninitialized, Uninitialized]);
    assert_eq!(queue.message_state("m0049"), MessageState::Committed, "one of three sent");

    queue.recording.fail_when(|_| None);
    queue.deliver().unwrap();
    assert_eq!(queue.message_state("m0049"), MessageState::Sent);
}

#[test]
fn a_failed_save_after_a_publish_loses_nothing() {
    let queue = Queue::new(&[1; 60], 64);
    queue.device.store.set_save_fault(|| true);
    let error = queue.deliver().unwrap_err();
    assert_eq!(error.code, crate::error::ErrorCode::Storage, "{error}");
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Uninitialized));

    // The batch acknowledged but not marked goes out again (exact duplicates).
    queue.device.store.set_save_fault(|| false);
    queue.deliver().unwrap();
    assert_eq!(queue.publish_sizes(), [50, 50, 10]);
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Sent));
    let everything: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
    assert_eq!(sorted(queue.stored_on_node()), sorted(everything), "each once on the node");
}
