//! The XMTP message API v1 over `fetch`.
//!
//! [`NodeClient`] publishes batches of envelopes, queries with cursor paging, batch-queries and
//! subscribes; every failure is a [`NetError`], never a panic. JSON goes through the browser's
//! own `JSON.parse`/`JSON.stringify` and `to_js`/`from_js`, so the wasm carries no JSON
//! parser of its own.

mod api;
mod error;
mod failover;
mod json;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod memory;
mod node;
mod node_state;
mod node_url;
mod pages;
mod subscription;

pub use api::{
    BatchQueryRequest, BatchQueryResponse, Cursor, Envelope, IndexCursor, MAX_PAGE_LIMIT,
    NodeErrorBody, PagingInfo, QueryRequest, QueryResponse, SortDirection, StreamLine,
    SubscribeRequest,
};
pub use error::NetError;
pub use node::NodeClient;
pub use node_state::{NodeSeen, NodeState, NodeStatus, unreachable_code};
#[cfg(target_arch = "wasm32")]
pub use node_url::check_node_url;
pub use node_url::node_url_error;
pub use pages::{MAX_QUERY_PAGES, QueryPages, query_all};
pub use subscription::{Backoff, LineBuffer, Subscription, SubscriptionEvent};

use std::future::Future;

use crate::wire::Topic;

/// A node serving the XMTP message API v1: what the state steps ask of one. In the browser
/// it is [`NodeClient`] (HTTP over `fetch`); natively, in tests, an in-memory node with
/// devnode's semantics and faults (`memory::MemoryNode`).
#[allow(async_fn_in_trait)]
pub trait Node {
    /// What [`Node::subscribe`] hands back.
    type Subscription: Follow;
    /// Publishes a batch of envelopes; `Ok` means the node stored all of them.
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), NetError>;
    /// One page of a query.
    async fn query(&self, request: &QueryRequest) -> Result<QueryResponse, NetError>;
    /// Follows `topics`: envelopes published from now on.
    fn subscribe(&self, topics: &[Topic]) -> Self::Subscription;
}

/// A subscription to some topics.
#[allow(async_fn_in_trait)]
pub trait Follow {
    /// The next event. A failure is returned once and the following call reconnects, so a
    /// caller can keep calling; after [`Follow::close`] every call answers
    /// [`NetError::Aborted`].
    async fn next(&mut self) -> Result<SubscriptionEvent, NetError>;
    /// Ends the subscription.
    fn close(&mut self);
}

// The inherent futures themselves, not wrapped in another state machine each (less wasm).
impl Node for NodeClient {
    type Subscription = Subscription;
    fn publish(&self, envelopes: &[Envelope]) -> impl Future<Output = Result<(), NetError>> {
        NodeClient::publish(self, envelopes)
    }
    fn query(
        &self,
        request: &QueryRequest,
    ) -> impl Future<Output = Result<QueryResponse, NetError>> {
        NodeClient::query(self, request)
    }
    fn subscribe(&self, topics: &[Topic]) -> Subscription {
        NodeClient::subscribe(self, topics)
    }
}

impl Follow for Subscription {
    fn next(&mut self) -> impl Future<Output = Result<SubscriptionEvent, NetError>> {
        Subscription::next(self)
    }
    fn close(&mut self) {
        Subscription::close(self);
    }
}
