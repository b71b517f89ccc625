//! Opening the database at a schema version: the object stores and indexes the upgrade
//! creates.
//!
//! The upgrade does what the `idb` crate's builder did: each listed store is created if
//! missing, each of its indexes (re)created unless an identical one exists, indexes and
//! stores no longer listed are deleted. Data is never moved.

use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::{
    IdbDatabase, IdbIndexParameters, IdbObjectStore, IdbObjectStoreParameters, IdbTransaction,
};

use super::idb::{Database, Error, strings};

/// The database `name` at a version, with its stores; [`DatabaseBuilder::build`] opens it.
pub(super) struct DatabaseBuilder {
    name: String,
    version: Option<u32>,
    stores: Vec<ObjectStore>,
}

/// An object store of a [`DatabaseBuilder`].
pub(super) struct ObjectStore {
    name: String,
    key_path: Option<String>,
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

#[derive(PartialEq)]
enum KeyPath {
    Single(String),
    Array(Vec<String>),
}

impl KeyPath {
    fn to_js(&self) -> JsValue {
        match self {
            Self::Single(path) => JsValue::from_str(path),
            Self::Array(paths) => {
                paths.iter().map(|p| JsValue::from_str(p)).collect::<Array>().into()
            }
        }
    }

    fn from_js(value: &JsValue) -> Option<Self> {
        if let Some(path) = value.as_string() {
            return Some(Self::Single(path));
        }
        let paths = value.dyn_ref::<Array>()?.iter().map(|p| p.as_string());
        paths.collect::<Option<_>>().map(Self::Array)
    }
}

use wasm_bindgen::JsCast as _;

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

    /// Opens the database, running the upgrade if its version is older.
    pub(super) async fn build(self) -> Result<Database, Error> {
        let (name, version) = (self.name.clone(), self.version);
        Database::open(&name, version, move |db, tx| self.upgrade(db, tx)).await
    }

    fn upgrade(self, db: &IdbDatabase, tx: &IdbTransaction) -> Result<(), Error> {
        let existing = strings(&db.object_store_names());
        for store in &self.stores {
            store.apply(db, tx, &existing)?;
        }
        for name in existing {
            if !self.stores.iter().any(|s| s.name == name) {
                db.delete_object_store(&name).map_err(Error::thrown)?;
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
        self.key_path = Some(key_path.to_owned());
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
        db: &IdbDatabase,
        tx: &IdbTransaction,
        existing: &[String],
    ) -> Result<(), Error> {
        let store = if existing.contains(&self.name) {
            tx.object_store(&self.name)
        } else {
            let params = IdbObjectStoreParameters::new();
            if let Some(auto_increment) = self.auto_increment {
                params.set_auto_increment(auto_increment);
            }
            if let Some(key_path) = &self.key_path {
                params.set_key_path(&JsValue::from_str(key_path));
            }
            db.create_object_store_with_optional_parameters(&self.name, &params)
        }
        .map_err(Error::thrown)?;
        for index in &self.indexes {
            index.apply(&store)?;
        }
        for name in strings(&store.index_names()) {
            if !self.indexes.iter().any(|i| i.name == name) {
                store.delete_index(&name).map_err(Error::thrown)?;
            }
        }
        Ok(())
    }
}

impl Index {
    /// An index named `name` on the field `key_path`.
    pub(super) fn new(name: &str, key_path: &str) -> Self {
        Self::with_key_path(name, KeyPath::Single(key_path.to_owned()))
    }

    /// An index named `name` on several fields, compared in order.
    pub(super) fn new_array<'a>(name: &str, key_path: impl IntoIterator<Item = &'a str>) -> Self {
        Self::with_key_path(name, KeyPath::Array(key_path.into_iter().map(str::to_owned).collect()))
    }

    fn with_key_path(name: &str, key_path: KeyPath) -> Self {
        Self { name: name.to_owned(), key_path, unique: None, multi_entry: None }
    }

    /// Whether an array field indexes each of its elements.
    pub(super) fn multi_entry(mut self, multi_entry: bool) -> Self {
        self.multi_entry = Some(multi_entry);
        self
    }

    fn apply(&self, store: &IdbObjectStore) -> Result<(), Error> {
        if let Ok(existing) = store.index(&self.name) {
            // As idb compared: an option left unset never matches, so the index is rebuilt.
            let key_path = existing.key_path().map_err(Error::thrown)?;
            let same = KeyPath::from_js(&key_path).as_ref() == Some(&self.key_path)
                && Some(existing.unique()) == self.unique
                && Some(existing.multi_entry()) == self.multi_entry;
            if same {
                return Ok(());
            }
            store.delete_index(&self.name).map_err(Error::thrown)?;
        }
        let params = IdbIndexParameters::new();
        if let Some(unique) = self.unique {
            params.set_unique(unique);
        }
        if let Some(multi_entry) = self.multi_entry {
            params.set_multi_entry(multi_entry);
        }
        store
            .create_index_with_str_sequence_and_optional_parameters(
                &self.name,
                &self.key_path.to_js(),
                &params,
            )
            .map_err(Error::thrown)?;
        Ok(())
    }
}
