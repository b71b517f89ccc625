//! A hostile contact in the storm (issue 12, attacks 2, 3 and 8): a stranger's wallet,
//! "Mallory" (not one of the world's accounts; a new one each time, from the world's seed),
//! publishes one of:
//!
//! - a copy of a real installation's bundle relinked to her own wallet, and a junk inbox
//!   payload naming that installation to a random installation (a takeover attempt);
//! - a bundle of her own with a huge or far-future expiry, and a junk payload naming it;
//! - a replay of an old bundle of a revoked installation on its account's topic, and a junk
//!   payload naming it.
//!
//! The junk payloads' hashes are kept in `World::hostile`: `check` requires each of them
//! refused (never accepted, so never answered with a decryption-failure notice), and the
//! attacked users' traffic to keep flowing.

use super::{executor::block_on, world::World};
use crate::{
    crypto::{Address, Installation, sign_for_tests},
    net::{Envelope, Node},
    wire::{ContactEntry, ContactEntryKind, InboxPayload, InstallationBundle, Topic, link_text},
};

/// Mallory's wallet.
struct Mallory {
    key: [u8; 32],
    address: Address,
}

impl Mallory {
    fn new(world: &mut World) -> Option<Self> {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&world.rng.next_u64().to_le_bytes());
        }
        key[0] = 0x11; // below the secp256k1 group order
        let address = sign_for_tests(&key, b"who").recover(b"who").ok()?;
        Some(Self { key, address })
    }

    /// `bundle` linked to Mallory's wallet by her signature.
    fn link(&self, mut bundle: InstallationBundle) -> InstallationBundle {
        bundle.wallet_address = self.address.to_string();
        bundle.wallet_signature =
            sign_for_tests(&self.key, link_text(&bundle).as_bytes()).as_bytes().to_vec();
        bundle
    }
}

/// One attack, chosen by the seed.
pub(super) fn attack(world: &mut World) {
    let Some(mallory) = Mallory::new(world) else { return };
    let now = world.clock.now();
    let n = world.devices.len() as u64;
    let target = world.devices[world.rng.below(n) as usize].id.clone();
    let revoked: Vec<usize> =
        (0..world.devices.len()).filter(|d| world.devices[*d].revoked.get()).collect();
    let kind = world.rng.below(3);
    let named = if kind == 2 && !revoked.is_empty() {
        // An old bundle of a revoked installation, replayed on its own account's topic.
        let device = world.devices[revoked[world.rng.below(revoked.len() as u64) as usize]].clone();
        let account = world.wallets[device.account].address.to_string();
        let Some(old) = bundles(world, &account, &device.id).into_iter().next() else { return };
        publish_bundle(world, old, now);
        device.id.clone()
    } else if kind == 1 {
        // Her own installation, linked until far past what a JS number holds, or for decades.
        let installation = Installation::generate();
        let expires = if world.rng.chance(0.5) { u64::MAX } else { now + (1 << 45) };
        let bundle = installation.unsigned_bundle(&mallory.address.to_string(), now, expires, now);
        publish_bundle(world, mallory.link(bundle), now);
        installation.id().to_owned()
    } else {
        // A real installation's bundle, relinked to her wallet.
        let device = world.devices[world.rng.below(n) as usize].clone();
        let account = world.wallets[device.account].address.to_string();
        let Some(real) = bundles(world, &account, &device.id).pop() else { return };
        publish_bundle(world, mallory.link(real), now);
        device.id.clone()
    };
    let payload = InboxPayload {
        sender_address: mallory.address.to_string(),
        sender_installation_id: named,
        message_type: 1,
        ciphertext: world.rng.next_u64().to_le_bytes().repeat(6),
        ..InboxPayload::default()
    };
    let bytes = prost::Message::encode_to_vec(&payload);
    let hash = crate::wire::payload_hash(&bytes);
    let envelope = Envelope::new(&Topic::inbox(&target), now, 0, bytes);
    // Kept whatever the node answers: a dropped acknowledgement still stored it.
    let _ = block_on(world.node.publish(&[envelope]));
    world.hostile.hashes.borrow_mut().push(hash);
}

/// The bundles of installation `id` on `account`'s contact topic, oldest first.
fn bundles(world: &World, account: &str, id: &str) -> Vec<InstallationBundle> {
    let topic = Topic::contact(account).to_string();
    world
        .node
        .envelopes(&topic)
        .iter()
        .filter_map(|e| ContactEntry::decode_bundle(&e.message))
        .filter(|b| b.installation_id == id)
        .collect()
}

fn publish_bundle(world: &World, bundle: InstallationBundle, now: u64) {
    let topic = Topic::contact(&bundle.wallet_address);
    let bytes = ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes();
    let _ = block_on(world.node.publish(&[Envelope::new(&topic, now, 0, bytes)]));
}
