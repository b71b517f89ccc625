//! `store/` on the real IndexedDB.

use e2ee_sdk::{
    engine::{
        ConversationRecord, ConversationState, InboundPayloadRecord, InboundPayloadState,
        InstallationRecord, InstallationState, MessageRecord, MessageState, MetaRecord,
        OutboundPayloadRecord, OutboundPayloadState, SessionRecord, UserRecord,
    },
    store::{Changes, IdbStore, SCHEMA_VERSION, Store, StoreError, index},
};
use wasm_bindgen_test::wasm_bindgen_test;

use super::unique;

fn user() -> UserRecord {
    UserRecord {
        address: "0xaaaa".into(),
        installations_fetched_at_ms: Some(1_700_000_000_000),
        rejected: Vec::new(),
        revoked: Vec::new(),
    }
}

fn conversation() -> ConversationRecord {
    ConversationRecord {
        id: "c1".into(),
        peer_address: "0xbbbb".into(),
        state: ConversationState::Uninitialized,
        created_at_ms: 5,
    }
}

fn message(id: &str, sent_at_ms: u64, state: MessageState) -> MessageRecord {
    MessageRecord {
        id: id.into(),
        convo_id: "c1".into(),
        sender_address: "0xaaaa".into(),
        sent_at_ms,
        state,
        content_type: "text/plain".into(),
        content: b"hello".to_vec(),
        failure: None,
        resends: 0,
    }
}

fn outbound(installation: &str) -> OutboundPayloadRecord {
    OutboundPayloadRecord {
        seq: None,
        installation_id: installation.into(),
        message_ids: vec!["m1".into()],
        state: OutboundPayloadState::Uninitialized,
        payload: vec![0, 1, 2, 255],
        created_at_ms: 7,
        attempts: 0,
        last_error: None,
        payload_hash: None,
        session_id: None,
        repairs: Vec::new(),
    }
}

/// One record of every kind, written in one transaction.
fn every_kind() -> (Changes, MetaRecord, InstallationRecord, SessionRecord, InboundPayloadRecord) {
    let meta = MetaRecord { key: "cursor".into(), value: vec![9; 32] };
    let installation = InstallationRecord {
        id: "i1".into(),
        address: "0xaaaa".into(),
        state: InstallationState::SessionCreated,
        bundle: vec![1; 40],
        expires_at_ms: 1_800_000_000_000,
        last_notice_at_ms: None,
    };
    let session = SessionRecord {
        installation_id: "i1".into(),
        version: 3,
        pickle: vec![7; 64],
        previous: Vec::new(),
    };
    let inbound = InboundPayloadRecord {
        hash: "ab".repeat(32),
        state: InboundPayloadState::Received,
        order: format!("{:020}", 6_000_000u64),
        received_at_ms: 6,
        payload: vec![4, 5],
        sender_installation_id: None,
        failure: None,
        detail: None,
        notice_pending: false,
    };
    let mut changes = Changes::new();
    changes
        .put(&meta)
        .unwrap()
        .put(&user())
        .unwrap()
        .put(&installation)
        .unwrap()
        .put(&session)
        .unwrap()
        .put(&conversation())
        .unwrap()
        .put(&message("m1", 20, MessageState::Uninitialized))
        .unwrap()
        .put(&outbound("i1"))
        .unwrap()
        .put(&outbound("i2"))
        .unwrap()
        .put(&inbound)
        .unwrap();
    (changes, meta, installation, session, inbound)
}

#[wasm_bindgen_test]
async fn writes_and_reads_every_object_store() {
    let store = IdbStore::open(&unique("db")).await.unwrap();
    assert_eq!(store.version().unwrap(), SCHEMA_VERSION);
    let (changes, meta, installation, session, inbound) = every_kind();
    store.save(changes).await.unwrap();

    assert_eq!(store.get::<MetaRecord>(&meta.key).await.unwrap(), Some(meta));
    assert_eq!(store.get::<UserRecord>(&"0xaaaa".into()).await.unwrap(), Some(user()));
    assert_eq!(store.get::<InstallationRecord>(&"i1".into()).await.unwrap(), Some(installation));
    assert_eq!(store.get::<SessionRecord>(&"i1".into()).await.unwrap(), Some(session));
    assert_eq!(store.get::<ConversationRecord>(&"c1".into()).await.unwrap(), Some(conversation()));
    assert_eq!(
        store.get::<MessageRecord>(&"m1".into()).await.unwrap(),
        Some(message("m1", 20, MessageState::Uninitialized))
    );
    assert_eq!(store.get::<InboundPayloadRecord>(&inbound.hash).await.unwrap(), Some(inbound));
    assert_eq!(store.get::<UserRecord>(&"0xnobody".into()).await.unwrap(), None);

    // The outbound queue's keys are assigned in insertion order.
    let queue = store.all::<OutboundPayloadRecord>().await.unwrap();
    let keys: Vec<(Option<u64>, &str)> =
        queue.iter().map(|p| (p.seq, p.installation_id.as_str())).collect();
    assert_eq!(keys, [(Some(1), "i1"), (Some(2), "i2")]);
    assert_eq!(
        store.get::<OutboundPayloadRecord>(&2).await.unwrap().unwrap().payload,
        [0, 1, 2, 255]
    );
}

#[wasm_bindgen_test]
async fn indexes_give_queues_in_order() {
    let store = IdbStore::open(&unique("db")).await.unwrap();
    let mut changes = Changes::new();
    for (id, at, state) in [
        ("late", 30, MessageState::Uninitialized),
        ("sent", 10, MessageState::Sent),
        ("early", 20, MessageState::Uninitialized),
    ] {
        changes.put(&message(id, at, state)).unwrap();
    }
    store.save(changes).await.unwrap();

    let pending: Vec<String> = store
        .by_index::<MessageRecord>(
            index::MESSAGES_BY_STATE_TIME,
            &(MessageState::Uninitialized, 0),
            &(MessageState::Uninitialized, u32::MAX),
            None,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(pending, ["early", "late"]);

    let history: Vec<u64> = store
        .by_index::<MessageRecord>(
            index::MESSAGES_BY_CONVERSATION_TIME,
            &("c1", 0),
            &("c1", u32::MAX),
            Some(2),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.sent_at_ms)
        .collect();
    assert_eq!(history, [10, 20]);
}

#[wasm_bindgen_test]
async fn a_failed_step_writes_nothing() {
    let store = IdbStore::open(&unique("db")).await.unwrap();
    let mut first = Changes::new();
    first.insert(&conversation()).unwrap();
    store.save(first).await.unwrap();

    // The user is put first, then inserting the existing conversation fails: neither lands.
    let mut step = Changes::new();
    step.put(&user()).unwrap().insert(&conversation()).unwrap();
    let failed = store.save(step).await;
    assert!(matches!(failed, Err(StoreError::Transaction(_))), "{failed:?}");
    assert_eq!(store.get::<UserRecord>(&"0xaaaa".into()).await.unwrap(), None);

    let mut delete = Changes::new();
    delete.delete::<ConversationRecord>(&"c1".into()).unwrap();
    store.save(delete).await.unwrap();
    assert_eq!(store.get::<ConversationRecord>(&"c1".into()).await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn reopens_with_its_data_after_a_reload() {
    let name = unique("db");
    let store = IdbStore::open(&name).await.unwrap();
    let (changes, meta, ..) = every_kind();
    store.save(changes).await.unwrap();
    store.close();

    let reopened = IdbStore::open(&name).await.unwrap();
    assert_eq!(reopened.get::<MetaRecord>(&meta.key).await.unwrap(), Some(meta));
    assert_eq!(reopened.all::<OutboundPayloadRecord>().await.unwrap().len(), 2);
    // The queue's key generator continues where it was.
    let mut more = Changes::new();
    more.put(&outbound("i3")).unwrap();
    reopened.save(more).await.unwrap();
    let last = reopened.all::<OutboundPayloadRecord>().await.unwrap().pop().unwrap();
    assert_eq!((last.seq, last.installation_id.as_str()), (Some(3), "i3"));
    reopened.close();
    IdbStore::delete(&name).await.unwrap();
    let fresh = IdbStore::open(&name).await.unwrap();
    assert!(fresh.all::<MetaRecord>().await.unwrap().is_empty());
}

#[wasm_bindgen_test]
async fn refuses_a_database_from_a_newer_sdk() {
    let name = unique("db");
    rexie::Rexie::builder(&name).version(SCHEMA_VERSION + 1).build().await.unwrap().close();
    let opened = IdbStore::open(&name).await;
    assert!(
        matches!(opened, Err(StoreError::NewerSchema { supported: SCHEMA_VERSION })),
        "{opened:?}"
    );
}

#[wasm_bindgen_test]
async fn records_that_cannot_be_stored_are_refused_before_the_transaction() {
    // Nanosecond-sized numbers do not fit a JS number exactly; the row is refused, not rounded.
    let mut changes = Changes::new();
    let too_big = MessageRecord { sent_at_ms: u64::MAX, ..message("m", 0, MessageState::Sent) };
    assert!(matches!(changes.put(&too_big), Err(StoreError::Encode { store: "messages", .. })));
    assert!(changes.is_empty());
}

#[wasm_bindgen_test]
async fn a_step_whose_reads_moved_writes_nothing() {
    let store = IdbStore::open(&unique("db")).await.unwrap();
    let session = |version| SessionRecord {
        installation_id: "i1".into(),
        version,
        pickle: vec![1],
        previous: Vec::new(),
    };
    let mut first = Changes::new();
    first.expect_version::<SessionRecord>(&"i1".into(), None).unwrap().put(&session(1)).unwrap();
    store.save(first).await.unwrap();

    // A step that read version 1 commits; one that read "absent" (or 1, again) does not.
    let mut stale = Changes::new();
    stale.expect_version::<SessionRecord>(&"i1".into(), None).unwrap();
    stale.put(&session(9)).unwrap().put(&user()).unwrap();
    assert!(matches!(store.save(stale).await, Err(StoreError::Conflict { store: "sessions" })));
    assert_eq!(store.get::<UserRecord>(&"0xaaaa".into()).await.unwrap(), None, "nothing written");

    let mut fresh = Changes::new();
    fresh.expect_version::<SessionRecord>(&"i1".into(), Some(1)).unwrap().put(&session(2)).unwrap();
    store.save(fresh).await.unwrap();
    let mut replay = Changes::new();
    replay
        .expect_version::<SessionRecord>(&"i1".into(), Some(1))
        .unwrap()
        .put(&session(2))
        .unwrap();
    assert!(matches!(store.save(replay).await, Err(StoreError::Conflict { .. })));

    // The same for a field such as a message's state.
    let mut queued = Changes::new();
    queued.put(&message("m", 1, MessageState::Committed)).unwrap();
    store.save(queued).await.unwrap();
    let mut send = Changes::new();
    send.expect_field::<MessageRecord>(&"m".into(), "state", Some(&MessageState::Uninitialized))
        .unwrap()
        .put(&user())
        .unwrap();
    assert!(matches!(store.save(send).await, Err(StoreError::Conflict { store: "messages" })));
    assert_eq!(store.get::<SessionRecord>(&"i1".into()).await.unwrap().unwrap().version, 2);
}

/// The behaviour suite the in-memory store passes natively, on the real IndexedDB: what a
/// state step can observe is the same on both.
#[wasm_bindgen_test]
async fn indexeddb_passes_the_store_behaviour_suite() {
    let name = unique("suite");
    let store = IdbStore::open(&name).await.unwrap();
    assert_eq!(e2ee_sdk::store::suite::run(&store).await, Ok(()));
    drop(store);
    IdbStore::delete(&name).await.unwrap();
}
