//! The queue steps the app's calls run: a conversation created on first use, messages
//! stored `UNINITIALIZED` (the processors take it from there; the sends of one tick in one
//! transaction), a `FAILED` message retried or a pending one cancelled. Each is one
//! transaction.

use super::context::update_changes;
use crate::{
    collections::VecMap,
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
    // Per conversation: the newest stored message's time (or why it could not be read), and
    // the time of the last message of this group.
    let mut newest: VecMap<String, Result<Option<u64>, StoreError>> = VecMap::new();
    let mut last_in_group: VecMap<String, u64> = VecMap::new();
    let mut group = Changes::new();
    let mut queued = Vec::with_capacity(outgoing.len());
    for item in outgoing {
        if !newest.contains_key(&item.conversation_id) {
            let read = newest_time(store, &item.conversation_id).await;
            newest.insert(item.conversation_id.clone(), read);
        }
        let stored = match newest.get(&item.conversation_id) {
            Some(Ok(stored)) => *stored,
            Some(Err(e)) => {
                queued.push(Err(e.clone().into()));
                continue;
            }
            None => None,
        };
        let after_stored = stored.map_or(0, |t| t.saturating_add(1));
        let after_stored = if after_stored <= item.now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            after_stored
        } else {
            0
        };
        let after_previous =
            last_in_group.get(&item.conversation_id).map_or(0, |t| t.saturating_add(1));
        let sent_at_ms = item.now_ms.max(after_stored).max(after_previous);
        last_in_group.insert(item.conversation_id.clone(), sent_at_ms);
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
        queued.push(match group.insert(&message) {
            Ok(_) => Ok(message),
            Err(e) => Err(e.into()),
        });
    }
    let in_group = queued.iter().filter(|q| q.is_ok()).count();
    match store.save(group).await {
        Ok(()) => queued,
        // Alone, each would fail the same way.
        Err(e) if in_group <= 1 || e == StoreError::Evicted => {
            queued.into_iter().map(|q| q.and(Err(e.clone().into()))).collect()
        }
        Err(_) => {
            let mut alone = Vec::with_capacity(queued.len());
            for q in queued {
                alone.push(match q {
                    Ok(message) => commit_alone(store, message).await,
                    Err(e) => Err(e),
                });
            }
            alone
        }
    }
}

/// The time of the newest message of conversation `id`, if it has one.
async fn newest_time(store: &impl Store, id: &str) -> Result<Option<u64>, StoreError> {
    let by_time = index::MESSAGES_BY_CONVERSATION_TIME;
    let range = ((id, 0), (id, index::MAX_KEY_NUMBER));
    let newest =
        store.by_index_newest_first::<MessageRecord>(by_time, &range.0, &range.1, 1).await?;
    Ok(newest.first().map(|m| m.sent_at_ms))
}

/// Commits `message` in a transaction of its own.
async fn commit_alone(
    store: &impl Store,
    message: MessageRecord,
) -> Result<MessageRecord, SdkError> {
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

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "queue_tests.rs"]
mod tests;
