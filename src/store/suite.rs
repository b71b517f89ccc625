//! One behaviour suite for every [`Store`]: the in-memory store runs it natively (`cargo
//! test`), IndexedDB in Chromium (the browser tests call [`run`] through the `test-export`
//! feature). What a state step can observe must be the same on both.

use super::{Changes, Store, StoreError, index};
use crate::engine::{
    ConversationRecord, ConversationState, MessageRecord, MessageState, OutboundPayloadRecord,
    OutboundPayloadState, SessionRecord,
};

fn message(id: &str, convo: &str, sent_at_ms: u64, state: MessageState) -> MessageRecord {
    MessageRecord {
        id: id.into(),
        convo_id: convo.into(),
        sender_address: "0xaaaa".into(),
        sent_at_ms,
        state,
        content_type: "text/plain".into(),
        content: id.as_bytes().to_vec(),
        failure: None,
        resends: 0,
    }
}

fn payload(messages: &[&str], hash: Option<&str>) -> OutboundPayloadRecord {
    OutboundPayloadRecord {
        seq: None,
        installation_id: "i1".into(),
        message_ids: messages.iter().map(|m| (*m).to_owned()).collect(),
        state: OutboundPayloadState::Uninitialized,
        payload: vec![1, 2, 3],
        created_at_ms: 7,
        attempts: 0,
        last_error: None,
        payload_hash: hash.map(str::to_owned),
        session_id: None,
        repairs: Vec::new(),
    }
}

fn session(version: u32) -> SessionRecord {
    SessionRecord {
        installation_id: "i1".into(),
        version,
        pickle: b"sealed".to_vec(),
        previous: vec![serde_bytes::ByteBuf::from(b"older".to_vec())],
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

fn store_error(e: StoreError) -> String {
    e.to_string()
}

/// Runs every check on `store` (a fresh, empty one); the first that fails is the error.
pub async fn run(store: &impl Store) -> Result<(), String> {
    writes_are_all_or_nothing(store).await?;
    checks_guard_what_was_read(store).await?;
    indexes_order_and_bound(store).await?;
    keys_are_generated_in_order(store).await?;
    unsafe_numbers_are_refused(store).await?;
    many_reads_in_one(store).await
}

async fn writes_are_all_or_nothing(store: &impl Store) -> Result<(), String> {
    let first = message("m1", "c1", 10, MessageState::Uninitialized);
    let mut changes = Changes::new();
    changes.insert(&first).map_err(store_error)?;
    store.save(changes).await.map_err(store_error)?;
    let read = store.get::<MessageRecord>(&"m1".to_owned()).await.map_err(store_error)?;
    check(read.as_ref() == Some(&first), "a saved record reads back equal")?;

    // A put, then an insert of an existing key: the whole save fails, the put too.
    let mut changes = Changes::new();
    let other = message("m2", "c1", 11, MessageState::Uninitialized);
    changes.put(&other).map_err(store_error)?;
    changes.insert(&first).map_err(store_error)?;
    let failed = store.save(changes).await;
    check(matches!(failed, Err(StoreError::Transaction(_))), "inserting an existing key fails")?;
    let m2 = store.get::<MessageRecord>(&"m2".to_owned()).await.map_err(store_error)?;
    check(m2.is_none(), "nothing of a failed save is written")?;

    // Insert-if-absent leaves what is there; delete removes.
    let changed = MessageRecord { content: b"other".to_vec(), ..first.clone() };
    let mut changes = Changes::new();
    changes.insert_if_absent(&changed).map_err(store_error)?;
    // Twice in one save: the first stands, and the save goes on.
    let fresh = message("m3", "c1", 12, MessageState::Uninitialized);
    changes.insert_if_absent(&fresh).map_err(store_error)?;
    changes.insert_if_absent(&changed_copy(&fresh)).map_err(store_error)?;
    changes.delete::<MessageRecord>(&"absent".to_owned()).map_err(store_error)?;
    store.save(changes).await.map_err(store_error)?;
    let read = store.get::<MessageRecord>(&"m1".to_owned()).await.map_err(store_error)?;
    check(read.as_ref() == Some(&first), "insert-if-absent keeps the existing record")?;
    let m3 = store.get::<MessageRecord>(&"m3".to_owned()).await.map_err(store_error)?;
    check(m3.as_ref() == Some(&fresh), "of two inserts-if-absent of one key, the first stands")?;
    let mut changes = Changes::new();
    changes.delete::<MessageRecord>(&"m1".to_owned()).map_err(store_error)?;
    store.save(changes).await.map_err(store_error)?;
    let read = store.get::<MessageRecord>(&"m1".to_owned()).await.map_err(store_error)?;
    check(read.is_none(), "a deleted record is gone")
}

fn changed_copy(record: &MessageRecord) -> MessageRecord {
    MessageRecord { content: b"second".to_vec(), ..record.clone() }
}

/// `get_many` and `by_index_each` answer each key in order, as the single reads would.
async fn many_reads_in_one(store: &impl Store) -> Result<(), String> {
    let mut changes = Changes::new();
    for (id, convo) in [("r1", "rc1"), ("r2", "rc2"), ("r3", "rc1")] {
        changes.put(&message(id, convo, 5, MessageState::Sent)).map_err(store_error)?;
    }
    store.save(changes).await.map_err(store_error)?;
    let keys = ["r3".to_owned(), "absent".to_owned(), "r1".to_owned()];
    let found = store.get_many::<MessageRecord>(&keys).await.map_err(store_error)?;
    let ids: Vec<Option<&str>> = found.iter().map(|m| m.as_ref().map(|m| m.id.as_str())).collect();
    check(ids == [Some("r3"), None, Some("r1")], "get_many answers each key in order")?;
    let none = store.get_many::<MessageRecord>(&[]).await.map_err(store_error)?;
    check(none.is_empty(), "get_many of no keys")?;
    let by = index::MESSAGES_BY_CONVERSATION_TIME;
    let keys = [("rc2", 5), ("rc0", 5), ("rc1", 5)];
    let found = store.by_index_each::<MessageRecord, _>(by, &keys).await.map_err(store_error)?;
    let ids: Vec<Vec<&str>> =
        found.iter().map(|ms| ms.iter().map(|m| m.id.as_str()).collect()).collect();
    check(ids == [vec!["r2"], vec![], vec!["r1", "r3"]], "by_index_each answers each key")
}

async fn checks_guard_what_was_read(store: &impl Store) -> Result<(), String> {
    // Absent, then at version 1.
    let mut changes = Changes::new();
    changes.expect_version::<SessionRecord>(&"i1".to_owned(), None).map_err(store_error)?;
    changes.put(&session(1)).map_err(store_error)?;
    store.save(changes).await.map_err(store_error)?;
    let read = store.get::<SessionRecord>(&"i1".to_owned()).await.map_err(store_error)?;
    check(read == Some(session(1)), "a session with older pickles reads back")?;

    for (expected, what) in [(None, "still absent"), (Some(2), "at version 2")] {
        let mut changes = Changes::new();
        changes.expect_version::<SessionRecord>(&"i1".to_owned(), expected).map_err(store_error)?;
        changes.put(&session(9)).map_err(store_error)?;
        let outcome = store.save(changes).await;
        check(
            matches!(outcome, Err(StoreError::Conflict { .. })),
            &format!("a check that it is {what} conflicts"),
        )?;
    }
    let read = store.get::<SessionRecord>(&"i1".to_owned()).await.map_err(store_error)?;
    check(read == Some(session(1)), "a conflicting save writes nothing")?;

    // A field check by state name.
    let conversation = ConversationRecord {
        id: "c1".into(),
        peer_address: "0xbbbb".into(),
        state: ConversationState::Uninitialized,
        created_at_ms: 1,
    };
    let mut changes = Changes::new();
    changes.put(&conversation).map_err(store_error)?;
    store.save(changes).await.map_err(store_error)?;
    let mut changes = Changes::new();
    let invited = ConversationState::Invited;
    changes
        .expect_field::<ConversationRecord>(&"c1".to_owned(), "state", Some(&invited))
        .map_err(store_error)?;
    changes.put(&conversation).map_err(store_error)?;
    let outcome = store.save(changes).await;
    check(matches!(outcome, Err(StoreError::Conflict { .. })), "a field check by name holds")
}

async fn indexes_order_and_bound(store: &impl Store) -> Result<(), String> {
    let mut changes = Changes::new();
    for (id, at, state) in [
        ("a", 30, MessageState::Uninitialized),
        ("b", 10, MessageState::Uninitialized),
        ("c", 20, MessageState::Sent),
        ("d", 10, MessageState::Uninitialized),
    ] {
        changes.put(&message(id, "c2", at, state)).map_err(store_error)?;
    }
    store.save(changes).await.map_err(store_error)?;
    let pending = MessageState::Uninitialized;
    let queue = store
        .by_index::<MessageRecord>(
            index::MESSAGES_BY_STATE_TIME,
            &(pending, 0),
            &(pending, index::MAX_KEY_NUMBER),
            Some(2),
        )
        .await
        .map_err(store_error)?;
    let ids: Vec<&str> = queue.iter().map(|m| m.id.as_str()).collect();
    check(ids == ["b", "d"], "index order, ties by primary key, limited")?;
    let newest = super::messages(store, "c2", Some(2), Some(30)).await.map_err(store_error)?;
    let ids: Vec<&str> = newest.iter().map(|m| m.id.as_str()).collect();
    check(ids == ["d", "c"], "the newest before a time, oldest first")?;
    let all = super::messages(store, "c2", None, None).await.map_err(store_error)?;
    check(all.len() == 4, "a conversation's messages")
}

async fn keys_are_generated_in_order(store: &impl Store) -> Result<(), String> {
    let mut changes = Changes::new();
    changes.put(&payload(&["x", "y"], Some("h1"))).map_err(store_error)?;
    changes.put(&payload(&["y"], None)).map_err(store_error)?;
    store.save(changes).await.map_err(store_error)?;
    let all = store.starting_at::<OutboundPayloadRecord>(&0, None).await.map_err(store_error)?;
    let seqs: Vec<Option<u64>> = all.iter().map(|p| p.seq).collect();
    check(seqs.len() == 2 && seqs[0] < seqs[1] && seqs[0].is_some(), "generated keys ascend")?;
    let y = store
        .by_index::<OutboundPayloadRecord>(index::OUTBOUND_BY_MESSAGE, "y", "y", None)
        .await
        .map_err(store_error)?;
    check(y.len() == 2, "a multi-entry index holds each element")?;
    let hashed = store
        .by_index::<OutboundPayloadRecord>(index::OUTBOUND_BY_HASH, "", "~", None)
        .await
        .map_err(store_error)?;
    check(hashed.len() == 1, "a record whose indexed field is null is not in the index")?;
    let later = store
        .starting_at::<OutboundPayloadRecord>(&seqs[1].unwrap_or_default(), None)
        .await
        .map_err(store_error)?;
    check(later.len() == 1, "from a key on")
}

async fn unsafe_numbers_are_refused(store: &impl Store) -> Result<(), String> {
    let beyond = message("far", "c3", 1 << 53, MessageState::Received);
    let mut changes = Changes::new();
    let encoded = changes.put(&beyond).map(drop);
    check(
        matches!(encoded, Err(StoreError::Encode { .. })),
        "a number a JS number cannot hold is refused before any write",
    )?;
    let stored = store.get::<MessageRecord>(&"far".to_owned()).await.map_err(store_error)?;
    check(stored.is_none(), "and nothing is written")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use crate::{sim::block_on, store::memory::MemoryStore};

    #[test]
    fn the_in_memory_store_behaves_as_indexeddb_does() {
        assert_eq!(block_on(super::run(&MemoryStore::new())), Ok(()));
    }
}
