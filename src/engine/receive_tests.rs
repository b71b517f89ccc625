//! The receiving steps natively: parsing, opening, what is stored, failures, notices and
//! re-sends.

#![allow(clippy::unwrap_used, clippy::panic)]

use prost::Message as _;

use super::*;
use crate::{
    engine::{
        MAX_RESENDS, Resend, SessionUpdate, message_id, plan_resend, plan_send,
        send::tests::installation,
    },
    wire::Invite,
};

const ALICE: &str = "0xaaaa000000000000000000000000000000000001";
const BOB: &str = "0xbbbb000000000000000000000000000000000002";
const MALLORY: &str = "0xcccc000000000000000000000000000000000003";

/// Alice's message to Bob, its id from `nonce`.
fn message(nonce: &str, text: &str) -> MessageRecord {
    MessageRecord {
        id: message_id(ALICE, &conversation_id(ALICE, BOB), nonce),
        convo_id: conversation_id(ALICE, BOB),
        sender_address: ALICE.into(),
        sent_at_ms: 42,
        state: MessageState::Uninitialized,
        content_type: "text/plain".into(),
        content: text.as_bytes().to_vec(),
        failure: None,
        resends: 0,
    }
}

fn conversation(peer: &str, state: ConversationState) -> ConversationRecord {
    ConversationRecord {
        id: conversation_id(ALICE, BOB),
        peer_address: peer.into(),
        state,
        created_at_ms: 1,
    }
}

fn inbound(bytes: &[u8]) -> InboundPayloadRecord {
    InboundPayloadRecord {
        hash: payload_hash(bytes),
        state: InboundPayloadState::Received,
        order: format!("{:020}", 7_000_000_000u64),
        received_at_ms: 8,
        payload: bytes.to_vec(),
        sender_installation_id: None,
        failure: None,
        detail: None,
        notice_pending: false,
    }
}

/// Alice (one installation) and Bob (one), each as the other stores it.
struct Pair {
    alice: Installation,
    alice_record: InstallationRecord,
    bob: Installation,
    bob_record: InstallationRecord,
}

fn pair() -> Pair {
    let (alice, alice_record) = installation(ALICE);
    let (bob, bob_record) = installation(BOB);
    Pair { alice, alice_record, bob, bob_record }
}

/// Alice's payload to Bob for `message`, on `session` (a new one if `None`), and the session.
fn alice_sends(
    pair: &Pair,
    message: &MessageRecord,
    session: Option<SessionUpdate>,
) -> (Vec<u8>, SessionUpdate) {
    let state = if session.is_some() {
        ConversationState::Invited
    } else {
        ConversationState::Uninitialized
    };
    let recipient = crate::engine::Recipient { installation: pair.bob_record.clone(), session };
    let mut step =
        plan_send(&pair.alice, message, &conversation(BOB, state), vec![recipient], 5).unwrap();
    (step.payloads.remove(0).payload, step.sessions.remove(0))
}

fn keys(record: &InstallationRecord) -> SenderKeys {
    SenderKeys::of(record).unwrap()
}

#[test]
fn parsing_refuses_oversized_malformed_and_ambiguous_payloads() {
    let failure = |bytes: &[u8]| parse_inbound(bytes).unwrap_err().failure;
    assert_eq!(failure(&vec![0; MAX_INBOX_PAYLOAD_BYTES + 1]), InboundFailure::Oversized);
    assert_eq!(failure(&[0xff, 0x01]), InboundFailure::Malformed);
    let payload = |address: &str, ciphertext: Vec<u8>, notice| InboxPayload {
        sender_address: address.into(),
        sender_installation_id: "i".into(),
        message_type: 1,
        ciphertext,
        notice,
        signature: vec![],
    };
    let notice = || Some(DecryptionFailureNotice::default());
    assert_eq!(failure(&payload("0x12", vec![1], None).encode_to_vec()), InboundFailure::Malformed);
    assert_eq!(failure(&payload(ALICE, vec![], None).encode_to_vec()), InboundFailure::Malformed);
    assert_eq!(
        failure(&payload(ALICE, vec![1], notice()).encode_to_vec()),
        InboundFailure::Malformed
    );
    let upper = ALICE.to_uppercase().replace("0X", "0x");
    let parsed = parse_inbound(&payload(&upper, vec![1], None).encode_to_vec()).unwrap();
    assert_eq!(parsed.sender_address, ALICE, "addresses are compared lower-case");
}

#[test]
fn an_invite_opens_a_session_and_creates_the_conversation_and_message() {
    let mut pair = pair();
    let (bytes, _) = alice_sends(&pair, &message("m1", "hello"), None);
    let payload = parse_inbound(&bytes).unwrap();
    let opened = open_payload(&mut pair.bob, &payload, &keys(&pair.alice_record), &mut []).unwrap();
    let record = inbound(&bytes);
    let step =
        plan_receive(BOB, &record, &pair.alice_record, &opened.plaintext, None, None, &[], 9)
            .unwrap();
    let conversation = step.conversation.unwrap();
    assert_eq!(
        (conversation.peer_address.as_str(), conversation.state),
        (ALICE, ConversationState::Invited)
    );
    let stored = step.message.unwrap();
    assert_eq!((&stored.id, stored.state), (&message("m1", "").id, MessageState::Received));
    assert_eq!((stored.content.as_slice(), stored.sent_at_ms), (&b"hello"[..], 42));
    assert_eq!(step.installation.unwrap().state, InstallationState::SessionCreated);
    assert_eq!(step.payload.state, InboundPayloadState::Processed);
    assert!(step.payload.payload.is_empty(), "processed bytes are dropped");

    // The same message id again (a re-send) stores nothing new.
    let again = plan_receive(
        BOB,
        &record,
        &pair.alice_record,
        &opened.plaintext,
        Some(&conversation),
        Some(&stored),
        &[],
        9,
    )
    .unwrap();
    assert_eq!((again.message, again.conversation), (None, None));
}

#[test]
fn later_payloads_of_a_session_decrypt_and_replays_are_told_apart() {
    let mut pair = pair();
    let (first, alice_session) = alice_sends(&pair, &message("m1", "one"), None);
    let alice_keys = keys(&pair.alice_record);
    let opened =
        open_payload(&mut pair.bob, &parse_inbound(&first).unwrap(), &alice_keys, &mut []).unwrap();
    let (second, _) = alice_sends(&pair, &message("m2", "two"), Some(alice_session));
    let second = parse_inbound(&second).unwrap();
    // Alice has not heard back, so this is a pre-key message of the same session.
    let mut bob_sessions = vec![opened.session.unwrap()];
    let again = open_payload(&mut pair.bob, &second, &alice_keys, &mut bob_sessions).unwrap();
    assert_eq!((again.used, again.session.is_none()), (Some(0), true), "the stored one is used");
    let replay = open_payload(&mut pair.bob, &second, &alice_keys, &mut bob_sessions).unwrap_err();
    assert_eq!(replay.failure, InboundFailure::Replay);
}

#[test]
fn opening_failures_have_their_own_reasons() {
    let mut pair = pair();
    let (bytes, alice_session) = alice_sends(&pair, &message("m1", "one"), None);
    let alice_keys = keys(&pair.alice_record);
    let payload = parse_inbound(&bytes).unwrap();

    // Someone else's identity key (a forged sender).
    let (_, mallory) = installation(MALLORY);
    let forged = open_payload(&mut pair.bob, &payload, &keys(&mallory), &mut []).unwrap_err();
    assert_eq!(forged.failure, InboundFailure::ForgedSender);

    // Bob answers, so Alice's next payload is a normal message.
    let opened = open_payload(&mut pair.bob, &payload, &alice_keys, &mut []).unwrap();
    let mut bob_session = opened.session.unwrap();
    let reply = bob_session.encrypt(b"reply").unwrap();
    let mut alice_session = alice_session;
    alice_session.session.decrypt(&reply).unwrap();
    let (normal, _) = alice_sends(&pair, &message("m2", "two"), Some(alice_session));
    let mut normal = parse_inbound(&normal).unwrap();
    assert_eq!(normal.message_type, 1);

    let lost = open_payload(&mut pair.bob, &normal, &alice_keys, &mut []).unwrap_err();
    assert_eq!(lost.failure, InboundFailure::UnknownSession);
    *normal.ciphertext.last_mut().unwrap() ^= 1;
    let tampered =
        open_payload(&mut pair.bob, &normal, &alice_keys, &mut [bob_session]).unwrap_err();
    assert_eq!(tampered.failure, InboundFailure::BadMac);
    assert!(tampered.failure.is_decryption_failure() && lost.failure.is_decryption_failure());
    assert!(!InboundFailure::Replay.is_decryption_failure());
    assert!(!InboundFailure::ForgedSender.is_decryption_failure());
}

fn chat(sender: &str, recipient: &str, convo: &str) -> Plaintext {
    let message = ChatMessage {
        id: message_id(sender, convo, "5eed"),
        convo_id: convo.into(),
        sender_address: sender.into(),
        sent_at_ms: 1,
        content_type: "text/plain".into(),
        content: b"x".to_vec(),
        recipient_address: recipient.into(),
    };
    Plaintext { kind: Some(PlaintextKind::Message(message)), repairs: vec![] }
}

#[test]
fn carried_messages_must_name_their_real_sender_and_this_account() {
    let failure = |own: &str, sender: &str, plaintext: &Plaintext| {
        carried_message(own, sender, plaintext).unwrap_err().failure
    };
    let ab = conversation_id(ALICE, BOB);
    // Mallory's installation writing "from Alice".
    assert_eq!(failure(BOB, MALLORY, &chat(ALICE, BOB, &ab)), InboundFailure::ForgedSender);
    // Alice writing to Mallory, delivered to Bob.
    let am = conversation_id(ALICE, MALLORY);
    assert_eq!(failure(BOB, ALICE, &chat(ALICE, MALLORY, &am)), InboundFailure::WrongConversation);
    // A conversation id that does not match the participants.
    assert_eq!(failure(BOB, ALICE, &chat(ALICE, BOB, &am)), InboundFailure::WrongConversation);
    // Alice's message id, in Mallory's message to Bob (to pre-empt Alice's).
    let mb = conversation_id(MALLORY, BOB);
    let mut copied = chat(MALLORY, BOB, &mb);
    if let Some(PlaintextKind::Message(m)) = &mut copied.kind {
        m.id = message_id(ALICE, &ab, "5eed");
    }
    assert_eq!(failure(BOB, MALLORY, &copied), InboundFailure::ForgedSender);
    let empty = Plaintext { kind: None, repairs: vec![] };
    assert_eq!(failure(BOB, ALICE, &empty), InboundFailure::Malformed);

    let (_, peer) = carried_message(BOB, ALICE, &chat(ALICE, BOB, &ab)).unwrap();
    assert_eq!(peer, ALICE);
    // Alice's own copy, at her other installation: the peer is the recipient.
    let (_, peer) = carried_message(ALICE, ALICE, &chat(ALICE, BOB, &ab)).unwrap();
    assert_eq!(peer, BOB);
}

#[test]
fn only_canonical_signed_payloads_with_numbers_in_range_pass() {
    let pair = pair();
    let (bytes, _) = alice_sends(&pair, &message("m1", "hello"), None);
    // The same payload with an unknown field appended: another hash, the same content.
    let mut longer = bytes.clone();
    longer.extend([0x78, 0x01]);
    assert_eq!(parse_inbound(&longer).unwrap_err().failure, InboundFailure::NonCanonical);
    let payload = parse_inbound(&bytes).unwrap();
    let alice = keys(&pair.alice_record);
    assert_eq!(verify_payload(pair.bob.id(), &payload, &alice), Ok(()));
    let refused =
        |id: &str, payload: &InboxPayload| verify_payload(id, payload, &alice).unwrap_err().failure;
    assert_eq!(refused("another", &payload), InboundFailure::BadSignature);
    let unsigned = InboxPayload { signature: vec![], ..payload.clone() };
    assert_eq!(refused(pair.bob.id(), &unsigned), InboundFailure::BadSignature);
    let bob_keys = keys(&pair.bob_record);
    assert!(verify_payload(pair.bob.id(), &payload, &bob_keys).is_err(), "Alice's key only");
    let wide = InboxPayload { message_type: 7, ..payload };
    assert_eq!(
        parse_inbound(&wide.encode_to_vec()).unwrap_err().failure,
        InboundFailure::Malformed
    );

    // A message dated past 2^53 - 1 (no JS number holds it) or far in the future.
    let ab = conversation_id(ALICE, BOB);
    let dated = |sent_at_ms: u64| {
        let mut plaintext = chat(ALICE, BOB, &ab);
        if let Some(PlaintextKind::Message(m)) = &mut plaintext.kind {
            m.sent_at_ms = sent_at_ms;
        }
        plan_receive(BOB, &inbound(b"p"), &pair.alice_record, &plaintext, None, None, &[], 10)
            .map(|_| ())
            .map_err(|r| r.failure)
    };
    assert_eq!(dated(MAX_SAFE_INTEGER + 1), Err(InboundFailure::Malformed));
    assert_eq!(dated(10 + MAX_FUTURE_MS + 1), Err(InboundFailure::Malformed));
    assert_eq!(dated(10 + MAX_FUTURE_MS), Ok(()));
}

#[test]
fn an_own_copy_is_stored_as_sent_by_this_account() {
    let (_, alice2) = installation(ALICE);
    let plaintext = chat(ALICE, BOB, &conversation_id(ALICE, BOB));
    let step =
        plan_receive(ALICE, &inbound(b"p"), &alice2, &plaintext, None, None, &[], 9).unwrap();
    assert_eq!(step.conversation.unwrap().peer_address, BOB);
    let stored = step.message.unwrap();
    assert_eq!((stored.state, stored.sender_address.as_str()), (MessageState::Sent, ALICE));
}

#[test]
fn a_decryption_failure_marks_notifies_at_most_once_per_interval_and_is_repaired() {
    let pair = pair();
    let record = inbound(b"broken");
    let rejection = Rejection { failure: InboundFailure::BadMac, detail: "mac".into() };
    let step =
        plan_decryption_failure(&pair.bob, BOB, &record, &rejection, &pair.alice_record, None, 100);
    assert_eq!(
        (step.payload.state, step.payload.failure),
        (InboundPayloadState::Failed, Some(InboundFailure::BadMac))
    );
    assert_eq!(step.payload.payload, b"broken", "failed bytes are kept for diagnosis");
    let marker = step.marker.unwrap();
    assert_eq!(
        (marker.id.clone(), marker.state),
        (marker_id(&record.hash), MessageState::Undecryptable)
    );
    assert_eq!(marker.sent_at_ms, 7_000, "placed at the envelope's time");
    assert_eq!(marker.failure.as_deref(), Some("BAD_MAC: mac"), "the code comes first");
    assert_eq!(step.conversation.unwrap().peer_address, ALICE);
    let noticed = step.installation.unwrap();
    assert_eq!(noticed.last_notice_at_ms, Some(100));

    // The notice verifies at Alice, and only there, and only unaltered.
    let notice = step.notice.unwrap();
    assert_eq!(notice.installation_id, pair.alice_record.id);
    let sent = parse_inbound(&notice.payload).unwrap();
    assert_eq!(
        verify_notice(pair.alice.id(), &sent, &keys(&pair.bob_record)).unwrap(),
        record.hash
    );
    let wrong_target = verify_notice("someone-else", &sent, &keys(&pair.bob_record));
    assert_eq!(wrong_target.unwrap_err().failure, InboundFailure::BadNotice);
    let mut altered = sent.clone();
    if let Some(n) = altered.notice.as_mut() {
        n.failed_payload_hash = "00".repeat(32);
    }
    assert_eq!(
        verify_notice(pair.alice.id(), &altered, &keys(&pair.bob_record)).unwrap_err().failure,
        InboundFailure::BadNotice
    );
    let (_, mallory) = installation(MALLORY);
    assert!(verify_notice(pair.alice.id(), &sent, &keys(&mallory)).is_err());

    // Within the interval: marked, but no second notice.
    let soon = plan_decryption_failure(
        &pair.bob,
        BOB,
        &inbound(b"again"),
        &rejection,
        &noticed,
        None,
        100 + NOTICE_INTERVAL_MS - 1,
    );
    assert!(soon.notice.is_none() && soon.installation.is_none() && soon.marker.is_some());
    let later = plan_decryption_failure(
        &pair.bob,
        BOB,
        &inbound(b"later"),
        &rejection,
        &noticed,
        None,
        100 + NOTICE_INTERVAL_MS,
    );
    assert!(later.notice.is_some());

    // From this account's other installation: no marker (its conversation is unknown).
    let (_, bob2) = installation(BOB);
    let own = plan_decryption_failure(&pair.bob, BOB, &record, &rejection, &bob2, None, 100);
    assert!(own.marker.is_none() && own.conversation.is_none() && own.notice.is_some());

    // The re-sent message replaces the marker, only if it comes from the marker's sender.
    let mut plaintext = chat(ALICE, BOB, &conversation_id(ALICE, BOB));
    plaintext.repairs = vec![record.hash.clone()];
    let repaired = plan_receive(
        BOB,
        &inbound(b"r"),
        &pair.alice_record,
        &plaintext,
        None,
        None,
        std::slice::from_ref(&marker),
        9,
    )
    .unwrap();
    assert_eq!(repaired.delete_markers, std::slice::from_ref(&marker.id));
    let mut mallory_says = chat(MALLORY, BOB, &conversation_id(MALLORY, BOB));
    mallory_says.repairs = vec![record.hash.clone()];
    let (_, mallory_record) = installation(MALLORY);
    let not_hers =
        plan_receive(BOB, &inbound(b"m"), &mallory_record, &mallory_says, None, None, &[marker], 9)
            .unwrap();
    assert!(not_hers.delete_markers.is_empty());
}

#[test]
fn a_resend_goes_on_a_new_session_as_invites_that_repair_and_is_capped() {
    let mut pair = pair();
    let failed = Resend {
        message: MessageRecord { state: MessageState::Sent, ..message("m1", "lost") },
        recipient_address: BOB.into(),
        failed_payload_hash: "ab".repeat(32),
    };
    let capped = Resend {
        message: MessageRecord { resends: MAX_RESENDS, ..message("m2", "again") },
        recipient_address: BOB.into(),
        failed_payload_hash: "cd".repeat(32),
    };
    let stored = SessionUpdate {
        installation_id: pair.bob_record.id.clone(),
        version: 4,
        session: alice_sends(&pair, &message("m0", "first"), None).1.session,
        previous: Vec::new(),
    };
    let old_id = stored.session.session_id();
    let stored = Some((stored, b"sealed".to_vec()));
    let step = plan_resend(&pair.alice, &pair.bob_record, stored, vec![failed, capped], 9).unwrap();
    assert_eq!(
        step.session
            .to_record(&crate::crypto::PickleKey::from_slice(&[7; 32]).unwrap())
            .unwrap()
            .version,
        5
    );
    assert_ne!(step.session.session.session_id(), old_id, "a re-send goes on a new session");
    assert_eq!(
        step.session.previous,
        [serde_bytes::ByteBuf::from(b"sealed".to_vec())],
        "the old one is kept"
    );
    assert_eq!(step.payloads.len(), 1, "a message re-sent {MAX_RESENDS} times is not re-sent");
    assert_eq!(step.messages.len(), 1);
    assert_eq!((step.messages[0].resends, step.messages[0].state), (1, MessageState::Sent));
    let payload = &step.payloads[0];
    assert_eq!(payload.message_ids, [message("m1", "").id]);
    assert_eq!(payload.session_id.as_deref(), Some(step.session.session.session_id().as_str()));
    assert_eq!(payload.payload_hash.as_deref(), Some(payload_hash(&payload.payload).as_str()));

    let opened = open_payload(
        &mut pair.bob,
        &parse_inbound(&payload.payload).unwrap(),
        &keys(&pair.alice_record),
        &mut [],
    )
    .unwrap();
    assert_eq!(opened.plaintext.repairs, ["ab".repeat(32)]);
    let Some(PlaintextKind::Invite(Invite { message: Some(message), .. })) = opened.plaintext.kind
    else {
        panic!("a re-send is an invite");
    };
    assert_eq!((message.id, message.recipient_address.as_str()), (self::message("m1", "").id, BOB));
}
