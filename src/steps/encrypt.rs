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

/// Messages encrypted and committed in one transaction. The group's reads are a handful
/// whatever its size, so a larger group costs fewer round trips per message; but its
/// encryption runs without a yield (every read is done first), a message that errors
/// redoes the whole group one message at a time, and a session that moved under it redoes
/// it all. 32 halves the reads per message of 16 while each of those costs stays bounded
/// (32 messages times their recipients' encryptions).
const GROUP_SIZE: u32 = 32;

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
        let mut committed = Vec::new();
        // Re-read: another tab may have sent them while this step was redone.
        let ids: Vec<String> = group.iter().map(|m| m.id.clone()).collect();
        let mut queued = Vec::new();
        for message in ctx.store.get_many::<MessageRecord>(&ids).await? {
            queued.extend(message.filter(|m| m.state == MessageState::Uninitialized));
        }
        if let Some(reason) = failed {
            for message in queued {
                let state = Some(&MessageState::Uninitialized);
                changes.expect_field::<MessageRecord>(&message.id, "state", state)?;
                committed.push(message.id.clone());
                let failure = Some(reason.to_owned());
                changes.put(&MessageRecord { state: MessageState::Failed, failure, ..message })?;
            }
            return Ok((changes, committed));
        }
        let reads = GroupReads::read(ctx, &queued).await?;
        plan_group(ctx, queued, reads, &mut changes, &mut committed)?;
        Ok((changes, committed))
    })
    .await?;
    ctx.changed(committed);
    Ok(())
}

/// Plans every message of `queued` in order, each on the sessions the previous one advanced,
/// into `changes`; `committed` names the messages written. (Sync: kept out of the async
/// state machine.)
fn plan_group<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    queued: Vec<MessageRecord>,
    mut reads: GroupReads,
    changes: &mut Changes,
    committed: &mut Vec<String>,
) -> Result<(), SdkError> {
    // Sessions as advanced so far, and the versions first read (None: absent).
    let mut live: BTreeMap<String, SessionUpdate> = BTreeMap::new();
    let mut read: BTreeMap<String, Option<u32>> = BTreeMap::new();
    // Conversations the group changed (or failed a message of).
    let mut conversations: BTreeMap<String, ConversationRecord> = BTreeMap::new();
    for message in queued {
        let conversation = match conversations.remove(&message.convo_id) {
            Some(c) => c,
            None => reads.conversations.get(&message.convo_id).cloned().ok_or_else(|| {
                SdkError::new(ErrorCode::Storage, "a message's conversation is gone")
            })?,
        };
        changes.expect_field::<MessageRecord>(
            &message.id,
            "state",
            Some(&MessageState::Uninitialized),
        )?;
        let installations = match reads.recipients_of(ctx, &conversation) {
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
                    let (stored, version) = reads.take_session(&installation.id);
                    if !read.contains_key(&installation.id) {
                        read.insert(installation.id.clone(), version);
                    }
                    stored
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
    Ok(())
}

/// What a group's messages are encrypted with, read once for the whole group (a handful of
/// transactions, not a handful per message).
#[derive(Default)]
struct GroupReads {
    /// The group's conversations, as stored.
    conversations: BTreeMap<String, ConversationRecord>,
    /// Each participant's installations (refreshed past THRESHOLD), participants in address
    /// order; none if this installation is revoked.
    installations: Vec<(String, Vec<InstallationRecord>)>,
    /// The stored sessions with those installations (but this one), taken out as the group
    /// first uses them.
    sessions: BTreeMap<String, SessionUpdate>,
    /// The version of each of those read (None: absent).
    versions: BTreeMap<String, Option<u32>>,
}

impl GroupReads {
    /// Reads the conversations of `messages`, the installations of both participants of each
    /// (this account and the peers, once each), and the sessions with all of them.
    async fn read<S: Store, N: Node>(
        ctx: &Context<'_, S, N>,
        messages: &[MessageRecord],
    ) -> Result<Self, SdkError> {
        let mut reads = Self::default();
        let mut convo_ids = BTreeSet::new();
        for message in messages {
            convo_ids.insert(message.convo_id.clone());
        }
        let convo_ids: Vec<String> = convo_ids.into_iter().collect();
        let found = ctx.store.get_many::<ConversationRecord>(&convo_ids).await?;
        for conversation in found.into_iter().flatten() {
            reads.conversations.insert(conversation.id.clone(), conversation);
        }
        if ctx.own.borrow().revoked {
            return Ok(reads);
        }
        let mut participants: BTreeSet<String> = [ctx.own.borrow().address.clone()].into();
        participants.extend(reads.conversations.values().map(|c| c.peer_address.clone()));
        let mut ids = Vec::new();
        let this = ctx.own.borrow().id.clone();
        for participant in participants {
            let address = parse_address(&participant)?;
            let found = ctx.installations_of(&address, ctx.refresh_threshold_ms).await?;
            ids.extend(found.iter().filter(|i| i.id != this).map(|i| i.id.clone()));
            reads.installations.push((participant, found));
        }
        let sessions = ctx.sessions_of_each(&ids).await?;
        for (id, stored) in ids.into_iter().zip(sessions) {
            reads.versions.insert(id.clone(), stored.as_ref().map(|s| s.version));
            if let Some(update) = stored {
                reads.sessions.insert(id, update);
            }
        }
        Ok(reads)
    }

    /// The stored sessions with `installation_id` as read above, and the version read. (Every
    /// recipient's were read: one missed would count as absent, and the commit's check of
    /// its version would then refuse to write over a stored one.)
    fn take_session(&mut self, installation_id: &String) -> (Option<SessionUpdate>, Option<u32>) {
        let version = self.versions.get(installation_id).copied().flatten();
        (self.sessions.remove(installation_id), version)
    }

    /// Every installation of both participants of `conversation` but this one, or why a
    /// message in it cannot go out.
    fn recipients_of<S: Store, N: Node>(
        &self,
        ctx: &Context<'_, S, N>,
        conversation: &ConversationRecord,
    ) -> Result<Vec<InstallationRecord>, &'static str> {
        // (A refresh above may have found this installation revoked.)
        let own = ctx.own.borrow();
        if own.revoked {
            return Err("this installation was revoked");
        }
        let mut recipients = Vec::new();
        let mut peer_has_one = false;
        for (participant, installations) in &self.installations {
            if *participant == own.address || *participant == conversation.peer_address {
                for installation in installations {
                    peer_has_one |= installation.address == conversation.peer_address;
                    if installation.id != own.id {
                        recipients.push(installation.clone());
                    }
                }
            }
        }
        if !peer_has_one {
            return Err("the peer has no installations");
        }
        Ok(recipients)
    }
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

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "encrypt_tests.rs"]
mod tests;
