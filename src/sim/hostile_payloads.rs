//! Mallory, a wallet that is none of the world's accounts, attacks the inboxes during the
//! storm. She reads the node's envelopes, as anyone can, and publishes one of: a genuine Olm
//! message from her own installation dated past what a JS number holds or far in the future;
//! a real pre-key payload again with an unknown field appended (another hash, the same
//! content); a real payload altered, still claiming its real sender; a decryption-failure
//! notice in a real installation's name. Each must be refused quietly: the invariants of
//! `check` hold as if she were not there (only her payloads' refusals are allowed).

use std::cell::RefCell;

use prost::Message as _;

use super::{
    executor::{Rng, block_on},
    world::{Wallet, World},
};
use crate::{
    crypto::{Installation, PickleKey},
    engine::{OWN_INSTALLATION, OwnInstallationRecord, conversation_id, message_id},
    net::{Envelope, Node},
    steps::identity,
    store::{Changes, Store, memory::MemoryStore},
    wire::{
        ChatMessage, ContactEntry, DecryptionFailureNotice, InboxPayload, Invite, Plaintext,
        PlaintextKind, Topic, hex, payload_hash,
    },
};

/// What the attacks left behind: Mallory, once her bundle is published, and the hashes of
/// what she published (the only payloads allowed to be refused).
#[derive(Default)]
pub(crate) struct Hostile {
    mallory: RefCell<Option<Mallory>>,
    pub(crate) hashes: RefCell<Vec<String>>,
}

struct Mallory {
    address: String,
    installation: Installation,
}

/// One attack, chosen by the world's rng, on a random installation.
pub(crate) fn attack(world: &mut World) {
    let victim = world.rng.below(world.devices.len() as u64) as usize;
    let payload = match world.rng.below(4) {
        0 => badly_dated(world, victim),
        1 => replayed_pre_key(world, victim),
        2 => forged_sender(world, victim),
        _ => forged_notice(world, victim),
    };
    let Some(payload) = payload else { return };
    let topic = Topic::inbox(&world.devices[victim].id);
    let envelope = Envelope::new(&topic, world.clock.now(), world.rng.below(1_000), payload);
    world.hostile.hashes.borrow_mut().push(payload_hash(&envelope.message));
    // Faults may refuse it; so be it.
    let _ = block_on(world.node.publish(&[envelope]));
}

/// A genuine Olm invite from Mallory's own installation, its message dated past 2^53 - 1
/// or a month ahead.
fn badly_dated(world: &mut World, victim: usize) -> Option<Vec<u8>> {
    if world.hostile.mallory.borrow().is_none() {
        let mallory = create_mallory(world)?;
        *world.hostile.mallory.borrow_mut() = Some(mallory);
    }
    let device = world.devices[victim].clone();
    let own = block_on(device.store.get::<OwnInstallationRecord>(&OWN_INSTALLATION.to_owned()))
        .ok()??;
    let bundle = ContactEntry::decode_bundle(&own.bundle)?;
    let sent_at_ms = match world.rng.below(3) {
        0 => u64::MAX,
        1 => 1 << 53,
        _ => world.clock.now() + 30 * 24 * 3_600_000,
    };
    let nonce = hex(&world.rng.next_u64().to_le_bytes());
    let mallory = world.hostile.mallory.borrow();
    let mallory = mallory.as_ref()?;
    let convo_id = conversation_id(&mallory.address, &own.address);
    let message = ChatMessage {
        // A well-made id: refused for its date, not its id.
        id: message_id(&mallory.address, &convo_id, &nonce),
        convo_id,
        sender_address: mallory.address.clone(),
        sent_at_ms,
        content_type: "text/plain".into(),
        content: b"frozen".to_vec(),
        recipient_address: own.address.clone(),
    };
    let plaintext = Plaintext {
        kind: Some(PlaintextKind::Invite(Invite {
            convo_id: message.convo_id.clone(),
            message: Some(message),
        })),
        repairs: Vec::new(),
    };
    let mut session = mallory
        .installation
        .create_outbound_session(&bundle.identity_key, &bundle.fallback_key?.key)
        .ok()?;
    let encrypted = session.encrypt(&plaintext.encode_to_vec()).ok()?;
    let mut payload = InboxPayload {
        sender_address: mallory.address.clone(),
        sender_installation_id: mallory.installation.id().to_owned(),
        message_type: encrypted.message_type,
        ciphertext: encrypted.ciphertext,
        ..InboxPayload::default()
    };
    payload.signature = mallory.installation.sign(&payload.signing_bytes(&device.id));
    Some(payload.encode_to_vec())
}

/// Mallory's installation, linked to her wallet and published; `None` if the node refused.
fn create_mallory(world: &mut World) -> Option<Mallory> {
    let wallet = Wallet::new(&mut world.rng);
    let key = PickleKey::from_slice(&world.rng.next_u64().to_le_bytes().repeat(4))?;
    let store = MemoryStore::new();
    let now = world.clock.now();
    let identity = block_on(async {
        let created =
            identity::create(&store, wallet.address, &wallet, key, Changes::new(), now).await?;
        identity::start(&store, &world.node, created, now).await
    })
    .ok()?;
    identity.own.bundle_published.then(|| Mallory {
        address: identity.own.address.clone(),
        installation: identity.installation,
    })
}

/// A random payload of the victim's inbox, decoded.
fn seen_payload(world: &mut World, victim: usize, pre_key: bool) -> Option<InboxPayload> {
    let topic = Topic::inbox(&world.devices[victim].id).to_string();
    let seen: Vec<InboxPayload> = world
        .node
        .envelopes(&topic)
        .iter()
        .filter_map(|e| InboxPayload::decode(e.message.as_slice()).ok())
        .filter(|p| p.notice.is_none() && (!pre_key || p.message_type == 0))
        .collect();
    pick(&mut world.rng, seen)
}

fn pick<T>(rng: &mut Rng, mut items: Vec<T>) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let i = rng.below(items.len() as u64) as usize;
    Some(items.swap_remove(i))
}

/// A real pre-key payload with an unknown field appended: the same content, another hash.
fn replayed_pre_key(world: &mut World, victim: usize) -> Option<Vec<u8>> {
    let mut bytes = seen_payload(world, victim, true)?.encode_to_vec();
    bytes.extend([0x78, 0x01]);
    Some(bytes)
}

/// A real payload with a ciphertext byte flipped, still claiming its real sender: without
/// the sender's signature, it would show a marker and ask that sender to re-send.
fn forged_sender(world: &mut World, victim: usize) -> Option<Vec<u8>> {
    let mut payload = seen_payload(world, victim, false)?;
    let at = world.rng.below(payload.ciphertext.len() as u64) as usize;
    *payload.ciphertext.get_mut(at)? ^= 1;
    Some(payload.encode_to_vec())
}

/// A notice in the name of the installation a payload of the victim went to, naming it,
/// signed by Mallory's key (or not at all).
fn forged_notice(world: &mut World, victim: usize) -> Option<Vec<u8>> {
    let victim_id = world.devices[victim].id.clone();
    let other = world.rng.below(world.devices.len() as u64) as usize;
    let (other_id, other_account) = (world.devices[other].id.clone(), world.devices[other].account);
    let topic = Topic::inbox(&other_id).to_string();
    let sent: Vec<String> = world
        .node
        .envelopes(&topic)
        .iter()
        .filter(|e| {
            InboxPayload::decode(e.message.as_slice())
                .is_ok_and(|p| p.sender_installation_id == victim_id)
        })
        .map(|e| payload_hash(&e.message))
        .collect();
    let hash = pick(&mut world.rng, sent)?;
    let mut notice = DecryptionFailureNotice {
        failed_payload_hash: hash,
        recipient_installation_id: victim_id,
        created_at_ms: world.clock.now(),
        signature: Vec::new(),
    };
    if let Some(mallory) = world.hostile.mallory.borrow().as_ref() {
        notice.signature = mallory.installation.sign(&notice.signing_bytes(&other_id));
    }
    Some(
        InboxPayload {
            sender_address: world.wallets[other_account].address.to_string(),
            sender_installation_id: other_id,
            notice: Some(notice),
            ..InboxPayload::default()
        }
        .encode_to_vec(),
    )
}
