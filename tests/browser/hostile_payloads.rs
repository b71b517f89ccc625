//! Hostile peers end to end: a message dated past what a JS number holds must not freeze
//! the inbox; a pre-key payload published again with a field appended must change nothing.

use e2ee_sdk::{
    engine::{conversation_id, message_id},
    net::NodeClient,
    wire::{ChatMessage, Invite, Plaintext, PlaintextKind, Topic},
};
use prost::Message as _;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::client,
    devnode_url,
    receiving::{failures, publish_to, talking_pair, until_shown},
    sending::{conversation, inbox, send, until_state},
    unique,
    wallet::TestWallet,
};

/// Alice's genuine, signed payload to Bob's installation carrying a message dated
/// `sent_at_ms`.
async fn dated_payload(
    alice_client: &e2ee_sdk::Client,
    bob_client: &e2ee_sdk::Client,
    sent_at_ms: u64,
) -> Vec<u8> {
    let (alice, bob) = (alice_client.address(), bob_client.address());
    let contact = NodeClient::new(devnode_url()).query_all(&[Topic::contact(&bob)]).await.unwrap();
    let convo_id = conversation_id(&alice, &bob);
    let message = ChatMessage {
        // A well-made id: the message must be refused for its date, not its id.
        id: message_id(&alice, &convo_id, "f10ce2"),
        convo_id,
        sender_address: alice,
        sent_at_ms,
        content_type: "text/plain".into(),
        content: b"frozen".to_vec(),
        recipient_address: bob,
    };
    let plaintext = Plaintext {
        kind: Some(PlaintextKind::Invite(Invite {
            convo_id: message.convo_id.clone(),
            message: Some(message),
        })),
        repairs: vec![],
    };
    alice_client
        .seal_for_tests(
            &contact[0].message,
            &bob_client.installation_id(),
            &plaintext.encode_to_vec(),
        )
        .unwrap()
}

#[wasm_bindgen_test]
async fn a_message_dated_past_safe_integers_does_not_freeze_the_inbox() {
    let (alice, bob, alice_client, bob_client, _) = talking_pair().await;
    let frozen = dated_payload(&alice_client, &bob_client, u64::MAX).await;
    publish_to(&bob_client, vec![frozen]).await;
    let chat = conversation(&alice_client, &bob).await;
    let id = send(&chat, "after").await;
    until_state(&alice_client, &[id], "SENT").await;
    let shown = until_shown(&bob_client, &alice, 3).await;
    let texts: Vec<&str> = shown.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "reply", "after"]);
    assert_eq!(failures(&bob_client).await, [("REJECTED".to_owned(), "MALFORMED".to_owned())]);
    // And sending from Bob still works.
    let chat = conversation(&bob_client, &alice).await;
    let id = send(&chat, "still").await;
    until_state(&bob_client, &[id], "SENT").await;
}

#[wasm_bindgen_test]
async fn a_pre_key_payload_replayed_with_a_field_appended_changes_nothing() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let chat = conversation(&alice_client, &bob).await;
    let id = send(&chat, "original").await;
    until_state(&alice_client, &[id], "SENT").await;
    until_shown(&bob_client, &alice, 1).await;

    let mut replay = inbox(&bob_client).await.remove(0).message;
    replay.extend([0x78, 0x01]); // field 15, varint 1: unknown, skipped by a decoder
    publish_to(&bob_client, vec![replay]).await;
    let id = send(&chat, "next").await;
    until_state(&alice_client, &[id], "SENT").await;
    let shown = until_shown(&bob_client, &alice, 2).await;
    let texts: Vec<&str> = shown.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["original", "next"], "{shown:?}");
    assert_eq!(failures(&bob_client).await, [("REJECTED".to_owned(), "NON_CANONICAL".to_owned())]);
}
