//! What an account publishes on its contact topic: installation bundles and revocations
//! (protobuf, via prost).
//!
//! A bundle links an installation's long-term keys to a wallet: the wallet signs the text of
//! [`link_text`], which names the address, the installation and its keys. The installation's
//! own ed25519 key signs its current fallback key together with the wallet address
//! ([`fallback_signing_bytes`]), so rotating that key needs no wallet prompt, and the link is
//! two-way: another wallet cannot relink the installation's keys to itself. A revocation is signed by the wallet over
//! [`revocation_text`].

use prost::Message;

/// The bundle format [`InstallationBundle::version`] this code makes and verifies. Version 0
/// (the field absent) signed fallback keys without the wallet address.
pub const BUNDLE_VERSION: u32 = 1;

/// The largest contact entry accepted: a bundle is a few hundred bytes, so anything near this
/// is an attempt to make clients buffer junk.
pub const MAX_CONTACT_ENTRY_BYTES: usize = 4 * 1024;

/// One entry on a contact topic.
#[derive(Clone, PartialEq, Message)]
pub struct ContactEntry {
    /// A bundle or a revocation.
    #[prost(oneof = "ContactEntryKind", tags = "1, 2")]
    pub kind: Option<ContactEntryKind>,
}

/// What a [`ContactEntry`] holds.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ContactEntryKind {
    /// An installation's public bundle.
    #[prost(message, tag = "1")]
    Bundle(InstallationBundle),
    /// The withdrawal of an installation.
    #[prost(message, tag = "2")]
    Revocation(Revocation),
}

/// An installation's public keys, linked to its wallet.
#[derive(Clone, PartialEq, Message)]
pub struct InstallationBundle {
    /// The wallet address, lower-case `0x` form.
    #[prost(string, tag = "1")]
    pub wallet_address: String,
    /// Hex of the first 16 bytes of sha-256(identity key ‖ signing key).
    #[prost(string, tag = "2")]
    pub installation_id: String,
    /// Curve25519 identity key (32 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub identity_key: Vec<u8>,
    /// Ed25519 signing key (32 bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub signing_key: Vec<u8>,
    /// When the link was made, ms since the Unix epoch.
    #[prost(uint64, tag = "5")]
    pub created_at_ms: u64,
    /// When the link stops being valid.
    #[prost(uint64, tag = "6")]
    pub expires_at_ms: u64,
    /// The wallet's 65-byte EIP-191 signature over [`link_text`].
    #[prost(bytes = "vec", tag = "7")]
    pub wallet_signature: Vec<u8>,
    /// The current fallback key, signed by the signing key.
    #[prost(message, optional, tag = "8")]
    pub fallback_key: Option<SignedFallbackKey>,
    /// The format version ([`BUNDLE_VERSION`]); covered by the fallback key's signature.
    #[prost(uint32, tag = "9")]
    pub version: u32,
}

/// A fallback key for Olm session set-up, signed by the installation.
#[derive(Clone, PartialEq, Message)]
pub struct SignedFallbackKey {
    /// Curve25519 key (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// When it was generated (newer replaces older).
    #[prost(uint64, tag = "2")]
    pub created_at_ms: u64,
    /// Ed25519 signature over [`fallback_signing_bytes`].
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

/// The wallet's withdrawal of one of its installations.
#[derive(Clone, PartialEq, Message)]
pub struct Revocation {
    /// The wallet address, lower-case `0x` form.
    #[prost(string, tag = "1")]
    pub wallet_address: String,
    /// The installation withdrawn.
    #[prost(string, tag = "2")]
    pub installation_id: String,
    /// When.
    #[prost(uint64, tag = "3")]
    pub revoked_at_ms: u64,
    /// The wallet's signature over [`revocation_text`].
    #[prost(bytes = "vec", tag = "4")]
    pub wallet_signature: Vec<u8>,
}

impl ContactEntry {
    /// The entry's protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// The bundle in `bytes`, if they hold one.
    pub fn decode_bundle(bytes: &[u8]) -> Option<InstallationBundle> {
        match Self::decode(bytes).ok()?.kind? {
            ContactEntryKind::Bundle(bundle) => Some(bundle),
            ContactEntryKind::Revocation(_) => None,
        }
    }
}

/// The text the wallet signs to link an installation: fixed, human-readable, and naming
/// everything the link vouches for.
pub fn link_text(bundle: &InstallationBundle) -> String {
    use base64::{Engine, engine::general_purpose::STANDARD};
    format!(
        "e2ee-sdk: link an installation to this wallet\n\
         \n\
         This installation will send and receive your messages.\n\
         \n\
         Address: {}\n\
         Installation: {}\n\
         Identity key: {}\n\
         Signing key: {}\n\
         Created (ms since 1970): {}\n\
         Expires (ms since 1970): {}",
        bundle.wallet_address,
        bundle.installation_id,
        STANDARD.encode(&bundle.identity_key),
        STANDARD.encode(&bundle.signing_key),
        bundle.created_at_ms,
        bundle.expires_at_ms,
    )
}

/// The text the wallet signs to revoke an installation.
pub fn revocation_text(revocation: &Revocation) -> String {
    format!(
        "e2ee-sdk: revoke an installation of this wallet\n\
         \n\
         Address: {}\n\
         Installation: {}\n\
         Revoked (ms since 1970): {}",
        revocation.wallet_address, revocation.installation_id, revocation.revoked_at_ms,
    )
}

/// What the installation's ed25519 key signs for a fallback key: bound to the installation
/// so a signature cannot be replayed on another one, and to its wallet so the bundle cannot
/// be relinked to another (the version is in the prefix).
pub fn fallback_signing_bytes(
    installation_id: &str,
    wallet_address: &str,
    key: &[u8],
    created_at_ms: u64,
) -> Vec<u8> {
    // The version in the prefix, spelled out: no number formatting in the wasm.
    const _: () = assert!(BUNDLE_VERSION == 1, "update the prefix");
    let mut bytes = b"e2ee-sdk fallback key v1\n".to_vec();
    bytes.extend_from_slice(installation_id.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(wallet_address.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&created_at_ms.to_be_bytes());
    bytes
}
