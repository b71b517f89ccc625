//! A node at several URLs (replicas serving the same data): `nodeUrl` as a list, checked
//! entry by entry; a URL that does not answer is failed over, and the list counts as one
//! node for its state.

use e2ee_sdk::Client;
use js_sys::Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{code, field, options},
    devnode_url,
    sending::{conversation, send, until_state},
    unique,
    wallet::TestWallet,
};

/// A loopback port nothing listens on: every request to it fails at once.
const DEAD_URL: &str = "http://127.0.0.1:9";

fn list(urls: &[&str]) -> JsValue {
    urls.iter().map(|url| JsValue::from_str(url)).collect::<Array>().into()
}

async fn client_at(wallet: &TestWallet, urls: &[&str]) -> Client {
    let extra = [("nodeUrl", list(urls)), ("refreshThresholdMs", 0.into())];
    Client::create(options(&wallet.signer(), &unique("failover"), &extra)).await.unwrap()
}

fn urls_of(client: &Client) -> Vec<String> {
    client.node_urls().iter().map(|url| url.as_string().unwrap()).collect()
}

/// Waits (a guard against hangs, not a speed check) until `client` shows message `id` received.
async fn until_received(client: &Client, id: &str) {
    for _ in 0..600 {
        let message = JsFuture::from(client.message(id.to_owned())).await.unwrap();
        if !message.is_null() && field(&message, "state").as_string().unwrap() == "RECEIVED" {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    panic!("message {id} was not received");
}

fn node_state(client: &Client) -> String {
    field(&client.node_state().unwrap(), "state").as_string().unwrap()
}

#[wasm_bindgen_test]
async fn clients_given_a_dead_url_and_a_live_one_in_either_order_send_and_receive() {
    let (alice_wallet, bob_wallet) = (TestWallet::random(), TestWallet::random());
    let alice = client_at(&alice_wallet, &[DEAD_URL, devnode_url()]).await;
    let bob = client_at(&bob_wallet, &[devnode_url(), DEAD_URL]).await;
    assert_eq!(urls_of(&alice), [DEAD_URL, devnode_url()], "in the order given");
    assert_eq!(urls_of(&bob), [devnode_url(), DEAD_URL]);

    let to_bob = conversation(&alice, &bob_wallet).await;
    let sent = send(&to_bob, "over the second URL").await;
    until_state(&alice, std::slice::from_ref(&sent), "SENT").await;
    until_received(&bob, &sent).await;
    let to_alice = conversation(&bob, &alice_wallet).await;
    let answer = send(&to_alice, "over the first URL").await;
    until_received(&alice, &answer).await;
    // Alice's first request failed over from the dead URL, which is left for good.
    assert_eq!(alice.node_url(), devnode_url());
    assert_eq!(bob.node_url(), devnode_url());

    // The list is one node: the dead URL it failed over from does not make it unreachable.
    assert_eq!(node_state(&alice), "REACHABLE");
    assert_eq!(node_state(&bob), "REACHABLE");
    let probe = JsFuture::from(alice.probe_node()).await.unwrap();
    assert_eq!(field(&probe, "readBack").as_f64(), Some(1.0));
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_node_unreachable_at_every_url_is_unreachable() {
    let wallet = TestWallet::random();
    let client = client_at(&wallet, &[DEAD_URL, "http://127.0.0.1:7"]).await;
    let refused = JsFuture::from(client.probe_node()).await.unwrap_err();
    assert_eq!(code(&refused), "NETWORK");
    // The processors' passes find the same (a guard against hangs, not a speed check).
    for _ in 0..600 {
        if node_state(&client) == "UNREACHABLE" {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    let state = client.node_state().unwrap();
    assert_eq!(field(&state, "state").as_string().unwrap(), "UNREACHABLE");
    assert_eq!(field(&state, "code").as_string().unwrap(), "NETWORK");
    client.close();
}

#[wasm_bindgen_test]
async fn a_list_with_a_bad_entry_or_none_is_refused_with_its_code() {
    let wallet = TestWallet::random();
    let cases = [
        (list(&[devnode_url(), "not a url"]), "nodeUrl must be an absolute http(s) URL"),
        (list(&["ws://127.0.0.1:5555", devnode_url()]), "nodeUrl must be an absolute http(s) URL"),
        (list(&[]), "nodeUrl must not be an empty list"),
        (Array::of2(&devnode_url().into(), &5.into()).into(), "invalid ClientOptions"),
    ];
    for (urls, expected) in cases {
        let shown = format!("{urls:?}");
        let extra = [("nodeUrl", urls)];
        let refused = Client::create(options(&wallet.signer(), &unique("failover"), &extra)).await;
        let error = refused.err().unwrap_or_else(|| panic!("{shown} was accepted"));
        assert_eq!(code(&error), "INVALID_ARGUMENT", "{shown}");
        let message = field(&error, "message").as_string().unwrap();
        assert!(message.contains(expected), "{shown}: {message}");
    }
}
