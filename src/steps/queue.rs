//! The queue steps the app's calls run: a conversation created on first use, messages
//! stored `UNINITIALIZED` (the processors take it from there; the sends of one tick in one
//! transaction), a `FAILED` message retried or a pending one cancelled. Each is one
//! transaction.

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
/// followed (see [`queue_messages`]).
pub(crate) const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// A message the app sent, not stored yet.
pub(crate) struct Outgoing {
    /// Its conversation's id.
    pub(crate) conversation_id: String,
    pub(crate) content_type: String,
    pub(crate) content: Vec<u8>,
    /// The random part of its id, drawn by the caller ([`message_id`]).
    pub(crate) nonce: String,
    /// The sender's clock when it was sent.
    pub(crate) now_ms: u64,
}

/// Stores one message as `UNINITIALIZED` and returns it once committed (see
/// [`queue_messages`]).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the simulator's and the tests'
pub(crate) async fn queue_message(
    store: &impl Store,
    conversation: &ConversationRecord,
    sender: &str,
    content_type: String,
    content: Vec<u8>,
    nonce: &str,
    now_ms: u64,
) -> Result<MessageRecord, SdkError> {
    let outgoing = Outgoing {
        conversation_id: conversation.id.clone(),
        content_type,
        content,
        nonce: nonce.to_owned(),
        now_ms,
    };
    let mut queued = queue_messages(store, sender, vec![outgoing]).await;
    queued.pop().unwrap_or_else(|| Err(SdkError::new(ErrorCode::Storage, "nothing was queued")))
}

/// Stores messages sent together (in one tick) as `UNINITIALIZED`, in one transaction, and
/// returns each once committed, in their order. The newest message of each conversation is
/// read once. A message is dated after the one sent before it in its conversation, and after
/// the conversation's newest stored message (a clock set back, a reload) unless that one is
/// more than [`MAX_CLOCK_SKEW_MS`] ahead of its `now_ms` (a peer's message dated in the future
/// does not drag it along). If the group fails to commit, each message is committed alone, so
/// only the one that fails by itself fails.
pub(crate) async fn queue_messages(
    store: &impl Store,
    sender: &str,
    outgoing: Vec<Outgoing>,
) -> Vec<Result<MessageRecord, SdkError>> {
    // Per conversation: its id, the newest stored message's time and the time of the last
    // message of this group (a group has one or a few).
    let mut conversations: Vec<(String, Option<u64>, u64)> = Vec::new();
    let count = outgoing.len();
    let mut messages = Vec::with_capacity(count);
    for item in outgoing {
        let known = conversations.iter().position(|c| c.0 == item.conversation_id);
        let at = match known {
            Some(at) => at,
            None => match newest_time(store, &item.conversation_id).await {
                Ok(newest) => {
                    conversations.push((item.conversation_id.clone(), newest, 0));
                    conversations.len() - 1
                }
                // The store fails its reads: nothing is written.
                Err(e) => return vec![Err(e); count],
            },
        };
        let Some((_, stored, last_in_group)) = conversations.get_mut(at) else { continue };
        let stored = *stored;
        let after_stored = stored.map_or(0, |t| t.saturating_add(1));
        let after_stored = if after_stored <= item.now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            after_stored
        } else {
            0
        };
        // 0 before the group's first: no message is dated 0.
        let after_previous = if *last_in_group == 0 { 0 } else { last_in_group.saturating_add(1) };
        let sent_at_ms = item.now_ms.max(after_stored).max(after_previous);
        *last_in_group = sent_at_ms;
        let message = MessageRecord {
            id: message_id(sender, &item.conversation_id, &item.nonce),
            convo_id: item.conversation_id,
            sender_address: sender.to_owned(),
            sent_at_ms,
            state: MessageState::Uninitialized,
            content_type: item.content_type,
            content: item.content,
            failure: None,
            resends: 0,
        };
        messages.push(message);
    }
    match insert(store, &messages).await {
        Ok(()) => {
            let mut queued = Vec::with_capacity(count);
            for message in messages {
                queued.push(Ok(message));
            }
            return queued;
        }
        // Alone, each would fail the same way: once is enough.
        Err(e) if count <= 1 || e.code == ErrorCode::StorageEvicted => return vec![Err(e); count],
        Err(_) => {}
    }
    let mut alone = Vec::with_capacity(count);
    for message in messages {
        alone.push(insert(store, std::slice::from_ref(&message)).await.map(|()| message));
    }
    alone
}

/// The time of the newest message of conversation `id`, if it has one.
async fn newest_time(store: &impl Store, id: &str) -> Result<Option<u64>, SdkError> {
    let by_time = index::MESSAGES_BY_CONVERSATION_TIME;
    let range = ((id, 0), (id, index::MAX_KEY_NUMBER));
    let newest =
        store.by_index_newest_first::<MessageRecord>(by_time, &range.0, &range.1, 1).await?;
    Ok(newest.first().map(|m| m.sent_at_ms))
}

/// Inserts `messages` in one transaction.
async fn insert(store: &impl Store, messages: &[MessageRecord]) -> Result<(), SdkError> {
    let mut changes = Changes::new();
    for message in messages {
        changes.insert(message)?;
    }
    Ok(store.save(changes).await?)
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

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "queue_tests.rs"]
mod tests;
