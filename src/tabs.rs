//! Coordination between tabs of one profile: only the tab holding a Web Lock runs the
//! processors, and a `BroadcastChannel` wakes it when any tab queues work. The browser going
//! online or the tab becoming visible wakes it too. Every open client also holds a shared
//! Web Lock, so that a tab alone asks the lock manager and posts nothing.
//!
//! Web Locks and `BroadcastChannel` are called through `Reflect` so that a page without them
//! (an old browser) still works, as a single tab.

use std::{cell::RefCell, rc::Rc, time::Duration};

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure, prelude::wasm_bindgen};

use crate::wake::Wake;

/// A Web Lock this tab holds (the processors' on one database, or the one that serializes
/// opening it); released when dropped.
pub(crate) struct TabLock {
    release: Option<Function>,
}

impl Drop for TabLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

impl TabLock {
    /// Waits until this tab holds the lock `name`, or until `give_up()` says to stop (then
    /// `None`). Without Web Locks, holds a no-op lock at once.
    pub(crate) async fn acquire(name: &str, give_up: &dyn Fn() -> bool) -> Option<Self> {
        let locks = web_locks();
        let request = locks
            .as_ref()
            .and_then(|l| Reflect::get(l, &"request".into()).ok())
            .and_then(|f| f.dyn_into::<Function>().ok());
        let (Some(locks), Some(request)) = (locks, request) else {
            return Some(Self { release: None });
        };
        let acquired = Rc::new(Wake::default());
        let granted = Rc::new(std::cell::Cell::new(false));
        let release: Rc<RefCell<Option<Function>>> = Rc::default();
        let held = {
            let release = release.clone();
            Promise::new(&mut |resolve, _reject| *release.borrow_mut() = Some(resolve))
        };
        let on_granted = {
            let (acquired, granted) = (acquired.clone(), granted.clone());
            Closure::once_into_js(move |_lock: JsValue| -> JsValue {
                granted.set(true);
                acquired.notify();
                held.into()
            })
        };
        if request.call2(&locks, &name.into(), &on_granted).is_err() {
            return Some(Self { release: None });
        }
        let this = Self { release: release.borrow_mut().take() };
        loop {
            if granted.get() {
                return Some(this);
            }
            if give_up() {
                // Dropping `this` releases the lock as soon as it is granted.
                return None;
            }
            acquired.wait(Duration::from_millis(500)).await;
        }
    }
}

fn web_locks() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined()).then_some(locks)
}

#[wasm_bindgen(inline_js = "export function share_lock(name) { \
    const locks = globalThis.navigator && navigator.locks; \
    if (!locks || !locks.request) return Promise.resolve(null); \
    return new Promise((granted) => locks.request(name, { mode: 'shared' }, \
        () => new Promise((release) => granted(release))).catch(() => granted(null))); } \
export function tell_others(channel, presence, holding, message) { \
    const post = () => { try { channel.postMessage(message); } catch (_) {} }; \
    const locks = globalThis.navigator && navigator.locks; \
    if (!presence || !locks || !locks.query) return post(); \
    locks.query().then(({ held }) => { \
        if (held.filter((lock) => lock.name === presence).length > holding) post(); }, post); }")]
extern "C" {
    /// Holds the Web Lock `name` in shared mode (any number of holders): resolves once held,
    /// with the function that releases it (`null` without Web Locks).
    fn share_lock(name: &str) -> Promise;
    /// Posts `message` on `channel` if the lock `presence` has more than `holding` holders
    /// (or the browser cannot say): one question to the lock manager, no database. In JS,
    /// as is `share_lock`: promises and arrays there cost no wasm.
    fn tell_others(
        channel: &web_sys::BroadcastChannel,
        presence: &str,
        holding: u32,
        message: &JsValue,
    );
}

/// The shared lock every open client of one database holds: how a tab knows whether any
/// other is there to tell.
pub(crate) struct Presence {
    name: String,
    /// Released when dropped (the client closed; a closed tab releases it too).
    _lock: TabLock,
    /// Whether this client holds it (not without Web Locks).
    held: bool,
}

impl Presence {
    /// Holds the presence lock of the channel `channel`. Call it once this client listens
    /// on the channel and before it reads the store: a tab that finds it held tells this one
    /// from then on, and what it committed before asking, this one reads.
    pub(crate) async fn join(channel: &str) -> Self {
        let name = format!("{channel}:open");
        let release = wasm_bindgen_futures::JsFuture::from(share_lock(&name)).await;
        let release = release.ok().and_then(|r| r.dyn_into::<Function>().ok());
        Self { name, held: release.is_some(), _lock: TabLock { release } }
    }
}

/// An event listener: its target, event name and callback.
type Listener = (web_sys::EventTarget, &'static str, Closure<dyn Fn(JsValue)>);

/// The listeners that wake this tab's processors; removed when dropped.
pub(crate) struct TabSignals {
    channel: Option<web_sys::BroadcastChannel>,
    listeners: Vec<Listener>,
    /// Set once this client joined the others (see [`Presence::join`]).
    presence: Option<Presence>,
}

impl TabSignals {
    /// Listens on the channel `name` and for `online` / `visibilitychange`, calling `wake`;
    /// the ids of messages another tab changed go to `on_changes` (after `wake`), and the
    /// node's state that the lock holder found (any other object) to `on_node`.
    pub(crate) fn new(
        name: &str,
        wake: impl Fn() + Clone + 'static,
        on_changes: impl Fn(Vec<String>) + 'static,
        on_node: impl Fn(JsValue) + 'static,
    ) -> Self {
        let mut signals = Self {
            channel: web_sys::BroadcastChannel::new(name).ok(),
            listeners: Vec::new(),
            presence: None,
        };
        if let Some(channel) = &signals.channel {
            let wake = wake.clone();
            signals.listen(channel.clone().unchecked_into(), "message", move |event| {
                wake();
                let data = Reflect::get(&event, &"data".into()).unwrap_or(JsValue::NULL);
                if let Some(ids) = data.dyn_ref::<js_sys::Array>() {
                    on_changes(ids.iter().filter_map(|id| id.as_string()).collect());
                } else if data.is_object() {
                    on_node(data);
                }
            });
        }
        if let Some(window) = web_sys::window() {
            let online = wake.clone();
            signals.listen(window.clone().unchecked_into(), "online", move |_| online());
            if let Some(document) = window.document() {
                signals.listen(document.unchecked_into(), "visibilitychange", move |_| wake());
            }
        }
        signals
    }

    fn listen(
        &mut self,
        target: web_sys::EventTarget,
        event: &'static str,
        handler: impl Fn(JsValue) + 'static,
    ) {
        let closure = Closure::<dyn Fn(JsValue)>::new(handler);
        if target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref()).is_ok()
        {
            self.listeners.push((target, event, closure));
        }
    }

    /// Holds this client's presence (see [`Presence::join`]).
    pub(crate) fn joined(&mut self, presence: Presence) {
        self.presence = Some(presence);
    }

    /// Posts `message` to the other clients of the database, if any is open (asked first):
    /// the ids of messages that changed (an array: the lock holder wakes up to process them,
    /// and every client's streams report them) or the node's state (an object; only the lock
    /// holder asks the node). Posts leave in the order they were told.
    pub(crate) fn tell_others(&self, message: &JsValue) {
        if let Some(channel) = &self.channel {
            let (name, held) =
                self.presence.as_ref().map_or(("", false), |p| (p.name.as_str(), p.held));
            tell_others(channel, name, u32::from(held), message);
        }
    }
}

impl Drop for TabSignals {
    fn drop(&mut self) {
        for (target, event, closure) in &self.listeners {
            let _ =
                target.remove_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
        }
        if let Some(channel) = &self.channel {
            channel.close();
        }
    }
}
