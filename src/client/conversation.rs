//! `Conversation`: a 1:1 conversation as JS holds it, and the message shape it hands out.

use std::rc::{Rc, Weak};

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
    /// Encryption and delivery follow in the background; read the state with
    /// `client.message(id)`.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn send(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] content: JsValue,
        #[wasm_bindgen(js_name = "contentType")] content_type: Option<String>,
    ) -> Promise {
        let (inner, record) = (self.client(), self.record.clone());
        super::promise(async move {
            let inner = inner?;
            let (content_type, bytes) = match content.as_string() {
                Some(text) => {
                    (content_type.unwrap_or_else(|| "text/plain".into()), text.into_bytes())
                }
                None => match content.dyn_into::<js_sys::Uint8Array>() {
                    Ok(bytes) => (
                        content_type.unwrap_or_else(|| "application/octet-stream".into()),
                        bytes.to_vec(),
                    ),
                    Err(_) => {
                        return Err(SdkError::new(
                            ErrorCode::InvalidArgument,
                            "content must be a string or a Uint8Array",
                        )
                        .into());
                    }
                },
            };
            let nonce =
                random_id().map_err(|e| SdkError::new(ErrorCode::Unsupported, e.to_string()))?;
            let store = inner.store()?;
            let sender = inner.address.to_string();
            let at = inner.next_message_time();
            let message =
                queue::queue_message(&*store, &record, &sender, content_type, bytes, &nonce, at)
                    .await?;
            inner.changed(vec![message.id.clone()]).await;
            Ok(JsValue::from_str(&message.id))
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
