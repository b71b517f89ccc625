//! The reads behind the app's list calls, over any [`Store`]: a conversation's messages
//! page by page, every conversation, the received payloads that failed.

use super::{Store, StoreError, index};
use crate::engine::{ConversationRecord, InboundPayloadRecord, InboundPayloadState, MessageRecord};

/// A conversation's messages in sender-timestamp order, oldest first: all of them, or with
/// `limit` the newest `limit` sent before `before`.
pub async fn messages(
    store: &impl Store,
    conversation_id: &str,
    limit: Option<u32>,
    before: Option<u64>,
) -> Result<Vec<MessageRecord>, StoreError> {
    let upper = before.map_or(index::MAX_KEY_NUMBER, |b| b.saturating_sub(1));
    let (lower, upper) = ((conversation_id, 0), (conversation_id, upper));
    let by_time = index::MESSAGES_BY_CONVERSATION_TIME;
    match limit {
        None => store.by_index::<MessageRecord>(by_time, &lower, &upper, None).await,
        Some(limit) => {
            let mut newest = store.by_index_newest_first(by_time, &lower, &upper, limit).await?;
            newest.reverse();
            Ok(newest)
        }
    }
}

/// Every conversation, oldest first.
pub async fn conversations(store: &impl Store) -> Result<Vec<ConversationRecord>, StoreError> {
    let mut all = store.all::<ConversationRecord>().await?;
    all.sort_by_key(|c| c.created_at_ms);
    Ok(all)
}

/// Received payloads that failed or were refused, in the order they arrived.
pub async fn inbound_failures(store: &impl Store) -> Result<Vec<InboundPayloadRecord>, StoreError> {
    let mut found = Vec::new();
    for state in [InboundPayloadState::Failed, InboundPayloadState::Rejected] {
        let range = ((state, ""), (state, "~"));
        let index = index::INBOUND_BY_STATE_ORDER;
        found
            .extend(store.by_index::<InboundPayloadRecord>(index, &range.0, &range.1, None).await?);
    }
    found.sort_by_key(|p| p.received_at_ms);
    Ok(found)
}
