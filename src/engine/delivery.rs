//! The outbound queue's transitions: what publishing a batch, or failing to, changes.
//!
//! A payload goes `UNINITIALIZED` → `SENT` on acknowledgement, or → `FAILED` when the node
//! refuses the request itself. Failures that may pass (the network or the node down, a
//! timeout) only count an attempt: like a phone's messenger, a message waits as long as the
//! node is unreachable instead of failing after a few tries. A message goes
//! `COMMITTED` → `SENT` when every one of its payloads is sent, or → `FAILED` with its
//! payload's reason. Pure: the caller reads the records and writes what these return.

use crate::collections::VecSet as BTreeSet;

use super::{MessageRecord, MessageState, OutboundPayloadRecord, OutboundPayloadState};

/// Records a delivery step writes.
#[derive(Debug, Default, PartialEq)]
pub struct DeliveryUpdate {
    /// Payloads with their new state.
    pub payloads: Vec<OutboundPayloadRecord>,
    /// Messages whose state changed.
    pub messages: Vec<MessageRecord>,
}

/// The node acknowledged `batch`. `siblings` are all payloads of the batch's messages (as
/// stored), `messages` those messages. With `drop_bytes`, sent payloads keep only their hash.
pub fn on_published(
    batch: &[OutboundPayloadRecord],
    siblings: &[OutboundPayloadRecord],
    messages: &[MessageRecord],
    drop_bytes: bool,
) -> DeliveryUpdate {
    let sent: BTreeSet<u64> = batch.iter().filter_map(|p| p.seq).collect();
    let is_sent = |p: &OutboundPayloadRecord| {
        p.state == OutboundPayloadState::Sent || p.seq.is_some_and(|s| sent.contains(&s))
    };
    let payloads = batch
        .iter()
        .map(|p| {
            let mut sent = OutboundPayloadRecord { state: OutboundPayloadState::Sent, ..p.clone() };
            if drop_bytes {
                sent.payload_hash = Some(crate::wire::payload_hash(&sent.payload));
                sent.payload = Vec::new();
            }
            sent
        })
        .collect();
    let messages = messages
        .iter()
        .filter(|m| m.state == MessageState::Committed)
        .filter(|m| {
            siblings.iter().filter(|p| p.message_ids.contains(&m.id)).all(is_sent)
                && batch.iter().any(|p| p.message_ids.contains(&m.id))
        })
        .map(|m| MessageRecord { state: MessageState::Sent, ..m.clone() })
        .collect();
    DeliveryUpdate { payloads, messages }
}

/// Publishing `batch` failed with `reason`; `retryable` says whether a later attempt may
/// succeed. `messages` are the batch's messages.
pub fn on_publish_failed(
    batch: &[OutboundPayloadRecord],
    messages: &[MessageRecord],
    reason: &str,
    retryable: bool,
) -> DeliveryUpdate {
    let mut update = DeliveryUpdate::default();
    let mut failed_messages = BTreeSet::new();
    for payload in batch {
        let attempts = payload.attempts.saturating_add(1);
        let failed = !retryable;
        if failed {
            failed_messages.extend(payload.message_ids.iter().cloned());
        }
        update.payloads.push(OutboundPayloadRecord {
            attempts,
            last_error: Some(reason.to_owned()),
            state: if failed { OutboundPayloadState::Failed } else { payload.state },
            ..payload.clone()
        });
    }
    update.messages = messages
        .iter()
        .filter(|m| failed_messages.contains(&m.id) && m.state != MessageState::Failed)
        .map(|m| MessageRecord {
            state: MessageState::Failed,
            failure: Some(format!("delivery failed: {reason}")),
            ..m.clone()
        })
        .collect();
    update
}

/// Why a message cannot be retried or cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Retry needs a `FAILED` message.
    #[error("expected a FAILED message to retry, got {0:?}")]
    NotFailed(MessageState),
    /// Every payload of it already went out.
    #[error("the message was already sent")]
    AlreadySent,
}

/// Cancels a message not yet sent: it and its unsent payloads become `FAILED` ("cancelled").
/// Payloads already published stay published (they cannot be unsent).
pub fn cancel(
    message: &MessageRecord,
    payloads: &[OutboundPayloadRecord],
) -> Result<DeliveryUpdate, QueueError> {
    if matches!(message.state, MessageState::Sent | MessageState::Received) {
        return Err(QueueError::AlreadySent);
    }
    Ok(DeliveryUpdate {
        payloads: payloads
            .iter()
            .filter(|p| p.state == OutboundPayloadState::Uninitialized)
            .map(|p| OutboundPayloadRecord { state: OutboundPayloadState::Failed, ..p.clone() })
            .collect(),
        messages: vec![MessageRecord {
            state: MessageState::Failed,
            failure: Some("cancelled".into()),
            ..message.clone()
        }],
    })
}

/// Queues a `FAILED` message again: its failed payloads go back to the queue with their
/// attempts reset (same bytes), or, if it never got as far as encryption, the message goes
/// back to `UNINITIALIZED`.
pub fn retry(
    message: &MessageRecord,
    payloads: &[OutboundPayloadRecord],
) -> Result<DeliveryUpdate, QueueError> {
    if message.state != MessageState::Failed {
        return Err(QueueError::NotFailed(message.state));
    }
    let state =
        if payloads.is_empty() { MessageState::Uninitialized } else { MessageState::Committed };
    Ok(DeliveryUpdate {
        payloads: payloads
            .iter()
            .filter(|p| p.state == OutboundPayloadState::Failed)
            .map(|p| OutboundPayloadRecord {
                state: OutboundPayloadState::Uninitialized,
                attempts: 0,
                ..p.clone()
            })
            .collect(),
        messages: vec![MessageRecord { state, failure: None, ..message.clone() }],
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn payload(seq: u64, message: &str, state: OutboundPayloadState) -> OutboundPayloadRecord {
        OutboundPayloadRecord {
            seq: Some(seq),
            installation_id: format!("i{seq}"),
            message_ids: vec![message.into()],
            state,
            payload: vec![seq as u8],
            created_at_ms: 1,
            attempts: 0,
            last_error: None,
            payload_hash: None,
            session_id: None,
            repairs: Vec::new(),
        }
    }

    fn message(id: &str, state: MessageState) -> MessageRecord {
        MessageRecord {
            id: id.into(),
            convo_id: "c".into(),
            sender_address: "0xa".into(),
            sent_at_ms: 1,
            state,
            content_type: "text/plain".into(),
            content: vec![],
            failure: None,
            resends: 0,
        }
    }

    #[test]
    fn a_message_is_sent_when_all_its_payloads_are() {
        use OutboundPayloadState::*;
        let (p1, p2, p3) = (
            payload(1, "m", Uninitialized),
            payload(2, "m", Uninitialized),
            payload(3, "n", Uninitialized),
        );
        let (m, n) = (message("m", MessageState::Committed), message("n", MessageState::Committed));
        let siblings = [p1.clone(), p2.clone(), p3.clone()];

        // Only p1 of m's two payloads goes out: m stays COMMITTED.
        let first =
            on_published(std::slice::from_ref(&p1), &siblings, &[m.clone(), n.clone()], false);
        assert_eq!(first.payloads.len(), 1);
        assert_eq!(first.payloads[0].state, Sent);
        assert!(first.messages.is_empty());

        // Then p2 and p3: m (its other payload already SENT) and n are SENT.
        let stored = [OutboundPayloadRecord { state: Sent, ..p1 }, p2.clone(), p3.clone()];
        let second = on_published(&[p2, p3], &stored, &[m, n], true);
        let states: Vec<(&str, MessageState)> =
            second.messages.iter().map(|m| (m.id.as_str(), m.state)).collect();
        assert_eq!(states, [("m", MessageState::Sent), ("n", MessageState::Sent)]);
        // Dropped bytes leave the hash a decryption-failure report names.
        assert!(second.payloads.iter().all(|p| p.payload.is_empty()));
        assert_eq!(
            second.payloads[0].payload_hash.as_deref(),
            Some("dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986")
        );
    }

    #[test]
    fn failed_and_cancelled_messages_are_not_marked_sent() {
        let p = payload(1, "m", OutboundPayloadState::Uninitialized);
        let failed = on_published(
            std::slice::from_ref(&p),
            std::slice::from_ref(&p),
            &[message("m", MessageState::Failed)],
            false,
        );
        assert!(failed.messages.is_empty());
    }

    #[test]
    fn retryable_failures_count_attempts_and_keep_the_message_queued() {
        let mut p = payload(1, "m", OutboundPayloadState::Uninitialized);
        let m = message("m", MessageState::Committed);
        for attempt in 1..=50 {
            let update =
                on_publish_failed(std::slice::from_ref(&p), std::slice::from_ref(&m), "503", true);
            p = update.payloads[0].clone();
            assert_eq!((p.attempts, p.state), (attempt, OutboundPayloadState::Uninitialized));
            assert_eq!(p.last_error.as_deref(), Some("503"));
            assert!(update.messages.is_empty());
        }
    }

    #[test]
    fn cancel_then_retry_requeues_the_same_bytes() {
        let p = payload(1, "m", OutboundPayloadState::Uninitialized);
        let m = message("m", MessageState::Committed);
        let cancelled = cancel(&m, std::slice::from_ref(&p)).unwrap();
        assert_eq!(cancelled.payloads[0].state, OutboundPayloadState::Failed);
        assert_eq!(cancelled.messages[0].failure.as_deref(), Some("cancelled"));

        let retried = retry(&cancelled.messages[0], &cancelled.payloads).unwrap();
        assert_eq!(retried.payloads[0].state, OutboundPayloadState::Uninitialized);
        assert_eq!(retried.payloads[0].payload, p.payload);
        assert_eq!(
            (retried.messages[0].state, retried.messages[0].failure.clone()),
            (MessageState::Committed, None)
        );

        assert_eq!(retry(&m, &[]), Err(QueueError::NotFailed(MessageState::Committed)));
        assert_eq!(cancel(&message("m", MessageState::Sent), &[]), Err(QueueError::AlreadySent));
        let unencrypted = retry(&message("m", MessageState::Failed), &[]).unwrap();
        assert_eq!(unencrypted.messages[0].state, MessageState::Uninitialized);
    }

    #[test]
    fn a_refused_request_fails_at_once() {
        let p = payload(1, "m", OutboundPayloadState::Uninitialized);
        let update =
            on_publish_failed(&[p], &[message("m", MessageState::Committed)], "400", false);
        assert_eq!(update.payloads[0].state, OutboundPayloadState::Failed);
        assert_eq!(update.payloads[0].last_error.as_deref(), Some("400"));
        assert_eq!(update.messages[0].state, MessageState::Failed);
        assert_eq!(update.messages[0].failure.as_deref(), Some("delivery failed: 400"));
    }
}
