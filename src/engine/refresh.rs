//! Refreshing one account's installations from its contact topic, per the seed: if they were
//! fetched more than THRESHOLD ago, fetch every entry, drop local installations that are
//! missing, expired or revoked, and insert new ones as `UNINITIALIZED`.
//!
//! Pure: the caller reads the user and its installations, fetches and verifies the topic,
//! then writes the [`RefreshPlan`] in one transaction.
//!
//! A revocation once verified is kept on the user for good (a node may omit it later), and
//! at most [`MAX_INSTALLATIONS_PER_ACCOUNT`] installations are used, the newest links first.

use crate::collections::{VecMap as BTreeMap, VecSet as BTreeSet};

use serde::{Deserialize, Serialize};

use super::{InstallationRecord, InstallationState, UserRecord};
use crate::{
    crypto::{BundleError, ContactFact, VerifiedBundle},
    wire::{ContactEntry, ContactEntryKind},
};

/// An entry a refresh refused, kept on the user record for the app to inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEntry {
    /// The installation it was about, when known.
    pub installation_id: Option<String>,
    /// The stable code ([`BundleError::code`]).
    pub code: String,
    /// A readable reason.
    pub reason: String,
}

impl From<&BundleError> for RejectedEntry {
    fn from(error: &BundleError) -> Self {
        Self {
            installation_id: error.installation_id().map(str::to_owned),
            code: error.code().to_owned(),
            reason: error.to_string(),
        }
    }
}

/// The most installations of one account that are used (a sender encrypts to each).
pub const MAX_INSTALLATIONS_PER_ACCOUNT: usize = 64;

/// Revocations remembered per account at most: an honest account has a handful; past this a
/// hostile account's new ones apply to the fetch that brought them only.
const MAX_REVOKED_KEPT: usize = 4096;

/// What a refresh writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPlan {
    /// The user, stamped with this fetch's time and its rejections.
    pub user: UserRecord,
    /// Installations to insert or update.
    pub put: Vec<InstallationRecord>,
    /// Installations (and their sessions) to delete.
    pub delete: Vec<String>,
    /// Installations the wallet revoked (this one's own id among them means it must stop).
    pub revoked: BTreeSet<String>,
}

/// Whether `user`'s installations are due for a fetch at `now_ms`.
pub fn needs_refresh(user: Option<&UserRecord>, now_ms: u64, threshold_ms: u64) -> bool {
    match user.and_then(|u| u.installations_fetched_at_ms) {
        None => true,
        Some(fetched) => now_ms.saturating_sub(fetched) > threshold_ms || fetched > now_ms,
    }
}

/// Computes the refresh of `address` from its local installations, the revocations verified
/// before (`revoked_before`, from its user record) and the verified entries of its contact
/// topic.
pub fn plan_refresh(
    address: &str,
    local: &[InstallationRecord],
    entries: &[Result<ContactFact, BundleError>],
    revoked_before: &[String],
    now_ms: u64,
) -> RefreshPlan {
    let mut rejected = Vec::new();
    let fetched = entries.iter().filter_map(|e| match e {
        Ok(ContactFact::Revocation(r)) => Some(r.installation_id.clone()),
        _ => None,
    });
    let revoked: BTreeSet<String> = revoked_before.iter().cloned().chain(fetched).collect();
    let mut kept_revoked = revoked_before.to_vec();
    for id in revoked.iter().filter(|id| !revoked_before.contains(id)) {
        if kept_revoked.len() >= MAX_REVOKED_KEPT {
            break;
        }
        kept_revoked.push(id.clone());
    }

    // Of several bundles of one installation (fallback rotations, renewed links), the newest
    // fallback key wins, then the newest link.
    let newer = |a: &VerifiedBundle, b: &VerifiedBundle| {
        (a.fallback_created_at_ms, a.bundle.created_at_ms)
            > (b.fallback_created_at_ms, b.bundle.created_at_ms)
    };
    let mut newest: BTreeMap<&str, &VerifiedBundle> = BTreeMap::new();
    for entry in entries {
        match entry {
            Ok(ContactFact::Bundle(b)) if revoked.contains(&b.bundle.installation_id) => {
                rejected.push(BundleError::Revoked(b.bundle.installation_id.clone()));
            }
            Ok(ContactFact::Bundle(b)) => {
                let slot = newest.entry(&b.bundle.installation_id).or_insert(b);
                if newer(b, slot) {
                    *slot = b;
                }
            }
            Ok(ContactFact::Revocation(_)) => {}
            Err(e) => rejected.push(e.clone()),
        }
    }
    rejected.dedup();

    // At most MAX_INSTALLATIONS_PER_ACCOUNT, the newest links first: a bundle is left out
    // when that many are newer (by creation time, then id). Counted, not sorted (no sort
    // code in the wasm); the count runs only past the limit.
    let newer = |a: &VerifiedBundle, b: &VerifiedBundle| {
        (a.bundle.created_at_ms, &b.bundle.installation_id)
            > (b.bundle.created_at_ms, &a.bundle.installation_id)
    };
    let over = newest.len() > MAX_INSTALLATIONS_PER_ACCOUNT;
    let used = |v: &VerifiedBundle| {
        !over || newest.values().filter(|o| newer(o, v)).count() < MAX_INSTALLATIONS_PER_ACCOUNT
    };
    for extra in newest.values().filter(|v| !used(v)) {
        rejected.push(BundleError::TooMany(extra.bundle.installation_id.clone()));
    }

    let local_by_id: BTreeMap<&str, &InstallationRecord> =
        local.iter().map(|i| (i.id.as_str(), i)).collect();
    let put = newest
        .values()
        .filter(|v| used(v))
        .filter_map(|verified| {
            let b = &verified.bundle;
            let bytes = ContactEntry { kind: Some(ContactEntryKind::Bundle(b.clone())) }.to_bytes();
            let known = local_by_id.get(b.installation_id.as_str());
            let record = InstallationRecord {
                id: b.installation_id.clone(),
                address: address.to_owned(),
                state: known.map_or(InstallationState::Uninitialized, |l| l.state),
                bundle: bytes,
                expires_at_ms: b.expires_at_ms,
                last_notice_at_ms: known.and_then(|l| l.last_notice_at_ms),
            };
            // Unchanged installations need no write.
            let unchanged = local_by_id.get(record.id.as_str()).is_some_and(|l| **l == record);
            (!unchanged).then_some(record)
        })
        .collect();
    let delete = local
        .iter()
        .filter(|l| !newest.get(l.id.as_str()).is_some_and(|v| used(v)))
        .map(|l| l.id.clone())
        .collect();

    RefreshPlan {
        user: UserRecord {
            address: address.to_owned(),
            installations_fetched_at_ms: Some(now_ms),
            rejected: rejected.iter().map(RejectedEntry::from).collect(),
            revoked: kept_revoked,
        },
        put,
        delete,
        revoked,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{
        crypto::VerifiedRevocation,
        wire::{InstallationBundle, SignedFallbackKey},
    };

    fn fact(id: &str, fallback_at: u64) -> Result<ContactFact, BundleError> {
        Ok(ContactFact::Bundle(VerifiedBundle {
            bundle: InstallationBundle {
                installation_id: id.into(),
                expires_at_ms: 99,
                fallback_key: Some(SignedFallbackKey {
                    created_at_ms: fallback_at,
                    ..SignedFallbackKey::default()
                }),
                ..InstallationBundle::default()
            },
            fallback_created_at_ms: fallback_at,
        }))
    }

    fn local(id: &str, state: InstallationState) -> InstallationRecord {
        let plan = plan_refresh("0xa", &[], &[fact(id, 1)], &[], 0);
        InstallationRecord { state, ..plan.put[0].clone() }
    }

    #[test]
    fn refresh_is_due_past_the_threshold_only() {
        let user = |at| UserRecord {
            address: "0xa".into(),
            installations_fetched_at_ms: at,
            rejected: vec![],
            revoked: vec![],
        };
        assert!(needs_refresh(None, 1_000, 300));
        assert!(needs_refresh(Some(&user(None)), 1_000, 300));
        assert!(!needs_refresh(Some(&user(Some(800))), 1_000, 300));
        assert!(needs_refresh(Some(&user(Some(600))), 1_000, 300));
        assert!(needs_refresh(Some(&user(Some(5_000))), 1_000, 300), "a clock that went back");
        assert!(needs_refresh(Some(&user(Some(1_000))), 1_001, 0));
    }

    #[test]
    fn new_installations_arrive_uninitialized_and_known_ones_keep_their_state() {
        let known = local("known", InstallationState::SessionCreated);
        let plan = plan_refresh(
            "0xa",
            std::slice::from_ref(&known),
            &[fact("known", 1), fact("new", 1)],
            &[],
            7,
        );
        assert_eq!(plan.put.len(), 1, "the unchanged installation is not rewritten");
        assert_eq!(
            (plan.put[0].id.as_str(), plan.put[0].state),
            ("new", InstallationState::Uninitialized)
        );
        assert!(plan.delete.is_empty());
        assert_eq!(plan.user.installations_fetched_at_ms, Some(7));

        let rotated = plan_refresh("0xa", &[known], &[fact("known", 2)], &[], 7);
        assert_eq!(rotated.put[0].state, InstallationState::SessionCreated);
    }

    #[test]
    fn missing_expired_and_revoked_installations_are_deleted() {
        let locals = [
            local("gone", InstallationState::SessionCreated),
            local("expired", InstallationState::Uninitialized),
            local("revoked", InstallationState::SessionCreated),
            local("kept", InstallationState::SessionCreated),
        ];
        let entries = [
            Err(BundleError::Expired { installation_id: "expired".into(), expired_at_ms: 1 }),
            fact("revoked", 1),
            Ok(ContactFact::Revocation(VerifiedRevocation {
                installation_id: "revoked".into(),
                revoked_at_ms: 3,
            })),
            fact("kept", 1),
            Err(BundleError::Malformed("junk".into())),
        ];
        let plan = plan_refresh("0xa", &locals, &entries, &[], 9);
        assert_eq!(plan.delete, ["gone", "expired", "revoked"]);
        assert!(plan.put.is_empty());
        assert!(plan.revoked.contains("revoked"));
        let codes: Vec<&str> = plan.user.rejected.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["BUNDLE_EXPIRED", "INSTALLATION_REVOKED", "MALFORMED"]);
        assert_eq!(plan.user.rejected[1].installation_id.as_deref(), Some("revoked"));
    }

    #[test]
    fn the_newest_fallback_key_wins() {
        let plan = plan_refresh("0xa", &[], &[fact("i", 5), fact("i", 9), fact("i", 7)], &[], 0);
        assert_eq!(plan.put.len(), 1);
        let bundle = ContactEntry::decode_bundle(&plan.put[0].bundle).unwrap_or_default();
        assert_eq!(bundle.fallback_key.map(|f| f.created_at_ms), Some(9));
    }

    /// Of two links of one installation with the same fallback key, the renewed one wins,
    /// in whichever order the node serves them.
    #[test]
    fn a_renewed_link_wins_over_the_one_it_renews() {
        let link = |created_at_ms, expires_at_ms| {
            fact("i", 5).map(|f| match f {
                ContactFact::Bundle(mut b) => {
                    b.bundle.created_at_ms = created_at_ms;
                    b.bundle.expires_at_ms = expires_at_ms;
                    ContactFact::Bundle(b)
                }
                other => other,
            })
        };
        for entries in [[link(2, 300), link(1, 100)], [link(1, 100), link(2, 300)]] {
            let plan = plan_refresh("0xa", &[], &entries, &[], 0);
            assert_eq!(plan.put.iter().map(|p| p.expires_at_ms).collect::<Vec<_>>(), [300]);
        }
    }

    /// Attack 8: a wallet with thousands of installations does not make every sender encrypt
    /// thousands of times.
    #[test]
    fn at_most_64_installations_are_used_the_newest_first() {
        let facts: Vec<_> = (0..70u64)
            .map(|i| {
                let mut f = fact(&format!("i{i:02}"), 1);
                if let Ok(ContactFact::Bundle(b)) = &mut f {
                    b.bundle.created_at_ms = i;
                }
                f
            })
            .collect();
        let plan = plan_refresh("0xa", &[], &facts, &[], 0);
        assert_eq!(plan.put.len(), MAX_INSTALLATIONS_PER_ACCOUNT);
        assert!(plan.put.iter().all(|p| p.id.as_str() >= "i06"), "the oldest are dropped");
        let codes: Vec<&str> = plan.user.rejected.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["TOO_MANY_INSTALLATIONS"; 6]);
    }

    /// Attack 3: a revocation verified once wins over any later bundle, even when the node
    /// no longer serves the revocation.
    #[test]
    fn a_revocation_seen_before_wins_over_a_bundle_served_later() {
        let plan = plan_refresh("0xa", &[], &[fact("r", 1), fact("k", 1)], &["r".into()], 9);
        assert_eq!(plan.put.len(), 1);
        assert_eq!(plan.put[0].id, "k");
        assert!(plan.revoked.contains("r"));
        assert_eq!(plan.user.revoked, ["r"]);
        assert_eq!(plan.user.rejected[0].code, "INSTALLATION_REVOKED");
    }
}
