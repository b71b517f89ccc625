//! Verification of what arrives on a contact topic. Every check a forged or broken entry can
//! fail has its own [`BundleError`] variant and stable code, so a refresh can record why each
//! entry was refused and still take the valid ones beside it.

use prost::Message;
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use super::{Address, AddressError, installation_id, wallet::WalletSignature};
use crate::wire::{
    BUNDLE_VERSION, ContactEntry, ContactEntryKind, InstallationBundle, MAX_CONTACT_ENTRY_BYTES,
    MAX_SAFE_INTEGER, Revocation, fallback_signing_bytes, link_text, revocation_text,
};

/// A verified entry of a contact topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactFact {
    /// A bundle whose every signature checks out and which has not expired.
    Bundle(VerifiedBundle),
    /// A wallet-signed revocation.
    Revocation(VerifiedRevocation),
}

/// A bundle that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedBundle {
    /// The bundle.
    pub bundle: InstallationBundle,
    /// When its fallback key was made: of two bundles of one installation, the newer wins.
    pub fallback_created_at_ms: u64,
}

/// A revocation that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRevocation {
    /// The installation withdrawn.
    pub installation_id: String,
    /// When.
    pub revoked_at_ms: u64,
}

/// Why a contact entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a well-formed entry: truncated protobuf, a missing field, a key of the wrong length.
    #[error("malformed contact entry: {0}")]
    Malformed(String),
    /// Larger than any honest entry.
    #[error("expected a contact entry of at most {max} bytes, got {size}")]
    Oversized {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The address it names is not an address.
    #[error("invalid wallet address: {0}")]
    InvalidAddress(AddressError),
    /// It names another account than the topic it was published on.
    #[error("expected an entry for {expected}, got one for {got}")]
    AddressMismatch {
        /// The topic's account.
        expected: String,
        /// The entry's.
        got: String,
    },
    /// The wallet signature does not recover to the named address (forged or altered).
    #[error("the wallet signature does not recover to {expected}{}", recovered_note(.recovered))]
    SignatureInvalid {
        /// The named address.
        expected: String,
        /// What it recovered to, if anything.
        recovered: Option<String>,
    },
    /// The keys do not hash to the installation id: a key was swapped.
    #[error("the installation id {0} does not match its keys")]
    KeyMismatch(String),
    /// The fallback key's ed25519 signature is bad.
    #[error("the fallback key of installation {0} is not signed by it")]
    FallbackSignatureInvalid(String),
    /// The link expired.
    #[error("installation {installation_id} expired at {expired_at_ms}")]
    Expired {
        /// The installation.
        installation_id: String,
        /// When it expired.
        expired_at_ms: u64,
    },
    /// The wallet revoked the installation.
    #[error("installation {0} was revoked by its wallet")]
    Revoked(String),
    /// A bundle of another format version (an installation that has not republished since
    /// an upgrade): its fallback key is not bound to its wallet.
    #[error("a bundle of another format version")]
    Version {
        /// The installation.
        installation_id: String,
    },
    /// A number out of its sane window (past 2^53 − 1, which JS cannot hold exactly, or an
    /// expiry years ahead).
    #[error("the {0} of the entry is out of range")]
    OutOfRange(&'static str),
    /// The installation is already another account's here: one account's refresh never
    /// moves another account's installation.
    #[error("installation {installation_id} already belongs to {owner}")]
    Claimed {
        /// The installation.
        installation_id: String,
        /// The account it belongs to.
        owner: String,
    },
    /// Past the most installations used per account (the newest are kept).
    #[error("installation {0}: too many installations")]
    TooMany(String),
}

fn recovered_note(recovered: &Option<String>) -> String {
    recovered.as_ref().map(|a| format!(", got {a}")).unwrap_or_default()
}

impl BundleError {
    /// The stable code apps and tests read.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "MALFORMED",
            Self::Oversized { .. } => "OVERSIZED",
            Self::InvalidAddress(_) => "INVALID_ADDRESS",
            Self::AddressMismatch { .. } => "ADDRESS_MISMATCH",
            Self::SignatureInvalid { .. } => "SIGNATURE_INVALID",
            Self::KeyMismatch(_) => "KEY_MISMATCH",
            Self::FallbackSignatureInvalid(_) => "FALLBACK_SIGNATURE_INVALID",
            Self::Expired { .. } => "BUNDLE_EXPIRED",
            Self::Revoked(_) => "INSTALLATION_REVOKED",
            Self::Version { .. } => "BUNDLE_VERSION",
            Self::OutOfRange(..) => "BUNDLE_RANGE",
            Self::Claimed { .. } => "INSTALLATION_CLAIMED",
            Self::TooMany(_) => "TOO_MANY_INSTALLATIONS",
        }
    }

    /// The installation the entry was about, when it could be read.
    pub fn installation_id(&self) -> Option<&str> {
        match self {
            Self::KeyMismatch(id)
            | Self::FallbackSignatureInvalid(id)
            | Self::Revoked(id)
            | Self::TooMany(id) => Some(id),
            Self::Expired { installation_id, .. }
            | Self::Version { installation_id, .. }
            | Self::Claimed { installation_id, .. } => Some(installation_id),
            _ => None,
        }
    }
}

/// Verifies one entry of `topic_address`'s contact topic at time `now_ms`.
pub fn verify_contact_entry(
    bytes: &[u8],
    topic_address: &Address,
    now_ms: u64,
) -> Result<ContactFact, BundleError> {
    verify_entry(bytes, topic_address, now_ms, false)
}

/// [`verify_contact_entry`] of an entry whose signatures verified before (the same bytes on
/// the same topic): every other check is redone, the costly signature checks are not.
pub fn reverify_contact_entry(
    bytes: &[u8],
    topic_address: &Address,
    now_ms: u64,
) -> Result<ContactFact, BundleError> {
    verify_entry(bytes, topic_address, now_ms, true)
}

fn verify_entry(
    bytes: &[u8],
    topic_address: &Address,
    now_ms: u64,
    signed: bool,
) -> Result<ContactFact, BundleError> {
    if bytes.len() > MAX_CONTACT_ENTRY_BYTES {
        return Err(BundleError::Oversized { size: bytes.len(), max: MAX_CONTACT_ENTRY_BYTES });
    }
    let entry = ContactEntry::decode(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
    match entry.kind {
        Some(ContactEntryKind::Bundle(bundle)) => {
            verify_bundle(bundle, topic_address, now_ms, signed)
        }
        Some(ContactEntryKind::Revocation(revocation)) => {
            verify_revocation(revocation, topic_address, now_ms, signed)
        }
        None => Err(BundleError::Malformed("the entry is empty".into())),
    }
}

/// Whether `signature` is the installation with ed25519 key `signing_key`'s signature over
/// `message` (its fallback keys, its decryption-failure notices).
pub fn verify_installation_signature(signing_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let key =
        <&[u8; 32]>::try_from(signing_key).ok().and_then(|k| Ed25519PublicKey::from_slice(k).ok());
    let (Some(key), Ok(signature)) = (key, Ed25519Signature::from_slice(signature)) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

fn verify_bundle(
    bundle: InstallationBundle,
    topic_address: &Address,
    now_ms: u64,
    signed: bool,
) -> Result<ContactFact, BundleError> {
    check_address(&bundle.wallet_address, topic_address)?;
    if bundle.version != BUNDLE_VERSION {
        return Err(BundleError::Version { installation_id: bundle.installation_id });
    }
    let fallback_created = bundle.fallback_key.as_ref().map_or(0, |f| f.created_at_ms);
    in_range("creation time", bundle.created_at_ms, now_ms.saturating_add(MAX_AHEAD_MS))?;
    in_range("fallback key time", fallback_created, now_ms.saturating_add(MAX_AHEAD_MS))?;
    in_range("expiry", bundle.expires_at_ms, now_ms.saturating_add(MAX_EXPIRY_AHEAD_MS))?;
    let identity = key32(&bundle.identity_key, "identity key")?;
    let signing = key32(&bundle.signing_key, "signing key")?;
    if installation_id(&identity, &signing) != bundle.installation_id {
        return Err(BundleError::KeyMismatch(bundle.installation_id));
    }
    if !signed {
        let text = link_text(&bundle);
        check_wallet_signature(&bundle.wallet_signature, text.as_bytes(), topic_address)?;
    }

    let fallback = bundle
        .fallback_key
        .as_ref()
        .ok_or_else(|| BundleError::Malformed("the bundle has no fallback key".into()))?;
    key32(&fallback.key, "fallback key")?;
    let signing_bytes = fallback_signing_bytes(
        &bundle.installation_id,
        &bundle.wallet_address,
        &fallback.key,
        fallback.created_at_ms,
    );
    if !signed && !verify_installation_signature(&signing, &signing_bytes, &fallback.signature) {
        return Err(BundleError::FallbackSignatureInvalid(bundle.installation_id.clone()));
    }

    if bundle.expires_at_ms <= now_ms {
        return Err(BundleError::Expired {
            installation_id: bundle.installation_id,
            expired_at_ms: bundle.expires_at_ms,
        });
    }
    let fallback_created_at_ms = fallback.created_at_ms;
    Ok(ContactFact::Bundle(VerifiedBundle { bundle, fallback_created_at_ms }))
}

fn verify_revocation(
    revocation: Revocation,
    topic_address: &Address,
    now_ms: u64,
    signed: bool,
) -> Result<ContactFact, BundleError> {
    check_address(&revocation.wallet_address, topic_address)?;
    in_range("revocation time", revocation.revoked_at_ms, now_ms.saturating_add(MAX_AHEAD_MS))?;
    if !signed {
        let text = revocation_text(&revocation);
        check_wallet_signature(&revocation.wallet_signature, text.as_bytes(), topic_address)?;
    }
    Ok(ContactFact::Revocation(VerifiedRevocation {
        installation_id: revocation.installation_id,
        revoked_at_ms: revocation.revoked_at_ms,
    }))
}

/// How far past this clock an entry may be dated (clocks differ).
const MAX_AHEAD_MS: u64 = 24 * 60 * 60 * 1000;
/// How far past this clock a link may expire (links are made for a year).
const MAX_EXPIRY_AHEAD_MS: u64 = 2 * 365 * 24 * 60 * 60 * 1000;

/// Refuses `value` past `max` or past what a JS number holds.
fn in_range(field: &'static str, value: u64, max: u64) -> Result<(), BundleError> {
    if value > max.min(MAX_SAFE_INTEGER) {
        return Err(BundleError::OutOfRange(field));
    }
    Ok(())
}

fn check_address(named: &str, topic_address: &Address) -> Result<(), BundleError> {
    let address = Address::parse(named).map_err(BundleError::InvalidAddress)?;
    if address != *topic_address {
        return Err(BundleError::AddressMismatch {
            expected: topic_address.to_string(),
            got: address.to_string(),
        });
    }
    Ok(())
}

fn check_wallet_signature(
    signature: &[u8],
    message: &[u8],
    expected: &Address,
) -> Result<(), BundleError> {
    let recovered = WalletSignature::from_bytes(signature).and_then(|s| s.recover(message)).ok();
    if recovered.as_ref() == Some(expected) {
        return Ok(());
    }
    Err(BundleError::SignatureInvalid {
        expected: expected.to_string(),
        recovered: recovered.map(|a| a.to_string()),
    })
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32], BundleError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        BundleError::Malformed(format!("expected a 32-byte {what}, got {} bytes", bytes.len()))
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
