//! What a new app meets in its first hour: React's StrictMode creating a client twice at once,
//! a wallet that never answers or refuses, a name where an address belongs.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    rc::Rc,
};

use e2ee_sdk::Client;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::AbortController;

use super::{
    client::{client, code, field, options},
    sending::{conversation, send, until_state},
    unique,
    wallet::TestWallet,
};

#[wasm_bindgen_test]
async fn two_overlapping_creates_on_a_fresh_database_give_one_installation() {
    let wallet = TestWallet::random();
    let db = unique("twice");
    let first = started(Client::create(options(&wallet.signer(), &db, &[])));
    let second = started(Client::create(options(&wallet.signer(), &db, &[])));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first.installation_id(), second.installation_id());
    assert_eq!(wallet.signatures.get(), 1, "the wallet signs once, for the one installation");
}

/// The pattern React's StrictMode runs in development: create in an effect, close in its
/// cleanup (as soon as the first creation resolves), create again at once. The second client
/// works.
#[wasm_bindgen_test]
async fn create_close_create_at_once_leaves_a_working_client() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let bob_client = client(&bob, &unique("bob"), 60_000).await;
    let db = unique("strict");
    let first = started(Client::create(options(&alice.signer(), &db, &[])));
    let second = started(Client::create(options(&alice.signer(), &db, &[])));
    first.await.unwrap().close();
    let second = second.await.unwrap();
    let chat = conversation(&second, &bob).await;
    let id = send(&chat, "after the double effect").await;
    until_state(&second, &[id], "SENT").await;
    bob_client.close();
}

/// Starts `future` now (as a JS call would) and gives a future of its output.
fn started<T: 'static>(future: impl Future<Output = T> + 'static) -> impl Future<Output = T> {
    let slot = Rc::new(RefCell::new(None));
    let mut resolve = None;
    let done = Promise::new(&mut |r: Function, _| resolve = Some(r));
    let (filled, resolve) = (slot.clone(), resolve.unwrap());
    spawn_local(async move {
        *filled.borrow_mut() = Some(future.await);
        resolve.call0(&JsValue::UNDEFINED).unwrap();
    });
    async move {
        JsFuture::from(done).await.unwrap();
        slot.borrow_mut().take().unwrap()
    }
}

/// `wallet`'s signer with its `signMessage` replaced by the JS function body `sign`.
fn signer_with(wallet: &TestWallet, sign: &str) -> JsValue {
    let signer = wallet.signer();
    let sign = Function::new_with_args("text", sign);
    Reflect::set(&signer, &"signMessage".into(), &sign).unwrap();
    signer
}

#[wasm_bindgen_test]
async fn a_wallet_that_never_answers_times_out() {
    let wallet = TestWallet::random();
    let signer = signer_with(&wallet, "return new Promise(() => {})");
    let timeout = [("signerTimeoutMs", JsValue::from(200))];
    let error = Client::create(options(&signer, &unique("silent"), &timeout)).await.err().unwrap();
    assert_eq!(code(&error), "SIGNER_TIMEOUT");
}

#[wasm_bindgen_test]
async fn create_is_cancelled_by_its_signal_while_the_wallet_waits() {
    let wallet = TestWallet::random();
    let signer = signer_with(&wallet, "return new Promise(() => {})");
    let controller = AbortController::new().unwrap();
    let signal = [("signal", JsValue::from(controller.signal()))];
    let creating = started(Client::create(options(&signer, &unique("cancelled"), &signal)));
    gloo_timers::future::TimeoutFuture::new(50).await;
    controller.abort_with_reason(&"the effect was cleaned up".into());
    let error = creating.await.err().unwrap();
    assert_eq!(code(&error), "ABORTED");
    assert_eq!(field(&error, "cause").as_string().as_deref(), Some("the effect was cleaned up"));

    // A create waiting behind another one (whose wallet never answers) is cancelled too.
    let db = unique("behind");
    let slow = [("signerTimeoutMs", JsValue::from(3_000))];
    let first_done = Rc::new(Cell::new(false));
    let first = {
        let (done, creating) = (first_done.clone(), Client::create(options(&signer, &db, &slow)));
        started(async move {
            let created = creating.await;
            done.set(true);
            created
        })
    };
    let controller = AbortController::new().unwrap();
    let signal = [("signal", JsValue::from(controller.signal()))];
    let second = started(Client::create(options(&wallet.signer(), &db, &signal)));
    gloo_timers::future::TimeoutFuture::new(50).await;
    controller.abort();
    assert_eq!(code(&second.await.err().unwrap()), "ABORTED");
    assert!(!first_done.get(), "the second stopped waiting for the first");
    assert_eq!(code(&first.await.err().unwrap()), "SIGNER_TIMEOUT", "the first ends on its own");

    // A signal that fired before `create` stops it at once.
    let early = Client::create(options(&wallet.signer(), &unique("cancelled"), &signal)).await;
    assert_eq!(code(&early.err().unwrap()), "ABORTED");
    assert_eq!(wallet.signatures.get(), 0);
}

#[wasm_bindgen_test]
async fn the_wallets_own_error_is_kept_as_the_cause() {
    let wallet = TestWallet::random();
    let signer = signer_with(
        &wallet,
        "const e = new Error('user rejected action'); e.code = 'ACTION_REJECTED'; \
         return Promise.reject(e)",
    );
    let error = Client::create(options(&signer, &unique("rejected"), &[])).await.err().unwrap();
    assert_eq!(code(&error), "SIGNER_REJECTED");
    assert!(field(&error, "message").as_string().unwrap().contains("user rejected action"));
    assert_eq!(code(&field(&error, "cause")), "ACTION_REJECTED");
}

#[wasm_bindgen_test]
async fn common_address_mistakes_are_named() {
    let client = client(&TestWallet::random(), &unique("mistakes"), 60_000).await;
    for (text, expected) in [
        ("vitalik.eth", "\"vitalik.eth\" is not an address: expected an address, got a name"),
        ("", "\"\" is not an address: expected an address (0x and 40 hex digits), got an empty"),
        ("0x12", "\"0x12\" is not an address: expected 40 hex digits after 0x, got 2"),
    ] {
        let error = JsFuture::from(client.conversation(text.into())).await.unwrap_err();
        assert_eq!(code(&error), "INVALID_ADDRESS");
        let message = field(&error, "message").as_string().unwrap();
        assert!(message.starts_with(expected), "{message}");
    }
    client.close();
}
