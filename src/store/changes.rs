//! [`Changes`]: the writes of one state step, and the checks they are conditional on.
//!
//! Every record is encoded when it is added, so a store's `save` does nothing but write (a
//! browser transaction must not wait on anything else). In the browser the values are the
//! plain JS objects IndexedDB stores; natively, for the in-memory store, serde's JSON values
//! with the same field names.

use serde::Serialize;

use super::{StoreError, record::Record};
use crate::collections::VecSet;

/// A stored value: a record, a key, an index bound or a field's expected value.
#[cfg(target_arch = "wasm32")]
pub(crate) type Value = wasm_bindgen::JsValue;
/// A stored value: a record, a key, an index bound or a field's expected value.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Value = serde_json::Value;

/// The writes of one state step, encoded up front; a store commits all of them or none.
#[derive(Debug, Default)]
pub struct Changes {
    pub(super) checks: Vec<Check>,
    pub(super) ops: Vec<Op>,
    pub(super) stores: VecSet<&'static str>,
}

/// A field of a record the step read, which must still hold that value when it commits.
// Read by a store's `save`: natively only the in-memory store of the tests.
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
#[derive(Debug)]
pub(super) struct Check {
    pub(super) store: &'static str,
    pub(super) key: Value,
    pub(super) field: &'static str,
    /// `None`: the record must still be absent.
    pub(super) expected: Option<Value>,
}

/// One write.
// Read by a store's `save`: natively only the in-memory store of the tests.
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
#[derive(Debug)]
pub(super) enum Op {
    Put { store: &'static str, value: Value },
    Insert { store: &'static str, value: Value },
    Delete { store: &'static str, key: Value },
    InsertIfAbsent { store: &'static str, value: Value },
}

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces `record`.
    pub fn put<R: Record>(&mut self, record: &R) -> Result<&mut Self, StoreError> {
        let value = encode_record(record)?;
        Ok(self.push(R::STORE, Op::Put { store: R::STORE, value }))
    }

    /// Inserts `record`, failing the whole transaction if its key already exists: for a
    /// step that must not overwrite what another tab wrote meanwhile.
    pub fn insert<R: Record>(&mut self, record: &R) -> Result<&mut Self, StoreError> {
        let value = encode_record(record)?;
        Ok(self.push(R::STORE, Op::Insert { store: R::STORE, value }))
    }

    /// Inserts `record` unless a record with its key exists, which then stays as it is: for
    /// what may arrive twice, like an inbox payload.
    pub fn insert_if_absent<R: Record>(&mut self, record: &R) -> Result<&mut Self, StoreError> {
        let value = encode_record(record)?;
        Ok(self.push(R::STORE, Op::InsertIfAbsent { store: R::STORE, value }))
    }

    /// Deletes the record of type `R` with primary key `key` (nothing if there is none).
    pub fn delete<R: Record>(&mut self, key: &R::Key) -> Result<&mut Self, StoreError> {
        let key = encode(R::STORE, key)?;
        Ok(self.push(R::STORE, Op::Delete { store: R::STORE, key }))
    }

    /// Commits only if the record of type `R` at `key` is still at `version` (its `version`
    /// field; `None`: still absent). Otherwise nothing is written and the store's `save`
    /// answers [`StoreError::Conflict`], so the step can be redone from fresh reads.
    pub fn expect_version<R: Record>(
        &mut self,
        key: &R::Key,
        version: Option<u32>,
    ) -> Result<&mut Self, StoreError> {
        self.expect_field::<R>(key, "version", version.as_ref())
    }

    /// Commits only if the record of type `R` at `key` still has `field` equal to `expected`
    /// (`None`: the record is still absent); see [`Changes::expect_version`].
    pub fn expect_field<R: Record>(
        &mut self,
        key: &R::Key,
        field: &'static str,
        expected: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<&mut Self, StoreError> {
        let key = encode(R::STORE, key)?;
        let expected = expected.map(|v| encode(R::STORE, v)).transpose()?;
        self.stores.insert(R::STORE);
        self.checks.push(Check { store: R::STORE, key, field, expected });
        Ok(self)
    }

    // Not generic, so the set insertion is not copied into every record type's `put`.
    fn push(&mut self, store: &'static str, op: Op) -> &mut Self {
        self.stores.insert(store);
        self.ops.push(op);
        self
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Keys, index bounds and expected field values as records hold them (strings, numbers,
/// states by name, arrays of those for compound keys).
#[cfg(target_arch = "wasm32")]
pub(super) fn encode(
    store: &'static str,
    value: &(impl Serialize + ?Sized),
) -> Result<Value, StoreError> {
    crate::to_js::PLAIN.to_value(value).map_err(|e| encode_error(store, e.to_string()))
}

/// Keys, index bounds and expected field values as records hold them; a number a JS
/// number cannot hold exactly fails, as it does in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn encode(
    store: &'static str,
    value: &(impl Serialize + ?Sized),
) -> Result<Value, StoreError> {
    let value = serde_json::to_value(value).map_err(|e| encode_error(store, e.to_string()))?;
    check_numbers(&value).map_err(|reason| encode_error(store, reason))?;
    Ok(value)
}

// The error path is a function of its own so that `encode`, copied for every record type,
// stays small.
fn encode_error(store: &'static str, reason: String) -> StoreError {
    StoreError::Encode { store, reason }
}

/// A record as the plain JS object it is stored as (see `records`).
#[cfg(target_arch = "wasm32")]
pub(super) fn encode_record<R: Record>(record: &R) -> Result<Value, StoreError> {
    record.to_js().map_err(|reason| encode_error(R::STORE, reason))
}

/// A record as serde's JSON value (the in-memory store's form).
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn encode_record<R: Record>(record: &R) -> Result<Value, StoreError> {
    encode(R::STORE, record)
}

/// The largest integer a JS number holds exactly (2^53 - 1).
#[cfg(not(target_arch = "wasm32"))]
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Fails on an integer beyond [`MAX_SAFE_INTEGER`], as the browser's conversion does.
#[cfg(not(target_arch = "wasm32"))]
fn check_numbers(value: &Value) -> Result<(), String> {
    match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) if u > MAX_SAFE_INTEGER => Err(format!("{u} is not a safe JS integer")),
            (None, Some(i)) if i.unsigned_abs() > MAX_SAFE_INTEGER => {
                Err(format!("{i} is not a safe JS integer"))
            }
            _ => Ok(()),
        },
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(fields) => fields.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}
