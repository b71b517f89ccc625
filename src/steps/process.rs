//! The process step: stored `RECEIVED` payloads, in envelope order, each decrypted (or
//! recorded as failed or refused, with its reason) and its results committed in one
//! transaction. A payload that cannot be used never holds up the ones behind it.

use super::{
    context::{
        Context, TRIES, commit, crypto_error, order_of, reject, saved_cursor, stops_the_pass,
        unpickle, verified_sender, waits,
    },
    notice,
};
use crate::{
    engine::{
        ConversationRecord, InboundFailure, InboundPayloadRecord, InboundPayloadState,
        MessageRecord, Opened, Rejection, SenderKeys, SessionRecord, SessionUpdate,
        carried_message, conversation_id, marker_id, open_payload, parse_inbound,
        plan_decryption_failure, plan_receive, verify_payload,
    },
    error::SdkError,
    net::Node,
    store::{Changes, Store, index},
};

/// Payloads read from the `RECEIVED` queue at a time.
const PROCESS_BATCH: u32 = 32;

/// Most payloads processed at a time: a flood waits for the next pass (due at once) instead
/// of holding up the pass's other steps (sending) for as long as it lasts.
pub(super) const MAX_PER_PASS: usize = 256;

/// Processes every `RECEIVED` payload up to the saved pull cursor, in envelope order. A
/// payload that cannot be used is recorded with its reason and never holds up the ones
/// behind it: one whose processing errors is retried a few times, then refused; one that
/// waits for the network is passed over until the next pass. Only an error of the
/// environment (the database unavailable or full, the client closed) stops the pass.
pub(crate) async fn process_received<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<(), SdkError> {
    // Only what a pull covered: a streamed payload past the cursor may have a gap before it.
    let Some(cursor) = saved_cursor(ctx.store).await? else { return Ok(()) };
    let upto = order_of(cursor.index.sender_time_ns);
    // Passed over in this pass; read past, so the loop never spins on them.
    let mut skipped: Vec<String> = Vec::new();
    let mut first_error = None;
    let mut done = 0;
    while done < MAX_PER_PASS {
        let limit = PROCESS_BATCH.saturating_add(u32::try_from(skipped.len()).unwrap_or(0));
        let mut queue = ctx
            .store
            .by_index::<InboundPayloadRecord>(
                index::INBOUND_BY_STATE_ORDER,
                &(InboundPayloadState::Received, ""),
                &(InboundPayloadState::Received, upto.as_str()),
                Some(limit),
            )
            .await?;
        queue.retain(|p| !skipped.contains(&p.hash));
        if queue.is_empty() {
            break;
        }
        for payload in queue {
            done += 1;
            match process_isolated(ctx, &payload.hash).await {
                Ok(changed) => ctx.changed(changed),
                Err(e) if stops_the_pass(&e) => return Err(e),
                Err(e) => {
                    skipped.push(payload.hash);
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    if done >= MAX_PER_PASS {
        ctx.more.set(true);
    }
    first_error.map_or(Ok(()), Err)
}

/// Processes one payload, trying up to [`TRIES`] times; if it keeps failing, it is refused
/// (`PROCESSING_FAILED`) so that it never blocks the queue again.
async fn process_isolated<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    hash: &str,
) -> Result<Vec<String>, SdkError> {
    let mut last = None;
    for _ in 0..TRIES {
        match process_one(ctx, hash, None).await {
            Ok(changed) => return Ok(changed),
            Err(e) if waits(&e) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    let detail = last.map(|e| e.code.as_str().to_owned() + ": " + &e.message).unwrap_or_default();
    process_one(ctx, hash, Some(&Rejection { failure: InboundFailure::ProcessingFailed, detail }))
        .await
}

/// Processes one stored payload in one transaction (redone if something it read moved), or
/// records it as `refused`. Returns the ids of the messages it wrote.
async fn process_one<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    hash: &str,
    refused: Option<&Rejection>,
) -> Result<Vec<String>, SdkError> {
    commit(ctx.store, "the payload's records", || async {
        let mut changes = Changes::new();
        let Some(record) = ctx.store.get::<InboundPayloadRecord>(&hash.to_owned()).await? else {
            return Ok((changes, Vec::new()));
        };
        if record.state != InboundPayloadState::Received {
            return Ok((changes, Vec::new()));
        }
        changes.expect_field::<InboundPayloadRecord>(
            &record.hash,
            "state",
            Some(&InboundPayloadState::Received),
        )?;
        if let Some(rejection) = refused {
            let none = reject(&mut changes, &record, rejection)?;
            return Ok((changes, none));
        }
        // Boxed, like the notice branch below: a state machine of its own is less wasm.
        let messages = Box::pin(plan_payload(ctx, record, &mut changes)).await?;
        Ok((changes, messages))
    })
    .await
}

/// Adds what processing `record` writes to `changes`; returns the messages it touches.
async fn plan_payload<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    mut record: InboundPayloadRecord,
    changes: &mut Changes,
) -> Result<Vec<String>, SdkError> {
    let payload = match parse_inbound(&record.payload) {
        Ok(payload) => payload,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    record.sender_installation_id = Some(payload.sender_installation_id.clone());
    let claimed = (&payload.sender_address, &payload.sender_installation_id);
    let sender = match verified_sender(ctx, claimed.0, claimed.1).await? {
        Ok(sender) => sender,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    let keys = match SenderKeys::of(&sender) {
        Ok(keys) => keys,
        Err(rejection) => return reject(changes, &record, &rejection),
    };
    if payload.notice.is_some() {
        return Box::pin(notice::plan_notice(ctx, &record, &payload, &sender, &keys, changes))
            .await;
    }
    // Authenticated before anything is shown or asked of the claimed sender.
    let own_id = ctx.own.borrow().id.clone();
    if let Err(rejection) = verify_payload(&own_id, &payload, &keys) {
        return reject(changes, &record, &rejection);
    }

    let stored = ctx.store.get::<SessionRecord>(&sender.id).await?;
    changes.expect_version::<SessionRecord>(&sender.id, stored.as_ref().map(|s| s.version))?;
    let read_version = stored.as_ref().map_or(0, |s| s.version);
    // Every stored session, current first. One that no longer opens (corrupted) counts as
    // lost: if the payload needed it, it fails as UNKNOWN_SESSION and the sender re-sends
    // on a new session, instead of this payload blocking the queue.
    let pickles: Vec<Vec<u8>> = stored
        .map(|s| std::iter::once(s.pickle).chain(s.previous.into_iter().map(|p| p.into_vec())))
        .into_iter()
        .flatten()
        .collect();
    let (pickles, sessions): (Vec<Vec<u8>>, Vec<_>) = pickles
        .into_iter()
        .filter_map(|p| unpickle(&p, ctx.pickle_key).ok().map(|s| (p, s)))
        .unzip();
    let opened = {
        let mut installation = ctx.installation.borrow_mut();
        open_payload(&mut installation, &payload, &keys, sessions)
    };
    let own_address = ctx.own.borrow().address.clone();
    let Opened { plaintext, session, used } = match opened {
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
                ctx.now(),
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
        ctx.now(),
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
    // The session that opened it is the current one from now on; the others are kept.
    let previous = pickles
        .into_iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != used)
        .map(|(_, p)| serde_bytes::ByteBuf::from(p))
        .collect();
    let update = SessionUpdate {
        installation_id: sender.id.clone(),
        version: read_version,
        session,
        previous,
    };
    changes.put(&update.to_record(ctx.pickle_key).map_err(crypto_error)?)?;
    Ok(touched)
}
