//! What travels on an inbox topic (an Olm message from one installation) and the plaintext
//! inside it (an invite carrying a message, or a message).

use prost::Message;

/// The largest inbox payload accepted, like the node's envelope limit.
pub const MAX_INBOX_PAYLOAD_BYTES: usize = 1024 * 1024;

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
    /// The Olm ciphertext.
    #[prost(bytes = "vec", tag = "4")]
    pub ciphertext: Vec<u8>,
}

/// The decrypted content of an [`InboxPayload`].
#[derive(Clone, PartialEq, Message)]
pub struct Plaintext {
    /// An invite or a message.
    #[prost(oneof = "PlaintextKind", tags = "1, 2")]
    pub kind: Option<PlaintextKind>,
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
}
