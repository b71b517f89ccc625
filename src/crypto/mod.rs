//! Olm accounts (vodozemac), pickling, and the checks that link installations to wallets.
//!
//! Everything here is synchronous and pure: secrets never leave this module unencrypted
//! (live vodozemac types are not `Serialize`; storage sees only encrypted pickles), and
//! anything from the network is verified here before the engine sees it.

mod installation;
mod pickle_key;
mod random;
mod sealed;
#[cfg(any(test, feature = "test-export"))]
mod secrets;
mod session;
mod verify;
mod wallet;

pub use installation::{IdentityKeys, Installation, installation_id, random_id};
pub use pickle_key::PickleKey;
pub use random::random_hex;
pub use sealed::{open_bytes, seal_bytes};
pub use session::{OlmCiphertext, OlmSession, OpenError};
pub use verify::{
    BundleError, ContactFact, VerifiedBundle, VerifiedRevocation, reverify_contact_entry,
    verify_contact_entry, verify_installation_signature,
};
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) use wallet::sign_for_tests;
pub use wallet::{Address, AddressError, SignatureError, WalletSignature, eip191_hash};

/// A failure of the local cryptography (not of a peer's data: that is [`BundleError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A stored pickle could not be decrypted or decoded: the wrong key, or corrupted data.
    #[error("could not restore a pickle: {0}")]
    Pickle(String),
    /// The platform has no secure random source.
    #[error("no secure random source is available")]
    NoRandomness,
    /// An Olm session could not be created or could not encrypt (a bad peer key, say).
    #[error("Olm session failure: {0}")]
    Session(String),
}
