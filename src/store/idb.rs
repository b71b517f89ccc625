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

/// A result some event handler will settle.
struct Pending<T> {
    shared: Rc<RefCell<Shared<T>>>,
    _handlers: Vec<Closure<dyn FnMut(Event)>>,
}

struct Shared<T> {
    outcome: Option<T>,
    waker: Option<Waker>,
}

impl<T: 'static> Pending<T> {
    fn new() -> Self {
        Self {
            shared: Rc::new(RefCell::new(Shared { outcome: None, waker: None })),
            _handlers: Vec::new(),
        }
    }

    /// A handler that settles the result (unless an earlier event did) with `outcome`.
    fn handler(&mut self, outcome: impl Fn(&Event) -> T + 'static) -> JsValue {
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
        let function = closure.as_ref().clone();
        self._handlers.push(closure);
        function
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
    let mut pending = Pending::new();
    let r = request.clone();
    let on_success = pending.handler(move |_| r.result().map_err(|_| Error::UNNAMED));
    let r = request.clone();
    let on_error = pending.handler(move |_| Err(Error::exception(r.error().ok().flatten())));
    request.set_onsuccess(Some(on_success.unchecked_ref()));
    request.set_onerror(Some(on_error.unchecked_ref()));
    pending.await
}

/// How a transaction ended, once it has: `Ok(true)` committed, `Ok(false)` aborted.
pub(super) async fn done(tx: &IdbTransaction) -> Result<bool, Error> {
    let mut pending = Pending::new();
    let on_complete = pending.handler(|_| Ok(true));
    let on_abort = pending.handler(|_| Ok(false));
    let on_error = pending.handler(|event| {
        // A failed request's error bubbles here; only the transaction's own error is named.
        match event.target().and_then(|t| t.dyn_into::<IdbTransaction>().ok()) {
            Some(tx) => Err(Error::exception(tx.error())),
            None => Err(Error::UNNAMED),
        }
    });
    tx.set_oncomplete(Some(on_complete.unchecked_ref()));
    tx.set_onabort(Some(on_abort.unchecked_ref()));
    tx.set_onerror(Some(on_error.unchecked_ref()));
    pending.await
}

/// An open connection. Dropping it does not close it: call [`Database::close`].
pub(super) struct Database {
    inner: IdbDatabase,
    _on_version_change: Closure<dyn FnMut(Event)>,
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
