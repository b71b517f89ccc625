//! One installation's Olm account.

use vodozemac::olm::Account;

/// The public identity of an installation, as base64 (vodozemac's encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKeys {
    /// The curve25519 key Olm sessions are made with.
    pub curve25519: String,
    /// The ed25519 key that signs the installation's fallback keys and notices.
    pub ed25519: String,
}

/// An installation's vodozemac account. Deliberately not `Serialize` and with no `Debug`
/// that prints secrets.
pub struct Installation {
    account: Account,
}

impl std::fmt::Debug for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installation").field("identity_keys", &self.identity_keys()).finish()
    }
}

impl Installation {
    /// A new account with fresh keys from the platform's secure random source.
    pub fn generate() -> Self {
        Self { account: Account::new() }
    }

    /// The account's public identity keys.
    pub fn identity_keys(&self) -> IdentityKeys {
        let keys = self.account.identity_keys();
        IdentityKeys { curve25519: keys.curve25519.to_base64(), ed25519: keys.ed25519.to_base64() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_installations_have_distinct_keys() {
        let (a, b) =
            (Installation::generate().identity_keys(), Installation::generate().identity_keys());
        assert_ne!(a, b);
        // 32-byte keys in unpadded base64.
        assert_eq!(a.curve25519.len(), 43);
        assert_eq!(a.ed25519.len(), 43);
    }
}
