//! The errors JS sees: an `Error` with a stable string `code` to branch on.

use wasm_bindgen::prelude::*;

use crate::{net::NetError, store::StoreError};

#[wasm_bindgen(typescript_custom_section)]
const TS_ERRORS: &str = r#"
/** Stable codes carried by every error the SDK throws, as `err.code`. */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "NETWORK"
  | "NODE_REJECTED"
  | "PROTOCOL"
  | "STORAGE"
  | "STORAGE_UNAVAILABLE"
  | "QUOTA_EXCEEDED"
  | "CLOSED"
  | "UNSUPPORTED"
  | "INVALID_ADDRESS"
  | "SIGNER_REJECTED"
  | "SIGNATURE_INVALID"
  | "STORAGE_EVICTED"
  | "INSTALLATION_REVOKED"
  | "RETRY_LATER"
  | "SIGNER_TIMEOUT"
  | "ABORTED"
  | "WRONG_PICKLE_KEY";
"#;

crate::engine::named! {
    /// What kind of failure an error is; JS reads it as `err.code`.
    pub enum ErrorCode {
        /// The app passed something unusable (a missing option, a malformed address).
        InvalidArgument = "INVALID_ARGUMENT",
        /// The node could not be reached or did not answer in time.
        Network = "NETWORK",
        /// The node answered with an error.
        NodeRejected = "NODE_REJECTED",
        /// The node's answer was not what the protocol promises.
        Protocol = "PROTOCOL",
        /// A database operation failed; nothing of it was written.
        Storage = "STORAGE",
        /// IndexedDB cannot be opened here (or holds a newer schema).
        StorageUnavailable = "STORAGE_UNAVAILABLE",
        /// The origin's storage quota is used up.
        QuotaExceeded = "QUOTA_EXCEEDED",
        /// The client was closed.
        Closed = "CLOSED",
        /// This environment lacks something the SDK needs (secure randomness, IndexedDB).
        Unsupported = "UNSUPPORTED",
        /// An address is not `0x` + 40 hex digits (or has a bad checksum).
        InvalidAddress = "INVALID_ADDRESS",
        /// The wallet (signer) refused or failed to sign, or to give its address.
        SignerRejected = "SIGNER_REJECTED",
        /// A signature does not recover to the address it claims.
        SignatureInvalid = "SIGNATURE_INVALID",
        /// This profile's installation is gone from IndexedDB (evicted or deleted) although the
        /// app had one: the SDK will not silently make a new identity.
        StorageEvicted = "STORAGE_EVICTED",
        /// The wallet revoked this installation: it no longer sends.
        InstallationRevoked = "INSTALLATION_REVOKED",
        /// Transient: a step must wait before it can decide (a payload from an installation
        /// not known here, its account fetched moments ago); the pass is retried later.
        RetryLater = "RETRY_LATER",
        /// The wallet did not answer within `signerTimeoutMs`.
        SignerTimeout = "SIGNER_TIMEOUT",
        /// The app cancelled the call (its `AbortSignal` fired).
        Aborted = "ABORTED",
        /// This profile's database is sealed under another pickle key than the one given
        /// (or under the app's own key, and none was given); nothing was changed.
        WrongPickleKey = "WRONG_PICKLE_KEY",
    }
}

impl ErrorCode {
    /// The code as JS sees it: the same as [`ErrorCode::name`].
    pub fn as_str(self) -> &'static str {
        self.name()
    }
}

/// An error on its way to JS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SdkError {
    /// Its code.
    pub code: ErrorCode,
    /// A readable explanation.
    pub message: String,
}

impl SdkError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<NetError> for SdkError {
    fn from(error: NetError) -> Self {
        let code = match &error {
            NetError::Node { .. } | NetError::Http { .. } => ErrorCode::NodeRejected,
            NetError::Network(_) | NetError::Timeout(_) | NetError::Aborted => ErrorCode::Network,
            NetError::Decode(_) | NetError::Encode(_) | NetError::TooLarge(_) => {
                ErrorCode::Protocol
            }
        };
        Self::new(code, error.to_string())
    }
}

impl From<StoreError> for SdkError {
    fn from(error: StoreError) -> Self {
        let code = match &error {
            StoreError::Unavailable(_) | StoreError::NewerSchema { .. } => {
                ErrorCode::StorageUnavailable
            }
            StoreError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            StoreError::Evicted => ErrorCode::StorageEvicted,
            StoreError::Transaction(_)
            | StoreError::Conflict { .. }
            | StoreError::Encode { .. }
            | StoreError::Decode { .. } => ErrorCode::Storage,
        };
        Self::new(code, error.to_string())
    }
}

impl From<SdkError> for JsValue {
    fn from(error: SdkError) -> Self {
        let js = js_sys::Error::new(&error.message);
        js.set_name("SdkError");
        // Setting a property on a fresh Error cannot fail; if it somehow did, the message
        // still reaches JS.
        let _ = js_sys::Reflect::set(&js, &"code".into(), &error.code.as_str().into());
        js.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_stable_codes() {
        let code = |e: SdkError| e.code.as_str();
        assert_eq!(code(NetError::Timeout(1).into()), "NETWORK");
        assert_eq!(code(NetError::Http { status: 500 }.into()), "NODE_REJECTED");
        assert_eq!(code(NetError::Decode("x".into()).into()), "PROTOCOL");
        assert_eq!(code(StoreError::NewerSchema { supported: 1 }.into()), "STORAGE_UNAVAILABLE");
        assert_eq!(code(StoreError::QuotaExceeded("full".into()).into()), "QUOTA_EXCEEDED");
        assert_eq!(code(StoreError::Transaction("x".into()).into()), "STORAGE");
    }
}
