//! `net/` against the real devnode.

use e2ee_sdk::{
    net::{
        Envelope, NetError, NodeClient, PagingInfo, QueryPages, QueryRequest, SortDirection,
        SubscriptionEvent,
    },
    wire::Topic,
};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{devnode_url, set_faults, unique};

fn node() -> NodeClient {
    NodeClient::new(devnode_url())
}

fn topic() -> Topic {
    Topic::parse(&format!("/xmtp/0/{}/proto", unique("net"))).unwrap()
}

fn envelopes(topic: &Topic, range: std::ops::Range<u64>) -> Vec<Envelope> {
    range
        .map(|i| Envelope {
            content_topic: topic.to_string(),
            timestamp_ns: 1_000 + i,
            message: format!("message {i}").into_bytes(),
        })
        .collect()
}

#[wasm_bindgen_test]
async fn publishes_and_pages_through_a_query() {
    let (node, topic) = (node(), topic());
    let sent = envelopes(&topic, 0..250);
    for batch in sent.chunks(100) {
        node.publish(batch).await.unwrap();
    }

    assert_eq!(node.query_all(std::slice::from_ref(&topic)).await.unwrap(), sent);

    // Page by page, resuming a fresh pager from the cursor saved after the first page.
    let mut pages = QueryPages::new(std::slice::from_ref(&topic), None);
    let first = pages.next_page(&node).await.unwrap().unwrap();
    assert_eq!(first.envelopes, sent[..100]);
    let saved = first.next_cursor().cloned();
    assert!(saved.is_some(), "a full first page carries a cursor");
    let mut resumed = QueryPages::new(std::slice::from_ref(&topic), saved);
    let mut rest = Vec::new();
    let mut sizes = Vec::new();
    while let Some(page) = resumed.next_page(&node).await.unwrap() {
        sizes.push(page.envelopes.len());
        rest.extend(page.envelopes);
    }
    assert_eq!(sizes, [100, 50]);
    assert_eq!(rest, sent[100..]);

    let newest = node
        .query(&QueryRequest {
            content_topics: vec![topic.to_string()],
            paging_info: Some(PagingInfo {
                limit: Some(3),
                direction: Some(SortDirection::Descending),
                cursor: None,
            }),
            ..QueryRequest::default()
        })
        .await
        .unwrap();
    let newest: Vec<u64> = newest.envelopes.iter().map(|e| e.timestamp_ns).collect();
    assert_eq!(newest, [1_249, 1_248, 1_247]);
}

#[wasm_bindgen_test]
async fn batch_query_answers_each_request_in_order() {
    let (node, a, b) = (node(), topic(), topic());
    node.publish(&envelopes(&a, 0..2)).await.unwrap();
    node.publish(&envelopes(&b, 0..5)).await.unwrap();
    let request =
        |t: &Topic| QueryRequest { content_topics: vec![t.to_string()], ..Default::default() };
    let answers = node.batch_query(vec![request(&b), request(&a)]).await.unwrap();
    let counts: Vec<usize> = answers.iter().map(|r| r.envelopes.len()).collect();
    assert_eq!(counts, [5, 2]);
}

#[wasm_bindgen_test]
async fn subscription_receives_what_is_published_after_it_opens() {
    let (node, topic) = (node(), topic());
    let mut subscription = node.subscribe(std::slice::from_ref(&topic));
    assert_eq!(
        subscription.next().await.unwrap(),
        SubscriptionEvent::Connected { reconnect: false }
    );
    let sent = envelopes(&topic, 0..3);
    node.publish(&sent).await.unwrap();
    for expected in sent {
        assert_eq!(subscription.next().await.unwrap(), SubscriptionEvent::Envelope(expected));
    }
    subscription.close();
    assert_eq!(subscription.next().await, Err(NetError::Aborted));
}

#[wasm_bindgen_test]
async fn subscription_reconnects_after_the_node_cuts_it() {
    set_faults(r#"{"streamCutAfter": 1}"#).await;
    let (node, topic) = (node(), topic());
    let mut subscription = node.subscribe(std::slice::from_ref(&topic));
    assert_eq!(
        subscription.next().await.unwrap(),
        SubscriptionEvent::Connected { reconnect: false }
    );
    let sent = envelopes(&topic, 0..2);
    node.publish(&sent[..1]).await.unwrap();
    assert_eq!(subscription.next().await.unwrap(), SubscriptionEvent::Envelope(sent[0].clone()));
    // The node ends the stream after one envelope; the subscription reopens by itself and
    // says so, which is the caller's cue to pull the gap.
    assert_eq!(
        subscription.next().await.unwrap(),
        SubscriptionEvent::Connected { reconnect: true }
    );
    node.publish(&sent[1..]).await.unwrap();
    assert_eq!(subscription.next().await.unwrap(), SubscriptionEvent::Envelope(sent[1].clone()));
    set_faults("{}").await;
}

#[wasm_bindgen_test]
async fn failures_are_typed_errors() {
    let node = node();
    let refused = node
        .query(&QueryRequest { content_topics: vec!["/not-xmtp/x".into()], ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(refused, NetError::Node { status: 400, code: 3, .. }), "{refused:?}");
    assert!(!refused.is_retryable());

    set_faults(r#"{"publishFailRate": 1.0}"#).await;
    let unavailable = node.publish(&envelopes(&topic(), 0..1)).await.unwrap_err();
    set_faults("{}").await;
    assert!(matches!(unavailable, NetError::Node { status: 503, code: 14, .. }), "{unavailable:?}");
    assert!(unavailable.is_retryable());

    set_faults(r#"{"latencyMs": 3000}"#).await;
    let slow = node.clone().with_timeout_ms(200).query_all(&[topic()]).await.unwrap_err();
    set_faults("{}").await;
    assert_eq!(slow, NetError::Timeout(200));

    // Nothing listens on the discard port.
    let dead = NodeClient::new("http://127.0.0.1:9").publish(&envelopes(&topic(), 0..1)).await;
    assert!(matches!(dead, Err(NetError::Network(_))), "{dead:?}");
}
