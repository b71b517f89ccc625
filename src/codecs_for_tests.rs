//! The JS value codecs, for the browser tests that compare them with serde_json (cargo feature
//! `test-export` only, never in the package apps install). The stored form is
//! [`crate::store::Field`], re-exported for the same tests.

use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::JsValue;

/// `value` as `to_js` writes it with `Uint8Array` bytes: store keys and index bounds, and the
/// plain data handed to apps (what `serde-wasm-bindgen` wrote, records included).
pub fn to_js_plain<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    crate::to_js::PLAIN.to_value(value).map_err(|e| e.to_string())
}

/// `value` as `to_js` writes it for `JSON.stringify`: request bodies and pickles.
pub fn to_js_json<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    crate::to_js::JSON.to_value(value).map_err(|e| e.to_string())
}

/// A `T` read from `value` by `from_js`: options, answers after `JSON.parse`, pickles.
pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, String> {
    crate::from_js::from_value(value).map_err(|e| e.to_string())
}
