//! Pickles at rest: vodozemac's pickle structs as JSON, sealed with ChaCha20-Poly1305 under
//! the pickle key (a fresh random nonce each time), as base64. The same sealing, as bytes
//! bound to a label, keeps message content and payloads at rest ([`seal_bytes`]).
//!
//! vodozemac's own `pickle().encrypt()` would do the same through serde_json, which costs the
//! wasm about 57 KB; in the browser the JSON here goes through the browser's own
//! `JSON.stringify`/`JSON.parse` instead (natively, serde_json: same text).

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    ChaCha20Poly1305, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{CryptoError, PickleKey};

const NONCE_LEN: usize = 12;

/// `value` as JSON, sealed under `key`.
pub(super) fn seal(value: &impl Serialize, key: &PickleKey) -> Result<String, CryptoError> {
    Ok(STANDARD.encode(seal_bytes(&to_json(value)?, b"", key)?))
}

/// The value [`seal`] sealed; any tampering, truncation or wrong key is an error.
pub(super) fn open<T: DeserializeOwned>(sealed: &str, key: &PickleKey) -> Result<T, CryptoError> {
    let bytes = STANDARD.decode(sealed).map_err(|e| CryptoError::Pickle(e.to_string()))?;
    from_json(&open_bytes(&bytes, b"", key)?)
}

// Sealing and opening are kept out of the generic functions so they are not copied per type.

/// `bytes` sealed under `key` (nonce, then ciphertext and tag), bound to `label`: they open
/// only under the same label (the record they belong to), so sealed values cannot be swapped
/// between records unnoticed.
pub fn seal_bytes(bytes: &[u8], label: &[u8], key: &PickleKey) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| CryptoError::NoRandomness)?;
    let cipher = ChaCha20Poly1305::new(key.as_bytes().into());
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: bytes, aad: label })
        .map_err(|_| CryptoError::Pickle("sealing failed".into()))?;
    Ok([&nonce[..], &sealed].concat())
}

/// The bytes [`seal_bytes`] sealed under `label`; any tampering, truncation, other label or
/// wrong key is an error.
pub fn open_bytes(sealed: &[u8], label: &[u8], key: &PickleKey) -> Result<Vec<u8>, CryptoError> {
    let (nonce, body) = sealed
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(|| CryptoError::Pickle("the sealed value is truncated".into()))?;
    let cipher = ChaCha20Poly1305::new(key.as_bytes().into());
    cipher
        .decrypt(&Nonce::from(*nonce), Payload { msg: body, aad: label })
        .map_err(|_| CryptoError::Pickle("wrong key, or the sealed value was altered".into()))
}

#[cfg(not(target_arch = "wasm32"))]
fn to_json(value: &impl Serialize) -> Result<Vec<u8>, CryptoError> {
    serde_json::to_vec(value).map_err(|e| CryptoError::Pickle(e.to_string()))
}

#[cfg(not(target_arch = "wasm32"))]
fn from_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, CryptoError> {
    serde_json::from_slice(json).map_err(|e| CryptoError::Pickle(e.to_string()))
}

#[cfg(target_arch = "wasm32")]
fn to_json(value: &impl Serialize) -> Result<Vec<u8>, CryptoError> {
    let js = crate::to_js::JSON.to_value(value).map_err(|e| CryptoError::Pickle(e.to_string()))?;
    stringify(&js)
}

#[cfg(target_arch = "wasm32")]
fn stringify(js: &wasm_bindgen::JsValue) -> Result<Vec<u8>, CryptoError> {
    let text =
        js_sys::JSON::stringify(js).map_err(|e| CryptoError::Pickle(crate::js::describe(&e)))?;
    Ok(String::from(text).into_bytes())
}

#[cfg(target_arch = "wasm32")]
fn from_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, CryptoError> {
    crate::from_js::from_value(parse_json(json)?).map_err(|e| CryptoError::Pickle(e.to_string()))
}

#[cfg(target_arch = "wasm32")]
fn parse_json(json: &[u8]) -> Result<wasm_bindgen::JsValue, CryptoError> {
    let text = std::str::from_utf8(json).map_err(|e| CryptoError::Pickle(e.to_string()))?;
    js_sys::JSON::parse(text).map_err(|e| CryptoError::Pickle(crate::js::describe(&e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sealed_values_open_only_intact_and_under_their_key() {
        let key = PickleKey::from_bytes([5; 32]);
        let sealed = seal(&vec![1u32, 2, 3], &key).unwrap();
        assert_ne!(sealed, seal(&vec![1u32, 2, 3], &key).unwrap(), "a fresh nonce each time");
        assert_eq!(open::<Vec<u32>>(&sealed, &key).unwrap(), [1, 2, 3]);
        assert!(open::<Vec<u32>>(&sealed, &PickleKey::from_bytes([6; 32])).is_err());
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(open::<Vec<u32>>(&STANDARD.encode(&bytes), &key).is_err());
        assert!(open::<Vec<u32>>(&STANDARD.encode(&bytes[..5]), &key).is_err());
        assert!(open::<Vec<u32>>("not base64!", &key).is_err());
    }

    #[test]
    fn sealed_bytes_open_only_under_their_label() {
        let key = PickleKey::from_bytes([5; 32]);
        let sealed = seal_bytes(b"hello", b"messages/1", &key).unwrap();
        assert_eq!(open_bytes(&sealed, b"messages/1", &key).unwrap(), b"hello");
        assert!(open_bytes(&sealed, b"messages/2", &key).is_err());
        assert!(open_bytes(&sealed, b"messages/1", &PickleKey::from_bytes([6; 32])).is_err());
        assert!(open_bytes(&sealed[..11], b"messages/1", &key).is_err());
    }
}
