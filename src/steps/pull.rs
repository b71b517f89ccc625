//! The pull step: this installation's inbox read from the saved cursor, each page's payloads
//! stored `RECEIVED` (by hash, so an envelope delivered twice is stored once) with the cursor
//! after it, in one transaction. Storing before processing means a reload between the two
//! loses nothing.

use sha2::{Digest, Sha256};

use super::context::Context;
use crate::{
    engine::{
        INBOX_CURSOR, InboundFailure, InboundPayloadRecord, InboundPayloadState, InboxCursorRecord,
    },
    error::SdkError,
    net::{Cursor, Envelope, IndexCursor, Node, QueryPages},
    store::{Changes, Store},
    wire::{MAX_INBOX_PAYLOAD_BYTES, Topic, payload_hash},
};

/// Pulls this installation's inbox from the saved cursor to the end, storing each page's
/// payloads and the cursor after it in one transaction. Returns how many envelopes it read.
pub(crate) async fn pull_inbox<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<usize, SdkError> {
    let topic = Topic::inbox(&ctx.own.borrow().id);
    let saved = ctx.store.get::<InboxCursorRecord>(&INBOX_CURSOR.to_owned()).await?;
    let after = saved.and_then(|c| {
        let sender_time_ns = c.sender_time_ns.parse().ok()?;
        Some(Cursor { index: IndexCursor { digest: c.digest, sender_time_ns } })
    });
    let mut pages = QueryPages::new(std::slice::from_ref(&topic), after);
    let mut read = 0;
    while let Some(page) = pages.next_page(ctx.node).await? {
        // The node hands a cursor only while more pages remain; after the last page, resume
        // after its last envelope.
        let cursor = page.next_cursor().cloned().or_else(|| page.envelopes.last().map(cursor_of));
        store_envelopes(ctx.store, &page.envelopes, cursor.as_ref(), ctx.now()).await?;
        read += page.envelopes.len();
    }
    Ok(read)
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
            order: format!("{:020}", envelope.timestamp_ns),
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
        changes.insert_if_absent(&hash, &record)?;
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
