//! What is written and to whom, sealed at rest: the fields of a record that hold message
//! content, payload bytes or a peer's address are sealed together under the pickle key into
//! one `sealed` property (ChaCha20-Poly1305, bound to the record's store and key), and
//! restored when the record is read. Indexes only ever see ids, states, times and
//! conversation ids, so queries work unchanged.
//!
//! The browser's store seals once it is given the key (the client gives it as soon as the
//! installation is open); a record without `sealed` was written before sealing existed and
//! reads as it is.

use super::schema::store_names::{CONVERSATIONS, INBOUND_PAYLOADS, MESSAGES, OUTBOUND_PAYLOADS};

/// How a sealed field is held in the record's JS object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A `Uint8Array`.
    Bytes,
    /// A string (UTF-8 when sealed).
    Text,
}

/// The sealed fields of one object store, and the field whose value binds them to their
/// record (the primary key, or for the outbound queue, whose key the database assigns on
/// insert, the payload's hash).
pub(super) struct Sealed {
    pub(super) fields: &'static [(&'static str, Kind)],
    pub(super) bound_to: &'static str,
}

/// The object stores with sealed fields.
const SEALED: &[(&str, Sealed)] = &[
    (
        MESSAGES,
        Sealed {
            fields: &[("content", Kind::Bytes), ("sender_address", Kind::Text)],
            bound_to: "id",
        },
    ),
    (CONVERSATIONS, Sealed { fields: &[("peer_address", Kind::Text)], bound_to: "id" }),
    (INBOUND_PAYLOADS, Sealed { fields: &[("payload", Kind::Bytes)], bound_to: "hash" }),
    (OUTBOUND_PAYLOADS, Sealed { fields: &[("payload", Kind::Bytes)], bound_to: "payload_hash" }),
];

/// The property that holds a record's sealed fields.
pub(super) const SEALED_PROPERTY: &str = "sealed";

/// The sealed fields of `store`, if it has any.
pub(super) fn sealed_fields(store: &str) -> Option<&'static Sealed> {
    SEALED.iter().find(|(name, _)| *name == store).map(|(_, sealed)| sealed)
}

/// What a record's sealed value is bound to: its store and the value of its binding field.
pub(crate) fn label(store: &str, bound: &str) -> Vec<u8> {
    [store.as_bytes(), b"/", bound.as_bytes()].concat()
}

/// Fields' bytes as one byte string: each as a 4-byte little-endian length, then its bytes.
pub(crate) fn pack(fields: &[Vec<u8>]) -> Vec<u8> {
    let mut packed = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        // A field past 4 GiB cannot reach here: IndexedDB values and payloads are far smaller.
        packed.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_le_bytes());
        packed.extend_from_slice(field);
    }
    packed
}

/// The `count` fields [`pack`] joined, checked against the bytes actually there (a length
/// past the end is an error, never an allocation), with nothing left over.
pub(crate) fn unpack(mut packed: &[u8], count: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut fields = Vec::with_capacity(count.min(SEALED_FIELDS_MAX));
    for _ in 0..count {
        let (length, rest) =
            packed.split_first_chunk::<4>().ok_or("a sealed field's length is cut short")?;
        let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX);
        if length > rest.len() {
            return Err(format!("a sealed field claims {length} bytes, {} remain", rest.len()));
        }
        let (field, rest) = rest.split_at(length);
        fields.push(field.to_vec());
        packed = rest;
    }
    if !packed.is_empty() {
        return Err(format!("{} bytes after the sealed fields", packed.len()));
    }
    Ok(fields)
}

/// The most fields any store seals (bounds what [`unpack`] reserves).
const SEALED_FIELDS_MAX: usize = 2;

#[cfg(target_arch = "wasm32")]
pub(super) use browser::{open_record, seal_record};

#[cfg(target_arch = "wasm32")]
mod browser {
    use js_sys::{Object, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast as _, JsValue};

    use super::{Kind, SEALED_PROPERTY, label, pack, sealed_fields, unpack};
    use crate::{
        crypto::{PickleKey, open_bytes, seal_bytes},
        store::StoreError,
    };

    /// Seals the sealed fields of `record` (an object for `store`) in place.
    pub(in crate::store) fn seal_record(
        store: &'static str,
        record: &JsValue,
        key: &PickleKey,
    ) -> Result<(), StoreError> {
        let Some(sealed) = sealed_fields(store) else { return Ok(()) };
        let failed = |reason: String| StoreError::Encode { store, reason };
        let mut fields = Vec::with_capacity(sealed.fields.len());
        for (name, kind) in sealed.fields {
            let value = get(record, name);
            fields.push(match kind {
                Kind::Bytes if value.is_instance_of::<Uint8Array>() => {
                    Uint8Array::from(value).to_vec()
                }
                Kind::Text => value
                    .as_string()
                    .ok_or_else(|| failed(format!("{name}: not a string")))?
                    .into_bytes(),
                Kind::Bytes => return Err(failed(format!("{name}: not bytes"))),
            });
            let _ = Reflect::delete_property(
                record.unchecked_ref::<Object>(),
                &JsValue::from_str(name),
            );
        }
        let label = label(store, &get(record, sealed.bound_to).as_string().unwrap_or_default());
        let bytes = seal_bytes(&pack(&fields), &label, key).map_err(|e| failed(e.to_string()))?;
        let _ = Reflect::set(record, &SEALED_PROPERTY.into(), &Uint8Array::from(&bytes[..]));
        Ok(())
    }

    /// Restores the sealed fields of `record` (read from `store`) in place; a record without
    /// them (written before sealing) stays as it is.
    pub(in crate::store) fn open_record(
        store: &'static str,
        record: &JsValue,
        key: Option<&PickleKey>,
    ) -> Result<(), StoreError> {
        let Some(sealed) = sealed_fields(store) else { return Ok(()) };
        let value = get(record, SEALED_PROPERTY);
        if value.is_undefined() {
            return Ok(());
        }
        let failed = |reason: String| StoreError::Decode { store, reason };
        let key = key.ok_or_else(|| failed("sealed, and no key was given".into()))?;
        if !value.is_instance_of::<Uint8Array>() {
            return Err(failed("the sealed fields are not bytes".into()));
        }
        let label = label(store, &get(record, sealed.bound_to).as_string().unwrap_or_default());
        let packed = open_bytes(&Uint8Array::from(value).to_vec(), &label, key)
            .map_err(|e| failed(e.to_string()))?;
        let fields = unpack(&packed, sealed.fields.len()).map_err(failed)?;
        for ((name, kind), bytes) in sealed.fields.iter().zip(fields) {
            let value = match kind {
                Kind::Bytes => Uint8Array::from(&bytes[..]).into(),
                Kind::Text => JsValue::from_str(
                    &String::from_utf8(bytes).map_err(|_| failed(format!("{name}: not UTF-8")))?,
                ),
            };
            let _ = Reflect::set(record, &JsValue::from_str(name), &value);
        }
        let _ = Reflect::delete_property(record.unchecked_ref::<Object>(), &SEALED_PROPERTY.into());
        Ok(())
    }

    fn get(record: &JsValue, name: &str) -> JsValue {
        Reflect::get(record, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn packed_fields_unpack_as_they_were() {
        let fields = vec![b"hello".to_vec(), Vec::new(), vec![0; 300]];
        assert_eq!(unpack(&pack(&fields), 3).unwrap(), fields);
        assert_eq!(unpack(&pack(&[]), 0).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn a_packed_length_past_the_end_is_an_error_not_an_allocation() {
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"abc");
        assert!(unpack(&huge, 1).unwrap_err().contains("claims 4294967295 bytes, 3 remain"));
        assert!(unpack(&[1, 0], 1).is_err(), "a length cut short");
        assert!(unpack(&pack(&[b"a".to_vec()]), 2).is_err(), "a field missing");
        assert!(unpack(&pack(&[b"a".to_vec(), b"b".to_vec()]), 1).is_err(), "left over");
    }

    #[test]
    fn every_sealed_store_is_a_store_and_names_fields_of_its_records() {
        use crate::store::schema;
        for (store, sealed) in SEALED {
            let spec = schema::STORES.iter().find(|s| s.name == *store).unwrap();
            assert!(sealed.fields.len() <= SEALED_FIELDS_MAX);
            for index in spec.indexes {
                for (field, _) in sealed.fields {
                    assert!(!index.key_path.contains(field), "{store}.{field} is indexed");
                }
            }
        }
    }
}
