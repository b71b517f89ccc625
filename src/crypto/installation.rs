//! One installation's Olm account, its bundle and its encrypted pickle.

use sha2::{Digest, Sha256};
use vodozemac::{Curve25519PublicKey, olm::Account, olm::AccountPickle};

use super::{CryptoError, PickleKey, random_hex};
use crate::wire::{BUNDLE_VERSION, InstallationBundle, SignedFallbackKey, fallback_signing_bytes};

/// The public identity of an installation, as base64 (vodozemac's encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKeys {
    /// The curve25519 key Olm sessions are made with.
    pub curve25519: String,
    /// The ed25519 key that signs the installation's fallback keys and notices.
    pub ed25519: String,
}

/// An installation's vodozemac account. Deliberately not `Serialize`, and its `Debug` prints
/// only public keys.
pub struct Installation {
    account: Account,
    id: String,
}

impl std::fmt::Debug for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installation").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The installation id for a pair of long-term keys: hex of the first 16 bytes of
/// sha-256(identity key ‖ signing key). Deriving it from the keys means a bundle whose keys
/// were swapped no longer matches its id.
pub fn installation_id(identity_key: &[u8], signing_key: &[u8]) -> String {
    let digest = Sha256::new().chain_update(identity_key).chain_update(signing_key).finalize();
    crate::wire::hex(&digest[..16])
}

impl Installation {
    /// A new account, with fresh keys and a fallback key, from the platform's secure random
    /// source.
    pub fn generate() -> Self {
        let mut account = Account::new();
        account.generate_fallback_key();
        Self::from_account(account)
    }

    fn from_account(account: Account) -> Self {
        let keys = account.identity_keys();
        let id = installation_id(keys.curve25519.as_bytes(), keys.ed25519.as_bytes());
        Self { account, id }
    }

    pub(super) fn account(&self) -> &Account {
        &self.account
    }

    pub(super) fn account_mut(&mut self) -> &mut Account {
        &mut self.account
    }

    /// The installation id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The account's public identity keys.
    pub fn identity_keys(&self) -> IdentityKeys {
        let keys = self.account.identity_keys();
        IdentityKeys { curve25519: keys.curve25519.to_base64(), ed25519: keys.ed25519.to_base64() }
    }

    /// The current fallback key, signed by this installation's ed25519 key for its wallet.
    pub fn signed_fallback_key(
        &self,
        wallet_address: &str,
        created_at_ms: u64,
    ) -> Option<SignedFallbackKey> {
        let key: Curve25519PublicKey = self.account.fallback_key().into_values().next()?;
        let signed =
            fallback_signing_bytes(&self.id, wallet_address, key.as_bytes(), created_at_ms);
        let signature = self.account.sign(signed);
        Some(SignedFallbackKey {
            key: key.to_vec(),
            created_at_ms,
            signature: signature.to_bytes().to_vec(),
        })
    }

    /// This installation's ed25519 signature over `message` (decryption-failure notices).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.account.sign(message).to_bytes().to_vec()
    }

    /// Replaces the fallback key. vodozemac keeps the previous one, so senders that have not
    /// refreshed yet can still open sessions with it until the next rotation.
    pub fn rotate_fallback_key(&mut self) {
        self.account.generate_fallback_key();
    }

    /// The bundle to publish, without the wallet's signature (the wallet signs
    /// [`crate::wire::link_text`] of it).
    pub fn unsigned_bundle(
        &self,
        wallet_address: &str,
        created_at_ms: u64,
        expires_at_ms: u64,
        fallback_created_at_ms: u64,
    ) -> InstallationBundle {
        let keys = self.account.identity_keys();
        InstallationBundle {
            wallet_address: wallet_address.to_owned(),
            installation_id: self.id.clone(),
            identity_key: keys.curve25519.to_vec(),
            signing_key: keys.ed25519.as_bytes().to_vec(),
            created_at_ms,
            expires_at_ms,
            wallet_signature: Vec::new(),
            fallback_key: self.signed_fallback_key(wallet_address, fallback_created_at_ms),
            version: BUNDLE_VERSION,
        }
    }

    /// The account encrypted under `key`, for storage.
    pub fn to_encrypted_pickle(&self, key: &PickleKey) -> Result<String, CryptoError> {
        super::sealed::seal(&self.account.pickle(), key)
    }

    /// The account back from [`Installation::to_encrypted_pickle`].
    pub fn from_encrypted_pickle(pickle: &str, key: &PickleKey) -> Result<Self, CryptoError> {
        let pickle: AccountPickle = super::sealed::open(pickle, key)?;
        Ok(Self::from_account(Account::from_pickle(pickle)))
    }

    /// The account's private key bytes, for tests that look for them where they must not be.
    #[cfg(any(test, feature = "test-export"))]
    pub fn secret_keys_for_tests(&self) -> Vec<Vec<u8>> {
        super::secrets::byte_strings_of_len(&self.account.pickle(), 32)
    }
}

/// A fresh random id (for messages, probes): 16 bytes as hex.
pub fn random_id() -> Result<String, CryptoError> {
    random_hex::<16>().ok_or(CryptoError::NoRandomness)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn generated_installations_have_distinct_keys_and_derived_ids() {
        let (a, b) = (Installation::generate(), Installation::generate());
        assert_ne!(a.identity_keys(), b.identity_keys());
        assert_eq!(a.identity_keys().curve25519.len(), 43);
        assert_eq!(a.id().len(), 32);
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn pickles_round_trip_only_under_their_key() {
        let installation = Installation::generate();
        let key = PickleKey::from_bytes([7; 32]);
        let pickle = installation.to_encrypted_pickle(&key).unwrap();
        let back = Installation::from_encrypted_pickle(&pickle, &key).unwrap();
        assert_eq!(back.id(), installation.id());
        assert_eq!(back.identity_keys(), installation.identity_keys());
        let wrong = Installation::from_encrypted_pickle(&pickle, &PickleKey::from_bytes([8; 32]));
        assert!(matches!(wrong, Err(CryptoError::Pickle(_))));
        for secret in installation.secret_keys_for_tests() {
            assert!(!pickle.as_bytes().windows(secret.len()).any(|w| w == secret));
        }
    }

    #[test]
    fn rotation_changes_the_signed_fallback_key() {
        let mut installation = Installation::generate();
        let first = installation.signed_fallback_key("0xa", 1).unwrap();
        installation.rotate_fallback_key();
        let second = installation.signed_fallback_key("0xa", 2).unwrap();
        assert_ne!(first.key, second.key);
        assert_eq!(second.signature.len(), 64);
    }
}
