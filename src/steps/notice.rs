//! The notice step: a signed decryption-failure notice from a peer installation makes this
//! one drop the session the failed payload went out on and re-send, on a new session,
//! everything it sent on that session from that payload on.

use std::collections::BTreeSet;

use super::{
    context::{Context, crypto_error, unpickle},
    process,
};
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

/// A decryption-failure notice from `sender`: if it names a payload this installation sent
/// it on the current session, drop that session and re-send everything that went out on it
/// from that payload on, on a new session. A notice about an older session changes nothing
/// (the re-send happened already), which is what stops two broken peers from looping.
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
        Err(rejection) => return process::reject(changes, record, &rejection),
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
    let step = plan_resend(&ctx.installation.borrow(), sender, current.version, resends, ctx.now())
        .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))?;
    changes.expect_version::<SessionRecord>(&sender.id, Some(current.version))?;
    changes.put(&step.session.to_record(ctx.pickle_key).map_err(crypto_error)?)?;
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
async fn current_session<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    installation_id: &str,
) -> Result<Option<SessionRecordAndId>, SdkError> {
    let Some(record) = ctx.store.get::<SessionRecord>(&installation_id.to_owned()).await? else {
        return Ok(None);
    };
    let session_id = unpickle(&record, ctx.pickle_key)?.session_id();
    Ok(Some(SessionRecordAndId { record, session_id }))
}
