//! The sends of one tick, queued together over the in-memory store: one transaction, times in
//! send order, the clock-skew rule, and a bad send failing alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{cell::Cell, rc::Rc};

use super::{MAX_CLOCK_SKEW_MS, Outgoing, queue_message, queue_messages};
use crate::{
    engine::{ConversationRecord, ConversationState, MessageRecord, MessageState},
    error::ErrorCode,
    sim::block_on,
    store::{Store, index, memory::MemoryStore},
};

const NOW: u64 = 1_760_000_000_000;
const ALICE: &str = "0x00000000000000000000000000000000000000a1";

fn conversation(id: &str) -> ConversationRecord {
    ConversationRecord {
        id: id.to_owned(),
        peer_address: "0x00000000000000000000000000000000000000b0".into(),
        state: ConversationState::Uninitialized,
        created_at_ms: NOW,
    }
}

fn outgoing(conversation_id: &str, text: &str, now_ms: u64) -> Outgoing {
    Outgoing {
        conversation_id: conversation_id.to_owned(),
        content_type: "text/plain".into(),
        content: text.as_bytes().to_vec(),
        nonce: format!("nonce-{text}"),
        now_ms,
    }
}

/// Counts the store's saves (none of them failed).
fn count_saves(store: &MemoryStore) -> Rc<Cell<u32>> {
    let saves = Rc::new(Cell::new(0));
    let counter = saves.clone();
    store.set_save_fault(move || {
        counter.set(counter.get() + 1);
        false
    });
    saves
}

/// The stored messages of `conversation_id`, oldest first, as their texts.
fn stored_texts(store: &MemoryStore, conversation_id: &str) -> Vec<String> {
    let range = ((conversation_id, 0), (conversation_id, index::MAX_KEY_NUMBER));
    let by_time = index::MESSAGES_BY_CONVERSATION_TIME;
    let stored =
        block_on(store.by_index::<MessageRecord>(by_time, &range.0, &range.1, None)).unwrap();
    stored.into_iter().map(|m| String::from_utf8(m.content).unwrap()).collect()
}

fn times(queued: &[Result<MessageRecord, crate::error::SdkError>]) -> Vec<u64> {
    queued.iter().map(|q| q.as_ref().unwrap().sent_at_ms).collect()
}

#[test]
fn a_group_is_one_transaction_in_send_order_even_within_one_millisecond() {
    let store = MemoryStore::new();
    let saves = count_saves(&store);
    let texts: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let group = texts.iter().map(|t| outgoing("c1", t, NOW)).collect();
    let queued = block_on(queue_messages(&store, ALICE, group));

    assert_eq!(saves.get(), 1, "one transaction for the whole group");
    assert_eq!(queued.len(), 200);
    let times = times(&queued);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {times:?}");
    assert_eq!(times[0], NOW);
    assert_eq!(stored_texts(&store, "c1"), texts, "all stored once, in send order");
    assert!(queued.iter().all(|q| q.as_ref().unwrap().state == MessageState::Uninitialized));
}

#[test]
fn conversations_interleaved_in_a_group_each_keep_their_order() {
    let store = MemoryStore::new();
    // c2 already has a message a little ahead of this clock (within the skew): followed.
    let ahead = NOW + 5_000;
    block_on(queue_message(
        &store,
        &conversation("c2"),
        ALICE,
        "t".into(),
        b"old".into(),
        "o",
        ahead,
    ))
    .unwrap();
    let saves = count_saves(&store);
    let group = vec![
        outgoing("c1", "a0", NOW),
        outgoing("c2", "b0", NOW + 1),
        outgoing("c1", "a1", NOW + 2),
        outgoing("c2", "b1", NOW + 3),
    ];
    let queued = block_on(queue_messages(&store, ALICE, group));
    assert_eq!(saves.get(), 1);
    assert_eq!(times(&queued), [NOW, ahead + 1, NOW + 2, ahead + 2]);
    assert_eq!(stored_texts(&store, "c1"), ["a0", "a1"]);
    assert_eq!(stored_texts(&store, "c2"), ["old", "b0", "b1"]);
}

#[test]
fn a_newest_message_far_in_the_future_does_not_drag_the_group_along() {
    let store = MemoryStore::new();
    let future = NOW + MAX_CLOCK_SKEW_MS + 1;
    block_on(queue_message(
        &store,
        &conversation("c1"),
        ALICE,
        "t".into(),
        b"f".into(),
        "f",
        future,
    ))
    .unwrap();
    let group = (0..3).map(|i| outgoing("c1", &format!("m{i}"), NOW)).collect();
    let queued = block_on(queue_messages(&store, ALICE, group));
    assert_eq!(times(&queued), [NOW, NOW + 1, NOW + 2]);

    // At the edge of the skew it is followed, and the group stays in order after it.
    let store = MemoryStore::new();
    let edge = NOW + MAX_CLOCK_SKEW_MS - 1;
    block_on(queue_message(&store, &conversation("c1"), ALICE, "t".into(), b"e".into(), "e", edge))
        .unwrap();
    let group = (0..3).map(|i| outgoing("c1", &format!("m{i}"), NOW)).collect();
    let queued = block_on(queue_messages(&store, ALICE, group));
    assert_eq!(times(&queued), [edge + 1, edge + 2, edge + 3]);
}

#[test]
fn a_send_that_cannot_commit_fails_alone() {
    let store = MemoryStore::new();
    // A message already stored under the id the third send will take.
    let taken = "nonce-m2";
    block_on(queue_message(
        &store,
        &conversation("c1"),
        ALICE,
        "t".into(),
        b"m2".into(),
        taken,
        NOW - 10,
    ))
    .unwrap();
    let saves = count_saves(&store);
    let group: Vec<Outgoing> = (0..5).map(|i| outgoing("c1", &format!("m{i}"), NOW + i)).collect();
    let queued = block_on(queue_messages(&store, ALICE, group));

    assert_eq!(saves.get(), 1 + 5, "the group, then each alone");
    let failed: Vec<usize> = (0..5).filter(|i| queued[*i].is_err()).collect();
    assert_eq!(failed, [2], "only the send whose id is taken fails");
    assert_eq!(queued[2].as_ref().unwrap_err().code, ErrorCode::Storage);
    assert_eq!(stored_texts(&store, "c1"), ["m2", "m0", "m1", "m3", "m4"]);
}

#[test]
fn two_sends_with_one_id_in_a_group_store_the_first_only() {
    let store = MemoryStore::new();
    let mut group: Vec<Outgoing> = (0..3).map(|i| outgoing("c1", &format!("m{i}"), NOW)).collect();
    group[2].nonce = group[0].nonce.clone();
    let queued = block_on(queue_messages(&store, ALICE, group));
    assert!(queued[0].is_ok() && queued[1].is_ok() && queued[2].is_err());
    assert_eq!(stored_texts(&store, "c1"), ["m0", "m1"]);
}

#[test]
fn a_failed_group_commit_is_redone_one_send_at_a_time() {
    let store = MemoryStore::new();
    let saves = Rc::new(Cell::new(0u32));
    let counter = saves.clone();
    // The group's save fails (as a browser may); the saves alone succeed.
    store.set_save_fault(move || {
        counter.set(counter.get() + 1);
        counter.get() == 1
    });
    let group = (0..4).map(|i| outgoing("c1", &format!("m{i}"), NOW)).collect();
    let queued = block_on(queue_messages(&store, ALICE, group));
    assert!(queued.iter().all(Result::is_ok));
    assert_eq!(saves.get(), 1 + 4);
    assert_eq!(stored_texts(&store, "c1"), ["m0", "m1", "m2", "m3"]);

    // A single send that fails is not tried twice.
    let store = MemoryStore::new();
    let saves = Rc::new(Cell::new(0u32));
    let counter = saves.clone();
    store.set_save_fault(move || {
        counter.set(counter.get() + 1);
        true
    });
    let queued = block_on(queue_messages(&store, ALICE, vec![outgoing("c1", "x", NOW)]));
    assert!(queued[0].is_err());
    assert_eq!(saves.get(), 1);
    assert!(stored_texts(&store, "c1").is_empty());
}
