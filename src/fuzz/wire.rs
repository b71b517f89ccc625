//! What peers publish: contact entries (bundles, revocations) and their verification, inbox
//! payloads and notices, the Olm messages inside and the plaintexts those open to, topics and
//! message ids.

use std::cell::RefCell;

use proptest::prelude::{Just, any, prop_oneof};
use prost::Message;

use super::{bounded, check, fuzz, inputs};
use crate::{
    crypto::{
        Address, Installation, OlmSession, PickleKey, reverify_contact_entry, sign_for_tests,
        verify_contact_entry, verify_installation_signature,
    },
    engine::{
        SenderKeys, conversation_id, message_id, message_id_matches, open_payload, parse_inbound,
        receivable, verify_notice, verify_payload,
    },
    wire::{
        ChatMessage, ContactEntry, ContactEntryKind, DecryptionFailureNotice, InboxPayload, Invite,
        Plaintext, PlaintextKind, Revocation, Topic, link_text, revocation_text,
    },
};

const ALICE_KEY: [u8; 32] = [0x11; 32];
const NOW: u64 = 1_764_000_000_000;

fn wallet(key: &[u8; 32]) -> Address {
    sign_for_tests(key, b"who").recover(b"who").unwrap_or(Address::from_bytes([0; 20]))
}

fn alice() -> Address {
    wallet(&ALICE_KEY)
}

fn bob() -> Address {
    wallet(&[0x33; 32])
}

/// Alice's signed bundle for `installation`, and her revocation of it, as contact entries.
fn contact_entries(installation: &Installation) -> Vec<Vec<u8>> {
    let address = alice().to_string();
    let mut bundle = installation.unsigned_bundle(&address, NOW, NOW + 1_000_000, NOW);
    bundle.wallet_signature =
        sign_for_tests(&ALICE_KEY, link_text(&bundle).as_bytes()).as_bytes().to_vec();
    let mut revocation = Revocation {
        wallet_address: address,
        installation_id: installation.id().to_owned(),
        revoked_at_ms: NOW,
        wallet_signature: Vec::new(),
    };
    revocation.wallet_signature =
        sign_for_tests(&ALICE_KEY, revocation_text(&revocation).as_bytes()).as_bytes().to_vec();
    [ContactEntryKind::Bundle(bundle), ContactEntryKind::Revocation(revocation)]
        .into_iter()
        .map(|kind| ContactEntry { kind: Some(kind) }.to_bytes())
        .collect()
}

#[test]
fn contact_entry() {
    let valid = contact_entries(&Installation::generate());
    fuzz("contact_entry", inputs::bytes_from(valid), |bytes| {
        let decoded = bounded(bytes.len(), || ContactEntry::decode(bytes.as_slice()))?;
        if let Ok(entry) = &decoded {
            let again = ContactEntry::decode(entry.to_bytes().as_slice());
            check(again.as_ref() == Ok(entry), || format!("re-encoded, it reads {again:?}"))?;
        }
        // A stored bundle read back (a sender's keys, this installation's own bundle).
        let bundle = bounded(bytes.len(), || ContactEntry::decode_bundle(&bytes))?;
        check(bundle.is_none() || decoded.is_ok(), || "a bundle from junk".into())?;
        Ok(decoded.is_ok())
    });
}

#[test]
fn contact_entry_verified() {
    let valid = contact_entries(&Installation::generate());
    let topic = alice();
    fuzz("contact_entry_verified", inputs::bytes_from(valid), |bytes| {
        let full = bounded(bytes.len(), || verify_contact_entry(&bytes, &topic, NOW))?;
        let cached = bounded(bytes.len(), || reverify_contact_entry(&bytes, &topic, NOW))?;
        // Skipping the signatures never refuses what checking them accepts.
        check(full.is_err() || cached == full, || {
            format!("verified {full:?}, re-verified {cached:?}")
        })?;
        Ok(full.is_ok())
    });
}

/// The installation Alice's payloads are for.
const BOB_INSTALLATION: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

/// A message payload and a notice payload from Alice's `installation` to Bob's, signed.
fn inbox_payloads(installation: &Installation) -> Vec<InboxPayload> {
    let mut message = InboxPayload {
        sender_address: alice().to_string(),
        sender_installation_id: installation.id().to_owned(),
        message_type: 1,
        ciphertext: vec![7; 90],
        notice: None,
        signature: Vec::new(),
    };
    message.signature = installation.sign(&message.signing_bytes(BOB_INSTALLATION));
    let mut notice = DecryptionFailureNotice {
        failed_payload_hash: "f0".repeat(32),
        recipient_installation_id: BOB_INSTALLATION.to_owned(),
        created_at_ms: NOW,
        signature: Vec::new(),
    };
    notice.signature = installation.sign(&notice.signing_bytes(installation.id()));
    let notice = InboxPayload {
        message_type: 0,
        ciphertext: Vec::new(),
        notice: Some(notice),
        signature: Vec::new(),
        ..message.clone()
    };
    vec![message, notice]
}

#[test]
fn inbox_payload() {
    let alice = Installation::generate();
    let valid = inbox_payloads(&alice);
    let keys = alice.unsigned_bundle("", NOW, NOW, NOW);
    let keys = SenderKeys { identity_key: keys.identity_key, signing_key: keys.signing_key };
    let encoded = valid.iter().map(Message::encode_to_vec).collect();
    fuzz("inbox_payload", inputs::bytes_from(encoded), |bytes| {
        let Ok(payload) = bounded(bytes.len(), || parse_inbound(&bytes))? else {
            return Ok(false);
        };
        // Only the canonical encoding is accepted: it is the input, byte for byte.
        check(payload.encode_to_vec() == bytes, || "accepted a non-canonical encoding".into())?;
        // Each signature covers what it signs: nothing it covers was altered.
        let same = |f: &dyn Fn(&InboxPayload) -> Vec<u8>| valid.iter().any(|v| f(v) == f(&payload));
        if verify_payload(BOB_INSTALLATION, &payload, &keys).is_ok() {
            check(same(&|p| p.signing_bytes(BOB_INSTALLATION)), || {
                "an altered payload verified".into()
            })?;
        }
        if verify_notice(BOB_INSTALLATION, &payload, &keys).is_ok() {
            let signed = |p: &InboxPayload| {
                p.notice
                    .as_ref()
                    .map(|n| n.signing_bytes(&p.sender_installation_id))
                    .unwrap_or_default()
            };
            check(same(&signed), || "an altered notice verified".into())?;
        }
        Ok(true)
    });
}

/// Ed25519 signatures of installations (fallback keys, payloads, notices): any key and
/// signature bytes give a yes or a no, and only the signed message with its key says yes.
#[test]
fn installation_signature() {
    let alice = Installation::generate();
    let key = alice.unsigned_bundle("", NOW, NOW, NOW).signing_key;
    let signature = alice.sign(b"signed");
    // One of the two altered at a time, so that the unaltered pair comes up often.
    let inputs = prop_oneof![
        (Just(key.clone()), inputs::bytes_from(vec![signature.clone()])),
        (inputs::bytes_from(vec![key.clone()]), Just(signature.clone())),
    ];
    fuzz("installation_signature", inputs, |(k, s)| {
        let verified =
            bounded(k.len() + s.len(), || verify_installation_signature(&k, b"signed", &s))?;
        check(!verified || (k == key && s == signature), || {
            "an altered signature verified".into()
        })?;
        Ok(verified)
    });
}

/// An invite and a message from Alice to Bob, each repairing an earlier payload.
fn plaintexts() -> Vec<Vec<u8>> {
    let (alice, bob) = (alice().to_string(), bob().to_string());
    let convo_id = conversation_id(&alice, &bob);
    let message = ChatMessage {
        id: message_id(&alice, &convo_id, "00112233445566778899aabbccddeeff"),
        convo_id: convo_id.clone(),
        sender_address: alice,
        sent_at_ms: NOW,
        content_type: "text/plain".into(),
        content: b"hello".to_vec(),
        recipient_address: bob,
    };
    let invite = Invite { convo_id, message: Some(message.clone()) };
    [PlaintextKind::Invite(invite), PlaintextKind::Message(message)]
        .into_iter()
        .map(|kind| Plaintext { kind: Some(kind), repairs: vec!["f0".repeat(32)] }.encode_to_vec())
        .collect()
}

#[test]
fn plaintext() {
    let valid = plaintexts();
    let (alice, bob) = (alice().to_string(), bob().to_string());
    fuzz("plaintext", inputs::bytes_from(valid), |bytes| {
        let decoded = bounded(bytes.len(), || Plaintext::decode(bytes.as_slice()))?;
        let Ok(plaintext) = decoded else { return Ok(false) };
        let again = Plaintext::decode(plaintext.encode_to_vec().as_slice());
        check(again.as_ref() == Ok(&plaintext), || format!("re-encoded, it reads {again:?}"))?;
        // Checked as Bob receives it from Alice, and as Alice's other installation does.
        let _ = receivable(&bob, &alice, &plaintext, NOW);
        let _ = receivable(&alice, &alice, &plaintext, NOW);
        Ok(true)
    });
}

/// Bob's installation, the session Alice's installation opened to it (sealed, so each case
/// starts from it afresh), Alice's keys, and Alice's first two Olm messages on that session
/// (a pre-key message, then a normal one).
struct OlmPair {
    bob: Installation,
    alice_keys: SenderKeys,
    session: String,
    messages: Vec<(u32, Vec<u8>)>,
}

const PICKLE_KEY: [u8; 32] = [0x24; 32];

fn olm_pair() -> Option<OlmPair> {
    let (alice, mut bob) = (Installation::generate(), Installation::generate());
    let bob_bundle = bob.unsigned_bundle(&self::bob().to_string(), NOW, NOW + 1, NOW);
    let fallback = bob_bundle.fallback_key?.key;
    let mut outbound = alice.create_outbound_session(&bob_bundle.identity_key, &fallback).ok()?;
    let first = outbound.encrypt(&plaintexts()[0]).ok()?;
    let second = outbound.encrypt(&plaintexts()[1]).ok()?;
    let alice_bundle = alice.unsigned_bundle(&self::alice().to_string(), NOW, NOW + 1, NOW);
    let alice_keys = SenderKeys {
        identity_key: alice_bundle.identity_key,
        signing_key: alice_bundle.signing_key,
    };
    let (session, _) = bob.create_inbound_session(&alice_keys.identity_key, &first).ok()?;
    let session = session.to_encrypted_pickle(&PickleKey::from_bytes(PICKLE_KEY)).ok()?;
    let messages = [first, second].into_iter().map(|m| (m.message_type, m.ciphertext)).collect();
    Some(OlmPair { bob, alice_keys, session, messages })
}

/// Olm messages as Bob opens them: with the stored session, or with none (a pre-key message
/// then makes one). Only Alice's messages open, to what she sent.
#[test]
fn olm_message() {
    let Some(pair) = olm_pair() else { panic!("two installations made no session") };
    let bytes = pair.messages.iter().map(|(_, m)| m.clone()).collect();
    let messages = prop_oneof![
        4 => inputs::tagged_bytes_from(pair.messages.clone()),
        1 => (any::<u32>(), inputs::bytes_from(bytes)),
    ];
    let inputs = (messages, any::<bool>());
    let bob = RefCell::new(pair.bob);
    let sent = plaintexts();
    fuzz("olm_message", inputs, |((message_type, ciphertext), with_session)| {
        let payload = InboxPayload { message_type, ciphertext, ..InboxPayload::default() };
        let key = PickleKey::from_bytes(PICKLE_KEY);
        let mut sessions: Vec<OlmSession> = if with_session {
            OlmSession::from_encrypted_pickle(&pair.session, &key).into_iter().collect()
        } else {
            Vec::new()
        };
        let mut bob = bob.borrow_mut();
        let opened = bounded(payload.ciphertext.len(), || {
            open_payload(&mut bob, &payload, &pair.alice_keys, &mut sessions)
        })?;
        let Ok(opened) = opened else { return Ok(false) };
        let plaintext = opened.plaintext.encode_to_vec();
        check(sent.contains(&plaintext), || format!("opened to {:?}", opened.plaintext))?;
        Ok(true)
    });
}

#[test]
fn topic() {
    let valid =
        vec![Topic::contact(&alice().to_string()).into(), Topic::inbox(&"a1".repeat(32)).into()];
    fuzz("topic", inputs::text_from(valid), |text| {
        let Ok(topic) = bounded(text.len(), || Topic::parse(&text))? else { return Ok(false) };
        check(topic.as_str() == text, || format!("read {text:?} as {topic}"))?;
        Ok(true)
    });
}

#[test]
fn message_id_text() {
    let (alice, bob) = (alice().to_string(), bob().to_string());
    let convo_id = conversation_id(&alice, &bob);
    let valid = vec![message_id(&alice, &convo_id, "00112233445566778899aabbccddeeff")];
    fuzz("message_id", inputs::text_from(valid.clone()), |id| {
        let matches = bounded(id.len(), || message_id_matches(&id, &alice, &convo_id))?;
        check(!matches || valid.contains(&id), || format!("{id:?} passed as Alice's id"))?;
        Ok(matches)
    });
}

/// A length field claiming 4 GiB in a 6-byte input: every protobuf decoder refuses it
/// without allocating for the claim.
#[test]
fn a_claimed_4_gib_field_is_refused_without_allocating_it() {
    let mut claim = vec![0x0a];
    claim.extend(inputs::varint(1 << 32));
    assert_eq!(claim.len(), 6);
    let refused = |decoded: Result<bool, proptest::test_runner::TestCaseError>| {
        assert_eq!(decoded.map_err(|e| e.to_string()), Ok(false));
    };
    refused(bounded(claim.len(), || ContactEntry::decode(claim.as_slice()).is_ok()));
    refused(bounded(claim.len(), || ContactEntry::decode_bundle(&claim).is_some()));
    refused(bounded(claim.len(), || parse_inbound(&claim).is_ok()));
    refused(bounded(claim.len(), || Plaintext::decode(claim.as_slice()).is_ok()));
    refused(bounded(claim.len(), || verify_contact_entry(&claim, &alice(), NOW).is_ok()));
}
