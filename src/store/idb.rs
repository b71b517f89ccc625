//! IndexedDB through web-sys: one future for every kind of request and one for a
//! transaction's end, with the semantics of the `idb` crate this replaced (handlers attached
//! when awaited, dropped with the future), at a fraction of its wasm (it had a future type, a
//! channel pair and a result mapper per request kind).

use std::{
    cell::RefCell,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
};

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{
    DomException, DomStringList, Event, IdbDatabase, IdbFactory, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

use crate::js::{describe, error_name};

/// A failed IndexedDB call or request, by the `DOMException` name the browser gave, if any.
#[derive(Debug)]
pub(super) struct Error {
    pub(super) name: Option<String>,
}

impl Error {
    /// A failure without a name to classify it by.
    pub(super) const UNNAMED: Self = Self { name: None };

    /// A call threw `value`: its name, or failing that its description.
    pub(super) fn thrown(value: JsValue) -> Self {
        Self { name: error_name(&value).or_else(|| Some(describe(&value))) }
    }

    fn exception(exception: Option<DomException>) -> Self {
        Self { name: exception.map(|e| e.name()) }
    }
}

/// A result some event handler will settle. Its handlers are detached from their target when
/// it is dropped: an event after that (a transaction's `abort` after its `error`, a request
/// whose future was dropped) would otherwise call a freed closure, and the page would see an
/// uncaught "closure invoked recursively or after being dropped".
struct Pending<T> {
    shared: Rc<RefCell<Shared<T>>>,
    handlers: Vec<Handler>,
}

/// An event handler property set on a target (`request.onsuccess`, say) and its closure.
type Handler = (JsValue, &'static str, Closure<dyn FnMut(Event)>);

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        for (target, property, _) in &self.handlers {
            let _ = Reflect::set(target, &(*property).into(), &JsValue::NULL);
        }
    }
}

struct Shared<T> {
    outcome: Option<T>,
    waker: Option<Waker>,
}

impl<T: 'static> Pending<T> {
    fn new() -> Self {
        Self {
            shared: Rc::new(RefCell::new(Shared { outcome: None, waker: None })),
            handlers: Vec::new(),
        }
    }

    /// Sets `target[property]` (`onsuccess`, say) to a handler that settles the result (unless
    /// an earlier event did) with `outcome`.
    fn handle(
        &mut self,
        target: &JsValue,
        property: &'static str,
        outcome: impl Fn(&Event) -> T + 'static,
    ) {
        let shared = self.shared.clone();
        let closure = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let waker = {
                let mut shared = shared.borrow_mut();
                if shared.outcome.is_some() {
                    return;
                }
                shared.outcome = Some(outcome(&event));
                shared.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        let _ = Reflect::set(target, &property.into(), closure.as_ref());
        self.handlers.push((target.clone(), property, closure));
    }
}

impl<T> Future for Pending<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut shared = self.shared.borrow_mut();
        match shared.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                shared.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The result of `request`: its `result` on success, its `error` on failure.
pub(super) async fn request(request: Result<IdbRequest, JsValue>) -> Result<JsValue, Error> {
    let request = request.map_err(Error::thrown)?;
    // Issued together with others and already answered: no handler would fire again.
    if request.ready_state() == web_sys::IdbRequestReadyState::Done {
        return match request.error() {
            Ok(Some(error)) => Err(Error::exception(Some(error))),
            _ => request.result().map_err(|_| Error::UNNAMED),
        };
    }
    let mut pending = Pending::new();
    let (r, target) = (request.clone(), JsValue::from(request.clone()));
    pending.handle(&target, "onsuccess", move |_| r.result().map_err(|_| Error::UNNAMED));
    let r = request.clone();
    pending.handle(&target, "onerror", move |_| Err(Error::exception(r.error().ok().flatten())));
    pending.await
}

/// The results of `requests`, issued together in one transaction: only the last is waited
/// for (a transaction answers in order), so two handlers serve them all. The first failure
/// is the error.
pub(super) async fn all(requests: Vec<IdbRequest>) -> Result<Vec<JsValue>, Error> {
    if let Some(last) = requests.last() {
        // Its failure (an abort after an earlier one failed, say) is read below, in order.
        let _ = request(Ok(last.clone())).await;
    }
    let mut values = Vec::with_capacity(requests.len());
    for request in requests {
        match request.error() {
            Ok(Some(error)) => return Err(Error::exception(Some(error))),
            _ => values.push(request.result().map_err(|_| Error::UNNAMED)?),
        }
    }
    Ok(values)
}

/// How a transaction ended, once it has: `Ok(true)` committed, `Ok(false)` aborted by the
/// page, `Err` failed (with the failing request's or the transaction's error).
pub(super) async fn done(tx: &IdbTransaction) -> Result<bool, Error> {
    let mut pending = Pending::new();
    let target = JsValue::from(tx.clone());
    pending.handle(&target, "oncomplete", |_| Ok(true));
    // Aborted with an error of its own (a full disk at commit): that error, to classify.
    let t = tx.clone();
    pending.handle(&target, "onabort", move |_| match t.error() {
        Some(error) => Err(Error::exception(Some(error))),
        None => Ok(false),
    });
    pending.handle(&target, "onerror", |event| {
        // A failed request's error bubbles here first (writes are issued without handlers
        // of their own): its name says why the transaction aborts.
        let target = event.target();
        match target.as_ref().and_then(|t| t.dyn_ref::<IdbRequest>()) {
            Some(request) => Err(Error::exception(request.error().ok().flatten())),
            None => match target.and_then(|t| t.dyn_into::<IdbTransaction>().ok()) {
                Some(tx) => Err(Error::exception(tx.error())),
                None => Err(Error::UNNAMED),
            },
        }
    });
    pending.await
}

/// An open connection. Dropping it does not close it: call [`Database::close`].
pub(super) struct Database {
    inner: IdbDatabase,
    _on_version_change: Closure<dyn FnMut(Event)>,
}

impl Drop for Database {
    fn drop(&mut self) {
        // Its handler is freed with it (see `Pending`).
        self.inner.set_onversionchange(None);
    }
}

impl Database {
    /// Opens `name` at `version`; `upgrade` runs first if the database is older (or new).
    /// Once open, the connection closes itself when another tab upgrades or deletes the
    /// database.
    pub(super) async fn open(
        name: &str,
        version: Option<u32>,
        upgrade: impl FnOnce(&IdbDatabase, &IdbTransaction) -> Result<(), Error> + 'static,
    ) -> Result<Self, Error> {
        let factory = factory()?;
        let open = match version {
            Some(version) => factory.open_with_u32(name, version),
            None => factory.open(name),
        };
        let open = open.map_err(Error::thrown)?;
        let upgrading = open.clone();
        let on_upgrade = Closure::once(move |_: Event| {
            let (Ok(db), Some(tx)) = (upgrading.result(), upgrading.transaction()) else {
                return;
            };
            if upgrade(db.unchecked_ref(), &tx).is_err() {
                // The open then fails with an AbortError instead of leaving a half-built
                // schema at the new version.
                let _ = tx.abort();
            }
        });
        open.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let inner: IdbDatabase = request(Ok(open.into())).await?.unchecked_into();
        let closing = inner.clone();
        let on_version_change = Closure::<dyn FnMut(Event)>::new(move |_: Event| closing.close());
        inner.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Ok(Self { inner, _on_version_change: on_version_change })
    }

    /// Deletes the database `name`, once no connection holds it open.
    pub(super) async fn delete(name: &str) -> Result<(), Error> {
        let delete = factory()?.delete_database(name).map_err(|_| Error::UNNAMED)?;
        request(Ok(delete.into())).await.map(drop)
    }

    /// A transaction over `stores`.
    pub(super) fn transaction(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<IdbTransaction, Error> {
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        self.inner.transaction_with_str_sequence_and_mode(&names, mode).map_err(Error::thrown)
    }

    /// The version it is at.
    pub(super) fn version(&self) -> Result<u32, Error> {
        let version = self.inner.version();
        if version.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&version) {
            Ok(version as u32)
        } else {
            Err(Error::UNNAMED)
        }
    }

    /// Closes the connection once its transactions are done.
    pub(super) fn close(&self) {
        self.inner.close();
    }
}

fn factory() -> Result<IdbFactory, Error> {
    Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or(Error::UNNAMED)
}

/// The strings of a `DOMStringList`.
pub(super) fn strings(list: &DomStringList) -> Vec<String> {
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}
