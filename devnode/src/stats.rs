//! Request counters, so SDK tests can assert e.g. that a cache spared a
//! round trip.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// API requests received per route since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// `POST /message/v1/publish`.
    pub publish: u64,
    /// `POST /message/v1/query`.
    pub query: u64,
    /// `POST /message/v1/batch-query`.
    pub batch_query: u64,
    /// `POST /message/v1/subscribe`.
    pub subscribe: u64,
    /// `POST /message/v1/subscribe-all`.
    pub subscribe_all: u64,
}

/// The body of `GET /devnode/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Requests received per route (counted on arrival, valid or not).
    pub requests: RequestCounts,
    /// Valid queries per content topic; each query inside a batch-query
    /// counts too, once per topic it names.
    pub queries_by_topic: BTreeMap<String, u64>,
    /// Distinct envelopes stored (not reset by a stats reset).
    pub envelopes: u64,
}

/// The resettable part of [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: RequestCounts,
    pub(crate) queries_by_topic: BTreeMap<String, u64>,
}

impl Counters {
    /// Counts one query for each distinct topic it names.
    pub(crate) fn count_query_topics(&mut self, topics: &[String]) {
        let mut seen = std::collections::HashSet::new();
        for topic in topics {
            if seen.insert(topic.as_str()) {
                *self.queries_by_topic.entry(topic.clone()).or_default() += 1;
            }
        }
    }

    /// A snapshot including the current envelope count.
    pub(crate) fn snapshot(&self, envelopes: usize) -> Stats {
        Stats {
            requests: self.requests.clone(),
            queries_by_topic: self.queries_by_topic.clone(),
            envelopes: envelopes as u64,
        }
    }
}
