//! Publish, query (paging both ways, time bounds, limits, multi-topic
//! merge), batch-query and the protobuf-JSON wire format.

use std::collections::HashSet;

use crate::common::*;
use serde_json::{Value, json};

const TOPIC: &str = "/xmtp/0/dm-alice-bob/proto";

/// 250 envelopes, three per timestamp so ties are ordered by digest.
async fn seeded_node() -> (axum::Router, Vec<Value>) {
    let app = node().await;
    let all: Vec<Value> =
        (0..250u64).map(|i| env(TOPIC, 1000 + i / 3, format!("msg-{i}").as_bytes())).collect();
    // Publish in chunks and out of order: the node must sort.
    for chunk in all.rchunks(37) {
        publish(&app, chunk.to_vec()).await;
    }
    (app, all)
}

fn key(e: &Value) -> (u64, String) {
    (e["timestampNs"].as_str().unwrap().parse().unwrap(), text_of(e))
}

#[tokio::test]
async fn paging_ascending_and_descending_over_three_pages() {
    let (app, all) = seeded_node().await;
    let asc = query_all_pages(
        &app,
        json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": 100, "direction": "SORT_DIRECTION_ASCENDING" } }),
    )
    .await;
    assert_eq!(asc.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
    let asc: Vec<Value> = asc.concat();
    let names: HashSet<String> = asc.iter().map(text_of).collect();
    assert_eq!(names.len(), 250, "no duplicates, no gaps");
    assert_eq!(names, all.iter().map(text_of).collect());
    let ts: Vec<u64> = asc.iter().map(|e| key(e).0).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "ascending");

    let desc = query_all_pages(
        &app,
        json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": 100, "direction": "SORT_DIRECTION_DESCENDING" } }),
    )
    .await;
    assert_eq!(desc.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
    let mut desc: Vec<Value> = desc.concat();
    desc.reverse();
    // Same total order, ties included, just reversed.
    assert_eq!(desc, asc);
}

#[tokio::test]
async fn paging_info_present_only_while_more_remain() {
    let (app, _) = seeded_node().await;
    let first =
        query(&app, json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": 100 } })).await;
    let paging = &first["pagingInfo"];
    assert_eq!(paging["limit"], json!(100));
    assert_eq!(paging["direction"], json!("SORT_DIRECTION_ASCENDING"));
    let index = &paging["cursor"]["index"];
    assert_eq!(unb64(index["digest"].as_str().unwrap()).len(), 32);
    let last = first["envelopes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(index["senderTimeNs"], last["timestampNs"]);

    // An exactly full last page (250 = 5 x 50) carries no cursor, so there
    // is no sixth, empty page.
    let pages =
        query_all_pages(&app, json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": 50 } }))
            .await;
    assert_eq!(pages.len(), 5);
    let empty = query(&app, json!({ "contentTopics": ["/xmtp/0/nobody"] })).await;
    assert_eq!(empty, json!({ "envelopes": [] }));
}

#[tokio::test]
async fn time_bounds_are_inclusive() {
    let (app, _) = seeded_node().await;
    for direction in ["SORT_DIRECTION_ASCENDING", "SORT_DIRECTION_DESCENDING"] {
        let pages = query_all_pages(
            &app,
            json!({ "contentTopics": [TOPIC], "startTimeNs": "1010", "endTimeNs": 1020,
                    "pagingInfo": { "limit": 10, "direction": direction } }),
        )
        .await;
        assert_eq!(pages.len(), 4, "{direction}");
        let got: Vec<Value> = pages.concat();
        assert_eq!(got.len(), 33, "11 timestamps x 3");
        assert!(got.iter().all(|e| (1010..=1020).contains(&key(e).0)));
        assert_eq!(got.iter().map(text_of).collect::<HashSet<_>>().len(), 33);
    }
    let only_start = query(&app, json!({ "contentTopics": [TOPIC], "startTimeNs": "1080" })).await;
    assert_eq!(only_start["envelopes"].as_array().unwrap().len(), 250 - 240);
    let inverted = query(
        &app,
        json!({ "contentTopics": [TOPIC], "startTimeNs": "1020", "endTimeNs": "1010" }),
    )
    .await;
    assert_eq!(inverted["envelopes"], json!([]));
}

#[tokio::test]
async fn limits_zero_and_over_100_are_clamped() {
    let (app, _) = seeded_node().await;
    for limit in [json!(0), json!(500), json!("500"), Value::Null] {
        let resp =
            query(&app, json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": limit } }))
                .await;
        assert_eq!(resp["envelopes"].as_array().unwrap().len(), 100, "limit {limit}");
        assert_eq!(resp["pagingInfo"]["limit"], json!(100));
    }
    let no_paging = query(&app, json!({ "contentTopics": [TOPIC] })).await;
    assert_eq!(no_paging["envelopes"].as_array().unwrap().len(), 100);
    let seven =
        query(&app, json!({ "contentTopics": [TOPIC], "pagingInfo": { "limit": "7" } })).await;
    assert_eq!(seven["envelopes"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn multi_topic_query_merges_in_key_order() {
    let app = node().await;
    let a = "/xmtp/0/a/proto";
    let b = "/xmtp/0/b/proto";
    let c = "/xmtp/0/c/proto";
    publish(&app, vec![env(a, 1, b"a1"), env(a, 4, b"a4"), env(a, 5, b"a5")]).await;
    publish(&app, vec![env(b, 2, b"b2"), env(b, 3, b"b3"), env(b, 6, b"b6")]).await;
    publish(&app, vec![env(c, 0, b"c0")]).await;
    let pages =
        query_all_pages(&app, json!({ "contentTopics": [a, b, a], "pagingInfo": { "limit": 4 } }))
            .await;
    let texts: Vec<String> = pages.concat().iter().map(text_of).collect();
    assert_eq!(texts, ["a1", "b2", "b3", "a4", "a5", "b6"]);
    assert_eq!(pages.len(), 2);
    let desc =
        query(&app, json!({ "contentTopics": [b, a], "pagingInfo": { "direction": 2 } })).await;
    let texts: Vec<String> = desc["envelopes"].as_array().unwrap().iter().map(text_of).collect();
    assert_eq!(texts, ["b6", "a5", "a4", "b3", "b2", "a1"]);
}

#[tokio::test]
async fn batch_query_answers_each_request() {
    let app = node().await;
    let a = "/xmtp/0/a/proto";
    let b = "/xmtp/0/b/proto";
    publish(&app, (0..5).map(|i| env(a, i, format!("a{i}").as_bytes())).collect()).await;
    publish(&app, vec![env(b, 9, b"b9")]).await;
    let (status, body) = post(
        &app,
        "/message/v1/batch-query",
        json!({ "requests": [
            { "contentTopics": [a], "pagingInfo": { "limit": 2, "direction": "SORT_DIRECTION_DESCENDING" } },
            { "contentTopics": [b] },
            { "contentTopics": ["/xmtp/0/none"] },
        ] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    let first: Vec<String> =
        responses[0]["envelopes"].as_array().unwrap().iter().map(text_of).collect();
    assert_eq!(first, ["a4", "a3"]);
    assert!(responses[0]["pagingInfo"]["cursor"].is_object());
    assert_eq!(responses[1]["envelopes"].as_array().unwrap().len(), 1);
    assert!(responses[1].get("pagingInfo").is_none());
    assert_eq!(responses[2], json!({ "envelopes": [] }));
    let (status, body) = post(&app, "/message/v1/batch-query", json!({ "requests": [] })).await;
    assert_eq!((status.as_u16(), body), (200, json!({ "responses": [] })));
}

#[tokio::test]
async fn exact_duplicate_publish_is_stored_once() {
    let app = node().await;
    let e = env(TOPIC, 7, b"same");
    publish(&app, vec![e.clone(), e.clone()]).await;
    publish(&app, vec![e.clone()]).await;
    // Same message at another time is a different envelope.
    publish(&app, vec![env(TOPIC, 8, b"same")]).await;
    let resp = query(&app, json!({ "contentTopics": [TOPIC] })).await;
    assert_eq!(resp["envelopes"].as_array().unwrap().len(), 2);
    let (_, stats) = get(&app, "/devnode/stats").await;
    assert_eq!(stats["envelopes"], json!(2));
}

#[tokio::test]
async fn lenient_input_strict_output() {
    let app = node().await;
    // Number timestamp, URL-safe unpadded base64, unknown fields.
    let (status, body) = post(
        &app,
        "/message/v1/publish",
        json!({ "envelopes": [{ "contentTopic": TOPIC, "timestampNs": 42, "message": "-_8", "extra": true }],
                "unknown": [1, 2] }),
    )
    .await;
    assert_eq!((status.as_u16(), body), (200, json!({})));
    let resp = query(
        &app,
        json!({ "contentTopics": [TOPIC], "startTimeNs": 42, "endTimeNs": "42",
                "pagingInfo": { "limit": "5", "direction": "SORT_DIRECTION_UNSPECIFIED", "cursor": null } }),
    )
    .await;
    assert_eq!(
        resp,
        json!({ "envelopes": [{ "contentTopic": TOPIC, "timestampNs": "42", "message": "+/8=" }] })
    );
    // An empty publish is fine and stores nothing.
    publish(&app, vec![]).await;
}
