//! Who a payload comes from: [`verified_sender`] authenticates a payload's claimed sender
//! installation against its account's verified, current, unrevoked installations; and the
//! in-memory cache of verified contact entries ([`VerifiedEntries`]) that keeps refreshes
//! from redoing signature recovery.

use std::cell::RefCell;

use sha2::{Digest, Sha256};

use super::{Context, both};
use crate::{
    crypto::{Address, BundleError, ContactFact, reverify_contact_entry, verify_contact_entry},
    engine::{InboundFailure, InstallationRecord, Rejection, UserRecord, needs_refresh},
    error::{ErrorCode, SdkError},
    net::Node,
    store::{Store, index},
};

/// How often a payload naming an installation not known here may make its account be fetched
/// again. Within it such a payload waits ([`ErrorCode::RetryLater`]) instead of being refused:
/// it may be an honest new installation's first message, sent just after the last fetch.
pub(crate) const UNKNOWN_ID_REFRESH_MS: u64 = 30_000;

/// The installation `installation_id` of `claimed_address` that a payload claims to come
/// from, if it is that account's, verified, unexpired and never revoked; else why not.
///
/// The account is fetched again first when its list is older than the refresh threshold
/// (expiries and revocations are learned), and for an id not known here at most once per
/// [`UNKNOWN_ID_REFRESH_MS`]; within that interval the answer is the transient
/// [`ErrorCode::RetryLater`] error: the process step passes over the payload (uncounted) until
/// a later pass, so that it is neither refused too early nor costs a fetch each.
pub(crate) async fn verified_sender<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    claimed_address: &str,
    installation_id: &str,
) -> Result<Result<InstallationRecord, Rejection>, SdkError> {
    let id = installation_id;
    // The detail names the installation; the code says what is wrong with it.
    let refuse =
        |failure| Ok(Err(Rejection { failure, detail: claimed_address.to_owned() + " " + id }));
    let Ok(address) = Address::parse(claimed_address) else {
        return refuse(InboundFailure::Malformed);
    };
    let account = address.to_string();
    // The account's record and installations as stored (one read each): unless they are
    // due for a refresh, they are the answer.
    let index = index::INSTALLATIONS_BY_ADDRESS;
    let (user, local) = both(
        ctx.store.get::<UserRecord>(&account),
        ctx.store.by_index::<InstallationRecord>(index, &account, &account, None),
    )
    .await;
    let (user, local) = (user?, local?);
    let known = match local.iter().find(|i| i.id == id) {
        Some(ours) => Some(ours.clone()),
        None => ctx.store.get::<InstallationRecord>(&id.to_owned()).await?,
    };
    if known.as_ref().is_some_and(|k| k.address != account) {
        return refuse(InboundFailure::ForgedSender);
    }
    let now = ctx.now();
    let threshold = if known.is_some() {
        ctx.refresh_threshold_ms
    } else {
        let fetched = user.as_ref().and_then(|u| u.installations_fetched_at_ms);
        if fetched.is_some_and(|at| at <= now && now - at < UNKNOWN_ID_REFRESH_MS) {
            if is_revoked(user.as_ref(), id) {
                return refuse(InboundFailure::SenderRevoked);
            }
            return Err(SdkError::new(
                ErrorCode::RetryLater,
                "a sender's account was just fetched",
            ));
        }
        0
    };
    let (found, user) = if needs_refresh(user.as_ref(), now, threshold) {
        let found = ctx.installations_of(&address, threshold).await?;
        (found, ctx.store.get::<UserRecord>(&account).await?)
    } else {
        (local, user)
    };
    if is_revoked(user.as_ref(), id) {
        return refuse(InboundFailure::SenderRevoked);
    }
    let current = found.into_iter().find(|i| i.id == id);
    match current.as_ref().or(known.as_ref()) {
        Some(i) if i.expires_at_ms <= now => refuse(InboundFailure::SenderExpired),
        _ => match current {
            Some(installation) => Ok(Ok(installation)),
            None => refuse(InboundFailure::UnknownSender),
        },
    }
}

fn is_revoked(user: Option<&UserRecord>, id: &str) -> bool {
    user.is_some_and(|u| u.revoked.iter().any(|r| r == id))
}

/// Entries kept at most; past it the cache starts over (it only saves work).
const MAX_VERIFIED_ENTRIES: usize = 1024;

/// Contact entries whose signatures verified, by sha-256 of (topic address ‖ entry bytes): a
/// refresh re-reads every entry of a topic, and recovering the wallet signature is the
/// costly part. Only that is skipped for a known entry; every other check (the expiry among
/// them) is redone, so nothing that depends on the time is cached.
#[derive(Default)]
pub(crate) struct VerifiedEntries(RefCell<Vec<[u8; 32]>>);

impl VerifiedEntries {
    /// [`verify_contact_entry`] of `bytes` on `address`'s topic at `now_ms`, its signatures
    /// not checked again when they verified before.
    pub(crate) fn verify(
        &self,
        bytes: &[u8],
        address: &Address,
        now_ms: u64,
    ) -> Result<ContactFact, BundleError> {
        let key: [u8; 32] =
            Sha256::new().chain_update(address.as_bytes()).chain_update(bytes).finalize().into();
        if self.0.borrow().contains(&key) {
            return reverify_contact_entry(bytes, address, now_ms);
        }
        let result = verify_contact_entry(bytes, address, now_ms);
        // A failure may be the time's (an expiry): only what verified is remembered.
        if result.is_ok() {
            let mut set = self.0.borrow_mut();
            if set.len() >= MAX_VERIFIED_ENTRIES {
                set.clear();
            }
            set.push(key);
        }
        result
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{
        crypto::{Installation, sign_for_tests},
        wire::{ContactEntry, ContactEntryKind, link_text},
    };

    /// Attack 8: an entry is verified once (cached by its hash), yet a cached bundle still
    /// expires, and the same bytes on another account's topic are verified for that topic.
    #[test]
    fn entries_are_verified_once_and_still_expire() {
        let key = [0x11; 32];
        let alice = sign_for_tests(&key, b"who").recover(b"who").unwrap();
        let other = Address::from_bytes([7; 20]);
        let now = 1_760_000_000_000;
        let mut bundle =
            Installation::generate().unsigned_bundle(&alice.to_string(), now, now + 1_000, now);
        bundle.wallet_signature =
            sign_for_tests(&key, link_text(&bundle).as_bytes()).as_bytes().to_vec();
        let bytes = ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes();

        let cache = VerifiedEntries::default();
        assert!(cache.verify(&bytes, &alice, now).is_ok());
        assert_eq!(cache.0.borrow().len(), 1);
        assert!(cache.verify(&bytes, &alice, now + 1).is_ok());
        assert_eq!(cache.0.borrow().len(), 1, "verified once");
        let expired = cache.verify(&bytes, &alice, now + 1_000).map_err(|e| e.code());
        assert_eq!(expired.err(), Some("BUNDLE_EXPIRED"));
        let elsewhere = cache.verify(&bytes, &other, now).map_err(|e| e.code());
        assert_eq!(elsewhere.err(), Some("ADDRESS_MISMATCH"));
    }
}
