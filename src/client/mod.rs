//! The `#[wasm_bindgen]` layer: converts between JS and Rust and nothing more.
//!
//! Every async method returns a typed `Promise`; every error is an `SdkError` with a `code`
//! (see [`crate::error`]). The client's state lives behind an `Rc` that each call's future
//! keeps alive, and no `RefCell` borrow is ever held across an `await`.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::{Rc, Weak},
    time::Duration,
};

mod conversation;
mod events;
mod signer;
mod typescript;
#[cfg(feature = "test-export")]
mod test_export;

pub use conversation::Conversation;
use conversation::MessageInfo;
pub use events::MessageStream;
use events::{Events, StreamEvent};
use js_sys::Promise;
use serde::{Deserialize, Serialize};
use signer::JsSigner;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::{
    crypto::{Address, Installation, PickleKey, random_hex},
    engine::{
        ConversationRecord, InboundPayloadRecord, InboundPayloadState, InstallationRecord,
        MessageRecord, OWN_INSTALLATION, OwnInstallationRecord, RejectedEntry,
    },
    error::{ErrorCode, SdkError},
    identity::{self, EvictionMarker},
    net::{Envelope, NetError, NodeClient, SubscriptionEvent},
    receiving,
    sending::{self, Context, Faults},
    store::{Store, index},
    tabs::{ProcessorLock, TabSignals},
    wake::Wake,
    wire::Topic,
};


#[wasm_bindgen]
extern "C" {
    /// `ClientOptions` as JS passes it.
    #[wasm_bindgen(typescript_type = "ClientOptions")]
    pub type ClientOptions;
}

const DEFAULT_REFRESH_THRESHOLD_MS: u64 = 5 * 60 * 1000;

/// `ClientOptions` but its `signer`, which is read as the JS object it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    node_url: String,
    db_name: String,
    refresh_threshold_ms: Option<u64>,
    pickle_key: Option<serde_bytes::ByteBuf>,
    request_timeout_ms: Option<u32>,
    #[serde(default)]
    delete_sent_payloads: bool,
}

/// A messaging client: one account on one installation (browser profile).
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

struct Inner {
    node: NodeClient,
    pickle_key: PickleKey,
    /// Wakes the processors (a send, the browser going online); shared with their loop,
    /// which holds no strong reference to the client while it waits.
    wake: Rc<Wake>,
    /// Wakes them from other tabs and browser events; dropped by `close()`.
    signals: RefCell<Option<TabSignals>>,
    /// Stops the inbox subscription; notified by `close()` and on drop.
    stop: Rc<Wake>,
    /// The inbox must be pulled from its cursor (at start, after the stream reconnects).
    pull_needed: Cell<bool>,
    /// The last timestamp given to a message sent here: each is later than the one before,
    /// so messages queued within one millisecond keep their order.
    last_message_at_ms: Cell<u64>,
    /// Faults the browser tests inject.
    faults: Faults,
    /// The app's open `stream()`s.
    events: Events,
    delete_sent_payloads: bool,
    /// Taken out by `close()`; calls in flight hold their own `Rc`, and the connection closes
    /// when the last one finishes.
    store: RefCell<Option<Rc<Store>>>,
    db_name: String,
    signer: JsSigner,
    address: Address,
    installation: RefCell<Installation>,
    own: RefCell<OwnInstallationRecord>,
    refresh_threshold_ms: u64,
    closed: Cell<bool>,
}

#[wasm_bindgen]
impl Client {
    /// Opens the database `dbName`, loads this profile's installation or creates one (the
    /// wallet signs once), and makes sure its bundle is published.
    pub async fn create(options: ClientOptions) -> Result<Client, JsValue> {
        Ok(Self::open(options).await?)
    }

    /// Deletes this profile's database and forgets that it had an installation: the next
    /// `create` makes a new one. Close every client of it first.
    #[wasm_bindgen(js_name = deleteLocalData)]
    pub async fn delete_local_data(
        #[wasm_bindgen(js_name = "dbName")] db_name: String,
    ) -> Result<(), JsValue> {
        Store::delete(&db_name).await.map_err(SdkError::from)?;
        EvictionMarker::new(&db_name).clear();
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
        self.inner.own.borrow().id.clone()
    }

    /// This installation's curve25519 identity key (base64).
    #[wasm_bindgen(getter, js_name = identityKey)]
    pub fn identity_key(&self) -> String {
        self.inner.installation.borrow().identity_keys().curve25519
    }

    /// Whether the wallet revoked this installation (found on a refresh of its own account).
    #[wasm_bindgen(getter)]
    pub fn revoked(&self) -> bool {
        self.inner.own.borrow().revoked
    }

    /// The node's base URL.
    #[wasm_bindgen(getter, js_name = nodeUrl)]
    pub fn node_url(&self) -> String {
        self.inner.node.base_url().to_owned()
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
        let inner = self.inner.clone();
        promise(async move { Ok(inner.installations(address).await?) })
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
            inner.revoke(&installation_id).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Publishes one envelope to a throw-away topic and reads it back: proof that the node
    /// is reachable, accepts writes and serves queries.
    #[wasm_bindgen(js_name = probeNode, unchecked_return_type = "Promise<NodeProbe>")]
    pub fn probe_node(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { Ok(inner.probe_node().await?) })
    }

    /// The 1:1 conversation with `peer` (created on first use). Talking to yourself reaches
    /// your other installations.
    #[wasm_bindgen(unchecked_return_type = "Promise<Conversation>")]
    pub fn conversation(&self, peer: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.store()?;
            let peer = identity::parse_address(&peer)?;
            let record = sending::conversation(
                &store,
                &inner.address.to_string(),
                &peer.to_string(),
                now_ms(),
            )
            .await?;
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
                Some(message) => Ok(to_js(&MessageInfo::from(message))?),
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
        self.inner.closed.set(true);
        self.inner.store.borrow_mut().take();
        self.inner.signals.borrow_mut().take();
        self.inner.wake.notify();
        self.inner.stop.notify();
        self.inner.events.end_all();
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
            let store = inner.store()?;
            let mut all = store.all::<ConversationRecord>().await.map_err(SdkError::from)?;
            all.sort_by_key(|c| c.created_at_ms);
            let infos: Vec<ConversationInfo> =
                all.into_iter().map(ConversationInfo::from).collect();
            Ok(to_js(&infos)?)
        })
    }

    /// Received payloads that failed or were refused, and why.
    #[wasm_bindgen(js_name = inboundFailures, unchecked_return_type = "Promise<InboundFailureInfo[]>")]
    pub fn inbound_failures(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.store()?;
            let mut infos = Vec::new();
            for state in [InboundPayloadState::Failed, InboundPayloadState::Rejected] {
                let found = store
                    .by_index::<InboundPayloadRecord>(
                        index::INBOUND_BY_STATE_ORDER,
                        &(state, ""),
                        &(state, "~"),
                        None,
                    )
                    .await
                    .map_err(SdkError::from)?;
                infos.extend(found.into_iter().filter_map(InboundFailureInfo::from_record));
            }
            infos.sort_by_key(|i| i.received_at);
            Ok(to_js(&infos)?)
        })
    }
}

impl Client {
    fn requeue(&self, message_id: String, retry: bool) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.store()?;
            sending::requeue(&store, &message_id, retry).await?;
            inner.changed(vec![message_id]).await;
            Ok(JsValue::UNDEFINED)
        })
    }

    async fn open(options: ClientOptions) -> Result<Client, SdkError> {
        check_browser()?;
        let options = JsValue::from(options);
        let invalid = |e: String| {
            SdkError::new(ErrorCode::InvalidArgument, format!("invalid ClientOptions: {e}"))
        };
        let signer = js_sys::Reflect::get(&options, &JsValue::from_str("signer"));
        let signer_given = js_sys::Reflect::has(&options, &JsValue::from_str("signer"));
        let options: Options =
            crate::from_js::from_value(options).map_err(|e| invalid(e.to_string()))?;
        let signer = match (signer, signer_given) {
            (Ok(signer), Ok(true)) => signer,
            _ => return Err(invalid("missing field `signer`".to_owned())),
        };
        if options.db_name.is_empty() {
            return Err(SdkError::new(ErrorCode::InvalidArgument, "dbName must not be empty"));
        }
        let app_key = match &options.pickle_key {
            None => None,
            Some(bytes) => Some(PickleKey::from_slice(bytes).ok_or_else(|| {
                SdkError::new(ErrorCode::InvalidArgument, "pickleKey must be 32 bytes")
            })?),
        };
        let node = match options.request_timeout_ms {
            Some(ms) => NodeClient::new(&options.node_url).with_timeout_ms(ms),
            None => NodeClient::new(&options.node_url),
        };
        let signer = JsSigner(signer);
        request_persistent_storage().await;
        let store = Store::open(&options.db_name).await?;
        let marker = EvictionMarker::new(&options.db_name);
        // Boxed, as in `Inner::process`: its own state machine is less wasm.
        let identity =
            Box::pin(identity::open_or_create(&store, &node, &signer, &marker, app_key, now_ms()))
                .await?;
        store.set_sentinel::<OwnInstallationRecord>(&OWN_INSTALLATION.to_owned())?;
        let inner = Rc::new(Inner {
            node,
            pickle_key: identity.pickle_key,
            wake: Rc::default(),
            signals: RefCell::new(None),
            stop: Rc::new(Wake::default()),
            pull_needed: Cell::new(true),
            last_message_at_ms: Cell::new(0),
            faults: Faults::default(),
            events: Events::default(),
            delete_sent_payloads: options.delete_sent_payloads,
            db_name: options.db_name,
            store: RefCell::new(Some(Rc::new(store))),
            signer,
            address: identity.address,
            installation: RefCell::new(identity.installation),
            own: RefCell::new(identity.own),
            refresh_threshold_ms: options
                .refresh_threshold_ms
                .unwrap_or(DEFAULT_REFRESH_THRESHOLD_MS),
            closed: Cell::new(false),
        });
        let weak = Rc::downgrade(&inner);
        let wake = move || {
            if let Some(inner) = weak.upgrade() {
                inner.wake.notify();
            }
        };
        let weak = Rc::downgrade(&inner);
        let on_changes = move |ids: Vec<String>| {
            if let Some(inner) = weak.upgrade() {
                wasm_bindgen_futures::spawn_local(async move { inner.report(ids).await });
            }
        };
        *inner.signals.borrow_mut() =
            Some(TabSignals::new(&channel_name(&inner.db_name), wake, on_changes));
        // Resume whatever was in flight, then keep processing until closed.
        wasm_bindgen_futures::spawn_local(run_processors(Rc::downgrade(&inner)));
        Ok(Client { inner })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InstallationInfo {
    id: String,
    address: String,
    state: crate::engine::InstallationState,
    expires_at: u64,
    is_this_installation: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationInfo {
    id: String,
    peer_address: String,
    state: crate::engine::ConversationState,
    created_at: u64,
}

impl From<ConversationRecord> for ConversationInfo {
    fn from(c: ConversationRecord) -> Self {
        Self { id: c.id, peer_address: c.peer_address, state: c.state, created_at: c.created_at_ms }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InboundFailureInfo {
    hash: String,
    state: InboundPayloadState,
    code: crate::engine::InboundFailure,
    detail: Option<String>,
    sender_installation_id: Option<String>,
    received_at: u64,
}

impl InboundFailureInfo {
    fn from_record(p: InboundPayloadRecord) -> Option<Self> {
        Some(Self {
            code: p.failure?,
            hash: p.hash,
            state: p.state,
            detail: p.detail,
            sender_installation_id: p.sender_installation_id,
            received_at: p.received_at_ms,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeProbe {
    topic: String,
    published: u32,
    read_back: u32,
}

/// The Web Lock and `BroadcastChannel` name of one database's processors.
fn channel_name(db_name: &str) -> String {
    format!("e2ee-sdk:processors:{db_name}")
}

impl Inner {
    /// After a change here (a send, a retry): wakes this tab's processors and whichever tab
    /// holds the lock, and reports the changed messages to every tab's streams.
    async fn changed(&self, ids: Vec<String>) {
        self.wake.notify();
        self.announce(ids).await;
    }

    /// Reports changed messages to this tab's streams and to the other tabs.
    async fn announce(&self, ids: Vec<String>) {
        if let Some(signals) = self.signals.borrow().as_ref() {
            signals.announce(&ids);
        }
        self.report(ids).await;
    }

    /// Hands this tab's streams the current form of each changed message.
    async fn report(&self, mut ids: Vec<String>) {
        if !self.events.any_open() {
            return;
        }
        let Ok(store) = self.store() else { return };
        // Once each, in the order the steps reported them (a marker's removal before the
        // message that replaced it).
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        for id in ids {
            let event = match store.get::<MessageRecord>(&id).await {
                Ok(Some(message)) => StreamEvent::Message { message: message.into() },
                Ok(None) => StreamEvent::Removed { id },
                // The stream misses one update; the app still reads the record itself.
                Err(_) => continue,
            };
            if let Ok(event) = to_js(&event) {
                self.events.emit(&event);
            }
        }
    }

    /// One pass of the processors. If the database was evicted, the app's streams end with
    /// that error (nothing more can happen).
    async fn pass(&self, store: &Store) -> Result<(), SdkError> {
        let outcome = self.process(store).await;
        if let Err(e) = &outcome {
            if e.code == ErrorCode::StorageEvicted {
                self.events.fail_all(&e.clone().into());
            }
        }
        outcome
    }

    /// One pass of both processors.
    async fn process(&self, store: &Store) -> Result<(), SdkError> {
        let context = Context {
            store,
            node: &self.node,
            installation: &self.installation,
            own: &self.own,
            pickle_key: &self.pickle_key,
            refresh_threshold_ms: self.refresh_threshold_ms,
            now_ms,
            delete_sent_payloads: self.delete_sent_payloads,
            faults: &self.faults,
            changed: RefCell::default(),
        };
        // What was in flight first: the outbound queue, then payloads already received.
        // (The larger steps are boxed: their state machines stay out of this one, which is
        // less wasm than one machine holding all of them.)
        let delivered = sending::deliver_pending(&context).await;
        let received = Box::pin(self.receive(&context)).await;
        let encrypted = Box::pin(sending::encrypt_pending(&context)).await;
        let delivered_again = sending::deliver_pending(&context).await;
        let changed = context.changed.take();
        if !changed.is_empty() {
            Box::pin(self.announce(changed)).await;
        }
        delivered.and(received).and(encrypted).and(delivered_again)
    }

    /// Processes received payloads, pulls the inbox if due, and processes what it brought.
    async fn receive(&self, context: &Context<'_>) -> Result<(), SdkError> {
        let process = !self.faults.hold_inbound.get();
        if process {
            receiving::process_received(context).await?;
        }
        if self.pull_needed.replace(false) {
            if let Err(e) = receiving::pull_inbox(context).await {
                self.pull_needed.set(true);
                return Err(e);
            }
            if process {
                receiving::process_received(context).await?;
            }
        }
        Ok(())
    }

    /// The timestamp of a message queued now: later than the previous one.
    fn next_message_time(&self) -> u64 {
        let at = now_ms().max(self.last_message_at_ms.get().saturating_add(1));
        self.last_message_at_ms.set(at);
        at
    }

    fn check_open(&self) -> Result<(), SdkError> {
        self.store().map(drop)
    }

    /// The open store, or `CLOSED`.
    fn store(&self) -> Result<Rc<Store>, SdkError> {
        match (self.closed.get(), self.store.borrow().as_ref()) {
            (false, Some(store)) => Ok(store.clone()),
            _ => Err(SdkError::new(ErrorCode::Closed, "the client is closed")),
        }
    }

    fn target(&self, address: Option<String>) -> Result<Address, SdkError> {
        address.map_or(Ok(self.address), |a| identity::parse_address(&a))
    }

    async fn installations(&self, address: Option<String>) -> Result<JsValue, SdkError> {
        let store = self.store()?;
        let address = self.target(address)?;
        let own = self.own.borrow().clone();
        let found = identity::installations(
            &store,
            &self.node,
            &own,
            &address,
            self.refresh_threshold_ms,
            now_ms(),
        )
        .await?;
        let this = found.own.id.clone();
        *self.own.borrow_mut() = found.own;
        let infos: Vec<InstallationInfo> = found
            .installations
            .into_iter()
            .map(|i: InstallationRecord| InstallationInfo {
                is_this_installation: i.id == this,
                id: i.id,
                address: i.address,
                state: i.state,
                expires_at: i.expires_at_ms,
            })
            .collect();
        to_js(&infos)
    }

    async fn rejected_bundles(&self, address: Option<String>) -> Result<JsValue, SdkError> {
        let store = self.store()?;
        let address = self.target(address)?.to_string();
        let user = store.get::<crate::engine::UserRecord>(&address).await?;
        let rejected: Vec<RejectedEntry> = user.map(|u| u.rejected).unwrap_or_default();
        to_js(&rejected)
    }

    async fn revoke(&self, installation_id: &str) -> Result<(), SdkError> {
        let store = self.store()?;
        identity::revoke(&self.node, &self.signer, &self.address, installation_id, now_ms())
            .await?;
        // Take it out of this client's view at once: a refresh that ignores THRESHOLD.
        let own = self.own.borrow().clone();
        let found =
            identity::installations(&store, &self.node, &own, &self.address, 0, now_ms()).await?;
        *self.own.borrow_mut() = found.own;
        Ok(())
    }

    async fn probe_node(&self) -> Result<JsValue, SdkError> {
        self.check_open()?;
        let nonce = random_hex::<16>()
            .ok_or_else(|| SdkError::new(ErrorCode::Unsupported, "no secure random source"))?;
        let topic = Topic::parse(&format!("/xmtp/0/probe-{nonce}/proto"))
            .map_err(|e| SdkError::new(ErrorCode::InvalidArgument, e.to_string()))?;
        let envelope = Envelope {
            content_topic: topic.to_string(),
            timestamp_ns: now_ms().saturating_mul(1_000_000),
            message: b"probe".to_vec(),
        };
        self.node.publish(std::slice::from_ref(&envelope)).await?;
        let read = self.node.query_all(std::slice::from_ref(&topic)).await?;
        let read_back = read.iter().filter(|e| **e == envelope).count();
        to_js(&NodeProbe {
            topic: topic.into(),
            published: 1,
            read_back: u32::try_from(read_back).unwrap_or(u32::MAX),
        })
    }
}

/// The processors: encrypt pending messages, then deliver the outbound queue; on failure wait
/// with backoff, otherwise until woken. Between passes it holds only a weak reference, so a
/// client the app dropped stops them after its current wait.
async fn run_processors(client: Weak<Inner>) {
    let Some(name) = client.upgrade().map(|inner| channel_name(&inner.db_name)) else { return };
    // One tab at a time runs them; the others' work reaches it through the channel.
    let stopped = || client.upgrade().is_none_or(|inner| inner.closed.get());
    let Some(_lock) = ProcessorLock::acquire(&name, stopped).await else { return };
    // The lock holder follows the inbox; the stream stops with the client.
    if let Some(inner) = client.upgrade() {
        let topic = Topic::inbox(&inner.own.borrow().id);
        wasm_bindgen_futures::spawn_local(follow_inbox(client.clone(), inner.stop.clone(), topic));
    }
    let backoff = crate::net::Backoff::default();
    let mut failures = 0u32;
    loop {
        let Some(inner) = client.upgrade() else { return };
        let Ok(store) = inner.store() else { return };
        let outcome = inner.pass(&store).await;
        if outcome.as_ref().is_err_and(|e| e.code == ErrorCode::StorageEvicted) {
            return;
        }
        let delay = match outcome {
            Ok(()) => {
                failures = 0;
                Duration::from_secs(30)
            }
            Err(_) => {
                failures = failures.saturating_add(1);
                backoff.delay(failures, js_sys::Math::random())
            }
        };
        drop(store);
        // `close()` and dropping the client wake this wait, so either stops it at once.
        let wake = inner.wake.clone();
        drop(inner);
        wake.wait(delay).await;
    }
}

/// Follows the inbox topic: each streamed envelope is stored (`RECEIVED`) and wakes the
/// processors; each (re)connection asks them to pull the gap from the saved cursor.
async fn follow_inbox(client: Weak<Inner>, stop: Rc<Wake>, topic: Topic) {
    let Some(mut subscription) = client.upgrade().map(|i| i.node.subscribe(&[topic])) else {
        return;
    };
    loop {
        let Some(event) = stop.race(subscription.next()).await else { return };
        let Some(inner) = client.upgrade() else { return };
        if inner.closed.get() {
            return;
        }
        match event {
            Ok(SubscriptionEvent::Connected { .. }) => inner.pull_needed.set(true),
            Ok(SubscriptionEvent::Envelope(envelope)) => {
                let stored = match inner.store() {
                    Ok(store) => {
                        receiving::store_envelopes(&store, &[envelope], None, now_ms()).await
                    }
                    Err(e) => Err(e),
                };
                if stored.is_err() {
                    // The pull from the saved cursor will bring it again.
                    inner.pull_needed.set(true);
                }
            }
            Err(NetError::Aborted) => return,
            // The subscription reconnects with backoff on the next call.
            Err(_) => continue,
        }
        inner.wake.notify();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.notify();
        self.wake.notify();
    }
}

/// Fails clearly where the SDK cannot run (server-side rendering, a worker without
/// IndexedDB) instead of somewhere deep inside.
fn check_browser() -> Result<(), SdkError> {
    let global = js_sys::global();
    let missing = ["indexedDB", "fetch", "crypto"].into_iter().find(|name| {
        js_sys::Reflect::get(&global, &(*name).into()).is_ok_and(|v| v.is_undefined())
    });
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

/// Asks the browser not to evict this origin's storage; the answer does not change what the
/// SDK does (it detects eviction either way), so failures are ignored.
async fn request_persistent_storage() {
    let Some(window) = web_sys::window() else { return };
    if let Ok(promise) = window.navigator().storage().persist() {
        let _ = JsFuture::from(promise).await;
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
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
