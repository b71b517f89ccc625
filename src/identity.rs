//! The identity steps, each read → network → compute → one transaction: open or create this
//! profile's installation, refresh an account's installations, revoke one.
//!
//! This is the layer between the binding and the parts: it awaits the wallet, the node and
//! IndexedDB, and leaves every decision to `engine/` and `crypto/`.

use crate::{
    crypto::{
        Address, CryptoError, Installation, PickleKey, WalletSignature, verify_contact_entry,
    },
    engine::{
        InstallationRecord, OWN_INSTALLATION, OwnInstallationRecord, SessionRecord, UserRecord,
        needs_refresh, plan_refresh,
    },
    error::{ErrorCode, SdkError},
    net::{Envelope, NodeClient},
    store::{Changes, Store, WRAPPED_PICKLE_KEY, WrappedPickleKey, index},
    wire::{ContactEntry, ContactEntryKind, Revocation, Topic, link_text, revocation_text},
};

/// How long a wallet link is valid; the wallet is asked again after that.
const LINK_LIFETIME_MS: u64 = 365 * 24 * 60 * 60 * 1000;
/// How often the fallback key is replaced (the previous one keeps working until the next).
const FALLBACK_ROTATION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// The wallet, as the app hands it over (ethers and viem signers have this shape).
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub(crate) trait WalletSigner {
    /// The wallet's address, as the wallet writes it.
    async fn address(&self) -> Result<String, SdkError>;
    /// An EIP-191 `personal_sign` signature over `text`, as 65-byte hex.
    async fn sign(&self, text: &str) -> Result<String, SdkError>;
}

/// This profile's installation, loaded and decrypted.
pub(crate) struct Identity {
    pub(crate) address: Address,
    pub(crate) installation: Installation,
    pub(crate) own: OwnInstallationRecord,
    pub(crate) pickle_key: PickleKey,
}

/// Where the app learns that a profile had an installation: `localStorage` survives the
/// IndexedDB eviction this guards against.
pub(crate) struct EvictionMarker(String);

impl EvictionMarker {
    pub(crate) fn new(db_name: &str) -> Self {
        Self(format!("e2ee-sdk:installation:{db_name}"))
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    fn get(&self) -> Option<String> {
        Self::storage()?.get_item(&self.0).ok()?
    }

    fn set(&self, installation_id: &str) {
        if let Some(storage) = Self::storage() {
            // Best effort: without localStorage, eviction just cannot be told from a first start.
            let _ = storage.set_item(&self.0, installation_id);
        }
    }

    pub(crate) fn clear(&self) {
        if let Some(storage) = Self::storage() {
            let _ = storage.remove_item(&self.0);
        }
    }
}

/// Loads this profile's installation, or creates it (one wallet signature) on first start.
pub(crate) async fn open_or_create(
    store: &Store,
    node: &NodeClient,
    signer: &impl WalletSigner,
    marker: &EvictionMarker,
    app_key: Option<PickleKey>,
    now_ms: u64,
) -> Result<Identity, SdkError> {
    let address = parse_address(&signer.address().await?)?;
    let own = store.get::<OwnInstallationRecord>(&OWN_INSTALLATION.to_owned()).await?;
    let mut identity = match own {
        Some(own) => load(store, address, own, app_key).await?,
        None => {
            if let Some(id) = marker.get() {
                return Err(SdkError::new(
                    ErrorCode::StorageEvicted,
                    format!(
                        "this profile's installation {id} is gone from IndexedDB (evicted or \
                         deleted); refusing to create a new identity silently. Call \
                         Client.deleteLocalData(dbName) to start over."
                    ),
                ));
            }
            create(store, address, signer, app_key, now_ms).await?
        }
    };
    marker.set(&identity.own.id);
    rotate_fallback_if_due(store, &mut identity, now_ms).await?;
    if !identity.own.bundle_published {
        identity.own = publish_bundle(store, node, &identity.own).await;
    }
    Ok(identity)
}

async fn load(
    store: &Store,
    address: Address,
    own: OwnInstallationRecord,
    app_key: Option<PickleKey>,
) -> Result<Identity, SdkError> {
    if own.address != address.to_string() {
        return Err(SdkError::new(
            ErrorCode::InvalidArgument,
            format!("this database belongs to {}, not to the signer's {address}", own.address),
        ));
    }
    let pickle_key =
        match app_key {
            Some(key) => key,
            None => store
                .get::<WrappedPickleKey>(&WRAPPED_PICKLE_KEY.to_owned())
                .await?
                .ok_or_else(|| {
                    SdkError::new(
                        ErrorCode::Storage,
                        "the installation is encrypted with an app key: pass the same pickleKey",
                    )
                })?
                .unwrap_pickle_key()
                .await?,
        };
    let installation =
        Installation::from_encrypted_pickle(&own.pickle, &pickle_key).map_err(|e| match e {
            CryptoError::Pickle(reason) => SdkError::new(
                ErrorCode::Storage,
                format!("cannot decrypt this installation (wrong pickleKey?): {reason}"),
            ),
            other => SdkError::new(ErrorCode::Unsupported, other.to_string()),
        })?;
    Ok(Identity { address, installation, own, pickle_key })
}

async fn create(
    store: &Store,
    address: Address,
    signer: &impl WalletSigner,
    app_key: Option<PickleKey>,
    now_ms: u64,
) -> Result<Identity, SdkError> {
    let installation = Installation::generate();
    let expires_at_ms = now_ms.saturating_add(LINK_LIFETIME_MS);
    let mut bundle =
        installation.unsigned_bundle(&address.to_string(), now_ms, expires_at_ms, now_ms);
    bundle.wallet_signature = wallet_sign(signer, &link_text(&bundle), &address).await?;
    let (pickle_key, wrapped) = match app_key {
        Some(key) => (key, None),
        None => {
            let key = PickleKey::generate()
                .map_err(|e| SdkError::new(ErrorCode::Unsupported, e.to_string()))?;
            let wrapped = WrappedPickleKey::wrap(&key).await?;
            (key, Some(wrapped))
        }
    };
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
    let mut changes = Changes::new();
    // `insert`: if another tab created an installation meanwhile, this one is not written.
    changes.insert(&own)?;
    if let Some(wrapped) = &wrapped {
        changes.insert(wrapped)?;
    }
    store.save(changes).await?;
    Ok(Identity { address, installation, own, pickle_key })
}

async fn rotate_fallback_if_due(
    store: &Store,
    identity: &mut Identity,
    now_ms: u64,
) -> Result<(), SdkError> {
    if now_ms.saturating_sub(identity.own.fallback_created_at_ms) < FALLBACK_ROTATION_MS {
        return Ok(());
    }
    let entry = ContactEntry::decode_bundle(&identity.own.bundle)
        .ok_or_else(|| SdkError::new(ErrorCode::Storage, "the stored bundle is unreadable"))?;
    identity.installation.rotate_fallback_key();
    let mut bundle = entry;
    bundle.fallback_key = identity.installation.signed_fallback_key(now_ms);
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

/// Publishes the own bundle and returns the record marked published; a failure returns it
/// unchanged, to retry on the next start or refresh rather than failing the app's call.
pub(crate) async fn publish_bundle(
    store: &Store,
    node: &NodeClient,
    own: &OwnInstallationRecord,
) -> OwnInstallationRecord {
    let envelope = Envelope {
        content_topic: Topic::contact(&own.address).to_string(),
        timestamp_ns: own.fallback_created_at_ms.saturating_mul(1_000_000),
        message: own.bundle.clone(),
    };
    if node.publish(std::slice::from_ref(&envelope)).await.is_err() {
        return own.clone();
    }
    let published = OwnInstallationRecord { bundle_published: true, ..own.clone() };
    let mut changes = Changes::new();
    if changes.put(&published).is_ok() && store.save(changes).await.is_ok() {
        return published;
    }
    own.clone()
}

/// What [`installations`] found.
pub(crate) struct Installations {
    /// The account's installations, as stored after any refresh.
    pub(crate) installations: Vec<InstallationRecord>,
    /// This profile's record, updated if the refresh published or revoked it.
    pub(crate) own: OwnInstallationRecord,
}

/// An account's installations, fetched first if the last fetch is older than
/// `threshold_ms` (one read, the network, then one transaction).
pub(crate) async fn installations(
    store: &Store,
    node: &NodeClient,
    own: &OwnInstallationRecord,
    address: &Address,
    threshold_ms: u64,
    now_ms: u64,
) -> Result<Installations, SdkError> {
    let key = address.to_string();
    let user = store.get::<UserRecord>(&key).await?;
    let local = local_installations(store, &key).await?;
    if !needs_refresh(user.as_ref(), now_ms, threshold_ms) {
        return Ok(Installations { installations: local, own: own.clone() });
    }
    let mut own =
        if own.bundle_published { own.clone() } else { publish_bundle(store, node, own).await };

    let envelopes = node.query_all(&[Topic::contact(&key)]).await?;
    let facts: Vec<_> =
        envelopes.iter().map(|e| verify_contact_entry(&e.message, address, now_ms)).collect();
    let plan = plan_refresh(&key, &local, &facts, now_ms);

    let mut changes = Changes::new();
    changes.put(&plan.user)?;
    for installation in &plan.put {
        changes.put(installation)?;
    }
    for id in &plan.delete {
        changes.delete::<InstallationRecord>(id)?.delete::<SessionRecord>(id)?;
    }
    if key == own.address && plan.revoked.contains(&own.id) && !own.revoked {
        own.revoked = true;
        changes.put(&own)?;
    }
    store.save(changes).await?;
    Ok(Installations { installations: local_installations(store, &key).await?, own })
}

async fn local_installations(
    store: &Store,
    address: &str,
) -> Result<Vec<InstallationRecord>, SdkError> {
    Ok(store
        .by_index::<InstallationRecord>(index::INSTALLATIONS_BY_ADDRESS, address, address, None)
        .await?)
}

/// Publishes the wallet's revocation of `installation_id` (one wallet signature).
pub(crate) async fn revoke(
    node: &NodeClient,
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
    let envelope = Envelope {
        content_topic: Topic::contact(&address.to_string()).to_string(),
        timestamp_ns: now_ms.saturating_mul(1_000_000),
        message: ContactEntry { kind: Some(ContactEntryKind::Revocation(revocation)) }.to_bytes(),
    };
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

/// A local cryptography failure (no randomness, a pickle that will not seal) as JS sees it.
pub(crate) fn crypto_error(error: CryptoError) -> SdkError {
    SdkError::new(ErrorCode::Unsupported, error.to_string())
}

/// Parses an address from the app or the wallet.
pub(crate) fn parse_address(text: &str) -> Result<Address, SdkError> {
    Address::parse(text).map_err(|e| SdkError::new(ErrorCode::InvalidAddress, e.to_string()))
}
