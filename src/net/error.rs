//! Everything that can go wrong talking to a node.

use super::api::NodeErrorBody;

/// gRPC status codes a node answers with, by number, for the ones the SDK branches on.
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_RESOURCE_EXHAUSTED: i32 = 8;
const GRPC_ABORTED: i32 = 10;
const GRPC_INTERNAL: i32 = 13;
const GRPC_UNAVAILABLE: i32 = 14;

/// A failed call to the message API. Never a panic: every answer the node (or a proxy, or
/// nothing at all) can give maps to one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The node answered with an error body `{code, message, details}`.
    #[error("node refused the request with HTTP {status}, gRPC code {code}: {message}")]
    Node {
        /// The HTTP status.
        status: u16,
        /// The gRPC status code from the body.
        code: i32,
        /// The node's message.
        message: String,
    },
    /// Something answered with a non-2xx status but no node error body (a proxy, say).
    #[error("expected a 2xx answer, got HTTP {status}")]
    Http {
        /// The HTTP status.
        status: u16,
    },
    /// The answer was not the JSON the API promises.
    #[error("could not decode the node's answer: {0}")]
    Decode(String),
    /// The node answered with more than the client reads (a body or a page count past its
    /// limit): a node flooding the client.
    #[error("the node's answer is too large: {0}")]
    TooLarge(String),
    /// The request could not be encoded (should not happen for well-formed values).
    #[error("could not encode the request: {0}")]
    Encode(String),
    /// The caller aborted the request or closed the subscription.
    #[error("the request was aborted")]
    Aborted,
    /// No answer within the configured time.
    #[error("no answer from the node within {0} ms")]
    Timeout(u32),
    /// `fetch` itself failed: the node is down, unreachable, refused CORS, or the browser is
    /// offline. Browsers do not say which.
    #[error("could not reach the node: {0}")]
    Network(String),
}

impl NetError {
    /// Builds the error for a non-2xx answer from its status and body text.
    pub(crate) fn from_answer(status: u16, body: Option<NodeErrorBody>) -> Self {
        match body {
            Some(NodeErrorBody { code, message }) => Self::Node { status, code, message },
            None => Self::Http { status },
        }
    }

    /// Whether the same request may succeed later: the node or the path to it was down or
    /// overloaded. A refusal of the request itself (bad topic, too large) is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network(_) | Self::Timeout(_) => true,
            Self::Http { status } => *status == 408 || *status == 429 || *status >= 500,
            Self::Node { status, code, .. } => {
                matches!(
                    *code,
                    GRPC_DEADLINE_EXCEEDED
                        | GRPC_RESOURCE_EXHAUSTED
                        | GRPC_ABORTED
                        | GRPC_INTERNAL
                        | GRPC_UNAVAILABLE
                ) && *status != 413
            }
            Self::Decode(_) | Self::Encode(_) | Self::Aborted | Self::TooLarge(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retryable() {
        let node = |status, code| NetError::Node { status, code, message: String::new() };
        assert!(node(503, 14).is_retryable());
        assert!(!node(400, 3).is_retryable());
        assert!(!node(413, 8).is_retryable(), "a body too large stays too large");
        assert!(NetError::Http { status: 502 }.is_retryable());
        assert!(!NetError::Http { status: 404 }.is_retryable());
        assert!(NetError::Network("down".into()).is_retryable());
        assert!(NetError::Timeout(10).is_retryable());
        assert!(!NetError::Aborted.is_retryable());
        assert!(!NetError::Decode("x".into()).is_retryable());
    }

    #[test]
    fn answers_map_to_node_or_http_errors() {
        let body = NodeErrorBody { code: 3, message: "bad topic".into() };
        assert_eq!(
            NetError::from_answer(400, Some(body)),
            NetError::Node { status: 400, code: 3, message: "bad topic".into() }
        );
        assert_eq!(NetError::from_answer(502, None), NetError::Http { status: 502 });
    }
}
