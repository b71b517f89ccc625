//! The `#[wasm_bindgen]` layer: converts between JS and Rust and nothing more.
//!
//! Every async method returns a typed `Promise`; every error is an `SdkError` with a `code`
//! (see [`crate::error`]). The client's state lives behind an `Rc` that each call's future
//! keeps alive, and no `RefCell` borrow is ever held across an `await`.

use std::{cell::RefCell, future::Future, pin::Pin, rc::Rc};

#[cfg(feature = "bench")]
mod bench;
mod conversation;
mod events;
mod info;
mod inner;
mod signer;
#[cfg(feature = "test-export")]
mod test_export;
mod typescript;

pub use conversation::Conversation;
pub use events::MessageStream;
use info::{ConversationInfo, InboundFailureInfo};
use inner::{DEFAULT_REFRESH_THRESHOLD_MS, Inner, Lookup, OpenOptions};
use js_sys::{Promise, Reflect};
use serde::{Deserialize, Serialize};
use signer::{DEFAULT_SIGNER_TIMEOUT_MS, JsSigner};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::{
    crypto::PickleKey,
    engine::MessageRecord,
    error::{ErrorCode, SdkError},
    net::{NodeClient, check_node_url},
    steps::{identity, parse_address, queue, runner::now_ms},
    store::{self, IdbStore, Store},
};

#[wasm_bindgen]
extern "C" {
    /// `ClientOptions` as JS passes it.
    #[wasm_bindgen(typescript_type = "ClientOptions")]
    pub type ClientOptions;
}

/// `ClientOptions` but its `signer`, which is read as the JS object it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    node_url: NodeUrlOption,
    db_name: String,
    refresh_threshold_ms: Option<u64>,
    pickle_key: Option<serde_bytes::ByteBuf>,
    request_timeout_ms: Option<u32>,
    signer_timeout_ms: Option<u32>,
    #[serde(default)]
    delete_sent_payloads: bool,
}

/// `nodeUrl`: one URL, or a list of replicas' URLs (JS `string | string[]`).
#[derive(Debug, PartialEq, Eq)]
struct NodeUrlOption(Vec<String>);

impl<'de> Deserialize<'de> for NodeUrlOption {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NodeUrlOption;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a URL or a list of URLs")
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Self::Value, E> {
                Ok(NodeUrlOption(vec![url.to_owned()]))
            }
            // Said without the number: serde's default message would format a float, which
            // brings float formatting into the wasm.
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("invalid type: number, expected a URL or a list of URLs"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut list: A,
            ) -> Result<Self::Value, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = list.next_element()? {
                    urls.push(url);
                }
                Ok(NodeUrlOption(urls))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A messaging client: one account on one installation (browser profile).
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Client {
    /// Opens the database `dbName`, loads this profile's installation or creates one (the
    /// wallet signs once), and makes sure its bundle is published.
    pub async fn create(options: ClientOptions) -> Result<Client, JsValue> {
        check_browser()?;
        let options = read_options(options)?;
        let (signal, cause) =
            (options.signer.signal.borrow().clone(), options.signer.cause.clone());
        let opened = async {
            if options.signer.aborted() {
                return Err(signer::cancelled());
            }
            let inner = Inner::open(options).await?;
            let aborted = inner.signer.aborted();
            // The signal is `create`'s: later signatures (renewLink, revokeInstallation)
            // ignore it.
            *inner.signer.signal.borrow_mut() = JsValue::UNDEFINED;
            if aborted {
                inner.close();
                return Err(signer::cancelled());
            }
            Ok(inner)
        };
        match opened.await {
            Ok(inner) => Ok(Client { inner }),
            Err(error) if error.code == ErrorCode::Aborted => {
                cause.keep(Reflect::get(&signal, &"reason".into()).unwrap_or_default());
                Err(cause.attach(error))
            }
            Err(error) => Err(cause.attach(error)),
        }
    }

    /// Deletes this profile's database and forgets that it had an installation: the next
    /// `create` makes a new one. Close every client of it first.
    #[wasm_bindgen(js_name = deleteLocalData)]
    pub async fn delete_local_data(
        #[wasm_bindgen(js_name = "dbName")] db_name: String,
    ) -> Result<(), JsValue> {
        IdbStore::delete(&db_name).await.map_err(SdkError::from)?;
        crate::steps::browser_identity::EvictionMarker::new(&db_name).clear();
        Ok(())
    }

    /// The account's address, lower-case.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.inner.address.to_string()
    }

    /// This installation's id.
    #[wasm_bindgen(getter, js_name = installationId)]
    pub fn installation_id(&self) -> String {
        self.inner.local().own.borrow().id.clone()
    }

    /// This installation's curve25519 identity key (base64).
    #[wasm_bindgen(getter, js_name = identityKey)]
    pub fn identity_key(&self) -> String {
        self.inner.local().installation.borrow().identity_keys().curve25519
    }

    /// When this installation's link to its wallet expires (ms since 1970): past it, peers
    /// refuse its messages (`SENDER_EXPIRED`). Renew it with `renewLink()` before then.
    #[wasm_bindgen(getter, js_name = linkExpiresAt)]
    pub fn link_expires_at(&self) -> f64 {
        self.inner.local().own.borrow().expires_at_ms as f64
    }

    /// Whether the link expires within 30 days: time to call `renewLink()` (one wallet
    /// signature), at a moment the app chooses.
    #[wasm_bindgen(getter, js_name = linkRenewalDue)]
    pub fn link_renewal_due(&self) -> bool {
        identity::renewal_due(&self.inner.local().own.borrow(), now_ms())
    }

    /// Renews this installation's link to its wallet for another year (the wallet signs
    /// once) and publishes it; peers take it at their next refresh.
    #[wasm_bindgen(js_name = renewLink, unchecked_return_type = "Promise<void>")]
    pub fn renew_link(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.renew_link().await.map_err(|e| inner.signer.cause.attach(e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether the wallet revoked this installation (found on a refresh of its own account).
    #[wasm_bindgen(getter)]
    pub fn revoked(&self) -> bool {
        self.inner.local().own.borrow().revoked
    }

    /// The node's base URL in use now: of several `nodeUrl`s, the one requests go to until it
    /// fails (then the next one is).
    #[wasm_bindgen(getter, js_name = nodeUrl)]
    pub fn node_url(&self) -> String {
        self.inner.runtime.node.base_url().to_owned()
    }

    /// Every URL of the node, in the order given to `create` (one unless a list was).
    #[wasm_bindgen(getter, js_name = nodeUrls, unchecked_return_type = "string[]")]
    pub fn node_urls(&self) -> js_sys::Array {
        self.inner.runtime.node.urls().iter().map(|url| JsValue::from_str(url)).collect()
    }

    /// The IndexedDB database's name.
    #[wasm_bindgen(getter, js_name = dbName)]
    pub fn db_name(&self) -> String {
        self.inner.db_name.clone()
    }

    /// The database's schema version (0 once closed).
    #[wasm_bindgen(getter, js_name = schemaVersion)]
    pub fn schema_version(&self) -> u32 {
        self.inner.store().and_then(|s| Ok(s.version()?)).unwrap_or_default()
    }

    /// The installations of `address` (default: this account), fetched from the node first
    /// if the last fetch is older than `refreshThresholdMs`.
    #[wasm_bindgen(unchecked_return_type = "Promise<InstallationInfo[]>")]
    pub fn installations(&self, address: Option<String>) -> Promise {
        let address = address.unwrap_or_else(|| self.inner.address.to_string());
        promise(inner::look_up(self.inner.clone(), vec![address], Lookup::Installations))
    }

    /// The entries of `address`'s contact topic that its last refresh refused, and why.
    #[wasm_bindgen(js_name = rejectedBundles, unchecked_return_type = "Promise<RejectedBundle[]>")]
    pub fn rejected_bundles(&self, address: Option<String>) -> Promise {
        let inner = self.inner.clone();
        promise(async move { Ok(inner.rejected_bundles(address).await?) })
    }

    /// Revokes an installation of this account (the wallet signs once). Other clients drop it
    /// on their next refresh; if it is running, it learns it and stops sending.
    #[wasm_bindgen(js_name = revokeInstallation, unchecked_return_type = "Promise<void>")]
    pub fn revoke_installation(
        &self,
        #[wasm_bindgen(js_name = "installationId")] installation_id: String,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.revoke(&installation_id).await.map_err(|e| inner.signer.cause.attach(e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Publishes one envelope to a throw-away topic and reads it back: proof that the node
    /// is reachable, accepts writes and serves queries, asked now (`nodeState` says what
    /// the processors found last, without a request).
    #[wasm_bindgen(js_name = probeNode, unchecked_return_type = "Promise<NodeProbe>")]
    pub fn probe_node(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { Ok(inner.probe_node().await?) })
    }

    /// Whether the node answers as a node, as the processors last found it: `UNKNOWN` until
    /// they asked it, then `REACHABLE` or `UNREACHABLE` with a `code` and `message`. Each
    /// change after the first answer is also a `node` event on every `stream()`.
    #[wasm_bindgen(getter, js_name = nodeState, unchecked_return_type = "NodeState")]
    pub fn node_state(&self) -> Result<JsValue, JsValue> {
        Ok(to_js(&self.inner.node_state())?)
    }

    /// Whether `address` has a usable installation (verified, unexpired, unrevoked) to
    /// message, read from the node now. Rejects with `INVALID_ADDRESS`, or `NETWORK` if the
    /// node cannot be reached.
    #[wasm_bindgen(js_name = canMessage, unchecked_return_type = "Promise<boolean>")]
    pub fn can_message(&self, address: String) -> Promise {
        promise(inner::look_up(self.inner.clone(), vec![address], Lookup::CanMessage))
    }

    /// `canMessage` for several addresses at once: an object keyed by each address as given.
    /// Any invalid address rejects the whole call (`INVALID_ADDRESS`) before the node is asked.
    #[wasm_bindgen(
        js_name = canMessageMany,
        unchecked_return_type = "Promise<Record<string, boolean>>"
    )]
    pub fn can_message_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] addresses: js_sys::Array,
    ) -> Promise {
        // Read here rather than as a `Vec<String>` parameter: its conversion is more wasm.
        let addresses = addresses.iter().map(|a| a.as_string().unwrap_or_default()).collect();
        promise(inner::look_up(self.inner.clone(), addresses, Lookup::CanMessageMany))
    }

    /// The 1:1 conversation with `peer` (created on first use). Talking to yourself reaches
    /// your other installations.
    #[wasm_bindgen(unchecked_return_type = "Promise<Conversation>")]
    pub fn conversation(&self, peer: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.store()?;
            let peer = parse_address(&peer)?.to_string();
            let own = inner.address.to_string();
            let record = queue::conversation(&*store, &own, &peer, now_ms()).await?;
            Ok(Conversation { inner: Rc::downgrade(&inner), record }.into())
        })
    }

    /// A message by id, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<MessageInfo | null>")]
    pub fn message(&self, id: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.store()?;
            match store.get::<MessageRecord>(&id).await.map_err(SdkError::from)? {
                Some(message) => Ok(to_js(&inner.message_info(message))?),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Queues a `FAILED` message again (its same encrypted payloads, or a fresh encryption if
    /// it failed before that).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn retry(&self, #[wasm_bindgen(js_name = "messageId")] message_id: String) -> Promise {
        self.requeue(message_id, true)
    }

    /// Cancels a message that is not sent yet: it becomes `FAILED` ("cancelled").
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self, #[wasm_bindgen(js_name = "messageId")] message_id: String) -> Promise {
        self.requeue(message_id, false)
    }

    /// Stops using the client and releases its database connection; later calls throw
    /// `CLOSED`. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// New messages and state changes from now on, as an async iterator:
    /// `for await (const event of client.stream())`. It ends when the loop is left (`break`,
    /// or `return()`) or the client closes.
    #[wasm_bindgen(unchecked_return_type = "MessageStream")]
    pub fn stream(&self) -> Result<JsValue, JsValue> {
        self.inner.check_open()?;
        Ok(self.inner.events.stream())
    }

    /// Every conversation, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<ConversationInfo[]>")]
    pub fn conversations(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let all = store::conversations(&*inner.store()?).await.map_err(SdkError::from)?;
            let infos: Vec<ConversationInfo> = all.into_iter().map(Into::into).collect();
            Ok(to_js(&infos)?)
        })
    }

    /// Received payloads that failed or were refused, and why.
    #[wasm_bindgen(js_name = inboundFailures, unchecked_return_type = "Promise<InboundFailureInfo[]>")]
    pub fn inbound_failures(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let found = store::inbound_failures(&*inner.store()?).await.map_err(SdkError::from)?;
            let infos: Vec<InboundFailureInfo> =
                found.into_iter().filter_map(InboundFailureInfo::from_record).collect();
            Ok(to_js(&infos)?)
        })
    }
}

impl Client {
    fn requeue(&self, message_id: String, retry: bool) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            queue::requeue(&*inner.store()?, &message_id, retry).await?;
            inner.changed(vec![message_id]).await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// Reads and checks `ClientOptions`.
fn read_options(options: ClientOptions) -> Result<OpenOptions, SdkError> {
    let options = JsValue::from(options);
    let invalid = |e: String| {
        SdkError::new(ErrorCode::InvalidArgument, format!("invalid ClientOptions: {e}"))
    };
    let signer = Reflect::get(&options, &JsValue::from_str("signer"));
    let signer_given = Reflect::has(&options, &JsValue::from_str("signer"));
    let signal = Reflect::get(&options, &JsValue::from_str("signal")).unwrap_or_default();
    let options: Options =
        crate::from_js::from_value(options).map_err(|e| invalid(e.to_string()))?;
    let signer = match (signer, signer_given) {
        (Ok(signer), Ok(true)) => signer,
        _ => return Err(invalid("missing field `signer`".to_owned())),
    };
    if options.db_name.is_empty() {
        return Err(SdkError::new(ErrorCode::InvalidArgument, "dbName must not be empty"));
    }
    let urls: Vec<&str> = options.node_url.0.iter().map(String::as_str).collect();
    if urls.is_empty() {
        return Err(SdkError::new(ErrorCode::InvalidArgument, "nodeUrl must not be an empty list"));
    }
    for url in &urls {
        check_node_url(url).map_err(|e| SdkError::new(ErrorCode::InvalidArgument, e))?;
    }
    let app_key = match &options.pickle_key {
        None => None,
        Some(bytes) => Some(PickleKey::from_slice(bytes).ok_or_else(|| {
            SdkError::new(ErrorCode::InvalidArgument, "pickleKey must be 32 bytes")
        })?),
    };
    let node = NodeClient::with_urls(&urls);
    let node = match options.request_timeout_ms {
        Some(ms) => node.with_timeout_ms(ms),
        None => node,
    };
    Ok(OpenOptions {
        node,
        db_name: options.db_name,
        signer: JsSigner {
            signer,
            timeout_ms: options.signer_timeout_ms.unwrap_or(DEFAULT_SIGNER_TIMEOUT_MS),
            signal: RefCell::new(signal),
            cause: Default::default(),
        },
        app_key,
        refresh_threshold_ms: options.refresh_threshold_ms.unwrap_or(DEFAULT_REFRESH_THRESHOLD_MS),
        delete_sent_payloads: options.delete_sent_payloads,
    })
}

/// Fails clearly where the SDK cannot run (server-side rendering, a worker without
/// IndexedDB) instead of somewhere deep inside.
fn check_browser() -> Result<(), SdkError> {
    let global = js_sys::global();
    let missing = ["indexedDB", "fetch", "crypto"]
        .into_iter()
        .find(|name| Reflect::get(&global, &(*name).into()).is_ok_and(|v| v.is_undefined()));
    match missing {
        Some(name) => Err(SdkError::new(
            ErrorCode::Unsupported,
            format!(
                "e2ee-sdk runs in a browser: `{name}` is missing here (server-side rendering?). \
                 Create the client in the page instead."
            ),
        )),
        None => Ok(()),
    }
}

/// Runs `future` as a JS promise. Boxed, so every exported async method shares one copy of
/// `future_to_promise` and the task machinery under it instead of a copy each.
fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    spawn_promise(Box::pin(future))
}

fn spawn_promise(future: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    future_to_promise(future)
}

/// Plain JS data for the app: objects, `Uint8Array` for bytes, `null` for absent values.
fn to_js(value: &impl Serialize) -> Result<JsValue, SdkError> {
    crate::to_js::PLAIN
        .to_value(value)
        .map_err(|e| SdkError::new(ErrorCode::Protocol, e.to_string()))
}

/// The SDK's version, for bug reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
