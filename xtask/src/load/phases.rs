//! The three measurements of one setup, each over HTTP on loopback: batch publishing,
//! paging queries, and publish-to-subscriber delivery with many streams held open.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinSet};

use super::client::Connection;
use crate::Result;

const PUBLISH: &str = "/message/v1/publish";
const QUERY: &str = "/message/v1/query";
const SUBSCRIBE: &str = "/message/v1/subscribe";

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scale {
    pub(super) publishers: usize,
    pub(super) batches_per_publisher: usize,
    pub(super) batch: usize,
    pub(super) message_bytes: usize,
    /// Topics the published envelopes are spread over (each then paged through by queries).
    pub(super) topics: usize,
    pub(super) query_passes: usize,
    pub(super) subscribers: usize,
    /// Envelopes per second of the delivery phase, and for how long.
    pub(super) rate: usize,
    pub(super) rate_seconds: u64,
}

/// Publish figures: envelopes/s over the phase, and each request's latency in ms.
pub(super) struct Published {
    pub(super) envelopes: usize,
    pub(super) per_second: f64,
    pub(super) latencies_ms: Vec<f64>,
}

/// Publishes `publishers × batches_per_publisher` batches from that many concurrent
/// connections, spread over `urls`. A batch counts once the node acknowledged it (on
/// PostgreSQL: committed).
pub(super) async fn publish(urls: &[String], scale: Scale, tag: &str) -> Result<Published> {
    let batches = scale.publishers * scale.batches_per_publisher;
    // Bodies are built before the clock starts: the figure is the node's, not the JSON's.
    let base = now_ns();
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..batches)
            .map(|b| {
                let envelopes: Vec<Value> = (0..scale.batch)
                    .map(|i| {
                        let n = b * scale.batch + i;
                        envelope(&format!("{tag}-{}", n % scale.topics), base + n as u64, n, scale)
                    })
                    .collect();
                Bytes::from(json!({ "envelopes": envelopes }).to_string())
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for p in 0..scale.publishers {
        let (url, bodies, next) = (urls[p % urls.len()].clone(), bodies.clone(), next.clone());
        workers.spawn(async move {
            let mut connection = Connection::open(&url).await?;
            let mut latencies = Vec::new();
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                let sent = Instant::now();
                connection.post(PUBLISH, body.clone()).await?;
                latencies.push(ms(sent.elapsed()));
            }
            Ok::<_, String>(latencies)
        });
    }
    let latencies_ms = join_all(workers).await?.concat();
    let elapsed = started.elapsed().as_secs_f64();
    let envelopes = batches * scale.batch;
    Ok(Published { envelopes, per_second: envelopes as f64 / elapsed, latencies_ms })
}

/// Query figures: pages/s, each page's latency, and the envelopes read in all.
pub(super) struct Queried {
    pub(super) pages_per_second: f64,
    pub(super) envelopes_per_second: f64,
    pub(super) latencies_ms: Vec<f64>,
    /// Envelopes one pass read: all that were published, when nothing was lost or doubled.
    pub(super) envelopes_per_pass: usize,
}

/// Pages through every topic of the publish phase, `query_passes` times, from as many
/// connections as there were publishers; successive pages of a topic alternate between
/// `urls`, so with two replicas every cursor is used on the replica that did not make it.
pub(super) async fn query(urls: &[String], scale: Scale, tag: &str) -> Result<Queried> {
    let topics = scale.topics * scale.query_passes;
    let next = Arc::new(AtomicUsize::new(0));
    let urls = Arc::new(urls.to_vec());
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..scale.publishers {
        let (urls, next, tag) = (urls.clone(), next.clone(), tag.to_owned());
        workers.spawn(async move {
            let mut connections = Vec::new();
            for url in urls.iter() {
                connections.push(Connection::open(url).await?);
            }
            let (mut latencies, mut read) = (Vec::new(), 0);
            loop {
                let t = next.fetch_add(1, Ordering::Relaxed);
                if t >= topics {
                    break;
                }
                let topic = format!("/xmtp/0/{tag}-{}", t % scale.topics);
                let mut cursor = Value::Null;
                for page in 0.. {
                    let mut paging =
                        json!({ "limit": 100, "direction": "SORT_DIRECTION_ASCENDING" });
                    if !cursor.is_null() {
                        paging["cursor"] = cursor;
                    }
                    let body = json!({ "contentTopics": [topic], "pagingInfo": paging });
                    let sent = Instant::now();
                    let connection = &mut connections[page % urls.len()];
                    let response = connection.post(QUERY, Bytes::from(body.to_string())).await?;
                    latencies.push(ms(sent.elapsed()));
                    let response: Value = serde_json::from_slice(&response)
                        .map_err(|e| format!("query response: {e}"))?;
                    read += response["envelopes"].as_array().map_or(0, Vec::len);
                    cursor = response["pagingInfo"]["cursor"].clone();
                    if cursor.is_null() {
                        break;
                    }
                }
            }
            Ok::<_, String>((latencies, read))
        });
    }
    let results = join_all(workers).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let read: usize = results.iter().map(|(_, read)| read).sum();
    let latencies_ms: Vec<f64> = results.into_iter().flat_map(|(l, _)| l).collect();
    Ok(Queried {
        pages_per_second: latencies_ms.len() as f64 / elapsed,
        envelopes_per_second: read as f64 / elapsed,
        latencies_ms,
        envelopes_per_pass: read / scale.query_passes.max(1),
    })
}

/// Delivery figures of the subscribers on one replica.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    pub(super) expected: usize,
    pub(super) received: usize,
    /// Envelopes a subscriber received more than once.
    pub(super) doubled: usize,
    /// Streams the node ended before the phase did (the stream-lag rule).
    pub(super) ended: usize,
    /// From just before the publish request to the subscriber reading the envelope.
    pub(super) latencies_ms: Vec<f64>,
}

/// What the delivery phase measured: per replica the subscribers were on (the publisher
/// is on the first), and the publish rate reached.
pub(super) struct Delivery {
    pub(super) by_replica: Vec<Delivered>,
    pub(super) achieved_rate: f64,
}

/// Holds `subscribers` streams open (one topic each, spread over `urls`), then publishes on
/// the first node at a steady `rate` (a batch every 10 ms, one envelope per subscriber in
/// turn) for `rate_seconds`, and waits up to `grace` for the rest to arrive.
pub(super) async fn deliver(
    urls: &[String],
    scale: Scale,
    tag: &str,
    grace: Duration,
) -> Result<Delivery> {
    let received = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    // Each subscriber reports here once its stream is open, or why it could not open it.
    let (opened, mut open) = tokio::sync::mpsc::unbounded_channel::<Result>();
    // At most 64 connecting at once, so the node's accept queue never overflows.
    let connecting = Arc::new(tokio::sync::Semaphore::new(64));
    let mut subscribers = JoinSet::new();
    for s in 0..scale.subscribers {
        let replica = s % urls.len();
        let url = urls[replica].clone();
        let body = Bytes::from(
            json!({ "contentTopics": [format!("/xmtp/0/{tag}-live-{s}")] }).to_string(),
        );
        let (received, mut stopped) = (received.clone(), stopped.clone());
        let (opened, connecting) = (opened.clone(), connecting.clone());
        subscribers.spawn(async move {
            let permit = connecting.acquire_owned().await.map_err(|e| e.to_string())?;
            let stream = match Connection::open(&url).await {
                Ok(connection) => connection.open_stream(SUBSCRIBE, body).await,
                Err(e) => Err(e),
            };
            drop(permit);
            let _ = opened.send(stream.as_ref().map(|_| ()).map_err(Clone::clone));
            let mut lines = stream?;
            let (mut seen, mut latencies, mut doubled) = (HashSet::new(), Vec::new(), 0);
            let ended = loop {
                let line = tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => break false,
                    line = lines.next() => line,
                };
                let Some(line) = line else { break true };
                let at = now_ns();
                let item: Value =
                    serde_json::from_slice(&line).map_err(|e| format!("stream line: {e}"))?;
                let envelope = &item["result"];
                let sent: u64 = envelope["timestampNs"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .ok_or("a stream line without timestampNs")?;
                // The message bytes are unique per envelope (see `envelope`).
                if seen.insert(envelope["message"].as_str().unwrap_or_default().to_owned()) {
                    latencies.push(at.saturating_sub(sent) as f64 / 1e6);
                    received.fetch_add(1, Ordering::Relaxed);
                } else {
                    doubled += 1;
                }
            };
            Ok::<_, String>((replica, latencies, doubled, ended))
        });
    }
    // Every stream open before the first publish (the node answers only once listening).
    for _ in 0..scale.subscribers {
        match tokio::time::timeout(Duration::from_secs(60), open.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(format!("a subscriber could not open its stream: {e}")),
            Ok(None) | Err(_) => return Err("the subscribers' streams did not all open".into()),
        }
    }

    let (expected, achieved_rate) = publish_steadily(&urls[0], scale, tag).await?;
    let waiting = Instant::now();
    while received.load(Ordering::Relaxed) < expected.iter().sum() && waiting.elapsed() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    let mut by_replica: Vec<Delivered> = urls.iter().map(|_| Delivered::default()).collect();
    for (s, expected) in expected.iter().enumerate() {
        by_replica[s % urls.len()].expected += expected;
    }
    for (replica, latencies, doubled, ended) in join_all(subscribers).await? {
        let figures = &mut by_replica[replica];
        figures.received += latencies.len();
        figures.latencies_ms.extend(latencies);
        figures.doubled += doubled;
        figures.ended += usize::from(ended);
    }
    Ok(Delivery { by_replica, achieved_rate })
}

/// Publishes in flight at once at most by the delivery phase's publisher: a publish that
/// waits for its commit longer than a tick must not hold back the next tick's.
const STEADY_CONNECTIONS: usize = 8;

/// The delivery phase's publisher: a batch every 10 ms, each envelope stamped with the time
/// its request leaves, sent on the first free one of a few connections. Returns how many
/// envelopes each subscriber's topic got, and the rate reached.
async fn publish_steadily(url: &str, scale: Scale, tag: &str) -> Result<(Vec<usize>, f64)> {
    let (free, mut next_free) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..STEADY_CONNECTIONS {
        let _ = free.send(Connection::open(url).await?);
    }
    let per_tick = (scale.rate / 100).max(1);
    let ticks = scale.rate_seconds as usize * 100;
    let mut expected = vec![0; scale.subscribers];
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    let mut in_flight = JoinSet::new();
    let started = Instant::now();
    for tick in 0..ticks {
        interval.tick().await;
        let mut connection =
            next_free.recv().await.ok_or("the steady publisher's connections are gone")?;
        let base = now_ns();
        let envelopes: Vec<Value> = (0..per_tick)
            .map(|i| {
                let n = tick * per_tick + i;
                let s = n % scale.subscribers;
                expected[s] += 1;
                envelope(&format!("{tag}-live-{s}"), base, n, scale)
            })
            .collect();
        let body = Bytes::from(json!({ "envelopes": envelopes }).to_string());
        let free = free.clone();
        in_flight.spawn(async move {
            connection.post(PUBLISH, body).await?;
            let _ = free.send(connection);
            Ok(())
        });
        // A failed publish ends the phase now rather than after the last tick.
        while let Some(done) = in_flight.try_join_next() {
            done.map_err(|e| format!("a publish task failed: {e}"))??;
        }
    }
    join_all(in_flight).await?;
    let rate = (ticks * per_tick) as f64 / started.elapsed().as_secs_f64();
    Ok((expected, rate))
}

/// An envelope of `scale.message_bytes` on `/xmtp/0/{topic}`; `n` makes its bytes unique.
fn envelope(topic: &str, timestamp_ns: u64, n: usize, scale: Scale) -> Value {
    let mut message = vec![0u8; scale.message_bytes];
    for (i, byte) in message.iter_mut().enumerate() {
        *byte = (n.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8;
    }
    message[..8].copy_from_slice(&(n as u64).to_le_bytes());
    json!({
        "contentTopic": format!("/xmtp/0/{topic}"),
        "timestampNs": timestamp_ns.to_string(),
        "message": STANDARD.encode(&message),
    })
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Every task's result, or the first error (the others are then aborted).
async fn join_all<T: 'static>(mut tasks: JoinSet<Result<T>>) -> Result<Vec<T>> {
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.map_err(|e| format!("a load task failed: {e}"))??);
    }
    Ok(results)
}
