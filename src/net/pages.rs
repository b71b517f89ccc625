//! [`QueryPages`]: a query read page by page from any [`Node`], following its cursors.

use super::{
    Node,
    api::{
        Cursor, Envelope, MAX_PAGE_LIMIT, PagingInfo, QueryRequest, QueryResponse, SortDirection,
    },
    error::NetError,
};
use crate::wire::Topic;

/// A query read page by page, oldest first.
#[derive(Debug)]
pub struct QueryPages {
    request: QueryRequest,
    done: bool,
}

impl QueryPages {
    /// Pages through `topics` oldest first, from `after` (a cursor saved from an earlier
    /// pull) or from the start.
    pub fn new(topics: &[Topic], after: Option<Cursor>) -> Self {
        Self {
            request: QueryRequest {
                content_topics: topics.iter().map(|t| t.to_string()).collect(),
                paging_info: Some(PagingInfo {
                    limit: Some(MAX_PAGE_LIMIT),
                    cursor: after,
                    direction: Some(SortDirection::Ascending),
                }),
                ..QueryRequest::default()
            },
            done: false,
        }
    }

    /// The same query, only envelopes from `start_time_ns` on (inclusive).
    pub fn from_time(mut self, start_time_ns: u64) -> Self {
        self.request.start_time_ns = Some(start_time_ns);
        self
    }

    /// The next page from `node`, or `None` after the last one. A failed page can be asked
    /// for again.
    pub async fn next_page(&mut self, node: &impl Node) -> Result<Option<QueryResponse>, NetError> {
        if self.done {
            return Ok(None);
        }
        let page = node.query(&self.request).await?;
        let paging = self.request.paging_info.get_or_insert_with(PagingInfo::default);
        match page.next_cursor() {
            // A node that hands back the cursor it was given would page forever.
            Some(next) if paging.cursor.as_ref() == Some(next) => {
                return Err(NetError::Decode("the node's cursor did not advance".into()));
            }
            Some(next) => paging.cursor = Some(next.clone()),
            None => self.done = true,
        }
        Ok(Some(page))
    }
}

/// Every envelope on `topics` at `node`, oldest first, following cursors to the last page.
pub async fn query_all(node: &impl Node, topics: &[Topic]) -> Result<Vec<Envelope>, NetError> {
    let mut pages = QueryPages::new(topics, None);
    let mut all = Vec::new();
    while let Some(page) = pages.next_page(node).await? {
        all.extend(page.envelopes);
    }
    Ok(all)
}
