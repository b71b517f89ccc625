//! The receiving steps, in memory: read an inbox payload, open it with the sender
//! installation's session, and decide what to store; or, when it cannot be opened, what to
//! record and whom to tell.
//!
//! The caller stores each payload raw (`RECEIVED`) first, resolves the sender installation
//! (refreshing the claimed account if it is unknown), calls these, and commits the result in
//! one transaction that checks the session is still at the version it read.

use super::{
    ConversationRecord, ConversationState, InboundFailure, InboundPayloadRecord,
    InboundPayloadState, InstallationRecord, InstallationState, MessageRecord, MessageState,
    OutboundPayloadRecord, OutboundPayloadState, conversation_id,
};
use crate::{
    crypto::{
        Address, Installation, OlmCiphertext, OlmSession, OpenError, verify_installation_signature,
    },
    wire::{
        ChatMessage, ContactEntry, DecryptionFailureNotice, InboxPayload, MAX_INBOX_PAYLOAD_BYTES,
        Plaintext, PlaintextKind, payload_hash,
    },
};

/// How often one installation may be sent a decryption-failure notice.
pub const NOTICE_INTERVAL_MS: u64 = 60_000;

/// A payload that was not stored as a message: why, and details for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason.
    pub failure: InboundFailure,
    /// Details.
    pub detail: String,
}

impl Rejection {
    fn new(failure: InboundFailure, detail: impl Into<String>) -> Self {
        Self { failure, detail: detail.into() }
    }
}

/// Reads a raw inbox payload: its size, its protobuf, and the claimed sender's address.
pub fn parse_inbound(bytes: &[u8]) -> Result<InboxPayload, Rejection> {
    if bytes.len() > MAX_INBOX_PAYLOAD_BYTES {
        return Err(Rejection::new(InboundFailure::Oversized, format!("{} bytes", bytes.len())));
    }
    let mut payload = <InboxPayload as prost::Message>::decode(bytes)
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?;
    let sender = Address::parse(&payload.sender_address)
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?;
    payload.sender_address = sender.to_string();
    if payload.sender_installation_id.is_empty()
        || payload.notice.is_some() != payload.ciphertext.is_empty()
    {
        return Err(Rejection::new(InboundFailure::Malformed, "expected a ciphertext or a notice"));
    }
    Ok(payload)
}

/// The sender installation's verified keys, from its stored bundle.
pub struct SenderKeys {
    /// curve25519 identity key.
    pub identity_key: Vec<u8>,
    /// ed25519 signing key.
    pub signing_key: Vec<u8>,
}

impl SenderKeys {
    /// The keys in a stored installation's bundle.
    pub fn of(installation: &InstallationRecord) -> Result<Self, Rejection> {
        let bundle = ContactEntry::decode_bundle(&installation.bundle).ok_or_else(|| {
            Rejection::new(InboundFailure::UnknownSender, "the stored bundle is unreadable")
        })?;
        Ok(Self { identity_key: bundle.identity_key, signing_key: bundle.signing_key })
    }
}

/// An Olm payload opened: its plaintext and the session, advanced (or new).
#[derive(Debug)]
pub struct Opened {
    /// The decrypted content.
    pub plaintext: Plaintext,
    /// The session to store.
    pub session: OlmSession,
}

/// Decrypts `payload` with `session` (the stored session with the sender installation), or
/// opens a new inbound session if it is a pre-key message of another session.
pub fn open_payload(
    this: &mut Installation,
    payload: &InboxPayload,
    sender: &SenderKeys,
    session: Option<OlmSession>,
) -> Result<Opened, Rejection> {
    let message = OlmCiphertext {
        message_type: payload.message_type,
        ciphertext: payload.ciphertext.clone(),
    };
    let opened = match session {
        Some(mut session)
            if !message.is_pre_key()
                || message.pre_key_session_id().as_deref() == Some(&session.session_id()) =>
        {
            session.decrypt(&message).map(|plaintext| (session, plaintext))
        }
        _ if message.is_pre_key() => this.create_inbound_session(&sender.identity_key, &message),
        _ => {
            return Err(Rejection::new(
                InboundFailure::UnknownSession,
                "a normal message with no session",
            ));
        }
    };
    let (session, bytes) = opened.map_err(|e| {
        let failure = match &e {
            OpenError::Malformed(_) => InboundFailure::Malformed,
            OpenError::IdentityMismatch => InboundFailure::ForgedSender,
            OpenError::UnknownKey => InboundFailure::UnknownSession,
            OpenError::Replay => InboundFailure::Replay,
            OpenError::BadMac(_) => InboundFailure::BadMac,
        };
        Rejection::new(failure, e.to_string())
    })?;
    let plaintext = <Plaintext as prost::Message>::decode(bytes.as_slice())
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?;
    Ok(Opened { plaintext, session })
}

/// The message a plaintext carries, checked against its verified sender and this account:
/// returns it with the conversation's peer (from this account's side).
pub fn carried_message(
    own_address: &str,
    sender_address: &str,
    plaintext: &Plaintext,
) -> Result<(ChatMessage, String), Rejection> {
    let wrong = |detail: &str| Rejection::new(InboundFailure::WrongConversation, detail);
    let message = match &plaintext.kind {
        Some(PlaintextKind::Invite(invite)) => {
            let message = invite
                .message
                .clone()
                .ok_or_else(|| Rejection::new(InboundFailure::Malformed, "an empty invite"))?;
            if invite.convo_id != message.convo_id {
                return Err(wrong("the invite and its message name different conversations"));
            }
            message
        }
        Some(PlaintextKind::Message(message)) => message.clone(),
        None => return Err(Rejection::new(InboundFailure::Malformed, "an empty plaintext")),
    };
    if message.id.is_empty() || message.id.len() > 64 {
        return Err(Rejection::new(InboundFailure::Malformed, "a bad message id"));
    }
    if !message.sender_address.eq_ignore_ascii_case(sender_address) {
        return Err(Rejection::new(
            InboundFailure::ForgedSender,
            format!("a message from {} in a payload from {sender_address}", message.sender_address),
        ));
    }
    let recipient = Address::parse(&message.recipient_address)
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?
        .to_string();
    // From another account, a message must be to this one; from this account (another
    // installation's copy), it is to the peer.
    let peer = if sender_address == own_address {
        recipient.clone()
    } else if recipient == own_address {
        sender_address.to_owned()
    } else {
        return Err(wrong("a message to another account"));
    };
    if message.convo_id != conversation_id(sender_address, &recipient) {
        return Err(wrong("the conversation id does not match its participants"));
    }
    Ok((message, peer))
}

/// What storing an opened payload writes, besides its session.
#[derive(Debug, PartialEq)]
pub struct ReceiveStep {
    /// The payload, `PROCESSED` (its bytes dropped).
    pub payload: InboundPayloadRecord,
    /// The conversation, if new or newly `INVITED`.
    pub conversation: Option<ConversationRecord>,
    /// The message, unless one with its id is stored already (a resend shows once).
    pub message: Option<MessageRecord>,
    /// "Undecryptable" markers this message replaces.
    pub delete_markers: Vec<String>,
    /// The sender installation, if it now has a session.
    pub installation: Option<InstallationRecord>,
}

/// What an opened payload changes. `conversation`, `existing` and `markers` are the stored
/// conversation, the stored message with the carried id, and the stored markers of the
/// payloads it repairs.
#[allow(clippy::too_many_arguments)]
pub fn plan_receive(
    own_address: &str,
    payload: &InboundPayloadRecord,
    sender: &InstallationRecord,
    plaintext: &Plaintext,
    conversation: Option<&ConversationRecord>,
    existing: Option<&MessageRecord>,
    markers: &[MessageRecord],
    now_ms: u64,
) -> Result<ReceiveStep, Rejection> {
    let (message, peer) = carried_message(own_address, &sender.address, plaintext)?;
    let invite = matches!(plaintext.kind, Some(PlaintextKind::Invite(_)));
    let conversation = match conversation {
        None => Some(ConversationRecord {
            id: message.convo_id.clone(),
            peer_address: peer,
            state: ConversationState::Invited,
            created_at_ms: now_ms,
        }),
        Some(c) if invite && c.state == ConversationState::Uninitialized => {
            Some(ConversationRecord { state: ConversationState::Invited, ..c.clone() })
        }
        Some(_) => None,
    };
    let own = sender.address == own_address;
    let stored = existing.is_none().then(|| MessageRecord {
        id: message.id.clone(),
        convo_id: message.convo_id.clone(),
        sender_address: sender.address.clone(),
        sent_at_ms: message.sent_at_ms,
        // A copy of this account's own message, from its other installation: sent by "you".
        state: if own { MessageState::Sent } else { MessageState::Received },
        content_type: message.content_type.clone(),
        content: message.content.clone(),
        failure: None,
        resends: 0,
    });
    let delete_markers = markers
        .iter()
        .filter(|m| m.state == MessageState::Undecryptable && m.sender_address == sender.address)
        .filter(|m| plaintext.repairs.iter().any(|hash| m.id == marker_id(hash)))
        .map(|m| m.id.clone())
        .collect();
    Ok(ReceiveStep {
        payload: processed(payload, InboundPayloadState::Processed, None),
        conversation,
        message: stored,
        delete_markers,
        installation: (sender.state != InstallationState::SessionCreated).then(|| {
            InstallationRecord { state: InstallationState::SessionCreated, ..sender.clone() }
        }),
    })
}

/// The id of the marker that stands for the undecryptable payload `hash`.
pub fn marker_id(hash: &str) -> String {
    format!("undecryptable-{hash}")
}

/// `payload` in its final `state` (bytes kept only when it failed, for diagnosis).
pub fn processed(
    payload: &InboundPayloadRecord,
    state: InboundPayloadState,
    rejection: Option<&Rejection>,
) -> InboundPayloadRecord {
    InboundPayloadRecord {
        state,
        payload: if rejection.is_some() { payload.payload.clone() } else { Vec::new() },
        failure: rejection.map(|r| r.failure),
        detail: rejection.map(|r| r.detail.clone()),
        ..payload.clone()
    }
}

/// What a payload that could not be decrypted changes.
#[derive(Debug, PartialEq)]
pub struct FailureStep {
    /// The payload, `FAILED` with the reason.
    pub payload: InboundPayloadRecord,
    /// A marker in the conversation with the sender (none for this account's own
    /// installations: their conversation cannot be told).
    pub marker: Option<MessageRecord>,
    /// That conversation, if new.
    pub conversation: Option<ConversationRecord>,
    /// The signed notice to the sender installation, unless one went out recently.
    pub notice: Option<OutboundPayloadRecord>,
    /// The sender installation with the notice's time.
    pub installation: Option<InstallationRecord>,
}

/// A verified sender's payload did not decrypt: mark it, show a marker, and (at most once
/// per [`NOTICE_INTERVAL_MS`] per installation) ask the sender to re-send.
pub fn plan_decryption_failure(
    this: &Installation,
    own_address: &str,
    payload: &InboundPayloadRecord,
    rejection: &Rejection,
    sender: &InstallationRecord,
    conversation: Option<&ConversationRecord>,
    now_ms: u64,
) -> FailureStep {
    let convo_id = conversation_id(own_address, &sender.address);
    let show = sender.address != own_address;
    let marker = show.then(|| MessageRecord {
        id: marker_id(&payload.hash),
        convo_id: convo_id.clone(),
        sender_address: sender.address.clone(),
        sent_at_ms: payload.order.parse::<u64>().map_or(now_ms, |ns| ns / 1_000_000),
        state: MessageState::Undecryptable,
        content_type: String::new(),
        content: Vec::new(),
        failure: Some(format!("{}: {}", rejection.failure.code(), rejection.detail)),
        resends: 0,
    });
    let new_conversation = (show && conversation.is_none()).then(|| ConversationRecord {
        id: convo_id,
        peer_address: sender.address.clone(),
        state: ConversationState::Invited,
        created_at_ms: now_ms,
    });
    let due = sender.last_notice_at_ms.is_none_or(|at| now_ms >= at + NOTICE_INTERVAL_MS);
    let notice = due.then(|| {
        let mut notice = DecryptionFailureNotice {
            failed_payload_hash: payload.hash.clone(),
            recipient_installation_id: sender.id.clone(),
            created_at_ms: now_ms,
            signature: Vec::new(),
        };
        notice.signature = this.sign(&notice.signing_bytes(this.id()));
        let bytes = prost::Message::encode_to_vec(&InboxPayload {
            sender_address: own_address.to_owned(),
            sender_installation_id: this.id().to_owned(),
            message_type: 0,
            ciphertext: Vec::new(),
            notice: Some(notice),
        });
        OutboundPayloadRecord {
            seq: None,
            installation_id: sender.id.clone(),
            message_ids: Vec::new(),
            state: OutboundPayloadState::Uninitialized,
            payload_hash: Some(payload_hash(&bytes)),
            payload: bytes,
            created_at_ms: now_ms,
            attempts: 0,
            last_error: None,
            session_id: None,
        }
    });
    FailureStep {
        payload: processed(payload, InboundPayloadState::Failed, Some(rejection)),
        marker,
        conversation: new_conversation,
        installation: notice
            .is_some()
            .then(|| InstallationRecord { last_notice_at_ms: Some(now_ms), ..sender.clone() }),
        notice,
    }
}

/// Checks a decryption-failure notice: addressed to this installation and signed by the
/// sender installation's key. Returns the hash of the payload it names.
pub fn verify_notice(
    own_installation_id: &str,
    payload: &InboxPayload,
    sender: &SenderKeys,
) -> Result<String, Rejection> {
    let bad = |detail: &str| Rejection::new(InboundFailure::BadNotice, detail);
    let notice = payload.notice.as_ref().ok_or_else(|| bad("not a notice"))?;
    if notice.recipient_installation_id != own_installation_id {
        return Err(bad("addressed to another installation"));
    }
    let signed = notice.signing_bytes(&payload.sender_installation_id);
    if !verify_installation_signature(&sender.signing_key, &signed, &notice.signature) {
        return Err(bad("the signature does not verify"));
    }
    Ok(notice.failed_payload_hash.clone())
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
