//! The invariants, checked once the world settled with faults off: what the users were
//! promised, not internal states.
//!
//! - every message whose `send` resolved is shown once on every other installation of both
//!   accounts, with its content, in the sender's order, and is `SENT` at its sender;
//! - every outbound payload is `SENT`;
//! - no received payload failed or was refused, but for as many `BAD_MAC` failures from a
//!   sender as corruptions were injected into its sends; no `UNDECRYPTABLE` marker is left.

use super::{executor::block_on, world::World};
use crate::{
    engine::{
        InboundFailure, InboundPayloadRecord, InboundPayloadState, MessageRecord, MessageState,
        OutboundPayloadRecord, OutboundPayloadState,
    },
    store::{Store, StoreError, inbound_failures},
};

/// What a device's store holds, read once.
struct Snapshot {
    messages: Vec<MessageRecord>,
    outbound: Vec<OutboundPayloadRecord>,
    failures: Vec<InboundPayloadRecord>,
}

fn snapshot(store: &impl Store) -> Result<Snapshot, StoreError> {
    block_on(async {
        Ok(Snapshot {
            messages: store.all::<MessageRecord>().await?,
            outbound: store.all::<OutboundPayloadRecord>().await?,
            failures: inbound_failures(store).await?,
        })
    })
}

/// Whether every device has nothing left to do: no message to encrypt, no payload to
/// publish or process, no notice waiting.
pub(crate) fn settled(world: &World) -> bool {
    world.devices.iter().all(|device| {
        block_on(async {
            let store = &device.store;
            let messages = store.all::<MessageRecord>().await.unwrap_or_default();
            let outbound = store.all::<OutboundPayloadRecord>().await.unwrap_or_default();
            let inbound = store.all::<InboundPayloadRecord>().await.unwrap_or_default();
            !messages.iter().any(|m| m.state == MessageState::Uninitialized)
                && !outbound.iter().any(|p| p.state == OutboundPayloadState::Uninitialized)
                && !inbound
                    .iter()
                    .any(|p| p.state == InboundPayloadState::Received || p.notice_pending)
        })
    })
}

/// Every violation found, one line each.
pub(crate) fn violations(world: &World) -> Vec<String> {
    let mut found = Vec::new();
    let mut snapshots: Vec<Snapshot> =
        match world.devices.iter().map(|d| snapshot(&d.store)).collect() {
            Ok(s) => s,
            Err(e) => return vec![format!("a store could not be read: {e}")],
        };
    for (x, sender) in world.devices.iter().enumerate() {
        // A revoked installation's messages may be refused by those who learnt it first.
        if sender.revoked.get() {
            continue;
        }
        let promised = sender.promised.borrow();
        let at_sender = &snapshots[x];
        for promise in promised.iter() {
            match at_sender.messages.iter().find(|m| m.id == promise.id) {
                Some(m) if m.state == MessageState::Sent => {}
                Some(m) => found.push(format!(
                    "device {x}: its message {} is {:?} ({:?}), not SENT",
                    promise.id, m.state, m.failure
                )),
                None => found.push(format!("device {x}: its message {} is gone", promise.id)),
            }
            for (y, other) in world.devices.iter().enumerate() {
                let involved = other.account == sender.account || other.account == promise.peer;
                if y == x || !involved || other.joined_late || other.revoked.get() {
                    continue;
                }
                let shown: Vec<&MessageRecord> =
                    snapshots[y].messages.iter().filter(|m| m.id == promise.id).collect();
                match shown.as_slice() {
                    [m] if m.content == promise.content && m.sent_at_ms == promise.sent_at_ms => {}
                    [] => {
                        let payloads: Vec<String> = at_sender
                            .outbound
                            .iter()
                            .filter(|p| p.message_ids.contains(&promise.id))
                            .filter(|p| p.installation_id == other.id)
                            .map(|p| format!("{:?} {:?}", p.payload_hash, p.state))
                            .collect();
                        let notices = snapshots[y]
                            .outbound
                            .iter()
                            .filter(|p| p.installation_id == sender.id && p.message_ids.is_empty())
                            .map(|p| format!("{:?}", p.state))
                            .collect::<Vec<_>>();
                        let pending = snapshots[y]
                            .failures
                            .iter()
                            .map(|p| format!("{}:{}", &p.hash[..6], p.notice_pending))
                            .collect::<Vec<_>>();
                        let at_node: Vec<u64> = world
                            .node
                            .envelopes(&crate::wire::Topic::inbox(&other.id).to_string())
                            .iter()
                            .filter(|e| {
                                at_sender.outbound.iter().any(|p| {
                                    p.message_ids.contains(&promise.id) && p.payload == e.message
                                })
                            })
                            .map(|e| e.timestamp_ns)
                            .collect();
                        let cursor = block_on(other.store.get::<crate::engine::InboxCursorRecord>(
                            &crate::engine::INBOX_CURSOR.to_owned(),
                        ))
                        .ok()
                        .flatten()
                        .map(|c| c.sender_time_ns);
                        found.push(format!(
                            "device {y}: message {} from device {x} never shown (payloads to it: \
                             {payloads:?}; notices from it: {notices:?}; failures there: \
                             {pending:?}; at the node at {at_node:?}; its cursor {cursor:?})",
                            promise.id
                        ));
                    }
                    _ => found.push(format!(
                        "device {y}: message {} from device {x} shown wrong",
                        promise.id
                    )),
                }
            }
        }
        // The sender's order in each conversation, as each other device shows its messages.
        for (y, peer) in world
            .devices
            .iter()
            .enumerate()
            .filter(|(y, other)| *y != x && !other.revoked.get())
            .flat_map(|(y, _)| (0..world.wallets.len()).map(move |peer| (y, peer)))
        {
            let sent_order: Vec<&str> =
                promised.iter().filter(|p| p.peer == peer).map(|p| p.id.as_str()).collect();
            let mut shown: Vec<&MessageRecord> = snapshots[y]
                .messages
                .iter()
                .filter(|m| sent_order.contains(&m.id.as_str()))
                .collect();
            shown.sort_by(|a, b| a.sent_at_ms.cmp(&b.sent_at_ms).then_with(|| a.id.cmp(&b.id)));
            let shown: Vec<&str> = shown.iter().map(|m| m.id.as_str()).collect();
            let expected: Vec<&str> =
                sent_order.iter().copied().filter(|id| shown.contains(id)).collect();
            if shown != expected {
                found.push(format!(
                    "device {y}: messages from device {x} to account {peer} out of order"
                ));
            }
        }
        for payload in &at_sender.outbound {
            if payload.state != OutboundPayloadState::Sent {
                found.push(format!(
                    "device {x}: outbound payload {:?} is {:?} ({:?})",
                    payload.seq, payload.state, payload.last_error
                ));
            }
        }
    }
    let hostile = world.hostile.borrow();
    for (y, snapshot) in snapshots.iter_mut().enumerate() {
        // Hostile contacts' junk must be refused, never accepted (then failed to decrypt).
        snapshot.failures.retain(|p| {
            let junk = hostile.contains(&p.hash);
            if junk && p.state != InboundPayloadState::Rejected {
                found.push(format!("device {y}: hostile payload {:?} {:?}", p.state, p.failure));
            }
            !junk
        });
        if world.devices[y].revoked.get() {
            continue;
        }
        // Failures of payloads from a revoked installation are expected once it is gone.
        let from_revoked = |hash: &str| {
            snapshot.failures.iter().any(|p| {
                p.hash == hash
                    && world.devices.iter().any(|d| {
                        d.revoked.get() && p.sender_installation_id.as_deref() == Some(&d.id)
                    })
            })
        };
        let markers = snapshot.messages.iter().filter(|m| m.state == MessageState::Undecryptable);
        for marker in markers.filter(|m| !from_revoked(m.id.trim_start_matches("undecryptable-"))) {
            found.push(format!("device {y}: marker {} left ({:?})", marker.id, marker.failure));
        }
        for (x, sender) in world.devices.iter().enumerate().filter(|(_, d)| !d.revoked.get()) {
            let from_x: Vec<&InboundPayloadRecord> = snapshot
                .failures
                .iter()
                .filter(|p| p.sender_installation_id.as_deref() == Some(sender.id.as_str()))
                .collect();
            let injected =
                from_x.iter().filter(|p| p.failure == Some(InboundFailure::BadMac)).count() as u32;
            if injected > sender.corruptions.get() || from_x.len() as u32 > injected {
                for p in from_x {
                    found.push(format!(
                        "device {y}: payload from device {x} {:?} {:?}: {:?}",
                        p.state, p.failure, p.detail
                    ));
                }
            }
        }
        let unattributed = snapshot.failures.iter().filter(|p| {
            !world.devices.iter().any(|d| p.sender_installation_id.as_deref() == Some(&d.id))
        });
        for p in unattributed {
            found
                .push(format!("device {y}: payload {:?} {:?}: {:?}", p.state, p.failure, p.detail));
        }
    }
    found
}
