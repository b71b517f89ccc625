//! Whether the node answers as a node: what the requests of a pass found, folded into one
//! state the app can show (`client.nodeState`, the streams' `node` events). Sans-IO: the
//! HTTP client records outcomes into a [`NodeSeen`], and the processors settle it after
//! each pass.

use serde::Serialize;

use super::NetError;
use crate::error::ErrorCode;

crate::engine::named! {
    /// Whether the node answers as a node does, as the processors last found it.
    pub enum NodeStatus {
        /// Nothing has been asked of the node since the client opened.
        Unknown = "UNKNOWN",
        /// The node answered the last requests as a node does.
        Reachable = "REACHABLE",
        /// The node could not be reached, or what answered is not a node (or an unavailable
        /// one): messages wait for it.
        Unreachable = "UNREACHABLE",
    }
}

/// The node's state and since when; `code` and `message` say why it is unreachable. JS sees
/// it as `{ type: "node", state, code, message, at }`: the getter's answer and the streams'
/// `node` event are the same object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The state.
    pub state: NodeStatus,
    /// While unreachable: `NETWORK` (no answer), `NODE_REJECTED` (an error answer: not a
    /// node, or one that is unavailable) or `PROTOCOL` (an answer that is not the API's).
    pub code: Option<ErrorCode>,
    /// While unreachable: the failure, readable.
    pub message: Option<String>,
    /// When the state began (ms since 1970).
    pub at_ms: u64,
}

impl Serialize for NodeState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut fields = serializer.serialize_struct("NodeState", 5)?;
        fields.serialize_field("type", "node")?;
        fields.serialize_field("state", &self.state)?;
        fields.serialize_field("code", &self.code)?;
        fields.serialize_field("message", &self.message)?;
        fields.serialize_field("at", &self.at_ms)?;
        fields.end()
    }
}

impl NodeState {
    /// The state of a client that has not asked the node anything yet.
    pub fn unknown(at_ms: u64) -> Self {
        Self { state: NodeStatus::Unknown, code: None, message: None, at_ms }
    }

    /// What a message waiting to go out shows as its `failure` while the node is
    /// unreachable, so that the app can tell why it waits.
    pub fn waiting_reason(&self) -> Option<String> {
        match (self.state, self.code, &self.message) {
            (NodeStatus::Unreachable, Some(code), Some(message)) => {
                Some(format!("{}: waiting for the node: {message}", code.name()))
            }
            _ => None,
        }
    }

    /// Whether the change from `previous` to this state is news for the app's streams: the
    /// first answer after opening is what every app expects, so only a loss of the node and
    /// its recovery are reported.
    pub fn is_news_after(&self, previous: &NodeState) -> bool {
        !(previous.state == NodeStatus::Unknown && self.state == NodeStatus::Reachable)
    }
}

/// gRPC's UNIMPLEMENTED: the server has no such method.
const GRPC_UNIMPLEMENTED: i32 = 12;

/// Which failures mean the node is not doing its job (rather than refusing one request): no
/// answer, an answer without the node's error body (a proxy's page), no such route or method
/// at this URL (a server that is not a node, or a wrong path prefix), the node saying it is
/// unavailable, or an answer that is not the API's JSON. `None` for everything else.
pub fn unreachable_code(error: &NetError) -> Option<ErrorCode> {
    match error {
        NetError::Network(_) | NetError::Timeout(_) => Some(ErrorCode::Network),
        NetError::Http { .. } => Some(ErrorCode::NodeRejected),
        NetError::Node { status: 404 | 405 | 501, .. } => Some(ErrorCode::NodeRejected),
        NetError::Node { code: GRPC_UNIMPLEMENTED, .. } => Some(ErrorCode::NodeRejected),
        NetError::Node { .. } if error.is_retryable() => Some(ErrorCode::NodeRejected),
        NetError::Decode(_) | NetError::TooLarge(_) => Some(ErrorCode::Protocol),
        NetError::Node { .. } | NetError::Encode(_) | NetError::Aborted => None,
    }
}

/// What requests to the node found since it was last settled.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    /// Some request was answered as a node answers.
    answered: bool,
    /// The failures that say the node is not doing its job, by the request that met them (its
    /// path), the first of each kind: one stands until a later request of its kind is
    /// answered, so a node that recovers within a pass (a publish refused, a later one
    /// acknowledged) is not left reported down with nothing left to ask it.
    failures: Vec<(&'static str, ErrorCode, String)>,
}

impl NodeSeen {
    /// Notes the outcome of one `request` (its path).
    pub fn record<T>(&mut self, request: &'static str, outcome: &Result<T, NetError>) {
        match outcome {
            Ok(_) => self.answered_as_a_node(request),
            Err(error) => self.record_failure(request, error),
        }
    }

    /// Notes a failed `request` (its path).
    pub fn record_failure(&mut self, request: &'static str, error: &NetError) {
        match unreachable_code(error) {
            Some(code) => {
                if !self.failures.iter().any(|(kind, ..)| *kind == request) {
                    self.failures.push((request, code, error.to_string()));
                }
            }
            // Aborted by the caller: says nothing about the node.
            None if *error == NetError::Aborted => {}
            None => self.answered_as_a_node(request),
        }
    }

    fn answered_as_a_node(&mut self, request: &'static str) {
        self.answered = true;
        self.failures.retain(|(kind, ..)| *kind != request);
    }

    /// The state after these requests, if it changed from `current`. A failure that stands
    /// wins over answers to other requests in the same pass (messages wait while any part of
    /// the node fails them); a pass that asked nothing changes nothing. Only the code counts
    /// as a change, so a node that fails a little differently each time is not reported
    /// again and again.
    pub fn settle(self, current: &NodeState, now_ms: u64) -> Option<NodeState> {
        let next = match self.failures.into_iter().next() {
            Some((_, code, message)) => NodeState {
                state: NodeStatus::Unreachable,
                code: Some(code),
                message: Some(message),
                at_ms: now_ms,
            },
            None if self.answered => {
                NodeState { state: NodeStatus::Reachable, code: None, message: None, at_ms: now_ms }
            }
            None => return None,
        };
        (next.state != current.state || next.code != current.code).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn seen(outcomes: &[Result<(), NetError>]) -> NodeSeen {
        let mut seen = NodeSeen::default();
        for outcome in outcomes {
            seen.record(PUBLISH, outcome);
        }
        seen
    }

    const DOWN: NetError = NetError::Timeout(15_000);
    const PUBLISH: &str = "/message/v1/publish";
    const QUERY: &str = "/message/v1/query";

    #[test]
    fn failures_are_classed_by_what_answered() {
        let node = |status, code| NetError::Node { status, code, message: "m".into() };
        assert_eq!(
            unreachable_code(&NetError::Network("refused".into())),
            Some(ErrorCode::Network)
        );
        assert_eq!(unreachable_code(&DOWN), Some(ErrorCode::Network));
        assert_eq!(
            unreachable_code(&NetError::Http { status: 404 }),
            Some(ErrorCode::NodeRejected)
        );
        assert_eq!(unreachable_code(&node(503, 14)), Some(ErrorCode::NodeRejected));
        assert_eq!(unreachable_code(&node(404, 5)), Some(ErrorCode::NodeRejected), "no route");
        assert_eq!(unreachable_code(&node(405, 12)), Some(ErrorCode::NodeRejected));
        assert_eq!(unreachable_code(&NetError::Decode("<html>".into())), Some(ErrorCode::Protocol));
        assert_eq!(unreachable_code(&node(400, 3)), None, "a refusal of one request");
        assert_eq!(unreachable_code(&NetError::Aborted), None);
    }

    #[test]
    fn a_failure_makes_it_unreachable_until_a_pass_is_answered_without_one() {
        let start = NodeState::unknown(1);
        let down = seen(&[Ok(()), Err(DOWN)]).settle(&start, 2).unwrap();
        assert_eq!(down.state, NodeStatus::Unreachable);
        assert_eq!(down.code, Some(ErrorCode::Network));
        assert_eq!(down.message.as_deref(), Some("no answer from the node within 15000 ms"));
        assert_eq!(down.at_ms, 2);
        assert!(down.is_news_after(&start));

        let other_message = Err(NetError::Network("refused".into()));
        assert_eq!(seen(&[other_message]).settle(&down, 3), None, "same code: no news");
        assert_eq!(seen(&[]).settle(&down, 3), None, "nothing asked: no change");
        assert_eq!(seen(&[Err(NetError::Aborted)]).settle(&down, 3), None);
        let not_a_node = seen(&[Err(NetError::Http { status: 404 })]).settle(&down, 4).unwrap();
        assert_eq!(not_a_node.code, Some(ErrorCode::NodeRejected));

        let up = seen(&[Ok(())]).settle(&not_a_node, 5).unwrap();
        assert_eq!(
            up,
            NodeState { state: NodeStatus::Reachable, code: None, message: None, at_ms: 5 }
        );
        assert!(up.is_news_after(&not_a_node));
        let refused = NetError::Node { status: 400, code: 3, message: "bad topic".into() };
        assert_eq!(seen(&[Err(refused)]).settle(&up, 6), None, "one refused request: still up");
    }

    #[test]
    fn a_failure_stands_until_a_later_request_of_its_kind_is_answered() {
        let up = NodeState { state: NodeStatus::Reachable, code: None, message: None, at_ms: 1 };
        let refused = NetError::Node { status: 503, code: 14, message: "down".into() };
        // A publish refused, the inbox still answered: messages wait, the node is down.
        let mut seen = NodeSeen::default();
        seen.record(PUBLISH, &Err::<(), _>(refused.clone()));
        seen.record(QUERY, &Ok(()));
        let down = seen.clone().settle(&up, 2).unwrap();
        assert_eq!(
            (down.state, down.code),
            (NodeStatus::Unreachable, Some(ErrorCode::NodeRejected))
        );

        // The node recovers within the pass: a later publish is acknowledged.
        seen.record(PUBLISH, &Ok(()));
        assert_eq!(seen.clone().settle(&down, 3).unwrap().state, NodeStatus::Reachable);
        // ... and fails again: the latest failure of the kind is what stands.
        seen.record(PUBLISH, &Err::<(), _>(DOWN));
        let again = seen.clone().settle(&down, 4).unwrap();
        assert_eq!(again.code, Some(ErrorCode::Network), "{again:?}");

        // A refusal of one request is an answer as a node: its kind works.
        let mut seen = NodeSeen::default();
        seen.record_failure(QUERY, &NetError::Decode("<html>".into()));
        seen.record_failure(QUERY, &NetError::Node { status: 400, code: 3, message: "m".into() });
        assert_eq!(seen.settle(&down, 5).unwrap().state, NodeStatus::Reachable);
    }

    #[test]
    fn the_first_answer_is_no_news_and_only_unreachable_explains_a_wait() {
        let start = NodeState::unknown(1);
        let up = seen(&[Ok(())]).settle(&start, 2).unwrap();
        assert!(!up.is_news_after(&start));
        assert_eq!(up.waiting_reason(), None);
        assert_eq!(start.waiting_reason(), None);
        let down =
            seen(&[Err(NetError::Network("Failed to fetch".into()))]).settle(&up, 3).unwrap();
        assert_eq!(
            down.waiting_reason().as_deref(),
            Some("NETWORK: waiting for the node: could not reach the node: Failed to fetch")
        );
    }

    #[test]
    fn names_are_one_table() {
        assert_eq!(NodeStatus::NAMES, ["UNKNOWN", "REACHABLE", "UNREACHABLE"]);
        assert_eq!(NodeStatus::from_name("UNREACHABLE"), Some(NodeStatus::Unreachable));
    }
}
