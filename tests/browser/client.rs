//! The JS-facing `Client`, called as JS would call it.

use e2ee_sdk::{Client, ClientOptions};
use js_sys::{JSON, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{devnode_url, unique};

fn options(json: &str) -> ClientOptions {
    JSON::parse(json).unwrap().unchecked_into()
}

fn code(error: &JsValue) -> String {
    Reflect::get(error, &"code".into()).unwrap().as_string().unwrap_or_default()
}

fn field(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap()
}

#[wasm_bindgen_test]
async fn creates_and_reaches_the_node() {
    let db = unique("client");
    let client = Client::create(options(&format!(
        r#"{{"nodeUrl": "{}", "dbName": "{db}"}}"#,
        devnode_url()
    )))
    .await
    .unwrap();
    assert_eq!(client.db_name(), db);
    assert_eq!(client.schema_version(), e2ee_sdk::store::SCHEMA_VERSION);
    assert_eq!(client.identity_key().len(), 43);

    let probe = JsFuture::from(client.probe_node()).await.unwrap();
    assert_eq!(field(&probe, "published").as_f64(), Some(1.0));
    assert_eq!(field(&probe, "readBack").as_f64(), Some(1.0));
    assert!(field(&probe, "topic").as_string().unwrap().starts_with("/xmtp/0/probe-"));

    client.close();
    let closed = JsFuture::from(client.probe_node()).await.unwrap_err();
    assert_eq!(code(&closed), "CLOSED");
    assert!(closed.is_instance_of::<js_sys::Error>());
}

#[wasm_bindgen_test]
async fn errors_carry_codes() {
    let missing =
        Client::create(options(r#"{"nodeUrl": "http://127.0.0.1:9"}"#)).await.err().unwrap();
    assert_eq!(code(&missing), "INVALID_ARGUMENT");
    assert!(
        Reflect::get(&missing, &"message".into()).unwrap().as_string().unwrap().contains("dbName")
    );

    let dead = Client::create(options(&format!(
        r#"{{"nodeUrl": "http://127.0.0.1:9", "dbName": "{}"}}"#,
        unique("client")
    )))
    .await
    .unwrap();
    let unreachable = JsFuture::from(dead.probe_node()).await.unwrap_err();
    assert_eq!(code(&unreachable), "NETWORK");
}
