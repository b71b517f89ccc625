//! The JS-facing `Client`, called as JS would call it.

use e2ee_sdk::{Client, ClientOptions};
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{devnode_url, unique, wallet::TestWallet};

/// `ClientOptions` for `signer` on database `db`, plus `extra` fields.
pub(crate) fn options(signer: &JsValue, db: &str, extra: &[(&str, JsValue)]) -> ClientOptions {
    let object = Object::new();
    let mut fields =
        vec![("signer", signer.clone()), ("nodeUrl", devnode_url().into()), ("dbName", db.into())];
    fields.extend(extra.iter().cloned());
    for (name, value) in fields {
        Reflect::set(&object, &name.into(), &value).unwrap();
    }
    object.unchecked_into()
}

/// A client of `wallet` on database `db` whose installation lists are fetched when older than
/// `threshold_ms`.
pub(crate) async fn client(wallet: &TestWallet, db: &str, threshold_ms: u32) -> Client {
    Client::create(options(&wallet.signer(), db, &[("refreshThresholdMs", threshold_ms.into())]))
        .await
        .unwrap()
}

pub(crate) fn code(error: &JsValue) -> String {
    Reflect::get(error, &"code".into()).unwrap().as_string().unwrap_or_default()
}

pub(crate) fn field(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap()
}

#[wasm_bindgen_test]
async fn creates_and_reaches_the_node() {
    let wallet = TestWallet::random();
    let db = unique("client");
    let client = client(&wallet, &db, 60_000).await;
    assert_eq!(client.db_name(), db);
    assert_eq!(client.address(), wallet.address.to_string());
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
    let wallet = TestWallet::random();
    let missing = Client::create(parse_options(r#"{"nodeUrl": "http://127.0.0.1:9"}"#)).await.err();
    let missing = missing.unwrap();
    assert_eq!(code(&missing), "INVALID_ARGUMENT");

    let no_signer = Client::create(options(&JsValue::from(7), &unique("client"), &[])).await;
    assert_eq!(code(&no_signer.err().unwrap()), "INVALID_ARGUMENT");

    let dead = Client::create(options(
        &wallet.signer(),
        &unique("client"),
        &[("nodeUrl", "http://127.0.0.1:9".into())],
    ))
    .await
    .unwrap();
    let unreachable = JsFuture::from(dead.probe_node()).await.unwrap_err();
    assert_eq!(code(&unreachable), "NETWORK");
}

fn parse_options(json: &str) -> ClientOptions {
    js_sys::JSON::parse(json).unwrap().unchecked_into()
}
