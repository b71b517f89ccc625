//! A small serde `Serializer` to JS values, in place of `serde-wasm-bindgen`'s. It writes
//! what that one wrote with `serialize_missing_as_null` and `serialize_maps_as_objects`
//! (plain objects, arrays, strings, numbers, `null` for `None`, unit variants by name,
//! other variants as `{ name: payload }`); [`JSON`] writes bytes as arrays of numbers, like
//! its `json_compatible()`. Keeping one small serializer (no interning cache, which brought
//! in a hash map) is less wasm than serde-wasm-bindgen's.

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::ser::{self, Error as _, Serialize};
use wasm_bindgen::JsValue;

pub(crate) use crate::from_js::Error;

/// Writes values to JS.
pub(crate) struct Serializer {
    bytes_as_arrays: bool,
}

/// Bytes as `Uint8Array`: what IndexedDB stores and apps receive.
#[cfg(target_arch = "wasm32")]
pub(crate) const PLAIN: Serializer = Serializer { bytes_as_arrays: false };
/// Bytes as arrays of numbers, for `JSON.stringify`.
pub(crate) const JSON: Serializer = Serializer { bytes_as_arrays: true };

impl Serializer {
    /// `value` as a JS value.
    pub(crate) fn to_value(&self, value: &(impl Serialize + ?Sized)) -> Result<JsValue, Error> {
        value.serialize(self)
    }
}

/// The largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: i64 = crate::wire::MAX_SAFE_INTEGER as i64;

fn number(fits: bool, value: f64, shown: &dyn std::fmt::Display) -> Result<JsValue, Error> {
    if fits {
        Ok(JsValue::from_f64(value))
    } else {
        Err(Error::custom(format_args!("{shown} can't be represented as a JavaScript number")))
    }
}

fn set(object: &Object, key: &JsValue, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(object, key, value);
}

/// `{ variant: value }`.
fn variant(name: &'static str, value: JsValue) -> JsValue {
    let object = Object::new();
    set(&object, &JsValue::from_str(name), &value);
    object.into()
}

impl<'s> ser::Serializer for &'s Serializer {
    type Ok = JsValue;
    type Error = Error;
    type SerializeSeq = Items<'s>;
    type SerializeTuple = Items<'s>;
    type SerializeTupleStruct = Items<'s>;
    type SerializeTupleVariant = Variant<Items<'s>>;
    type SerializeMap = Fields<'s>;
    type SerializeStruct = Fields<'s>;
    type SerializeStructVariant = Variant<Fields<'s>>;

    fn serialize_bool(self, v: bool) -> Result<JsValue, Error> {
        Ok(JsValue::from_bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<JsValue, Error> {
        number((-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v), v as f64, &v)
    }
    fn serialize_u8(self, v: u8) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<JsValue, Error> {
        number(v <= MAX_SAFE_INTEGER as u64, v as f64, &v)
    }
    fn serialize_i128(self, v: i128) -> Result<JsValue, Error> {
        Ok(JsValue::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<JsValue, Error> {
        Ok(JsValue::from(v))
    }
    fn serialize_f32(self, v: f32) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<JsValue, Error> {
        Ok(JsValue::from_f64(v))
    }
    fn serialize_char(self, v: char) -> Result<JsValue, Error> {
        Ok(JsValue::from_str(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> Result<JsValue, Error> {
        Ok(JsValue::from_str(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<JsValue, Error> {
        let bytes = Uint8Array::from(v);
        Ok(if self.bytes_as_arrays { Array::from(&bytes).into() } else { bytes.into() })
    }
    fn serialize_none(self) -> Result<JsValue, Error> {
        Ok(JsValue::NULL)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<JsValue, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<JsValue, Error> {
        Ok(JsValue::NULL)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<JsValue, Error> {
        Ok(JsValue::NULL)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<JsValue, Error> {
        Ok(JsValue::from_str(variant))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<JsValue, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        value: &T,
    ) -> Result<JsValue, Error> {
        Ok(variant(name, value.serialize(self)?))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Items<'s>, Error> {
        Ok(Items { serializer: self, array: Array::new() })
    }
    fn serialize_tuple(self, len: usize) -> Result<Items<'s>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Items<'s>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        len: usize,
    ) -> Result<Variant<Items<'s>>, Error> {
        Ok(Variant { name, inner: self.serialize_seq(Some(len))? })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Fields<'s>, Error> {
        Ok(Fields { serializer: self, object: Object::new(), key: None })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Fields<'s>, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        _len: usize,
    ) -> Result<Variant<Fields<'s>>, Error> {
        Ok(Variant { name, inner: self.serialize_map(None)? })
    }
}

/// An array being written.
pub(crate) struct Items<'s> {
    serializer: &'s Serializer,
    array: Array,
}

impl Items<'_> {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.array.push(&value.serialize(self.serializer)?);
        Ok(())
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(self.array.into())
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(self.array.into())
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(self.array.into())
    }
}

/// A plain object being written (a struct, or a map with string keys).
pub(crate) struct Fields<'s> {
    serializer: &'s Serializer,
    object: Object,
    key: Option<JsValue>,
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        let key = key.serialize(self.serializer)?;
        if !key.is_string() {
            return Err(Error::custom("Map key is not a string and cannot be an object key"));
        }
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().unwrap_or(JsValue::UNDEFINED);
        set(&self.object, &key, &value.serialize(self.serializer)?);
        Ok(())
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(self.object.into())
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        set(&self.object, &JsValue::from_str(key), &value.serialize(self.serializer)?);
        Ok(())
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(self.object.into())
    }
}

/// A tuple or struct variant: `{ name: inner }`.
pub(crate) struct Variant<S> {
    name: &'static str,
    inner: S,
}

impl ser::SerializeTupleVariant for Variant<Items<'_>> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.inner.push(value)
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(variant(self.name, self.inner.array.into()))
    }
}

impl ser::SerializeStructVariant for Variant<Fields<'_>> {
    type Ok = JsValue;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<JsValue, Error> {
        Ok(variant(self.name, self.inner.object.into()))
    }
}
