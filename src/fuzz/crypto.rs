//! What wallets, the app and storage hand the crypto: addresses, wallet signatures (hex and
//! bytes, and their recovery), pickle keys, and sealed pickles with the JSON inside them.

use proptest::{
    collection::vec,
    prelude::{Just, Strategy, any, prop_oneof},
};
use vodozemac::olm::{Account, AccountPickle, Session, SessionConfig, SessionPickle};

use super::{bounded, check, fuzz, inputs};
use crate::crypto::{
    Address, Installation, OlmSession, PickleKey, WalletSignature, sign_for_tests,
};

const KEY: [u8; 32] = [0x42; 32];

#[test]
fn address() {
    let address =
        sign_for_tests(&KEY, b"who").recover(b"who").unwrap_or(Address::from_bytes([7; 20]));
    let lower = address.to_string();
    let valid =
        vec![lower.clone(), address.to_checksum(), format!("0x{}", lower[2..].to_uppercase())];
    fuzz("address", inputs::text_from(valid), |text| {
        let Ok(parsed) = bounded(text.len(), || Address::parse(&text))? else { return Ok(false) };
        // Every accepted spelling names the address its lower-case and checksummed forms do.
        let lower = parsed.to_string();
        check(lower.eq_ignore_ascii_case(&text), || format!("{text:?} read as {lower}"))?;
        check(Address::parse(&lower) == Ok(parsed), || format!("{lower} does not read back"))?;
        check(Address::parse(&parsed.to_checksum()) == Ok(parsed), || {
            format!("{parsed:?}'s checksum")
        })?;
        Ok(true)
    });
}

#[test]
fn wallet_signature_hex() {
    let signature = sign_for_tests(&KEY, b"hello").to_hex();
    let valid = vec![
        signature.clone(),
        signature[2..].to_owned(),
        signature.to_uppercase().replacen("0X", "0x", 1),
    ];
    fuzz("wallet_signature_hex", inputs::text_from(valid), |text| {
        let Ok(parsed) = bounded(text.len(), || WalletSignature::from_hex(&text))? else {
            return Ok(false);
        };
        let again = WalletSignature::from_hex(&parsed.to_hex());
        check(again.as_ref() == Ok(&parsed), || format!("{text:?} does not read back: {again:?}"))?;
        // Recovery checks `v`, `r` and `s` itself: any 65 bytes give an address or an error.
        let _ = parsed.recover(b"hello");
        Ok(true)
    });
}

#[test]
fn wallet_signature_bytes() {
    let valid = vec![sign_for_tests(&KEY, b"hello").as_bytes().to_vec()];
    let signer = sign_for_tests(&KEY, b"who").recover(b"who");
    fuzz("wallet_signature_bytes", inputs::bytes_from(valid), |bytes| {
        let Ok(parsed) = bounded(bytes.len(), || WalletSignature::from_bytes(&bytes))? else {
            return Ok(false);
        };
        let recovered = bounded(bytes.len(), || parsed.recover(b"hello"))?;
        // Only the signature as signed recovers its signer (`v` may be spelled 0/1 or 27/28).
        let spelled = |b: &[u8]| {
            b.iter().enumerate().map(|(i, x)| if i == 64 { x % 27 } else { *x }).collect::<Vec<_>>()
        };
        let original = spelled(&bytes) == spelled(sign_for_tests(&KEY, b"hello").as_bytes());
        check(original || recovered != signer || signer.is_err(), || {
            "an altered signature recovered its signer".into()
        })?;
        Ok(recovered.is_ok())
    });
}

#[test]
fn pickle_key() {
    let lengths = prop_oneof![Just(32), 0..80usize];
    fuzz("pickle_key", lengths.prop_flat_map(|n| vec(any::<u8>(), n)), |bytes| {
        let key = bounded(bytes.len(), || PickleKey::from_slice(&bytes))?;
        check(key.is_some() == (bytes.len() == 32), || {
            format!("a key from {} bytes", bytes.len())
        })?;
        check(key.as_ref().is_none_or(|k| k.as_bytes() == bytes.as_slice()), || {
            "the key's bytes changed".into()
        })?;
        Ok(key.is_some())
    });
}

/// A vodozemac account and a session of it, with their pickles as JSON.
fn pickles() -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let (alice, mut bob) = (Account::new(), Account::new());
    bob.generate_fallback_key();
    let fallback = bob.fallback_key().into_values().next();
    let session = fallback.and_then(|key| {
        alice.create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), key).ok()
    });
    let accounts = [alice.pickle(), bob.pickle()]
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    let sessions = session.iter().filter_map(|s| serde_json::to_value(s.pickle()).ok()).collect();
    (accounts, sessions)
}

/// Names in vodozemac's pickles, for the random JSON.
const PICKLE_NAMES: &[&str] = &[
    "signing_key",
    "diffie_hellman_key",
    "one_time_keys",
    "fallback_keys",
    "key_id",
    "fallback_key",
    "previous_fallback_key",
    "session_keys",
    "sending_ratchet",
    "receiving_chains",
    "config",
    "identity_key",
    "base_key",
    "one_time_key",
    "other_identity_key",
    "root_key",
    "chain_key",
    "ratchet_key",
    "index",
    "Ed25519",
    "Curve25519",
    "Active",
    "Inactive",
    "version",
    "V1",
    "V2",
];

/// A vodozemac object stored as a pickle, and what names it.
trait Pickled: Sized {
    type Pickle: serde::Serialize + serde::de::DeserializeOwned;
    type Id: PartialEq;
    fn open(pickle: Self::Pickle) -> Self;
    fn pickle(&self) -> Self::Pickle;
    fn id(&self) -> Self::Id;
}

impl Pickled for Account {
    type Pickle = AccountPickle;
    type Id = vodozemac::Curve25519PublicKey;
    fn open(pickle: AccountPickle) -> Self {
        Self::from_pickle(pickle)
    }
    fn pickle(&self) -> AccountPickle {
        Account::pickle(self)
    }
    fn id(&self) -> Self::Id {
        self.curve25519_key()
    }
}

impl Pickled for Session {
    type Pickle = SessionPickle;
    type Id = String;
    fn open(pickle: SessionPickle) -> Self {
        Self::from_pickle(pickle)
    }
    fn pickle(&self) -> SessionPickle {
        Session::pickle(self)
    }
    fn id(&self) -> String {
        self.session_id()
    }
}

/// Reads JSON as `T`'s pickle and opens it, as opening a sealed pickle does natively once
/// the seal checks out; what opens must pickle and open again to the same object.
fn fuzz_pickle<T: Pickled>(name: &str, valid: Vec<serde_json::Value>) {
    fuzz(name, inputs::json_text_from(valid, PICKLE_NAMES), |json| {
        let read = bounded(json.len(), || serde_json::from_slice::<T::Pickle>(&json).map(T::open))?;
        let Ok(opened) = read else { return Ok(false) };
        let again = serde_json::to_vec(&opened.pickle()).ok();
        let reread = again.and_then(|j| serde_json::from_slice::<T::Pickle>(&j).ok()).map(T::open);
        check(reread.is_some_and(|r| r.id() == opened.id()), || "it does not read back".into())?;
        Ok(true)
    });
}

#[test]
fn pickle_json_account() {
    fuzz_pickle::<Account>("pickle_json_account", pickles().0);
}

#[test]
fn pickle_json_session() {
    fuzz_pickle::<Session>("pickle_json_session", pickles().1);
}

/// Sealed pickles of an installation and of a session, under [`KEY`].
fn sealed() -> Option<(String, String)> {
    let key = PickleKey::from_bytes(KEY);
    let (alice, bob) = (Installation::generate(), Installation::generate());
    let bundle = bob.unsigned_bundle("0x00", 0, 1, 0);
    let session =
        alice.create_outbound_session(&bundle.identity_key, &bundle.fallback_key?.key).ok()?;
    Some((alice.to_encrypted_pickle(&key).ok()?, session.to_encrypted_pickle(&key).ok()?))
}

#[test]
fn sealed_pickle() {
    let Some((account, session)) = sealed() else { panic!("nothing sealed") };
    let key = PickleKey::from_bytes(KEY);
    let valid = vec![account.into_bytes(), session.into_bytes()];
    fuzz("sealed_pickle", inputs::bytes_from(valid.clone()), |bytes| {
        // Stored bytes read as text, as the steps read them.
        let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(false) };
        let account = bounded(bytes.len(), || Installation::from_encrypted_pickle(text, &key))?;
        let session = bounded(bytes.len(), || OlmSession::from_encrypted_pickle(text, &key))?;
        // The seal lets nothing altered through.
        let (opened, as_stored) = (session.is_ok() || account.is_ok(), valid.contains(&bytes));
        check(!opened || as_stored, || "an altered pickle opened".into())?;
        Ok(opened)
    });
}

/// The sealed fields of a record read back (`store/sealing.rs`): the seal, and the fields
/// packed inside it.
#[test]
fn sealed_fields() {
    use crate::{
        crypto::{open_bytes, seal_bytes},
        store::sealing::{label, pack, unpack},
    };
    let key = PickleKey::from_bytes(KEY);
    let label = label("messages", "m1");
    let packed = pack(&[b"hello".to_vec(), b"0x0000000000000000000000000000000000000001".to_vec()]);
    let Ok(sealed) = seal_bytes(&packed, &label, &key) else { panic!("nothing sealed") };
    fuzz("sealed_fields", inputs::bytes_from(vec![packed, sealed.clone()]), |bytes| {
        let unpacked = bounded(bytes.len(), || unpack(&bytes, 2))?;
        if let Ok(fields) = &unpacked {
            check(pack(fields) == bytes, || "unpacked fields pack differently".into())?;
        }
        let opened = bounded(bytes.len(), || open_bytes(&bytes, &label, &key))?;
        check(opened.is_err() || bytes == sealed, || "an altered seal opened".into())?;
        Ok(unpacked.is_ok() || opened.is_ok())
    });
}
