//! [`Context`]: what every state step is given, and the helpers they share: reading an
//! account's installations (refreshed past THRESHOLD), publishing this installation's bundle,
//! unsealing a stored session.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    task::Poll,
};

#[path = "sender.rs"]
mod sender;
pub(crate) use sender::{VerifiedEntries, verified_sender};

use crate::{
    crypto::{Address, BundleError, CryptoError, Installation, OlmSession, PickleKey},
    engine::{
        DeliveryUpdate, INBOX_CURSOR, InboundPayloadRecord, InboundPayloadState, InboxCursorRecord,
        InstallationRecord, OwnInstallationRecord, RejectedEntry, Rejection, SessionRecord,
        SessionUpdate, UserRecord, needs_refresh, plan_refresh, processed,
    },
    error::{ErrorCode, SdkError},
    net::{Cursor, Envelope, IndexCursor, Node},
    store::{Changes, Store, StoreError, index},
    wire::Topic,
};

/// Times a step is redone when another writer moved what it read.
const CONFLICT_RETRIES: u32 = 5;

/// Commits what `attempt` plans from fresh reads (its writes and what to return), redoing
/// it while another writer moved what it read ([`StoreError::Conflict`]).
pub(crate) async fn commit<S: Store, T, F: Future<Output = Result<(Changes, T), SdkError>>>(
    store: &S,
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> Result<T, SdkError> {
    for _ in 0..CONFLICT_RETRIES {
        let (changes, value) = attempt().await?;
        match store.save(changes).await {
            Ok(()) => return Ok(value),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SdkError::new(ErrorCode::Storage, format!("{what} kept changing under the step")))
}

/// Awaits `a` and `b` together: two reads in flight at once cost one round trip, not two.
pub(crate) async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut from_a, mut from_b) = (None, None);
    std::future::poll_fn(move |cx| {
        // (A future that finished is not polled again.)
        if from_a.is_none() {
            if let Poll::Ready(done) = a.as_mut().poll(cx) {
                from_a = Some(done);
            }
        }
        if from_b.is_none() {
            if let Poll::Ready(done) = b.as_mut().poll(cx) {
                from_b = Some(done);
            }
        }
        match (from_a.take(), from_b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (from_a, from_b) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

/// Times one item (a received payload, a queued message) is tried in a row before it is
/// refused or `FAILED`: a save the browser aborts now and then passes on a retry; what fails
/// five times running is in the item (a number the database cannot hold, say).
pub(crate) const TRIES: u32 = 5;

/// Whether an error is this side's environment, not the item's: nothing can go on.
pub(crate) fn stops_the_pass(error: &SdkError) -> bool {
    use ErrorCode::*;
    matches!(error.code, StorageUnavailable | QuotaExceeded | StorageEvicted | Closed | Unsupported)
}

/// Whether an error may pass by itself (the node unreachable or refusing, a sender's refresh
/// rate-limited): the item waits, uncounted, as a message waits while the node is down.
pub(crate) fn waits(error: &SdkError) -> bool {
    use ErrorCode::*;
    stops_the_pass(error) || matches!(error.code, Network | NodeRejected | RetryLater)
}

/// This installation as its processors hold it in memory: loaded from the store at start,
/// dropped on a reload (the store keeps everything that matters).
pub(crate) struct Local {
    /// The Olm account.
    pub(crate) installation: RefCell<Installation>,
    /// Its record (bundle, revoked).
    pub(crate) own: RefCell<OwnInstallationRecord>,
    /// Seals pickles at rest.
    pub(crate) pickle_key: PickleKey,
    /// How old an account's installation list may be before it is fetched again.
    pub(crate) refresh_threshold_ms: u64,
    /// Drop each payload's bytes once the node acknowledged it (the hash stays).
    pub(crate) delete_sent_payloads: bool,
    /// Faults the tests inject.
    pub(crate) faults: Faults,
    /// What the next pass must pull from the inbox.
    pub(crate) pull_needed: Cell<Pull>,
    /// When the inbox was last pulled (this installation's clock), if it was.
    pub(crate) pulled_at_ms: Cell<Option<u64>>,
    /// Contact entries verified before (a refresh re-reads every entry of a topic).
    pub(crate) verified: VerifiedEntries,
    /// What the inbox subscription covers.
    pub(crate) stream: InboxStream,
}

/// What the inbox subscription covers, in memory: a connection that was open before a pull
/// started and is still open when it finished brings everything published since that pull
/// (or ends, and the reconnection asks for a catch-up), so what it streams is processed at
/// once, without a pull from the cursor first, and moves the saved cursor as a pull would.
#[derive(Debug, Default)]
pub(crate) struct InboxStream {
    /// The current connection: bumped by each (re)connection (0: none yet).
    pub(crate) connection: Cell<u64>,
    /// The connection a pull covered up to (see above), if one did.
    pub(crate) synced: Cell<Option<u64>>,
    /// The latest envelope time read in full since the last (re)connection: by a pull, or
    /// from a covered connection. Payloads up to it may be processed, as payloads up to the
    /// saved cursor may; unlike the cursor it may lie ahead of this installation's clock (a
    /// sender whose clock runs ahead is processed, not held back).
    pub(crate) read_upto_ns: Cell<Option<u64>>,
    /// The newest cursor this session saved (a pull's or the stream's): the stream moves the
    /// saved cursor only past it, without reading it back per envelope.
    pub(crate) saved: RefCell<Option<Cursor>>,
}

impl InboxStream {
    /// Whether the current connection is covered by a pull.
    pub(crate) fn is_synced(&self) -> bool {
        self.synced.get() == Some(self.connection.get())
    }

    /// Notes that everything up to `time_ns` was read in full.
    pub(crate) fn read_upto(&self, time_ns: u64) {
        self.read_upto_ns.set(self.read_upto_ns.get().max(Some(time_ns)));
    }
}

/// What the next pass must pull from the inbox, the larger need winning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Pull {
    /// Nothing: the stream brought nothing new.
    Nothing,
    /// From the saved cursor: the stream brought an envelope, which is processed only once a
    /// pull has read everything before it (nothing is processed ahead of a gap).
    FromCursor,
    /// From a while before the saved cursor (at start, after the stream reconnects): the
    /// node orders envelopes by their senders' clocks, so one published while this side was
    /// not listening may sit behind the cursor.
    CatchUp,
}

impl Local {
    /// Asks the next pass for at least `pull`.
    pub(crate) fn need(&self, pull: Pull) {
        self.pull_needed.set(self.pull_needed.get().max(pull));
    }
}

impl Local {
    /// The context of one pass over `store` and `node`, with the time from `now_ms`.
    pub(crate) fn context<'a, S: Store, N: Node>(
        &'a self,
        store: &'a S,
        node: &'a N,
        now_ms: &'a dyn Fn() -> u64,
    ) -> Context<'a, S, N> {
        Context {
            store,
            node,
            installation: &self.installation,
            own: &self.own,
            pickle_key: &self.pickle_key,
            refresh_threshold_ms: self.refresh_threshold_ms,
            now_ms,
            delete_sent_payloads: self.delete_sent_payloads,
            faults: &self.faults,
            verified: &self.verified,
            stream: &self.stream,
            changed: RefCell::default(),
            more: Cell::new(false),
        }
    }
}

/// What a step needs: the store, the node, this installation, the time. Time comes in here
/// (and randomness through the callers' ids), so a simulated run is a function of its seed.
pub(crate) struct Context<'a, S, N> {
    pub(crate) store: &'a S,
    pub(crate) node: &'a N,
    pub(crate) installation: &'a RefCell<Installation>,
    pub(crate) own: &'a RefCell<OwnInstallationRecord>,
    pub(crate) pickle_key: &'a PickleKey,
    pub(crate) refresh_threshold_ms: u64,
    pub(crate) now_ms: &'a dyn Fn() -> u64,
    /// Drop each payload's bytes once the node acknowledged it (the hash stays).
    pub(crate) delete_sent_payloads: bool,
    /// Faults the tests inject.
    pub(crate) faults: &'a Faults,
    /// Contact entries verified before.
    pub(crate) verified: &'a VerifiedEntries,
    /// What the inbox subscription covers.
    pub(crate) stream: &'a InboxStream,
    /// Messages whose records the steps of this pass changed (for the app's stream).
    pub(crate) changed: RefCell<Vec<String>>,
    /// A step stopped at its cap with work left: the next pass is due at once.
    pub(crate) more: Cell<bool>,
}

impl<S: Store, N: Node> Context<'_, S, N> {
    /// Notes messages a step changed (after its commit).
    pub(crate) fn changed(&self, ids: impl IntoIterator<Item = String>) {
        self.changed.borrow_mut().extend(ids);
    }

    /// The time now, in milliseconds since the Unix epoch.
    pub(crate) fn now(&self) -> u64 {
        (self.now_ms)()
    }

    /// `address`'s installations, fetched first if the last fetch is older than
    /// `threshold_ms`; updates this installation's record if the refresh published or
    /// revoked it.
    pub(crate) async fn installations_of(
        &self,
        address: &Address,
        threshold_ms: u64,
    ) -> Result<Vec<InstallationRecord>, SdkError> {
        let own = self.own.borrow().clone();
        let now = self.now();
        let found =
            installations(self.store, self.node, &own, address, threshold_ms, now, self.verified)
                .await?;
        *self.own.borrow_mut() = found.own;
        Ok(found.installations)
    }
}

/// The stored sessions with one peer installation.
pub(crate) struct StoredSessions {
    /// Them, the current one opened.
    pub(crate) update: SessionUpdate,
    /// The current one's sealed pickle, as stored.
    pub(crate) current_pickle: Vec<u8>,
}

impl<S: Store, N: Node> Context<'_, S, N> {
    /// The stored sessions with `installation_id`, the current one opened; a current one
    /// that no longer opens (corrupted) counts as none.
    pub(crate) async fn sessions_of(
        &self,
        installation_id: &str,
    ) -> Result<Option<StoredSessions>, SdkError> {
        let Some(record) = self.store.get::<SessionRecord>(&installation_id.to_owned()).await?
        else {
            return Ok(None);
        };
        let session = unpickle(&record.pickle, self.pickle_key)?;
        Ok(Some(StoredSessions {
            update: SessionUpdate {
                installation_id: record.installation_id,
                version: record.version,
                session,
                previous: record.previous,
            },
            current_pickle: record.pickle,
        }))
    }
}

/// Faults the tests inject; all off otherwise.
#[derive(Default)]
pub(crate) struct Faults {
    /// The next send commit fails after its first writes.
    pub(crate) fail_next_commit: Cell<bool>,
    /// The next encrypted payload has a byte of its ciphertext flipped.
    pub(crate) corrupt_next_payload: Cell<bool>,
    /// Inbox payloads are stored but not processed.
    pub(crate) hold_inbound: Cell<bool>,
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
    store: &impl Store,
    node: &impl Node,
    own: &OwnInstallationRecord,
    address: &Address,
    threshold_ms: u64,
    now_ms: u64,
    verified: &VerifiedEntries,
) -> Result<Installations, SdkError> {
    let key = address.to_string();
    let user = store.get::<UserRecord>(&key).await?;
    let local = local_installations(store, &key).await?;
    if !needs_refresh(user.as_ref(), now_ms, threshold_ms) {
        return Ok(Installations { installations: local, own: own.clone() });
    }
    let mut own =
        if own.bundle_published { own.clone() } else { publish_bundle(store, node, own).await };

    let envelopes = crate::net::query_all(node, &[Topic::contact(&key)]).await?;
    let facts: Vec<_> =
        envelopes.iter().map(|e| verified.verify(&e.message, address, now_ms)).collect();
    let revoked_before = user.as_ref().map_or(&[][..], |u| u.revoked.as_slice());
    let mut plan = plan_refresh(&key, &local, &facts, revoked_before, now_ms);
    // One account's refresh never moves another account's installation: an id already
    // stored for another address stays theirs while its stored bundle still verifies there
    // (the first verified link wins; one taken over before bundles were bound both ways, or
    // expired, claims nothing).
    let mut put = Vec::with_capacity(plan.put.len());
    for installation in std::mem::take(&mut plan.put) {
        let ours = local.iter().any(|l| l.id == installation.id);
        let stored =
            if ours { None } else { store.get::<InstallationRecord>(&installation.id).await? };
        match stored {
            Some(other) if other.address != key && claims(&other, verified, now_ms) => {
                let claimed =
                    BundleError::Claimed { installation_id: installation.id, owner: other.address };
                plan.user.rejected.push(RejectedEntry::from(&claimed));
            }
            _ => put.push(installation),
        }
    }
    plan.put = put;

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

/// Whether `other`'s stored bundle still links it to its account at `now_ms`.
fn claims(other: &InstallationRecord, verified: &VerifiedEntries, now_ms: u64) -> bool {
    Address::parse(&other.address).is_ok_and(|a| verified.verify(&other.bundle, &a, now_ms).is_ok())
}

async fn local_installations(
    store: &impl Store,
    address: &str,
) -> Result<Vec<InstallationRecord>, SdkError> {
    Ok(store
        .by_index::<InstallationRecord>(index::INSTALLATIONS_BY_ADDRESS, address, address, None)
        .await?)
}

/// Publishes the own bundle and returns the record marked published; a failure returns it
/// unchanged, to retry on the next start or refresh rather than failing the app's call.
pub(crate) async fn publish_bundle(
    store: &impl Store,
    node: &impl Node,
    own: &OwnInstallationRecord,
) -> OwnInstallationRecord {
    let topic = Topic::contact(&own.address);
    let envelope = Envelope::new(&topic, own.fallback_created_at_ms, 0, own.bundle.clone());
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

/// The Olm session a stored pickle seals.
pub(crate) fn unpickle(pickle: &[u8], key: &PickleKey) -> Result<OlmSession, SdkError> {
    let text = std::str::from_utf8(pickle)
        .map_err(|_| SdkError::new(ErrorCode::Storage, "a stored session is not a pickle"))?;
    OlmSession::from_encrypted_pickle(text, key)
        .map_err(|e| SdkError::new(ErrorCode::Storage, e.to_string()))
}

/// A local cryptography failure (no randomness, a pickle that will not seal) as JS sees it.
pub(crate) fn crypto_error(error: CryptoError) -> SdkError {
    SdkError::new(ErrorCode::Unsupported, error.to_string())
}

/// Parses an address from the app, the wallet or a payload.
pub(crate) fn parse_address(text: &str) -> Result<Address, SdkError> {
    Address::parse(text).map_err(|e| {
        // The text itself helps the app's developer most; a long one (from a payload) is cut.
        let mut end = text.len().min(64);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let shown = &text[..end];
        let more = if shown.len() < text.len() { "…" } else { "" };
        SdkError::new(
            ErrorCode::InvalidAddress,
            format!("\"{shown}{more}\" is not an address: {e}"),
        )
    })
}

/// The writes of a delivery update: delivered, failed, retried or cancelled payloads and
/// their messages.
pub(crate) fn update_changes(update: &DeliveryUpdate) -> Result<Changes, SdkError> {
    let mut changes = Changes::new();
    for payload in &update.payloads {
        changes.put(payload)?;
    }
    for message in &update.messages {
        changes.put(message)?;
    }
    Ok(changes)
}

/// Records `record` as `REJECTED` with the reason.
pub(crate) fn reject(
    changes: &mut Changes,
    record: &InboundPayloadRecord,
    rejection: &Rejection,
) -> Result<Vec<String>, SdkError> {
    changes.put(&processed(record, InboundPayloadState::Rejected, Some(rejection)))?;
    Ok(Vec::new())
}

/// The cursor the last pull saved.
pub(crate) async fn saved_cursor(store: &impl Store) -> Result<Option<Cursor>, SdkError> {
    let saved = store.get::<InboxCursorRecord>(&INBOX_CURSOR.to_owned()).await?;
    Ok(saved.and_then(|c| {
        let sender_time_ns = c.sender_time_ns.parse().ok()?;
        Some(Cursor { index: IndexCursor { digest: c.digest, sender_time_ns } })
    }))
}

/// The processing order of an envelope with timestamp `timestamp_ns` (as stored in
/// `order`: 20 digits, so that strings sort as the numbers do).
pub(crate) fn order_of(timestamp_ns: u64) -> String {
    format!("{timestamp_ns:020}")
}

// Batched reads (issue 14, throughput): many keys in one transaction.

impl<S: Store, N: Node> Context<'_, S, N> {
    /// The stored sessions with each of `installation_ids`, in their order, the current one
    /// opened, read in one transaction.
    pub(crate) async fn sessions_of_each(
        &self,
        installation_ids: &[String],
    ) -> Result<Vec<Option<SessionUpdate>>, SdkError> {
        let mut opened = Vec::with_capacity(installation_ids.len());
        for record in self.store.get_many::<SessionRecord>(installation_ids).await? {
            opened.push(match record {
                Some(SessionRecord { installation_id, version, pickle, previous }) => {
                    let session = unpickle(&pickle, self.pickle_key)?;
                    Some(SessionUpdate { installation_id, version, session, previous })
                }
                None => None,
            });
        }
        Ok(opened)
    }
}
