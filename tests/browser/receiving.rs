//! Receiving: pull and stream, exactly once whatever the network and the page do, invites,
//! decryption failures repaired by a re-send, forged senders, replays, own copies.

use e2ee_sdk::{
    Client,
    crypto::Installation,
    engine::{InboundPayloadRecord, InboundPayloadState, SessionRecord, conversation_id},
    net::{Envelope, NodeClient},
    store::{Changes, IdbStore, Store},
    wire::{ChatMessage, ContactEntry, InboxPayload, Invite, Plaintext, PlaintextKind, Topic},
};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{client, field},
    devnode_url,
    sending::{conversation, inbox, send, until_state},
    set_faults, unique,
    wallet::TestWallet,
};

/// A message as `conversation.messages()` hands it out.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Shown {
    pub(super) id: String,
    pub(super) text: String,
    pub(super) sender: String,
    pub(super) state: String,
}

async fn messages_with(chat: &JsValue, options: JsValue) -> Vec<Shown> {
    let messages: Function = Reflect::get(chat, &"messages".into()).unwrap().unchecked_into();
    let promise: js_sys::Promise = messages.call1(chat, &options).unwrap().unchecked_into();
    let list: Array = JsFuture::from(promise).await.unwrap().unchecked_into();
    list.iter()
        .map(|m| Shown {
            id: field(&m, "id").as_string().unwrap(),
            text: String::from_utf8(
                field(&m, "content").dyn_into::<js_sys::Uint8Array>().unwrap().to_vec(),
            )
            .unwrap(),
            sender: field(&m, "sender").as_string().unwrap(),
            state: field(&m, "state").as_string().unwrap(),
        })
        .collect()
}

/// `client`'s messages with `peer`, oldest first.
pub(super) async fn shown(client: &Client, peer: &TestWallet) -> Vec<Shown> {
    messages_with(&conversation(client, peer).await, JsValue::UNDEFINED).await
}

/// Waits (a guard against hangs, not a speed check) until `client` shows `count` messages
/// from `peer` that are not markers, and returns what it shows.
pub(super) async fn until_shown(client: &Client, peer: &TestWallet, count: usize) -> Vec<Shown> {
    for _ in 0..600 {
        let shown = shown(client, peer).await;
        if shown.iter().filter(|m| m.state != "UNDECRYPTABLE").count() >= count {
            return shown;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    panic!("{count} messages never arrived; shown: {:?}", shown(client, peer).await);
}

async fn inbound_records(db: &str) -> Vec<InboundPayloadRecord> {
    let store = IdbStore::open_as_client_for_tests(db).await.unwrap();
    store.all::<InboundPayloadRecord>().await.unwrap()
}

/// Alice sends `texts` to Bob one by one and waits until each is sent.
pub(super) async fn send_all(alice: &Client, bob: &TestWallet, texts: &[String]) -> Vec<String> {
    let chat = conversation(alice, bob).await;
    let mut ids = Vec::new();
    for text in texts {
        ids.push(send(&chat, text).await);
    }
    until_state(alice, &ids, "SENT").await;
    ids
}

fn texts(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix} {i}")).collect()
}

#[wasm_bindgen_test]
async fn fifty_messages_sent_while_bob_is_away_arrive_once_in_order() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_db = unique("bob");
    // Bob's installation exists, but his client is closed while Alice sends.
    client(&bob, &bob_db, 60_000).await.close();
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let sent = texts("message", 50);
    let ids = send_all(&alice_client, &bob, &sent).await;

    let bob_client = client(&bob, &bob_db, 60_000).await;
    // Bob never opened the conversation: the invite creates it.
    let mut conversations = Array::new();
    for _ in 0..600 {
        conversations = JsFuture::from(bob_client.conversations()).await.unwrap().unchecked_into();
        if conversations.length() > 0 {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    assert_eq!(conversations.length(), 1, "the invite created the conversation");
    let listed = conversations.get(0);
    assert_eq!(
        field(&listed, "id").as_string().unwrap(),
        conversation_id(&alice.address.to_string(), &bob.address.to_string())
    );
    assert_eq!(field(&listed, "peerAddress").as_string().unwrap(), alice.address.to_string());
    assert_eq!(field(&listed, "state").as_string().unwrap(), "INVITED");

    let shown = until_shown(&bob_client, &alice, 50).await;
    assert_eq!(shown.iter().map(|m| &m.id).collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
    assert_eq!(shown.iter().map(|m| &m.text).collect::<Vec<_>>(), sent.iter().collect::<Vec<_>>());
    assert!(shown.iter().all(|m| m.sender == alice.address.to_string() && m.state == "RECEIVED"));

    // Paging backwards: the ten before the last ten.
    let chat = conversation(&bob_client, &alice).await;
    let last = messages_with(&chat, options(&[("limit", 10.into())])).await;
    assert_eq!(
        last.iter().map(|m| &m.text).collect::<Vec<_>>(),
        sent[40..].iter().collect::<Vec<_>>()
    );
    let first_sent_at = first_sent_at(&chat).await;
    let before =
        messages_with(&chat, options(&[("limit", 10.into()), ("before", first_sent_at)])).await;
    assert_eq!(
        before.iter().map(|m| &m.text).collect::<Vec<_>>(),
        sent[30..40].iter().collect::<Vec<_>>()
    );
}

fn options(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &(*name).into(), value).unwrap();
    }
    object.into()
}

/// The `sentAt` of the first of the last ten messages.
async fn first_sent_at(chat: &JsValue) -> JsValue {
    let messages: Function = Reflect::get(chat, &"messages".into()).unwrap().unchecked_into();
    let promise: js_sys::Promise =
        messages.call1(chat, &options(&[("limit", 10.into())])).unwrap().unchecked_into();
    let list: Array = JsFuture::from(promise).await.unwrap().unchecked_into();
    field(&list.get(0), "sentAt")
}

#[wasm_bindgen_test]
async fn envelopes_delivered_twice_and_out_of_order_show_each_message_once() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_db = unique("bob");
    let bob_client = client(&bob, &bob_db, 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    // Streams are cut every few lines too, so the gap pulls after reconnecting overlap what
    // the stream delivered.
    set_faults(r#"{"seed": 7, "duplicateRate": 1.0, "reorderRate": 0.5, "streamCutAfter": 5}"#)
        .await;
    let sent = texts("twice", 20);
    send_all(&alice_client, &bob, &sent).await;
    let shown = until_shown(&bob_client, &alice, 20).await;
    set_faults("{}").await;

    let mut texts_shown: Vec<&String> = shown.iter().map(|m| &m.text).collect();
    assert_eq!(texts_shown.len(), 20, "each message once: {texts_shown:?}");
    texts_shown.dedup();
    assert_eq!(texts_shown, sent.iter().collect::<Vec<_>>(), "in sender order");
    let stored = inbound_records(&bob_db).await;
    assert_eq!(stored.len(), 20, "one record per distinct payload");
    assert!(stored.iter().all(|p| p.state == InboundPayloadState::Processed));
}

#[wasm_bindgen_test]
async fn payloads_stored_before_a_reload_are_processed_after_it() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_db = unique("bob");
    let bob_client = client(&bob, &bob_db, 60_000).await;
    bob_client.hold_inbound_for_tests(true);
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let sent = texts("held", 10);
    send_all(&alice_client, &bob, &sent).await;

    // Wait until Bob's client stored all ten, unprocessed.
    for _ in 0..600 {
        if inbound_records(&bob_db).await.len() == 10 {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    let stored = inbound_records(&bob_db).await;
    assert_eq!(stored.len(), 10);
    assert!(
        stored.iter().all(|p| p.state == InboundPayloadState::Received && !p.payload.is_empty())
    );
    assert!(shown(&bob_client, &alice).await.is_empty(), "nothing processed yet");
    bob_client.close();
    drop(bob_client);

    let reloaded = client(&bob, &bob_db, 60_000).await;
    let shown = until_shown(&reloaded, &alice, 10).await;
    assert_eq!(shown.iter().map(|m| &m.text).collect::<Vec<_>>(), sent.iter().collect::<Vec<_>>());
    let stored = inbound_records(&bob_db).await;
    assert!(
        stored.iter().all(|p| p.state == InboundPayloadState::Processed && p.payload.is_empty())
    );
}

/// Alice and Bob with sessions both ways: Alice sent "one", Bob answered "reply".
pub(super) async fn talking_pair() -> (TestWallet, TestWallet, Client, Client, String) {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_db = unique("bob");
    let bob_client = client(&bob, &bob_db, 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    send_all(&alice_client, &bob, &["one".to_owned()]).await;
    until_shown(&bob_client, &alice, 1).await;
    send_all(&bob_client, &alice, &["reply".to_owned()]).await;
    until_shown(&alice_client, &bob, 2).await;
    (alice, bob, alice_client, bob_client, bob_db)
}

/// The inbound failures `client` reports, as (state, code).
pub(super) async fn failures(client: &Client) -> Vec<(String, String)> {
    let list: Array = JsFuture::from(client.inbound_failures()).await.unwrap().unchecked_into();
    list.iter()
        .map(|f| (field(&f, "state").as_string().unwrap(), field(&f, "code").as_string().unwrap()))
        .collect()
}

/// Notices published to `client`'s inbox.
async fn notices(client: &Client) -> usize {
    use prost::Message as _;
    inbox(client)
        .await
        .iter()
        .filter(|e| InboxPayload::decode(e.message.as_slice()).unwrap().notice.is_some())
        .count()
}

/// Bob could not decrypt Alice's "two"; the repair must leave exactly one "two", no marker.
async fn repaired(alice: &TestWallet, bob_client: &Client, expected_code: &str) {
    let shown = until_shown(bob_client, alice, 3).await;
    let texts: Vec<&str> = shown.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "reply", "two"], "shown once, no marker left: {shown:?}");
    assert_eq!(failures(bob_client).await, [("FAILED".to_owned(), expected_code.to_owned())]);
}

#[wasm_bindgen_test]
async fn a_corrupted_payload_is_re_sent_on_a_new_session_and_shown_once() {
    let (alice, bob, alice_client, bob_client, _) = talking_pair().await;
    let bob_stream = bob_client.stream().unwrap();
    alice_client.corrupt_next_payload_for_tests();
    let id = send_all(&alice_client, &bob, &["two".to_owned()]).await.remove(0);
    repaired(&alice, &bob_client, "BAD_MAC").await;
    // Bob's stream showed the marker, then its removal, then the message.
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("RECEIVED") {
        let (_, event) = next_event(&bob_stream).await;
        let kind = field(&event, "type").as_string().unwrap();
        let message = field(&event, "message");
        kinds.push(match kind.as_str() {
            "removed" => "removed".to_owned(),
            _ if field(&message, "id").as_string().unwrap() == id => {
                field(&message, "state").as_string().unwrap()
            }
            _ => field(&message, "state").as_string().unwrap(),
        });
    }
    assert_eq!(kinds, ["UNDECRYPTABLE", "removed", "RECEIVED"]);
    assert_eq!(notices(&alice_client).await, 1, "one notice reached Alice");
    // The new session works both ways.
    send_all(&bob_client, &alice, &["after".to_owned()]).await;
    let at_alice = until_shown(&alice_client, &bob, 4).await;
    assert_eq!(at_alice.last().unwrap().text, "after");
}

#[wasm_bindgen_test]
async fn a_lost_session_is_re_made_and_the_message_shown_once() {
    let (alice, bob, alice_client, bob_client, bob_db) = talking_pair().await;
    let store = IdbStore::open_as_client_for_tests(&bob_db).await.unwrap();
    let mut changes = Changes::new();
    changes.delete::<SessionRecord>(&alice_client.installation_id()).unwrap();
    store.save(changes).await.unwrap();
    assert!(store.all::<SessionRecord>().await.unwrap().is_empty());

    send_all(&alice_client, &bob, &["two".to_owned()]).await;
    repaired(&alice, &bob_client, "UNKNOWN_SESSION").await;
    assert_eq!(notices(&alice_client).await, 1);
}

/// A payload for Bob made by an installation of Mallory's that claims to be Alice's
/// `claimed_installation`, carrying an invite with a message "from Alice".
async fn forged_payload(
    bob_client: &Client,
    alice: &TestWallet,
    claimed_installation: &str,
    id: &str,
) -> Vec<u8> {
    use prost::Message as _;
    let bob = bob_client.address();
    let contact = NodeClient::new(devnode_url()).query_all(&[Topic::contact(&bob)]).await.unwrap();
    let bundle = ContactEntry::decode_bundle(&contact[0].message).unwrap();
    let mallory = Installation::generate();
    let mut session = mallory
        .create_outbound_session(&bundle.identity_key, &bundle.fallback_key.unwrap().key)
        .unwrap();
    let alice_address = alice.address.to_string();
    let message = ChatMessage {
        id: id.to_owned(),
        convo_id: conversation_id(&alice_address, &bob),
        sender_address: alice_address.clone(),
        sent_at_ms: 1,
        content_type: "text/plain".into(),
        content: b"forged".to_vec(),
        recipient_address: bob.clone(),
    };
    let plaintext = Plaintext {
        kind: Some(PlaintextKind::Invite(Invite {
            convo_id: message.convo_id.clone(),
            message: Some(message),
        })),
        repairs: vec![],
    };
    let encrypted = session.encrypt(&plaintext.encode_to_vec()).unwrap();
    InboxPayload {
        sender_address: alice_address,
        sender_installation_id: claimed_installation.to_owned(),
        message_type: encrypted.message_type,
        ciphertext: encrypted.ciphertext,
        notice: None,
        signature: vec![],
    }
    .encode_to_vec()
}

pub(super) async fn publish_to(client: &Client, payloads: Vec<Vec<u8>>) {
    let topic = Topic::inbox(&client.installation_id()).to_string();
    let now_ns = js_sys::Date::now() as u64 * 1_000_000;
    let envelopes: Vec<Envelope> = payloads
        .into_iter()
        .enumerate()
        .map(|(i, message)| Envelope {
            content_topic: topic.clone(),
            timestamp_ns: now_ns + i as u64,
            message,
        })
        .collect();
    NodeClient::new(devnode_url()).publish(&envelopes).await.unwrap();
}

#[wasm_bindgen_test]
async fn payloads_from_installations_not_linked_to_the_sender_are_rejected() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let unknown = Installation::generate().id().to_owned();
    let forged = vec![
        // An installation Alice's wallet never linked.
        forged_payload(&bob_client, &alice, &unknown, "forged-unknown").await,
        // Alice's real installation id, but not its keys.
        forged_payload(&bob_client, &alice, &alice_client.installation_id(), "forged-key").await,
        // Not even a payload.
        vec![0xff, 0x01, 0x02],
    ];
    publish_to(&bob_client, forged).await;
    send_all(&alice_client, &bob, &["genuine".to_owned()]).await;

    let shown = until_shown(&bob_client, &alice, 1).await;
    assert_eq!(shown.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["genuine"]);
    let mut codes: Vec<String> = failures(&bob_client)
        .await
        .into_iter()
        .map(|(state, code)| {
            assert_eq!(state, "REJECTED");
            code
        })
        .collect();
    codes.sort();
    // Alice's real installation id is refused before decrypting: not signed by its key.
    assert_eq!(codes, ["BAD_SIGNATURE", "MALFORMED", "UNKNOWN_SENDER"]);
    assert_eq!(notices(&alice_client).await, 0, "no notice for rejected payloads");
}

#[wasm_bindgen_test]
async fn a_replayed_payload_changes_nothing() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_db = unique("bob");
    let bob_client = client(&bob, &bob_db, 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    send_all(&alice_client, &bob, &["original".to_owned()]).await;
    until_shown(&bob_client, &alice, 1).await;
    let before = inbound_records(&bob_db).await;

    // The same payload again, in a new envelope (another timestamp), then a new message to
    // know when Bob has seen the replay.
    let original = inbox(&bob_client).await.remove(0).message;
    publish_to(&bob_client, vec![original]).await;
    send_all(&alice_client, &bob, &["next".to_owned()]).await;
    let shown = until_shown(&bob_client, &alice, 2).await;
    assert_eq!(shown.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["original", "next"]);
    let after = inbound_records(&bob_db).await;
    assert_eq!(after.len(), before.len() + 1, "only the new message's payload was added");
    assert!(after.iter().any(|p| *p == before[0]), "the original's record is untouched");
    assert!(failures(&bob_client).await.is_empty());
}

#[wasm_bindgen_test]
async fn a_second_installation_shows_its_accounts_sent_messages() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let _bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice1 = client(&alice, &unique("alice1"), 60_000).await;
    let alice2 = client(&alice, &unique("alice2"), 60_000).await;
    let ids = send_all(&alice1, &bob, &["from my laptop".to_owned()]).await;

    let shown = until_shown(&alice2, &bob, 1).await;
    assert_eq!(
        shown,
        [Shown {
            id: ids[0].clone(),
            text: "from my laptop".into(),
            sender: alice.address.to_string(),
            state: "SENT".into(),
        }]
    );
}

/// The next event of a stream, called as JS calls it: `(done, event)`.
async fn next_event(stream: &JsValue) -> (bool, JsValue) {
    let next: Function = Reflect::get(stream, &"next".into()).unwrap().unchecked_into();
    let promise: js_sys::Promise = next.call0(stream).unwrap().unchecked_into();
    let result = JsFuture::from(promise).await.unwrap();
    (field(&result, "done").as_bool().unwrap(), field(&result, "value"))
}

/// Reads `stream` until `message_id` reaches `state`; returns the states seen for it.
async fn states_until(stream: &JsValue, message_id: &str, state: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some(state) {
        let (done, event) = next_event(stream).await;
        assert!(!done, "the stream ended early; saw {seen:?}");
        assert_eq!(field(&event, "type").as_string().unwrap(), "message");
        let message = field(&event, "message");
        if field(&message, "id").as_string().unwrap() == message_id {
            seen.push(field(&message, "state").as_string().unwrap());
        }
    }
    seen
}

#[wasm_bindgen_test]
async fn streams_report_new_messages_and_state_changes_until_they_end() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let (alice_stream, bob_stream) = (alice_client.stream().unwrap(), bob_client.stream().unwrap());
    let iterator = js_sys::Symbol::async_iterator();
    let make_iterator: Function = Reflect::get(&bob_stream, &iterator).unwrap().unchecked_into();
    assert_eq!(make_iterator.call0(&bob_stream).unwrap(), bob_stream, "usable in for await");

    let id = send(&conversation(&alice_client, &bob).await, "watched").await;
    let states = states_until(&alice_stream, &id, "SENT").await;
    let order = ["UNINITIALIZED", "COMMITTED", "SENT"];
    let ranks: Vec<usize> =
        states.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "states only move forward: {states:?}");
    assert_eq!(states_until(&bob_stream, &id, "RECEIVED").await, ["RECEIVED"]);

    // `return()` (what `break` calls) ends a stream; closing the client ends the others.
    let finish: Function = Reflect::get(&alice_stream, &"return".into()).unwrap().unchecked_into();
    JsFuture::from(js_sys::Promise::from(finish.call0(&alice_stream).unwrap())).await.unwrap();
    assert!(next_event(&alice_stream).await.0);
    let pending = {
        let next: Function = Reflect::get(&bob_stream, &"next".into()).unwrap().unchecked_into();
        js_sys::Promise::from(next.call0(&bob_stream).unwrap())
    };
    bob_client.close();
    let result = JsFuture::from(pending).await.unwrap();
    assert_eq!(field(&result, "done").as_bool(), Some(true), "a waiting next() ends on close");
    assert!(bob_client.stream().is_err(), "no new stream on a closed client");
}
