//! [`IdbStore`]: the [`Store`](super::Store) in the browser: the open IndexedDB database, its
//! reads, and [`IdbStore::save`] for a state step's writes.

use std::cell::{Cell, RefCell};

use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{IdbKeyRange, IdbTransaction as Transaction, IdbTransactionMode as TransactionMode};

use super::{
    StoreError,
    changes::{Changes, Check, Op, encode},
    idb::{self, Database},
    record::Record,
    schema, sealing,
};
use crate::crypto::PickleKey;

/// One client's database, opened once and shared by its processors. Dropping it closes the
/// connection (a connection left to the garbage collector would block deleting or upgrading
/// the database from another tab).
///
/// Browsers close connections under the page (Safari for background tabs, any browser when
/// another tab deletes the database): a step that finds its connection closed reopens it and
/// runs again. If a [sentinel](IdbStore::set_sentinel) record is gone after reopening, the data
/// was evicted; the store then refuses every call with [`StoreError::Evicted`] rather than
/// writing into an empty database.
pub struct IdbStore {
    db: RefCell<Option<Database>>,
    name: String,
    sentinel: RefCell<Option<(&'static str, JsValue)>>,
    evicted: Cell<bool>,
    /// Seals content at rest once given (see `sealing`).
    sealing_key: RefCell<Option<PickleKey>>,
    /// Read-write transactions begun (test builds only).
    #[cfg(feature = "test-export")]
    saves_begun: Cell<u32>,
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStore").field("name", &self.name).finish()
    }
}

impl Drop for IdbStore {
    fn drop(&mut self) {
        if let Some(db) = self.db.get_mut().take() {
            db.close();
        }
    }
}

impl IdbStore {
    /// Opens the database `name`, creating or upgrading it to [`schema::SCHEMA_VERSION`].
    pub async fn open(name: &str) -> Result<Self, StoreError> {
        let db = schema::builder(name).build().await.map_err(StoreError::opening)?;
        Ok(Self {
            db: RefCell::new(Some(db)),
            name: name.to_owned(),
            sentinel: RefCell::new(None),
            evicted: Cell::new(false),
            sealing_key: RefCell::new(None),
            #[cfg(feature = "test-export")]
            saves_begun: Cell::new(0),
        })
    }

    /// Seals message content, payload bytes and peer addresses under `key` from now on, and
    /// opens what was sealed under it (see `sealing`).
    pub fn seal_with(&self, key: PickleKey) {
        *self.sealing_key.borrow_mut() = Some(key);
    }

    /// Opens a client's database with the key that seals it, when the client keeps that key
    /// wrapped in it (test builds only: the tests read what a client stored).
    #[cfg(feature = "test-export")]
    pub async fn open_as_client_for_tests(name: &str) -> Result<Self, StoreError> {
        use super::{Store as _, at_rest::WRAPPED_PICKLE_KEY, at_rest::WrappedPickleKey};
        let store = Self::open(name).await?;
        let key = WRAPPED_PICKLE_KEY.to_owned();
        if let Some(wrapped) = store.get::<WrappedPickleKey>(&key).await? {
            store.seal_with(wrapped.unwrap_pickle_key().await?);
        }
        Ok(store)
    }

    /// Names a record that must survive for the data to be intact (this profile's
    /// installation): after a reconnection, its absence means the database was evicted.
    pub fn set_sentinel<R: Record>(&self, key: &R::Key) -> Result<(), StoreError> {
        *self.sentinel.borrow_mut() = Some((R::STORE, encode(R::STORE, key)?));
        Ok(())
    }

    /// The version the database is at.
    pub fn version(&self) -> Result<u32, StoreError> {
        match self.db.borrow().as_ref() {
            Some(db) => db.version().map_err(StoreError::in_transaction),
            None => Err(StoreError::Transaction("the database is closed".into())),
        }
    }

    /// Closes the connection (as a page unload does).
    pub fn close(self) {
        drop(self);
    }

    /// Closes the connection under the store, as a browser may, to test reconnection.
    #[cfg(feature = "test-export")]
    pub fn lose_connection_for_tests(&self) {
        if let Some(db) = self.db.borrow_mut().take() {
            db.close();
        }
    }

    /// How many read-write transactions this store began (test builds only).
    #[cfg(feature = "test-export")]
    pub fn saves_begun_for_tests(&self) -> u32 {
        self.saves_begun.get()
    }

    /// Starts a transaction, reopening the connection once if the browser closed it.
    async fn begin(
        &self,
        stores: &[&str],
        mode: TransactionMode,
    ) -> Result<Transaction, StoreError> {
        if self.evicted.get() {
            return Err(StoreError::Evicted);
        }
        match self.try_begin(stores, mode) {
            Ok(tx) => return Ok(tx),
            Err(Some(e)) if !StoreError::is_connection_closed(&e) => {
                return Err(StoreError::in_transaction(e));
            }
            Err(_) => {}
        }
        self.reopen().await?;
        self.try_begin(stores, mode).map_err(|e| match e {
            Some(e) => StoreError::in_transaction(e),
            None => StoreError::Transaction("the database is closed".into()),
        })
    }

    /// `Err(None)`: there is no connection.
    fn try_begin(
        &self,
        stores: &[&str],
        mode: TransactionMode,
    ) -> Result<Transaction, Option<idb::Error>> {
        match self.db.borrow().as_ref() {
            Some(db) => db.transaction(stores, mode).map_err(Some),
            None => Err(None),
        }
    }

    async fn reopen(&self) -> Result<(), StoreError> {
        let db = schema::builder(&self.name).build().await.map_err(StoreError::opening)?;
        let sentinel = self.sentinel.borrow().clone();
        if let Some((store, key)) = sentinel {
            let tx = db.transaction(&[store], TransactionMode::Readonly);
            let found = match tx.and_then(|tx| object_store(&tx, store)) {
                Ok(store) => {
                    idb::request(store.get(&key)).await.map_err(StoreError::in_transaction)?
                }
                Err(e) => return Err(StoreError::in_transaction(e)),
            };
            if found.is_undefined() {
                self.evicted.set(true);
                db.close();
                return Err(StoreError::Evicted);
            }
        }
        if let Some(old) = self.db.borrow_mut().replace(db) {
            old.close();
        }
        Ok(())
    }

    /// Deletes the database `name`; resolves once no connection holds it open.
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        Database::delete(name).await.map_err(StoreError::opening)
    }

    // The reads are split into a generic shell (encode, decode) and a non-generic body:
    // one copy of the transaction's state machine instead of one per record type.
    // The key is encoded by the caller and checked here, so the generic shell has one await
    // and nothing else to keep across it.
    async fn get_value(
        &self,
        store: &'static str,
        key: Result<JsValue, StoreError>,
    ) -> Result<Option<JsValue>, StoreError> {
        let key = key?;
        let tx = self.begin(&[store], TransactionMode::Readonly).await?;
        let store = object_store(&tx, store).map_err(StoreError::in_transaction)?;
        let value = idb::request(store.get(&key)).await.map_err(StoreError::in_transaction)?;
        Ok((!value.is_undefined()).then_some(value))
    }

    /// For each key, `store`'s value under it (`undefined` if none), or with an `index`, the
    /// array of values whose index key equals it. The requests are all issued at once, so
    /// the browser answers them in one go instead of one round trip each.
    async fn each_value(
        &self,
        store: &'static str,
        index: Option<&str>,
        keys: Result<Vec<JsValue>, StoreError>,
    ) -> Result<Vec<JsValue>, StoreError> {
        let keys = keys?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.begin(&[store], TransactionMode::Readonly).await?;
        let store = object_store(&tx, store).map_err(StoreError::in_transaction)?;
        let index = match index {
            Some(name) => Some(
                store.index(name).map_err(|_| StoreError::in_transaction(idb::Error::UNNAMED))?,
            ),
            None => None,
        };
        let requests: Result<Vec<_>, _> = keys
            .iter()
            .map(|key| match &index {
                Some(index) => index.get_all_with_key(key),
                None => store.get(key),
            })
            .collect();
        let requests = requests.map_err(|e| StoreError::in_transaction(idb::Error::thrown(e)))?;
        idb::all(requests).await.map_err(StoreError::in_transaction)
    }

    /// The values in `store` (or its `index`) within `range`, at most `limit` of them.
    async fn values(
        &self,
        store: &'static str,
        index: Option<&str>,
        range: Option<IdbKeyRange>,
        limit: Option<u32>,
    ) -> Result<Vec<JsValue>, StoreError> {
        let tx = self.begin(&[store], TransactionMode::Readonly).await?;
        let store = object_store(&tx, store).map_err(StoreError::in_transaction)?;
        let request = match index {
            Some(index) => match store.index(index) {
                Ok(index) => get_all(
                    range,
                    limit,
                    |r| index.get_all_with_key(r),
                    |r, l| index.get_all_with_key_and_limit(r, l),
                    || index.get_all(),
                ),
                Err(_) => return Err(StoreError::in_transaction(idb::Error::UNNAMED)),
            },
            None => get_all(
                range,
                limit,
                |r| store.get_all_with_key(r),
                |r, l| store.get_all_with_key_and_limit(r, l),
                || store.get_all(),
            ),
        };
        let values = idb::request(request).await.map_err(StoreError::in_transaction)?;
        Ok(values.dyn_into::<js_sys::Array>().map(|a| a.to_vec()).unwrap_or_default())
    }

    async fn scan_index<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: Option<u32>,
        newest_first: bool,
    ) -> Result<Vec<R>, StoreError> {
        let bounds = encode(R::STORE, lower).and_then(|l| Ok((l, encode(R::STORE, upper)?)));
        self.decode_all(self.index_values(R::STORE, index, bounds, limit, newest_first).await?)
    }

    // The non-generic body of `scan_index` (see `get_value`).
    async fn index_values(
        &self,
        store: &'static str,
        index: &str,
        bounds: Result<(JsValue, JsValue), StoreError>,
        limit: Option<u32>,
        newest_first: bool,
    ) -> Result<Vec<JsValue>, StoreError> {
        let (lower, upper) = bounds?;
        let range = IdbKeyRange::bound_with_lower_open_and_upper_open(&lower, &upper, false, false)
            .map_err(|_| StoreError::in_transaction(idb::Error::UNNAMED))?;
        match (newest_first, limit) {
            (true, Some(limit)) => self.newest_values(store, index, range, limit).await,
            _ => self.values(store, Some(index), Some(range), limit).await,
        }
    }

    /// Up to `limit` values of `store`'s `index` within `range`, highest key first: a cursor
    /// walked backwards (`getAll` only reads forwards).
    async fn newest_values(
        &self,
        store: &'static str,
        index: &str,
        range: IdbKeyRange,
        limit: u32,
    ) -> Result<Vec<JsValue>, StoreError> {
        let failed = |_| StoreError::in_transaction(idb::Error::UNNAMED);
        let tx = self.begin(&[store], TransactionMode::Readonly).await?;
        let index =
            object_store(&tx, store).and_then(|s| s.index(index).map_err(|_| idb::Error::UNNAMED));
        let index = index.map_err(StoreError::in_transaction)?;
        let request = index
            .open_cursor_with_range_and_direction(&range, web_sys::IdbCursorDirection::Prev)
            .map_err(failed)?;
        let mut values = Vec::new();
        while values.len() < limit as usize {
            // The same request fires once per step of the cursor.
            let cursor =
                idb::request(Ok(request.clone())).await.map_err(StoreError::in_transaction)?;
            let Ok(cursor) = cursor.dyn_into::<web_sys::IdbCursorWithValue>() else { break };
            values.push(cursor.value().map_err(failed)?);
            if values.len() < limit as usize {
                cursor.continue_().map_err(failed)?;
            }
        }
        Ok(values)
    }
}

impl super::Store for IdbStore {
    /// The record of type `R` with primary key `key`.
    async fn get<R: Record>(&self, key: &R::Key) -> Result<Option<R>, StoreError> {
        self.get_value(R::STORE, encode(R::STORE, key))
            .await?
            .map(|v| self.decode::<R>(v))
            .transpose()
    }

    /// The records of type `R` with primary keys `keys`, in their order: one transaction,
    /// every request fired before the first is awaited.
    async fn get_many<R: Record>(&self, keys: &[R::Key]) -> Result<Vec<Option<R>>, StoreError> {
        let values = self.each_value(R::STORE, None, encode_each(R::STORE, keys)).await?;
        let mut found = Vec::with_capacity(values.len());
        for value in values {
            found.push(if value.is_undefined() { None } else { Some(self.decode::<R>(value)?) });
        }
        Ok(found)
    }

    /// For each of `keys`, the records of type `R` whose `index` key equals it: one
    /// transaction, every request fired before the first is awaited.
    async fn by_index_each<R: Record, K: Serialize>(
        &self,
        index: &str,
        keys: &[K],
    ) -> Result<Vec<Vec<R>>, StoreError> {
        let values = self.each_value(R::STORE, Some(index), encode_each(R::STORE, keys)).await?;
        let mut found = Vec::with_capacity(values.len());
        for value in values {
            let all = value.dyn_into::<js_sys::Array>().map(|a| a.to_vec()).unwrap_or_default();
            found.push(self.decode_all(all)?);
        }
        Ok(found)
    }

    /// Every record of type `R`, in primary-key order.
    async fn all<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        self.decode_all(self.values(R::STORE, None, None, None).await?)
    }

    /// Records of type `R` whose `index` key lies in `[lower, upper]`, in index order, at
    /// most `limit` of them. Pass the same bound twice for an exact match.
    async fn by_index<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError> {
        self.scan_index(index, lower, upper, limit, false).await
    }

    /// The last `limit` records of type `R` whose `index` key lies in `[lower, upper]`,
    /// newest (highest key) first.
    async fn by_index_newest_first<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: u32,
    ) -> Result<Vec<R>, StoreError> {
        self.scan_index(index, lower, upper, Some(limit), true).await
    }

    /// Records of type `R` from primary key `from` on, in key order, at most `limit`.
    async fn starting_at<R: Record>(
        &self,
        from: &R::Key,
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError> {
        let range = IdbKeyRange::lower_bound_with_open(&encode(R::STORE, from)?, false)
            .map_err(|_| StoreError::in_transaction(idb::Error::UNNAMED))?;
        self.decode_all(self.values(R::STORE, None, Some(range), limit).await?)
    }

    /// Writes every change in one read-write transaction: all of them are committed, or
    /// (on any failure) none. Two round trips at most, however many changes: the checks'
    /// reads are all issued at once, then every write, and only the transaction's end is
    /// awaited (a failed write aborts it, with that write's error).
    async fn save(&self, changes: Changes) -> Result<(), StoreError> {
        if changes.ops.is_empty() {
            return Ok(());
        }
        // Sealed before the transaction opens: it then only writes.
        if let Some(key) = self.sealing_key.borrow().as_ref() {
            seal_all(&changes.ops, key)?;
        }
        let stores: Vec<&str> = changes.stores.into_iter().collect();
        let tx = self.begin(&stores, TransactionMode::Readwrite).await?;
        #[cfg(feature = "test-export")]
        self.saves_begun.set(self.saves_begun.get() + 1);
        if let Some(outcome) = conflict(&changes.checks, &tx).await {
            abort(tx).await;
            return Err(outcome);
        }
        // One handler for every insert-if-absent: an existing key is not an error.
        let keep_existing = Closure::<dyn FnMut(web_sys::Event)>::new(keep_existing);
        for op in changes.ops {
            if let Err(e) = apply(&tx, op, &keep_existing) {
                abort(tx).await;
                return Err(StoreError::in_transaction(e));
            }
        }
        match idb::done(&tx).await {
            Ok(true) => Ok(()),
            Ok(_) => Err(StoreError::Transaction("the browser aborted the transaction".into())),
            Err(e) => Err(StoreError::in_transaction(e)),
        }
    }
}

/// The first of `checks` that no longer holds in `tx` (as `Conflict`), or the failure that
/// stopped reading them. Every read is issued before the first is awaited.
async fn conflict(checks: &[Check], tx: &Transaction) -> Option<StoreError> {
    let requests: Result<Vec<_>, _> = checks
        .iter()
        .map(|c| object_store(tx, c.store)?.get(&c.key).map_err(idb::Error::thrown))
        .collect();
    let found = match requests {
        Ok(requests) => idb::all(requests).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(found) => checks
            .iter()
            .zip(found)
            .find(|(check, found)| !holds(check, found))
            .map(|(check, _)| StoreError::Conflict { store: check.store }),
        Err(e) => Some(StoreError::in_transaction(e)),
    }
}

/// Seals the written records' sealed fields in place (see `sealing`).
fn seal_all(ops: &[Op], key: &PickleKey) -> Result<(), StoreError> {
    for op in ops {
        match op {
            Op::Put { store, value }
            | Op::Insert { store, value }
            | Op::InsertIfAbsent { store, value } => sealing::seal_record(store, value, key)?,
            Op::Delete { .. } => {}
        }
    }
    Ok(())
}

/// Issues `op` in `tx` without waiting for it.
fn apply(
    tx: &Transaction,
    op: Op,
    keep_existing: &Closure<dyn FnMut(web_sys::Event)>,
) -> Result<(), idb::Error> {
    let thrown = idb::Error::thrown;
    match op {
        Op::Put { store, value } => object_store(tx, store)?.put(&value).map_err(thrown)?,
        Op::Insert { store, value } => object_store(tx, store)?.add(&value).map_err(thrown)?,
        Op::Delete { store, key } => object_store(tx, store)?.delete(&key).map_err(thrown)?,
        Op::InsertIfAbsent { store, value } => {
            let request = object_store(tx, store)?.add(&value).map_err(thrown)?;
            request.set_onerror(Some(keep_existing.as_ref().unchecked_ref()));
            request
        }
    };
    Ok(())
}

/// An insert-if-absent's `error` handler: a key that exists (`ConstraintError`) leaves the
/// record there and the transaction going; any other error aborts it as usual.
fn keep_existing(event: web_sys::Event) {
    let request = event.target().and_then(|t| t.dyn_into::<web_sys::IdbRequest>().ok());
    let error = request.and_then(|r| r.error().ok().flatten());
    if error.is_some_and(|e| e.name() == "ConstraintError") {
        event.prevent_default();
        event.stop_propagation();
    }
}

/// Aborts `tx` and waits for it to end; the caller reports its own error, not this outcome.
async fn abort(tx: Transaction) {
    if tx.abort().is_ok() {
        let _ = idb::done(&tx).await;
    }
}

fn object_store(tx: &Transaction, name: &str) -> Result<web_sys::IdbObjectStore, idb::Error> {
    tx.object_store(name).map_err(|_| idb::Error::UNNAMED)
}

/// A `getAll` request on a store or index, as `idb` issued it for each range and limit.
fn get_all<T>(
    range: Option<IdbKeyRange>,
    limit: Option<u32>,
    with_key: impl FnOnce(&JsValue) -> T,
    with_key_and_limit: impl FnOnce(&JsValue, u32) -> T,
    all: impl FnOnce() -> T,
) -> T {
    match (range, limit) {
        (Some(range), Some(limit)) => with_key_and_limit(&range, limit),
        (Some(range), None) => with_key(&range),
        (None, Some(limit)) => with_key_and_limit(&JsValue::NULL, limit),
        (None, None) => all(),
    }
}

/// Whether `check` holds of `found`, the record read under its key (`undefined`: none).
fn holds(check: &Check, found: &JsValue) -> bool {
    let found = (!found.is_undefined()).then_some(found);
    let value = found.map(|record| {
        js_sys::Reflect::get(record, &check.field.into()).unwrap_or(JsValue::UNDEFINED)
    });
    match (&value, &check.expected) {
        (None, None) => true,
        (Some(value), Some(expected)) => js_sys::Object::is(value, expected),
        _ => false,
    }
}

/// Each of `keys` as the JS value an IndexedDB request takes.
fn encode_each<K: Serialize>(store: &'static str, keys: &[K]) -> Result<Vec<JsValue>, StoreError> {
    let mut encoded = Vec::with_capacity(keys.len());
    for key in keys {
        encoded.push(encode(store, key)?);
    }
    Ok(encoded)
}

impl IdbStore {
    fn decode_all<R: Record>(&self, values: Vec<JsValue>) -> Result<Vec<R>, StoreError> {
        let mut records = Vec::with_capacity(values.len());
        for value in values {
            records.push(self.decode::<R>(value)?);
        }
        Ok(records)
    }

    fn decode<R: Record>(&self, value: JsValue) -> Result<R, StoreError> {
        sealing::open_record(R::STORE, &value, self.sealing_key.borrow().as_ref())?;
        R::from_js(value).map_err(|reason| StoreError::Decode { store: R::STORE, reason })
    }
}
