//! The queue steps the app's calls run: a conversation created on first use, a message
//! stored `UNINITIALIZED` (the processors take it from there), a `FAILED` message retried or a
//! pending one cancelled. Each is one transaction.

use super::context::update_changes;
use crate::{
    engine::{
        ConversationRecord, ConversationState, MessageRecord, MessageState, OutboundPayloadRecord,
        conversation_id, message_id,
    },
    error::{ErrorCode, SdkError},
    store::{Changes, Store, StoreError, index},
};

/// The conversation with `peer`, inserted as `UNINITIALIZED` if new.
pub(crate) async fn conversation(
    store: &impl Store,
    own_address: &str,
    peer: &str,
    now_ms: u64,
) -> Result<ConversationRecord, SdkError> {
    let id = conversation_id(own_address, peer);
    if let Some(existing) = store.get::<ConversationRecord>(&id).await? {
        return Ok(existing);
    }
    let record = ConversationRecord {
        id: id.clone(),
        peer_address: peer.to_owned(),
        state: ConversationState::Uninitialized,
        created_at_ms: now_ms,
    };
    let mut changes = Changes::new();
    changes.insert(&record)?;
    match store.save(changes).await {
        Ok(()) => Ok(record),
        // Another tab inserted it meanwhile: theirs stands.
        Err(StoreError::Transaction(_)) => store
            .get::<ConversationRecord>(&id)
            .await?
            .ok_or_else(|| SdkError::new(ErrorCode::Storage, "the conversation vanished")),
        Err(e) => Err(e.into()),
    }
}

/// How far ahead of this clock the newest message of a conversation may be and still be
/// followed (see [`queue_message`]).
pub(crate) const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// Stores a message as `UNINITIALIZED` and returns it once committed. Its id is derived from
/// the random `nonce` the caller drew, the sender and the conversation ([`message_id`]). Its time is `now_ms`, or just after the newest message of the
/// conversation if that is later (a clock set back, a reload), so a message sent after
/// another is shown after it; but never more than [`MAX_CLOCK_SKEW_MS`] ahead of `now_ms`
/// (a peer's message dated in the future does not drag this one along).
pub(crate) async fn queue_message(
    store: &impl Store,
    conversation: &ConversationRecord,
    sender: &str,
    content_type: String,
    content: Vec<u8>,
    nonce: &str,
    now_ms: u64,
) -> Result<MessageRecord, SdkError> {
    let by_time = index::MESSAGES_BY_CONVERSATION_TIME;
    let range = ((&conversation.id, 0), (&conversation.id, index::MAX_KEY_NUMBER));
    let newest =
        store.by_index_newest_first::<MessageRecord>(by_time, &range.0, &range.1, 1).await?;
    let after = newest.first().map_or(0, |m| m.sent_at_ms.saturating_add(1));
    let after = if after <= now_ms.saturating_add(MAX_CLOCK_SKEW_MS) { after } else { 0 };
    let message = MessageRecord {
        id: message_id(sender, &conversation.id, nonce),
        convo_id: conversation.id.clone(),
        sender_address: sender.to_owned(),
        sent_at_ms: now_ms.max(after),
        state: MessageState::Uninitialized,
        content_type,
        content,
        failure: None,
        resends: 0,
    };
    let mut changes = Changes::new();
    changes.insert(&message)?;
    store.save(changes).await?;
    Ok(message)
}

/// Retries (`retry = true`) or cancels message `id`, in one transaction.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the binding's
pub(crate) async fn requeue(store: &impl Store, id: &str, retry: bool) -> Result<(), SdkError> {
    let id = id.to_owned();
    let message = store
        .get::<MessageRecord>(&id)
        .await?
        .ok_or_else(|| SdkError::new(ErrorCode::InvalidArgument, format!("no message {id}")))?;
    let payloads =
        store.by_index::<OutboundPayloadRecord>(index::OUTBOUND_BY_MESSAGE, &id, &id, None).await?;
    let update = if retry {
        crate::engine::retry(&message, &payloads)
    } else {
        crate::engine::cancel(&message, &payloads)
    }
    .map_err(|e| SdkError::new(ErrorCode::InvalidArgument, e.to_string()))?;
    Ok(store.save(update_changes(&update)?).await?)
}
