//! The deliver step: the outbound queue published in sequential-id order, in batches, each
//! batch marked `SENT` (and its messages, once all their payloads are) after the node
//! acknowledged it.

use super::context::{Context, update_changes};
use crate::{
    collections::VecSet as BTreeSet,
    engine::{
        DeliveryUpdate, MessageRecord, OutboundPayloadRecord, OutboundPayloadState,
        on_publish_failed, on_published,
    },
    error::SdkError,
    net::{Envelope, Node},
    store::{Store, index},
    wire::Topic,
};

/// Payloads published per request.
const DELIVERY_BATCH: u32 = 50;

/// Publishes queued payloads in sequential-id order, in batches, marking them `SENT` (and
/// their messages, once all of a message's payloads are). A failed publish counts an attempt
/// on the batch and returns the error; the same bytes are sent next time.
pub(crate) async fn deliver_pending<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<(), SdkError> {
    let store = ctx.store;
    loop {
        let batch = store
            .by_index::<OutboundPayloadRecord>(
                index::OUTBOUND_BY_STATE,
                &OutboundPayloadState::Uninitialized,
                &OutboundPayloadState::Uninitialized,
                Some(DELIVERY_BATCH),
            )
            .await?;
        if batch.is_empty() {
            return Ok(());
        }
        let envelopes: Vec<Envelope> = batch.iter().map(envelope).collect();
        let (siblings, messages) = batch_messages(store, &batch).await?;
        match ctx.node.publish(&envelopes).await {
            Ok(()) => {
                let update = on_published(&batch, &siblings, &messages, ctx.delete_sent_payloads);
                save_update(ctx, update).await?;
            }
            Err(error) => {
                let update =
                    on_publish_failed(&batch, &messages, &error.to_string(), error.is_retryable());
                save_update(ctx, update).await?;
                return Err(error.into());
            }
        }
    }
}

/// The envelope of a queued payload: always the same for the same record, so a retry is an
/// exact duplicate the node and the receiver recognise. The sequential id orders payloads
/// queued within one millisecond.
fn envelope(payload: &OutboundPayloadRecord) -> Envelope {
    let seq = payload.seq.unwrap_or_default() % 1_000_000;
    let topic = Topic::inbox(&payload.installation_id);
    Envelope::new(&topic, payload.created_at_ms, seq, payload.payload.clone())
}

/// Every payload of the batch's messages, and those messages: one read each, however many
/// messages the batch carries.
async fn batch_messages(
    store: &impl Store,
    batch: &[OutboundPayloadRecord],
) -> Result<(Vec<OutboundPayloadRecord>, Vec<MessageRecord>), SdkError> {
    let mut ids = BTreeSet::new();
    for payload in batch {
        for id in &payload.message_ids {
            ids.insert(id.clone());
        }
    }
    let ids: Vec<String> = ids.into_iter().collect();
    let by_message = index::OUTBOUND_BY_MESSAGE;
    let siblings = store.by_index_each::<OutboundPayloadRecord, _>(by_message, &ids).await?;
    let messages = store.get_many::<MessageRecord>(&ids).await?;
    Ok((siblings.concat(), messages.into_iter().flatten().collect()))
}

async fn save_update<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    update: DeliveryUpdate,
) -> Result<(), SdkError> {
    ctx.store.save(update_changes(&update)?).await?;
    ctx.changed(update.messages.into_iter().map(|m| m.id));
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "deliver_tests.rs"]
mod tests;
