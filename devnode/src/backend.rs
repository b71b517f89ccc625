//! Where envelopes live: in this process (memory or a JSON-lines file, see
//! [`crate::store`]) or in PostgreSQL (see [`crate::postgres`]). The routes
//! only talk to [`Backend`], so a further store slots in here.

use std::sync::{Arc, Mutex};

use crate::api::EnvelopeIn;
use crate::lock;
use crate::postgres::PgStore;
use crate::store::{Page, PageQuery, Store, StoreError, StoredEnvelope};

/// One of the envelope stores.
#[derive(Debug)]
pub(crate) enum Backend {
    /// In memory, optionally persisted to a JSON-lines file.
    Local(Mutex<Store>),
    /// A PostgreSQL database.
    Postgres(PgStore),
}

impl Backend {
    /// Stores envelopes, skipping exact duplicates. Each newly stored one
    /// reaches this process's streams in the order it was stored: handed to
    /// `announce` here for a local store; through the listener of every
    /// replica for PostgreSQL, before this returns.
    pub(crate) async fn publish(
        &self,
        envelopes: Vec<EnvelopeIn>,
        announce: impl Fn(Arc<StoredEnvelope>),
    ) -> Result<(), StoreError> {
        match self {
            Self::Local(store) => {
                // Announced under the lock so streams see the store's order.
                let mut store = lock(store);
                let fresh = store.insert(envelopes).map_err(StoreError::Append)?;
                fresh.into_iter().for_each(announce);
            }
            Self::Postgres(store) => store.publish(envelopes).await?,
        }
        Ok(())
    }

    /// The store's kind if it answers; why not otherwise.
    pub(crate) async fn check(&self) -> Result<&'static str, String> {
        match self {
            Self::Local(_) => Ok("local"),
            Self::Postgres(store) => store.check().await.map(|()| "postgres"),
        }
    }

    /// Reads one page of a query.
    pub(crate) async fn page(&self, query: &PageQuery<'_>) -> Result<Page, StoreError> {
        match self {
            Self::Local(store) => Ok(lock(store).page(query)),
            Self::Postgres(store) => store.page(query).await,
        }
    }

    /// Number of distinct envelopes stored.
    pub(crate) async fn len(&self) -> Result<usize, StoreError> {
        match self {
            Self::Local(store) => Ok(lock(store).len()),
            Self::Postgres(store) => store.len().await,
        }
    }
}
