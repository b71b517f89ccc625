//! The XMTP message API v1 over `fetch`.
//!
//! [`NodeClient`] publishes batches of envelopes, queries with cursor paging, batch-queries and
//! subscribes; every failure is a [`NetError`], never a panic. JSON goes through the browser's
//! own `JSON.parse`/`JSON.stringify` and `to_js`/`from_js`, so the wasm carries no JSON
//! parser of its own.

mod api;
mod error;
mod json;
mod node;
mod subscription;

pub use api::{
    BatchQueryRequest, BatchQueryResponse, Cursor, Envelope, IndexCursor, MAX_PAGE_LIMIT,
    NodeErrorBody, PagingInfo, QueryRequest, QueryResponse, SortDirection, StreamLine,
    SubscribeRequest,
};
pub use error::NetError;
pub use node::{NodeClient, QueryPages};
pub use subscription::{Backoff, LineBuffer, Subscription, SubscriptionEvent};
