//! What a new app meets in its first hour: React's StrictMode creating a client twice at once.

use std::{cell::RefCell, future::Future, rc::Rc};

use e2ee_sdk::Client;
use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{client, options},
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
