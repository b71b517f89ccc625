//! `Conversation`: a 1:1 conversation as JS holds it, and the message shape it hands out.

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::{Inner, info::MessageInfo, to_js};
use crate::{
    crypto::random_id,
    engine::ConversationRecord,
    error::{ErrorCode, SdkError},
    steps::queue,
    store,
};

/// A conversation with one peer. It does not keep its client alive: once the client is
/// closed or dropped, its methods throw `CLOSED`.
#[wasm_bindgen]
pub struct Conversation {
    pub(super) inner: Weak<Inner>,
    pub(super) record: ConversationRecord,
}

impl Conversation {
    fn client(&self) -> Result<Rc<Inner>, SdkError> {
        self.inner.upgrade().ok_or_else(|| SdkError::new(ErrorCode::Closed, "the client is closed"))
    }

    /// What `send(content, content_type)` is to store, dated now.
    fn outgoing(
        &self,
        inner: &Inner,
        content: &JsValue,
        content_type: Option<String>,
    ) -> Result<queue::Outgoing, SdkError> {
        inner.check_open()?;
        let (content_type, content) = match content.as_string() {
            Some(text) => (content_type.unwrap_or_else(|| "text/plain".into()), text.into_bytes()),
            None => match content.dyn_ref::<js_sys::Uint8Array>() {
                Some(bytes) => (
                    content_type.unwrap_or_else(|| "application/octet-stream".into()),
                    bytes.to_vec(),
                ),
                None => {
                    return Err(SdkError::new(
                        ErrorCode::InvalidArgument,
                        "content must be a string or a Uint8Array",
                    ));
                }
            },
        };
        let nonce =
            random_id().map_err(|e| SdkError::new(ErrorCode::Unsupported, e.to_string()))?;
        Ok(queue::Outgoing {
            conversation_id: self.record.id.clone(),
            content_type,
            content,
            nonce: inner.sends.next_nonce(nonce),
            now_ms: inner.next_message_time(),
        })
    }
}

/// The sends of this tick, committed together once it ends (see `queue::queue_messages`):
/// a loop of sends without `await` is one transaction, one wake of the processors and one
/// post to the other tabs. One commit runs at a time; sends made during it wait for the next.
#[derive(Default)]
pub(super) struct SendGroups {
    /// Sends waiting for the next commit, in the order they were made.
    waiting: RefCell<Vec<WaitingSend>>,
    /// A commit is due or running.
    committing: Cell<bool>,
    /// The nonce the next send takes instead of a random one (a test fault: its id is
    /// taken, so its commit fails).
    #[cfg(feature = "test-export")]
    next_nonce: RefCell<Option<String>>,
}

/// The most sends committed in one transaction: a tick with more (an import, a script) commits
/// them in groups of this size, so no transaction grows without bound.
const MAX_SEND_GROUP: usize = 500;

/// A send waiting for its commit, and its promise's settlers.
struct WaitingSend {
    outgoing: queue::Outgoing,
    resolve: js_sys::Function,
    reject: js_sys::Function,
}

impl SendGroups {
    /// Queues `send` for the commit after this tick.
    fn wait(inner: &Rc<Inner>, send: WaitingSend) {
        inner.sends.waiting.borrow_mut().push(send);
        if !inner.sends.committing.replace(true) {
            // Runs once the app's current code has returned: the tick's sends are all in.
            wasm_bindgen_futures::spawn_local(Self::commit(inner.clone()));
        }
    }

    /// Commits the waiting sends, group after group, and settles their promises.
    async fn commit(inner: Rc<Inner>) {
        loop {
            let group: Vec<WaitingSend> = {
                let mut waiting = inner.sends.waiting.borrow_mut();
                let count = waiting.len().min(MAX_SEND_GROUP);
                waiting.drain(..count).collect()
            };
            if group.is_empty() {
                inner.sends.committing.set(false);
                return;
            }
            let mut outgoing = Vec::with_capacity(group.len());
            let mut settlers = Vec::with_capacity(group.len());
            for send in group {
                outgoing.push(send.outgoing);
                settlers.push((send.resolve, send.reject));
            }
            let sender = inner.address.to_string();
            let queued = match inner.store() {
                Ok(store) => queue::queue_messages(&*store, &sender, outgoing).await,
                Err(e) => vec![Err(e); settlers.len()],
            };
            inner.queued(&queued);
            for (queued, (resolve, reject)) in queued.into_iter().zip(settlers) {
                let _ = match queued {
                    Ok(message) => resolve.call1(&JsValue::UNDEFINED, &message.id.into()),
                    Err(e) => reject.call1(&JsValue::UNDEFINED, &e.into()),
                };
            }
        }
    }

    /// `nonce`, or the one a test set for this send.
    fn next_nonce(&self, nonce: String) -> String {
        #[cfg(feature = "test-export")]
        if let Some(fixed) = self.next_nonce.borrow_mut().take() {
            return fixed;
        }
        nonce
    }

    /// Makes the next send take `nonce` (test builds only): twice the same, and the second
    /// send's id is taken.
    #[cfg(feature = "test-export")]
    pub(super) fn fix_next_nonce(&self, nonce: String) {
        *self.next_nonce.borrow_mut() = Some(nonce);
    }
}

#[wasm_bindgen]
impl Conversation {
    /// The conversation id (the same on both sides).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.record.id.clone()
    }

    /// The other account, lower-case.
    #[wasm_bindgen(getter, js_name = peerAddress)]
    pub fn peer_address(&self) -> String {
        self.record.peer_address.clone()
    }

    /// Stores `content` (a string, or bytes with `contentType`) as a new message and resolves
    /// with its id once that write committed: from then on the message survives a reload.
    /// The sends of one tick (a loop without `await`) commit together, in one transaction.
    /// Encryption and delivery follow in the background; read the state with
    /// `client.message(id)`.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn send(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] content: JsValue,
        #[wasm_bindgen(js_name = "contentType")] content_type: Option<String>,
    ) -> Promise {
        let prepared = self.client().and_then(|inner| {
            let outgoing = self.outgoing(&inner, &content, content_type)?;
            Ok((inner, outgoing))
        });
        let (inner, outgoing) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => return Promise::reject(&e.into()),
        };
        let mut outgoing = Some(outgoing);
        Promise::new(&mut |resolve, reject| {
            if let Some(outgoing) = outgoing.take() {
                SendGroups::wait(&inner, WaitingSend { outgoing, resolve, reject });
            }
        })
    }
    /// The conversation's messages in sender-timestamp order, oldest first. With `limit`,
    /// the newest `limit` before `before` (all of them by default): pass the first one's
    /// `sentAt` as `before` for the page before it.
    #[wasm_bindgen(unchecked_return_type = "Promise<MessageInfo[]>")]
    pub fn messages(&self, options: Option<MessagesOptionsJs>) -> Promise {
        let (inner, id) = (self.client(), self.record.id.clone());
        super::promise(async move {
            let inner = inner?;
            let options: MessagesOptions = match options.map(JsValue::from) {
                Some(value) if !value.is_undefined() && !value.is_null() => {
                    crate::from_js::from_value(value).map_err(|e| {
                        SdkError::new(ErrorCode::InvalidArgument, format!("invalid options: {e}"))
                    })?
                }
                _ => MessagesOptions::default(),
            };
            let store = inner.store()?;
            let messages = store::messages(&*store, &id, options.limit, options.before)
                .await
                .map_err(SdkError::from)?;
            let infos: Vec<MessageInfo> =
                messages.into_iter().map(|m| inner.message_info(m)).collect();
            Ok(to_js(&infos)?)
        })
    }
}

#[wasm_bindgen]
extern "C" {
    /// `MessagesOptions` as JS passes it.
    #[wasm_bindgen(typescript_type = "MessagesOptions")]
    pub type MessagesOptionsJs;
}

#[derive(Default, serde::Deserialize)]
struct MessagesOptions {
    limit: Option<u32>,
    before: Option<u64>,
}

/// Hooks for the browser tests of grouped sends (cargo feature `test-export` only).
#[cfg(feature = "test-export")]
impl super::Client {
    /// Makes the next send take `nonce` rather than a random one: given twice, the second
    /// send's id is the first's, and its commit fails.
    pub fn fix_next_send_nonce_for_tests(&self, nonce: &str) {
        self.inner.sends.fix_next_nonce(nonce.to_owned());
    }

    /// How many read-write transactions this client's store began.
    pub fn saves_begun_for_tests(&self) -> u32 {
        self.inner.store().map_or(0, |store| store.saves_begun_for_tests())
    }
}
