//! The deliver step over the in-memory store and node, through the probes: batches grow with
//! a backlog, go out once and in order, overlap the store's work with the publish in flight,
//! and never mark a payload (or a message) `SENT` before the node acknowledged it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use super::{
    Batch, FIRST_BATCH, MAX_BATCH, MAX_BATCH_BYTES, deliver_pending, deliver_within, next_batch,
};
use crate::steps::probes::{CountingStore, Log, RecordingNode};
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

    /// Delivers with at most `max_bytes` of payload per request.
    fn deliver_within(&self, max_bytes: usize) -> Result<(), SdkError> {
        let clock = || NOW;
        let ctx = self.device.local.context(&self.store, &self.recording, &clock);
        block_on(deliver_within(&ctx, max_bytes))
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
fn a_backlog_grows_the_batch_and_goes_out_once_in_order() {
    // 200 messages of 1 to 3 payloads each: 399 payloads.
    let shape: Vec<usize> = (0..200).map(|m| 1 + m % 3).collect();
    let queue = Queue::new(&shape, 64);
    queue.deliver().unwrap();

    assert_eq!(queue.publish_sizes(), [50, 200, 149], "50 first, then 200 while more wait");
    let in_queue_order: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
    assert_eq!(queue.published(), in_queue_order, "each payload once, in queue order");
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Sent));
    assert!((0..200).all(|m| queue.message_state(&format!("m{m:04}")) == MessageState::Sent));

    // Per batch: one read of the queue, one of the batch's messages' payloads, one of the
    // messages, one save; the store's work for batch n overlaps batch n + 1's publish.
    let log = &queue.log;
    let outbound = crate::store::store_names::OUTBOUND_PAYLOADS;
    assert_eq!(log.count("by_index", outbound), 3, "the last one showed the queue's end");
    assert_eq!(log.count("by_index_each", outbound), 3);
    assert_eq!(log.count("get_many", crate::store::store_names::MESSAGES), 3);
    assert_eq!(log.count("save", ""), 3);
    assert_eq!(log.calls.borrow().len(), 12, "{:?}", log.calls.borrow());
    let overlapped = log.calls.borrow().iter().filter(|c| c.during_publish).count();
    // While the first publish flies the second batch is read; while the second, the first
    // batch is marked (3 calls) and the third read; while the third, the second is marked.
    assert_eq!(overlapped, 1 + 4 + 3, "{:?}", log.calls.borrow());
}

#[test]
fn a_failed_publish_in_the_pipeline_marks_nothing_unacknowledged_sent() {
    for stored_anyway in [false, true] {
        let queue = Queue::new(&[1; 300], 64);
        // The second publish (200 payloads) fails; the node stored them if the failure is
        // a lost acknowledgement.
        queue.recording.fail_when(move |n| (n == 1).then(|| (unavailable(), stored_anyway)));
        let error = queue.deliver().unwrap_err();
        assert_eq!(error.code, crate::error::ErrorCode::NodeRejected, "{error}");

        assert_eq!(queue.publish_sizes(), [50, 200]);
        let payloads = queue.payloads();
        let states: Vec<(OutboundPayloadState, u32)> =
            payloads.iter().map(|p| (p.state, p.attempts)).collect();
        use OutboundPayloadState::*;
        assert_eq!(states[..50], [(Sent, 0); 50], "acknowledged: marked while the next flew");
        assert_eq!(states[50..250], [(Uninitialized, 1); 200], "failed: an attempt counted");
        assert_eq!(states[250..], [(Uninitialized, 0); 50], "never sent");
        assert!(payloads[50].last_error.as_deref().is_some_and(|e| e.contains("down")));
        assert_eq!(queue.message_state("m0049"), MessageState::Sent);
        assert_eq!(queue.message_state("m0050"), MessageState::Committed);
        // A failure that may pass changes only the payloads: the failed batch's messages
        // are not read (the one read is the acknowledged batch's).
        let messages = crate::store::store_names::MESSAGES;
        assert_eq!(queue.log.count("get_many", messages), 1, "{:?}", queue.log.calls.borrow());

        // Next time the same envelopes go out again, then the rest.
        let failed = queue.log.publishes.borrow()[1].envelopes.clone();
        queue.recording.fail_when(|_| None);
        queue.deliver().unwrap();
        assert_eq!(queue.publish_sizes(), [50, 200, 50, 200]);
        let publishes = queue.log.publishes.borrow().clone();
        let again = publishes.into_iter().flat_map(|p| p.envelopes).skip(250);
        let again: Vec<_> = again.filter(|e| failed.contains(e)).collect();
        assert_eq!(again, failed, "the same bytes and times: exact duplicates");
        assert!(queue.payloads().iter().all(|p| p.state == Sent));
        assert_eq!(queue.message_state("m0299"), MessageState::Sent);
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

    // Without the failure, the second batch is marked while nothing else is in flight; the
    // node's checks (no SENT message with an unsent payload) held at every publish.
    let queue = Queue::new(&shape, 64);
    queue.deliver().unwrap();
    assert_eq!(queue.publish_sizes(), [50, 4]);
    assert_eq!(queue.message_state("m0049"), MessageState::Sent);
}

#[test]
fn a_failed_save_after_a_publish_loses_nothing() {
    let queue = Queue::new(&[1; 300], 64);
    // The first save (marking the first batch, while the second is in flight) fails.
    let mut saves = 0;
    queue.device.store.set_save_fault(move || {
        saves += 1;
        saves == 1
    });
    let error = queue.deliver().unwrap_err();
    assert_eq!(error.code, crate::error::ErrorCode::Storage, "{error}");
    assert_eq!(queue.publish_sizes(), [50, 200], "the second publish ended before the error");
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Uninitialized));

    // Both batches, acknowledged but not marked, go out again (exact duplicates).
    queue.deliver().unwrap();
    assert_eq!(queue.publish_sizes(), [50, 200, 50, 200, 50]);
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Sent));
    let everything: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
    assert_eq!(sorted(queue.stored_on_node()), sorted(everything), "each once on the node");
}

#[test]
fn a_batch_is_cut_by_its_bytes_and_skips_the_payloads_in_flight() {
    let queue = Queue::new(&[1; 12], 1000);
    let read = |size, in_flight: &[OutboundPayloadRecord], max_bytes| {
        block_on(next_batch(&queue.store, size, in_flight, max_bytes)).unwrap()
    };
    let seqs = |batch: &Batch| batch.payloads.iter().map(|p| p.seq.unwrap()).collect::<Vec<_>>();
    let first_seq = queue.payloads()[0].seq.unwrap();
    let from = |n: u64, count: u64| (first_seq + n..first_seq + n + count).collect::<Vec<u64>>();

    // 4 payloads of 1000 bytes fit in 4500: the fifth would pass it. The next read is as
    // long (as many of this size fit), past the 4 in flight, and so is the one after.
    let first = read(50, &[], 4500);
    assert_eq!((seqs(&first), first.next_size), (from(0, 4), 4));
    let second = read(first.next_size, &first.payloads, 4500);
    assert_eq!((seqs(&second), second.next_size), (from(4, 4), 4));
    // A payload larger than the limit still goes, alone.
    assert_eq!(seqs(&read(50, &[], 10)), [first_seq]);
    // The rest of the queue: nothing more queued, the next read is a first batch's length.
    let rest = read(50, &first.payloads, MAX_BATCH_BYTES);
    assert_eq!((seqs(&rest), rest.next_size), (from(4, 8), FIRST_BATCH));
    // A full batch of small payloads with more behind: the next one is the largest.
    let full = read(3, &[], MAX_BATCH_BYTES);
    assert_eq!((seqs(&full), full.next_size), (from(0, 3), MAX_BATCH));
    // Exactly the queue: nothing more.
    assert_eq!(read(12, &[], MAX_BATCH_BYTES).next_size, FIRST_BATCH);
}

#[test]
fn a_refused_publish_after_an_acknowledged_batch_fails_only_its_own_messages() {
    let queue = Queue::new(&[1; 300], 64);
    let refused = NetError::Node { status: 400, code: 3, message: "invalid topic".into() };
    queue.recording.fail_when(move |n| (n == 1).then(|| (refused.clone(), false)));
    let error = queue.deliver().unwrap_err();
    assert_eq!(error.code, crate::error::ErrorCode::NodeRejected, "{error}");

    assert_eq!(queue.publish_sizes(), [50, 200]);
    let states: Vec<OutboundPayloadState> = queue.payloads().iter().map(|p| p.state).collect();
    use OutboundPayloadState::*;
    assert_eq!(states[..50], [Sent; 50], "acknowledged: marked while the refused one flew");
    assert_eq!(states[50..250], [Failed; 200], "refused: it will not pass");
    assert_eq!(states[250..], [Uninitialized; 50], "never sent");
    assert_eq!(queue.message_state("m0049"), MessageState::Sent);
    assert_eq!(queue.message_state("m0050"), MessageState::Failed);
    assert_eq!(queue.message_state("m0249"), MessageState::Failed);
    assert_eq!(queue.message_state("m0250"), MessageState::Committed);

    // The refused batch does not block the queue behind it.
    queue.recording.fail_when(|_| None);
    queue.deliver().unwrap();
    assert_eq!(queue.publish_sizes(), [50, 200, 50]);
    assert_eq!(queue.message_state("m0299"), MessageState::Sent);
    assert_eq!(queue.message_state("m0050"), MessageState::Failed, "not sent behind its back");
}

#[test]
fn a_request_is_capped_by_its_bytes() {
    // 200 payloads of 100 bytes under a cap of 8000: 50 first (5000 bytes, more queued),
    // then as many as fit, 80.
    let queue = Queue::new(&[1; 200], 100);
    queue.deliver_within(8000).unwrap();

    assert_eq!(queue.publish_sizes(), [50, 80, 70], "50 first, then as many as fit");
    for publish in queue.log.publishes.borrow().iter() {
        let bytes: usize = publish.envelopes.iter().map(|e| e.message.len()).sum();
        assert!(bytes <= 8000, "{bytes} bytes in one request");
    }
    let in_queue_order: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
    assert_eq!(queue.published(), in_queue_order, "each payload once, in queue order");
    assert!(queue.payloads().iter().all(|p| p.state == OutboundPayloadState::Sent));

    // Payloads of 1000 bytes under 4500: even the first request is cut, at 4.
    let queue = Queue::new(&[1; 10], 1000);
    queue.deliver_within(4500).unwrap();
    assert_eq!(queue.publish_sizes(), [4, 4, 2]);
}

#[test]
fn a_failed_read_while_a_publish_flies_marks_nothing_unacknowledged_and_loses_nothing() {
    let queue = Queue::new(&[1; 300], 64);
    // The third read of the queue (while the second publish flies, after the first batch
    // was marked) fails; that publish is acknowledged all the same.
    let mut queue_reads = 0;
    queue.store.fail_reads_when(move |call| {
        queue_reads += usize::from(call.kind == "by_index");
        call.kind == "by_index" && queue_reads == 3
    });
    let error = queue.deliver().unwrap_err();
    assert_eq!(error.code, crate::error::ErrorCode::Storage, "{error}");
    assert_eq!(queue.publish_sizes(), [50, 200], "the second publish ended before the error");
    let states: Vec<OutboundPayloadState> = queue.payloads().iter().map(|p| p.state).collect();
    use OutboundPayloadState::*;
    assert_eq!(states[..50], [Sent; 50], "marked while the second publish flew");
    assert_eq!(states[50..], [Uninitialized; 250], "acknowledged but not marked, or never sent");
    assert!(queue.payloads().iter().all(|p| p.attempts == 0), "no publish failed");

    // The batch acknowledged but not marked goes out again (exact duplicates), then the rest.
    queue.store.fail_reads_when(|_| false);
    queue.deliver().unwrap();
    assert_eq!(queue.publish_sizes(), [50, 200, 50, 200]);
    assert!(queue.payloads().iter().all(|p| p.state == Sent));
    assert!((0..300).all(|m| queue.message_state(&format!("m{m:04}")) == MessageState::Sent));
    let everything: Vec<Vec<u8>> = queue.payloads().into_iter().map(|p| p.payload).collect();
    assert_eq!(sorted(queue.stored_on_node()), sorted(everything), "each once on the node");
}
