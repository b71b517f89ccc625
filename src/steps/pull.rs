//! The pull step: this installation's inbox read from the saved cursor, each page's payloads
//! stored `RECEIVED` (by hash, so an envelope delivered twice is stored once) with the cursor
//! after it, in one transaction. Storing before processing means a reload between the two
//! loses nothing.

use sha2::{Digest, Sha256};

use super::context::{Context, order_of, saved_cursor};
use crate::{
    engine::{
        INBOX_CURSOR, InboundFailure, InboundPayloadRecord, InboundPayloadState, InboxCursorRecord,
    },
    error::SdkError,
    net::{Cursor, Envelope, IndexCursor, Node, QueryPages},
    store::{Changes, Store},
    wire::{MAX_INBOX_PAYLOAD_BYTES, Topic, payload_hash},
};

/// How far before its saved cursor a catch-up pull reads: the skew between senders' clocks
/// (and publishes delayed by a failing node) that is tolerated without loss.
pub(crate) const CATCH_UP_NS: u64 = 10 * 60 * 1_000_000_000;

/// Pulls this installation's inbox from the saved cursor (`catch_up`: from
/// [`CATCH_UP_NS`] before it) to the end, storing each page's payloads and the cursor
/// after it in one transaction. The saved cursor never moves back. Returns how many
/// envelopes it read.
pub(crate) async fn pull_inbox<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    catch_up: bool,
) -> Result<usize, SdkError> {
    let topic = Topic::inbox(&ctx.own.borrow().id);
    let saved = saved_cursor(ctx.store).await?;
    let mut pages = match (&saved, catch_up) {
        (Some(saved), true) => QueryPages::new(std::slice::from_ref(&topic), None)
            .from_time(saved.index.sender_time_ns.saturating_sub(CATCH_UP_NS).max(1)),
        _ => QueryPages::new(std::slice::from_ref(&topic), saved.clone()),
    };
    let mut read = 0;
    let mut at = saved;
    while let Some(page) = pages.next_page(ctx.node).await? {
        // The node hands a cursor only while more pages remain; after the last page, resume
        // after its last envelope.
        let cursor = page.next_cursor().cloned().or_else(|| page.envelopes.last().map(cursor_of));
        if let Some(cursor) = cursor {
            if at.as_ref().is_none_or(|at| key(&cursor) > key(at)) {
                at = Some(cursor);
            }
        }
        store_envelopes(ctx.store, &page.envelopes, at.as_ref(), ctx.now()).await?;
        read += page.envelopes.len();
    }
    Ok(read)
}

/// The node's order key of the envelope a cursor points at.
fn key(cursor: &Cursor) -> (u64, &[u8]) {
    (cursor.index.sender_time_ns, &cursor.index.digest)
}

/// The paging cursor just after `envelope`: XMTP nodes index an envelope by its timestamp
/// and sha-256(topic ‖ message).
fn cursor_of(envelope: &Envelope) -> Cursor {
    let digest = Sha256::new()
        .chain_update(envelope.content_topic.as_bytes())
        .chain_update(&envelope.message)
        .finalize()
        .to_vec();
    Cursor { index: IndexCursor { digest, sender_time_ns: envelope.timestamp_ns } }
}

/// Stores envelopes' payloads as `RECEIVED` (a payload whose hash is stored already is left
/// as it is), and the pull cursor if given, in one transaction.
pub(crate) async fn store_envelopes(
    store: &impl Store,
    envelopes: &[Envelope],
    cursor: Option<&Cursor>,
    now_ms: u64,
) -> Result<(), SdkError> {
    let mut changes = Changes::new();
    for envelope in envelopes {
        let hash = payload_hash(&envelope.message);
        let mut record = InboundPayloadRecord {
            hash: hash.clone(),
            state: InboundPayloadState::Received,
            order: order_of(envelope.timestamp_ns),
            received_at_ms: now_ms,
            payload: envelope.message.clone(),
            sender_installation_id: None,
            failure: None,
            detail: None,
            notice_pending: false,
        };
        if envelope.message.len() > MAX_INBOX_PAYLOAD_BYTES {
            // Keep its hash (a replay stays a duplicate), not its bytes.
            record.state = InboundPayloadState::Rejected;
            record.failure = Some(InboundFailure::Oversized);
            record.detail = Some(format!("{} bytes", envelope.message.len()));
            record.payload = Vec::new();
        }
        changes.insert_if_absent(&record)?;
    }
    if let Some(Cursor { index }) = cursor {
        changes.put(&InboxCursorRecord {
            key: INBOX_CURSOR.to_owned(),
            digest: index.digest.clone(),
            sender_time_ns: index.sender_time_ns.to_string(),
        })?;
    }
    Ok(store.save(changes).await?)
}
