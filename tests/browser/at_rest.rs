//! What a copy of the browser profile shows: after a chat, no message text, no account or
//! session key and no peer address in any record of either database; and a database opened
//! under another pickle key is refused with a clear code, changing nothing.

use e2ee_sdk::Client;
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{code, options},
    identity::every_stored_value,
    receiving::{send_all, until_shown},
    sending::conversation,
    unique,
    wallet::TestWallet,
};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Every text, key and address looked for, in the clear and as base64.
fn assert_none_stored(stored: &[Vec<u8>], secrets: &[(String, Vec<u8>)]) {
    for (what, secret) in secrets {
        let b64 = base64(secret);
        for bytes in stored {
            assert!(!contains(bytes, secret), "{what} stored in the clear");
            assert!(!contains(bytes, b64.as_bytes()), "{what} stored as base64");
        }
    }
}

#[wasm_bindgen_test]
async fn a_chat_leaves_no_text_and_no_key_in_the_clear() {
    for app_key in [None, Some([9u8; 32])] {
        let (alice, bob) = (TestWallet::random(), TestWallet::random());
        let (alice_db, bob_db) = (unique("rest-alice"), unique("rest-bob"));
        let extra: Vec<(&str, JsValue)> =
            app_key.iter().map(|k| ("pickleKey", Uint8Array::from(&k[..]).into())).collect();
        let alice_client = Client::create(options(&alice.signer(), &alice_db, &extra)).await;
        let bob_client = Client::create(options(&bob.signer(), &bob_db, &extra)).await;
        let (alice_client, bob_client) = (alice_client.unwrap(), bob_client.unwrap());

        let nonce = unique("secret words");
        let to_bob: Vec<String> = (0..3).map(|i| format!("{nonce} to bob {i}")).collect();
        let to_alice: Vec<String> = (0..3).map(|i| format!("{nonce} to alice {i}")).collect();
        send_all(&alice_client, &bob, &to_bob).await;
        until_shown(&bob_client, &alice, 3).await;
        send_all(&bob_client, &alice, &to_alice).await;
        until_shown(&alice_client, &bob, 6).await;
        conversation(&bob_client, &alice).await;

        let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
        for text in to_bob.iter().chain(&to_alice) {
            secrets.push((format!("message text {text:?}"), text.clone().into_bytes()));
        }
        secrets.push(("the nonce of every text".into(), nonce.clone().into_bytes()));
        for (name, client) in [("alice", &alice_client), ("bob", &bob_client)] {
            let sessions = client.session_secrets_for_tests().await;
            assert!(sessions.len() >= 2, "{name} has a session with key bytes to look for");
            for key in sessions {
                secrets.push((format!("a session key of {name}"), key));
            }
            for key in client.secret_keys_for_tests() {
                secrets.push((format!("an account key of {name}"), key));
            }
        }
        alice_client.close();
        bob_client.close();

        for (db, peer) in [(&alice_db, &bob), (&bob_db, &alice)] {
            let stored = every_stored_value(db).await;
            // The scan must see what is there: the peer's installation (public, from the
            // node) and many sealed values.
            let peer_address = peer.address.to_string();
            assert!(stored.iter().any(|v| *v == peer_address.as_bytes()), "the scan sees records");
            assert_none_stored(&stored, &secrets);
        }
        let stored = every_stored_value(&alice_db).await;
        assert!(stored.iter().filter(|v| v.len() > 64).count() >= 8, "and their bytes");
    }
}

#[wasm_bindgen_test]
async fn a_database_under_another_key_is_refused_and_kept() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let db = unique("rest-key");
    let key = |byte: u8| [("pickleKey", JsValue::from(Uint8Array::from(&[byte; 32][..])))];
    let client = Client::create(options(&alice.signer(), &db, &key(1))).await.unwrap();
    let id = client.installation_id();
    let _bob_client = Client::create(options(&bob.signer(), &unique("rest-key-bob"), &[])).await;
    send_all(&client, &bob, &["kept".to_owned()]).await;
    client.close();
    drop(client);

    for (what, extra) in [("another key", key(2).to_vec()), ("no key", Vec::new())] {
        let refused = Client::create(options(&alice.signer(), &db, &extra)).await.err();
        let refused = refused.unwrap_or_else(|| panic!("opened under {what}"));
        assert_eq!(code(&refused), "WRONG_PICKLE_KEY", "{what}");
    }

    let reopened = Client::create(options(&alice.signer(), &db, &key(1))).await.unwrap();
    assert_eq!(reopened.installation_id(), id, "the same installation");
    let shown = super::receiving::shown(&reopened, &bob).await;
    assert_eq!(shown.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["kept"]);
}
