//! The identity steps: open this profile's installation or create it (one wallet signature),
//! rotate its fallback key when due and publish its bundle, revoke an installation. Reading
//! and refreshing other accounts' installations is in `context` (every step needs it).

use crate::{
    crypto::{Address, CryptoError, Installation, PickleKey, WalletSignature},
    engine::{OWN_INSTALLATION, OwnInstallationRecord},
    error::{ErrorCode, SdkError},
    net::{Envelope, Node},
    store::{Changes, Store},
    wire::{
        BUNDLE_VERSION, ContactEntry, ContactEntryKind, InstallationBundle, Revocation, Topic,
        link_text, revocation_text,
    },
};

use super::context::{crypto_error, publish_bundle};

/// How long a wallet link is valid; the wallet is asked again after that.
const LINK_LIFETIME_MS: u64 = 365 * 24 * 60 * 60 * 1000;
/// How often the fallback key is replaced (the previous one keeps working until the next).
const FALLBACK_ROTATION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// The wallet, as the app hands it over (ethers and viem signers have this shape).
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub(crate) trait WalletSigner {
    /// The wallet's address, as the wallet writes it.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the browser's opening
    async fn address(&self) -> Result<String, SdkError>;
    /// An EIP-191 `personal_sign` signature over `text`, as 65-byte hex.
    async fn sign(&self, text: &str) -> Result<String, SdkError>;
}

/// This profile's installation, loaded and decrypted.
pub(crate) struct Identity {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the binding's
    pub(crate) address: Address,
    pub(crate) installation: Installation,
    pub(crate) own: OwnInstallationRecord,
    pub(crate) pickle_key: PickleKey,
}

/// This profile's installation from its record, with the pickle key that seals it.
pub(crate) fn load(
    address: Address,
    own: OwnInstallationRecord,
    pickle_key: PickleKey,
) -> Result<Identity, SdkError> {
    if own.address != address.to_string() {
        return Err(SdkError::new(
            ErrorCode::InvalidArgument,
            format!("this database belongs to {}, not to the signer's {address}", own.address),
        ));
    }
    let installation =
        Installation::from_encrypted_pickle(&own.pickle, &pickle_key).map_err(|e| match e {
            CryptoError::Pickle(reason) => SdkError::new(
                ErrorCode::WrongPickleKey,
                format!(
                    "this database is sealed under another pickleKey (nothing was changed): \
                     {reason}"
                ),
            ),
            other => SdkError::new(ErrorCode::Unsupported, other.to_string()),
        })?;
    Ok(Identity { address, installation, own, pickle_key })
}

/// A new installation linked to the wallet (one signature), sealed under `pickle_key` and
/// stored with `extra` (what keeps the key, if anything) in one transaction.
pub(crate) async fn create(
    store: &impl Store,
    address: Address,
    signer: &impl WalletSigner,
    pickle_key: PickleKey,
    mut extra: Changes,
    now_ms: u64,
) -> Result<Identity, SdkError> {
    let installation = Installation::generate();
    let expires_at_ms = now_ms.saturating_add(LINK_LIFETIME_MS);
    let mut bundle =
        installation.unsigned_bundle(&address.to_string(), now_ms, expires_at_ms, now_ms);
    bundle.wallet_signature = wallet_sign(signer, &link_text(&bundle), &address).await?;
    let own = OwnInstallationRecord {
        key: OWN_INSTALLATION.to_owned(),
        id: installation.id().to_owned(),
        address: address.to_string(),
        pickle: installation.to_encrypted_pickle(&pickle_key).map_err(crypto_error)?,
        bundle: ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes(),
        bundle_published: false,
        fallback_created_at_ms: now_ms,
        expires_at_ms,
        revoked: false,
    };
    // `insert`: if another tab created an installation meanwhile, this one is not written.
    extra.insert(&own)?;
    store.save(extra).await?;
    Ok(Identity { address, installation, own, pickle_key })
}

/// What every start does once the installation is loaded or created: rotate the fallback
/// key when due, publish the bundle if the node has not acknowledged it yet.
pub(crate) async fn start(
    store: &impl Store,
    node: &impl Node,
    mut identity: Identity,
    now_ms: u64,
) -> Result<Identity, SdkError> {
    rotate_fallback_if_due(store, &mut identity, now_ms).await?;
    if !identity.own.bundle_published {
        identity.own = publish_bundle(store, node, &identity.own).await;
    }
    Ok(identity)
}

async fn rotate_fallback_if_due(
    store: &impl Store,
    identity: &mut Identity,
    now_ms: u64,
) -> Result<(), SdkError> {
    let entry = ContactEntry::decode_bundle(&identity.own.bundle)
        .ok_or_else(|| SdkError::new(ErrorCode::Storage, "the stored bundle is unreadable"))?;
    // A bundle of an older format (made before an upgrade) is re-signed at once: the new
    // signature is the installation's own, so no wallet prompt.
    let outdated = entry.version != BUNDLE_VERSION;
    if !outdated
        && now_ms.saturating_sub(identity.own.fallback_created_at_ms) < FALLBACK_ROTATION_MS
    {
        return Ok(());
    }
    identity.installation.rotate_fallback_key();
    let mut bundle = entry;
    bundle.version = BUNDLE_VERSION;
    bundle.fallback_key = identity.installation.signed_fallback_key(&identity.own.address, now_ms);
    let mut own = identity.own.clone();
    own.pickle =
        identity.installation.to_encrypted_pickle(&identity.pickle_key).map_err(crypto_error)?;
    own.bundle = ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes();
    own.bundle_published = false;
    own.fallback_created_at_ms = now_ms;
    let mut changes = Changes::new();
    changes.put(&own)?;
    store.save(changes).await?;
    identity.own = own;
    Ok(())
}

/// How long before its link expires the app is told to renew it (`Client.linkRenewalDue`).
pub(crate) const RENEW_BEFORE_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Whether this installation's link to its wallet expires within [`RENEW_BEFORE_MS`].
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the binding's
pub(crate) fn renewal_due(own: &OwnInstallationRecord, now_ms: u64) -> bool {
    own.expires_at_ms.saturating_sub(now_ms) <= RENEW_BEFORE_MS
}

/// The bundle that renews this installation's link at `now_ms`, unsigned: the same keys and
/// fallback key, linked for another year. Made before the wallet is asked, so that no borrow
/// of the installation is held while it answers.
pub(crate) fn renewal_bundle(
    installation: &Installation,
    own: &OwnInstallationRecord,
    now_ms: u64,
) -> InstallationBundle {
    let expires_at_ms = now_ms.saturating_add(LINK_LIFETIME_MS);
    installation.unsigned_bundle(&own.address, now_ms, expires_at_ms, own.fallback_created_at_ms)
}

/// Renews the link with `bundle` ([`renewal_bundle`]; one wallet signature), stores it (only
/// if the fallback key did not rotate meanwhile) and publishes it (or at the next start or
/// refresh if the node is unreachable). Peers take the newer link at their next refresh.
pub(crate) async fn renew_link(
    store: &impl Store,
    node: &impl Node,
    signer: &impl WalletSigner,
    own: &OwnInstallationRecord,
    mut bundle: InstallationBundle,
) -> Result<OwnInstallationRecord, SdkError> {
    let address = super::context::parse_address(&own.address)?;
    bundle.wallet_signature = wallet_sign(signer, &link_text(&bundle), &address).await?;
    let renewed = OwnInstallationRecord {
        expires_at_ms: bundle.expires_at_ms,
        bundle: ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes(),
        bundle_published: false,
        ..own.clone()
    };
    let mut changes = Changes::new();
    let fallback_at = own.fallback_created_at_ms;
    changes.expect_field::<OwnInstallationRecord>(
        &OWN_INSTALLATION.to_owned(),
        "fallback_created_at_ms",
        Some(&fallback_at),
    )?;
    changes.put(&renewed)?;
    store.save(changes).await?;
    Ok(publish_bundle(store, node, &renewed).await)
}

/// Publishes the wallet's revocation of `installation_id` (one wallet signature).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the binding's
pub(crate) async fn revoke(
    node: &impl Node,
    signer: &impl WalletSigner,
    address: &Address,
    installation_id: &str,
    now_ms: u64,
) -> Result<(), SdkError> {
    let mut revocation = Revocation {
        wallet_address: address.to_string(),
        installation_id: installation_id.to_owned(),
        revoked_at_ms: now_ms,
        wallet_signature: Vec::new(),
    };
    revocation.wallet_signature =
        wallet_sign(signer, &revocation_text(&revocation), address).await?;
    let entry = ContactEntry { kind: Some(ContactEntryKind::Revocation(revocation)) };
    let envelope =
        Envelope::new(&Topic::contact(&address.to_string()), now_ms, 0, entry.to_bytes());
    Ok(node.publish(&[envelope]).await?)
}

/// Asks the wallet to sign `text` and checks the signature recovers to `address`.
async fn wallet_sign(
    signer: &impl WalletSigner,
    text: &str,
    address: &Address,
) -> Result<Vec<u8>, SdkError> {
    let signature = WalletSignature::from_hex(&signer.sign(text).await?).map_err(|e| {
        SdkError::new(ErrorCode::SignatureInvalid, format!("the wallet's signature: {e}"))
    })?;
    match signature.recover(text.as_bytes()) {
        Ok(recovered) if recovered == *address => Ok(signature.as_bytes().to_vec()),
        Ok(recovered) => Err(SdkError::new(
            ErrorCode::SignatureInvalid,
            format!("expected a signature by {address}, got one by {recovered}"),
        )),
        Err(e) => Err(SdkError::new(ErrorCode::SignatureInvalid, e.to_string())),
    }
}
