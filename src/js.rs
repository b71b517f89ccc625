//! Small helpers for values crossing from JS.

use wasm_bindgen::{JsCast, JsValue};

/// A readable description of a thrown JS value: an `Error`'s name and message, a string as
/// is, anything else as the browser would print it.
pub(crate) fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return format!("{}: {}", String::from(error.name()), String::from(error.message()));
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// The `name` of a thrown `Error` or `DOMException` (`"AbortError"`, `"QuotaExceededError"`).
#[cfg(target_arch = "wasm32")]
pub(crate) fn error_name(value: &JsValue) -> Option<String> {
    js_sys::Reflect::get(value, &JsValue::from_str("name")).ok()?.as_string()
}
