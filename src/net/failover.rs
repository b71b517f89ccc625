//! Fail-over between the URLs of one node: replicas that serve the same data (devnode's
//! replicas on one database), so any of them can answer any request and a cursor from one
//! pages on another.
//!
//! The rule: a request goes to the URL in use; on a failure that says that URL is not doing
//! its job (no answer, or a 5xx) it is tried once more on the next URL, which becomes the one
//! in use (round robin). A 4xx is the node's answer, not a failure of the URL: no fail-over.
//! Publishing again elsewhere is safe: a node stores an exact duplicate once.

use std::{cell::Cell, future::Future};

use super::NetError;

/// The URLs of one node, and which one requests go to now. Shared by a client's clones and
/// its subscriptions, so one that finds a URL down moves them all.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NodeUrls {
    urls: Vec<String>,
    in_use: Cell<usize>,
}

impl NodeUrls {
    /// `urls` (at least one), each without a trailing slash; the first is in use.
    pub(super) fn new(urls: &[&str]) -> Self {
        let mut urls: Vec<String> =
            urls.iter().map(|url| url.trim_end_matches('/').to_owned()).collect();
        if urls.is_empty() {
            // Callers check the list. Were one empty, every request fails with no answer (a
            // reserved name that never resolves) rather than going to the page's own origin.
            urls.push("http://no-node-url.invalid".to_owned());
        }
        Self { urls, in_use: Cell::new(0) }
    }

    /// Every URL, in the order given.
    pub(super) fn all(&self) -> &[String] {
        &self.urls
    }

    /// The URL in use now, and its position.
    pub(super) fn in_use(&self) -> (usize, &str) {
        let at = self.in_use.get() % self.urls.len();
        (at, &self.urls[at])
    }

    /// After a request to the URL at `failed` failed over: the next URL is in use, unless
    /// another request already moved on from `failed` (two requests that fail together must
    /// not skip a URL). The position in use now.
    pub(super) fn fail_over_from(&self, failed: usize) -> usize {
        if self.in_use.get() == failed {
            self.in_use.set((failed + 1) % self.urls.len());
        }
        self.in_use.get()
    }

    /// Runs `attempt` on the URL in use and, if it fails over, once more on the next URL
    /// (with a single URL, once). The outcome is the last attempt's.
    pub(super) async fn fail_over<'u, T, A: Future<Output = Result<T, NetError>>>(
        &'u self,
        mut attempt: impl FnMut(&'u str) -> A,
    ) -> Result<T, NetError> {
        let mut tries_left = self.urls.len().min(2);
        loop {
            let (at, url) = self.in_use();
            let outcome = attempt(url).await;
            match &outcome {
                Err(error) if fails_over(error) => {
                    self.fail_over_from(at);
                    tries_left -= 1;
                    if tries_left == 0 {
                        return outcome;
                    }
                }
                _ => return outcome,
            }
        }
    }
}

/// Whether `error` says the URL is not doing its job: no answer (the network, a timeout) or
/// a server error. Anything else is an answer another replica would give too.
pub(super) fn fails_over(error: &NetError) -> bool {
    match error {
        NetError::Network(_) | NetError::Timeout(_) => true,
        NetError::Http { status } | NetError::Node { status, .. } => *status >= 500,
        NetError::Decode(_) | NetError::TooLarge(_) | NetError::Encode(_) | NetError::Aborted => {
            false
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::RefCell;

    use super::*;
    use crate::sim::block_on;

    const DOWN: NetError = NetError::Timeout(15_000);

    fn node(status: u16, code: i32) -> NetError {
        NetError::Node { status, code, message: "m".into() }
    }

    /// Runs one request over `urls` where each URL answers from `answers` (by URL), and
    /// returns its outcome and the URLs it went to.
    fn request(
        urls: &NodeUrls,
        answers: &[(&str, Result<u32, NetError>)],
    ) -> (Result<u32, NetError>, Vec<String>) {
        let tried = RefCell::new(Vec::new());
        let outcome = block_on(urls.fail_over(|url| {
            tried.borrow_mut().push(url.to_owned());
            let answer = answers.iter().find(|(at, _)| *at == url).unwrap().1.clone();
            async move { answer }
        }));
        (outcome, tried.into_inner())
    }

    #[test]
    fn only_no_answer_and_server_errors_fail_over() {
        assert!(fails_over(&NetError::Network("Failed to fetch".into())));
        assert!(fails_over(&DOWN));
        assert!(fails_over(&NetError::Http { status: 502 }));
        assert!(fails_over(&node(503, 14)));
        assert!(fails_over(&node(500, 13)));
        assert!(!fails_over(&node(400, 3)), "a refusal is the node's answer");
        assert!(!fails_over(&node(429, 8)), "rate limited: every replica says the same");
        assert!(!fails_over(&NetError::Http { status: 404 }));
        assert!(!fails_over(&node(413, 8)));
        assert!(!fails_over(&NetError::Decode("<html>".into())));
        assert!(!fails_over(&NetError::Aborted));
    }

    #[test]
    fn a_failure_is_retried_once_on_the_next_url_which_stays_in_use() {
        let urls = NodeUrls::new(&["http://a/", "http://b"]);
        assert_eq!(urls.all(), ["http://a", "http://b"], "trailing slashes go");
        let answers = [("http://a", Err(NetError::Network("refused".into()))), ("http://b", Ok(7))];
        assert_eq!(request(&urls, &answers), (Ok(7), vec!["http://a".into(), "http://b".into()]));
        assert_eq!(urls.in_use(), (1, "http://b"));
        // The next request goes straight to b.
        assert_eq!(request(&urls, &answers), (Ok(7), vec!["http://b".into()]));
    }

    #[test]
    fn an_answer_that_is_not_a_failure_of_the_url_stays_there() {
        let urls = NodeUrls::new(&["http://a", "http://b"]);
        let answers = [("http://a", Err(node(400, 3))), ("http://b", Ok(1))];
        assert_eq!(request(&urls, &answers), (Err(node(400, 3)), vec!["http://a".into()]));
        assert_eq!(urls.in_use().0, 0);
    }

    #[test]
    fn every_url_down_fails_with_the_last_error_and_moves_round_robin() {
        let urls = NodeUrls::new(&["http://a", "http://b", "http://c"]);
        let answers = [
            ("http://a", Err(DOWN)),
            ("http://b", Err(NetError::Http { status: 502 })),
            ("http://c", Err(node(503, 14))),
        ];
        let (outcome, tried) = request(&urls, &answers);
        assert_eq!(outcome, Err(NetError::Http { status: 502 }));
        assert_eq!(tried, ["http://a", "http://b"], "retried once, not on every URL");
        assert_eq!(urls.in_use().0, 2);
        let (_, tried) = request(&urls, &answers);
        assert_eq!(tried, ["http://c", "http://a"], "round robin");
        assert_eq!(urls.in_use().0, 1);
    }

    #[test]
    fn an_empty_list_is_a_url_that_never_answers() {
        assert_eq!(NodeUrls::new(&[]).in_use(), (0, "http://no-node-url.invalid"));
    }

    #[test]
    fn a_single_url_is_tried_once() {
        let urls = NodeUrls::new(&["http://a"]);
        let (outcome, tried) = request(&urls, &[("http://a", Err(DOWN))]);
        assert_eq!((outcome, tried.len()), (Err(DOWN), 1));
        assert_eq!(urls.in_use(), (0, "http://a"));
    }

    #[test]
    fn two_failures_at_the_same_url_move_on_once() {
        let urls = NodeUrls::new(&["http://a", "http://b", "http://c"]);
        // Two requests in flight at a both fail: the second must not skip b.
        assert_eq!(urls.fail_over_from(0), 1);
        assert_eq!(urls.fail_over_from(0), 1);
        assert_eq!(urls.fail_over_from(1), 2);
        assert_eq!(urls.fail_over_from(2), 0, "wraps around");
    }
}
