//! The sending steps, each read → network → compute → one transaction: queue a message,
//! encrypt pending messages for every installation (the seed's processor), and deliver the
//! outbound queue in order.

use std::cell::{Cell, RefCell};

use crate::{
    collections::{VecMap as BTreeMap, VecSet as BTreeSet},
    crypto::{Installation, OlmSession, PickleKey, random_id},
    engine::{
        ConversationRecord, ConversationState, DeliveryUpdate, InstallationRecord, MessageRecord,
        MessageState, OutboundPayloadRecord, OutboundPayloadState, OwnInstallationRecord,
        Recipient, SessionRecord, SessionUpdate, conversation_id, on_publish_failed, on_published,
        plan_send,
    },
    error::{ErrorCode, SdkError},
    identity,
    net::{Envelope, NodeClient},
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
    /// Drop each payload's bytes once the node acknowledged it (the hash stays).
    pub(crate) delete_sent_payloads: bool,
    /// Faults the browser tests inject.
    pub(crate) faults: &'a Faults,
    /// Messages whose records the steps of this pass changed (for the app's stream).
    pub(crate) changed: RefCell<Vec<String>>,
}

impl Context<'_> {
    /// Notes messages a step changed (after its commit).
    pub(crate) fn changed(&self, ids: impl IntoIterator<Item = String>) {
        self.changed.borrow_mut().extend(ids);
    }
}

/// Faults the browser tests inject (through the `test-export` hooks); all off otherwise.
#[derive(Default)]
pub(crate) struct Faults {
    /// The next send commit fails after its first writes.
    pub(crate) fail_next_commit: Cell<bool>,
    /// The next encrypted payload has a byte of its ciphertext flipped.
    pub(crate) corrupt_next_payload: Cell<bool>,
    /// Inbox payloads are stored but not processed.
    pub(crate) hold_inbound: Cell<bool>,
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
        resends: 0,
    };
    let mut changes = Changes::new();
    changes.insert(&message)?;
    store.save(changes).await?;
    Ok(message)
}

/// Encrypts every `UNINITIALIZED` message, oldest first, up to [`GROUP_SIZE`] per
/// transaction (group commit). Stops at the first failure (the messages stay queued for the
/// next pass).
pub(crate) async fn encrypt_pending(ctx: &Context<'_>) -> Result<(), SdkError> {
    loop {
        let pending = ctx
            .store
            .by_index::<MessageRecord>(
                index::MESSAGES_BY_STATE_TIME,
                &(MessageState::Uninitialized, 0),
                &(MessageState::Uninitialized, index::MAX_KEY_NUMBER),
                Some(GROUP_SIZE),
            )
            .await?;
        if pending.is_empty() {
            return Ok(());
        }
        encrypt_group(ctx, &pending).await?;
    }
}

/// Messages encrypted and committed in one transaction.
const GROUP_SIZE: u32 = 16;

/// One group commit: every message of `group` is planned in memory, each on the sessions the
/// previous one advanced, then all are written at once. If a session moved under it (another
/// writer), nothing is written and the group is redone from fresh reads.
async fn encrypt_group(ctx: &Context<'_>, group: &[MessageRecord]) -> Result<(), SdkError> {
    'attempt: for _ in 0..CONFLICT_RETRIES {
        let mut changes = Changes::new();
        // Sessions as advanced so far, and the versions first read (None: absent).
        let mut live: BTreeMap<String, SessionUpdate> = BTreeMap::new();
        let mut read: BTreeMap<String, Option<u32>> = BTreeMap::new();
        let mut conversations: BTreeMap<String, ConversationRecord> = BTreeMap::new();
        let mut committed = Vec::new();
        for queued in group {
            // Re-read: another tab may have sent it while this step was redone.
            let Some(message) = ctx.store.get::<MessageRecord>(&queued.id).await? else {
                continue;
            };
            if message.state != MessageState::Uninitialized {
                continue;
            }
            let conversation = match conversations.remove(&message.convo_id) {
                Some(c) => c,
                None => ctx.store.get::<ConversationRecord>(&message.convo_id).await?.ok_or_else(
                    || SdkError::new(ErrorCode::Storage, "a message's conversation is gone"),
                )?,
            };
            changes.expect_field::<MessageRecord>(
                &message.id,
                "state",
                Some(&MessageState::Uninitialized),
            )?;
            let installations = match recipients_of(ctx, &conversation).await? {
                Ok(installations) => installations,
                Err(reason) => {
                    committed.push(message.id.clone());
                    changes.put(&MessageRecord {
                        state: MessageState::Failed,
                        failure: Some(reason.to_owned()),
                        ..message
                    })?;
                    conversations.insert(conversation.id.clone(), conversation);
                    continue;
                }
            };
            let mut recipients = Vec::new();
            for installation in installations {
                let session = match live.remove(&installation.id) {
                    Some(update) => Some((update.session, update.version)),
                    None => match ctx.store.get::<SessionRecord>(&installation.id).await? {
                        Some(record) => {
                            read.entry(installation.id.clone()).or_insert(Some(record.version));
                            Some((unpickle(&record, ctx.pickle_key)?, record.version))
                        }
                        None => {
                            read.entry(installation.id.clone()).or_insert(None);
                            None
                        }
                    },
                };
                recipients.push(Recipient { installation, session });
            }
            let step = {
                let installation = ctx.installation.borrow();
                plan_send(&installation, &message, &conversation, recipients, (ctx.now_ms)())
            }
            .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))?;
            for payload in &step.payloads {
                if ctx.faults.corrupt_next_payload.replace(false) {
                    changes.put(&corrupted(payload))?;
                    continue;
                }
                changes.put(payload)?;
            }
            for installation in &step.installations {
                changes.put(installation)?;
            }
            changes.put(&step.message)?;
            for update in step.sessions {
                live.insert(update.installation_id.clone(), update);
            }
            conversations.insert(step.conversation.id.clone(), step.conversation);
            committed.push(step.message.id.clone());
        }
        for (id, version) in &read {
            changes.expect_version::<SessionRecord>(id, *version)?;
        }
        for update in live.values() {
            changes.put(&update.to_record(ctx.pickle_key).map_err(identity::crypto_error)?)?;
        }
        for conversation in conversations.values() {
            changes.put(conversation)?;
        }
        if ctx.faults.fail_next_commit.replace(false) {
            // An existing conversation: inserting it fails after every write above.
            if let Some(conversation) = conversations.values().next() {
                changes.insert(conversation)?;
            }
        }
        match ctx.store.save(changes).await {
            Ok(()) => {
                ctx.changed(committed);
                return Ok(());
            }
            Err(StoreError::Conflict { .. }) => continue 'attempt,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SdkError::new(ErrorCode::Storage, "sessions kept changing under the send step"))
}

/// `payload` with the last byte of its ciphertext flipped (a test fault): it no longer
/// authenticates at the recipient.
fn corrupted(payload: &OutboundPayloadRecord) -> OutboundPayloadRecord {
    use prost::Message as _;
    let mut inbox =
        crate::wire::InboxPayload::decode(payload.payload.as_slice()).unwrap_or_default();
    if let Some(last) = inbox.ciphertext.last_mut() {
        *last ^= 1;
    }
    let bytes = inbox.encode_to_vec();
    OutboundPayloadRecord {
        payload_hash: Some(crate::wire::payload_hash(&bytes)),
        payload: bytes,
        ..payload.clone()
    }
}

/// Every installation of both participants (refreshed past THRESHOLD), or why the message
/// cannot go out.
async fn recipients_of(
    ctx: &Context<'_>,
    conversation: &ConversationRecord,
) -> Result<Result<Vec<InstallationRecord>, &'static str>, SdkError> {
    let own = ctx.own.borrow().clone();
    if own.revoked {
        return Ok(Err("this installation was revoked"));
    }
    let participants: BTreeSet<String> = [own.address, conversation.peer_address.clone()].into();
    let mut installations = Vec::new();
    for participant in &participants {
        let address = identity::parse_address(participant)?;
        let own = ctx.own.borrow().clone();
        let found = identity::installations(
            ctx.store,
            ctx.node,
            &own,
            &address,
            ctx.refresh_threshold_ms,
            (ctx.now_ms)(),
        )
        .await?;
        *ctx.own.borrow_mut() = found.own;
        installations.extend(found.installations);
    }
    if !installations.iter().any(|i| i.address == conversation.peer_address) {
        return Ok(Err("the peer has no installations"));
    }
    Ok(Ok(installations))
}

pub(crate) fn unpickle(record: &SessionRecord, key: &PickleKey) -> Result<OlmSession, SdkError> {
    let text = std::str::from_utf8(&record.pickle)
        .map_err(|_| SdkError::new(ErrorCode::Storage, "a stored session is not a pickle"))?;
    OlmSession::from_encrypted_pickle(text, key)
        .map_err(|e| SdkError::new(ErrorCode::Storage, e.to_string()))
}

/// Publishes queued payloads in sequential-id order, in batches, marking them `SENT` (and
/// their messages, once all of a message's payloads are). A failed publish counts an attempt
/// on the batch and returns the error; the same bytes are sent next time.
pub(crate) async fn deliver_pending(ctx: &Context<'_>) -> Result<(), SdkError> {
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
    Envelope {
        content_topic: Topic::inbox(&payload.installation_id).to_string(),
        timestamp_ns: payload.created_at_ms.saturating_mul(1_000_000).saturating_add(seq),
        message: payload.payload.clone(),
    }
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
    Ok(store.save(update_changes(&update)?).await?)
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

async fn save_update(ctx: &Context<'_>, update: DeliveryUpdate) -> Result<(), SdkError> {
    ctx.store.save(update_changes(&update)?).await?;
    ctx.changed(update.messages.into_iter().map(|m| m.id));
    Ok(())
}

fn update_changes(update: &DeliveryUpdate) -> Result<Changes, SdkError> {
    let mut changes = Changes::new();
    for payload in &update.payloads {
        changes.put(payload)?;
    }
    for message in &update.messages {
        changes.put(message)?;
    }
    Ok(changes)
}
