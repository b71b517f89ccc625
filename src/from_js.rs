//! A small serde `Deserializer` over JS values, in place of `serde-wasm-bindgen`'s: it reads
//! the same values the same way (see `serde_wasm_bindgen::Deserializer`, which this mirrors
//! for the inputs the SDK sees: plain objects, arrays, strings, numbers, booleans, `null`,
//! `Uint8Array`), with fewer branches per type and errors that never format a float, which
//! keeps Rust's float printing (over 10 KB) out of the wasm.

use std::fmt;

use js_sys::{Array, Number, Object, Reflect, Uint8Array};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Expected, IntoDeserializer, Unexpected,
    Visitor,
};
use wasm_bindgen::{JsCast, JsValue};

/// Reads a `T` from a JS value.
pub(crate) fn from_value<T: DeserializeOwned>(value: JsValue) -> Result<T, Error> {
    T::deserialize(Value(value))
}

/// Why a value did not read as the type asked for.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }

    // serde's own texts, minus the value of a float (`Unexpected`'s `Display` prints floats).
    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self(format!("invalid type: {}, expected {expected}", kind(&unexpected)))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self(format!("invalid value: {}, expected {expected}", kind(&unexpected)))
    }
}

fn kind(unexpected: &Unexpected<'_>) -> String {
    match unexpected {
        Unexpected::Bool(b) => format!("boolean `{b}`"),
        Unexpected::Unsigned(n) => format!("integer `{n}`"),
        Unexpected::Signed(n) => format!("integer `{n}`"),
        Unexpected::Str(s) => format!("string {s:?}"),
        Unexpected::Float(_) => "floating point number".to_owned(),
        Unexpected::Char(_) => "char".to_owned(),
        Unexpected::Bytes(_) => "byte array".to_owned(),
        Unexpected::Unit => "null".to_owned(),
        Unexpected::Option => "option".to_owned(),
        Unexpected::NewtypeStruct => "newtype struct".to_owned(),
        Unexpected::Seq => "sequence".to_owned(),
        Unexpected::Map => "map".to_owned(),
        Unexpected::Enum => "enum".to_owned(),
        Unexpected::UnitVariant => "unit variant".to_owned(),
        Unexpected::NewtypeVariant => "newtype variant".to_owned(),
        Unexpected::TupleVariant => "tuple variant".to_owned(),
        Unexpected::StructVariant => "struct variant".to_owned(),
        Unexpected::Other(other) => (*other).to_owned(),
    }
}

struct Value(JsValue);

impl Value {
    fn is_nullish(&self) -> bool {
        self.0.is_null() || self.0.is_undefined()
    }

    fn bytes(&self) -> Option<Vec<u8>> {
        if let Some(bytes) = self.0.dyn_ref::<Uint8Array>() {
            return Some(bytes.to_vec());
        }
        self.0.dyn_ref::<js_sys::ArrayBuffer>().map(|buffer| Uint8Array::new(buffer).to_vec())
    }

    /// What the value is, for an error (without its contents).
    fn unexpected(&self) -> Unexpected<'static> {
        if self.is_nullish() {
            Unexpected::Unit
        } else if let Some(b) = self.0.as_bool() {
            Unexpected::Bool(b)
        } else if self.0.as_f64().is_some() {
            Unexpected::Other("number")
        } else if self.0.is_string() {
            Unexpected::Other("string")
        } else if Array::is_array(&self.0) {
            Unexpected::Seq
        } else {
            Unexpected::Other("object")
        }
    }

    fn invalid<T>(&self, expected: &dyn Expected) -> Result<T, Error> {
        Err(de::Error::invalid_type(self.unexpected(), expected))
    }
}

impl<'de> Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_nullish() {
            visitor.visit_unit()
        } else if let Some(b) = self.0.as_bool() {
            visitor.visit_bool(b)
        } else if self.0.is_bigint() {
            match i64::try_from(self.0) {
                Ok(n) => visitor.visit_i64(n),
                Err(value) => match u64::try_from(value) {
                    Ok(n) => visitor.visit_u64(n),
                    Err(_) => Err(de::Error::custom("a BigInt outside i64::MIN..u64::MAX")),
                },
            }
        } else if let Some(n) = self.0.as_f64() {
            if Number::is_safe_integer(&self.0) {
                visitor.visit_i64(n as i64)
            } else {
                visitor.visit_f64(n)
            }
        } else if let Some(s) = self.0.as_string() {
            visitor.visit_string(s)
        } else if Array::is_array(&self.0) {
            self.deserialize_seq(visitor)
        } else if let Some(bytes) = self.bytes() {
            visitor.visit_byte_buf(bytes)
        } else if self.0.is_object() {
            self.deserialize_map(visitor)
        } else {
            self.invalid(&visitor)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => self.invalid(&visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.as_string() {
            Some(s) => visitor.visit_string(s),
            None => self.invalid(&visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_nullish() { visitor.visit_none() } else { visitor.visit_some(self) }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_nullish() { visitor.visit_unit() } else { self.invalid(&visitor) }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.dyn_ref::<Array>() {
            Some(array) => visit_array(array, visitor),
            None => self.invalid(&visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    /// A plain object's own entries (keys are strings).
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if !self.0.is_object() {
            return self.invalid(&visitor);
        }
        let entries = Object::entries(self.0.unchecked_ref());
        visitor.visit_map(Entries { entries, next: 0, value: None })
    }

    /// A plain object, read by field name (inherited getters count, as in property access).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if !self.0.is_object() {
            return self.invalid(&visitor);
        }
        visitor.visit_map(Fields { object: self.0, fields: fields.iter(), value: None })
    }

    /// A unit variant as its name, any other as `{ name: payload }`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.0.is_string() {
            return visitor.visit_enum(Variant { tag: self.0, payload: JsValue::UNDEFINED });
        }
        if self.0.is_object() {
            let entries = Object::entries(self.0.unchecked_ref());
            if entries.length() != 1 {
                return Err(de::Error::invalid_length(entries.length() as usize, &"1"));
            }
            let entry: Array = entries.get(0).unchecked_into();
            return visitor.visit_enum(Variant { tag: entry.get(0), payload: entry.get(1) });
        }
        self.invalid(&visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(bytes) = self.bytes() {
            visitor.visit_byte_buf(bytes)
        } else if let Some(array) = self.0.dyn_ref::<Array>() {
            visit_array(array, visitor)
        } else {
            self.invalid(&visitor)
        }
    }

    // Integers arrive as safe-integer numbers (a BigInt too for 64 bits); serde's visitors
    // check the range. Each type is one small match rather than a copy of `deserialize_any`.
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.signed(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.signed(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.signed(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.unsigned(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.unsigned(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.unsigned(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.as_f64() {
            Some(n) => visitor.visit_f64(n),
            None => self.invalid(&visitor),
        }
    }

    // Rare types: whatever the value is.
    serde::forward_to_deserialize_any! {
        i64 i128 u64 u128 char
    }
}

impl Value {
    /// A number that is a safe integer.
    fn safe_integer(&self) -> Option<i64> {
        let n = self.0.as_f64()?;
        Number::is_safe_integer(&self.0).then_some(n as i64)
    }

    fn signed<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.safe_integer() {
            Some(n) => visitor.visit_i64(n),
            None => self.invalid(&visitor),
        }
    }

    fn unsigned<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.safe_integer() {
            Some(n) if n >= 0 => visitor.visit_u64(n as u64),
            _ => self.invalid(&visitor),
        }
    }
}

fn visit_array<'de, V: Visitor<'de>>(array: &Array, visitor: V) -> Result<V::Value, Error> {
    let mut access = Items { array: array.clone(), next: 0 };
    let length = array.length();
    let value = visitor.visit_seq(&mut access)?;
    if access.next < length {
        return Err(de::Error::invalid_length(length as usize, &"fewer elements in array"));
    }
    Ok(value)
}

struct Items {
    array: Array,
    next: u32,
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.next >= self.array.length() {
            return Ok(None);
        }
        let item = self.array.get(self.next);
        self.next += 1;
        seed.deserialize(Value(item)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.array.length().saturating_sub(self.next) as usize)
    }
}

struct Entries {
    entries: Array,
    next: u32,
    value: Option<JsValue>,
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.next >= self.entries.length() {
            return Ok(None);
        }
        let entry: Array = self.entries.get(self.next).unchecked_into();
        self.next += 1;
        self.value = Some(entry.get(1));
        seed.deserialize(Value(entry.get(0))).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Value(self.value.take().unwrap_or(JsValue::UNDEFINED)))
    }
}

struct Fields {
    object: JsValue,
    fields: std::slice::Iter<'static, &'static str>,
    value: Option<JsValue>,
}

impl<'de> de::MapAccess<'de> for Fields {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for field in self.fields.by_ref() {
            if let Some(value) = property(&self.object, field) {
                self.value = Some(value);
                return seed.deserialize((*field).into_deserializer()).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Value(self.value.take().unwrap_or(JsValue::UNDEFINED)))
    }
}

/// Property `name` of `object`; `None` if it has none (`undefined` but present counts as
/// present).
fn property(object: &JsValue, name: &str) -> Option<JsValue> {
    let key = JsValue::from_str(name);
    let value = Reflect::get(object, &key).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() && !Reflect::has(object, &key).unwrap_or(false) {
        return None;
    }
    Some(value)
}

struct Variant {
    tag: JsValue,
    payload: JsValue,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = Error;
    type Variant = Value;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Value), Error> {
        Ok((seed.deserialize(Value(self.tag))?, Value(self.payload)))
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_struct("", fields, visitor)
    }
}
