//! Opening the database at a schema version: the object stores and indexes the upgrade
//! creates, in idb's terms but without its builder (whose hash sets and index maps cost the
//! wasm ~8 KB for a list of eight stores).
//!
//! The upgrade does what idb's builder did: each listed store is created if missing, each of
//! its indexes (re)created unless an identical one exists, indexes and stores no longer
//! listed are deleted. Data is never moved.

use idb::{
    Database, DatabaseEvent as _, Error, Event as _, Factory, IndexParams, KeyPath,
    ObjectStoreParams, Request as _, request::OpenDatabaseRequest,
};
use wasm_bindgen::JsValue;

/// The database `name` at a version, with its stores; [`DatabaseBuilder::build`] opens it.
pub(super) struct DatabaseBuilder {
    name: String,
    version: Option<u32>,
    stores: Vec<ObjectStore>,
}

/// An object store of a [`DatabaseBuilder`].
pub(super) struct ObjectStore {
    name: String,
    key_path: Option<KeyPath>,
    auto_increment: Option<bool>,
    indexes: Vec<Index>,
}

/// An index of an [`ObjectStore`].
pub(super) struct Index {
    name: String,
    key_path: KeyPath,
    unique: Option<bool>,
    multi_entry: Option<bool>,
}

impl DatabaseBuilder {
    /// The database `name`, with no stores yet.
    pub(super) fn new(name: &str) -> Self {
        Self { name: name.to_owned(), version: None, stores: Vec::new() }
    }

    /// The version to open (and upgrade to).
    pub(super) fn version(mut self, version: u32) -> Self {
        self.version = Some(version);
        self
    }

    /// Adds (or replaces) an object store.
    pub(super) fn add_object_store(mut self, store: ObjectStore) -> Self {
        match self.stores.iter_mut().find(|s| s.name == store.name) {
            Some(same_name) => *same_name = store,
            None => self.stores.push(store),
        }
        self
    }

    /// Opens the database, running the upgrade if its version is older. Once open, the
    /// connection closes itself when another tab upgrades or deletes the database.
    pub(super) async fn build(self) -> Result<Database, Error> {
        let mut request = Factory::new()?.open(&self.name, self.version)?;
        request.on_upgrade_needed(move |event| {
            let upgraded = event
                .target()
                .and_then(|request| Ok((event.database()?, request)))
                .and_then(|(database, request)| self.upgrade(&database, &request));
            if upgraded.is_err() {
                // The open then fails with an AbortError instead of leaving a half-built
                // schema at the new version.
                if let Some(tx) = event.target().ok().and_then(|r| r.transaction()) {
                    let _ = tx.abort();
                }
            }
        });
        let mut database = request.await?;
        database.on_version_change(|event| {
            if let Ok(database) = event.database() {
                database.close();
            }
        });
        Ok(database)
    }

    fn upgrade(self, database: &Database, request: &OpenDatabaseRequest) -> Result<(), Error> {
        let existing = database.store_names();
        for store in &self.stores {
            store.apply(database, request, &existing)?;
        }
        for name in existing {
            if !self.stores.iter().any(|s| s.name == name) {
                database.delete_object_store(&name)?;
            }
        }
        Ok(())
    }
}

impl ObjectStore {
    /// A store named `name`, keyed out of line unless given a key path.
    pub(super) fn new(name: &str) -> Self {
        Self { name: name.to_owned(), key_path: None, auto_increment: None, indexes: Vec::new() }
    }

    /// The record field that is its primary key.
    pub(super) fn key_path(mut self, key_path: &str) -> Self {
        self.key_path = Some(KeyPath::new_single(key_path));
        self
    }

    /// Whether keys are generated.
    pub(super) fn auto_increment(mut self, auto_increment: bool) -> Self {
        self.auto_increment = Some(auto_increment);
        self
    }

    /// Adds an index.
    pub(super) fn add_index(mut self, index: Index) -> Self {
        self.indexes.push(index);
        self
    }

    fn apply(
        &self,
        database: &Database,
        request: &OpenDatabaseRequest,
        existing: &[String],
    ) -> Result<(), Error> {
        let store = if existing.contains(&self.name) {
            // An upgrade always runs in a versionchange transaction.
            let tx = request.transaction();
            let tx = tx.ok_or(Error::UnexpectedJsType("IDBTransaction", JsValue::UNDEFINED))?;
            tx.object_store(&self.name)?
        } else {
            let mut params = ObjectStoreParams::new();
            if let Some(auto_increment) = self.auto_increment {
                params.auto_increment(auto_increment);
            }
            if let Some(key_path) = &self.key_path {
                params.key_path(Some(key_path.clone()));
            }
            database.create_object_store(&self.name, params)?
        };
        for index in &self.indexes {
            index.apply(&store)?;
        }
        for name in store.index_names() {
            if !self.indexes.iter().any(|i| i.name == name) {
                store.delete_index(&name)?;
            }
        }
        Ok(())
    }
}

impl Index {
    /// An index named `name` on the field `key_path`.
    pub(super) fn new(name: &str, key_path: &str) -> Self {
        Self::with_key_path(name, KeyPath::new_single(key_path))
    }

    /// An index named `name` on several fields, compared in order.
    pub(super) fn new_array<'a>(name: &str, key_path: impl IntoIterator<Item = &'a str>) -> Self {
        Self::with_key_path(name, KeyPath::new_array(key_path))
    }

    fn with_key_path(name: &str, key_path: KeyPath) -> Self {
        Self { name: name.to_owned(), key_path, unique: None, multi_entry: None }
    }

    /// Whether an array field indexes each of its elements.
    pub(super) fn multi_entry(mut self, multi_entry: bool) -> Self {
        self.multi_entry = Some(multi_entry);
        self
    }

    fn apply(&self, store: &idb::ObjectStore) -> Result<(), Error> {
        if let Ok(existing) = store.index(&self.name) {
            // As idb compared: an option left unset never matches, so the index is rebuilt.
            let same = existing.key_path()?.as_ref() == Some(&self.key_path)
                && Some(existing.unique()) == self.unique
                && Some(existing.multi_entry()) == self.multi_entry;
            if same {
                return Ok(());
            }
            store.delete_index(&self.name)?;
        }
        let mut params = IndexParams::new();
        if let Some(unique) = self.unique {
            params.unique(unique);
        }
        if let Some(multi_entry) = self.multi_entry {
            params.multi_entry(multi_entry);
        }
        store.create_index(&self.name, self.key_path.clone(), Some(params))?;
        Ok(())
    }
}
