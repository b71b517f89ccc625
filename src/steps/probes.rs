//! Probes for the steps' native tests: a [`Store`] that logs every call a step makes (each is
//! one transaction), and a [`Node`] that logs every publish, fails the ones a test picks,
//! takes a few turns to answer (so that whatever runs beside it gets to run) and checks, as
//! each publish starts and before it answers, that no payload is `SENT` that the node has
//! not acknowledged.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use serde::Serialize;

use crate::{
    collections::VecSet,
    engine::{MessageRecord, MessageState, OutboundPayloadRecord, OutboundPayloadState},
    net::{
        Envelope, NetError, Node, QueryRequest, QueryResponse,
        memory::{MemoryNode, MemorySubscription},
    },
    store::{Changes, Record, Store, StoreError, memory::MemoryStore, memory::yield_now},
    wire::Topic,
};

/// One store call: its kind (`get`, `get_many`, `by_index`, `save`, ...), the object store
/// it read (empty for a save), and whether a publish was in flight meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::steps) struct Call {
    pub(in crate::steps) kind: &'static str,
    pub(in crate::steps) store: &'static str,
    pub(in crate::steps) during_publish: bool,
}

/// One publish request and its outcome.
#[derive(Debug, Clone)]
pub(in crate::steps) struct Publish {
    pub(in crate::steps) envelopes: Vec<Envelope>,
    pub(in crate::steps) acknowledged: bool,
}

/// What the probes saw, shared by the store and the node.
#[derive(Default)]
pub(in crate::steps) struct Log {
    pub(in crate::steps) calls: RefCell<Vec<Call>>,
    pub(in crate::steps) publishes: RefCell<Vec<Publish>>,
    publishing: Cell<bool>,
}

impl Log {
    /// The calls of `kind` on `store`.
    pub(in crate::steps) fn count(&self, kind: &str, store: &str) -> usize {
        self.calls.borrow().iter().filter(|c| c.kind == kind && c.store == store).count()
    }

    /// The reads (every call but a save) of `store`.
    pub(in crate::steps) fn reads_of(&self, store: &str) -> usize {
        self.calls.borrow().iter().filter(|c| c.kind != "save" && c.store == store).count()
    }

    /// The saves (transactions that write).
    pub(in crate::steps) fn saves(&self) -> usize {
        self.count("save", "")
    }
}

/// Picks the reads that fail, given each as it is logged.
type ReadFault = Box<dyn FnMut(&Call) -> bool>;

/// Picks the saves that fail, given the changes each would write.
type SaveFault = Box<dyn FnMut(&Changes) -> bool>;

/// A [`MemoryStore`] that logs each call, fails the reads and saves a test picks, and lets
/// "another writer" commit just before the next save (the memory store also fails saves
/// itself).
#[derive(Clone)]
pub(in crate::steps) struct CountingStore {
    pub(in crate::steps) inner: MemoryStore,
    pub(in crate::steps) log: Rc<Log>,
    read_fault: Rc<RefCell<Option<ReadFault>>>,
    save_fault: Rc<RefCell<Option<SaveFault>>>,
    racing: Rc<RefCell<Option<Changes>>>,
}

impl CountingStore {
    pub(in crate::steps) fn new(inner: &MemoryStore, log: &Rc<Log>) -> Self {
        Self {
            inner: inner.clone(),
            log: log.clone(),
            read_fault: Rc::default(),
            save_fault: Rc::default(),
            racing: Rc::default(),
        }
    }

    /// Fails each read for which `fault` answers `true` (with [`StoreError::Transaction`]).
    pub(in crate::steps) fn fail_reads_when(&self, fault: impl FnMut(&Call) -> bool + 'static) {
        *self.read_fault.borrow_mut() = Some(Box::new(fault));
    }

    /// Fails each save for whose changes `fault` answers `true`, writing nothing.
    pub(in crate::steps) fn fail_saves_when(&self, fault: impl FnMut(&Changes) -> bool + 'static) {
        *self.save_fault.borrow_mut() = Some(Box::new(fault));
    }

    /// Commits `changes` just before the next save, as another writer would.
    pub(in crate::steps) fn race_next_save(&self, changes: Changes) {
        *self.racing.borrow_mut() = Some(changes);
    }

    /// Logs a call; a read the fault picks fails.
    fn note(&self, kind: &'static str, store: &'static str) -> Result<(), StoreError> {
        let call = Call { kind, store, during_publish: self.log.publishing.get() };
        self.log.calls.borrow_mut().push(call);
        let mut fault = self.read_fault.borrow_mut();
        let fails = kind != "save" && fault.as_mut().is_some_and(|fault| fault(&call));
        if fails {
            return Err(StoreError::Transaction(format!("injected: {kind} on {store} failed")));
        }
        Ok(())
    }
}

impl Store for CountingStore {
    async fn get<R: Record>(&self, key: &R::Key) -> Result<Option<R>, StoreError> {
        self.note("get", R::STORE)?;
        self.inner.get(key).await
    }

    async fn get_many<R: Record>(&self, keys: &[R::Key]) -> Result<Vec<Option<R>>, StoreError> {
        self.note("get_many", R::STORE)?;
        self.inner.get_many(keys).await
    }

    async fn by_index_each<R: Record, K: Serialize>(
        &self,
        index: &str,
        keys: &[K],
    ) -> Result<Vec<Vec<R>>, StoreError> {
        self.note("by_index_each", R::STORE)?;
        self.inner.by_index_each(index, keys).await
    }

    async fn all<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        self.note("all", R::STORE)?;
        self.inner.all().await
    }

    async fn by_index<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError> {
        self.note("by_index", R::STORE)?;
        self.inner.by_index(index, lower, upper, limit).await
    }

    async fn by_index_newest_first<R: Record>(
        &self,
        index: &str,
        lower: &(impl Serialize + ?Sized),
        upper: &(impl Serialize + ?Sized),
        limit: u32,
    ) -> Result<Vec<R>, StoreError> {
        self.note("by_index_newest_first", R::STORE)?;
        self.inner.by_index_newest_first(index, lower, upper, limit).await
    }

    async fn starting_at<R: Record>(
        &self,
        from: &R::Key,
        limit: Option<u32>,
    ) -> Result<Vec<R>, StoreError> {
        self.note("starting_at", R::STORE)?;
        self.inner.starting_at(from, limit).await
    }

    async fn save(&self, changes: Changes) -> Result<(), StoreError> {
        if !changes.is_empty() {
            self.note("save", "")?;
        }
        let racing = self.racing.borrow_mut().take();
        if let Some(racing) = racing {
            self.inner.save(racing).await?;
        }
        let fails = self.save_fault.borrow_mut().as_mut().is_some_and(|fault| fault(&changes));
        if fails {
            return Err(StoreError::Transaction("injected: this save fails".into()));
        }
        self.inner.save(changes).await
    }
}

/// A [`MemoryNode`] that logs each publish, fails the ones `fail` picks, and checks that
/// `store` marks nothing `SENT` that it did not acknowledge.
pub(in crate::steps) struct RecordingNode {
    pub(in crate::steps) inner: MemoryNode,
    pub(in crate::steps) log: Rc<Log>,
    /// Read behind the counting store's back, for the checks.
    store: MemoryStore,
    /// Given the publish's number (from 0), the error it fails with and whether the node
    /// stored the envelopes anyway (a lost acknowledgement).
    #[allow(clippy::type_complexity)]
    fail: RefCell<Box<dyn FnMut(usize) -> Option<(NetError, bool)>>>,
}

impl RecordingNode {
    pub(in crate::steps) fn new(inner: &MemoryNode, store: &MemoryStore, log: &Rc<Log>) -> Self {
        Self {
            inner: inner.clone(),
            log: log.clone(),
            store: store.clone(),
            fail: RefCell::new(Box::new(|_| None)),
        }
    }

    /// Fails the publishes `fail` picks by their number (from 0) with an error, the
    /// envelopes stored anyway if it says so.
    pub(in crate::steps) fn fail_when(
        &self,
        fail: impl FnMut(usize) -> Option<(NetError, bool)> + 'static,
    ) {
        *self.fail.borrow_mut() = Box::new(fail);
    }

    /// Panics if a payload is `SENT` whose envelope no acknowledged publish carried, or a
    /// message is `SENT` with a payload that is not.
    async fn check_nothing_unacknowledged_is_sent(&self) {
        let acknowledged: VecSet<Vec<u8>> = self
            .log
            .publishes
            .borrow()
            .iter()
            .filter(|p| p.acknowledged)
            .flat_map(|p| p.envelopes.iter().map(|e| e.message.clone()))
            .collect();
        let payloads = self.store.all::<OutboundPayloadRecord>().await.unwrap();
        for payload in payloads.iter().filter(|p| p.state == OutboundPayloadState::Sent) {
            assert!(
                acknowledged.contains(&payload.payload),
                "payload {:?} is SENT but no publish was acknowledged for it",
                payload.seq
            );
        }
        let messages = self.store.all::<MessageRecord>().await.unwrap();
        for message in messages.iter().filter(|m| m.state == MessageState::Sent) {
            let unsent = payloads.iter().find(|p| {
                p.message_ids.contains(&message.id) && p.state != OutboundPayloadState::Sent
            });
            assert!(unsent.is_none(), "message {} is SENT before {unsent:?}", message.id);
        }
    }
}

impl Node for RecordingNode {
    type Subscription = MemorySubscription;

    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), NetError> {
        let number = self.log.publishes.borrow().len();
        self.log.publishing.set(true);
        self.check_nothing_unacknowledged_is_sent().await;
        // A few turns on the wire: what runs beside the publish runs now.
        for _ in 0..8 {
            yield_now().await;
        }
        let failure = (self.fail.borrow_mut())(number);
        let outcome = match failure {
            Some((error, stored)) => {
                if stored {
                    self.inner.publish(envelopes).await.unwrap();
                }
                Err(error)
            }
            None => self.inner.publish(envelopes).await,
        };
        self.check_nothing_unacknowledged_is_sent().await;
        self.log.publishing.set(false);
        let acknowledged = outcome.is_ok();
        self.log
            .publishes
            .borrow_mut()
            .push(Publish { envelopes: envelopes.to_vec(), acknowledged });
        outcome
    }

    async fn query(&self, request: &QueryRequest) -> Result<QueryResponse, NetError> {
        self.inner.query(request).await
    }

    fn subscribe(&self, topics: &[Topic]) -> MemorySubscription {
        self.inner.subscribe(topics)
    }
}
