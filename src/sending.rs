//! The sending steps, each read → network → compute → one transaction: queue a message,
//! encrypt pending messages for every installation (the seed's processor), and deliver the
//! outbound queue in order.

use std::{cell::RefCell, collections::BTreeSet};

use crate::{
    crypto::{Installation, OlmSession, PickleKey, random_id},
    engine::{
        ConversationRecord, ConversationState, DeliveryUpdate, InstallationRecord, MessageRecord,
        MessageState, OutboundPayloadRecord, OutboundPayloadState, OwnInstallationRecord,
        Recipient, SessionRecord, conversation_id, on_publish_failed, on_published, plan_send,
    },
    error::{ErrorCode, SdkError},
    identity,
    net::{Envelope, NetError, NodeClient},
    store::{Changes, Store, StoreError, index},
    wire::Topic,
};

/// Payloads published per request.
const DELIVERY_BATCH: u32 = 50;
/// Times a step is redone when another writer moved a session under it.
const CONFLICT_RETRIES: u32 = 5;

/// What the processors need, borrowed from the client.
pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    pub(crate) node: &'a NodeClient,
    pub(crate) installation: &'a RefCell<Installation>,
    pub(crate) own: &'a RefCell<OwnInstallationRecord>,
    pub(crate) pickle_key: &'a PickleKey,
    pub(crate) refresh_threshold_ms: u64,
    pub(crate) now_ms: fn() -> u64,
    /// Test hook: make the next commit fail after its first writes.
    pub(crate) fault_next_commit: &'a std::cell::Cell<bool>,
}

/// The conversation with `peer`, inserted as `UNINITIALIZED` if new.
pub(crate) async fn conversation(
    store: &Store,
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

/// Stores a message as `UNINITIALIZED` and returns it once committed.
pub(crate) async fn queue_message(
    store: &Store,
    conversation: &ConversationRecord,
    sender: &str,
    content_type: String,
    content: Vec<u8>,
    now_ms: u64,
) -> Result<MessageRecord, SdkError> {
    let id = random_id().map_err(|e| SdkError::new(ErrorCode::Unsupported, e.to_string()))?;
    let message = MessageRecord {
        id,
        convo_id: conversation.id.clone(),
        sender_address: sender.to_owned(),
        sent_at_ms: now_ms,
        state: MessageState::Uninitialized,
        content_type,
        content,
        failure: None,
    };
    let mut changes = Changes::new();
    changes.insert(&message)?;
    store.save(changes).await?;
    Ok(message)
}

/// Encrypts every `UNINITIALIZED` message, oldest first. Returns how many were committed;
/// stops at the first failure (the message stays queued for the next pass).
pub(crate) async fn encrypt_pending(ctx: &Context<'_>) -> Result<usize, SdkError> {
    let mut done = 0;
    loop {
        let pending = ctx
            .store
            .by_index::<MessageRecord>(
                index::MESSAGES_BY_STATE_TIME,
                &(MessageState::Uninitialized, 0),
                &(MessageState::Uninitialized, index::MAX_KEY_NUMBER),
                Some(1),
            )
            .await?;
        let Some(message) = pending.into_iter().next() else { return Ok(done) };
        encrypt_one(ctx, message).await?;
        done += 1;
    }
}

async fn encrypt_one(ctx: &Context<'_>, message: MessageRecord) -> Result<(), SdkError> {
    for _ in 0..CONFLICT_RETRIES {
        // Re-read: another tab may have sent it while this step was redone.
        let Some(message) = ctx.store.get::<MessageRecord>(&message.id).await? else {
            return Ok(());
        };
        if message.state != MessageState::Uninitialized {
            return Ok(());
        }
        let conversation =
            ctx.store.get::<ConversationRecord>(&message.convo_id).await?.ok_or_else(|| {
                SdkError::new(ErrorCode::Storage, "the message's conversation is gone")
            })?;
        let own = ctx.own.borrow().clone();
        if own.revoked {
            return fail_message(ctx.store, &message, "this installation was revoked").await;
        }
        let participants: BTreeSet<String> =
            [own.address.clone(), conversation.peer_address.clone()].into();
        let mut installations: Vec<InstallationRecord> = Vec::new();
        for participant in &participants {
            let address = identity::parse_address(participant)?;
            let now = (ctx.now_ms)();
            let own = ctx.own.borrow().clone();
            let found = identity::installations(
                ctx.store,
                ctx.node,
                &own,
                &address,
                ctx.refresh_threshold_ms,
                now,
            )
            .await?;
            *ctx.own.borrow_mut() = found.own;
            installations.extend(found.installations);
        }
        let peer_reachable = installations.iter().any(|i| i.address == conversation.peer_address);
        if !peer_reachable {
            return fail_message(ctx.store, &message, "the peer has no installations").await;
        }

        let mut recipients = Vec::new();
        for installation in installations {
            let session = match ctx.store.get::<SessionRecord>(&installation.id).await? {
                Some(record) => Some((unpickle(&record, ctx.pickle_key)?, record.version)),
                None => None,
            };
            recipients.push(Recipient { installation, session });
        }
        let step = {
            let installation = ctx.installation.borrow();
            plan_send(
                &installation,
                ctx.pickle_key,
                &message,
                &conversation,
                recipients,
                (ctx.now_ms)(),
            )
        }
        .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))?;

        let mut changes = Changes::new();
        changes.expect_field::<MessageRecord>(
            &message.id,
            "state",
            Some(&MessageState::Uninitialized),
        )?;
        for (id, version) in &step.read_versions {
            changes.expect_version::<SessionRecord>(id, (*version > 0).then_some(*version))?;
        }
        for payload in &step.payloads {
            changes.put(payload)?;
        }
        for session in &step.sessions {
            changes.put(session)?;
        }
        for installation in &step.installations {
            changes.put(installation)?;
        }
        changes.put(&step.message)?.put(&step.conversation)?;
        if ctx.fault_next_commit.replace(false) {
            // The conversation exists, so inserting it fails after every write above.
            changes.insert(&step.conversation)?;
        }
        match ctx.store.save(changes).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SdkError::new(ErrorCode::Storage, "sessions kept changing under the send step"))
}

fn unpickle(record: &SessionRecord, key: &PickleKey) -> Result<OlmSession, SdkError> {
    let text = std::str::from_utf8(&record.pickle)
        .map_err(|_| SdkError::new(ErrorCode::Storage, "a stored session is not a pickle"))?;
    OlmSession::from_encrypted_pickle(text, key)
        .map_err(|e| SdkError::new(ErrorCode::Storage, e.to_string()))
}

async fn fail_message(
    store: &Store,
    message: &MessageRecord,
    reason: &str,
) -> Result<(), SdkError> {
    let failed = MessageRecord {
        state: MessageState::Failed,
        failure: Some(reason.to_owned()),
        ..message.clone()
    };
    let mut changes = Changes::new();
    changes.put(&failed)?;
    Ok(store.save(changes).await?)
}

/// Publishes queued payloads in sequential-id order, in batches, marking them `SENT` (and
/// their messages, once all of a message's payloads are). A failed publish counts an attempt
/// on the batch and returns the error; the same bytes are sent next time.
pub(crate) async fn deliver_pending(store: &Store, node: &NodeClient) -> Result<usize, SdkError> {
    let mut delivered = 0;
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
            return Ok(delivered);
        }
        let envelopes: Vec<Envelope> = batch.iter().map(envelope).collect();
        match node.publish(&envelopes).await {
            Ok(()) => {
                mark_sent(store, &batch).await?;
                delivered += batch.len();
            }
            Err(error) => {
                count_attempt(store, batch, &error).await?;
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
    Envelope {
        content_topic: Topic::inbox(&payload.installation_id).to_string(),
        timestamp_ns: payload.created_at_ms.saturating_mul(1_000_000).saturating_add(seq),
        message: payload.payload.clone(),
    }
}

async fn mark_sent(store: &Store, batch: &[OutboundPayloadRecord]) -> Result<(), SdkError> {
    let (siblings, messages) = batch_messages(store, batch).await?;
    save_update(store, on_published(batch, &siblings, &messages)).await
}

async fn count_attempt(
    store: &Store,
    batch: Vec<OutboundPayloadRecord>,
    error: &NetError,
) -> Result<(), SdkError> {
    let (_, messages) = batch_messages(store, &batch).await?;
    let update = on_publish_failed(&batch, &messages, &error.to_string(), error.is_retryable());
    save_update(store, update).await
}

/// Retries (`retry = true`) or cancels message `id`, in one transaction.
pub(crate) async fn requeue(store: &Store, id: &str, retry: bool) -> Result<(), SdkError> {
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
    save_update(store, update).await
}

/// Every payload of the batch's messages, and those messages.
async fn batch_messages(
    store: &Store,
    batch: &[OutboundPayloadRecord],
) -> Result<(Vec<OutboundPayloadRecord>, Vec<MessageRecord>), SdkError> {
    let ids: BTreeSet<&String> = batch.iter().flat_map(|p| &p.message_ids).collect();
    let (mut siblings, mut messages) = (Vec::new(), Vec::new());
    for id in ids {
        siblings.extend(
            store
                .by_index::<OutboundPayloadRecord>(index::OUTBOUND_BY_MESSAGE, id, id, None)
                .await?,
        );
        messages.extend(store.get::<MessageRecord>(id).await?);
    }
    Ok((siblings, messages))
}

async fn save_update(store: &Store, update: DeliveryUpdate) -> Result<(), SdkError> {
    let mut changes = Changes::new();
    for payload in &update.payloads {
        changes.put(payload)?;
    }
    for message in &update.messages {
        changes.put(message)?;
    }
    Ok(store.save(changes).await?)
}
