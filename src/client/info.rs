//! The plain objects the binding hands to JS (their TypeScript is in `typescript`).

use serde::Serialize;

use crate::{
    engine::{
        ConversationRecord, ConversationState, InboundFailure, InboundPayloadRecord,
        InboundPayloadState, InstallationState, MessageRecord, MessageState,
    },
    net::NodeState,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstallationInfo {
    pub(super) id: String,
    pub(super) address: String,
    pub(super) state: InstallationState,
    pub(super) expires_at: u64,
    pub(super) is_this_installation: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConversationInfo {
    pub(super) id: String,
    pub(super) peer_address: String,
    pub(super) state: ConversationState,
    pub(super) created_at: u64,
}

impl From<ConversationRecord> for ConversationInfo {
    fn from(c: ConversationRecord) -> Self {
        Self { id: c.id, peer_address: c.peer_address, state: c.state, created_at: c.created_at_ms }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InboundFailureInfo {
    pub(super) hash: String,
    pub(super) state: InboundPayloadState,
    pub(super) code: InboundFailure,
    pub(super) detail: Option<String>,
    pub(super) sender_installation_id: Option<String>,
    pub(super) received_at: u64,
}

impl InboundFailureInfo {
    pub(super) fn from_record(p: InboundPayloadRecord) -> Option<Self> {
        Some(Self {
            code: p.failure?,
            hash: p.hash,
            state: p.state,
            detail: p.detail,
            sender_installation_id: p.sender_installation_id,
            received_at: p.received_at_ms,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NodeProbe {
    pub(super) topic: String,
    pub(super) published: u32,
    pub(super) read_back: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageInfo {
    id: String,
    conversation_id: String,
    sender: String,
    sent_at: u64,
    state: MessageState,
    content_type: String,
    #[serde(with = "serde_bytes")]
    content: Vec<u8>,
    text: Option<String>,
    failure: Option<String>,
}

impl MessageInfo {
    /// `m` as the app sees it while the node is in `node` state: a message waiting to go out
    /// (not yet `SENT` or `FAILED`) shows why it waits while the node is unreachable.
    pub(super) fn new(m: MessageRecord, node: &NodeState) -> Self {
        let waiting = matches!(m.state, MessageState::Uninitialized | MessageState::Committed);
        let failure = match m.failure {
            None if waiting => node.waiting_reason(),
            failure => failure,
        };
        // What `send("…")` sends; any text/plain parameter (a charset) is taken as UTF-8.
        let is_text = m.content_type.split(';').next().is_some_and(|t| t.trim() == "text/plain");
        let text = is_text.then(|| String::from_utf8(m.content.clone()).ok()).flatten();
        Self {
            text,
            id: m.id,
            conversation_id: m.convo_id,
            sender: m.sender_address,
            sent_at: m.sent_at_ms,
            state: m.state,
            content_type: m.content_type,
            content: m.content,
            failure,
        }
    }
}
