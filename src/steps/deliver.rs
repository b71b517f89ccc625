//! The deliver step: the outbound queue published in sequential-id order, in batches, each
//! batch marked `SENT` (and its messages, once all their payloads are) after the node
//! acknowledged it.
//!
//! Pipelined: while one batch's publish is in flight, the batch acknowledged before it is
//! marked `SENT` and the next batch is read (past the payloads in flight), so the store's
//! round trips hide behind the network's. One publish is in flight at a time, so the node
//! gets the payloads in order, and nothing is marked `SENT` before the node acknowledged it.

use super::context::{Context, both, update_changes};
use crate::{
    collections::VecSet,
    engine::{
        DeliveryUpdate, MessageRecord, OutboundPayloadRecord, OutboundPayloadState,
        on_publish_failed, on_published,
    },
    error::SdkError,
    net::{Envelope, NetError, Node},
    store::{Store, index},
    wire::Topic,
};

/// Payloads in a pass's first request: a short queue goes out in one small request.
const FIRST_BATCH: u32 = 50;
/// Payloads per request once a full batch showed a backlog (a node takes up to 200).
const MAX_BATCH: u32 = 200;
/// Most payload bytes per request (one payload alone may pass it): as base64 in the JSON
/// body they stay well under a node's 16 MiB limit, past which it refuses the request and
/// every message in it would fail.
const MAX_BATCH_BYTES: usize = 8 << 20;
const _: () = assert!(MAX_BATCH_BYTES / 3 * 4 + MAX_BATCH as usize * 1024 < 16 << 20);

/// Publishes queued payloads in sequential-id order, in batches, marking them `SENT` (and
/// their messages, once all of a message's payloads are). A failed publish counts an attempt
/// on its batch, after the batch before it was marked, and returns the error; the same bytes
/// are sent next time. A store failure also stops the step: a batch acknowledged but not
/// yet marked is published again next time, an exact duplicate the node and the receiver
/// recognise.
pub(crate) async fn deliver_pending<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<(), SdkError> {
    deliver_within(ctx, MAX_BATCH_BYTES).await
}

/// [`deliver_pending`] with at most `max_bytes` of payload per request (but at least one
/// payload): the tests cut requests with small payloads.
async fn deliver_within<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    max_bytes: usize,
) -> Result<(), SdkError> {
    let mut batch = next_batch(ctx.store, FIRST_BATCH, &[], max_bytes).await?;
    // Acknowledged by the node, not yet marked: marked while the next batch is in flight.
    let mut acknowledged = Vec::new();
    while !batch.payloads.is_empty() {
        let envelopes: Vec<Envelope> = batch.payloads.iter().map(envelope).collect();
        let meanwhile = async {
            mark_sent(ctx, &acknowledged).await?;
            if !batch.more {
                return Ok(Batch::default()); // (what is queued meanwhile goes next pass)
            }
            next_batch(ctx.store, batch.next_size, &batch.payloads, max_bytes).await
        };
        let (published, next) = both(ctx.node.publish(&envelopes), meanwhile).await;
        let next = next?;
        if let Err(error) = published {
            count_failed_attempt(ctx, &batch.payloads, &error).await?;
            return Err(error.into());
        }
        acknowledged = std::mem::replace(&mut batch, next).payloads;
    }
    mark_sent(ctx, &acknowledged).await
}

/// Queued payloads to publish in one request, whether more were queued behind them, and how
/// many to read for the request after.
#[derive(Default)]
struct Batch {
    payloads: Vec<OutboundPayloadRecord>,
    more: bool,
    next_size: u32,
}

/// The first queued payloads but those `in_flight`: at most `size`, and no more than
/// `max_bytes` of them (but at least one payload). While more are queued, the next batch is
/// read as long as payloads of this one's average size fit in `max_bytes` (up to
/// [`MAX_BATCH`]); when none are, a first batch's length.
async fn next_batch(
    store: &impl Store,
    size: u32,
    in_flight: &[OutboundPayloadRecord],
    max_bytes: usize,
) -> Result<Batch, SdkError> {
    let in_flight_len = u32::try_from(in_flight.len()).unwrap_or(u32::MAX);
    // One more than needed: it tells whether more are queued.
    let limit = size.saturating_add(in_flight_len).saturating_add(1);
    let queued = store
        .by_index::<OutboundPayloadRecord>(
            index::OUTBOUND_BY_STATE,
            &OutboundPayloadState::Uninitialized,
            &OutboundPayloadState::Uninitialized,
            Some(limit),
        )
        .await?;
    let (mut payloads, mut bytes, mut more) = (Vec::new(), 0, false);
    for payload in queued {
        if in_flight.iter().any(|p| p.seq == payload.seq) {
            continue;
        }
        let fits = bytes + payload.payload.len() <= max_bytes || payloads.is_empty();
        if payloads.len() == size as usize || !fits {
            more = true;
            break;
        }
        bytes += payload.payload.len();
        payloads.push(payload);
    }
    let next_size = match bytes.checked_div(payloads.len()) {
        Some(average) if more => max_bytes / average.max(1),
        _ => FIRST_BATCH as usize,
    };
    let next_size = u32::try_from(next_size).unwrap_or(MAX_BATCH).clamp(1, MAX_BATCH);
    Ok(Batch { payloads, more, next_size })
}

/// The envelope of a queued payload: always the same for the same record, so a retry is an
/// exact duplicate the node and the receiver recognise. The sequential id orders payloads
/// queued within one millisecond.
fn envelope(payload: &OutboundPayloadRecord) -> Envelope {
    let seq = payload.seq.unwrap_or_default() % 1_000_000;
    let topic = Topic::inbox(&payload.installation_id);
    Envelope::new(&topic, payload.created_at_ms, seq, payload.payload.clone())
}

/// The ids of the messages `payloads` carry, each once.
fn message_ids(payloads: &[OutboundPayloadRecord]) -> Vec<String> {
    let ids: VecSet<&String> = payloads.iter().flat_map(|p| &p.message_ids).collect();
    ids.into_iter().cloned().collect()
}

/// Marks `acknowledged` `SENT`, and their messages whose every payload now is. The
/// messages' payloads are read only now, after the batch before was marked: a message whose
/// payloads span both batches sees the earlier ones `SENT`.
async fn mark_sent<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    acknowledged: &[OutboundPayloadRecord],
) -> Result<(), SdkError> {
    if acknowledged.is_empty() {
        return Ok(());
    }
    let ids = message_ids(acknowledged);
    let by_message = index::OUTBOUND_BY_MESSAGE;
    let siblings = ctx.store.by_index_each::<OutboundPayloadRecord, _>(by_message, &ids).await?;
    let messages = ctx.store.get_many::<MessageRecord>(&ids).await?;
    let messages: Vec<MessageRecord> = messages.into_iter().flatten().collect();
    let siblings = siblings.concat();
    let update = on_published(acknowledged, &siblings, &messages, ctx.delete_sent_payloads);
    save_update(ctx, update).await
}

/// Counts an attempt on `batch`, whose publish failed with `error`; a refusal that will not
/// pass fails it and its messages.
async fn count_failed_attempt<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    batch: &[OutboundPayloadRecord],
    error: &NetError,
) -> Result<(), SdkError> {
    let retryable = error.is_retryable();
    // A failure that may pass changes only the payloads.
    let messages = if retryable {
        Vec::new()
    } else {
        ctx.store
            .get_many::<MessageRecord>(&message_ids(batch))
            .await?
            .into_iter()
            .flatten()
            .collect()
    };
    let update = on_publish_failed(batch, &messages, &error.to_string(), retryable);
    save_update(ctx, update).await
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
