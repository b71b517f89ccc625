//! Coordination between tabs of one profile: only the tab holding a Web Lock runs the
//! processors, and a `BroadcastChannel` wakes it when any tab queues work. The browser going
//! online or the tab becoming visible wakes it too.
//!
//! Web Locks and `BroadcastChannel` are called through `Reflect` so that a page without them
//! (an old browser) still works, as a single tab.

use std::{cell::RefCell, rc::Rc, time::Duration};

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};

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

/// An event listener: its target, event name and callback.
type Listener = (web_sys::EventTarget, &'static str, Closure<dyn Fn(JsValue)>);

/// The listeners that wake this tab's processors; removed when dropped.
pub(crate) struct TabSignals {
    channel: Option<web_sys::BroadcastChannel>,
    listeners: Vec<Listener>,
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
        let mut signals =
            Self { channel: web_sys::BroadcastChannel::new(name).ok(), listeners: Vec::new() };
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

    /// Tells the other tabs what the node's state is now (only this tab asks the node).
    pub(crate) fn tell_node(&self, state: &JsValue) {
        if let Some(channel) = &self.channel {
            let _ = channel.post_message(state);
        }
    }

    /// Tells the other tabs that the messages `ids` changed: the lock holder wakes up to
    /// process them, and every tab's streams report them.
    pub(crate) fn announce(&self, ids: &[String]) {
        if let Some(channel) = &self.channel {
            let list: js_sys::Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
            let _ = channel.post_message(&list);
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
