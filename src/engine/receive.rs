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
    OutboundPayloadRecord, OutboundPayloadState, conversation_id, message_id_matches,
};
use crate::{
    crypto::{
        Address, Installation, OlmCiphertext, OlmSession, OpenError, verify_installation_signature,
    },
    wire::{
        ChatMessage, ContactEntry, DecryptionFailureNotice, InboxPayload, MAX_INBOX_PAYLOAD_BYTES,
        MAX_SAFE_INTEGER, Plaintext, PlaintextKind, payload_hash,
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

/// How far ahead of this clock a message may be dated (clocks drift; a date past this is a
/// lie that would pin the message at the end of the conversation).
pub(crate) const MAX_FUTURE_MS: u64 = 24 * 60 * 60 * 1000;

/// The longest installation id accepted (they are 64 hex digits).
const MAX_ID_LEN: usize = 128;

/// Reads a raw inbox payload: its size, its protobuf (canonical only), the claimed sender's
/// address and every field's range.
pub fn parse_inbound(bytes: &[u8]) -> Result<InboxPayload, Rejection> {
    let malformed = |detail: &str| Rejection::new(InboundFailure::Malformed, detail);
    if bytes.len() > MAX_INBOX_PAYLOAD_BYTES {
        return Err(Rejection::new(InboundFailure::Oversized, format!("{} bytes", bytes.len())));
    }
    let mut payload = <InboxPayload as prost::Message>::decode(bytes)
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?;
    // Payloads are deduplicated by hash: another encoding of a known payload (an unknown
    // field appended, a longer varint) would pass as new.
    if prost::Message::encode_to_vec(&payload) != bytes {
        return Err(Rejection::new(InboundFailure::NonCanonical, "not prost's encoding"));
    }
    let sender = Address::parse(&payload.sender_address)
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?;
    payload.sender_address = sender.to_string();
    if payload.sender_installation_id.is_empty()
        || payload.notice.is_some() != payload.ciphertext.is_empty()
    {
        return Err(malformed("expected a ciphertext or a notice"));
    }
    if payload.sender_installation_id.len() > MAX_ID_LEN
        || payload.message_type > 1
        || payload.signature.len() > 64
    {
        return Err(malformed("a field out of range"));
    }
    if let Some(notice) = &payload.notice {
        if notice.failed_payload_hash.len() != 64
            || notice.recipient_installation_id.len() > MAX_ID_LEN
            || notice.created_at_ms > MAX_SAFE_INTEGER
            || notice.signature.len() > 64
        {
            return Err(malformed("a notice field out of range"));
        }
    }
    Ok(payload)
}

/// Checks that the sender installation signed `payload` for this one: before that, its
/// claimed sender is only a claim (anyone may publish to an inbox).
pub fn verify_payload(
    own_installation_id: &str,
    payload: &InboxPayload,
    sender: &SenderKeys,
) -> Result<(), Rejection> {
    let signed = payload.signing_bytes(own_installation_id);
    if verify_installation_signature(&sender.signing_key, &signed, &payload.signature) {
        Ok(())
    } else {
        Err(Rejection::new(InboundFailure::BadSignature, "not signed by its sender installation"))
    }
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

/// An Olm payload opened: its plaintext and which session opened it.
#[derive(Debug)]
pub struct Opened {
    /// The decrypted content.
    pub plaintext: Plaintext,
    /// A new inbound session that opened it (a pre-key message of none of the stored ones).
    pub session: Option<OlmSession>,
    /// The index of the stored session that opened it, advanced in place (`None`: a new one).
    pub used: Option<usize>,
}

/// Decrypts `payload` with one of `sessions` (the sessions with the sender installation,
/// current first), advancing that one in place, or opens a new inbound session if it is a
/// pre-key message of none of them. A normal message is tried on each session in turn:
/// Olm's MAC tells the right one, and a failed try changes nothing.
pub fn open_payload(
    this: &mut Installation,
    payload: &InboxPayload,
    sender: &SenderKeys,
    sessions: &mut [OlmSession],
) -> Result<Opened, Rejection> {
    let message = OlmCiphertext {
        message_type: payload.message_type,
        ciphertext: payload.ciphertext.clone(),
    };
    let pre_key_id = message.is_pre_key().then(|| message.pre_key_session_id()).flatten();
    let mut first_error = None;
    for (i, session) in sessions.iter_mut().enumerate() {
        if message.is_pre_key() && pre_key_id.as_deref() != Some(&session.session_id()) {
            continue;
        }
        match session.decrypt(&message) {
            Ok(bytes) => return opened(None, bytes, Some(i)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // A stored session that should open it and does not: that is the answer (a pre-key
    // message of a known session never makes a second one).
    let (session, bytes) = match first_error {
        Some(e) => Err(e),
        None if message.is_pre_key() => this.create_inbound_session(&sender.identity_key, &message),
        None => {
            return Err(Rejection::new(
                InboundFailure::UnknownSession,
                "a normal message with no session",
            ));
        }
    }
    .map_err(|e| {
        let failure = match &e {
            OpenError::Malformed(_) => InboundFailure::Malformed,
            OpenError::IdentityMismatch => InboundFailure::ForgedSender,
            OpenError::UnknownKey => InboundFailure::UnknownSession,
            OpenError::Replay => InboundFailure::Replay,
            OpenError::BadMac(_) => InboundFailure::BadMac,
        };
        Rejection::new(failure, e.to_string())
    })?;
    opened(Some(session), bytes, None)
}

fn opened(
    session: Option<OlmSession>,
    bytes: Vec<u8>,
    used: Option<usize>,
) -> Result<Opened, Rejection> {
    let plaintext = <Plaintext as prost::Message>::decode(bytes.as_slice())
        .map_err(|e| Rejection::new(InboundFailure::Malformed, e.to_string()))?;
    Ok(Opened { plaintext, session, used })
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
    // Stored as a JS number: a larger one would fail every save of this payload.
    if message.sent_at_ms > MAX_SAFE_INTEGER || message.content_type.len() > 255 {
        return Err(Rejection::new(InboundFailure::Malformed, "a message field out of range"));
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
    // Ids name their sender and conversation: another sender's id is a forgery, not a
    // duplicate of that sender's message.
    if !message_id_matches(&message.id, sender_address, &message.convo_id) {
        return Err(Rejection::new(InboundFailure::ForgedSender, "the message id is another's"));
    }
    Ok((message, peer))
}

/// [`carried_message`], refused also when dated too far ahead of `now_ms`: every reason
/// [`plan_receive`] may refuse an opened payload for, checked before anything is read for it.
pub fn receivable(
    own_address: &str,
    sender_address: &str,
    plaintext: &Plaintext,
    now_ms: u64,
) -> Result<(ChatMessage, String), Rejection> {
    let (message, peer) = carried_message(own_address, sender_address, plaintext)?;
    if message.sent_at_ms > now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(Rejection::new(InboundFailure::Malformed, "a message dated in the future"));
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
    let (message, peer) = receivable(own_address, &sender.address, plaintext, now_ms)?;
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

/// `payload` in its final `state` (bytes kept only when it failed to decrypt, for diagnosis;
/// refused ones are anyone's, and a flood of them must not fill the disk: the hash stays).
pub fn processed(
    payload: &InboundPayloadRecord,
    state: InboundPayloadState,
    rejection: Option<&Rejection>,
) -> InboundPayloadRecord {
    InboundPayloadRecord {
        state,
        payload: if state == InboundPayloadState::Failed {
            payload.payload.clone()
        } else {
            Vec::new()
        },
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
    /// The signed notice to the sender installation, unless one went out recently (then the
    /// payload is marked `notice_pending`, for [`plan_pending_notices`]).
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
    let due = notice_due(sender, now_ms);
    let notice = due.then(|| notice_payload(this, own_address, &payload.hash, &sender.id, now_ms));
    FailureStep {
        payload: InboundPayloadRecord {
            notice_pending: !due,
            ..processed(payload, InboundPayloadState::Failed, Some(rejection))
        },
        marker,
        conversation: new_conversation,
        installation: notice
            .is_some()
            .then(|| InstallationRecord { last_notice_at_ms: Some(now_ms), ..sender.clone() }),
        notice,
    }
}

/// Whether `sender` may be sent a notice now: one went out no sooner than
/// [`NOTICE_INTERVAL_MS`] ago.
fn notice_due(sender: &InstallationRecord, now_ms: u64) -> bool {
    sender.last_notice_at_ms.is_none_or(|at| now_ms >= at.saturating_add(NOTICE_INTERVAL_MS))
}

/// The signed notice, sent in the clear, that payload `failed_hash` could not be decrypted.
fn notice_payload(
    this: &Installation,
    own_address: &str,
    failed_hash: &str,
    sender_id: &str,
    now_ms: u64,
) -> OutboundPayloadRecord {
    let mut notice = DecryptionFailureNotice {
        failed_payload_hash: failed_hash.to_owned(),
        recipient_installation_id: sender_id.to_owned(),
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
        signature: Vec::new(),
    });
    OutboundPayloadRecord {
        seq: None,
        installation_id: sender_id.to_owned(),
        message_ids: Vec::new(),
        state: OutboundPayloadState::Uninitialized,
        payload_hash: Some(payload_hash(&bytes)),
        payload: bytes,
        created_at_ms: now_ms,
        attempts: 0,
        last_error: None,
        session_id: None,
        repairs: Vec::new(),
    }
}

/// Notices sent at most at once to one installation, when its interval has passed.
pub const MAX_NOTICES_AT_ONCE: usize = 16;

/// What sending waiting notices writes.
#[derive(Debug)]
pub struct PendingNotices {
    /// The notices.
    pub notices: Vec<OutboundPayloadRecord>,
    /// Their failed payloads, no longer waiting.
    pub payloads: Vec<InboundPayloadRecord>,
    /// The sender installation with the notices' time.
    pub installation: InstallationRecord,
}

/// The notices waiting for `sender` (`pending`: its `FAILED` payloads marked
/// `notice_pending`), if its interval has passed: up to [`MAX_NOTICES_AT_ONCE`], the oldest
/// first; the rest wait for the next interval.
pub fn plan_pending_notices(
    this: &Installation,
    own_address: &str,
    sender: &InstallationRecord,
    mut pending: Vec<InboundPayloadRecord>,
    now_ms: u64,
) -> Option<PendingNotices> {
    if pending.is_empty() || !notice_due(sender, now_ms) {
        return None;
    }
    pending.sort_by(|a, b| a.order.cmp(&b.order));
    pending.truncate(MAX_NOTICES_AT_ONCE);
    let notices = pending
        .iter()
        .map(|p| notice_payload(this, own_address, &p.hash, &sender.id, now_ms))
        .collect();
    let payloads =
        pending.into_iter().map(|p| InboundPayloadRecord { notice_pending: false, ..p }).collect();
    let installation = InstallationRecord { last_notice_at_ms: Some(now_ms), ..sender.clone() };
    Some(PendingNotices { notices, payloads, installation })
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
