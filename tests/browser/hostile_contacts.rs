//! Hostile contacts end to end (issue 12, attack 2): a stranger's wallet relinks a real
//! installation's bundle to itself and forces a refresh of its topic; the installation stays
//! its own account's and its messages keep arriving.

use e2ee_sdk::{
    Client,
    crypto::Installation,
    net::{Envelope, NodeClient},
    wire::{ContactEntry, ContactEntryKind, InboxPayload, Topic, link_text},
};
use js_sys::Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::field,
    devnode_url,
    receiving::{failures, publish_to, send_all, talking_pair, until_shown},
    wallet::TestWallet,
};

fn hex(text: &str) -> Vec<u8> {
    let text = text.trim_start_matches("0x");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

async fn rejected_codes(client: &Client, address: &str) -> Vec<String> {
    let list = JsFuture::from(client.rejected_bundles(Some(address.to_owned()))).await.unwrap();
    let list: Array = list.unchecked_into();
    list.iter().map(|r| field(&r, "code").as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
async fn a_bundle_relinked_by_another_wallet_does_not_take_over_the_installation() {
    use prost::Message as _;
    let (alice, bob, alice_client, bob_client, _) = talking_pair().await;
    let mallory = TestWallet::random();
    let mallory_address = mallory.address.to_string();
    let node = NodeClient::new(devnode_url());

    // Alice's installation's bundle, relinked to Mallory's wallet by Mallory's signature.
    let contact = node.query_all(&[Topic::contact(&alice.address.to_string())]).await.unwrap();
    let mut bundle = contact
        .iter()
        .rev()
        .filter_map(|e| ContactEntry::decode_bundle(&e.message))
        .find(|b| b.installation_id == alice_client.installation_id())
        .unwrap();
    bundle.wallet_address = mallory_address.clone();
    bundle.wallet_signature = hex(&mallory.sign(&link_text(&bundle)));
    let entry = ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes();
    let now = js_sys::Date::now() as u64;
    node.publish(&[Envelope::new(&Topic::contact(&mallory_address), now, 0, entry)]).await.unwrap();

    // One junk payload of Mallory's makes Bob fetch her topic.
    let junk = InboxPayload {
        sender_address: mallory_address.clone(),
        sender_installation_id: Installation::generate().id().to_owned(),
        message_type: 1,
        ciphertext: vec![0xAB; 48],
        ..InboxPayload::default()
    }
    .encode_to_vec();
    publish_to(&bob_client, vec![junk]).await;
    send_all(&alice_client, &bob, &["after".to_owned()]).await;

    let shown = until_shown(&bob_client, &alice, 3).await;
    let texts: Vec<&str> = shown.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "reply", "after"], "Alice's message after the attack arrives");
    assert_eq!(failures(&bob_client).await, [("REJECTED".to_owned(), "UNKNOWN_SENDER".to_owned())]);
    let codes = rejected_codes(&bob_client, &mallory_address).await;
    assert!(codes.contains(&"FALLBACK_SIGNATURE_INVALID".to_owned()), "{codes:?}");
}

/// A link is renewed before it expires with one wallet signature, and a peer's next refresh
/// takes the renewed link (peers refuse an expired installation's messages).
#[wasm_bindgen_test]
async fn a_link_is_renewed_and_peers_take_the_renewed_one() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let alice_client = super::client::client(&alice, &super::unique("alice"), 0).await;
    let bob_client = super::client::client(&bob, &super::unique("bob"), 0).await;
    let before = alice_client.link_expires_at();
    assert!(!alice_client.link_renewal_due(), "a new link is not due");
    let expiry_seen_by_bob = || async {
        let list =
            JsFuture::from(bob_client.installations(Some(alice_client.address()))).await.unwrap();
        let list: Array = list.unchecked_into();
        field(&list.get(0), "expiresAt").as_f64().unwrap()
    };
    assert_eq!(expiry_seen_by_bob().await, before);

    JsFuture::from(alice_client.renew_link()).await.unwrap();
    let after = alice_client.link_expires_at();
    assert!(after > before, "renewed: {before} → {after}");
    assert_eq!(expiry_seen_by_bob().await, after, "Bob's refresh takes the renewed link");
}
