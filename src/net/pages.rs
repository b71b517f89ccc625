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

/// The most pages one [`query_all`] reads (of [`MAX_PAGE_LIMIT`] envelopes): a contact topic
/// holds a few entries per installation, so a node answering with more is flooding the
/// client's memory and work.
pub const MAX_QUERY_PAGES: usize = 50;

/// Every envelope on `topics` at `node`, oldest first, following cursors to the last page;
/// [`NetError::TooLarge`] past [`MAX_QUERY_PAGES`] pages.
pub async fn query_all(node: &impl Node, topics: &[Topic]) -> Result<Vec<Envelope>, NetError> {
    query_all_within(node, topics, MAX_QUERY_PAGES).await
}

async fn query_all_within(
    node: &impl Node,
    topics: &[Topic],
    max_pages: usize,
) -> Result<Vec<Envelope>, NetError> {
    let mut pages = QueryPages::new(topics, None);
    let mut all = Vec::new();
    for _ in 0..max_pages {
        match pages.next_page(node).await? {
            Some(page) => all.extend(page.envelopes),
            None => return Ok(all),
        }
    }
    if pages.done {
        return Ok(all);
    }
    Err(NetError::TooLarge("too many pages".into()))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{net::memory::MemoryNode, sim::block_on};

    /// Attack 8: a topic a node pages on and on is cut off with a typed error.
    #[test]
    fn a_query_stops_after_its_most_pages() {
        let node = MemoryNode::new();
        let topic = Topic::contact("0x00000000000000000000000000000000000000b0");
        let envelopes: Vec<Envelope> = (0..2 * u64::from(MAX_PAGE_LIMIT) + 1)
            .map(|i| Envelope::new(&topic, 1_000 + i, 0, vec![1]))
            .collect();
        block_on(node.publish(&envelopes)).unwrap();
        let all = block_on(query_all_within(&node, std::slice::from_ref(&topic), 3)).unwrap();
        assert_eq!(all.len(), envelopes.len());
        let cut = block_on(query_all_within(&node, &[topic], 2)).unwrap_err();
        assert!(matches!(cut, NetError::TooLarge(_)), "{cut:?}");
    }
}
