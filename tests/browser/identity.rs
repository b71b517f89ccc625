//! Identity and installations: wallet-linked bundles, THRESHOLD refresh, revocation, keys at
//! rest and eviction, against devnode and the real IndexedDB.

use std::collections::BTreeSet;

use e2ee_sdk::{
    Client,
    crypto::Installation,
    net::{Envelope, NodeClient},
    wire::{ContactEntry, ContactEntryKind, Revocation, Topic, link_text, revocation_text},
};
use gloo_net::http::Request;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{client, code, field, options},
    devnode_url, unique,
    wallet::TestWallet,
};

/// The ids `client.installations(address)` lists.
async fn ids(client: &Client, address: &str) -> BTreeSet<String> {
    let list = JsFuture::from(client.installations(Some(address.to_owned()))).await.unwrap();
    Array::from(&list).iter().map(|i| field(&i, "id").as_string().unwrap()).collect()
}

/// How many queries devnode has served for `address`'s contact topic.
async fn contact_queries(address: &str) -> u64 {
    let response = Request::get(&format!("{}/devnode/stats", devnode_url())).send().await.unwrap();
    let stats: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    stats["queriesByTopic"][Topic::contact(address).as_str()].as_u64().unwrap_or(0)
}

async fn sleep_ms(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

#[wasm_bindgen_test]
async fn wallets_see_each_others_installations_and_refresh_after_threshold() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let alice1 = client(&alice, &unique("alice1"), 60_000).await;
    let alice2 = client(&alice, &unique("alice2"), 60_000).await;
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let (a, b) = (alice.address.to_string(), bob.address.to_string());
    let both: BTreeSet<String> = [alice1.installation_id(), alice2.installation_id()].into();

    assert_eq!(ids(&bob_client, &a).await, both);
    assert_eq!(ids(&alice2, &a).await, both);
    assert_eq!(ids(&alice1, &b).await, [bob_client.installation_id()].into());

    // Within THRESHOLD the stored list is used: no request reaches the node.
    let before = contact_queries(&a).await;
    assert_eq!(ids(&bob_client, &a).await, both);
    assert_eq!(contact_queries(&a).await, before);

    // Past THRESHOLD the list is fetched again.
    let quick = client(&bob, &unique("bob-quick"), 200).await;
    assert_eq!(ids(&quick, &a).await, both);
    let fetched = contact_queries(&a).await;
    assert_eq!(ids(&quick, &a).await, both);
    assert_eq!(contact_queries(&a).await, fetched, "still within 200 ms");
    sleep_ms(400).await;
    assert_eq!(ids(&quick, &a).await, both);
    assert_eq!(contact_queries(&a).await, fetched + 1);
}

#[wasm_bindgen_test]
async fn reopening_gives_the_same_installation_and_asks_the_wallet_once() {
    let wallet = TestWallet::random();
    let db = unique("reopen");
    let first = client(&wallet, &db, 60_000).await;
    let (id, key) = (first.installation_id(), first.identity_key());
    first.close();
    let again = client(&wallet, &db, 60_000).await;
    assert_eq!((again.installation_id(), again.identity_key()), (id, key));
    assert_eq!(wallet.signatures.get(), 1);

    // Another wallet cannot open this profile's installation.
    let other = Client::create(options(&TestWallet::random().signer(), &db, &[])).await;
    assert_eq!(code(&other.err().unwrap()), "INVALID_ARGUMENT");
}

/// A bundle of a fresh installation for `wallet`, signed by `signer`, expiring at `expires`.
fn bundle_entry(wallet: &TestWallet, signer: &TestWallet, expires: u64) -> (String, Vec<u8>) {
    let installation = Installation::generate();
    let now = js_sys::Date::now() as u64;
    let mut bundle = installation.unsigned_bundle(&wallet.address.to_string(), now, expires, now);
    let signature = signer.sign(&link_text(&bundle));
    bundle.wallet_signature = hex(&signature);
    let id = installation.id().to_owned();
    (id, ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes())
}

fn edit_bundle(
    bytes: &[u8],
    edit: impl FnOnce(&mut e2ee_sdk::wire::InstallationBundle),
) -> Vec<u8> {
    let mut bundle = ContactEntry::decode_bundle(bytes).unwrap();
    edit(&mut bundle);
    ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes()
}

fn hex(text: &str) -> Vec<u8> {
    let text = text.trim_start_matches("0x");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[wasm_bindgen_test]
async fn each_forged_or_broken_bundle_is_refused_with_its_own_code() {
    let (carol, mallory, bob) = (TestWallet::random(), TestWallet::random(), TestWallet::random());
    let carol_client = client(&carol, &unique("carol"), 60_000).await;
    let far = js_sys::Date::now() as u64 + 86_400_000;

    let (_, forged) = bundle_entry(&carol, &mallory, far);
    let (_, valid) = bundle_entry(&carol, &carol, far);
    let tampered = edit_bundle(&valid, |b| b.identity_key[0] ^= 1);
    let bad_fallback = edit_bundle(&valid, |b| {
        if let Some(f) = b.fallback_key.as_mut() {
            f.signature[0] ^= 1;
        }
    });
    let (_, expired) = bundle_entry(&carol, &carol, 1_000);
    let truncated = valid[..valid.len() / 2].to_vec();
    let oversized = vec![0x0a; 5_000];
    let bad_address = edit_bundle(&valid, |b| b.wallet_address = "0x1234".into());
    let (revoked_id, revoked) = bundle_entry(&carol, &carol, far);
    let mut revocation = Revocation {
        wallet_address: carol.address.to_string(),
        installation_id: revoked_id,
        revoked_at_ms: 1,
        wallet_signature: Vec::new(),
    };
    revocation.wallet_signature = hex(&carol.sign(&revocation_text(&revocation)));
    let revocation = ContactEntry { kind: Some(ContactEntryKind::Revocation(revocation)) };

    let topic = Topic::contact(&carol.address.to_string());
    let entries = [
        forged,
        tampered,
        bad_fallback,
        expired,
        truncated,
        oversized,
        bad_address,
        revoked,
        revocation.to_bytes(),
    ];
    let envelopes: Vec<Envelope> = entries
        .into_iter()
        .enumerate()
        .map(|(i, message)| Envelope {
            content_topic: topic.to_string(),
            timestamp_ns: 1_000 + i as u64,
            message,
        })
        .collect();
    NodeClient::new(devnode_url()).publish(&envelopes).await.unwrap();

    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let carol_address = carol.address.to_string();
    // Only the real installation is taken; the broken entries beside it do not stop that.
    assert_eq!(ids(&bob_client, &carol_address).await, [carol_client.installation_id()].into());
    let rejected = JsFuture::from(bob_client.rejected_bundles(Some(carol_address))).await.unwrap();
    let codes: BTreeSet<String> =
        Array::from(&rejected).iter().map(|r| field(&r, "code").as_string().unwrap()).collect();
    let expected: BTreeSet<String> = [
        "SIGNATURE_INVALID",
        "KEY_MISMATCH",
        "FALLBACK_SIGNATURE_INVALID",
        "BUNDLE_EXPIRED",
        "MALFORMED",
        "OVERSIZED",
        "INVALID_ADDRESS",
        "INSTALLATION_REVOKED",
    ]
    .map(String::from)
    .into();
    assert_eq!(codes, expected);
}

#[wasm_bindgen_test]
async fn a_revoked_installation_is_dropped_everywhere_and_learns_it() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let alice1 = client(&alice, &unique("alice1"), 0).await;
    let alice2 = client(&alice, &unique("alice2"), 0).await;
    let bob_client = client(&bob, &unique("bob"), 0).await;
    let a = alice.address.to_string();
    assert_eq!(ids(&bob_client, &a).await.len(), 2);

    let revoked = alice2.installation_id();
    JsFuture::from(alice1.revoke_installation(revoked.clone())).await.unwrap();
    assert_eq!(ids(&alice1, &a).await, [alice1.installation_id()].into());
    assert_eq!(ids(&bob_client, &a).await, [alice1.installation_id()].into());

    assert!(!alice2.revoked());
    assert!(!ids(&alice2, &a).await.contains(&revoked));
    assert!(alice2.revoked(), "the revoked installation learns it on its next refresh");
}

#[wasm_bindgen_test]
async fn no_private_key_byte_is_stored_in_the_clear() {
    for app_key in [None, Some([42u8; 32])] {
        let wallet = TestWallet::random();
        let db = unique("at-rest");
        let extra: Vec<(&str, JsValue)> =
            app_key.iter().map(|k| ("pickleKey", Uint8Array::from(&k[..]).into())).collect();
        let client = Client::create(options(&wallet.signer(), &db, &extra)).await.unwrap();
        let secrets = client.secret_keys_for_tests();
        let id = client.installation_id();
        assert!(secrets.len() >= 2, "the account has at least its two identity secrets");
        client.close();

        let stored = every_stored_value(&db).await;
        // The scan must see what is there: the id, and the bundle's and pickle's bytes.
        assert!(stored.iter().any(|v| *v == id.as_bytes()), "the scan sees the records");
        assert!(stored.iter().filter(|v| v.len() > 100).count() >= 2, "and their bytes");
        for secret in &secrets {
            let b64 = base64_standard(secret);
            for bytes in &stored {
                assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()));
                assert!(!bytes.windows(b64.len()).any(|w| w == b64.as_bytes()));
            }
        }
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Every byte string and string in every record of every object store of `db`.
pub(super) async fn every_stored_value(db: &str) -> Vec<Vec<u8>> {
    let rexie = rexie::Rexie::builder(db).build().await.unwrap();
    let mut found = Vec::new();
    for store in rexie.store_names() {
        let tx = rexie.transaction(&[&store], rexie::TransactionMode::ReadOnly).unwrap();
        for value in tx.store(&store).unwrap().get_all(None, None).await.unwrap() {
            collect_bytes(&value, &mut found);
        }
    }
    rexie.close();
    found
}

fn collect_bytes(value: &JsValue, found: &mut Vec<Vec<u8>>) {
    if value.is_instance_of::<js_sys::ArrayBuffer>() || js_sys::ArrayBuffer::is_view(value) {
        found.push(Uint8Array::new(value).to_vec());
    } else if let Some(text) = value.as_string() {
        found.push(text.into_bytes());
    } else if let Some(array) = value.dyn_ref::<Array>() {
        // An array of byte-sized numbers is bytes too, whatever produced it.
        let bytes: Vec<u8> = array
            .iter()
            .filter_map(|v| v.as_f64())
            .filter(|n| (0.0..256.0).contains(n))
            .map(|n| n as u8)
            .collect();
        if !bytes.is_empty() && bytes.len() == array.length() as usize {
            found.push(bytes);
        }
        array.iter().for_each(|v| collect_bytes(&v, found));
    } else if value.is_object() && !value.is_instance_of::<web_sys::CryptoKey>() {
        let entries = js_sys::Object::entries(value.unchecked_ref());
        entries.iter().for_each(|pair| collect_bytes(&Array::from(&pair).get(1), found));
    }
}

#[wasm_bindgen_test]
async fn an_evicted_database_is_reported_not_replaced() {
    let wallet = TestWallet::random();
    let db = unique("evicted");
    let first = client(&wallet, &db, 60_000).await;
    let id = first.installation_id();
    first.close();
    drop(first);
    e2ee_sdk::store::IdbStore::delete(&db).await.unwrap();

    let evicted = Client::create(options(&wallet.signer(), &db, &[])).await;
    let error = evicted.err().unwrap();
    assert_eq!(code(&error), "STORAGE_EVICTED");
    assert!(field(&error, "message").as_string().unwrap().contains(&id));

    Client::delete_local_data(db.clone()).await.unwrap();
    let fresh = client(&wallet, &db, 60_000).await;
    assert_ne!(fresh.installation_id(), id);
}

#[wasm_bindgen_test]
async fn a_closed_connection_is_reopened_and_the_step_retried() {
    let wallet = TestWallet::random();
    let client = client(&wallet, &unique("reconnect"), 60_000).await;
    let me = wallet.address.to_string();
    assert_eq!(ids(&client, &me).await, [client.installation_id()].into());
    client.lose_connection_for_tests();
    assert_eq!(ids(&client, &me).await, [client.installation_id()].into());
}

#[wasm_bindgen_test]
async fn a_database_deleted_under_a_running_client_is_reported_as_evicted() {
    let wallet = TestWallet::random();
    let db = unique("evicted-live");
    let client = client(&wallet, &db, 60_000).await;
    let stream = client.stream().unwrap();
    // Deleting closes the client's connection (as eviction does) and then completes.
    e2ee_sdk::store::IdbStore::delete(&db).await.unwrap();
    for _ in 0..2 {
        let list = JsFuture::from(client.installations(None)).await;
        assert_eq!(code(&list.err().unwrap()), "STORAGE_EVICTED");
    }
    // The processors find it too, and the app's stream throws it inside its `for await`.
    assert!(client.process_for_tests().await.unwrap_err().starts_with("STORAGE_EVICTED"));
    let next: js_sys::Function =
        js_sys::Reflect::get(&stream, &"next".into()).unwrap().unchecked_into();
    let thrown = JsFuture::from(js_sys::Promise::from(next.call0(&stream).unwrap())).await;
    assert_eq!(code(&thrown.unwrap_err()), "STORAGE_EVICTED");
}

#[wasm_bindgen_test]
async fn wallets_that_misbehave_get_typed_errors() {
    let (wallet, other) = (TestWallet::random(), TestWallet::random());
    // Claims one address, signs with another key.
    let liar = wallet.signer();
    js_sys::Reflect::set(
        &liar,
        &"signMessage".into(),
        &js_sys::Reflect::get(&other.signer(), &"signMessage".into()).unwrap(),
    )
    .unwrap();
    let lying = Client::create(options(&liar, &unique("liar"), &[])).await;
    assert_eq!(code(&lying.err().unwrap()), "SIGNATURE_INVALID");

    let refusing = wallet.signer();
    let throw = js_sys::Function::new_no_args("return Promise.reject(new Error('user rejected'))");
    js_sys::Reflect::set(&refusing, &"signMessage".into(), &throw).unwrap();
    let refused = Client::create(options(&refusing, &unique("refused"), &[])).await;
    assert_eq!(code(&refused.err().unwrap()), "SIGNER_REJECTED");

    let bad_address = wallet.signer();
    let address = js_sys::Function::new_no_args("return Promise.resolve('0x1234')");
    js_sys::Reflect::set(&bad_address, &"getAddress".into(), &address).unwrap();
    let invalid = Client::create(options(&bad_address, &unique("bad"), &[])).await;
    assert_eq!(code(&invalid.err().unwrap()), "INVALID_ADDRESS");
}
