//! The receiving steps, each read → network → compute → one transaction: store inbox
//! envelopes (pulled from the saved cursor or streamed), then process the stored payloads in
//! envelope order, one transaction per payload.
//!
//! Storing first means a reload between the two loses nothing: on start, `RECEIVED` payloads
//! are processed before new ones are pulled. A payload's hash is its key, so an envelope
//! delivered twice (a retry, the pull and the stream overlapping, a replay) is stored once.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::{
    engine::{
        ConversationRecord, INBOX_CURSOR, InboundFailure, InboundPayloadRecord,
        InboundPayloadState, InboxCursorRecord, InstallationRecord, MessageRecord, Opened,
        OutboundPayloadRecord, Rejection, Resend, SenderKeys, SessionRecord, SessionUpdate,
        carried_message, conversation_id, marker_id, open_payload, parse_inbound,
        plan_decryption_failure, plan_receive, plan_resend, processed, verify_notice,
    },
    error::{ErrorCode, SdkError},
    identity,
    net::{Cursor, Envelope, IndexCursor},
    sending::{Context, unpickle},
    store::{Changes, Store, StoreError, index},
    wire::{InboxPayload, MAX_INBOX_PAYLOAD_BYTES, Topic, payload_hash},
};

/// Payloads read from the `RECEIVED` queue at a time.
const PROCESS_BATCH: u32 = 32;
/// Times a step is redone when another writer moved what it read.
const CONFLICT_RETRIES: u32 = 5;
/// The most outbound payloads looked at when re-sending after a notice.
const RESEND_SCAN_LIMIT: u32 = 1000;

/// Pulls this installation's inbox from the saved cursor to the end, storing each page's
/// payloads and the cursor after it in one transaction. Returns how many envelopes it read.
pub(crate) async fn pull_inbox(ctx: &Context<'_>) -> Result<usize, SdkError> {
    let topic = Topic::inbox(&ctx.own.borrow().id);
    let saved = ctx.store.get::<InboxCursorRecord>(&INBOX_CURSOR.to_owned()).await?;
    let after = saved.and_then(|c| {
        let sender_time_ns = c.sender_time_ns.parse().ok()?;
        Some(Cursor { index: IndexCursor { digest: c.digest, sender_time_ns } })
    });
    let mut pages = ctx.node.pages(std::slice::from_ref(&topic), after);
    let mut read = 0;
    while let Some(page) = pages.next_page().await? {
        // The node hands a cursor only while more pages remain; after the last page, resume
        // after its last envelope.
        let cursor = page.next_cursor().cloned().or_else(|| page.envelopes.last().map(cursor_of));
        store_envelopes(ctx.store, &page.envelopes, cursor.as_ref(), (ctx.now_ms)()).await?;
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
    store: &Store,
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

/// Processes every `RECEIVED` payload, in envelope order. A payload that cannot be used is
/// recorded with its reason and never holds up the ones behind it; an error of this side
/// (the database, the node while checking a sender) stops the pass, to be retried.
pub(crate) async fn process_received(ctx: &Context<'_>) -> Result<(), SdkError> {
    loop {
        let queue = ctx
            .store
            .by_index::<InboundPayloadRecord>(
                index::INBOUND_BY_STATE_ORDER,
                &(InboundPayloadState::Received, ""),
                &(InboundPayloadState::Received, "~"),
                Some(PROCESS_BATCH),
            )
            .await?;
        if queue.is_empty() {
            return Ok(());
        }
        for payload in queue {
            let changed = process_one(ctx, &payload.hash).await?;
            ctx.changed(changed);
        }
    }
}

/// Processes one stored payload in one transaction (redone if something it read moved).
/// Returns the ids of the messages it wrote.
async fn process_one(ctx: &Context<'_>, hash: &str) -> Result<Vec<String>, SdkError> {
    for _ in 0..CONFLICT_RETRIES {
        let Some(record) = ctx.store.get::<InboundPayloadRecord>(&hash.to_owned()).await? else {
            return Ok(Vec::new());
        };
        if record.state != InboundPayloadState::Received {
            return Ok(Vec::new());
        }
        let mut changes = Changes::new();
        changes.expect_field::<InboundPayloadRecord>(
            &record.hash,
            "state",
            Some(&InboundPayloadState::Received),
        )?;
        // Boxed, like the notice branch below: a state machine of its own is less wasm.
        let messages = Box::pin(plan_payload(ctx, record, &mut changes)).await?;
        match ctx.store.save(changes).await {
            Ok(()) => return Ok(messages),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SdkError::new(ErrorCode::Storage, "records kept changing under the receive step"))
}

/// Adds what processing `record` writes to `changes`; returns the messages it touches.
async fn plan_payload(
    ctx: &Context<'_>,
    mut record: InboundPayloadRecord,
    changes: &mut Changes,
) -> Result<Vec<String>, SdkError> {
    let payload = match parse_inbound(&record.payload) {
        Ok(payload) => payload,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    record.sender_installation_id = Some(payload.sender_installation_id.clone());
    let sender = match sender_installation(ctx, &payload).await? {
        Ok(sender) => sender,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    let keys = match SenderKeys::of(&sender) {
        Ok(keys) => keys,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    if payload.notice.is_some() {
        return Box::pin(plan_notice(ctx, &record, &payload, &sender, &keys, changes)).await;
    }

    let stored = ctx.store.get::<SessionRecord>(&sender.id).await?;
    changes.expect_version::<SessionRecord>(&sender.id, stored.as_ref().map(|s| s.version))?;
    // A stored session that no longer opens (corrupted) counts as lost: the payload fails
    // as UNKNOWN_SESSION and the sender re-sends on a new session, instead of this payload
    // blocking the queue.
    let session = stored.as_ref().and_then(|s| unpickle(s, ctx.pickle_key).ok());
    let read_version = stored.map_or(0, |s| s.version);
    let opened = {
        let mut installation = ctx.installation.borrow_mut();
        open_payload(&mut installation, &payload, &keys, session)
    };
    let own_address = ctx.own.borrow().address.clone();
    let Opened { plaintext, session } = match opened {
        Ok(opened) => opened,
        Err(rejection) if rejection.failure.is_decryption_failure() => {
            let convo = conversation_id(&own_address, &sender.address);
            let conversation = ctx.store.get::<ConversationRecord>(&convo).await?;
            let step = plan_decryption_failure(
                &ctx.installation.borrow(),
                &own_address,
                &record,
                &rejection,
                &sender,
                conversation.as_ref(),
                (ctx.now_ms)(),
            );
            changes.put(&step.payload)?;
            let mut touched = Vec::new();
            if let Some(marker) = &step.marker {
                changes.put(marker)?;
                touched.push(marker.id.clone());
            }
            if let Some(conversation) = &step.conversation {
                changes.put(conversation)?;
            }
            if let Some(notice) = &step.notice {
                changes.put(notice)?;
            }
            if let Some(installation) = &step.installation {
                changes.put(installation)?;
            }
            return Ok(touched);
        }
        Err(rejection) => return reject(changes, &record, &rejection),
    };

    // Read what the carried message touches, then plan from those reads.
    let (message, _) = match carried_message(&own_address, &sender.address, &plaintext) {
        Ok(found) => found,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    let conversation = ctx.store.get::<ConversationRecord>(&message.convo_id).await?;
    let existing = ctx.store.get::<MessageRecord>(&message.id).await?;
    let mut markers = Vec::new();
    for hash in &plaintext.repairs {
        markers.extend(ctx.store.get::<MessageRecord>(&marker_id(hash)).await?);
    }
    let step = match plan_receive(
        &own_address,
        &record,
        &sender,
        &plaintext,
        conversation.as_ref(),
        existing.as_ref(),
        &markers,
        (ctx.now_ms)(),
    ) {
        Ok(step) => step,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    changes.put(&step.payload)?;
    if let Some(conversation) = &step.conversation {
        changes.put(conversation)?;
    }
    changes.expect_field::<MessageRecord>(&message.id, "id", existing.as_ref().map(|m| &m.id))?;
    let mut touched = step.delete_markers.clone();
    if let Some(message) = &step.message {
        changes.put(message)?;
        touched.push(message.id.clone());
    }
    for id in &step.delete_markers {
        changes.delete::<MessageRecord>(id)?;
    }
    if let Some(installation) = &step.installation {
        changes.put(installation)?;
    }
    let update = SessionUpdate {
        installation_id: sender.id.clone(),
        version: read_version.saturating_add(1),
        session,
    };
    changes.put(&update.to_record(ctx.pickle_key).map_err(identity::crypto_error)?)?;
    Ok(touched)
}

/// Records `record` as `REJECTED` with the reason.
fn reject(
    changes: &mut Changes,
    record: &InboundPayloadRecord,
    rejection: &Rejection,
) -> Result<Vec<String>, SdkError> {
    changes.put(&processed(record, InboundPayloadState::Rejected, Some(rejection)))?;
    Ok(Vec::new())
}

/// The installation the payload claims to come from, verified to belong to the claimed
/// account. An installation not known here is looked up on the node first (it may be new).
async fn sender_installation(
    ctx: &Context<'_>,
    payload: &InboxPayload,
) -> Result<Result<InstallationRecord, Rejection>, SdkError> {
    let id = &payload.sender_installation_id;
    let forged = |owner: &str| Rejection {
        failure: InboundFailure::ForgedSender,
        detail: format!("installation {id} belongs to {owner}, not {}", payload.sender_address),
    };
    if let Some(known) = ctx.store.get::<InstallationRecord>(id).await? {
        if known.address != payload.sender_address {
            return Ok(Err(forged(&known.address)));
        }
        return Ok(Ok(known));
    }
    let address = identity::parse_address(&payload.sender_address)?;
    let own = ctx.own.borrow().clone();
    let found =
        identity::installations(ctx.store, ctx.node, &own, &address, 0, (ctx.now_ms)()).await?;
    *ctx.own.borrow_mut() = found.own;
    if let Some(installation) = found.installations.into_iter().find(|i| i.id == *id) {
        return Ok(Ok(installation));
    }
    Ok(Err(Rejection {
        failure: InboundFailure::UnknownSender,
        detail: format!("{} has no installation {id}", payload.sender_address),
    }))
}

/// A decryption-failure notice from `sender`: if it names a payload this installation sent
/// it on the current session, drop that session and re-send everything that went out on it
/// from that payload on, on a new session. A notice about an older session changes nothing
/// (the re-send happened already), which is what stops two broken peers from looping.
async fn plan_notice(
    ctx: &Context<'_>,
    record: &InboundPayloadRecord,
    payload: &InboxPayload,
    sender: &InstallationRecord,
    keys: &SenderKeys,
    changes: &mut Changes,
) -> Result<Vec<String>, SdkError> {
    let own_id = ctx.own.borrow().id.clone();
    let hash = match verify_notice(&own_id, payload, keys) {
        Ok(hash) => hash,
        Err(rejection) => return reject(changes, record, &rejection),
    };
    changes.put(&processed(record, InboundPayloadState::Processed, None))?;
    let failed = ctx
        .store
        .by_index::<OutboundPayloadRecord>(index::OUTBOUND_BY_HASH, &hash, &hash, None)
        .await?
        .into_iter()
        .find(|p| p.installation_id == sender.id);
    let Some(SessionRecordAndId { record: current, session_id }) =
        current_session(ctx, &sender.id).await?
    else {
        return Ok(Vec::new());
    };
    let Some(failed) = failed.filter(|f| f.session_id.as_ref() == Some(&session_id)) else {
        return Ok(Vec::new());
    };
    let Some(from) = failed.seq else { return Ok(Vec::new()) };
    let broken: Vec<OutboundPayloadRecord> = ctx
        .store
        .from_key::<OutboundPayloadRecord>(&from, Some(RESEND_SCAN_LIMIT))
        .await?
        .into_iter()
        .filter(|p| p.installation_id == sender.id && p.session_id.as_ref() == Some(&session_id))
        .collect();
    let mut seen = BTreeSet::new();
    let mut resends = Vec::new();
    for sent in &broken {
        for id in &sent.message_ids {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(message) = ctx.store.get::<MessageRecord>(id).await? else { continue };
            let Some(conversation) = ctx.store.get::<ConversationRecord>(&message.convo_id).await?
            else {
                continue;
            };
            resends.push(Resend {
                message,
                recipient_address: conversation.peer_address,
                failed_payload_hash: sent
                    .payload_hash
                    .clone()
                    .unwrap_or_else(|| payload_hash(&sent.payload)),
            });
        }
    }
    let step =
        plan_resend(&ctx.installation.borrow(), sender, current.version, resends, (ctx.now_ms)())
            .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))?;
    changes.expect_version::<SessionRecord>(&sender.id, Some(current.version))?;
    changes.put(&step.session.to_record(ctx.pickle_key).map_err(identity::crypto_error)?)?;
    for payload in &step.payloads {
        changes.put(payload)?;
    }
    for message in &step.messages {
        changes.put(message)?;
    }
    Ok(Vec::new())
}

struct SessionRecordAndId {
    record: SessionRecord,
    session_id: String,
}

/// The stored session with `installation_id`, and its Olm session id.
async fn current_session(
    ctx: &Context<'_>,
    installation_id: &str,
) -> Result<Option<SessionRecordAndId>, SdkError> {
    let Some(record) = ctx.store.get::<SessionRecord>(&installation_id.to_owned()).await? else {
        return Ok(None);
    };
    let session_id = unpickle(&record, ctx.pickle_key)?.session_id();
    Ok(Some(SessionRecordAndId { record, session_id }))
}
