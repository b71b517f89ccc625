//! Hostile contacts (issue 12, attacks 2, 3 and 8) against the steps, natively: a stranger's
//! wallet ("Mallory") and a hostile node try to take over, resurrect or outlive installations,
//! and the attacked users' good traffic must keep flowing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{
    context::installations,
    identity,
    test_devices::{Device, Wallet as TestWallet, device_at},
};
use crate::{
    crypto::{Installation, PickleKey},
    engine::{InboundPayloadRecord, InstallationRecord, MessageRecord, UserRecord},
    error::SdkError,
    net::{Envelope, Node, memory::MemoryNode},
    sim::block_on,
    store::{Changes, Store},
    wire::{
        ContactEntry, ContactEntryKind, InboxPayload, InstallationBundle, Topic, link_text,
        payload_hash,
    },
};

const T0: u64 = 1_760_000_000_000;
const DAY: u64 = 24 * 60 * 60 * 1000;

/// A new installation of `wallet` at `now` (other accounts refreshed after 5 minutes).
pub(super) fn device(node: &MemoryNode, wallet: &TestWallet, now: u64) -> Device {
    device_at(node, wallet, now, 5 * 60 * 1000)
}

/// One processor pass of `d` at `now`, its inbox pulled.
pub(super) fn pass(d: &Device, node: &MemoryNode, now: u64) -> Result<(), SdkError> {
    d.pass(node, now)
}

/// `from` queues a message to `to` and runs its pass (encrypted and published).
pub(super) fn send(from: &Device, to: &str, node: &MemoryNode, now: u64) -> String {
    let nonce = format!("m{now:x}{}", &from.id[..6]);
    let id = from.send(to, &nonce, "hi", now).id;
    pass(from, node, now).unwrap();
    id
}

pub(super) fn has_message(d: &Device, id: &str) -> bool {
    block_on(d.store.get::<MessageRecord>(&id.to_owned())).unwrap().is_some()
}

/// Publishes to `to`'s inbox a junk payload claiming `sender_id` of `sender_address`;
/// returns its hash.
pub(super) fn junk(
    node: &MemoryNode,
    to: &str,
    sender_address: &str,
    sender_id: &str,
    at: u64,
) -> String {
    let payload = InboxPayload {
        sender_address: sender_address.to_owned(),
        sender_installation_id: sender_id.to_owned(),
        message_type: 1,
        ciphertext: vec![0xAB; 48],
        ..InboxPayload::default()
    };
    let bytes = prost::Message::encode_to_vec(&payload);
    let hash = payload_hash(&bytes);
    block_on(node.publish(&[Envelope::new(&Topic::inbox(to), at, 0, bytes)])).unwrap();
    hash
}

pub(super) fn inbound(d: &Device, hash: &str) -> Option<InboundPayloadRecord> {
    block_on(d.store.get::<InboundPayloadRecord>(&hash.to_owned())).unwrap()
}

fn failure(d: &Device, hash: &str) -> Option<&'static str> {
    inbound(d, hash).and_then(|r| r.failure).map(|f| f.code())
}

pub(super) fn user(d: &Device, address: &str) -> Option<UserRecord> {
    block_on(d.store.get::<UserRecord>(&address.to_owned())).unwrap()
}

pub(super) fn rejected_codes(d: &Device, address: &str) -> Vec<String> {
    user(d, address).map(|u| u.rejected.into_iter().map(|r| r.code).collect()).unwrap_or_default()
}

pub(super) fn stored_installation(d: &Device, id: &str) -> Option<InstallationRecord> {
    block_on(d.store.get::<InstallationRecord>(&id.to_owned())).unwrap()
}

/// The newest bundle `node` holds for installation `id` of `address`.
pub(super) fn published_bundle(node: &MemoryNode, address: &str, id: &str) -> InstallationBundle {
    let topic = Topic::contact(address).to_string();
    node.envelopes(&topic)
        .iter()
        .rev()
        .filter_map(|e| ContactEntry::decode_bundle(&e.message))
        .find(|b| b.installation_id == id)
        .unwrap()
}

pub(super) fn publish_bundle(node: &MemoryNode, bundle: InstallationBundle, at: u64) {
    let topic = Topic::contact(&bundle.wallet_address);
    let bytes = ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes();
    block_on(node.publish(&[Envelope::new(&topic, at, 0, bytes)])).unwrap();
}

/// `wallet`'s signed link of `bundle` (whose wallet address it sets).
fn relinked(mut bundle: InstallationBundle, wallet: &TestWallet) -> InstallationBundle {
    bundle.wallet_address = wallet.address.to_string();
    bundle.wallet_signature = wallet.sign_bytes(&link_text(&bundle));
    bundle
}

/// A random id no installation has.
fn fresh_id() -> String {
    Installation::generate().id().to_owned()
}

struct Pair {
    node: MemoryNode,
    alice: Device,
    bob: Device,
    mallory: TestWallet,
}

/// Alice and Bob, each having received a message from the other.
fn talking_pair() -> Pair {
    let node = MemoryNode::new();
    let (alice_wallet, bob_wallet) = (TestWallet::new(0xA1), TestWallet::new(0xB0));
    let alice = device(&node, &alice_wallet, T0);
    let bob = device(&node, &bob_wallet, T0);
    let first = send(&bob, &alice.address, &node, T0 + 10);
    pass(&alice, &node, T0 + 20).unwrap();
    assert!(has_message(&alice, &first));
    let back = send(&alice, &bob.address, &node, T0 + 30);
    pass(&bob, &node, T0 + 40).unwrap();
    assert!(has_message(&bob, &back));
    Pair { node, alice, bob, mallory: TestWallet::new(0x3A) }
}

/// Attack 2: Mallory republishes Bob's bundle (keys, signed fallback key) under her own wallet
/// and a junk payload forces Alice to refresh her.
#[test]
fn a_bundle_relinked_by_another_wallet_does_not_take_over_the_installation() {
    let Pair { node, alice, bob, mallory } = talking_pair();
    let at = T0 + 1_000;
    publish_bundle(&node, relinked(published_bundle(&node, &bob.address, &bob.id), &mallory), at);
    let mallory_address = mallory.address.to_string();
    let forced = junk(&node, &alice.id, &mallory_address, &fresh_id(), at);
    pass(&alice, &node, at + 10).unwrap();
    assert_eq!(failure(&alice, &forced), Some("UNKNOWN_SENDER"));

    assert_eq!(stored_installation(&alice, &bob.id).unwrap().address, bob.address);
    assert!(
        rejected_codes(&alice, &mallory_address).contains(&"FALLBACK_SIGNATURE_INVALID".into()),
        "{:?}",
        rejected_codes(&alice, &mallory_address)
    );
    let later = send(&bob, &alice.address, &node, at + 20);
    pass(&alice, &node, at + 30).unwrap();
    assert!(has_message(&alice, &later), "Bob's message after the attack arrives");
}

/// Attack 2, defence in depth: even an installation whose own key links it to a second
/// account (a stolen key) never moves a row another account's refresh wrote.
#[test]
fn an_installation_already_claimed_by_one_account_is_refused_for_another() {
    let Pair { node, alice, bob, mallory } = talking_pair();
    let at = T0 + 1_000;
    let bundle = bob.local.installation.borrow().unsigned_bundle(
        &mallory.address.to_string(),
        at,
        at + DAY,
        at,
    );
    publish_bundle(&node, relinked(bundle, &mallory), at);
    let mallory_address = mallory.address.to_string();
    junk(&node, &alice.id, &mallory_address, &fresh_id(), at);
    pass(&alice, &node, at + 10).unwrap();

    assert_eq!(stored_installation(&alice, &bob.id).unwrap().address, bob.address);
    assert!(rejected_codes(&alice, &mallory_address).contains(&"INSTALLATION_CLAIMED".into()));
    let later = send(&bob, &alice.address, &node, at + 20);
    pass(&alice, &node, at + 30).unwrap();
    assert!(has_message(&alice, &later));
}

/// Attack 3: a known installation whose link expired is refused, not trusted forever.
#[test]
fn a_sender_whose_link_expired_is_refused() {
    let node = MemoryNode::new();
    let bob = device(&node, &TestWallet::new(0xB0), T0);
    // Alice links later, so her link outlives Bob's.
    let alice = device(&node, &TestWallet::new(0xA1), T0 + 200 * DAY);
    let first = send(&bob, &alice.address, &node, T0 + 200 * DAY + 10);
    pass(&alice, &node, T0 + 200 * DAY + 20).unwrap();
    assert!(has_message(&alice, &first));

    let late = T0 + 366 * DAY;
    let after_expiry = send(&bob, &alice.address, &node, late);
    pass(&alice, &node, late + 10).unwrap();
    assert!(!has_message(&alice, &after_expiry), "accepted from an expired installation");
    let hashes = node.envelopes(&Topic::inbox(&alice.id).to_string());
    let last = payload_hash(&hashes.last().unwrap().message);
    assert_eq!(failure(&alice, &last), Some("SENDER_EXPIRED"));
}

/// Attack 3: a revocation once seen holds, even when a node later omits it.
#[test]
fn a_revocation_holds_when_a_node_omits_it() {
    let Pair { node, alice, bob, .. } = talking_pair();
    let at = T0 + 1_000;
    // Bob's installation sends, then its wallet revokes it.
    let sent = send(&bob, &alice.address, &node, at);
    let bob_wallet = TestWallet::new(0xB0);
    block_on(identity::revoke(&node, &bob_wallet, &bob_wallet.address, &bob.id, at + 1)).unwrap();
    // Alice learns the revocation from an honest node...
    let own = alice.local.own.borrow().clone();
    block_on(installations(
        &alice.store,
        &node,
        &own,
        &bob_wallet.address,
        0,
        at + 2,
        &alice.local.verified,
    ))
    .unwrap();
    assert!(stored_installation(&alice, &bob.id).is_none());

    // ...then reads from one that serves Bob's bundle (and his payload) but not the
    // revocation.
    let hostile = MemoryNode::new();
    let copy = |topic: String, keep: &dyn Fn(&Envelope) -> bool| {
        let kept: Vec<Envelope> = node.envelopes(&topic).into_iter().filter(keep).collect();
        block_on(hostile.publish(&kept)).unwrap();
    };
    copy(Topic::contact(&bob.address).to_string(), &|e| {
        ContactEntry::decode_bundle(&e.message).is_some()
    });
    copy(Topic::contact(&alice.address).to_string(), &|_| true);
    copy(Topic::inbox(&alice.id).to_string(), &|_| true);
    pass(&alice, &hostile, at + 60_000).unwrap();
    assert!(!has_message(&alice, &sent), "a revoked installation's message was accepted");
    assert!(stored_installation(&alice, &bob.id).is_none(), "the revoked bundle came back");
    let last = node.envelopes(&Topic::inbox(&alice.id).to_string()).pop().unwrap();
    assert_eq!(failure(&alice, &payload_hash(&last.message)), Some("SENDER_REVOKED"));
}

/// Attack 8: a bundle whose numbers do not fit a JS number (or any sane window) is refused
/// with its own code, and the victim keeps receiving.
#[test]
fn a_bundle_with_a_huge_expiry_is_refused_and_receiving_goes_on() {
    let Pair { node, alice, bob, mallory } = talking_pair();
    let at = T0 + 1_000;
    let installation = Installation::generate();
    let mallory_address = mallory.address.to_string();
    let bundle = installation.unsigned_bundle(&mallory_address, at, 1 << 60, at);
    publish_bundle(&node, relinked(bundle, &mallory), at);
    let forced = junk(&node, &alice.id, &mallory_address, installation.id(), at);
    pass(&alice, &node, at + 10).unwrap();
    assert_eq!(failure(&alice, &forced), Some("UNKNOWN_SENDER"));
    assert!(
        rejected_codes(&alice, &mallory_address).contains(&"BUNDLE_RANGE".into()),
        "{:?}",
        rejected_codes(&alice, &mallory_address)
    );
    assert!(stored_installation(&alice, installation.id()).is_none());
    let later = send(&bob, &alice.address, &node, at + 20);
    pass(&alice, &node, at + 30).unwrap();
    assert!(has_message(&alice, &later));
}

/// Attack 3 (bounded work): payloads naming unknown installations refresh their account at
/// most once per interval; one within it waits (it may be an honest new installation's first
/// message), and is decided once the interval has passed.
#[test]
fn unknown_installations_refresh_an_account_at_most_once_per_interval() {
    let Pair { node, alice, mallory, .. } = talking_pair();
    let at = T0 + 1_000;
    let mallory_address = mallory.address.to_string();
    let first = junk(&node, &alice.id, &mallory_address, &fresh_id(), at);
    pass(&alice, &node, at + 10).unwrap();
    assert_eq!(failure(&alice, &first), Some("UNKNOWN_SENDER"));
    let queries = node.requests().queries;

    let second = junk(&node, &alice.id, &mallory_address, &fresh_id(), at + 20);
    let waited = pass(&alice, &node, at + 30).unwrap_err();
    assert_eq!(waited.code.as_str(), "RETRY_LATER");
    assert!(failure(&alice, &second).is_none(), "kept to retry, not refused");
    let contact = Topic::contact(&mallory_address).to_string();
    assert_eq!(node.envelopes(&contact).len(), 0);
    // Only the inbox pull queried; Mallory's contact topic was not fetched again.
    assert!(node.requests().queries <= queries + 2);

    pass(&alice, &node, at + 31_000).unwrap();
    assert_eq!(failure(&alice, &second), Some("UNKNOWN_SENDER"));
}

/// An installation made before the bundle version existed republishes a current bundle at
/// its next start, with no wallet prompt (`start` has no wallet).
#[test]
fn an_installation_from_before_the_upgrade_republishes_a_current_bundle_at_start() {
    let node = MemoryNode::new();
    let wallet = TestWallet::new(0xB0);
    let bob = device(&node, &wallet, T0);
    let mut own = bob.local.own.borrow().clone();
    let mut old = ContactEntry::decode_bundle(&own.bundle).unwrap();
    old.version = 0;
    own.bundle = ContactEntry { kind: Some(ContactEntryKind::Bundle(old)) }.to_bytes();
    let mut changes = Changes::new();
    changes.put(&own).unwrap();
    block_on(bob.store.save(changes)).unwrap();

    let key = PickleKey::from_bytes([7; 32]);
    let identity = identity::load(wallet.address, own, key).unwrap();
    let started = block_on(identity::start(&bob.store, &node, identity, T0 + 1_000)).unwrap();
    assert!(started.own.bundle_published);
    let published = published_bundle(&node, &bob.address, &bob.id);
    assert_eq!(published.version, crate::wire::BUNDLE_VERSION);
    let bytes = ContactEntry { kind: Some(ContactEntryKind::Bundle(published)) }.to_bytes();
    let verified = crate::crypto::verify_contact_entry(&bytes, &wallet.address, T0 + 2_000);
    assert!(verified.is_ok(), "{verified:?}");
}

/// Attack 2 in a database attacked before the upgrade: the row Mallory took over holds a
/// version-0 bundle relinked to her, which no longer verifies, so it claims nothing and Bob's
/// account takes its installation back at its next refresh.
#[test]
fn an_installation_taken_over_before_the_upgrade_is_taken_back() {
    let Pair { node, alice, bob, mallory } = talking_pair();
    let mut hijacked = stored_installation(&alice, &bob.id).unwrap();
    let mut old = ContactEntry::decode_bundle(&hijacked.bundle).unwrap();
    old.version = 0;
    let old = relinked(old, &mallory);
    hijacked.address = mallory.address.to_string();
    hijacked.bundle = ContactEntry { kind: Some(ContactEntryKind::Bundle(old)) }.to_bytes();
    let mut changes = Changes::new();
    changes.put(&hijacked).unwrap();
    block_on(alice.store.save(changes)).unwrap();

    // Past the threshold, Alice's send refreshes Bob's account.
    let at = T0 + 10 * 60 * 1000;
    send(&alice, &bob.address, &node, at);
    assert_eq!(stored_installation(&alice, &bob.id).unwrap().address, bob.address);
    let later = send(&bob, &alice.address, &node, at + 10);
    pass(&alice, &node, at + 20).unwrap();
    assert!(has_message(&alice, &later));
}

/// Attack 3's other side: a link is renewed before it expires (one wallet signature), and
/// peers take the renewed link, so the installation keeps speaking past its first expiry.
#[test]
fn a_renewed_link_keeps_an_installation_speaking_past_its_first_expiry() {
    let node = MemoryNode::new();
    let (alice_wallet, bob_wallet) = (TestWallet::new(41), TestWallet::new(42));
    // Bob joined later: his own link is still valid when Alice's first one has expired.
    let alice = device(&node, &alice_wallet, T0);
    let bob = device(&node, &bob_wallet, T0 + 300 * DAY);
    let at = T0 + 360 * DAY;
    assert!(identity::renewal_due(&alice.local.own.borrow(), at));
    let own = alice.local.own.borrow().clone();
    let bundle = identity::renewal_bundle(&alice.local.installation.borrow(), &own, at);
    let renewed =
        block_on(identity::renew_link(&alice.store, &node, &alice_wallet, &own, bundle)).unwrap();
    assert!(renewed.bundle_published && renewed.expires_at_ms > T0 + 700 * DAY);
    assert!(!identity::renewal_due(&renewed, at));
    *alice.local.own.borrow_mut() = renewed;

    let later = T0 + 370 * DAY;
    let id = send(&alice, &bob.address, &node, later);
    pass(&bob, &node, later).unwrap();
    let inbound: Vec<_> = block_on(bob.store.all::<InboundPayloadRecord>())
        .unwrap()
        .into_iter()
        .map(|p| (p.state, p.failure, p.detail))
        .collect();
    let sent =
        block_on(alice.store.get::<MessageRecord>(&id)).unwrap().map(|m| (m.state, m.failure));
    assert!(
        has_message(&bob, &id),
        "Bob refused Alice's message after her first expiry: {inbound:?} {sent:?}"
    );
}
