//! The pickle key at rest: wrapped with AES-GCM under a non-extractable WebCrypto key that
//! lives in IndexedDB beside it.
//!
//! The browser stores the `CryptoKey` object itself (structured clone), so page script can use
//! it through this SDK but can never read its bytes; the pickle key it wraps encrypts the
//! account and session pickles synchronously, inside the engine's steps. An app may instead
//! pass its own 32-byte key, in which case nothing of the key is stored.

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, AesKeyGenParams, CryptoKey, SubtleCrypto};

use super::{StoreError, schema::store_names};
use crate::{crypto::PickleKey, js::describe};

/// The `meta` key of the [`WrappedPickleKey`] record.
pub const WRAPPED_PICKLE_KEY: &str = "wrapped_pickle_key";

/// The pickle key, encrypted under a non-extractable AES-GCM key stored with it.
#[derive(Debug, Clone)]
pub struct WrappedPickleKey {
    /// Always [`WRAPPED_PICKLE_KEY`].
    pub key: String,
    /// The non-extractable `CryptoKey`, stored as the browser's own object.
    pub wrapping_key: JsValue,
    /// The AES-GCM nonce.
    pub iv: Vec<u8>,
    /// The encrypted pickle key.
    pub wrapped: Vec<u8>,
}

impl WrappedPickleKey {
    /// A new non-extractable wrapping key and `pickle_key` wrapped under it.
    pub async fn wrap(pickle_key: &PickleKey) -> Result<Self, StoreError> {
        let subtle = subtle()?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let params = AesKeyGenParams::new("AES-GCM", 256);
        let wrapping_key =
            await_js(subtle.generate_key_with_object(&params, false, &usages)).await?;
        let mut iv = [0u8; 12];
        getrandom::fill(&mut iv).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let key: CryptoKey = wrapping_key.clone().unchecked_into();
        let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&iv[..]));
        let wrapped =
            await_js(subtle.encrypt_with_object_and_u8_array(&params, &key, pickle_key.as_bytes()))
                .await?;
        Ok(Self {
            key: WRAPPED_PICKLE_KEY.to_owned(),
            wrapping_key,
            iv: iv.to_vec(),
            wrapped: Uint8Array::new(&wrapped).to_vec(),
        })
    }

    /// The pickle key back.
    pub async fn unwrap_pickle_key(&self) -> Result<PickleKey, StoreError> {
        let subtle = subtle()?;
        let key = self.wrapping_key.dyn_ref::<CryptoKey>().ok_or_else(|| StoreError::Decode {
            store: store_names::META,
            reason: "the stored wrapping key is not a CryptoKey".into(),
        })?;
        let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&self.iv[..]));
        let plain =
            await_js(subtle.decrypt_with_object_and_u8_array(&params, key, &self.wrapped)).await?;
        PickleKey::from_slice(&Uint8Array::new(&plain).to_vec()).ok_or_else(|| StoreError::Decode {
            store: store_names::META,
            reason: "the unwrapped pickle key is not 32 bytes".into(),
        })
    }
}

fn subtle() -> Result<SubtleCrypto, StoreError> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok())
        .ok_or_else(|| StoreError::Unavailable("WebCrypto (crypto.subtle) is missing".into()))?;
    Ok(crypto.subtle())
}

async fn await_js(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, StoreError> {
    let promise = promise.map_err(|e| StoreError::Unavailable(describe(&e)))?;
    JsFuture::from(promise).await.map_err(|e| StoreError::Decode {
        store: store_names::META,
        reason: format!("WebCrypto failed: {}", describe(&e)),
    })
}
