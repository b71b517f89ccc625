//! The notice step: a signed decryption-failure notice from a peer installation makes this
//! one drop the session the failed payload went out on and re-send, on a new session,
//! everything it sent on that session from that payload on.

use super::context::{Context, crypto_error, reject};
use crate::{
    collections::{VecMap, VecSet},
    engine::{
        ConversationRecord, InboundPayloadRecord, InboundPayloadState, InstallationRecord,
        MessageRecord, MessageState, OutboundPayloadRecord, Resend, SenderKeys, SessionRecord,
        plan_pending_notices, plan_resend, processed, verify_notice,
    },
    error::{ErrorCode, SdkError},
    net::Node,
    store::{Changes, Store, StoreError, index},
    wire::{InboxPayload, payload_hash},
};

/// The most outbound payloads looked at when re-sending after a notice.
const RESEND_SCAN_LIMIT: u32 = 1000;

/// A decryption-failure notice from `sender`: unless the payload it names was re-sent
/// already, re-send, on a new session, every message that went out to `sender` on that
/// payload's session from that payload on and was not re-sent yet. The new session becomes
/// the current one; the older ones are kept (the peer may still send on them). Re-sends are
/// capped per message, which is what stops two broken peers from looping.
pub(super) async fn plan_notice<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
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
    let Some((from, session_id)) = failed.and_then(|f| Some((f.seq?, f.session_id?))) else {
        return Ok(Vec::new());
    };
    let later: Vec<OutboundPayloadRecord> = ctx
        .store
        .starting_at::<OutboundPayloadRecord>(&from, Some(RESEND_SCAN_LIMIT))
        .await?
        .into_iter()
        .filter(|p| p.installation_id == sender.id)
        .collect();
    let repaired: VecSet<&String> = later.iter().flat_map(|p| &p.repairs).collect();
    let hash_of = |p: &OutboundPayloadRecord| {
        p.payload_hash.clone().unwrap_or_else(|| payload_hash(&p.payload))
    };
    let broken: Vec<&OutboundPayloadRecord> = later
        .iter()
        .filter(|p| p.session_id.as_ref() == Some(&session_id) && !repaired.contains(&hash_of(p)))
        .collect();
    let mut seen = VecSet::new();
    let mut resends = Vec::new();
    for sent in broken {
        for id in &sent.message_ids {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(message) = ctx.store.get::<MessageRecord>(id).await? else { continue };
            // Only what is on its way or went out: a cancelled message, or one the node
            // refused, stays undelivered whoever asks.
            if !matches!(message.state, MessageState::Committed | MessageState::Sent) {
                continue;
            }
            let Some(conversation) = ctx.store.get::<ConversationRecord>(&message.convo_id).await?
            else {
                continue;
            };
            // Only to an installation of the conversation's accounts.
            let own = ctx.own.borrow().address == sender.address;
            if !own && conversation.peer_address != sender.address {
                continue;
            }
            resends.push(Resend {
                message,
                recipient_address: conversation.peer_address,
                failed_payload_hash: hash_of(sent),
            });
        }
    }
    if resends.is_empty() {
        return Ok(Vec::new());
    }
    let stored = ctx.sessions_of(&sender.id).await?;
    changes
        .expect_version::<SessionRecord>(&sender.id, stored.as_ref().map(|s| s.update.version))?;
    let stored = stored.map(|s| (s.update, s.current_pickle));
    let step = plan_resend(&ctx.installation.borrow(), sender, stored, resends, ctx.now())
        .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))?;
    changes.put(&step.session.to_record(ctx.pickle_key).map_err(crypto_error)?)?;
    for payload in &step.payloads {
        changes.put(payload)?;
    }
    for message in &step.messages {
        changes.put(message)?;
    }
    Ok(Vec::new())
}

/// Sends the decryption-failure notices that waited for their sender's interval: for each
/// sender installation whose interval has passed, in one transaction that re-checks the
/// payloads still wait and the installation's last notice time is the one read.
pub(super) async fn send_pending_notices<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
) -> Result<(), SdkError> {
    let failed = InboundPayloadState::Failed;
    let waiting: Vec<InboundPayloadRecord> = ctx
        .store
        .by_index::<InboundPayloadRecord>(
            index::INBOUND_BY_STATE_ORDER,
            &(failed, ""),
            &(failed, "~"),
            None,
        )
        .await?
        .into_iter()
        .filter(|p| p.notice_pending)
        .collect();
    let mut by_sender: VecMap<String, Vec<InboundPayloadRecord>> = VecMap::new();
    for payload in waiting {
        let sender = payload.sender_installation_id.clone().unwrap_or_default();
        by_sender.entry(sender).or_insert(Vec::new()).push(payload);
    }
    let own_address = ctx.own.borrow().address.clone();
    for (sender_id, pending) in &by_sender {
        let pending = pending.clone();
        let mut changes = Changes::new();
        for payload in &pending {
            changes.expect_field::<InboundPayloadRecord>(
                &payload.hash,
                "notice_pending",
                Some(&true),
            )?;
        }
        let Some(sender) = ctx.store.get::<InstallationRecord>(sender_id).await? else {
            // The installation is gone (revoked, expired): nobody to ask.
            for payload in pending {
                changes.put(&InboundPayloadRecord { notice_pending: false, ..payload })?;
            }
            save_unless_moved(ctx, changes).await?;
            continue;
        };
        let plan = plan_pending_notices(
            &ctx.installation.borrow(),
            &own_address,
            &sender,
            pending,
            ctx.now(),
        );
        let Some(plan) = plan else { continue };
        changes.expect_field::<InstallationRecord>(
            &sender.id,
            "last_notice_at_ms",
            Some(&sender.last_notice_at_ms),
        )?;
        for payload in &plan.payloads {
            changes.put(payload)?;
        }
        for notice in &plan.notices {
            changes.put(notice)?;
        }
        changes.put(&plan.installation)?;
        save_unless_moved(ctx, changes).await?;
    }
    Ok(())
}

/// Saves `changes`; if what they were read from moved, the next pass does it again.
async fn save_unless_moved<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    changes: Changes,
) -> Result<(), SdkError> {
    match ctx.store.save(changes).await {
        Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
