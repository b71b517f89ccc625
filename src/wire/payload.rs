//! What travels on an inbox topic (an Olm message from one installation, or a signed notice
//! that one could not be decrypted) and the plaintext inside an Olm message (an invite
//! carrying a message, or a message).

use prost::Message;
use sha2::{Digest, Sha256};

/// The largest inbox payload accepted, like the node's envelope limit.
pub const MAX_INBOX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// A payload's name: hex sha-256 of its bytes. Receivers skip a name seen before, and a
/// decryption-failure notice names the payload that failed by it.
pub fn payload_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`: the one encoder of hashes and ids.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    text
}

/// One Olm message for one installation, as published to its inbox topic.
#[derive(Clone, PartialEq, Message)]
pub struct InboxPayload {
    /// The sender's wallet address (lower-case); checked against the sender's bundles.
    #[prost(string, tag = "1")]
    pub sender_address: String,
    /// The sender installation, whose session decrypts this.
    #[prost(string, tag = "2")]
    pub sender_installation_id: String,
    /// Olm message type: 0 pre-key, 1 normal.
    #[prost(uint32, tag = "3")]
    pub message_type: u32,
    /// The Olm ciphertext (empty for a notice).
    #[prost(bytes = "vec", tag = "4")]
    pub ciphertext: Vec<u8>,
    /// Instead of a ciphertext: this installation could not decrypt one of the recipient's
    /// payloads. Sent in the clear (the session is what broke), signed by the sender's
    /// ed25519 key.
    #[prost(message, optional, tag = "5")]
    pub notice: Option<DecryptionFailureNotice>,
    /// ed25519 signature by the sender installation over [`InboxPayload::signing_bytes`]:
    /// until Olm decrypts, the claimed sender is only a claim, and a payload that fails to
    /// decrypt shows a marker and asks its sender to re-send only if this verifies.
    #[prost(bytes = "vec", tag = "6")]
    pub signature: Vec<u8>,
}

impl InboxPayload {
    /// What the sender installation signs for the installation `recipient_installation_id`
    /// (so a payload cannot be replayed to another one).
    pub fn signing_bytes(&self, recipient_installation_id: &str) -> Vec<u8> {
        let mut bytes = format!(
            "e2ee-sdk inbox payload\nfrom {}\nto {recipient_installation_id}\ntype {}\n",
            self.sender_installation_id, self.message_type
        )
        .into_bytes();
        bytes.extend_from_slice(&self.ciphertext);
        bytes
    }
}

/// "I could not decrypt your payload `failed_payload_hash`": the recipient drops its session
/// with the sender and re-sends what that payload carried on a new one.
#[derive(Clone, PartialEq, Message)]
pub struct DecryptionFailureNotice {
    /// Hex sha-256 of the payload that failed.
    #[prost(string, tag = "1")]
    pub failed_payload_hash: String,
    /// The installation that sent that payload (the notice's recipient), so a notice cannot
    /// be replayed to another installation.
    #[prost(string, tag = "2")]
    pub recipient_installation_id: String,
    /// When the notice was made.
    #[prost(uint64, tag = "3")]
    pub created_at_ms: u64,
    /// ed25519 signature over [`DecryptionFailureNotice::signing_bytes`].
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

impl DecryptionFailureNotice {
    /// What the sender installation `sender_installation_id` signs.
    pub fn signing_bytes(&self, sender_installation_id: &str) -> Vec<u8> {
        format!(
            "e2ee-sdk decryption failure notice\nfrom {sender_installation_id}\nto {}\npayload \
             {}\nat {}",
            self.recipient_installation_id, self.failed_payload_hash, self.created_at_ms
        )
        .into_bytes()
    }
}

/// The decrypted content of an [`InboxPayload`].
#[derive(Clone, PartialEq, Message)]
pub struct Plaintext {
    /// An invite or a message.
    #[prost(oneof = "PlaintextKind", tags = "1, 2")]
    pub kind: Option<PlaintextKind>,
    /// Hashes of earlier payloads this one re-sends (their recipient reported they could not
    /// be decrypted): their "undecryptable" markers give way to this message.
    #[prost(string, repeated, tag = "3")]
    pub repairs: Vec<String>,
}

/// What a [`Plaintext`] holds.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PlaintextKind {
    /// The first payload of a conversation to an installation: creates it there.
    #[prost(message, tag = "1")]
    Invite(Invite),
    /// A message of a conversation the installation knows.
    #[prost(message, tag = "2")]
    Message(ChatMessage),
}

/// An invitation into a conversation, carrying its first message.
#[derive(Clone, PartialEq, Message)]
pub struct Invite {
    /// The conversation (derived from the two addresses).
    #[prost(string, tag = "1")]
    pub convo_id: String,
    /// The message it carries.
    #[prost(message, optional, tag = "2")]
    pub message: Option<ChatMessage>,
}

/// A message, with the stable id its sender chose (a resend shows once).
#[derive(Clone, PartialEq, Message)]
pub struct ChatMessage {
    /// Stable id (16 random bytes, hex).
    #[prost(string, tag = "1")]
    pub id: String,
    /// Its conversation.
    #[prost(string, tag = "2")]
    pub convo_id: String,
    /// The sender's address.
    #[prost(string, tag = "3")]
    pub sender_address: String,
    /// The sender's timestamp, ms since 1970.
    #[prost(uint64, tag = "4")]
    pub sent_at_ms: u64,
    /// Type of `content` (`text/plain` for text).
    #[prost(string, tag = "5")]
    pub content_type: String,
    /// The content.
    #[prost(bytes = "vec", tag = "6")]
    pub content: Vec<u8>,
    /// The other participant, from the sender's side: with `sender_address` it names the
    /// conversation, so the sender's other installations can file their copy under it.
    #[prost(string, tag = "7")]
    pub recipient_address: String,
}
