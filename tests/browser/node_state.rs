//! A node that is never silently unreachable: `nodeUrl` checked, the node's state on the
//! client and as stream events, waiting messages saying why, and `canMessage`.

use e2ee_sdk::Client;
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{client, code, field, options},
    devnode_url,
    sending::{conversation, send, until_state},
    set_faults, unique,
    wallet::TestWallet,
};

/// How long a test waits for an event before it calls it a hang (not a speed check).
const HANG_GUARD_MS: i32 = 60_000;

/// The next event of `stream`, or `None` if none came within the hang guard.
async fn next_event(stream: &JsValue) -> Option<JsValue> {
    let next: Function = Reflect::get(stream, &"next".into()).unwrap().unchecked_into();
    let next: Promise = next.call0(stream).unwrap().unchecked_into();
    let timer = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, HANG_GUARD_MS)
            .unwrap();
    });
    let result = JsFuture::from(Promise::race(&Array::of2(&next, &timer))).await.unwrap();
    if result.is_undefined() || field(&result, "done").as_bool() == Some(true) {
        return None;
    }
    Some(field(&result, "value"))
}

/// Reads `stream` until a `node` event; the message events before it are passed over.
async fn node_event(stream: &JsValue) -> JsValue {
    loop {
        let event = next_event(stream).await.expect("a node event within the hang guard");
        if field(&event, "type").as_string().unwrap() == "node" {
            return event;
        }
    }
}

fn text(value: &JsValue, name: &str) -> String {
    field(value, name).as_string().unwrap_or_default()
}

async fn message(client: &Client, id: &str) -> JsValue {
    JsFuture::from(client.message(id.to_owned())).await.unwrap()
}

#[wasm_bindgen_test]
async fn a_node_url_that_is_not_an_absolute_http_url_is_refused() {
    let wallet = TestWallet::random();
    for url in ["not a url", "127.0.0.1:5555", "/message", "ws://127.0.0.1:5555", "http://"] {
        let options = options(&wallet.signer(), &unique("node"), &[("nodeUrl", url.into())]);
        let error = Client::create(options).await.err().unwrap();
        assert_eq!(code(&error), "INVALID_ARGUMENT", "{url}");
        let message = text(&error, "message");
        assert!(message.contains("nodeUrl must be an absolute http(s) URL"), "{message}");
        assert!(message.contains(&format!("got {url:?}")), "{message}");
    }
}

#[wasm_bindgen_test]
async fn a_dead_node_is_reported_and_a_queued_message_says_it_waits_for_it() {
    let (wallet, peer) = (TestWallet::random(), TestWallet::random());
    // Offline-tolerant by design: a reload without network still opens the client.
    let client = Client::create(options(
        &wallet.signer(),
        &unique("node"),
        &[("nodeUrl", "http://127.0.0.1:9".into())],
    ))
    .await
    .unwrap();
    let stream = client.stream().unwrap();
    let id = send(&conversation(&client, &peer).await, "queued").await;

    let event = node_event(&stream).await;
    assert_eq!(text(&event, "state"), "UNREACHABLE");
    assert_eq!(text(&event, "code"), "NETWORK");
    assert!(text(&event, "message").contains("could not reach the node"), "{event:?}");
    assert!(field(&event, "at").as_f64().unwrap() > 0.0);
    let state = client.node_state().unwrap();
    assert_eq!(text(&state, "state"), "UNREACHABLE");
    assert_eq!(text(&state, "code"), "NETWORK");

    let queued = message(&client, &id).await;
    assert_eq!(text(&queued, "state"), "UNINITIALIZED");
    let failure = text(&queued, "failure");
    assert!(failure.starts_with("NETWORK: waiting for the node: "), "{failure}");

    let refused = JsFuture::from(client.can_message(peer.address.to_string())).await;
    assert_eq!(code(&refused.unwrap_err()), "NETWORK");
    client.close();
}

#[wasm_bindgen_test]
async fn a_server_that_is_not_a_node_is_unreachable_as_a_node() {
    let wallet = TestWallet::random();
    let not_a_node = format!("{}/nope", devnode_url());
    let client = Client::create(options(
        &wallet.signer(),
        &unique("node"),
        &[("nodeUrl", not_a_node.into())],
    ))
    .await
    .unwrap();
    let stream = client.stream().unwrap();
    let event = node_event(&stream).await;
    assert_eq!(text(&event, "state"), "UNREACHABLE");
    assert_eq!(text(&event, "code"), "NODE_REJECTED", "{event:?}");
    assert!(text(&event, "message").contains("404"), "{event:?}");
    client.close();
}

#[wasm_bindgen_test]
async fn a_node_that_fails_and_recovers_is_reported_both_ways() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let _bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    assert_ne!(text(&alice_client.node_state().unwrap(), "state"), "UNREACHABLE");
    let stream = alice_client.stream().unwrap();

    set_faults(r#"{"publishFailRate": 1.0}"#).await;
    let id = send(&conversation(&alice_client, &bob).await, "held").await;
    let down = node_event(&stream).await;
    let failure = text(&message(&alice_client, &id).await, "failure");
    set_faults("{}").await;
    assert_eq!(text(&down, "state"), "UNREACHABLE");
    assert_eq!(text(&down, "code"), "NODE_REJECTED", "{down:?}");
    assert!(failure.starts_with("NODE_REJECTED: waiting for the node: "), "{failure}");

    let up = node_event(&stream).await;
    assert_eq!(text(&up, "state"), "REACHABLE");
    assert!(field(&up, "code").is_null() && field(&up, "message").is_null());
    until_state(&alice_client, std::slice::from_ref(&id), "SENT").await;
    assert!(field(&message(&alice_client, &id).await, "failure").is_null());
    assert_eq!(text(&alice_client.node_state().unwrap(), "state"), "REACHABLE");
}

#[wasm_bindgen_test]
async fn can_message_tells_who_has_an_installation() {
    let (alice, bob, stranger) = (TestWallet::random(), TestWallet::random(), TestWallet::random());
    let _bob_client = client(&bob, &unique("bob"), 60_000).await;
    let alice_client = client(&alice, &unique("alice"), 60_000).await;
    let can = |address: String| JsFuture::from(alice_client.can_message(address));
    assert_eq!(can(bob.address.to_string()).await.unwrap(), JsValue::TRUE);
    assert_eq!(can(stranger.address.to_string()).await.unwrap(), JsValue::FALSE);
    assert_eq!(code(&can("0x1234".into()).await.unwrap_err()), "INVALID_ADDRESS");

    let bob_upper = format!("0x{}", bob.address.to_string()[2..].to_uppercase());
    let addresses = [bob_upper.clone(), stranger.address.to_string(), alice.address.to_string()];
    let addresses: Array = addresses.iter().map(|a| JsValue::from_str(a)).collect();
    let found = JsFuture::from(alice_client.can_message_many(addresses)).await.unwrap();
    assert_eq!(field(&found, &bob_upper), JsValue::TRUE, "keyed as given");
    assert_eq!(field(&found, &stranger.address.to_string()), JsValue::FALSE);
    assert_eq!(field(&found, &alice.address.to_string()), JsValue::TRUE);
    assert_eq!(js_sys::Object::keys(found.unchecked_ref::<js_sys::Object>()).length(), 3);

    let invalid = [bob.address.to_string(), "not an address".to_owned()];
    let invalid: Array = invalid.iter().map(|a| JsValue::from_str(a)).collect();
    let refused = JsFuture::from(alice_client.can_message_many(invalid)).await.unwrap_err();
    assert_eq!(code(&refused), "INVALID_ADDRESS");
}

/// Only the tab holding the processors' lock talks to the node; the other tabs of the profile
/// learn its findings over the tabs' channel.
#[wasm_bindgen_test]
async fn every_tab_of_the_profile_learns_the_nodes_state() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let _bob_client = client(&bob, &unique("bob"), 60_000).await;
    let db = unique("alice");
    let holder = client(&alice, &db, 60_000).await;
    let other = client(&alice, &db, 60_000).await;
    let stream = other.stream().unwrap();

    set_faults(r#"{"publishFailRate": 1.0}"#).await;
    let id = send(&conversation(&holder, &bob).await, "held").await;
    let down = node_event(&stream).await;
    let state_then = text(&other.node_state().unwrap(), "state");
    set_faults("{}").await;
    assert_eq!(text(&down, "state"), "UNREACHABLE");
    assert_eq!(text(&down, "code"), "NODE_REJECTED");
    assert_eq!(state_then, "UNREACHABLE");

    let up = node_event(&stream).await;
    assert_eq!(text(&up, "state"), "REACHABLE");
    until_state(&other, std::slice::from_ref(&id), "SENT").await;
    assert_eq!(text(&other.node_state().unwrap(), "state"), "REACHABLE");
}
