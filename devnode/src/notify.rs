//! The feed of a node on PostgreSQL: every envelope any replica stores
//! reaches this process's streams exactly once, and only through here.
//!
//! Each publish takes a cluster-wide advisory lock before its rows get their
//! `seq` and keeps it until commit, so `seq` order is commit order: once a
//! reader sees `seq` N, every committed row below N is visible too (gaps in
//! `seq` are values burnt by skipped duplicates, never rows still to come).
//! The publish then `pg_notify`s its highest `seq` (a position, since
//! payloads are capped at 8000 bytes). One dedicated, unpooled connection
//! per process `LISTEN`s, and on every notification reads
//! `seq > last_seen` in order into the local broadcast.
//!
//! When that connection drops, the listener reconnects and catches up from
//! `last_seen`: no gap. If it stays away longer than [`GIVE_UP_AFTER`], the
//! streams cannot be told what they missed in time: they are ended (as a
//! lagging subscriber is), and so is every stream opened until the listener
//! is back, which then starts from the head of the table.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use crate::postgres::{db_err, envelope_from_row};
use crate::store::StoreError;
use crate::stream::Event;

/// The notification channel publishes announce their highest `seq` on.
pub(crate) const CHANNEL: &str = "devnode_envelopes";

/// `application_name` of the listener connection (operators and tests find
/// it in `pg_stat_activity` by it).
pub(crate) const APPLICATION_NAME: &str = "devnode-listener";

/// Rows read per round of a catch-up.
const READ_PAGE: i64 = 1000;

/// How long streams wait for a lost listener connection before they end.
const GIVE_UP_AFTER: Duration = Duration::from_secs(5);

/// Reconnect attempts start this far apart and back off to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long a publish waits for its envelopes to reach this process's
/// streams before acknowledging anyway (they are committed either way).
const PUBLISH_WAIT: Duration = Duration::from_secs(2);

const READ_AFTER: &str = "SELECT seq, topic, timestamp_ns, message FROM envelopes
     WHERE seq > $1 ORDER BY seq LIMIT $2";

/// What the listener has done so far.
#[derive(Debug, Clone)]
struct FeedState {
    /// Highest `seq` handed to the local streams.
    delivered: i64,
    /// Why the listener connection is down; `None` while it is up.
    down: Option<String>,
}

/// Handle on the listener task; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Feed {
    state: watch::Receiver<FeedState>,
    _stop: oneshot::Sender<()>,
}

impl Feed {
    /// Connects the listener and starts it at the current head of the table
    /// (streams carry what is stored from now on).
    pub(crate) async fn start(
        config: &Config,
        events: broadcast::Sender<Event>,
        notifications: Counter,
    ) -> Result<Self, StoreError> {
        let mut config = config.clone();
        config.application_name(APPLICATION_NAME);
        let connection = Connection::open(&config, &notifications).await.map_err(db_err)?;
        let head = connection.head().await.map_err(db_err)?;
        let (state_tx, state) = watch::channel(FeedState { delivered: head, down: None });
        let (stop, stopped) = oneshot::channel();
        let listener = Listener {
            config,
            events,
            notifications,
            state: state_tx,
            last_seen: head,
            gave_up: false,
        };
        tokio::spawn(listener.run(connection, stopped));
        Ok(Self { state, _stop: stop })
    }

    /// Waits until the streams of this process have been handed `seq` (or
    /// the listener is down, or [`PUBLISH_WAIT`] passed), so that a stream
    /// opened here after a publish was acknowledged does not get it.
    pub(crate) async fn reached(&self, seq: i64) {
        let mut state = self.state.clone();
        let wait = state.wait_for(|s| s.delivered >= seq || s.down.is_some());
        // Err: the listener is gone with the store; nothing left to wait for.
        let _ = tokio::time::timeout(PUBLISH_WAIT, wait).await;
    }

    /// `Err(reason)` while the listener connection is down.
    pub(crate) fn check(&self) -> Result<(), String> {
        match &self.state.borrow().down {
            None => Ok(()),
            Some(reason) => Err(format!("notification listener down: {reason}")),
        }
    }
}

/// The listener connection: a client, its prepared read, and a wake-up per
/// notification (coalesced: one pending wake-up covers any number of
/// notifications, since each read takes everything committed so far).
struct Connection {
    client: Client,
    read_after: Statement,
    wakes: mpsc::Receiver<()>,
}

impl Connection {
    async fn open(config: &Config, notifications: &Counter) -> Result<Self, tokio_postgres::Error> {
        let (client, mut connection) = config.connect(NoTls).await?;
        let notifications = notifications.clone();
        let (wake, wakes) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(_) = message {
                    notifications.inc();
                    // Full: a wake-up is already pending, which covers this one.
                    let _ = wake.try_send(());
                }
            }
            // Dropping `wake` tells the listener the connection is gone.
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let read_after = client.prepare(READ_AFTER).await?;
        Ok(Self { client, read_after, wakes })
    }

    /// The highest `seq` stored, read after `LISTEN` took effect: anything
    /// committed later is notified.
    async fn head(&self) -> Result<i64, tokio_postgres::Error> {
        let row = self.client.query_one("SELECT coalesce(max(seq), 0) FROM envelopes", &[]).await?;
        Ok(row.get(0))
    }
}

struct Listener {
    config: Config,
    events: broadcast::Sender<Event>,
    /// Counts the notifications received (`devnode_notifications_total`).
    notifications: Counter,
    state: watch::Sender<FeedState>,
    last_seen: i64,
    /// Streams were ended for an outage; on reconnect, start from the head.
    gave_up: bool,
}

impl Listener {
    async fn run(mut self, first: Connection, mut stop: oneshot::Receiver<()>) {
        let mut connection = Some(first);
        let mut backoff = MIN_BACKOFF;
        let mut down_since: Option<Instant> = None;
        loop {
            let session = async {
                let connection = match connection.take() {
                    Some(c) => c,
                    None => {
                        Connection::open(&self.config, &self.notifications).await.map_err(db_err)?
                    }
                };
                self.follow(connection, &mut down_since, &mut backoff).await
            };
            let reason = tokio::select! {
                // Fires when the store (and its `Feed`) is dropped.
                _ = &mut stop => return,
                Err(e) = session => e.to_string(),
            };
            let since = *down_since.get_or_insert_with(Instant::now);
            self.state.send_modify(|s| s.down = Some(reason.clone()));
            if since.elapsed() >= GIVE_UP_AFTER {
                // Also ends streams opened since the last round.
                self.end_streams(&reason);
            }
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Catches up, then follows notifications until the connection fails.
    async fn follow(
        &mut self,
        mut connection: Connection,
        down_since: &mut Option<Instant>,
        backoff: &mut Duration,
    ) -> Result<Infallible, StoreError> {
        if self.gave_up {
            let head = connection.head().await.map_err(db_err)?;
            // Streams opened since the last round were promised what
            // follows their start, which may lie before `head`.
            self.end_streams("listener reconnected after giving up");
            self.last_seen = head;
            self.gave_up = false;
        }
        self.catch_up(&connection).await?;
        self.state.send_modify(|s| s.down = None);
        *down_since = None;
        *backoff = MIN_BACKOFF;
        while connection.wakes.recv().await.is_some() {
            self.catch_up(&connection).await?;
        }
        Err(StoreError::Database("listener connection closed".to_owned()))
    }

    /// Hands every envelope stored after `last_seen` to the streams, in order.
    async fn catch_up(&mut self, connection: &Connection) -> Result<(), StoreError> {
        loop {
            let rows = connection
                .client
                .query(&connection.read_after, &[&self.last_seen, &READ_PAGE])
                .await
                .map_err(db_err)?;
            for row in &rows {
                // Err only means nobody is subscribed right now.
                let _ = self.events.send(Event::Envelope(Arc::new(envelope_from_row(row, 1))));
                self.last_seen = row.get(0);
            }
            let delivered = self.last_seen;
            self.state.send_if_modified(|s| {
                let advanced = s.delivered < delivered;
                s.delivered = delivered;
                advanced
            });
            if rows.len() < READ_PAGE as usize {
                return Ok(());
            }
        }
    }

    fn end_streams(&mut self, reason: &str) {
        if self.events.receiver_count() > 0 {
            tracing::warn!(%reason, "ending all streams");
        }
        let _ = self.events.send(Event::FeedGap);
        self.gave_up = true;
    }
}
