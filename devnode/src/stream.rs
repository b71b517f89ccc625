//! The body of a subscribe response: one `{"result": Envelope}` line per
//! envelope published after the subscription started.
//!
//! Envelopes arrive through a bounded tokio broadcast channel. A subscriber
//! that falls behind by more than the channel holds is *ended* rather than
//! allowed to skip silently: a gap the client cannot see would be a lost
//! message, whereas a closed stream tells it to resubscribe and catch up
//! with a query, which is what XMTP clients do anyway.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use crate::api::StreamItem;
use crate::faults::StreamFaults;
use crate::store::StoredEnvelope;

/// What the node's broadcast carries to its streams.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A newly stored envelope.
    Envelope(Arc<StoredEnvelope>),
    /// The feed lost envelopes it cannot deliver in time (its PostgreSQL
    /// listener was away too long): every open stream ends, as a lagging
    /// one does, so that no subscriber misses one silently.
    FeedGap,
}

/// Which envelopes a stream carries: some topics, or all of them.
#[derive(Debug)]
pub(crate) enum TopicFilter {
    Topics(HashSet<String>),
    All,
}

struct Subscription {
    rx: broadcast::Receiver<Event>,
    shutdown: watch::Receiver<bool>,
    filter: TopicFilter,
    faults: StreamFaults,
    /// Lines ready to send, in order.
    ready: VecDeque<Bytes>,
    /// An envelope held back by the reorder fault.
    held: Option<Arc<StoredEnvelope>>,
    delivered: u32,
}

/// Builds the stream of lines. It ends when the node shuts down, when the
/// subscriber lags, when the node's feed has a gap, or when the `streamCutAfter` fault says so (an envelope
/// held back by the reorder fault is then never sent, as with a real cut
/// connection). When the client goes away hyper drops the stream, at the
/// latest when writing the next line fails; until then an idle stream costs
/// only a parked broadcast receiver.
pub(crate) fn lines(
    rx: broadcast::Receiver<Event>,
    shutdown: watch::Receiver<bool>,
    filter: TopicFilter,
    faults: StreamFaults,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let sub = Subscription {
        rx,
        shutdown,
        filter,
        faults,
        ready: VecDeque::new(),
        held: None,
        delivered: 0,
    };
    futures_util::stream::unfold(sub, |mut sub| async move {
        let line = sub.next_line().await?;
        Some((Ok(line), sub))
    })
}

impl Subscription {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if self.faults.cut_after.is_some_and(|n| self.delivered >= n) {
                return None;
            }
            if let Some(line) = self.ready.pop_front() {
                self.delivered = self.delivered.saturating_add(1);
                return Some(line);
            }
            let env = tokio::select! {
                biased;
                // Also fires if the node state is gone: end either way.
                _ = self.shutdown.wait_for(|down| *down) => return None,
                received = self.rx.recv() => match received {
                    Ok(Event::Envelope(env)) => env,
                    Ok(Event::FeedGap) => return None,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "subscriber fell behind; ending its stream");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            let wanted = match &self.filter {
                TopicFilter::All => true,
                TopicFilter::Topics(topics) => topics.contains(&env.topic),
            };
            if wanted {
                self.accept(env)?;
            }
        }
    }

    /// Queues an envelope, applying the reorder and duplicate faults.
    fn accept(&mut self, env: Arc<StoredEnvelope>) -> Option<()> {
        if self.held.is_none() && self.faults.reorder() {
            self.held = Some(env);
            return Some(());
        }
        self.push(&env)?;
        if let Some(held) = self.held.take() {
            self.push(&held)?;
        }
        Some(())
    }

    fn push(&mut self, env: &StoredEnvelope) -> Option<()> {
        // Serializing plain strings cannot fail; if it somehow did, ending
        // the stream is the honest answer.
        let mut line = serde_json::to_vec(&StreamItem { result: &env.wire }).ok()?;
        line.push(b'\n');
        let line = Bytes::from(line);
        if self.faults.duplicate() {
            self.ready.push_back(line.clone());
        }
        self.ready.push_back(line);
        Some(())
    }
}
