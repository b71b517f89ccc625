//! A subscription: `POST /message/v1/subscribe` read as a stream of JSON lines, reconnecting
//! with backoff when the node or the network drops it.
//!
//! Each (re)connection is reported as [`SubscriptionEvent::Connected`] *after* the stream is
//! open, so a caller that then pulls the topic from its saved cursor misses nothing that was
//! published while it was away. A node of several URLs: each connection goes to the URL in
//! use, and a connection that fails over (see [`super::failover`]) moves every request of the
//! client to the next URL, so the reconnection (and its catch-up pull) goes there.

use std::time::Duration;

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;

use super::{
    NetError,
    api::{Envelope, NodeErrorBody, StreamLine, SubscribeRequest},
    failover::fails_over,
    json,
    node::{Deadline, NodeClient},
};
use crate::js::describe;

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// The stream is open. `reconnect` is true after the first time: envelopes published
    /// while it was down are not replayed, so pull the topic's gap now.
    Connected {
        /// Whether this is a reconnection.
        reconnect: bool,
    },
    /// An envelope published to one of the topics.
    Envelope(Envelope),
}

/// An open (or reopening) subscription. Dropping it closes the connection.
pub struct Subscription {
    client: NodeClient,
    topics: Vec<String>,
    stream: Option<OpenStream>,
    /// The position of the URL the stream was opened at (see [`super::failover::NodeUrls`]).
    connected_to: usize,
    lines: LineBuffer,
    backoff: Backoff,
    /// Consecutive failures since the last envelope: the next connect waits first.
    failures: u32,
    connected_before: bool,
    closed: bool,
}

struct OpenStream {
    deadline: Deadline,
    reader: ReadableStreamDefaultReader,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        // Releases the connection; the pending read (if any) settles as aborted.
        self.deadline.abort();
    }
}

impl Subscription {
    pub(super) fn new(client: NodeClient, topics: Vec<String>) -> Self {
        Self {
            client,
            topics,
            stream: None,
            connected_to: 0,
            lines: LineBuffer::default(),
            backoff: Backoff::default(),
            failures: 0,
            connected_before: false,
            closed: false,
        }
    }

    /// The next event. A failure is returned once and the following call reconnects after
    /// a backoff, so a caller can log errors and keep calling; after [`Subscription::close`]
    /// every call answers [`NetError::Aborted`].
    pub async fn next(&mut self) -> Result<SubscriptionEvent, NetError> {
        loop {
            if self.closed {
                return Err(NetError::Aborted);
            }
            if self.stream.is_none() {
                self.connect().await?;
                let reconnect = std::mem::replace(&mut self.connected_before, true);
                return Ok(SubscriptionEvent::Connected { reconnect });
            }
            match self.lines.next_line() {
                Some(line) => {
                    if let Some(envelope) = self.parse(&line)? {
                        self.failures = 0;
                        return Ok(SubscriptionEvent::Envelope(envelope));
                    }
                }
                None => self.read_chunk().await?,
            }
        }
    }

    /// Closes the connection; later calls to [`Subscription::next`] answer `Aborted`.
    pub fn close(&mut self) {
        self.closed = true;
        self.stream = None;
    }

    async fn connect(&mut self) -> Result<(), NetError> {
        if self.failures > 0 {
            let delay = self.backoff.delay(self.failures, js_sys::Math::random());
            gloo_timers::future::sleep(delay).await;
            if self.closed {
                return Err(NetError::Aborted);
            }
        }
        self.failures += 1;
        let (at, url) = self.client.node_urls().in_use();
        let url = url.to_owned();
        self.connected_to = at;
        let opened = self.open(&url).await;
        if let Err(error) = &opened {
            if fails_over(error) {
                self.client.node_urls().fail_over_from(at);
            }
        }
        opened
    }

    /// Opens the stream at the node's `url`.
    async fn open(&mut self, url: &str) -> Result<(), NetError> {
        let body = json::encode(&SubscribeRequest { content_topics: self.topics.clone() })?;
        let mut deadline = Deadline::start(self.client.timeout_ms())?;
        let response = self
            .client
            .send(url, "/message/v1/subscribe", &body.into(), &deadline.signal())
            .await
            .map_err(|e| deadline.classify(e))?;
        if !response.ok() {
            let text = response.text().await.map_err(|e| deadline.classify(e))?;
            return Err(NetError::from_answer(response.status(), json::decode(&text).ok()));
        }
        // The headers came in time; the body may stay quiet for as long as nothing is sent.
        deadline.disarm();
        let body = response
            .body()
            .ok_or_else(|| NetError::Decode("the subscription answer has no body".into()))?;
        let reader = body.get_reader().unchecked_into::<ReadableStreamDefaultReader>();
        self.lines = LineBuffer::default();
        self.stream = Some(OpenStream { deadline, reader });
        Ok(())
    }

    async fn read_chunk(&mut self) -> Result<(), NetError> {
        let Some(stream) = &self.stream else {
            return Ok(());
        };
        let chunk = JsFuture::from(stream.reader.read()).await;
        let result = chunk.and_then(|chunk| {
            let done = Reflect::get(&chunk, &JsValue::from_str("done"))?.as_bool().unwrap_or(true);
            let value = Reflect::get(&chunk, &JsValue::from_str("value"))?;
            Ok((done, value))
        });
        match result {
            Ok((false, value)) => {
                let pushed = match value.dyn_into::<Uint8Array>() {
                    Ok(bytes) => self.lines.push(&bytes.to_vec()),
                    Err(_) => Err(NetError::Decode("a stream chunk was not bytes".into())),
                };
                if pushed.is_err() {
                    self.drop_stream();
                }
                pushed
            }
            // The node ended the stream: reconnect (after a backoff) on the next call.
            Ok((true, _)) => {
                self.drop_stream();
                Ok(())
            }
            Err(_) if self.closed => {
                self.drop_stream();
                Err(NetError::Aborted)
            }
            // The connection broke: its URL is down, so the reconnection goes to the next.
            Err(e) => {
                self.drop_stream();
                self.client.node_urls().fail_over_from(self.connected_to);
                Err(NetError::Network(describe(&e)))
            }
        }
    }

    fn parse(&mut self, line: &[u8]) -> Result<Option<Envelope>, NetError> {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return Ok(None);
        }
        let line: StreamLine = json::decode(&text)?;
        match (line.result, line.error) {
            (Some(envelope), _) => Ok(Some(envelope)),
            (None, Some(NodeErrorBody { code, message })) => {
                self.drop_stream();
                Err(NetError::Node { status: 200, code, message })
            }
            (None, None) => Ok(None),
        }
    }

    fn drop_stream(&mut self) {
        self.stream = None;
        self.failures = self.failures.max(1);
    }
}

/// Splits a byte stream into newline-terminated lines, refusing a line that grows past
/// [`LineBuffer::MAX_LINE`] (a node must not make the client buffer without bound).
#[derive(Debug, Default)]
pub struct LineBuffer {
    buffer: Vec<u8>,
}

impl LineBuffer {
    /// The longest line accepted: a 1 MiB envelope in base64 plus its JSON.
    pub const MAX_LINE: usize = 2 * 1024 * 1024;

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.buffer.extend_from_slice(bytes);
        let pending =
            self.buffer.len() - self.buffer.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if pending > Self::MAX_LINE {
            self.buffer.clear();
            return Err(NetError::Decode(format!(
                "expected a stream line of at most {} bytes, got more",
                Self::MAX_LINE
            )));
        }
        Ok(())
    }

    /// The next complete line, without its newline.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        let end = self.buffer.iter().position(|b| *b == b'\n')?;
        let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
        line.pop();
        Some(line)
    }
}

/// Exponential backoff with jitter: 250 ms doubling to at most 30 s, each delay scaled by a
/// random factor in [0.5, 1) so many clients of a restarted node do not return in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(250), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay before attempt `failures + 1`; `random` is uniform in [0, 1).
    pub fn delay(&self, failures: u32, random: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(16);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        full.mul_f64(0.5 + random.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut lines = LineBuffer::default();
        lines.push(b"{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(lines.next_line(), Some(b"{\"a\":1}".to_vec()));
        assert_eq!(lines.next_line(), None);
        lines.push(b":2}\n\n").unwrap();
        assert_eq!(lines.next_line(), Some(b"{\"b\":2}".to_vec()));
        assert_eq!(lines.next_line(), Some(Vec::new()));
        assert_eq!(lines.next_line(), None);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut lines = LineBuffer::default();
        let chunk = vec![b'x'; LineBuffer::MAX_LINE / 2];
        lines.push(&chunk).unwrap();
        lines.push(&chunk).unwrap();
        assert!(matches!(lines.push(b"x"), Err(NetError::Decode(_))));
        lines.push(b"ok\n").unwrap();
        assert_eq!(lines.next_line(), Some(b"ok".to_vec()));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(1, 0.999_999).as_millis(), 249);
        assert_eq!(backoff.delay(1, 0.0).as_millis(), 125);
        assert_eq!(backoff.delay(3, 0.0).as_millis(), 500);
        assert_eq!(backoff.delay(40, 0.0), Duration::from_secs(15));
        assert!(backoff.delay(40, 1.0) <= backoff.max);
        assert_eq!(backoff.delay(0, 0.0), backoff.delay(1, 0.0));
    }
}
