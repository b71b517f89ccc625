//! The process step: stored `RECEIVED` payloads, in envelope order, decrypted (or recorded
//! as failed or refused, with their reasons) in groups, each group's results committed in one
//! transaction. A payload that cannot be used never holds up the ones behind it.
//!
//! A group reads what its payloads need at once: each sender installation verified and its
//! sessions read and unpickled once, then every conversation and message the payloads touch
//! in one read each; the payloads are planned in order in memory (a later one sees the
//! sessions, messages and markers an earlier one left), and the sessions are pickled once,
//! at the commit.

use super::{
    context::{
        Context, TRIES, both, commit, order_of, reject, saved_cursor, stops_the_pass,
        verified_sender, waits,
    },
    notice,
};
use crate::{
    collections::{VecMap, VecSet},
    engine::{
        ConversationRecord, InboundFailure, InboundPayloadRecord, InboundPayloadState,
        InstallationRecord, MessageRecord, Rejection, SenderKeys, SessionRecord, conversation_id,
        marker_id, parse_inbound, plan_decryption_failure, plan_receive, verify_payload,
    },
    error::SdkError,
    net::Node,
    store::{Changes, Store, index},
    wire::{InboxPayload, Plaintext},
};

/// Payloads read from the `RECEIVED` queue at a time, and processed as one group.
const PROCESS_BATCH: u32 = 32;

/// Most payloads processed at a time: a flood waits for the next pass (due at once) instead
/// of holding up the pass's other steps (sending) for as long as it lasts.
pub(super) const MAX_PER_PASS: usize = 256;

/// Processes every `RECEIVED` payload up to what the inbox is known whole to, in envelope
/// order, in groups. A payload that cannot be used is recorded with its reason and never
/// holds up the ones behind it: a group that errors is redone one payload at a time, and a
/// payload whose processing keeps erroring is refused; one that waits for the network is
/// passed over until the next pass. Only an error of the environment (the database
/// unavailable or full, the client closed) stops the pass.
pub(crate) async fn process_received<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<(), SdkError> {
    let Some(upto) = processable_upto(ctx).await? else { return Ok(()) };
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
        for group in groups(queue) {
            done += group.len();
            let waiting = match process_group(ctx, &group, None).await {
                Ok(outcome) => {
                    ctx.changed(outcome.changed);
                    outcome.waiting
                }
                Err(e) if stops_the_pass(&e) => return Err(e),
                // One payload's error fails its group: alone, it fails by itself (the group's
                // try counts as each payload's first).
                Err(_) => {
                    let mut waiting = Vec::new();
                    for payload in group {
                        match process_isolated(ctx, &payload, TRIES - 1).await {
                            Ok(changed) => ctx.changed(changed),
                            Err(e) if stops_the_pass(&e) => return Err(e),
                            Err(e) => waiting.push((payload.hash, e)),
                        }
                    }
                    waiting
                }
            };
            for (hash, e) in waiting {
                skipped.push(hash);
                first_error.get_or_insert(e);
            }
        }
    }
    if done >= MAX_PER_PASS {
        ctx.more.set(true);
    }
    first_error.map_or(Ok(()), Err)
}

/// The last envelope order that may be processed: up to the saved cursor, or up to what was
/// read in full since the stream last connected (see `InboxStream::read_upto_ns`). A payload
/// past both may have a gap before it that only a pull fills.
async fn processable_upto<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<Option<String>, SdkError> {
    let pulled = saved_cursor(ctx.store).await?.map(|c| c.index.sender_time_ns);
    let read = ctx.stream.read_upto_ns.get();
    Ok(pulled.max(read).map(order_of))
}

/// The queue cut into groups: runs of payloads in order, a notice alone (answering one reads
/// and writes the sender's sessions by itself).
fn groups(queue: Vec<InboundPayloadRecord>) -> Vec<Vec<InboundPayloadRecord>> {
    let mut groups: Vec<Vec<InboundPayloadRecord>> = Vec::new();
    let mut run = Vec::new();
    for payload in queue {
        if parse_inbound(&payload.payload).is_ok_and(|p| p.notice.is_some()) {
            if !run.is_empty() {
                groups.push(std::mem::take(&mut run));
            }
            groups.push(vec![payload]);
        } else {
            run.push(payload);
        }
    }
    if !run.is_empty() {
        groups.push(run);
    }
    groups
}

/// Processes one payload alone, trying up to `tries` more times; if it keeps failing, it is
/// refused (`PROCESSING_FAILED`) so that it never blocks the queue again.
async fn process_isolated<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    payload: &InboundPayloadRecord,
    tries: u32,
) -> Result<Vec<String>, SdkError> {
    let alone = std::slice::from_ref(payload);
    let mut last = None;
    for _ in 0..tries {
        match process_group(ctx, alone, None).await {
            Ok(outcome) => return outcome.into_result(),
            Err(e) if waits(&e) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    let detail = last.map(|e| e.code.as_str().to_owned() + ": " + &e.message).unwrap_or_default();
    let refused = Rejection { failure: InboundFailure::ProcessingFailed, detail };
    process_group(ctx, alone, Some(&refused)).await?.into_result()
}

/// What a group's commit did.
#[derive(Default)]
struct Outcome {
    /// The messages it wrote (for the app's stream).
    changed: Vec<String>,
    /// Payloads left as they are until a later pass, with why: their sender could not be
    /// checked now (the node unreachable, an account fetched just before).
    waiting: Vec<(String, SdkError)>,
}

impl Outcome {
    /// The messages written, or why the (one) payload waits.
    fn into_result(self) -> Result<Vec<String>, SdkError> {
        match self.waiting.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(self.changed),
        }
    }
}

/// Processes `group` (or, with `refused`, records every payload of it as refused) in one
/// transaction, which re-checks that each payload is still `RECEIVED` and each session read
/// is still at its version; if one moved, the group is redone from fresh reads.
async fn process_group<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    group: &[InboundPayloadRecord],
    refused: Option<&Rejection>,
) -> Result<Outcome, SdkError> {
    let redone = std::cell::Cell::new(false);
    commit(ctx.store, "the payloads' records", || async {
        // The listed records first; once redone, what is stored now.
        let stored = if redone.replace(true) {
            let mut hashes = Vec::with_capacity(group.len());
            for payload in group {
                hashes.push(payload.hash.clone());
            }
            ctx.store.get_many::<InboundPayloadRecord>(&hashes).await?
        } else {
            let mut listed = Vec::with_capacity(group.len());
            for payload in group {
                listed.push(Some(payload.clone()));
            }
            listed
        };
        let received = InboundPayloadState::Received;
        let mut records = Vec::with_capacity(stored.len());
        for record in stored.into_iter().flatten() {
            if record.state == received {
                records.push(record);
            }
        }
        let mut changes = Changes::new();
        for record in &records {
            changes.expect_field::<InboundPayloadRecord>(&record.hash, "state", Some(&received))?;
        }
        if let Some(rejection) = refused {
            for record in &records {
                reject(&mut changes, record, rejection)?;
            }
            return Ok((changes, Outcome::default()));
        }
        // Boxed: a state machine of its own is less wasm.
        let outcome = Box::pin(plan_group(ctx, records, &mut changes)).await?;
        Ok((changes, outcome))
    })
    .await
}

#[path = "process_sessions.rs"]
mod sessions;
use sessions::{held_sessions, open, session_record};

/// A claimed sender installation, as a group found it.
enum Sender {
    /// Verified: its record and keys.
    Verified(Box<(InstallationRecord, SenderKeys)>),
    /// Refused, for every payload claiming it.
    Refused(Rejection),
    /// Not checkable now (the node, a fetch just before): its payloads wait.
    Waits(SdkError),
}

/// A payload opened (or not) by its verified sender's sessions, to be planned once the
/// records it touches are read.
enum Opening {
    /// It did not decrypt: a marker, and a notice to the sender.
    Undecryptable { sender: String, rejection: Rejection },
    /// Opened and checked: its message, in its conversation.
    Opened { sender: String, plaintext: Box<Plaintext>, message_id: String, convo_id: String },
}

/// Adds what processing `records` (in order) writes to `changes`; returns what it touched
/// and which payloads wait.
async fn plan_group<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    mut records: Vec<InboundPayloadRecord>,
    changes: &mut Changes,
) -> Result<Outcome, SdkError> {
    let mut outcome = Outcome::default();
    let own_id = ctx.own.borrow().id.clone();
    let own_address = ctx.own.borrow().address.clone();
    let now = ctx.now();

    // Who each payload claims to be from; each claimed sender verified once.
    let mut parsed = Vec::with_capacity(records.len());
    let mut senders: VecMap<(String, String), Sender> = VecMap::new();
    for record in &mut records {
        let payload = parse_inbound(&record.payload);
        if let Ok(payload) = &payload {
            record.sender_installation_id = Some(payload.sender_installation_id.clone());
            let claimed = claimed_by(payload);
            if !senders.contains_key(&claimed) {
                let sender = match verified_sender(ctx, &claimed.0, &claimed.1).await {
                    Ok(Ok(sender)) => match SenderKeys::of(&sender) {
                        Ok(keys) => Sender::Verified(Box::new((sender, keys))),
                        Err(rejection) => Sender::Refused(rejection),
                    },
                    Ok(Err(rejection)) => Sender::Refused(rejection),
                    Err(e) if waits(&e) && !stops_the_pass(&e) => Sender::Waits(e),
                    Err(e) => return Err(e),
                };
                senders.insert(claimed, sender);
            }
        }
        parsed.push(payload);
    }

    // The verified senders' sessions, in one read, each checked at its version at the
    // commit; their records, as the group updates them.
    let mut installations: Vec<InstallationRecord> = Vec::new();
    let mut ids = Vec::new();
    for sender in senders.values() {
        if let Sender::Verified(verified) = sender {
            installations.push(verified.0.clone());
            ids.push(verified.0.id.clone());
        }
    }
    let mut sessions = Vec::with_capacity(ids.len());
    if !ids.is_empty() {
        for (id, stored) in ids.iter().zip(ctx.store.get_many::<SessionRecord>(&ids).await?) {
            changes.expect_version::<SessionRecord>(id, stored.as_ref().map(|s| s.version))?;
            sessions.push(held_sessions(ctx, id, stored));
        }
    }
    let mut installations_changed = VecSet::new();

    // Opened in order, each on the sessions the ones before it left.
    let mut openings = Vec::new();
    for (i, payload) in parsed.into_iter().enumerate() {
        let record = &records[i];
        let payload = match payload {
            Ok(payload) => payload,
            Err(rejection) => {
                reject(changes, record, &rejection)?;
                continue;
            }
        };
        let (sender, keys) = match senders.get(&claimed_by(&payload)) {
            Some(Sender::Verified(verified)) => (&verified.0, &verified.1),
            Some(Sender::Refused(rejection)) => {
                reject(changes, record, rejection)?;
                continue;
            }
            Some(Sender::Waits(e)) => {
                outcome.waiting.push((record.hash.clone(), e.clone()));
                continue;
            }
            None => continue,
        };
        if payload.notice.is_some() {
            // Alone in its group (see `groups`): it reads and writes the sessions itself.
            let plan = notice::plan_notice(ctx, record, &payload, sender, keys, changes);
            outcome.changed.extend(Box::pin(plan).await?);
            continue;
        }
        // Authenticated before anything is shown or asked of the claimed sender.
        if let Err(rejection) = verify_payload(&own_id, &payload, keys) {
            reject(changes, record, &rejection)?;
            continue;
        }
        let Some(held) = sessions.iter_mut().find(|s| s.id == sender.id) else { continue };
        match open(ctx, &own_address, sender, keys, &payload, held, now) {
            Ok((plaintext, message_id, convo_id)) => {
                let sender = sender.id.clone();
                openings.push((i, Opening::Opened { sender, plaintext, message_id, convo_id }));
            }
            Err(rejection) if rejection.failure.is_decryption_failure() => {
                let sender = sender.id.clone();
                openings.push((i, Opening::Undecryptable { sender, rejection }));
            }
            Err(rejection) => {
                reject(changes, record, &rejection)?;
            }
        }
    }

    // Every conversation, message and marker they touch, in one read each.
    let mut convo_ids = VecSet::new();
    let mut message_ids = VecSet::new();
    for (_, opening) in &openings {
        match opening {
            Opening::Undecryptable { sender, .. } => {
                if let Some(sender) = installations.iter().find(|s| &s.id == sender) {
                    convo_ids.insert(conversation_id(&own_address, &sender.address));
                }
            }
            Opening::Opened { plaintext, message_id, convo_id, .. } => {
                convo_ids.insert(convo_id.clone());
                message_ids.insert(message_id.clone());
                for hash in &plaintext.repairs {
                    message_ids.insert(marker_id(hash));
                }
            }
        }
    }
    let (conversations, read_messages) = both(
        read_many::<ConversationRecord, S>(ctx.store, convo_ids),
        read_many::<MessageRecord, S>(ctx.store, message_ids),
    )
    .await;
    let (conversations, read_messages) = (conversations?, read_messages?);
    let messages = read_messages.clone();
    let mut touched = Touched { conversations, read_messages, messages };

    // Planned in order: each sees what the ones before it wrote.
    for (i, opening) in openings {
        let sender_id = match &opening {
            Opening::Undecryptable { sender, .. } | Opening::Opened { sender, .. } => sender,
        };
        let Some(sender) = installations.iter_mut().find(|s| &s.id == sender_id) else {
            continue;
        };
        let plan = Plan { ctx, own_address: &own_address, now, record: &records[i], sender };
        let updated = match opening {
            Opening::Undecryptable { rejection, .. } => {
                plan.undecryptable(&rejection, &mut touched, changes, &mut outcome.changed)?
            }
            Opening::Opened { plaintext, message_id, convo_id, .. } => {
                let ids = (message_id.as_str(), convo_id.as_str());
                plan.opened(&plaintext, ids, &mut touched, changes, &mut outcome.changed)?
            }
        };
        if let Some(installation) = updated {
            installations_changed.insert(installation.id.clone());
            *sender = installation;
        }
    }

    // Each sender's sessions pickled once, and its record once.
    for held in sessions.into_iter().filter(|s| s.used) {
        changes.put(&session_record(ctx, held)?)?;
    }
    for installation in installations.iter().filter(|i| installations_changed.contains(&i.id)) {
        changes.put(installation)?;
    }
    // (A marker written and repaired in the group is named twice.)
    let mut named = VecSet::new();
    for id in std::mem::take(&mut outcome.changed) {
        if named.insert(id.clone()) {
            outcome.changed.push(id);
        }
    }
    Ok(outcome)
}

/// The records a group's payloads touch: as read, and as the payloads planned so far left
/// them (`None`: absent or deleted).
struct Touched {
    conversations: VecMap<String, Option<ConversationRecord>>,
    read_messages: VecMap<String, Option<MessageRecord>>,
    messages: VecMap<String, Option<MessageRecord>>,
}

/// Planning one opened (or undecryptable) payload of a group.
struct Plan<'p, 'c, S, N> {
    ctx: &'p Context<'c, S, N>,
    own_address: &'p str,
    now: u64,
    record: &'p InboundPayloadRecord,
    /// Its sender, as the payloads before it left the record.
    sender: &'p InstallationRecord,
}

impl<S: Store, N: Node> Plan<'_, '_, S, N> {
    /// A payload that did not decrypt: marked failed, a marker shown, the sender asked to
    /// re-send. Returns the sender's record if it changed.
    fn undecryptable(
        &self,
        rejection: &Rejection,
        touched: &mut Touched,
        changes: &mut Changes,
        changed: &mut Vec<String>,
    ) -> Result<Option<InstallationRecord>, SdkError> {
        let convo = conversation_id(self.own_address, &self.sender.address);
        let step = plan_decryption_failure(
            &self.ctx.installation.borrow(),
            self.own_address,
            self.record,
            rejection,
            self.sender,
            touched.conversations.get(&convo).and_then(Option::as_ref),
            self.now,
        );
        changes.put(&step.payload)?;
        if let Some(marker) = step.marker {
            changes.put(&marker)?;
            changed.push(marker.id.clone());
            touched.messages.insert(marker.id.clone(), Some(marker));
        }
        if let Some(conversation) = step.conversation {
            changes.put(&conversation)?;
            touched.conversations.insert(conversation.id.clone(), Some(conversation));
        }
        if let Some(notice) = &step.notice {
            changes.put(notice)?;
        }
        Ok(step.installation)
    }

    /// An opened payload: its message stored (once, whoever re-sent it), the markers it
    /// repairs deleted. Returns the sender's record if it changed.
    fn opened(
        &self,
        plaintext: &Plaintext,
        (message_id, convo_id): (&str, &str),
        touched: &mut Touched,
        changes: &mut Changes,
        changed: &mut Vec<String>,
    ) -> Result<Option<InstallationRecord>, SdkError> {
        let mut markers = Vec::new();
        for hash in &plaintext.repairs {
            if let Some(Some(marker)) = touched.messages.get(&marker_id(hash)) {
                markers.push(marker.clone());
            }
        }
        let step = match plan_receive(
            self.own_address,
            self.record,
            self.sender,
            plaintext,
            touched.conversations.get(convo_id).and_then(Option::as_ref),
            touched.messages.get(message_id).and_then(Option::as_ref),
            &markers,
            self.now,
        ) {
            Ok(step) => step,
            Err(rejection) => {
                reject(changes, self.record, &rejection)?;
                return Ok(None);
            }
        };
        changes.put(&step.payload)?;
        if let Some(conversation) = step.conversation {
            changes.put(&conversation)?;
            touched.conversations.insert(conversation.id.clone(), Some(conversation));
        }
        // Still as read (the checks hold before any write of the group).
        let read = touched.read_messages.get(message_id).and_then(Option::as_ref);
        changes.expect_field::<MessageRecord>(&message_id.to_owned(), "id", read.map(|m| &m.id))?;
        // The markers it replaces named first: the app sees them go, then the message.
        for id in step.delete_markers {
            changes.delete::<MessageRecord>(&id)?;
            changed.push(id.clone());
            touched.messages.insert(id, None);
        }
        if let Some(message) = step.message {
            changes.put(&message)?;
            changed.push(message.id.clone());
            touched.messages.insert(message.id.clone(), Some(message));
        }
        Ok(step.installation)
    }
}

/// The (address, installation) a payload claims to come from.
fn claimed_by(payload: &InboxPayload) -> (String, String) {
    (payload.sender_address.clone(), payload.sender_installation_id.clone())
}

/// The records of type `R` at `keys`, read in one go (none read for no keys).
async fn read_many<R: crate::store::Record<Key = String>, S: Store>(
    store: &S,
    keys: VecSet<String>,
) -> Result<VecMap<String, Option<R>>, SdkError> {
    let keys: Vec<String> = keys.into_iter().collect();
    let mut read = VecMap::new();
    if keys.is_empty() {
        return Ok(read);
    }
    let found = store.get_many::<R>(&keys).await?;
    for (key, record) in keys.into_iter().zip(found) {
        read.insert(key, record);
    }
    Ok(read)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "process_tests.rs"]
mod tests;
