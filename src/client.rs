//! The `#[wasm_bindgen]` layer: converts between JS and Rust and nothing more.
//!
//! Every async method returns a typed `Promise`; every error is an `SdkError` with a `code`
//! (see [`crate::error`]). The client is cheap to hold: its state lives behind an `Rc` that
//! each call's future keeps alive, so a call in flight survives the JS object being freed.

use std::{cell::Cell, rc::Rc};

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::{
    crypto::{IdentityKeys, Installation, random_hex},
    error::{ErrorCode, SdkError},
    net::{Envelope, NodeClient},
    store::Store,
    wire::Topic,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `Client.create`. */
export interface ClientOptions {
  /** Base URL of a node serving the XMTP message API v1, e.g. `"http://127.0.0.1:5555"`. */
  nodeUrl: string;
  /** Name of the IndexedDB database: one per account and browser profile. */
  dbName: string;
  /** How long one request to the node may take, in milliseconds (default 15000). */
  requestTimeoutMs?: number;
}

/** What `client.probeNode()` found: an envelope published and read back. */
export interface NodeProbe {
  /** The throw-away topic used. */
  topic: string;
  /** Envelopes published (1). */
  published: number;
  /** Envelopes read back from the topic (1 when the node stored it). */
  readBack: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `ClientOptions` as JS passes it.
    #[wasm_bindgen(typescript_type = "ClientOptions")]
    pub type ClientOptions;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    node_url: String,
    db_name: String,
    request_timeout_ms: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeProbe {
    topic: String,
    published: u32,
    read_back: u32,
}

/// A messaging client: one account on one installation (browser profile).
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

struct Inner {
    node: NodeClient,
    store: Store,
    identity: IdentityKeys,
    closed: Cell<bool>,
}

#[wasm_bindgen]
impl Client {
    /// Opens the database `dbName` and connects to the node at `nodeUrl`.
    ///
    /// For now the installation's Olm account is created in memory on each start; the
    /// identity issue stores it, encrypted, and links it to a wallet.
    pub async fn create(options: ClientOptions) -> Result<Client, JsValue> {
        let options: Options = serde_wasm_bindgen::from_value(options.into()).map_err(|e| {
            SdkError::new(ErrorCode::InvalidArgument, format!("invalid ClientOptions: {e}"))
        })?;
        if options.db_name.is_empty() {
            return Err(
                SdkError::new(ErrorCode::InvalidArgument, "dbName must not be empty").into()
            );
        }
        let node = match options.request_timeout_ms {
            Some(ms) => NodeClient::new(&options.node_url).with_timeout_ms(ms),
            None => NodeClient::new(&options.node_url),
        };
        let store = Store::open(&options.db_name).await.map_err(SdkError::from)?;
        let identity = Installation::generate().identity_keys();
        Ok(Client { inner: Rc::new(Inner { node, store, identity, closed: Cell::new(false) }) })
    }

    /// The node's base URL.
    #[wasm_bindgen(getter, js_name = nodeUrl)]
    pub fn node_url(&self) -> String {
        self.inner.node.base_url().to_owned()
    }

    /// The IndexedDB database's name.
    #[wasm_bindgen(getter, js_name = dbName)]
    pub fn db_name(&self) -> String {
        self.inner.store.name()
    }

    /// The database's schema version.
    #[wasm_bindgen(getter, js_name = schemaVersion)]
    pub fn schema_version(&self) -> u32 {
        self.inner.store.version().unwrap_or_default()
    }

    /// This installation's curve25519 identity key (base64).
    #[wasm_bindgen(getter, js_name = identityKey)]
    pub fn identity_key(&self) -> String {
        self.inner.identity.curve25519.clone()
    }

    /// Publishes one envelope to a throw-away topic and reads it back: proof that the node
    /// is reachable, accepts writes and serves queries.
    #[wasm_bindgen(js_name = probeNode, unchecked_return_type = "Promise<NodeProbe>")]
    pub fn probe_node(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { Ok(inner.probe_node().await?) })
    }

    /// Stops using the client; later calls throw `CLOSED`. Idempotent.
    pub fn close(&self) {
        self.inner.closed.set(true);
    }
}

impl Inner {
    fn check_open(&self) -> Result<(), SdkError> {
        if self.closed.get() {
            return Err(SdkError::new(ErrorCode::Closed, "the client is closed"));
        }
        Ok(())
    }

    async fn probe_node(&self) -> Result<JsValue, SdkError> {
        self.check_open()?;
        let nonce = random_hex::<16>()
            .ok_or_else(|| SdkError::new(ErrorCode::Unsupported, "no secure random source"))?;
        let topic = Topic::parse(&format!("/xmtp/0/probe-{nonce}/proto"))
            .map_err(|e| SdkError::new(ErrorCode::InvalidArgument, e.to_string()))?;
        let now_ms = js_sys::Date::now() as u64;
        let envelope = Envelope {
            content_topic: topic.to_string(),
            timestamp_ns: now_ms.saturating_mul(1_000_000),
            message: b"probe".to_vec(),
        };
        self.node.publish(std::slice::from_ref(&envelope)).await?;
        let read = self.node.query_all(std::slice::from_ref(&topic)).await?;
        let read_back = read.iter().filter(|e| **e == envelope).count();
        let probe = NodeProbe {
            topic: topic.into(),
            published: 1,
            read_back: u32::try_from(read_back).unwrap_or(u32::MAX),
        };
        probe
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))
    }
}

/// The SDK's version, for bug reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
