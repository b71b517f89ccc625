//! The encrypt step (the seed's processor): `UNINITIALIZED` messages, oldest first, are
//! encrypted in memory for every installation of both participants (refreshed past
//! THRESHOLD), then committed with their payloads and advanced sessions in one transaction,
//! but only if every session is still at the version read.

use super::context::{Context, TRIES, commit, crypto_error, parse_address, waits};
use crate::{
    collections::{VecMap as BTreeMap, VecSet as BTreeSet},
    engine::{
        ConversationRecord, InstallationRecord, MessageRecord, MessageState, OutboundPayloadRecord,
        Recipient, SessionRecord, SessionUpdate, plan_send,
    },
    error::{ErrorCode, SdkError},
    net::Node,
    store::{Changes, Store, index},
};

/// Encrypts every `UNINITIALIZED` message, oldest first, up to [`GROUP_SIZE`] per
/// transaction (group commit). A message whose encryption errors never stops the others:
/// its group is redone one message at a time, and a message that keeps failing is `FAILED`
/// with the reason. A failure of the network stops the step (the messages stay queued for
/// the next pass: a message waits as long as the node is unreachable).
pub(crate) async fn encrypt_pending<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<(), SdkError> {
    // Passed over in this pass, read past so that the loop never spins on them.
    let mut skipped: Vec<String> = Vec::new();
    loop {
        let limit = GROUP_SIZE.saturating_add(u32::try_from(skipped.len()).unwrap_or(0));
        let mut pending = ctx
            .store
            .by_index::<MessageRecord>(
                index::MESSAGES_BY_STATE_TIME,
                &(MessageState::Uninitialized, 0),
                &(MessageState::Uninitialized, index::MAX_KEY_NUMBER),
                Some(limit),
            )
            .await?;
        pending.retain(|m| !skipped.contains(&m.id));
        if pending.is_empty() {
            return Ok(());
        }
        match encrypt_group(ctx, &pending, None).await {
            Ok(()) => continue,
            Err(e) if waits(&e) => return Err(e),
            Err(_) => {}
        }
        // One message's error fails its group: alone, it fails by itself.
        for message in &pending {
            if let Err(e) = encrypt_alone(ctx, message).await {
                if waits(&e) {
                    return Err(e);
                }
                skipped.push(message.id.clone());
            }
        }
    }
}

/// Encrypts `message` alone, up to [`TRIES`] times; if it keeps failing it is `FAILED`
/// with the reason (the app may retry it).
async fn encrypt_alone<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    message: &MessageRecord,
) -> Result<(), SdkError> {
    let mut last = None;
    for _ in 0..TRIES {
        match encrypt_group(ctx, std::slice::from_ref(message), None).await {
            Ok(()) => return Ok(()),
            Err(e) if waits(&e) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    let reason = last.map(|e| "not encrypted: ".to_owned() + &e.message).unwrap_or_default();
    encrypt_group(ctx, std::slice::from_ref(message), Some(&reason)).await
}

/// Messages encrypted and committed in one transaction.
const GROUP_SIZE: u32 = 16;

/// One group commit: every message of `group` is planned in memory, each on the sessions the
/// previous one advanced, then all are written at once. If a session moved under it (another
/// writer), nothing is written and the group is redone from fresh reads. With `failed`,
/// the messages are `FAILED` with that reason instead.
async fn encrypt_group<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    group: &[MessageRecord],
    failed: Option<&str>,
) -> Result<(), SdkError> {
    let committed = commit(ctx.store, "the sessions", || async {
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
            if let Some(reason) = failed {
                let state = Some(&MessageState::Uninitialized);
                changes.expect_field::<MessageRecord>(&message.id, "state", state)?;
                committed.push(message.id.clone());
                let failure = Some(reason.to_owned());
                changes.put(&MessageRecord { state: MessageState::Failed, failure, ..message })?;
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
                    Some(update) => Some(update),
                    None => {
                        let stored = ctx.sessions_of(&installation.id).await?;
                        let version = stored.as_ref().map(|s| s.update.version);
                        read.entry(installation.id.clone()).or_insert(version);
                        stored.map(|s| s.update)
                    }
                };
                recipients.push(Recipient { installation, session });
            }
            let step = {
                let installation = ctx.installation.borrow();
                plan_send(&installation, &message, &conversation, recipients, ctx.now())
            }
            .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))?;
            for payload in &step.payloads {
                if ctx.faults.corrupt_next_payload.replace(false) {
                    changes.put(&corrupted(&ctx.installation.borrow(), payload))?;
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
            changes.put(&update.to_record(ctx.pickle_key).map_err(crypto_error)?)?;
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
        Ok((changes, committed))
    })
    .await?;
    ctx.changed(committed);
    Ok(())
}

/// `payload` with the last byte of its ciphertext flipped (a test fault): signed again (a
/// broken session, not a forger), it no longer decrypts at the recipient.
fn corrupted(
    this: &crate::crypto::Installation,
    payload: &OutboundPayloadRecord,
) -> OutboundPayloadRecord {
    use prost::Message as _;
    let mut inbox =
        crate::wire::InboxPayload::decode(payload.payload.as_slice()).unwrap_or_default();
    if let Some(last) = inbox.ciphertext.last_mut() {
        *last ^= 1;
    }
    inbox.signature = this.sign(&inbox.signing_bytes(&payload.installation_id));
    let bytes = inbox.encode_to_vec();
    OutboundPayloadRecord {
        payload_hash: Some(crate::wire::payload_hash(&bytes)),
        payload: bytes,
        ..payload.clone()
    }
}

/// Every installation of both participants (refreshed past THRESHOLD), or why the message
/// cannot go out.
async fn recipients_of<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    conversation: &ConversationRecord,
) -> Result<Result<Vec<InstallationRecord>, &'static str>, SdkError> {
    let own = ctx.own.borrow().clone();
    if own.revoked {
        return Ok(Err("this installation was revoked"));
    }
    let participants: BTreeSet<String> = [own.address, conversation.peer_address.clone()].into();
    let mut installations = Vec::new();
    for participant in &participants {
        let address = parse_address(participant)?;
        installations.extend(ctx.installations_of(&address, ctx.refresh_threshold_ms).await?);
    }
    if !installations.iter().any(|i| i.address == conversation.peer_address) {
        return Ok(Err("the peer has no installations"));
    }
    Ok(Ok(installations))
}
