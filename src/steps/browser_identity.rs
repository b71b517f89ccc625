//! Opening this profile's installation in the browser: the pickle key is the app's or one
//! the SDK generated and keeps wrapped under a non-extractable WebCrypto key, and a marker in
//! `localStorage` tells an evicted database from a first start.

use super::identity::{self, Identity, WalletSigner};
use crate::{
    crypto::PickleKey,
    engine::{OWN_INSTALLATION, OwnInstallationRecord},
    error::{ErrorCode, SdkError},
    net::NodeClient,
    store::{Changes, IdbStore, Store, WRAPPED_PICKLE_KEY, WrappedPickleKey},
};

use super::context::parse_address;

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
    store: &IdbStore,
    node: &NodeClient,
    signer: &impl WalletSigner,
    marker: &EvictionMarker,
    app_key: Option<PickleKey>,
    now_ms: u64,
) -> Result<Identity, SdkError> {
    let address = parse_address(&signer.address().await?)?;
    let own = store.get::<OwnInstallationRecord>(&OWN_INSTALLATION.to_owned()).await?;
    let identity = match own {
        Some(own) => {
            let key = match app_key {
                Some(key) => key,
                None => {
                    store
                        .get::<WrappedPickleKey>(&WRAPPED_PICKLE_KEY.to_owned())
                        .await?
                        .ok_or_else(|| {
                            SdkError::new(
                                ErrorCode::WrongPickleKey,
                                "this database is sealed under the app's own pickleKey: pass \
                                 the same pickleKey (nothing was changed)",
                            )
                        })?
                        .unwrap_pickle_key()
                        .await?
                }
            };
            identity::load(address, own, key)?
        }
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
            let mut extra = Changes::new();
            let key = match app_key {
                Some(key) => key,
                None => {
                    let key = PickleKey::generate()
                        .map_err(|e| SdkError::new(ErrorCode::Unsupported, e.to_string()))?;
                    extra.insert(&WrappedPickleKey::wrap(&key).await?)?;
                    key
                }
            };
            identity::create(store, address, signer, key, extra, now_ms).await?
        }
    };
    marker.set(&identity.own.id);
    identity::start(store, node, identity, now_ms).await
}
