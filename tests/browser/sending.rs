//! Sending: the seed's state machine on IndexedDB, the ordered outbound queue, resume after a
//! reload, and faults, checked at devnode.

use std::collections::BTreeSet;

use base64::Engine;
use e2ee_sdk::{
    Client,
    net::{Envelope, NodeClient},
    wire::Topic,
};
use js_sys::{Function, Promise, Reflect};
use sha2::Digest;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{client, field},
    devnode_url, set_faults, unique,
    wallet::TestWallet,
};

/// The conversation object as JS holds it.
pub(crate) async fn conversation(client: &Client, peer: &TestWallet) -> JsValue {
    JsFuture::from(client.conversation(peer.address.to_string())).await.unwrap()
}

/// `conversation.send(text)`, called as JS calls it; the promise is returned unawaited.
pub(crate) fn send_promise(conversation: &JsValue, text: &str) -> Promise {
    let send: Function = Reflect::get(conversation, &"send".into()).unwrap().unchecked_into();
    send.call1(conversation, &text.into()).unwrap().unchecked_into()
}

pub(crate) async fn send(conversation: &JsValue, text: &str) -> String {
    JsFuture::from(send_promise(conversation, text)).await.unwrap().as_string().unwrap()
}

pub(crate) async fn state(client: &Client, id: &str) -> String {
    let message = JsFuture::from(client.message(id.to_owned())).await.unwrap();
    field(&message, "state").as_string().unwrap()
}

/// Waits (a guard against hangs, not a speed check) until every id is in `expected` state.
pub(crate) async fn until_state(client: &Client, ids: &[String], expected: &str) {
    for _ in 0..600 {
        let mut all = true;
        for id in ids {
            all &= state(client, id).await == expected;
        }
        if all {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    panic!("messages did not all reach {expected}");
}

pub(crate) async fn inbox(client: &Client) -> Vec<Envelope> {
    let topic = Topic::inbox(&client.installation_id());
    NodeClient::new(devnode_url()).query_all(&[topic]).await.unwrap()
}

pub(crate) fn identity_key(client: &Client) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(client.identity_key()).unwrap()
}

fn opened(recipient: &Client, sender: &Client, envelopes: &[Envelope]) -> Vec<String> {
    let payloads: Vec<Vec<u8>> = envelopes.iter().map(|e| e.message.clone()).collect();
    recipient.open_payloads_for_tests(&identity_key(sender), &payloads).unwrap()
}

#[wasm_bindgen_test]
async fn two_installations_to_three_make_four_invites_on_the_right_topics() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let alice1 = client(&alice, &unique("alice1"), 60_000).await;
    let alice2 = client(&alice, &unique("alice2"), 60_000).await;
    let mut bobs = Vec::new();
    for i in 0..3 {
        bobs.push(client(&bob, &unique(&format!("bob{i}")), 60_000).await);
    }
    let chat = conversation(&alice1, &bob).await;
    let id = send(&chat, "hello bob").await;
    alice1.process_for_tests().await.unwrap();
    until_state(&alice1, std::slice::from_ref(&id), "SENT").await;

    assert!(inbox(&alice1).await.is_empty(), "nothing to the sending installation");
    for recipient in bobs.iter().chain([&alice2]) {
        let envelopes = inbox(recipient).await;
        assert_eq!(envelopes.len(), 1, "exactly one payload per installation");
        assert_eq!(opened(recipient, &alice1, &envelopes), [format!("invite:{id}")]);
    }
}

#[wasm_bindgen_test]
async fn a_commit_that_fails_midway_leaves_nothing_and_is_redone() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let chat = conversation(&alice_client, &bob).await;
    alice_client.fault_next_commit_for_tests();
    let id = send(&chat, "once").await;
    until_state(&alice_client, std::slice::from_ref(&id), "SENT").await;
    // Had the failed commit written anything, the redone step would have queued a second
    // payload (and a second session, which Bob could not open twice).
    let envelopes = inbox(&bob_client).await;
    assert_eq!(envelopes.len(), 1);
    assert_eq!(opened(&bob_client, &alice_client, &envelopes), [format!("invite:{id}")]);
}

/// Sends `count` messages while devnode applies `faults`, reloads the client, lets devnode
/// recover, and checks Bob's inbox holds each payload exactly once, in order.
async fn survive_a_reload(faults: &str, count: usize) {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let db = unique("alice");
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice_client = client(&alice, &db, 60_000).await;
    let chat = conversation(&alice_client, &bob).await;

    set_faults(faults).await;
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(send(&chat, &format!("message {i}")).await);
    }
    until_state(&alice_client, &ids, "COMMITTED").await;
    alice_client.close();
    drop(alice_client);
    set_faults("{}").await;

    // What a reload does: a new client on the same database resumes the queue.
    let reloaded = client(&alice, &db, 60_000).await;
    until_state(&reloaded, &ids, "SENT").await;
    let envelopes = inbox(&bob_client).await;
    let hashes: BTreeSet<Vec<u8>> =
        envelopes.iter().map(|e| sha2::Sha256::digest(&e.message).to_vec()).collect();
    assert_eq!(hashes.len(), envelopes.len(), "each payload hash once");
    assert_eq!(envelopes.len(), count);
    let mut expected = vec![format!("invite:{}", ids[0])];
    expected.extend(ids[1..].iter().map(|id| format!("message:{id}")));
    assert_eq!(opened(&bob_client, &reloaded, &envelopes), expected, "in order");
}

#[wasm_bindgen_test]
async fn fifty_messages_sent_while_publishes_fail_arrive_once_in_order_after_a_reload() {
    survive_a_reload(r#"{"publishFailRate": 1.0}"#, 50).await;
}

#[wasm_bindgen_test]
async fn dropped_acknowledgements_do_not_duplicate_payloads() {
    survive_a_reload(r#"{"dropAckRate": 1.0}"#, 50).await;
}

#[wasm_bindgen_test]
async fn two_clients_on_one_database_never_fork_a_session() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let db = unique("alice");
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let first = client(&alice, &db, 60_000).await;
    let second = client(&alice, &db, 60_000).await;
    assert_eq!(first.installation_id(), second.installation_id());
    let (chat1, chat2) = (conversation(&first, &bob).await, conversation(&second, &bob).await);
    let mut ids = Vec::new();
    for i in 0..20 {
        // Both sends start before either is awaited.
        let (a, b) =
            (send_promise(&chat1, &format!("a{i}")), send_promise(&chat2, &format!("b{i}")));
        for promise in [a, b] {
            ids.push(JsFuture::from(promise).await.unwrap().as_string().unwrap());
        }
    }
    until_state(&first, &ids, "SENT").await;
    let envelopes = inbox(&bob_client).await;
    assert_eq!(envelopes.len(), 40, "every payload published once");
    let opened = opened(&bob_client, &first, &envelopes);
    let opened_ids: BTreeSet<String> =
        opened.iter().map(|o| o.split_once(':').unwrap().1.to_owned()).collect();
    assert_eq!(opened_ids, ids.iter().cloned().collect(), "one session decrypts all 40");
}

#[wasm_bindgen_test]
async fn sent_payload_bytes_can_be_dropped_keeping_their_hash() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let db = unique("alice");
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let extra = [("deleteSentPayloads", JsValue::TRUE)];
    let alice_client =
        Client::create(super::client::options(&alice.signer(), &db, &extra)).await.unwrap();
    let chat = conversation(&alice_client, &bob).await;
    let id = send(&chat, "short-lived bytes").await;
    until_state(&alice_client, std::slice::from_ref(&id), "SENT").await;

    use e2ee_sdk::store::Store as _;
    let store = e2ee_sdk::store::IdbStore::open_as_client_for_tests(&db).await.unwrap();
    let queue = store.all::<e2ee_sdk::engine::OutboundPayloadRecord>().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert!(queue[0].payload.is_empty());
    let published = inbox(&bob_client).await;
    let hash: String =
        sha2::Sha256::digest(&published[0].message).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(queue[0].payload_hash.as_deref(), Some(hash.as_str()));
}
