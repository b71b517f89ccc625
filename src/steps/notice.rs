//! The notice step: a signed decryption-failure notice from a peer installation makes this
//! one drop the session the failed payload went out on and re-send, on a new session,
//! everything it sent on that session from that payload on.

use std::collections::BTreeSet;

use super::context::{Context, crypto_error, reject};
use crate::{
    engine::{
        ConversationRecord, InboundPayloadRecord, InboundPayloadState, InstallationRecord,
        MessageRecord, OutboundPayloadRecord, Resend, SenderKeys, SessionRecord, plan_resend,
        processed, verify_notice,
    },
    error::{ErrorCode, SdkError},
    net::Node,
    store::{Changes, Store, index},
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
        .from_key::<OutboundPayloadRecord>(&from, Some(RESEND_SCAN_LIMIT))
        .await?
        .into_iter()
        .filter(|p| p.installation_id == sender.id)
        .collect();
    let repaired: BTreeSet<&String> = later.iter().flat_map(|p| &p.repairs).collect();
    let hash_of = |p: &OutboundPayloadRecord| {
        p.payload_hash.clone().unwrap_or_else(|| payload_hash(&p.payload))
    };
    let broken: Vec<&OutboundPayloadRecord> = later
        .iter()
        .filter(|p| p.session_id.as_ref() == Some(&session_id) && !repaired.contains(&hash_of(p)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut resends = Vec::new();
    for sent in broken {
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
                failed_payload_hash: hash_of(sent),
            });
        }
    }
    if resends.is_empty() {
        return Ok(Vec::new());
    }
    let stored = ctx.sessions_of(&sender.id).await?;
    changes.expect_version::<SessionRecord>(&sender.id, stored.as_ref().map(|s| s.update.version))?;
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
