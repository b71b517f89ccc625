//! The pull step: this installation's inbox read from the saved cursor, each page's payloads
//! stored `RECEIVED` (by hash, so an envelope delivered twice is stored once) with the cursor
//! after it, in one transaction. Storing before processing means a reload between the two
//! loses nothing. A streamed envelope is stored the same way, and moves the cursor when the
//! stream connection is covered by a pull (see `InboxStream`).

use sha2::{Digest, Sha256};

use super::context::{Context, InboxStream, order_of, saved_cursor};
use crate::{
    engine::{
        INBOX_CURSOR, InboundFailure, InboundPayloadRecord, InboundPayloadState, InboxCursorRecord,
    },
    error::SdkError,
    net::{Cursor, Envelope, IndexCursor, Node, QueryPages, QueryResponse},
    store::{Changes, Store},
    wire::{MAX_INBOX_PAYLOAD_BYTES, Topic, payload_hash},
};

/// How far before its saved cursor a catch-up pull reads: the skew between senders' clocks
/// (and publishes delayed by a failing node) that is tolerated without loss.
pub(crate) const CATCH_UP_NS: u64 = 10 * 60 * 1_000_000_000;

/// How far ahead of this installation's clock the saved cursor may go. An envelope dated
/// further (a sender's clock far ahead, or a hostile date: anyone may publish to an inbox)
/// is stored and processed but does not move the cursor, which would otherwise put every
/// later envelope behind it, out of a pull's and a catch-up's reach. Well under
/// [`CATCH_UP_NS`], so a catch-up still looks back before this installation's now.
pub(crate) const CURSOR_AHEAD_NS: u64 = 60 * 1_000_000_000;

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
    let limit_ns = cursor_limit_ns(ctx.now());
    let mut read = 0;
    let mut at = saved;
    while let Some(page) = pages.next_page(ctx.node).await? {
        if let Some(cursor) = page_cursor(&page, limit_ns) {
            if at.as_ref().is_none_or(|at| key(&cursor) > key(at)) {
                at = Some(cursor);
            }
        }
        // (Not written if the stream moved the cursor past it meanwhile: it never moves back.)
        let cursor = at.as_ref().filter(|c| newer_than_saved(ctx.stream, c));
        store_envelopes(ctx.store, &page.envelopes, cursor, ctx.now()).await?;
        note_saved(ctx.stream, cursor);
        if let Some(latest) = page.envelopes.iter().map(|e| e.timestamp_ns).max() {
            ctx.stream.read_upto(latest);
        }
        read += page.envelopes.len();
    }
    Ok(read)
}

/// Stores a streamed envelope `RECEIVED`. From a `covered` connection (see `InboxStream`)
/// everything up to it has been read, as after a pull, so it also moves the saved cursor
/// (when newer, and not too far ahead), in the same transaction.
pub(crate) async fn store_streamed(
    stream: &InboxStream,
    store: &impl Store,
    envelope: Envelope,
    covered: bool,
    now_ms: u64,
) -> Result<(), SdkError> {
    let at = envelope.timestamp_ns;
    let cursor = (covered && at <= cursor_limit_ns(now_ms))
        .then(|| cursor_of(&envelope))
        .filter(|c| newer_than_saved(stream, c));
    store_envelopes(store, std::slice::from_ref(&envelope), cursor.as_ref(), now_ms).await?;
    note_saved(stream, cursor.as_ref());
    if covered {
        stream.read_upto(at);
    }
    Ok(())
}

/// The latest envelope time the saved cursor may point at, at `now_ms`.
fn cursor_limit_ns(now_ms: u64) -> u64 {
    now_ms.saturating_mul(1_000_000).saturating_add(CURSOR_AHEAD_NS)
}

/// Where a page leaves the saved cursor: at the node's cursor while more pages remain, after
/// the page's last envelope at the end; but never past `limit_ns`: then after the page's
/// last envelope dated before it, if any.
fn page_cursor(page: &QueryResponse, limit_ns: u64) -> Option<Cursor> {
    // The node hands a cursor only while more pages remain.
    let cursor = page.next_cursor().cloned().or_else(|| page.envelopes.last().map(cursor_of));
    match cursor {
        Some(cursor) if cursor.index.sender_time_ns <= limit_ns => Some(cursor),
        _ => page.envelopes.iter().rev().find(|e| e.timestamp_ns <= limit_ns).map(cursor_of),
    }
}

/// Whether `cursor` lies past the newest cursor saved this session.
fn newer_than_saved(stream: &InboxStream, cursor: &Cursor) -> bool {
    stream.saved.borrow().as_ref().is_none_or(|saved| key(cursor) > key(saved))
}

/// Remembers `cursor` as the newest saved this session, if it is.
fn note_saved(stream: &InboxStream, cursor: Option<&Cursor>) {
    if let Some(cursor) = cursor.filter(|c| newer_than_saved(stream, c)) {
        *stream.saved.borrow_mut() = Some(cursor.clone());
    }
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

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "pull_tests.rs"]
mod tests;
