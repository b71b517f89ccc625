//! The attacker who pre-empts message ids: Mallory, a wallet of no account of the world,
//! copies the id of a message still on its way into a message of its own, dated earlier, to
//! the same account, so that the genuine copy would look like a duplicate of hers. (A real
//! attacker learns ids from messages sent to her; the simulator lets her read a store.)

use std::rc::Rc;

use super::{
    executor::block_on,
    world::{Wallet, World, create_device, load},
};
use crate::{
    engine::{MessageRecord, MessageState, OutboundPayloadRecord},
    steps::{processor, queue},
    store::{Changes, Store},
};

/// How far before now Mallory dates her message (her clock, her envelopes).
const DATED_BACK_MS: u64 = 30_000;

/// Mallory copies the id of a random message not yet `SENT` into her own message to its
/// sender's peer or to the sender's own account. Returns whether she published it.
pub(crate) fn pre_empt(world: &mut World) -> bool {
    let candidates: Vec<(usize, MessageRecord)> = world
        .devices
        .iter()
        .enumerate()
        .flat_map(|(d, device)| {
            let messages = block_on(device.store.all::<MessageRecord>()).unwrap_or_default();
            messages
                .into_iter()
                .filter(|m| {
                    matches!(m.state, MessageState::Uninitialized | MessageState::Committed)
                })
                .map(move |m| (d, m))
        })
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let (d, message) = candidates[world.rng.below(candidates.len() as u64) as usize].clone();
    let sender_account = world.devices[d].account;
    let target = if world.rng.chance(0.5) {
        world.wallets[sender_account].address.to_string()
    } else {
        let peer = block_on(device_peer(world, d, &message.convo_id));
        match peer {
            Some(peer) => peer,
            None => return false,
        }
    };
    send_with_id(world, &target, &message.id)
}

async fn device_peer(world: &World, d: usize, convo_id: &str) -> Option<String> {
    let store = &world.devices[d].store;
    let conversation =
        store.get::<crate::engine::ConversationRecord>(&convo_id.to_owned()).await.ok()??;
    Some(conversation.peer_address)
}

/// Mallory, a new installation of a new wallet, sends `target` a message under `id`.
pub(crate) fn send_with_id(world: &mut World, target: &str, id: &str) -> bool {
    let wallet = Rc::new(Wallet::new(&mut world.rng));
    let now = world.clock.now().saturating_sub(DATED_BACK_MS);
    let Ok(mallory) = create_device(&mut world.rng, &world.node, &wallet, usize::MAX, now) else {
        return false;
    };
    let own = wallet.address.to_string();
    block_on(async {
        let Ok(local) = load(&mallory, &wallet).await else { return false };
        let Ok(conversation) = queue::conversation(&mallory.store, &own, target, now).await else {
            return false;
        };
        let forged = MessageRecord {
            id: id.to_owned(),
            convo_id: conversation.id.clone(),
            sender_address: own.clone(),
            sent_at_ms: now,
            state: MessageState::Uninitialized,
            content_type: "text/plain".into(),
            content: b"mallory's text under someone else's id".to_vec(),
            failure: None,
            resends: 0,
        };
        let mut changes = Changes::new();
        if changes.insert(&forged).is_err() || mallory.store.save(changes).await.is_err() {
            return false;
        }
        let clock = || now;
        let mut passed = false;
        for _ in 0..4 {
            let ctx = local.context(&mallory.store, &world.node, &clock);
            if processor::pass(&ctx, &local).await.is_ok() {
                passed = true;
                break;
            }
        }
        // Whatever reached the node is to be refused (a failed pass may have published).
        let sent = mallory.store.all::<OutboundPayloadRecord>().await.unwrap_or_default();
        let hashes = sent.into_iter().filter_map(|p| p.payload_hash);
        world.hostile.hashes.borrow_mut().extend(hashes);
        passed
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::engine::{InboundFailure, InboundPayloadState};

    /// The messages device `d` shows under `id`.
    fn shown(world: &World, d: usize, id: &str) -> Vec<MessageRecord> {
        let messages = block_on(world.devices[d].store.all::<MessageRecord>()).unwrap();
        messages.into_iter().filter(|m| m.id == id).collect()
    }

    #[test]
    fn a_peer_cannot_pre_empt_another_senders_message_id() {
        // Alice: devices 0 and 1; Bob: device 2. Nobody sends on their own.
        let mut world = World::new(11, &[2, 1], 0).unwrap();
        world.boot(1, false);
        world.boot(2, false);
        let (alice, bob) = (world.wallets[0].address.to_string(), world.wallets[1].address);
        let now = world.clock.now();
        let a1 = world.devices[0].clone();
        let id = block_on(async {
            let convo = queue::conversation(&a1.store, &alice, &bob.to_string(), now).await?;
            let text = b"alice's own words".to_vec();
            let nonce = "00112233445566778899aabbccddeeff";
            queue::queue_message(&a1.store, &convo, &alice, "text/plain".into(), text, nonce, now)
                .await
        })
        .unwrap()
        .id;
        // Mallory copies the id into her messages to Bob and to Alice, before Alice's
        // device 0 (down) sends it.
        assert!(send_with_id(&mut world, &bob.to_string(), &id));
        assert!(send_with_id(&mut world, &alice, &id));
        world.run_for(20_000);
        world.boot(0, false);
        world.run_for(60_000);

        for d in [1, 2] {
            let shown = shown(&world, d, &id);
            assert_eq!(shown.len(), 1, "device {d}");
            assert_eq!(shown[0].sender_address, alice, "device {d} shows Alice's message");
            assert_eq!(shown[0].content, b"alice's own words", "device {d}");
        }
        // Mallory's payloads were refused, with a code.
        let hostile = world.hostile.hashes.borrow().clone();
        for d in [1, 2] {
            let refused = block_on(crate::store::inbound_failures(&world.devices[d].store))
                .unwrap()
                .into_iter()
                .filter(|p| hostile.contains(&p.hash))
                .map(|p| (p.state, p.failure))
                .collect::<Vec<_>>();
            assert_eq!(
                refused,
                [(InboundPayloadState::Rejected, Some(InboundFailure::ForgedSender))],
                "device {d}"
            );
        }
    }
}
