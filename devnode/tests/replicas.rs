//! Replicas: several nodes (each an `AppState` with its own pool and
//! notification listener, as separate processes would have) on one
//! PostgreSQL database serve the same API. What one stores, every one
//! streams: once, in order, with no gap, even while listeners reconnect.
//! Needs the PostgreSQL 15 server binaries (see `common/postgres.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use common::postgres::fresh_database_url;
use common::*;
use devnode::{AppState, Options, app};
use serde_json::{Value, json};

const A: &str = "/xmtp/0/replica-a/proto";
const B: &str = "/xmtp/0/replica-b/proto";

async fn replica(url: &str) -> (AppState, Router) {
    let options = Options { database: Some(url.to_owned()), ..Options::default() };
    let state = AppState::new(options).await.unwrap();
    (state.clone(), app(state))
}

async fn admin_connection(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Reads `n` envelopes' texts from a stream, failing on end or a 5 s silence.
async fn texts(lines: &mut Lines, n: usize) -> Vec<String> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        got.push(text_of(&lines.envelope().await));
    }
    got
}

fn texts_of(body: &Value) -> Vec<String> {
    body["envelopes"].as_array().unwrap().iter().map(text_of).collect()
}

#[tokio::test]
async fn what_one_replica_stores_the_other_queries_and_streams() {
    let url = fresh_database_url().await;
    let (_, one) = replica(&url).await;
    let (_, other) = replica(&url).await;
    let mut stream =
        subscribe(&other, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let mut all = subscribe(&other, "/message/v1/subscribe-all", json!({})).await;
    publish(&one, vec![env(A, 1, b"first"), env(B, 2, b"elsewhere")]).await;
    publish(&one, vec![env(A, 3, b"second")]).await;
    assert_eq!(texts(&mut stream, 2).await, ["first", "second"]);
    assert_eq!(texts(&mut all, 3).await, ["first", "elsewhere", "second"]);
    stream.assert_quiet().await;
    let body = query(&other, json!({ "contentTopics": [A] })).await;
    assert_eq!(texts_of(&body), ["first", "second"]);
    // And back: the first replica streams what the second stores.
    let mut back = subscribe(&one, "/message/v1/subscribe", json!({ "contentTopics": [B] })).await;
    publish(&other, vec![env(B, 4, b"back")]).await;
    assert_eq!(texts(&mut back, 1).await, ["back"]);
    // Each replica counted the notifications of both replicas' publishes.
    for node in [&one, &other] {
        let counted = sample(&scrape(node).await, "devnode_notifications_total");
        assert!(counted >= Some(3.0), "{counted:?}");
    }
}

#[tokio::test]
async fn a_stream_carries_only_what_was_stored_after_it_opened() {
    let url = fresh_database_url().await;
    let (_, node) = replica(&url).await;
    // Acknowledged before the stream opened: not streamed, even though it
    // reaches the stream through the database's notification.
    publish(&node, vec![env(A, 1, b"before")]).await;
    let mut stream =
        subscribe(&node, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    stream.assert_quiet().await;
    publish(&node, vec![env(A, 2, b"after")]).await;
    assert_eq!(texts(&mut stream, 1).await, ["after"]);
}

#[tokio::test]
async fn the_same_envelope_published_on_both_is_stored_and_streamed_once() {
    let url = fresh_database_url().await;
    let (state, one) = replica(&url).await;
    let (_, other) = replica(&url).await;
    let mut on_one =
        subscribe(&one, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let mut on_other =
        subscribe(&other, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    for round in 0..20u64 {
        let same = env(A, round, format!("same {round}").as_bytes());
        let (first, second) = (same.clone(), same);
        tokio::join!(publish(&one, vec![first]), publish(&other, vec![second]));
    }
    let want: Vec<String> = (0..20).map(|round| format!("same {round}")).collect();
    assert_eq!(texts(&mut on_one, 20).await, want);
    assert_eq!(texts(&mut on_other, 20).await, want);
    on_one.assert_quiet().await;
    on_other.assert_quiet().await;
    assert_eq!(state.stats().await.unwrap().envelopes, 20);
}

/// Many publishers at once on two replicas, a third one streaming: a row
/// whose `seq` became visible after a higher one's would be skipped by a
/// reader that trusts `seq > last_seen` without the publish lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_on_two_replicas_reach_a_third_without_a_gap() {
    const PUBLISHERS: u64 = 8;
    const BATCHES: u64 = 25;
    const PER_BATCH: u64 = 10;
    let url = fresh_database_url().await;
    let (_, one) = replica(&url).await;
    let (_, other) = replica(&url).await;
    let (_, watcher) = replica(&url).await;
    let mut all = subscribe(&watcher, "/message/v1/subscribe-all", json!({})).await;
    let total = (PUBLISHERS * BATCHES * PER_BATCH) as usize;
    // Read while they publish: more than a stream's buffer is published.
    let reader = tokio::spawn(async move {
        let got = texts(&mut all, total).await;
        all.assert_quiet().await;
        got
    });
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let node = if publisher % 2 == 0 { one.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            let topic = format!("/xmtp/0/publisher-{publisher}/proto");
            for batch in 0..BATCHES {
                let envs = (0..PER_BATCH)
                    .map(|i| {
                        let n = batch * PER_BATCH + i;
                        env(&topic, n, format!("{publisher}:{n}").as_bytes())
                    })
                    .collect();
                publish(&node, envs).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let got = reader.await.unwrap();
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), total, "an envelope came twice");
    // Each publisher's envelopes arrive in the order it published them.
    for publisher in 0..PUBLISHERS {
        let mine: Vec<u64> = got
            .iter()
            .filter_map(|t| t.strip_prefix(&format!("{publisher}:")))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(mine, (0..BATCHES * PER_BATCH).collect::<Vec<_>>(), "publisher {publisher}");
    }
}

#[tokio::test]
async fn many_topics_each_get_their_own_in_order() {
    let url = fresh_database_url().await;
    let (_, one) = replica(&url).await;
    let (_, other) = replica(&url).await;
    let topics: Vec<String> = (0..30).map(|i| format!("/xmtp/0/topic-{i}/proto")).collect();
    let mut streams = Vec::new();
    for topic in &topics {
        streams.push(
            subscribe(&other, "/message/v1/subscribe", json!({ "contentTopics": [topic] })).await,
        );
    }
    for round in 0..3u64 {
        let envs = topics
            .iter()
            .enumerate()
            .map(|(i, topic)| env(topic, round, format!("{i}/{round}").as_bytes()))
            .collect();
        publish(&one, envs).await;
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        assert_eq!(texts(stream, 3).await, [0, 1, 2].map(|round| format!("{i}/{round}")));
        stream.assert_quiet().await;
    }
}

/// Terminates every listener connection on the database; returns how many.
async fn kill_listeners(db: &tokio_postgres::Client) -> i64 {
    let row = db
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'devnode-listener' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_listener_reconnects_and_catches_up_without_gap_or_duplicate() {
    const ENVELOPES: u64 = 300;
    let url = fresh_database_url().await;
    let (_, one) = replica(&url).await;
    let (_, other) = replica(&url).await;
    let db = admin_connection(&url).await;
    let mut stream =
        subscribe(&other, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    let publisher = tokio::spawn(async move {
        for n in 0..ENVELOPES {
            publish(&one, vec![env(A, n, n.to_string().as_bytes())]).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    // Kill the listeners several times while the publisher runs, each time
    // once they are back.
    let mut killed = 0;
    while killed < 3 && !publisher.is_finished() {
        if kill_listeners(&db).await > 0 {
            killed += 1;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    publisher.await.unwrap();
    assert!(killed >= 2, "the listeners were killed only {killed} times");
    let got: Vec<u64> =
        texts(&mut stream, ENVELOPES as usize).await.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(got, (0..ENVELOPES).collect::<Vec<_>>());
    stream.assert_quiet().await;
}

#[tokio::test]
async fn health_reports_the_database() {
    let url = fresh_database_url().await;
    let (_, node) = replica(&url).await;
    assert_eq!(
        get(&node, "/devnode/health").await,
        (StatusCode::OK, json!({ "status": "ok", "store": "postgres" }))
    );
    // The database goes away under the node (its connections with it).
    let name = url.rsplit('/').next().unwrap();
    let postgres_db = url.replace(&format!("/{name}"), "/postgres");
    admin_connection(&postgres_db)
        .await
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    let (status, body) = get(&node, "/devnode/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains(name), "the reason names the missing database: {reason}");
}

/// The body of the first health answer with status `want`, polling for up to 5 s.
async fn wait_for_health(node: &Router, want: StatusCode) -> Value {
    for _ in 0..100 {
        let (status, body) = get(node, "/devnode/health").await;
        if status == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("health never answered {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_the_listener_stays_away_and_work_again_after() {
    let url = fresh_database_url().await;
    let (_, node) = replica(&url).await;
    let name = url.rsplit('/').next().unwrap();
    let cluster = admin_connection(&url.replace(&format!("/{name}"), "/postgres")).await;
    let mut stream =
        subscribe(&node, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    // The listener is cut off and cannot come back (the pool keeps its connections).
    cluster.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.unwrap();
    let killed: i64 = cluster
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'devnode-listener' AND datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let body = wait_for_health(&node, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body["reason"].as_str().unwrap().contains("listener"), "{body}");
    // Published meanwhile: the stream cannot be told in time, so it ends.
    publish(&node, vec![env(A, 1, b"while away")]).await;
    assert_eq!(stream.next(Duration::from_secs(10)).await, Next::End);

    cluster.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.unwrap();
    wait_for_health(&node, StatusCode::OK).await;
    let mut again =
        subscribe(&node, "/message/v1/subscribe", json!({ "contentTopics": [A] })).await;
    publish(&node, vec![env(A, 2, b"back")]).await;
    assert_eq!(texts(&mut again, 1).await, ["back"]);
    again.assert_quiet().await;
    // Nothing was lost: a query has both.
    let body = query(&node, json!({ "contentTopics": [A] })).await;
    assert_eq!(texts_of(&body), ["while away", "back"]);
}
