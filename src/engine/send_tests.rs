//! The sending step natively: payload counts, invites, sessions and failure paths.

#![allow(clippy::unwrap_used, clippy::panic)]

use prost::Message as _;

use super::*;
use crate::wire::{ContactEntryKind, InstallationBundle};

const ALICE: &str = "0xaaaa000000000000000000000000000000000001";
const BOB: &str = "0xbbbb000000000000000000000000000000000002";

fn key() -> PickleKey {
    PickleKey::from_bytes([9; 32])
}

/// An installation and its stored record (the bundle's signatures are not checked here).
pub(in crate::engine) fn installation(address: &str) -> (Installation, InstallationRecord) {
    let installation = Installation::generate();
    let bundle: InstallationBundle = installation.unsigned_bundle(address, 0, u64::MAX, 0);
    let record = InstallationRecord {
        id: installation.id().to_owned(),
        address: address.to_owned(),
        state: InstallationState::Uninitialized,
        bundle: ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes(),
        expires_at_ms: u64::MAX,
        last_notice_at_ms: None,
    };
    (installation, record)
}

fn message(state: MessageState) -> MessageRecord {
    MessageRecord {
        id: "m1".into(),
        convo_id: conversation_id(ALICE, BOB),
        sender_address: ALICE.into(),
        sent_at_ms: 42,
        state,
        content_type: "text/plain".into(),
        content: b"hello".to_vec(),
        failure: None,
        resends: 0,
    }
}

fn conversation(state: ConversationState) -> ConversationRecord {
    ConversationRecord {
        id: conversation_id(ALICE, BOB),
        peer_address: BOB.into(),
        state,
        created_at_ms: 1,
    }
}

/// Decrypts a payload at its recipient, opening the inbound session.
fn open(
    recipient: &mut Installation,
    sender: &Installation,
    payload: &[u8],
) -> (OlmSession, Plaintext) {
    let payload = InboxPayload::decode(payload).unwrap();
    assert_eq!(payload.sender_installation_id, sender.id());
    let identity = sender.unsigned_bundle(ALICE, 0, 1, 0).identity_key;
    let message = crate::crypto::OlmCiphertext {
        message_type: payload.message_type,
        ciphertext: payload.ciphertext,
    };
    let (session, plaintext) = recipient.create_inbound_session(&identity, &message).unwrap();
    (session, Plaintext::decode(plaintext.as_slice()).unwrap())
}

#[test]
fn conversation_ids_are_symmetric_and_case_blind() {
    assert_eq!(conversation_id(ALICE, BOB), conversation_id(BOB, ALICE));
    assert_eq!(conversation_id(ALICE, BOB), conversation_id(&ALICE.to_uppercase(), BOB));
    assert_ne!(conversation_id(ALICE, BOB), conversation_id(ALICE, ALICE));
    assert_eq!(conversation_id(ALICE, BOB).len(), 32);
}

#[test]
fn two_installations_to_three_make_four_invites() {
    let (alice1, a1) = installation(ALICE);
    let (_, a2) = installation(ALICE);
    let mut bobs: Vec<(Installation, InstallationRecord)> =
        (0..3).map(|_| installation(BOB)).collect();
    let mut recipients = vec![
        Recipient { installation: a1, session: None },
        Recipient { installation: a2.clone(), session: None },
    ];
    recipients
        .extend(bobs.iter().map(|(_, r)| Recipient { installation: r.clone(), session: None }));

    let step = plan_send(
        &alice1,
        &message(MessageState::Uninitialized),
        &conversation(ConversationState::Uninitialized),
        recipients,
        100,
    )
    .unwrap();

    assert_eq!(step.payloads.len(), 4, "3 to Bob, 1 to Alice's other installation");
    let targets: Vec<&str> = step.payloads.iter().map(|p| p.installation_id.as_str()).collect();
    let mut expected = vec![a2.id.as_str()];
    expected.extend(bobs.iter().map(|(_, r)| r.id.as_str()));
    assert_eq!(targets, expected);
    assert!(step.payloads.iter().all(|p| p.state == OutboundPayloadState::Uninitialized));
    assert_eq!(step.message.state, MessageState::Committed);
    assert_eq!(step.conversation.state, ConversationState::Invited);
    assert_eq!(step.sessions.len(), 4);
    assert!(step.sessions.iter().all(|s| s.version == 0), "read as absent");
    assert!(step.installations.iter().all(|i| i.state == InstallationState::SessionCreated));

    for (payload, (bob, _)) in step.payloads[1..].iter().zip(bobs.iter_mut()) {
        let (_, plaintext) = open(bob, &alice1, &payload.payload);
        match plaintext.kind {
            Some(PlaintextKind::Invite(invite)) => {
                assert_eq!(invite.convo_id, conversation_id(ALICE, BOB));
                let carried = invite.message.unwrap();
                assert_eq!(
                    (carried.id.as_str(), carried.content.as_slice()),
                    ("m1", &b"hello"[..])
                );
            }
            other => panic!("expected an invite, got {other:?}"),
        }
    }
}

#[test]
fn an_existing_session_advances_and_carries_a_plain_message() {
    let (alice, _) = installation(ALICE);
    let (mut bob, bob_record) = installation(BOB);
    let first = plan_send(
        &alice,
        &message(MessageState::Uninitialized),
        &conversation(ConversationState::Uninitialized),
        vec![Recipient { installation: bob_record.clone(), session: None }],
        100,
    )
    .unwrap();
    let (mut bob_session, _) = open(&mut bob, &alice, &first.payloads[0].payload);

    // Through storage and back, as the driver does.
    let record = first.sessions[0].to_record(&key()).unwrap();
    let stored = std::str::from_utf8(&record.pickle).unwrap();
    let session = OlmSession::from_encrypted_pickle(stored, &key()).unwrap();
    let second = plan_send(
        &alice,
        &MessageRecord { id: "m2".into(), ..message(MessageState::Uninitialized) },
        &conversation(ConversationState::Invited),
        vec![Recipient {
            installation: first.installations[0].clone(),
            session: Some(SessionUpdate {
                installation_id: bob_record.id.clone(),
                version: 3,
                session,
                previous: Vec::new(),
            }),
        }],
        100,
    )
    .unwrap();
    let read = &second.sessions[0];
    assert_eq!((&read.installation_id, read.version), (&bob_record.id, 3));
    assert_eq!(second.sessions[0].to_record(&key()).unwrap().version, 4);
    assert!(second.installations.is_empty(), "already SESSION_CREATED");

    let payload = InboxPayload::decode(second.payloads[0].payload.as_slice()).unwrap();
    let plaintext = bob_session
        .decrypt(&crate::crypto::OlmCiphertext {
            message_type: payload.message_type,
            ciphertext: payload.ciphertext,
        })
        .unwrap();
    match Plaintext::decode(plaintext.as_slice()).unwrap().kind {
        Some(PlaintextKind::Message(m)) => assert_eq!(m.id, "m2"),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn failures_write_nothing() {
    let (alice, _) = installation(ALICE);
    let (_, bob_record) = installation(BOB);
    let committed = plan_send(
        &alice,
        &message(MessageState::Committed),
        &conversation(ConversationState::Invited),
        vec![],
        100,
    );
    assert!(matches!(committed, Err(SendError::NotPending(MessageState::Committed))));

    let broken = InstallationRecord { bundle: vec![0xff, 0x01], ..bob_record.clone() };
    let result = plan_send(
        &alice,
        &message(MessageState::Uninitialized),
        &conversation(ConversationState::Uninitialized),
        vec![
            Recipient { installation: bob_record, session: None },
            Recipient { installation: broken, session: None },
        ],
        100,
    );
    assert!(matches!(result, Err(SendError::BadBundle(_))), "no partial step is returned");
}
