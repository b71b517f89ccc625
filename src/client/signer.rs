//! The app's wallet, as the SDK calls it.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::{
    error::{ErrorCode, SdkError},
    js::describe,
    steps::identity::WalletSigner,
};

/// The app's signer object, called as JS would.
pub(super) struct JsSigner(pub(super) JsValue);

impl JsSigner {
    async fn call(&self, method: &str, args: &Array) -> Result<String, SdkError> {
        let function = js_sys::Reflect::get(&self.0, &method.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| {
                SdkError::new(
                    ErrorCode::InvalidArgument,
                    format!("signer.{method} is not a function"),
                )
            })?;
        let rejected = |e: JsValue| {
            SdkError::new(ErrorCode::SignerRejected, format!("signer.{method}: {}", describe(&e)))
        };
        let mut value = function.apply(&self.0, args).map_err(rejected)?;
        if let Some(promise) = value.dyn_ref::<Promise>() {
            value = JsFuture::from(promise.clone()).await.map_err(rejected)?;
        }
        value.as_string().ok_or_else(|| {
            SdkError::new(
                ErrorCode::SignerRejected,
                format!("signer.{method} did not give a string"),
            )
        })
    }
}

impl WalletSigner for JsSigner {
    async fn address(&self) -> Result<String, SdkError> {
        self.call("getAddress", &Array::new()).await
    }

    async fn sign(&self, text: &str) -> Result<String, SdkError> {
        self.call("signMessage", &Array::of1(&text.into())).await
    }
}
