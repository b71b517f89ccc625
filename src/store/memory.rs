//! [`MemoryStore`]: the [`Store`] natively, for the simulator and the steps' tests, with
//! IndexedDB's semantics as the steps can observe them: key order (numbers before strings
//! before arrays), indexes evaluated from the records' fields (a record whose indexed field is
//! absent, `null` or not a key is not in the index; a multi-entry index holds each element of
//! an array), an auto-increment key that never goes back, `insert` failing on an existing key,
//! checks that fail with [`StoreError::Conflict`], and a save that writes all or nothing.
//!
//! Clones share one database: a processor restarted with its memory dropped opens the same
//! data, as a reloaded page does. Every call first yields once to the executor, so a
//! simulator interleaves other tasks (and can drop this one) between any two calls; a save's
//! checks and writes happen in one poll, as one transaction.

use std::{
    cell::{Cell, RefCell},
    cmp::Ordering,
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use serde::Serialize;

use super::{
    Store, StoreError,
    changes::{Changes, Check, Op, Value, encode},
    record::Record,
    schema::{STORES, StoreSpec},
};

/// An IndexedDB key: a number, a string or an array of keys, ordered as IndexedDB orders
/// them.
#[derive(Debug, Clone)]
struct Key(Value);

impl Key {
    /// `value` if it is a valid key.
    fn valid(value: &Value) -> Option<Self> {
        let ok = match value {
            Value::Number(n) => n.as_f64().is_some_and(|f| !f.is_nan()),
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(|item| Self::valid(item).is_some()),
            _ => false,
        };
        ok.then(|| Self(value.clone()))
    }
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        _ => 2,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or_default(), y.as_f64().unwrap_or_default());
            x.total_cmp(&y)
        }
        // JS compares strings by UTF-16 code units.
        (Value::String(x), Value::String(y)) => x.encode_utf16().cmp(y.encode_utf16()),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

/// One object store's records by primary key, and its key generator.
#[derive(Debug, Default, Clone)]
struct Table {
    rows: BTreeMap<Key, Value>,
    next_seq: u64,
}

#[derive(Debug, Default)]
struct Database {
    tables: BTreeMap<&'static str, Table>,
    saves: u64,
}

/// Decides whether a save fails.
type SaveFault = Box<dyn FnMut() -> bool>;

/// The in-memory [`Store`]; see the module documentation.
#[derive(Clone, Default)]
pub(crate) struct MemoryStore {
    db: Rc<RefCell<Database>>,
    /// Asked before each save; `true` fails it (nothing written), as a browser may.
    save_fault: Rc<RefCell<Option<SaveFault>>>,
    /// Whether calls yield to the executor first (off for plain unit tests).
    yields: Rc<Cell<bool>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("saves", &self.db.borrow().saves).finish()
    }
}

impl MemoryStore {
    /// An empty database with every object store of the schema.
    pub(crate) fn new() -> Self {
        let store = Self::default();
        store.yields.set(true);
        store
    }

    /// Fails each save for which `fault` answers `true` (with [`StoreError::Transaction`],
    /// nothing written).
    pub(crate) fn set_save_fault(&self, fault: impl FnMut() -> bool + 'static) {
        *self.save_fault.borrow_mut() = Some(Box::new(fault));
    }

    async fn turn(&self) {
        if self.yields.get() {
            yield_now().await;
        }
    }

    fn spec(store: &str) -> Result<&'static StoreSpec, StoreError> {
        STORES
            .iter()
            .find(|s| s.name == store)
            .ok_or_else(|| StoreError::Transaction(format!("no object store {store}")))
    }

    /// Every value of `store`, in primary-key order.
    fn values(&self, store: &str) -> Vec<(Key, Value)> {
        let db = self.db.borrow();
        let rows = db.tables.get(store).map(|t| t.rows.iter());
        rows.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// `store`'s `index` as (index key, primary key, value), in index order.
    fn index(&self, store: &str, index: &str) -> Result<Vec<(Key, Key, Value)>, StoreError> {
        let spec = Self::spec(store)?;
        let index = spec
            .indexes
            .iter()
            .find(|i| i.name == index)
            .ok_or_else(|| StoreError::Transaction(format!("no index {index} on {store}")))?;
        let mut entries = Vec::new();
        for (primary, value) in self.values(store) {
            let keys = match index.key_path {
                [field] => {
                    let field = value.get(*field).cloned().unwrap_or(Value::Null);
                    match field {
                        Value::Array(items) if index.multi_entry => {
                            let mut keys: Vec<Key> = items.iter().filter_map(Key::valid).collect();
                            keys.sort();
                            keys.dedup();
                            keys
                        }
                        other => Key::valid(&other).into_iter().collect(),
                    }
                }
                fields => {
                    let parts = fields.iter().map(|f| value.get(*f).cloned());
                    let parts: Option<Vec<Value>> = parts.collect();
                    parts.and_then(|p| Key::valid(&Value::Array(p))).into_iter().collect()
                }
            };
            for key in keys {
                entries.push((key, primary.clone(), value.clone()));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        Ok(entries)
    }

    async fn scan<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: Option<u32>,
        newest_first: bool,
    ) -> Result<Vec<R>, StoreError> {
        self.turn().await;
        let bound = |v: &dyn Fn() -> Result<Value, StoreError>| {
            let value = v()?;
            Key::valid(&value).ok_or_else(|| StoreError::Transaction("DataError".into()))
        };
        let lower = bound(&|| encode(R::STORE, lower))?;
        let upper = bound(&|| encode(R::STORE, upper))?;
        let mut found: Vec<Value> = self
            .index(R::STORE, index)?
            .into_iter()
            .filter(|(key, _, _)| *key >= lower && *key <= upper)
            .map(|(_, _, value)| value)
            .collect();
        if newest_first {
            found.reverse();
        }
        found.truncate(limit.map_or(usize::MAX, |l| l as usize));
        found.into_iter().map(decode::<R>).collect()
    }

    /// The checks and writes of one save, in one borrow: all or nothing.
    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let mut db = self.db.borrow_mut();
        for check in &changes.checks {
            if !holds(&db, check) {
                return Err(StoreError::Conflict { store: check.store });
            }
        }
        let touched: Vec<&'static str> = changes.stores.into_iter().collect();
        let before: Vec<(&'static str, Table)> =
            touched.iter().map(|s| (*s, db.tables.get(s).cloned().unwrap_or_default())).collect();
        for op in changes.ops {
            if let Err(e) = apply(&mut db, op) {
                for (store, table) in before {
                    db.tables.insert(store, table);
                }
                return Err(e);
            }
        }
        db.saves += 1;
        Ok(())
    }
}

fn holds(db: &Database, check: &Check) -> bool {
    let Some(key) = Key::valid(&check.key) else { return false };
    let found = db.tables.get(check.store).and_then(|t| t.rows.get(&key));
    match (found, &check.expected) {
        (None, None) => true,
        (Some(record), Some(expected)) => record.get(check.field) == Some(expected),
        _ => false,
    }
}

/// A failed request inside a transaction, as the browser's is classified.
fn failed(name: &str) -> StoreError {
    StoreError::Transaction(format!("idb error ({name})"))
}

fn apply(db: &mut Database, op: Op) -> Result<(), StoreError> {
    // What an existing key does: `None` replaces it, else fail (`Some(true)`) or keep it.
    let (store, value, existing_fails) = match op {
        Op::Delete { store, key } => {
            let key = Key::valid(&key).ok_or_else(|| failed("DataError"))?;
            db.tables.entry(store).or_default().rows.remove(&key);
            return Ok(());
        }
        Op::InsertIfAbsent { store, value } => (store, value, Some(false)),
        Op::Put { store, value } => (store, value, None),
        Op::Insert { store, value } => (store, value, Some(true)),
    };
    let spec = MemoryStore::spec(store)?;
    let table = db.tables.entry(store).or_default();
    let mut value = value;
    let key = match value.get(spec.key_path) {
        Some(found) if !found.is_null() => Key::valid(found).ok_or_else(|| failed("DataError"))?,
        _ if spec.auto_increment => {
            table.next_seq += 1;
            let seq = table.next_seq;
            if let Value::Object(fields) = &mut value {
                fields.insert(spec.key_path.to_owned(), Value::from(seq));
            }
            Key(Value::from(seq))
        }
        _ => return Err(failed("DataError")),
    };
    if spec.auto_increment {
        if let Some(n) = key.0.as_u64() {
            table.next_seq = table.next_seq.max(n);
        }
    }
    match existing_fails {
        Some(true) if table.rows.contains_key(&key) => return Err(failed("ConstraintError")),
        Some(false) if table.rows.contains_key(&key) => return Ok(()),
        _ => {}
    }
    table.rows.insert(key, value);
    Ok(())
}

fn decode<R: Record>(value: Value) -> Result<R, StoreError> {
    serde_json::from_value(value)
        .map_err(|e| StoreError::Decode { store: R::STORE, reason: e.to_string() })
}

impl Store for MemoryStore {
    async fn get<R: Record>(&self, key: &R::Key) -> Result<Option<R>, StoreError> {
        self.turn().await;
        let key = Key::valid(&encode(R::STORE, key)?).ok_or_else(|| failed("DataError"))?;
        let found = self.db.borrow().tables.get(R::STORE).and_then(|t| t.rows.get(&key)).cloned();
        found.map(decode::<R>).transpose()
    }

    async fn get_many<R: Record>(&self, keys: &[R::Key]) -> Result<Vec<Option<R>>, StoreError> {
        self.turn().await;
        let db = self.db.borrow();
        let rows = db.tables.get(R::STORE).map(|t| &t.rows);
        keys.iter()
            .map(|key| {
                let key = Key::valid(&encode(R::STORE, key)?).ok_or_else(|| failed("DataError"))?;
                rows.and_then(|rows| rows.get(&key)).cloned().map(decode::<R>).transpose()
            })
            .collect()
    }

    async fn by_index_each<R: Record, K: Serialize>(
        &self,
        index: &str,
        keys: &[K],
    ) -> Result<Vec<Vec<R>>, StoreError> {
        self.turn().await;
        let entries = self.index(R::STORE, index)?;
        keys.iter()
            .map(|key| {
                let key = Key::valid(&encode(R::STORE, key)?).ok_or_else(|| failed("DataError"))?;
                let found = entries.iter().filter(|(k, _, _)| *k == key);
                found.map(|(_, _, value)| decode::<R>(value.clone())).collect()
            })
            .collect()
    }

    async fn all<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        self.turn().await;
        self.values(R::STORE).into_iter().map(|(_, v)| decode::<R>(v)).collect()
    }

    async fn by_index<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError> {
        self.scan(index, lower, upper, limit, false).await
    }

    async fn by_index_newest_first<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: u32,
    ) -> Result<Vec<R>, StoreError> {
        self.scan(index, lower, upper, Some(limit), true).await
    }

    async fn starting_at<R: Record>(
        &self,
        from: &R::Key,
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError> {
        self.turn().await;
        let from = Key::valid(&encode(R::STORE, from)?).ok_or_else(|| failed("DataError"))?;
        let values = self.values(R::STORE).into_iter().filter(|(k, _)| *k >= from);
        let values = values.take(limit.map_or(usize::MAX, |l| l as usize));
        values.map(|(_, v)| decode::<R>(v)).collect()
    }

    async fn save(&self, changes: Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.turn().await;
        let fail = self.save_fault.borrow_mut().as_mut().is_some_and(|fault| fault());
        if fail {
            return Err(failed("AbortError"));
        }
        self.commit(changes)
    }
}

/// Returns `Pending` once (waking itself at once), so the executor may run another task.
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    YieldNow(false)
}

struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
