//! Which object store holds each engine record, and each record's shape as a JS object.
//!
//! Records are stored as plain JS objects (`Uint8Array` for bytes, `null` for absent options,
//! states by name), the shape IndexedDB key paths evaluate and devtools show. The conversion
//! is written out per field here instead of going through serde: serde's derived visitors,
//! copied for every record type, were the larger part of the wasm's (de)serialisation code.
//! The objects are the same ones `serde-wasm-bindgen` wrote, so existing databases read as
//! before (`tests/browser/codecs.rs` compares them with serde's, in the browser).

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

#[cfg(target_arch = "wasm32")]
use super::at_rest::WrappedPickleKey;
use crate::engine::{
    ConversationRecord, InboundPayloadRecord, InboxCursorRecord, InstallationRecord, MessageRecord,
    MetaRecord, Named, OutboundPayloadRecord, OwnInstallationRecord, RejectedEntry, SessionRecord,
    UserRecord, expected_names,
};

/// A value stored as one JS value. `Err` holds a reason for the logs.
pub trait Field: Sized {
    /// The value as stored.
    fn to_js(&self) -> Result<JsValue, String>;
    /// The value back from what is stored (`undefined` never reaches this: see [`field`]).
    fn from_js(value: JsValue) -> Result<Self, String>;
    /// What an absent property reads as: only options may be absent.
    fn absent() -> Option<Self> {
        None
    }
    /// A value to build a record with when a field fails to read (the record is then
    /// discarded); also the default of fields marked `default`.
    fn placeholder() -> Self;
}

/// Reads property `name` of `object`. An absent (or `undefined`) property is
/// [`Field::absent`], or for a `defaulted` field its default (the placeholder). A failure is
/// kept in `error` and the placeholder returned: a record is then built in one go and
/// dropped once, instead of dropping every field read so far at each `?`.
#[inline(never)]
fn field<T: Field>(
    object: &JsValue,
    name: &'static str,
    defaulted: bool,
    error: &mut Option<String>,
) -> T {
    let value = property(object, name);
    let read = if value.is_undefined() {
        match T::absent() {
            Some(absent) => Ok(absent),
            None if defaulted => Ok(T::placeholder()),
            None => Err(missing(name)),
        }
    } else {
        T::from_js(value).map_err(|reason| in_field(name, reason))
    };
    read.unwrap_or_else(|reason| {
        error.get_or_insert(reason);
        T::placeholder()
    })
}

// The non-generic halves, so the per-type copies stay small.
fn property(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, name: &str, value: JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(name), &value);
}

fn missing(name: &str) -> String {
    format!("missing field `{name}`")
}

fn in_field(name: &str, reason: String) -> String {
    format!("field `{name}`: {reason}")
}

fn invalid(expected: &str) -> String {
    format!("invalid type, expected {expected}")
}

/// `value` as an object to read fields from.
fn object(value: JsValue) -> Result<JsValue, String> {
    if value.is_object() { Ok(value) } else { Err(invalid("an object")) }
}

impl Field for String {
    fn placeholder() -> Self {
        String::new()
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(JsValue::from_str(self))
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        value.as_string().ok_or_else(|| invalid("a string"))
    }
}

impl Field for bool {
    fn placeholder() -> Self {
        false
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(JsValue::from_bool(*self))
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| invalid("a boolean"))
    }
}

/// Numbers are JS numbers, so only integers up to 2^53 - 1 fit (a BigInt is read too).
impl Field for u64 {
    fn placeholder() -> Self {
        0
    }
    fn to_js(&self) -> Result<JsValue, String> {
        if *self <= MAX_SAFE_INTEGER {
            Ok(JsValue::from_f64(*self as f64))
        } else {
            Err(format!("{self} can't be represented as a JavaScript number"))
        }
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        if value.is_bigint() {
            return u64::try_from(value).map_err(|_| invalid("a u64"));
        }
        match value.as_f64() {
            Some(n) if js_sys::Number::is_safe_integer(&value) && n >= 0.0 => Ok(n as u64),
            _ => Err(invalid("a non-negative integer")),
        }
    }
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

impl Field for u32 {
    fn placeholder() -> Self {
        0
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(JsValue::from_f64(f64::from(*self)))
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        u64::from_js(value).and_then(|n| u32::try_from(n).map_err(|_| invalid("a u32")))
    }
}

/// Bytes are a `Uint8Array` (an `ArrayBuffer` is read too).
impl Field for Vec<u8> {
    fn placeholder() -> Self {
        Vec::new()
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(Uint8Array::from(&self[..]).into())
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
            return Ok(bytes.to_vec());
        }
        match value.dyn_ref::<js_sys::ArrayBuffer>() {
            Some(buffer) => Ok(Uint8Array::new(buffer).to_vec()),
            None => Err(invalid("bytes")),
        }
    }
}

/// Bytes in a list (serde's form for them): a `Uint8Array` too.
impl Field for serde_bytes::ByteBuf {
    fn placeholder() -> Self {
        Self::new()
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(Uint8Array::from(self.as_slice()).into())
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        Vec::<u8>::from_js(value).map(Self::from)
    }
}

/// A browser object kept as it is (the non-extractable `CryptoKey`).
impl Field for JsValue {
    fn placeholder() -> Self {
        JsValue::UNDEFINED
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(self.clone())
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        Ok(value)
    }
}

/// `None` is `null`; `null` or an absent property reads as `None`.
impl<T: Field> Field for Option<T> {
    fn placeholder() -> Self {
        None
    }
    fn to_js(&self) -> Result<JsValue, String> {
        match self {
            Some(value) => value.to_js(),
            None => Ok(JsValue::NULL),
        }
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        if value.is_null() { Ok(None) } else { T::from_js(value).map(Some) }
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Lists are arrays.
impl<T: Field + Item> Field for Vec<T> {
    fn placeholder() -> Self {
        Vec::new()
    }
    fn to_js(&self) -> Result<JsValue, String> {
        let array = js_sys::Array::new();
        for item in self {
            array.push(&item.to_js()?);
        }
        Ok(array.into())
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        match value.dyn_into::<js_sys::Array>() {
            Ok(array) => array.iter().map(T::from_js).collect(),
            Err(_) => Err(invalid("an array")),
        }
    }
}

/// What may be a list's item (not `u8`: bytes are a `Uint8Array`).
pub trait Item {}
impl Item for String {}
impl Item for RejectedEntry {}
impl Item for serde_bytes::ByteBuf {}

/// States and failure reasons are stored by name, from their tables in `engine::states`.
impl<T: Named> Field for T {
    fn placeholder() -> Self {
        T::ALL[0]
    }
    fn to_js(&self) -> Result<JsValue, String> {
        Ok(JsValue::from_str(self.name()))
    }
    fn from_js(value: JsValue) -> Result<Self, String> {
        let name = value.as_string();
        name.as_deref().and_then(T::from_name).ok_or_else(|| unknown_name(name, T::NAMES))
    }
}

fn unknown_name(found: Option<String>, names: &[&str]) -> String {
    match found {
        Some(found) => format!("unknown name `{found}`, expected {}", expected_names(names)),
        None => invalid(&expected_names(names)),
    }
}

/// Objects, one property per field in declaration order, named as the field unless a JS name
/// follows it (`field = "jsName"`: serde's `rename_all` on the engine's type). A field marked
/// `default` may be absent (older rows); one marked `omit_none` is left out when `None` (the
/// auto-increment key, which IndexedDB then assigns).
macro_rules! objects {
    ($($ty:ty { $($field:ident $(= $js:literal)? $(: $mode:ident)?),* $(,)? })*) => {$(
        impl Field for $ty {
            fn to_js(&self) -> Result<JsValue, String> {
                let object = Object::new();
                $(objects!(@put object, self.$field, objects!(@name $field $($js)?) $(, $mode)?);)*
                Ok(object.into())
            }
            fn from_js(value: JsValue) -> Result<Self, String> {
                let object = object(value)?;
                let mut error = None;
                let read = Self {
                    $($field: field(
                        &object,
                        objects!(@name $field $($js)?),
                        objects!(@defaulted $($mode)?),
                        &mut error,
                    ),)*
                };
                match error {
                    None => Ok(read),
                    Some(reason) => Err(reason),
                }
            }
            fn placeholder() -> Self {
                Self { $($field: Field::placeholder(),)* }
            }
        }
    )*};
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $js:literal) => { $js };
    (@put $object:ident, $value:expr, $name:expr) => { set(&$object, $name, $value.to_js()?) };
    (@put $object:ident, $value:expr, $name:expr, default) => { set(&$object, $name, $value.to_js()?) };
    (@put $object:ident, $value:expr, $name:expr, omit_none) => {
        if $value.is_some() { set(&$object, $name, $value.to_js()?) }
    };
    (@defaulted) => { false };
    (@defaulted omit_none) => { false };
    (@defaulted default) => { true };
}

objects! {
    MetaRecord { key, value }
    // camelCase, as serde's derive (and so version 1) wrote it.
    RejectedEntry { installation_id = "installationId", code, reason }
    UserRecord { address, installations_fetched_at_ms, rejected: default, revoked: default }
    InstallationRecord { id, address, state, bundle, expires_at_ms, last_notice_at_ms: default }
    SessionRecord { installation_id, version, pickle, previous: default }
    ConversationRecord { id, peer_address, state, created_at_ms }
    MessageRecord {
        id, convo_id, sender_address, sent_at_ms, state, content_type, content,
        failure: default, resends: default,
    }
    OutboundPayloadRecord {
        seq: omit_none, installation_id, message_ids, state, payload, created_at_ms,
        attempts: default, last_error: default, payload_hash: default, session_id: default,
        repairs: default,
    }
    InboundPayloadRecord {
        hash, state, order, received_at_ms, payload, sender_installation_id: default,
        failure: default, detail: default, notice_pending: default,
    }
    InboxCursorRecord { key, digest, sender_time_ns }
    OwnInstallationRecord {
        key, id, address, pickle, bundle, bundle_published, fallback_created_at_ms,
        expires_at_ms, revoked,
    }
}

#[cfg(target_arch = "wasm32")]
objects! {
    WrappedPickleKey { key, wrapping_key, iv, wrapped }
}
