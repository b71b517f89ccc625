//! Every way a contact entry can be forged or broken, natively.

#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use crate::{
    crypto::wallet::sign_for_tests,
    wire::{BUNDLE_VERSION, ContactEntry, ContactEntryKind, InstallationBundle, Revocation},
};

const ALICE: [u8; 32] = [0x11; 32];
const MALLORY: [u8; 32] = [0x22; 32];
const NOW: u64 = 1_764_000_000_000;

fn address(key: &[u8; 32]) -> Address {
    let message = b"who";
    sign_for_tests(key, message).recover(message).unwrap()
}

fn signed_bundle(signer: &[u8; 32], expires: u64) -> InstallationBundle {
    let installation = crate::crypto::Installation::generate();
    let mut bundle = installation.unsigned_bundle(&address(&ALICE).to_string(), NOW, expires, NOW);
    bundle.wallet_signature =
        sign_for_tests(signer, link_text(&bundle).as_bytes()).as_bytes().to_vec();
    bundle
}

fn entry(bundle: InstallationBundle) -> Vec<u8> {
    ContactEntry { kind: Some(ContactEntryKind::Bundle(bundle)) }.to_bytes()
}

fn code(bytes: &[u8]) -> &'static str {
    match verify_contact_entry(bytes, &address(&ALICE), NOW) {
        Ok(_) => "OK",
        Err(e) => e.code(),
    }
}

#[test]
fn the_known_ethers_vector_is_alices_address() {
    assert_eq!(address(&ALICE).to_checksum(), "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A");
}

#[test]
fn a_valid_bundle_verifies() {
    let bundle = signed_bundle(&ALICE, NOW + 1);
    match verify_contact_entry(&entry(bundle.clone()), &address(&ALICE), NOW).unwrap() {
        ContactFact::Bundle(verified) => {
            assert_eq!(verified.bundle, bundle);
            assert_eq!(verified.fallback_created_at_ms, NOW);
        }
        other => panic!("expected a bundle, got {other:?}"),
    }
}

#[test]
fn each_break_has_its_own_code() {
    let valid = signed_bundle(&ALICE, NOW + 1);
    let edit = |f: &dyn Fn(&mut InstallationBundle)| {
        let mut b = valid.clone();
        f(&mut b);
        entry(b)
    };
    assert_eq!(code(&entry(signed_bundle(&MALLORY, NOW + 1))), "SIGNATURE_INVALID");
    assert_eq!(code(&edit(&|b| b.identity_key[3] ^= 1)), "KEY_MISMATCH");
    assert_eq!(code(&edit(&|b| b.signing_key[3] ^= 1)), "KEY_MISMATCH");
    // Keys swapped and the id recomputed: now the wallet's signature no longer covers them.
    assert_eq!(
        code(&edit(&|b| {
            b.identity_key[3] ^= 1;
            b.installation_id = installation_id(&b.identity_key, &b.signing_key);
        })),
        "SIGNATURE_INVALID"
    );
    assert_eq!(code(&edit(&|b| b.expires_at_ms += 1)), "SIGNATURE_INVALID");
    assert_eq!(
        code(&edit(&|b| b.fallback_key.as_mut().unwrap().signature[0] ^= 1)),
        "FALLBACK_SIGNATURE_INVALID"
    );
    assert_eq!(
        code(&edit(&|b| b.fallback_key.as_mut().unwrap().key[0] ^= 1)),
        "FALLBACK_SIGNATURE_INVALID"
    );
    assert_eq!(code(&edit(&|b| b.fallback_key = None)), "MALFORMED");
    assert_eq!(code(&edit(&|b| b.identity_key.truncate(31))), "MALFORMED");
    assert_eq!(code(&edit(&|b| b.wallet_address = "0x1234".into())), "INVALID_ADDRESS");
    assert_eq!(
        code(&edit(&|b| b.wallet_address = address(&MALLORY).to_string())),
        "ADDRESS_MISMATCH"
    );
    assert_eq!(code(&entry(signed_bundle(&ALICE, NOW))), "BUNDLE_EXPIRED");
    assert_eq!(code(&vec![0x0a; MAX_CONTACT_ENTRY_BYTES + 1]), "OVERSIZED");
    assert_eq!(code(&[]), "MALFORMED");
}

#[test]
fn every_truncation_is_refused_without_panicking() {
    let bytes = entry(signed_bundle(&ALICE, NOW + 1));
    for len in 0..bytes.len() {
        assert_ne!(code(&bytes[..len]), "OK", "a bundle cut to {len} bytes was accepted");
    }
    // Flipping any single byte never panics (and most flips are refused).
    let mut refused = 0;
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x40;
        refused += usize::from(code(&flipped) != "OK");
    }
    assert!(refused > bytes.len() * 9 / 10, "{refused} of {} flips refused", bytes.len());
}

#[test]
fn revocations_need_the_wallets_signature() {
    let mut revocation = Revocation {
        wallet_address: address(&ALICE).to_string(),
        installation_id: "abc".into(),
        revoked_at_ms: NOW,
        wallet_signature: Vec::new(),
    };
    let sign = |key: &[u8; 32], r: &Revocation| {
        sign_for_tests(key, revocation_text(r).as_bytes()).as_bytes().to_vec()
    };
    revocation.wallet_signature = sign(&ALICE, &revocation);
    let bytes = ContactEntry { kind: Some(ContactEntryKind::Revocation(revocation.clone())) };
    assert_eq!(
        verify_contact_entry(&bytes.to_bytes(), &address(&ALICE), NOW),
        Ok(ContactFact::Revocation(VerifiedRevocation {
            installation_id: "abc".into(),
            revoked_at_ms: NOW
        }))
    );
    revocation.wallet_signature = sign(&MALLORY, &revocation);
    let forged = ContactEntry { kind: Some(ContactEntryKind::Revocation(revocation)) };
    assert_eq!(code(&forged.to_bytes()), "SIGNATURE_INVALID");
}

/// Attack 2: another wallet relinks an installation's keys and its signed fallback key. The
/// installation's own signature names its wallet, so the copy does not verify.
#[test]
fn a_bundle_relinked_by_another_wallet_is_refused() {
    let mut stolen = signed_bundle(&ALICE, NOW + 1);
    stolen.wallet_address = address(&MALLORY).to_string();
    stolen.wallet_signature =
        sign_for_tests(&MALLORY, link_text(&stolen).as_bytes()).as_bytes().to_vec();
    let verified = verify_contact_entry(&entry(stolen), &address(&MALLORY), NOW);
    assert_eq!(verified.err().map(|e| e.code()), Some("FALLBACK_SIGNATURE_INVALID"));
}

const YEAR: u64 = 365 * 24 * 60 * 60 * 1000;

fn bundle_at(created: u64, expires: u64, fallback_created: u64) -> Vec<u8> {
    let installation = crate::crypto::Installation::generate();
    let mut bundle = installation.unsigned_bundle(
        &address(&ALICE).to_string(),
        created,
        expires,
        fallback_created,
    );
    bundle.wallet_signature =
        sign_for_tests(&ALICE, link_text(&bundle).as_bytes()).as_bytes().to_vec();
    entry(bundle)
}

/// Attack 8: every number is range-checked when parsed (one past 2^53 − 1 cannot be stored
/// in IndexedDB, and froze the victim's receiving).
#[test]
fn numbers_out_of_a_sane_window_are_refused() {
    assert_eq!(code(&bundle_at(NOW, NOW + YEAR, NOW)), "OK");
    assert_eq!(code(&bundle_at(NOW, 1 << 60, NOW)), "BUNDLE_RANGE");
    assert_eq!(code(&bundle_at(NOW, (1 << 53) + 1, NOW)), "BUNDLE_RANGE");
    assert_eq!(code(&bundle_at(NOW, NOW + 3 * YEAR, NOW)), "BUNDLE_RANGE");
    assert_eq!(code(&bundle_at(1 << 60, NOW + YEAR, NOW)), "BUNDLE_RANGE");
    assert_eq!(code(&bundle_at(NOW, NOW + YEAR, 1 << 60)), "BUNDLE_RANGE");
    let mut revocation = Revocation {
        wallet_address: address(&ALICE).to_string(),
        installation_id: "abc".into(),
        revoked_at_ms: 1 << 60,
        wallet_signature: Vec::new(),
    };
    revocation.wallet_signature =
        sign_for_tests(&ALICE, revocation_text(&revocation).as_bytes()).as_bytes().to_vec();
    let bytes = ContactEntry { kind: Some(ContactEntryKind::Revocation(revocation)) };
    assert_eq!(code(&bytes.to_bytes()), "BUNDLE_RANGE");
}

/// A bundle of another format version (made before the upgrade) gets its own code.
#[test]
fn a_bundle_of_another_version_gets_its_own_code() {
    let mut old = signed_bundle(&ALICE, NOW + 1);
    old.version = 0;
    assert_eq!(code(&entry(old.clone())), "BUNDLE_VERSION");
    old.version = BUNDLE_VERSION + 1;
    assert_eq!(code(&entry(old)), "BUNDLE_VERSION");
}
