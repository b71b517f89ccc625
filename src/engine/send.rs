//! The seed's sending step, in memory: for one `UNINITIALIZED` message, encrypt it for every
//! installation of both participants but this one, creating Olm sessions where none exist.
//!
//! The caller reads the records (and decrypts the sessions), calls [`plan_send`], then commits
//! the returned [`SendStep`] in one transaction that first checks every session is still at
//! the version it read; if one moved, nothing is written and the step is redone. (That commit
//! and the delivery queue are the sending issue's next part.)

use sha2::{Digest, Sha256};

use super::{
    ConversationRecord, ConversationState, InstallationRecord, InstallationState,
    MAX_PREVIOUS_SESSIONS, MessageRecord, MessageState, OutboundPayloadRecord,
    OutboundPayloadState, SessionRecord,
};
use crate::{
    crypto::{CryptoError, Installation, OlmSession, PickleKey},
    wire::{
        ChatMessage, ContactEntry, InboxPayload, Invite, Plaintext, PlaintextKind, payload_hash,
    },
};

/// The id both sides derive for the conversation of two addresses (lower-case, sorted), so
/// neither has to tell the other.
pub fn conversation_id(a: &str, b: &str) -> String {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::new()
        .chain_update(b"e2ee-sdk conversation\n")
        .chain_update(low.as_bytes())
        .chain_update(b"\n")
        .chain_update(high.as_bytes())
        .finalize();
    crate::wire::hex(&digest[..16])
}

/// One installation to encrypt for, with its sessions if there are any.
pub struct Recipient {
    /// The installation (its verified bundle inside).
    pub installation: InstallationRecord,
    /// The stored sessions and the version they were read at.
    pub session: Option<SessionUpdate>,
}

/// The sessions with one peer installation as a step holds them: the current one (opened,
/// possibly advanced) and the older ones still sealed. To store (or to use for the next
/// message of a group).
#[derive(Debug)]
pub struct SessionUpdate {
    /// The peer installation.
    pub installation_id: String,
    /// The version read, until [`SessionUpdate::to_record`] stores it as the next one.
    pub version: u32,
    /// The current session: messages go out on it.
    pub session: OlmSession,
    /// Older sessions' sealed pickles, newest first (see [`SessionRecord::previous`]).
    pub previous: Vec<serde_bytes::ByteBuf>,
}

impl SessionUpdate {
    /// The record to store at the version after the one read, the current session sealed
    /// under `key`.
    pub fn to_record(&self, key: &PickleKey) -> Result<SessionRecord, CryptoError> {
        let mut previous = self.previous.clone();
        previous.truncate(MAX_PREVIOUS_SESSIONS);
        Ok(SessionRecord {
            installation_id: self.installation_id.clone(),
            version: self.version.saturating_add(1),
            pickle: self.session.to_encrypted_pickle(key)?.into_bytes(),
            previous,
        })
    }

    /// `session` becomes the current one; the current one, sealed as `current_pickle`, goes
    /// first among the older ones.
    pub fn replace(&mut self, session: OlmSession, current_pickle: Vec<u8>) {
        self.session = session;
        self.previous.insert(0, serde_bytes::ByteBuf::from(current_pickle));
        self.previous.truncate(MAX_PREVIOUS_SESSIONS);
    }
}

/// What one sending step writes, all in one transaction.
#[derive(Debug)]
pub struct SendStep {
    /// One payload per recipient installation, in recipient order.
    pub payloads: Vec<OutboundPayloadRecord>,
    /// Every session used, advanced (at the version read).
    pub sessions: Vec<SessionUpdate>,
    /// Installations that now have a session.
    pub installations: Vec<InstallationRecord>,
    /// The message, `COMMITTED`.
    pub message: MessageRecord,
    /// The conversation, `INVITED`.
    pub conversation: ConversationRecord,
}

/// Why a message could not be encrypted for some installation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The message is not waiting to be sent.
    #[error("expected an UNINITIALIZED message, got {0:?}")]
    NotPending(MessageState),
    /// A stored bundle cannot be read (it was verified when stored, so the row is corrupt).
    #[error("the stored bundle of installation {0} is unreadable")]
    BadBundle(String),
    /// Olm refused (a bad key in the bundle, say).
    #[error("encrypting for installation {installation_id}: {source}")]
    Crypto {
        /// The installation.
        installation_id: String,
        /// What Olm said.
        source: CryptoError,
    },
}

/// The wire form of a stored message, to `recipient_address` (the other participant).
fn chat_message(message: &MessageRecord, recipient_address: &str) -> ChatMessage {
    ChatMessage {
        id: message.id.clone(),
        convo_id: message.convo_id.clone(),
        sender_address: message.sender_address.clone(),
        sent_at_ms: message.sent_at_ms,
        content_type: message.content_type.clone(),
        content: message.content.clone(),
        recipient_address: recipient_address.to_owned(),
    }
}

/// Encrypts one plaintext of the message `message` for one installation, as a queued payload.
fn encrypt_payload(
    this: &Installation,
    message: &MessageRecord,
    session: &mut OlmSession,
    installation_id: &str,
    plaintext: Plaintext,
    now_ms: u64,
) -> Result<OutboundPayloadRecord, CryptoError> {
    let encrypted = session.encrypt(&prost::Message::encode_to_vec(&plaintext))?;
    let mut payload = InboxPayload {
        sender_address: message.sender_address.clone(),
        sender_installation_id: this.id().to_owned(),
        message_type: encrypted.message_type,
        ciphertext: encrypted.ciphertext,
        notice: None,
        signature: Vec::new(),
    };
    payload.signature = this.sign(&payload.signing_bytes(installation_id));
    let payload = prost::Message::encode_to_vec(&payload);
    Ok(OutboundPayloadRecord {
        seq: None,
        installation_id: installation_id.to_owned(),
        message_ids: vec![message.id.clone()],
        state: OutboundPayloadState::Uninitialized,
        payload_hash: Some(payload_hash(&payload)),
        payload,
        created_at_ms: now_ms,
        attempts: 0,
        last_error: None,
        session_id: Some(session.session_id()),
        repairs: Vec::new(),
    })
}

/// A new outbound session to `installation`, from its stored bundle.
fn new_session(
    this: &Installation,
    installation: &InstallationRecord,
) -> Result<OlmSession, SendError> {
    let bad = || SendError::BadBundle(installation.id.clone());
    let bundle = ContactEntry::decode_bundle(&installation.bundle).ok_or_else(bad)?;
    let fallback = bundle.fallback_key.ok_or_else(bad)?;
    this.create_outbound_session(&bundle.identity_key, &fallback.key)
        .map_err(|source| SendError::Crypto { installation_id: installation.id.clone(), source })
}

/// Encrypts `message` for every recipient but this installation.
pub fn plan_send(
    this: &Installation,
    message: &MessageRecord,
    conversation: &ConversationRecord,
    recipients: Vec<Recipient>,
    now_ms: u64,
) -> Result<SendStep, SendError> {
    if message.state != MessageState::Uninitialized {
        return Err(SendError::NotPending(message.state));
    }
    let chat = chat_message(message, &conversation.peer_address);
    let mut step = SendStep {
        payloads: Vec::new(),
        sessions: Vec::new(),
        installations: Vec::new(),
        message: MessageRecord { state: MessageState::Committed, ..message.clone() },
        conversation: ConversationRecord {
            state: ConversationState::Invited,
            ..conversation.clone()
        },
    };
    for Recipient { installation, session } in recipients {
        if installation.id == this.id() {
            continue;
        }
        let (mut session, read_version, previous, new) = match session {
            Some(update) => (update.session, update.version, update.previous, false),
            None => (new_session(this, &installation)?, 0, Vec::new(), true),
        };
        // An installation's first payload, and every one while the conversation is new,
        // is an invite: it creates the conversation on the other side.
        let invite = new || conversation.state == ConversationState::Uninitialized;
        let kind = if invite {
            PlaintextKind::Invite(Invite {
                convo_id: conversation.id.clone(),
                message: Some(chat.clone()),
            })
        } else {
            PlaintextKind::Message(chat.clone())
        };
        let plaintext = Plaintext { kind: Some(kind), repairs: Vec::new() };
        let payload =
            encrypt_payload(this, message, &mut session, &installation.id, plaintext, now_ms)
                .map_err(|source| SendError::Crypto {
                    installation_id: installation.id.clone(),
                    source,
                })?;
        step.payloads.push(payload);
        step.sessions.push(SessionUpdate {
            installation_id: installation.id.clone(),
            version: read_version,
            session,
            previous,
        });
        if installation.state != InstallationState::SessionCreated {
            step.installations.push(InstallationRecord {
                state: InstallationState::SessionCreated,
                ..installation
            });
        }
    }
    Ok(step)
}

/// Times a message is re-sent to one recipient after decryption-failure notices; past this,
/// a broken peer gets no more copies.
pub const MAX_RESENDS: u32 = 3;

/// A message to re-send: the message, its conversation's peer, and the hash of the payload
/// that failed (the receiver's marker for it gives way).
pub struct Resend {
    /// The message.
    pub message: MessageRecord,
    /// The other participant of its conversation.
    pub recipient_address: String,
    /// The hash of its payload that the recipient could not decrypt (or that rode on the
    /// broken session).
    pub failed_payload_hash: String,
}

/// What re-sending writes: a new session with the installation (the current one from now
/// on), the payloads, and the messages with their resend count.
#[derive(Debug)]
pub struct ResendStep {
    /// The sessions, the new one current (at the version read).
    pub session: SessionUpdate,
    /// One invite per message, on the new session.
    pub payloads: Vec<OutboundPayloadRecord>,
    /// The messages, `resends` counted.
    pub messages: Vec<MessageRecord>,
}

/// Re-sends `messages` to `installation` on a new session, after it reported that it could
/// not decrypt; the stored sessions (`stored`, with `current_pickle` the current one's sealed
/// pickle) are kept as older ones. Messages already re-sent [`MAX_RESENDS`] times are left
/// out.
pub fn plan_resend(
    this: &Installation,
    installation: &InstallationRecord,
    stored: Option<(SessionUpdate, Vec<u8>)>,
    resends: Vec<Resend>,
    now_ms: u64,
) -> Result<ResendStep, SendError> {
    let mut session = new_session(this, installation)?;
    let (mut payloads, mut messages) = (Vec::new(), Vec::new());
    for Resend { message, recipient_address, failed_payload_hash } in resends {
        if message.resends >= MAX_RESENDS {
            continue;
        }
        // Every payload of a new session is an invite: the receiver may have lost the
        // conversation along with the session.
        let plaintext = Plaintext {
            kind: Some(PlaintextKind::Invite(Invite {
                convo_id: message.convo_id.clone(),
                message: Some(chat_message(&message, &recipient_address)),
            })),
            repairs: vec![failed_payload_hash.clone()],
        };
        let mut payload =
            encrypt_payload(this, &message, &mut session, &installation.id, plaintext, now_ms)
                .map_err(|source| SendError::Crypto {
                    installation_id: installation.id.clone(),
                    source,
                })?;
        payload.repairs = vec![failed_payload_hash];
        payloads.push(payload);
        messages.push(MessageRecord { resends: message.resends.saturating_add(1), ..message });
    }
    let session = match stored {
        Some((mut update, current_pickle)) => {
            update.replace(session, current_pickle);
            update
        }
        None => SessionUpdate {
            installation_id: installation.id.clone(),
            version: 0,
            session,
            previous: Vec::new(),
        },
    };
    Ok(ResendStep { session, payloads, messages })
}

#[cfg(test)]
#[path = "send_tests.rs"]
pub(super) mod tests;
