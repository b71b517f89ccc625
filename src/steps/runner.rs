//! The processors in the browser: one tab at a time (a Web Lock) runs passes until the client
//! closes, waiting with backoff after a failure and otherwise until woken; the same tab
//! follows the inbox stream.

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
    time::Duration,
};

use super::{Local, Pull, processor};
use crate::{
    error::{ErrorCode, SdkError},
    net::{NetError, NodeClient, NodeState, NodeStatus, unreachable_code},
    store::IdbStore,
    tabs::TabLock,
    wake::Wake,
    wire::Topic,
};

/// A callback the binding sets once it exists.
pub(crate) type Hook<T> = RefCell<Option<Box<dyn Fn(&T)>>>;

/// What the processors of one client share with it.
pub(crate) struct Runtime {
    /// This installation in memory.
    pub(crate) local: Local,
    /// The node.
    pub(crate) node: NodeClient,
    /// Taken out by `close()`; calls in flight hold their own `Rc`, and the connection closes
    /// when the last one finishes.
    pub(crate) store: RefCell<Option<Rc<IdbStore>>>,
    /// Wakes the processors (a send, the browser going online, another tab).
    pub(crate) wake: Rc<Wake>,
    /// Stops the inbox subscription.
    pub(crate) stop: Rc<Wake>,
    /// Set by `close()`.
    pub(crate) closed: Cell<bool>,
    /// Told the ids of the messages each pass changed (the app's streams, other tabs).
    pub(crate) on_changed: Hook<Vec<String>>,
    /// Told when the database is gone (the app's streams end with that error).
    pub(crate) on_evicted: Hook<SdkError>,
    /// Whether the node answers as a node, as the last pass that asked it found.
    pub(crate) node_state: RefCell<NodeState>,
    /// Told each change of `node_state` and the state before it.
    pub(crate) on_node_state: Hook<(NodeState, NodeState)>,
}

impl Runtime {
    /// The open store, or `CLOSED`.
    pub(crate) fn store(&self) -> Result<Rc<IdbStore>, SdkError> {
        match (self.closed.get(), self.store.borrow().as_ref()) {
            (false, Some(store)) => Ok(store.clone()),
            _ => Err(SdkError::new(ErrorCode::Closed, "the client is closed")),
        }
    }

    /// One pass of the processors over the open store.
    pub(crate) async fn pass(&self) -> Result<(), SdkError> {
        let store = self.store()?;
        let now = now_ms;
        let ctx = self.local.context(&*store, &self.node, &now);
        let outcome = processor::pass(&ctx, &self.local).await;
        self.settle_node_state();
        if ctx.more.get() {
            self.wake.notify();
        }
        let changed = ctx.changed.take();
        if !changed.is_empty() {
            if let Some(report) = self.on_changed.borrow().as_ref() {
                report(&changed);
            }
        }
        if let Err(e) = &outcome {
            if e.code == ErrorCode::StorageEvicted {
                if let Some(report) = self.on_evicted.borrow().as_ref() {
                    report(e);
                }
            }
        }
        outcome
    }

    /// Folds what the requests since the last call found into the node's state, and tells
    /// the binding if it changed (at once: before any backoff).
    fn settle_node_state(&self) {
        let seen = self.node.take_seen();
        let previous = self.node_state.borrow().clone();
        if let Some(next) = seen.settle(&previous, now_ms()) {
            *self.node_state.borrow_mut() = next.clone();
            if let Some(report) = self.on_node_state.borrow().as_ref() {
                report(&(previous, next));
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.notify();
        self.wake.notify();
    }
}

/// The processors under the Web Lock `lock_name`: on failure wait with backoff, otherwise
/// until woken. Between passes they hold only a weak reference, so a client the app dropped
/// stops them after its current wait.
pub(crate) async fn run_processors(runtime: Weak<Runtime>, lock_name: String) {
    // One tab at a time runs them; the others' work reaches it through the channel.
    let stopped = || runtime.upgrade().is_none_or(|r| r.closed.get());
    let Some(_lock) = TabLock::acquire(&lock_name, &stopped).await else { return };
    // The lock holder follows the inbox; the stream stops with the client.
    if let Some(r) = runtime.upgrade() {
        let topic = Topic::inbox(&r.local.own.borrow().id);
        wasm_bindgen_futures::spawn_local(follow_inbox(runtime.clone(), r.stop.clone(), topic));
    }
    let backoff = crate::net::Backoff::default();
    let mut failures = 0u32;
    loop {
        let Some(r) = runtime.upgrade() else { return };
        if r.closed.get() {
            return;
        }
        let outcome = r.pass().await;
        let delay = match outcome {
            Err(e) if e.code == ErrorCode::StorageEvicted || e.code == ErrorCode::Closed => {
                return;
            }
            Ok(()) => {
                failures = 0;
                Duration::from_secs(30)
            }
            Err(_) => {
                failures = failures.saturating_add(1);
                backoff.delay(failures, js_sys::Math::random())
            }
        };
        // `close()` and dropping the client wake this wait, so either stops it at once.
        let wake = r.wake.clone();
        drop(r);
        wake.wait(delay).await;
    }
}

/// Follows the inbox topic: each streamed envelope is stored (`RECEIVED`) and wakes the
/// processors (see `processor::on_inbox_event`); each (re)connection asks them to catch up
/// the gap from before the saved cursor.
async fn follow_inbox(runtime: Weak<Runtime>, stop: Rc<Wake>, topic: Topic) {
    let Some(mut subscription) = runtime.upgrade().map(|r| r.node.subscribe(&[topic])) else {
        return;
    };
    loop {
        let Some(event) = stop.race(subscription.next()).await else { return };
        let Some(r) = runtime.upgrade() else { return };
        if r.closed.get() {
            return;
        }
        match event {
            Ok(event) => match r.store() {
                Ok(store) => processor::on_inbox_event(&r.local, &*store, event, now_ms()).await,
                Err(_) => return,
            },
            Err(NetError::Aborted) => return,
            // The subscription reconnects with backoff on the next call. A node that drops
            // it may be gone: a pull from the cursor now finds out (and the state says so)
            // rather than the next periodic one; once it is known down, the passes' own
            // backoff paces the checks.
            Err(e) => {
                let known_down = r.node_state.borrow().state == NodeStatus::Unreachable;
                if known_down || unreachable_code(&e).is_none() {
                    continue;
                }
                r.local.need(Pull::FromCursor);
            }
        }
        r.wake.notify();
    }
}

/// The time now, from the browser's clock.
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
