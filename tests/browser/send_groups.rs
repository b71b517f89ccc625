//! The sends of one tick: committed in one transaction, durable and in order, a send that
//! cannot commit failing alone, and one post to the other tabs (none when no other is open).

use std::{cell::RefCell, rc::Rc};

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{
    client::{client, code, field},
    sending::{conversation, send_promise, until_state},
    unique,
    wallet::TestWallet,
};

/// `count` sends to `conversation` in one tick (no `await` between them), texts `m0`, `m1`, ….
fn send_in_one_tick(conversation: &JsValue, count: usize) -> Vec<Promise> {
    (0..count).map(|i| send_promise(conversation, &format!("m{i}"))).collect()
}

/// The ids the sends resolved with, in send order.
async fn resolved_ids(sends: Vec<Promise>) -> Vec<String> {
    let all = Promise::all(&sends.into_iter().collect::<Array>());
    let ids = JsFuture::from(all).await.expect("every send resolves");
    Array::from(&ids).iter().map(|id| id.as_string().unwrap()).collect()
}

/// The conversation's messages as `messages()` hands them out: (id, text, sentAt).
async fn stored(conversation: &JsValue) -> Vec<(String, String, f64)> {
    let messages: Function =
        Reflect::get(conversation, &"messages".into()).unwrap().unchecked_into();
    let list: Promise = messages.call0(conversation).unwrap().unchecked_into();
    let list = Array::from(&JsFuture::from(list).await.unwrap());
    list.iter()
        .map(|m| {
            let text = field(&m, "text").as_string().unwrap_or_default();
            (field(&m, "id").as_string().unwrap(), text, field(&m, "sentAt").as_f64().unwrap())
        })
        .collect()
}

/// Reads `stream` until it reported every id of `ids` (a guard against hangs, not a speed
/// check).
async fn until_streamed(stream: &JsValue, ids: &[String]) {
    let mut missing: std::collections::BTreeSet<&String> = ids.iter().collect();
    let next: Function = Reflect::get(stream, &"next".into()).unwrap().unchecked_into();
    let deadline = js_sys::Date::now() + 120_000.0;
    while !missing.is_empty() {
        assert!(js_sys::Date::now() < deadline, "{} sends never reached the stream", missing.len());
        let next: Promise = next.call0(stream).unwrap().unchecked_into();
        let result = JsFuture::from(next).await.unwrap();
        assert_ne!(field(&result, "done").as_bool(), Some(true), "the stream ended");
        let event = field(&result, "value");
        if field(&event, "type").as_string().as_deref() == Some("message") {
            let id = field(&field(&event, "message"), "id").as_string().unwrap();
            missing.remove(&id);
        }
    }
}

#[wasm_bindgen_test]
async fn sends_of_one_tick_commit_together_durably_in_order_and_reach_the_other_tab() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let db = unique("alice-groups");
    // The first client holds the processors; the second only sends, so that its store's
    // read-write transactions are the sends' alone.
    let holder = client(&alice, &db, 60_000).await;
    let sender = client(&alice, &db, 60_000).await;
    let holder_stream = holder.stream().unwrap();
    let chat = conversation(&sender, &bob).await;

    let saves_before = sender.saves_begun_for_tests();
    let ids = resolved_ids(send_in_one_tick(&chat, 600)).await;
    let saves = sender.saves_begun_for_tests() - saves_before;
    assert_eq!(saves, 2, "600 sends of one tick in two read-write transactions (500 at most)");
    assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 600);

    until_streamed(&holder_stream, &ids).await;
    sender.close();
    holder.close();

    let reopened = client(&alice, &db, 60_000).await;
    let messages = stored(&conversation(&reopened, &bob).await).await;
    let stored_ids: Vec<String> = messages.iter().map(|m| m.0.clone()).collect();
    assert_eq!(stored_ids, ids, "every send stored once, in send order by sentAt");
    let texts: Vec<String> = messages.iter().map(|m| m.1.clone()).collect();
    assert_eq!(texts, (0..600).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert!(messages.windows(2).all(|w| w[0].2 < w[1].2), "sentAt strictly increasing");
    reopened.close();
}

#[wasm_bindgen_test]
async fn a_send_whose_commit_fails_fails_alone_in_its_group() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let client = client(&alice, &unique("alice-bad-send"), 60_000).await;
    let chat = conversation(&client, &bob).await;

    // Sends 3 and 7 take the same id: the group cannot commit, and alone the second cannot.
    let nonce = format!("{:016x}", (js_sys::Math::random() * 1e15) as u64);
    let mut sends = Vec::new();
    for i in 0..10 {
        if i == 3 || i == 7 {
            client.fix_next_send_nonce_for_tests(&nonce);
        }
        sends.push(send_promise(&chat, &format!("m{i}")));
    }
    let settled = Promise::all_settled(&sends.into_iter().collect::<Array>());
    let outcomes = Array::from(&JsFuture::from(settled).await.unwrap());
    let rejected: Vec<u32> = (0..10)
        .filter(|i| field(&outcomes.get(*i), "status").as_string().unwrap() == "rejected")
        .collect();
    assert_eq!(rejected, [7], "only the send whose id is taken fails");
    assert_eq!(code(&field(&outcomes.get(7), "reason")), "STORAGE");

    let texts: Vec<String> = stored(&chat).await.into_iter().map(|m| m.1).collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m8", "m9"]);
    client.close();
}

/// What a tab of the profile would receive on the clients' channel.
struct ChannelListener {
    channel: web_sys::BroadcastChannel,
    received: Rc<RefCell<Vec<JsValue>>>,
    _on_message: Closure<dyn Fn(JsValue)>,
}

impl ChannelListener {
    fn new(db: &str) -> Self {
        let channel = web_sys::BroadcastChannel::new(&format!("e2ee-sdk:processors:{db}")).unwrap();
        let received = Rc::<RefCell<Vec<JsValue>>>::default();
        let sink = received.clone();
        let on_message = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
            sink.borrow_mut().push(field(&event, "data"));
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Self { channel, received, _on_message: on_message }
    }

    /// The lists of message ids received so far.
    fn id_lists(&self) -> Vec<Vec<String>> {
        let received = self.received.borrow();
        let lists = received.iter().filter_map(|data| data.dyn_ref::<Array>().cloned());
        lists.map(|ids| ids.iter().map(|id| id.as_string().unwrap()).collect()).collect()
    }
}

impl Drop for ChannelListener {
    fn drop(&mut self) {
        self.channel.close();
    }
}

#[wasm_bindgen_test]
async fn a_tab_alone_posts_nothing_and_with_another_one_post_per_tick() {
    let (alice, bob) = (TestWallet::random(), TestWallet::random());
    let db = unique("alice-posts");
    let listener = ChannelListener::new(&db);
    let alone = client(&alice, &db, 60_000).await;
    let chat = conversation(&alone, &bob).await;
    let ids = resolved_ids(send_in_one_tick(&chat, 20)).await;
    // Bob has no installation: each fails once the processors tried (changes they report).
    until_state(&alone, &ids, "FAILED").await;
    gloo_timers::future::TimeoutFuture::new(200).await;
    assert!(listener.received.borrow().is_empty(), "posted with no other client open");

    let other = client(&alice, &db, 60_000).await;
    let from_other = resolved_ids(send_in_one_tick(&conversation(&other, &bob).await, 20)).await;
    until_state(&other, &from_other, "FAILED").await;
    // Then the holder's processors report the messages they failed (in posts of their own).
    let lists = listener.id_lists();
    assert_eq!(lists.first(), Some(&from_other), "the group's ids in one post, first");
    other.close();
    alone.close();
}
