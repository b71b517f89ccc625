//! The app's wallet, as the SDK calls it: each call bounded by a timeout and, while `create`
//! runs, by the app's `AbortSignal`, with the wallet's own error kept as `cause`.

use std::{cell::RefCell, rc::Rc};

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;

use crate::{
    error::{ErrorCode, SdkError},
    js::describe,
    steps::identity::WalletSigner,
};

/// How long a wallet may take to answer by default: long enough for a person to read and
/// confirm a signature request, short enough that a wallet that never answers is reported.
pub(super) const DEFAULT_SIGNER_TIMEOUT_MS: u32 = 5 * 60 * 1000;

#[wasm_bindgen(inline_js = "export function bounded(promise, ms, signal) {
  return new Promise((resolve, reject) => {
    const end = (settle, value) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      settle(value);
    };
    const aborted = () => end(reject, { aborted: signal.reason });
    const timer = setTimeout(() => end(reject, { timeout: true }), ms);
    if (signal?.aborted) return aborted();
    signal?.addEventListener('abort', aborted);
    promise.then((v) => end(resolve, v), (e) => end(reject, { rejected: e }));
  });
}")]
extern "C" {
    /// `promise`, or a rejection `{ timeout: true }` after `ms`, or `{ aborted: reason }` when
    /// `signal` fires; a rejection of `promise` itself comes as `{ rejected: error }`.
    fn bounded(promise: &Promise, ms: u32, signal: &JsValue) -> Promise;
}

/// `create` stopped because its signal fired.
pub(super) fn cancelled() -> SdkError {
    SdkError::new(ErrorCode::Aborted, "Client.create was cancelled")
}

/// The app's signer object, called as JS would.
pub(super) struct JsSigner {
    pub(super) signer: JsValue,
    pub(super) timeout_ms: u32,
    /// The `signal` given to `create`; dropped once `create` is done.
    pub(super) signal: RefCell<JsValue>,
    pub(super) cause: Cause,
}

/// The wallet's own error behind the signer's last failure, for the app as `err.cause`. Kept
/// beside the error rather than in `SdkError`: a JS value in every error costs wasm size.
#[derive(Clone, Default)]
pub(super) struct Cause(Rc<RefCell<Option<JsValue>>>);

impl Cause {
    /// `error` for JS, with the wallet's error as its `cause` if the wallet caused it.
    pub(super) fn attach(&self, error: SdkError) -> JsValue {
        let cause = self.0.borrow_mut().take();
        let caused = matches!(error.code, ErrorCode::SignerRejected | ErrorCode::Aborted);
        let js = JsValue::from(error);
        if let (Some(cause), true) = (cause, caused) {
            // Setting a property on a fresh Error cannot fail.
            let _ = Reflect::set(&js, &"cause".into(), &cause);
        }
        js
    }

    pub(super) fn keep(&self, cause: JsValue) {
        *self.0.borrow_mut() = Some(cause);
    }
}

impl JsSigner {
    /// Whether `create`'s signal fired.
    pub(super) fn aborted(&self) -> bool {
        Reflect::get(&self.signal.borrow(), &"aborted".into()).is_ok_and(|a| a.is_truthy())
    }

    async fn call(&self, method: &str, args: &Array) -> Result<String, SdkError> {
        let function = Reflect::get(&self.signer, &method.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| {
                SdkError::new(
                    ErrorCode::InvalidArgument,
                    format!("signer.{method} is not a function"),
                )
            })?;
        let rejected = |e: JsValue| {
            let error = format!("signer.{method}: {}", describe(&e));
            self.cause.keep(e);
            SdkError::new(ErrorCode::SignerRejected, error)
        };
        let value = function.apply(&self.signer, args).map_err(rejected)?;
        let answer = Promise::resolve(&value);
        let signal = self.signal.borrow().clone();
        let value = JsFuture::from(bounded(&answer, self.timeout_ms, &signal)).await.map_err(
            |outcome| {
                let part = |name: &str| Reflect::get(&outcome, &name.into()).unwrap_or_default();
                if part("timeout").is_truthy() {
                    SdkError::new(
                        ErrorCode::SignerTimeout,
                        format!(
                            "signer.{method} did not answer within {} s (signerTimeoutMs); is \
                             the wallet waiting for the user?",
                            self.timeout_ms / 1000
                        ),
                    )
                } else if Reflect::has(&outcome, &"aborted".into()).unwrap_or(false) {
                    self.cause.keep(part("aborted"));
                    SdkError::new(
                        ErrorCode::Aborted,
                        format!("cancelled waiting for signer.{method}"),
                    )
                } else {
                    rejected(part("rejected"))
                }
            },
        )?;
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
