//! JSON through the browser's own parser: `JSON.parse`/`JSON.stringify` plus
//! `to_js`/`from_js`, so the wasm needs no JSON code of its own.

use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::JsValue;

use super::NetError;
use crate::js::describe;

/// Encodes a request body.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String, NetError> {
    let js = crate::to_js::JSON.to_value(value).map_err(|e| NetError::Encode(e.to_string()))?;
    stringify(&js)
}

// The JSON halves are kept out of the generic functions so they are not copied per type.
fn stringify(js: &JsValue) -> Result<String, NetError> {
    js_sys::JSON::stringify(js).map(String::from).map_err(|e| NetError::Encode(describe(&e)))
}

/// Decodes an answer; anything malformed is a [`NetError::Decode`].
pub(super) fn decode<T: DeserializeOwned>(text: &str) -> Result<T, NetError> {
    crate::from_js::from_value(parse(text)?).map_err(|e| NetError::Decode(e.to_string()))
}

fn parse(text: &str) -> Result<JsValue, NetError> {
    js_sys::JSON::parse(text).map_err(|e| NetError::Decode(describe(&e)))
}
