//! The client's state behind its `Rc`, and opening it: the processors' [`Runtime`] plus what
//! only the binding has (the wallet, the app's streams, the other tabs).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use super::{
    conversation::SendGroups,
    events::{Events, StreamEvent},
    info::{InstallationInfo, MessageInfo, NodeProbe},
    signer::JsSigner,
    to_js,
};
use crate::{
    crypto::{Address, PickleKey, random_hex},
    engine::{MessageRecord, OWN_INSTALLATION, OwnInstallationRecord, RejectedEntry, UserRecord},
    error::{ErrorCode, SdkError},
    net::{Envelope, NodeClient, NodeState, NodeStatus},
    steps::{
        Faults, Local, Pull,
        browser_identity::{EvictionMarker, open_or_create},
        identity, installations, parse_address,
        runner::{Runtime, now_ms, run_processors},
    },
    store::{IdbStore, Store},
    tabs::{Presence, TabLock, TabSignals},
    wire::Topic,
};

pub(super) const DEFAULT_REFRESH_THRESHOLD_MS: u64 = 5 * 60 * 1000;

pub(super) struct Inner {
    pub(super) runtime: Rc<Runtime>,
    /// Wakes the processors from other tabs and browser events; dropped by `close()`.
    pub(super) signals: RefCell<Option<TabSignals>>,
    /// The last timestamp given to a message sent here: each is later than the one before,
    /// so messages queued within one millisecond keep their order.
    last_message_at_ms: Cell<u64>,
    /// The app's open `stream()`s.
    pub(super) events: Events,
    /// The sends of this tick, waiting to be committed together.
    pub(super) sends: SendGroups,
    pub(super) db_name: String,
    pub(super) signer: JsSigner,
    pub(super) address: Address,
}

/// What `Client.create` was given, checked.
pub(super) struct OpenOptions {
    pub(super) node: NodeClient,
    pub(super) db_name: String,
    pub(super) signer: JsSigner,
    pub(super) app_key: Option<PickleKey>,
    pub(super) refresh_threshold_ms: u64,
    pub(super) delete_sent_payloads: bool,
}

impl Inner {
    /// Opens the database, loads or creates the installation, and starts the processors.
    pub(super) async fn open(options: OpenOptions) -> Result<Rc<Self>, SdkError> {
        request_persistent_storage().await;
        // One opening of a database at a time, in this page and across tabs: two overlapping
        // `create`s on a fresh database (React's StrictMode runs effects twice) would both make
        // an installation, and one would fail. The second waits and loads the first's.
        let lock_name = format!("e2ee-sdk:open:{}", options.db_name);
        let Some(_opening) = TabLock::acquire(&lock_name, &|| options.signer.aborted()).await
        else {
            return Err(super::signer::cancelled());
        };
        let store = IdbStore::open(&options.db_name).await?;
        let marker = EvictionMarker::new(&options.db_name);
        let (node, signer) = (options.node, options.signer);
        // Boxed: its own state machine is less wasm.
        let identity =
            Box::pin(open_or_create(&store, &node, &signer, &marker, options.app_key, now_ms()))
                .await?;
        store.set_sentinel::<OwnInstallationRecord>(&OWN_INSTALLATION.to_owned())?;
        store.seal_with(identity.pickle_key.clone());
        let runtime = Rc::new(Runtime {
            local: Local {
                installation: RefCell::new(identity.installation),
                own: RefCell::new(identity.own),
                pickle_key: identity.pickle_key,
                refresh_threshold_ms: options.refresh_threshold_ms,
                delete_sent_payloads: options.delete_sent_payloads,
                faults: Faults::default(),
                pull_needed: Cell::new(Pull::CatchUp),
                pulled_at_ms: Cell::new(None),
                verified: Default::default(),
                stream: Default::default(),
            },
            node,
            store: RefCell::new(Some(Rc::new(store))),
            wake: Rc::default(),
            stop: Rc::default(),
            closed: Cell::new(false),
            on_changed: RefCell::new(None),
            on_evicted: RefCell::new(None),
            node_state: RefCell::new(NodeState::unknown(now_ms())),
            on_node_state: RefCell::new(None),
        });
        let inner = Rc::new(Inner {
            runtime: runtime.clone(),
            signals: RefCell::new(None),
            last_message_at_ms: Cell::new(0),
            events: Events::default(),
            sends: SendGroups::default(),
            db_name: options.db_name,
            signer,
            address: identity.address,
        });
        let weak = Rc::downgrade(&inner);
        *runtime.on_changed.borrow_mut() = Some(Box::new(move |ids: &Vec<String>| {
            if let Some(inner) = weak.upgrade() {
                let ids = ids.clone();
                wasm_bindgen_futures::spawn_local(async move { inner.announce(ids).await });
            }
        }));
        let weak = Rc::downgrade(&inner);
        *runtime.on_evicted.borrow_mut() = Some(Box::new(move |error: &SdkError| {
            if let Some(inner) = weak.upgrade() {
                inner.events.fail_all(&error.clone().into());
            }
        }));
        let weak = Rc::downgrade(&inner);
        *runtime.on_node_state.borrow_mut() =
            Some(Box::new(move |(previous, next): &(NodeState, NodeState)| {
                if let Some(inner) = weak.upgrade() {
                    if next.is_news_after(previous) {
                        inner.announce_node(next);
                    }
                }
            }));
        let weak = Rc::downgrade(&runtime);
        let wake = move || {
            if let Some(runtime) = weak.upgrade() {
                runtime.wake.notify();
            }
        };
        let weak = Rc::downgrade(&inner);
        let on_changes = move |ids: Vec<String>| {
            if let Some(inner) = weak.upgrade() {
                wasm_bindgen_futures::spawn_local(async move { inner.report(ids).await });
            }
        };
        let weak = Rc::downgrade(&inner);
        let on_node = move |state: JsValue| {
            if let Some(inner) = weak.upgrade() {
                inner.adopt_node_state(&state);
            }
        };
        let channel = channel_name(&inner.db_name);
        let mut signals = TabSignals::new(&channel, wake, on_changes, on_node);
        // Listening first, then present, then the app reads: nothing committed elsewhere
        // falls between what it reads and what it is told.
        signals.joined(Presence::join(&channel).await);
        *inner.signals.borrow_mut() = Some(signals);
        // Resume whatever was in flight, then keep processing until closed.
        wasm_bindgen_futures::spawn_local(run_processors(Rc::downgrade(&runtime), channel));
        Ok(inner)
    }

    /// The open store, or `CLOSED`.
    pub(super) fn store(&self) -> Result<Rc<IdbStore>, SdkError> {
        self.runtime.store()
    }

    pub(super) fn check_open(&self) -> Result<(), SdkError> {
        self.store().map(drop)
    }

    pub(super) fn local(&self) -> &Local {
        &self.runtime.local
    }

    /// Ends everything: the processors, the subscription, the streams, the connection.
    pub(super) fn close(&self) {
        self.runtime.closed.set(true);
        self.runtime.store.borrow_mut().take();
        self.signals.borrow_mut().take();
        self.runtime.wake.notify();
        self.runtime.stop.notify();
        self.events.end_all();
    }

    /// After a change here (a send, a retry): wakes this tab's processors and whichever tab
    /// holds the lock, and reports the changed messages to every tab's streams.
    pub(super) async fn changed(&self, ids: Vec<String>) {
        self.runtime.wake.notify();
        self.announce(ids).await;
    }

    /// Reports changed messages to this tab's streams and to the other tabs.
    async fn announce(&self, ids: Vec<String>) {
        self.tell_others(&ids);
        self.report(ids).await;
    }

    /// Tells the other tabs (if any is open) that the messages `ids` changed: one post.
    fn tell_others(&self, ids: &[String]) {
        let list: js_sys::Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
        self.post(&list);
    }

    /// Posts `message` to the other tabs, if any is open.
    fn post(&self, message: &JsValue) {
        if let Some(signals) = self.signals.borrow().as_ref() {
            signals.tell_others(message);
        }
    }

    /// After sends committed (`queued`, some of which may have failed): this tab's streams get
    /// the new messages, the processors one wake and the other tabs one post.
    pub(super) fn queued(&self, queued: &[Result<MessageRecord, SdkError>]) {
        let ids = js_sys::Array::new();
        let streams_open = self.events.any_open();
        for message in queued.iter().flatten() {
            ids.push(&JsValue::from_str(&message.id));
            if streams_open {
                let event = StreamEvent::Message { message: self.message_info(message.clone()) };
                if let Ok(event) = to_js(&event) {
                    self.events.emit(&event);
                }
            }
        }
        if ids.length() > 0 {
            self.runtime.wake.notify();
            self.post(&ids);
        }
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
        // All in one read (a pass may have changed hundreds); if one record does not read,
        // each alone, so only its update is missed (the app still reads it itself).
        let mut found = Vec::with_capacity(ids.len());
        match store.get_many::<MessageRecord>(&ids).await {
            Ok(read) => {
                for message in read {
                    found.push(Ok(message));
                }
            }
            Err(_) => {
                for id in &ids {
                    found.push(store.get::<MessageRecord>(id).await);
                }
            }
        }
        for (id, found) in ids.into_iter().zip(found) {
            let event = match found {
                Ok(Some(message)) => StreamEvent::Message { message: self.message_info(message) },
                Ok(None) => StreamEvent::Removed { id },
                Err(_) => continue,
            };
            if let Ok(event) = to_js(&event) {
                self.events.emit(&event);
            }
        }
    }

    /// Tells this tab's streams that the node was lost or came back. (The messages waiting
    /// for it are not re-sent to the streams: a query of them costs more wasm than an app
    /// re-reading what it shows on this event.)
    fn announce_node(&self, state: &NodeState) {
        if let Ok(event) = to_js(state) {
            self.events.emit(&event);
            self.post(&event);
        }
    }

    /// The node's state as the tab holding the processors' lock found it (its `node` event,
    /// over the tabs' channel): this tab's processors wait for the lock and ask nothing.
    fn adopt_node_state(&self, event: &JsValue) {
        let field = |name: &str| Reflect::get(event, &name.into()).ok();
        let text = |name: &str| field(name).and_then(|v| v.as_string());
        let Some(state) = text("state").and_then(|s| NodeStatus::from_name(&s)) else {
            return;
        };
        *self.runtime.node_state.borrow_mut() = NodeState {
            state,
            code: text("code").and_then(|c| ErrorCode::from_name(&c)),
            message: text("message"),
            at_ms: field("at").and_then(|a| a.as_f64()).unwrap_or_default() as u64,
        };
        self.events.emit(event);
    }

    /// The node's state as the processors last found it.
    pub(super) fn node_state(&self) -> NodeState {
        self.runtime.node_state.borrow().clone()
    }

    /// A message as the app sees it: one waiting to go out says so while the node is
    /// unreachable (computed here from the node's state, never stored).
    pub(super) fn message_info(&self, message: MessageRecord) -> MessageInfo {
        MessageInfo::new(message, &self.runtime.node_state.borrow())
    }

    /// The timestamp of a message queued now: later than the previous one.
    pub(super) fn next_message_time(&self) -> u64 {
        let at = now_ms().max(self.last_message_at_ms.get().saturating_add(1));
        self.last_message_at_ms.set(at);
        at
    }

    fn target(&self, address: Option<String>) -> Result<Address, SdkError> {
        address.map_or(Ok(self.address), |a| parse_address(&a))
    }

    /// `found` as the app sees it.
    fn installation_infos(
        &self,
        found: Vec<crate::engine::InstallationRecord>,
    ) -> Result<JsValue, SdkError> {
        let this = self.local().own.borrow().id.clone();
        let infos: Vec<InstallationInfo> = found
            .into_iter()
            .map(|i| InstallationInfo {
                is_this_installation: i.id == this,
                id: i.id,
                address: i.address,
                state: i.state,
                expires_at: i.expires_at_ms,
            })
            .collect();
        to_js(&infos)
    }

    async fn refresh(
        &self,
        address: &Address,
        threshold_ms: u64,
    ) -> Result<Vec<crate::engine::InstallationRecord>, SdkError> {
        let store = self.store()?;
        let own = self.local().own.borrow().clone();
        let verified = &self.local().verified;
        let found = installations(
            &*store,
            &self.runtime.node,
            &own,
            address,
            threshold_ms,
            now_ms(),
            verified,
        )
        .await?;
        *self.local().own.borrow_mut() = found.own;
        Ok(found.installations)
    }

    pub(super) async fn rejected_bundles(
        &self,
        address: Option<String>,
    ) -> Result<JsValue, SdkError> {
        let store = self.store()?;
        let address = self.target(address)?.to_string();
        let user = store.get::<UserRecord>(&address).await?;
        let rejected: Vec<RejectedEntry> = user.map(|u| u.rejected).unwrap_or_default();
        to_js(&rejected)
    }

    pub(super) async fn revoke(&self, installation_id: &str) -> Result<(), SdkError> {
        self.check_open()?;
        let node = &self.runtime.node;
        identity::revoke(node, &self.signer, &self.address, installation_id, now_ms()).await?;
        // Take it out of this client's view at once: a refresh that ignores THRESHOLD.
        self.refresh(&self.address, 0).await.map(drop)
    }

    pub(super) async fn renew_link(&self) -> Result<(), SdkError> {
        self.check_open()?;
        let local = self.local();
        let own = local.own.borrow().clone();
        // Made before the wallet is asked: no borrow of the installation across the await.
        let bundle = identity::renewal_bundle(&local.installation.borrow(), &own, now_ms());
        let store = self.store()?;
        let renewed =
            identity::renew_link(&*store, &self.runtime.node, &self.signer, &own, bundle).await?;
        *local.own.borrow_mut() = renewed;
        Ok(())
    }

    pub(super) async fn probe_node(&self) -> Result<JsValue, SdkError> {
        self.check_open()?;
        let nonce = random_hex::<16>()
            .ok_or_else(|| SdkError::new(ErrorCode::Unsupported, "no secure random source"))?;
        let topic = Topic::parse(&format!("/xmtp/0/probe-{nonce}/proto"))
            .map_err(|e| SdkError::new(ErrorCode::InvalidArgument, e.to_string()))?;
        let envelope = Envelope::new(&topic, now_ms(), 0, b"probe".to_vec());
        let node = &self.runtime.node;
        node.publish(std::slice::from_ref(&envelope)).await?;
        let read = node.query_all(std::slice::from_ref(&topic)).await?;
        let read_back = read.iter().filter(|e| **e == envelope).count();
        to_js(&NodeProbe {
            topic: topic.into(),
            published: 1,
            read_back: u32::try_from(read_back).unwrap_or(u32::MAX),
        })
    }
}

/// The Web Lock and `BroadcastChannel` name of one database's processors.
fn channel_name(db_name: &str) -> String {
    format!("e2ee-sdk:processors:{db_name}")
}

/// Asks the browser not to evict this origin's storage; the answer does not change what the
/// SDK does (it detects eviction either way), so failures are ignored.
async fn request_persistent_storage() {
    let Some(window) = web_sys::window() else { return };
    if let Ok(promise) = window.navigator().storage().persist() {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}

/// What [`look_up`] answers about the accounts it is given.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// `installations(address)`: the account's installations, refreshed past THRESHOLD.
    Installations,
    /// `canMessage(address)`: whether it has a usable installation on the node now.
    CanMessage,
    /// `canMessageMany(addresses)`: the same for each, as an object keyed by the addresses
    /// as given.
    CanMessageMany,
}

/// `installations`, `canMessage` and `canMessageMany`: one future for the three (each of
/// its own is some 800 bytes of wasm). Every address is checked before the node is asked;
/// `canMessage` reads the contact topic whatever THRESHOLD says, and counts the
/// installations that are verified, unexpired and unrevoked (a refresh keeps only those).
pub(super) async fn look_up(
    inner: Rc<Inner>,
    addresses: Vec<String>,
    answer: Lookup,
) -> Result<JsValue, JsValue> {
    let mut parsed = Vec::with_capacity(addresses.len());
    for address in &addresses {
        parsed.push(parse_address(address)?);
    }
    let threshold =
        if answer == Lookup::Installations { inner.local().refresh_threshold_ms } else { 0 };
    let keyed = js_sys::Object::new();
    let mut last = JsValue::UNDEFINED;
    for (given, address) in addresses.iter().zip(&parsed) {
        let found = inner.refresh(address, threshold).await?;
        last = match answer {
            Lookup::Installations => inner.installation_infos(found)?,
            Lookup::CanMessage | Lookup::CanMessageMany => {
                let now = now_ms();
                found.iter().any(|i| i.expires_at_ms > now).into()
            }
        };
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&keyed, &given.into(), &last);
    }
    Ok(if answer == Lookup::CanMessageMany { keyed.into() } else { last })
}
