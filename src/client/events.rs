//! `client.stream()`: each new message and each change of a message's state, as an async
//! iterator (`for await (const event of client.stream())`).
//!
//! Every step that commits message records reports their ids; the client reads them back and
//! hands each open stream a [`StreamEvent`]. Other tabs of the profile learn the ids over the
//! tabs' `BroadcastChannel`, so a stream sees what any tab (the one running the processors or
//! the one that sent) changed.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::{Rc, Weak},
    time::Duration,
};

use js_sys::{Object, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::info::MessageInfo;
use crate::wake::Wake;

#[wasm_bindgen(typescript_custom_section)]
const TS_STREAM: &str = r#"
/** What `client.stream()` yields. */
export type StreamEvent =
  /** A new message, or a message whose state changed: its current form. */
  | { type: "message"; message: MessageInfo }
  /** A message removed: an `UNDECRYPTABLE` marker that its re-sent message replaced. */
  | { type: "removed"; id: string }
  /**
   * The node was lost (`UNREACHABLE`, with why) or came back (`REACHABLE`): the same as
   * `client.nodeState` from then on. Messages waiting to go out show why in `failure` while
   * it is unreachable: re-read the ones on screen on this event.
   */
  | NodeState;

export interface MessageStream {
  [Symbol.asyncIterator](): MessageStream;
}
"#;

#[wasm_bindgen(inline_js = "export function async_iterable(stream) { \
    stream[Symbol.asyncIterator] = function () { return this; }; return stream; }")]
extern "C" {
    /// Makes `stream` usable in `for await` (wasm-bindgen cannot name a symbol method).
    fn async_iterable(stream: JsValue) -> JsValue;
}

/// One stream event, as JS sees it. (The `node` event is the node's state itself, which
/// serializes with its `type`: see `net::NodeState`; a variant here would cost serde's tagged
/// newtype serializer, kilobytes of wasm.)
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(super) enum StreamEvent {
    /// A message's current form.
    Message {
        /// The message.
        message: MessageInfo,
    },
    /// A message that is gone.
    Removed {
        /// Its id.
        id: String,
    },
}

/// The open streams of one client.
#[derive(Default)]
pub(super) struct Events {
    streams: RefCell<Vec<Weak<Queue>>>,
}

#[derive(Default)]
struct Queue {
    events: RefCell<VecDeque<JsValue>>,
    wake: Wake,
    ended: Cell<bool>,
    /// Thrown by the next `next()` once the queued events are read.
    error: RefCell<Option<JsValue>>,
}

impl Events {
    /// A new stream, which gets every event from now on.
    pub(super) fn stream(&self) -> JsValue {
        let queue = Rc::new(Queue::default());
        let mut streams = self.streams.borrow_mut();
        streams.retain(|s| s.strong_count() > 0);
        streams.push(Rc::downgrade(&queue));
        async_iterable(MessageStream { queue }.into())
    }

    /// Whether any stream is open (events are only read back if so).
    pub(super) fn any_open(&self) -> bool {
        self.streams.borrow().iter().any(|s| s.upgrade().is_some_and(|q| !q.ended.get()))
    }

    /// Hands `event` to every open stream.
    pub(super) fn emit(&self, event: &JsValue) {
        for queue in self.streams.borrow().iter().filter_map(Weak::upgrade) {
            if !queue.ended.get() {
                queue.events.borrow_mut().push_back(event.clone());
                queue.wake.notify();
            }
        }
    }

    /// Ends every stream with `error`, thrown inside the app's `for await` (the client
    /// cannot go on, as when its database was evicted).
    pub(super) fn fail_all(&self, error: &JsValue) {
        for queue in self.streams.borrow_mut().drain(..).filter_map(|s| s.upgrade()) {
            *queue.error.borrow_mut() = Some(error.clone());
            queue.ended.set(true);
            queue.wake.notify();
        }
    }

    /// Ends every stream (the client closed).
    pub(super) fn end_all(&self) {
        for queue in self.streams.borrow_mut().drain(..).filter_map(|s| s.upgrade()) {
            queue.ended.set(true);
            queue.wake.notify();
        }
    }
}

/// An async iterator of [`StreamEvent`]s; ends when `return()` is called (as `break` in a
/// `for await` does) or the client closes, and throws (inside the `for await`) when the
/// client cannot go on (`STORAGE_EVICTED`). Read it one `next()` at a time.
#[wasm_bindgen]
pub struct MessageStream {
    queue: Rc<Queue>,
}

#[wasm_bindgen]
impl MessageStream {
    /// The next event, or `{ done: true }` once the stream ended.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<StreamEvent, undefined>>")]
    pub fn next(&self) -> Promise {
        let queue = self.queue.clone();
        super::promise(async move {
            loop {
                if let Some(event) = queue.events.borrow_mut().pop_front() {
                    return Ok(iterator_result(false, &event));
                }
                if let Some(error) = queue.error.borrow_mut().take() {
                    return Err(error);
                }
                if queue.ended.get() {
                    return Ok(iterator_result(true, &JsValue::UNDEFINED));
                }
                queue.wake.wait(Duration::from_secs(3600)).await;
            }
        })
    }

    /// Ends the stream: events not yet read are dropped.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<StreamEvent, undefined>>"
    )]
    pub fn finish(&self) -> Promise {
        self.queue.ended.set(true);
        self.queue.events.borrow_mut().clear();
        self.queue.wake.notify();
        Promise::resolve(&iterator_result(true, &JsValue::UNDEFINED))
    }
}

fn iterator_result(done: bool, value: &JsValue) -> JsValue {
    let result = Object::new();
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(&result, &"done".into(), &done.into());
    let _ = Reflect::set(&result, &"value".into(), value);
    result.into()
}
