//! The records the engine reads and writes: one per object store.
//!
//! They are plain data, so the engine can take them in and hand back the ones to write
//! without knowing IndexedDB; `store/` maps each to its object store. Secrets are held only
//! as encrypted blobs, and only the plain fields an index or a state step needs are in the
//! clear. Times are
//! milliseconds since the Unix epoch (IndexedDB keys cannot hold a 64-bit nanosecond value).

use serde::{Deserialize, Serialize};

use super::{
    ConversationState, InboundFailure, InboundPayloadState, InstallationState, MessageState,
    OutboundPayloadState,
};

/// A named value of this installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaRecord {
    /// The name.
    pub key: String,
    /// The value (encrypted where it is secret).
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// An account this installation knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Lower-case `0x` wallet address.
    pub address: String,
    /// When its installations were last fetched from the network, if ever.
    pub installations_fetched_at_ms: Option<u64>,
    /// What the last fetch refused, and why.
    #[serde(default)]
    pub rejected: Vec<super::RejectedEntry>,
    /// Installations its wallet revoked, as ever verified here: kept for good, so a node
    /// that later omits a revocation cannot bring the installation back.
    #[serde(default)]
    pub revoked: Vec<String>,
}

/// A verified installation of some account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationRecord {
    /// The installation id.
    pub id: String,
    /// Its account's address.
    pub address: String,
    /// Whether a session with it exists.
    pub state: InstallationState,
    /// Its verified public bundle, as received.
    #[serde(with = "serde_bytes")]
    pub bundle: Vec<u8>,
    /// When the bundle expires.
    pub expires_at_ms: u64,
    /// When this installation last sent it a decryption-failure notice (they are
    /// rate-limited per installation, so two broken peers cannot keep each other busy).
    #[serde(default)]
    pub last_notice_at_ms: Option<u64>,
}

/// The Olm session with one peer installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The peer installation.
    pub installation_id: String,
    /// Bumped on every write: a step that read version N commits only if it is still N, so
    /// two tabs can never fork a ratchet.
    pub version: u32,
    /// The encrypted pickle of the current session: the one messages go out on.
    #[serde(with = "serde_bytes")]
    pub pickle: Vec<u8>,
    /// Encrypted pickles of older sessions with the same installation, newest first (at most
    /// [`MAX_PREVIOUS_SESSIONS`]): kept to decrypt what the peer sent on them, since two
    /// installations that start sessions at once, or a re-send, leave one side a session
    /// behind the other for a while.
    #[serde(default)]
    pub previous: Vec<serde_bytes::ByteBuf>,
}

/// Older sessions kept per peer installation (see [`SessionRecord::previous`]).
pub const MAX_PREVIOUS_SESSIONS: usize = 4;

/// A 1:1 conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRecord {
    /// Derived from the two lower-case addresses, so both sides agree.
    pub id: String,
    /// The other account's address.
    pub peer_address: String,
    /// Whether an invite went out.
    pub state: ConversationState,
    /// When it was created here.
    pub created_at_ms: u64,
}

/// A message, sent or received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Stable id chosen by the sender, so a resend is shown once.
    pub id: String,
    /// Its conversation.
    pub convo_id: String,
    /// The sender's address.
    pub sender_address: String,
    /// The sender's timestamp.
    pub sent_at_ms: u64,
    /// Where it is in its life.
    pub state: MessageState,
    /// MIME-like type of `content` (`text/plain` for text).
    pub content_type: String,
    /// The content.
    #[serde(with = "serde_bytes")]
    pub content: Vec<u8>,
    /// Why it is `FAILED` or `UNDECRYPTABLE`, when it is.
    #[serde(default)]
    pub failure: Option<String>,
    /// Times it was re-sent because a recipient could not decrypt it (capped).
    #[serde(default)]
    pub resends: u32,
}

/// An encrypted payload queued for one installation's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundPayloadRecord {
    /// Sequential id assigned by IndexedDB on insert; absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The recipient installation.
    pub installation_id: String,
    /// The messages it carries.
    pub message_ids: Vec<String>,
    /// Where it is in the queue.
    pub state: OutboundPayloadState,
    /// The envelope's bytes (kept, not re-encrypted, for retries).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// The envelope's timestamp, fixed when queued so a retry publishes the same envelope.
    pub created_at_ms: u64,
    /// Publish attempts that failed so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Hex sha-256 of the payload: a decryption-failure notice names the payload by it
    /// (kept when the bytes are dropped after sending, `deleteSentPayloads`).
    #[serde(default)]
    pub payload_hash: Option<String>,
    /// The Olm session that encrypted it: a notice names a payload, and everything sent on
    /// its session from it on is re-sent.
    #[serde(default)]
    pub session_id: Option<String>,
    /// For a re-send: the hashes of the payloads it stands in for. A notice about a payload
    /// named here (or about a later payload of the same session) re-sends nothing more.
    #[serde(default)]
    pub repairs: Vec<String>,
}

/// A payload pulled from this installation's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundPayloadRecord {
    /// Hex sha-256 of the payload: a hash seen before is a duplicate.
    pub hash: String,
    /// Where it is in processing.
    pub state: InboundPayloadState,
    /// Processing order: the envelope's timestamp (ns) as 20 zero-padded digits, so that a
    /// string index sorts it (IndexedDB numbers cannot hold it exactly).
    pub order: String,
    /// When it was received here.
    pub received_at_ms: u64,
    /// The raw payload, stored before processing; dropped once processed (the hash stays).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// The sender installation it claims, once read.
    #[serde(default)]
    pub sender_installation_id: Option<String>,
    /// Why it is `FAILED` or `REJECTED`.
    #[serde(default)]
    pub failure: Option<InboundFailure>,
    /// The failure's details, for logs.
    #[serde(default)]
    pub detail: Option<String>,
    /// A `FAILED` payload whose decryption-failure notice waits for the sender's notice
    /// interval (notices are rate-limited per installation, never dropped).
    #[serde(default)]
    pub notice_pending: bool,
}

/// The `meta` key of the [`InboxCursorRecord`].
pub const INBOX_CURSOR: &str = "inbox_cursor";

/// Where the last pull of this installation's inbox ended (the node's paging cursor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCursorRecord {
    /// Always [`INBOX_CURSOR`].
    pub key: String,
    /// The cursor's digest.
    #[serde(with = "serde_bytes")]
    pub digest: Vec<u8>,
    /// The cursor's envelope timestamp, in decimal (a `u64` does not fit a JS number).
    pub sender_time_ns: String,
}

/// The `meta` key of the [`OwnInstallationRecord`].
pub const OWN_INSTALLATION: &str = "own_installation";

/// This profile's own installation, kept in the `meta` store under [`OWN_INSTALLATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnInstallationRecord {
    /// Always [`OWN_INSTALLATION`].
    pub key: String,
    /// The installation id.
    pub id: String,
    /// The wallet it is linked to, lower-case `0x` form.
    pub address: String,
    /// The vodozemac account, encrypted under the pickle key.
    pub pickle: String,
    /// The signed contact entry (bundle) as last published or to be published.
    #[serde(with = "serde_bytes")]
    pub bundle: Vec<u8>,
    /// Whether the node acknowledged `bundle`.
    pub bundle_published: bool,
    /// When the current fallback key was made (rotation is due a week later).
    pub fallback_created_at_ms: u64,
    /// When the wallet link expires (a new wallet signature is needed before then).
    pub expires_at_ms: u64,
    /// Set when a refresh finds the wallet revoked this installation: it stops sending.
    pub revoked: bool,
}
