//! Olm sessions with peer installations: creation (outbound from a bundle, inbound from a
//! pre-key message), encryption, decryption and encrypted pickles.

use vodozemac::{
    Curve25519PublicKey,
    olm::{OlmMessage, Session, SessionConfig, SessionPickle},
};

use super::{CryptoError, Installation, PickleKey};

/// An encrypted Olm message as it travels: vodozemac's type (0 pre-key, 1 normal) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OlmCiphertext {
    /// 0 for a pre-key message (it can open a session), 1 for a normal one.
    pub message_type: u32,
    /// The message bytes.
    pub ciphertext: Vec<u8>,
}

impl OlmCiphertext {
    fn from_message(message: &OlmMessage) -> Self {
        let (message_type, ciphertext) = message.to_parts();
        Self { message_type: u32::try_from(message_type).unwrap_or(u32::MAX), ciphertext }
    }

    fn to_message(&self) -> Result<OlmMessage, OpenError> {
        let message_type = usize::try_from(self.message_type)
            .map_err(|_| OpenError::Malformed("unknown message type".into()))?;
        OlmMessage::from_parts(message_type, &self.ciphertext)
            .map_err(|e| OpenError::Malformed(e.to_string()))
    }

    /// Whether this message can open a session.
    pub fn is_pre_key(&self) -> bool {
        self.message_type == 0
    }

    /// The id of the session a pre-key message belongs to (`None` for a normal message, or
    /// one that does not parse).
    pub fn pre_key_session_id(&self) -> Option<String> {
        match self.to_message().ok()? {
            OlmMessage::PreKey(message) => Some(message.session_id()),
            OlmMessage::Normal(_) => None,
        }
    }
}

/// Why a received Olm message could not be opened: each is told apart because the receiver
/// reacts differently (a replay is dropped quietly, a bad MAC asks the sender to re-send).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not an Olm message at all.
    #[error("not an Olm message: {0}")]
    Malformed(String),
    /// A pre-key message made with an identity key other than the claimed sender's.
    #[error("the pre-key message was made with another identity key than the sender's")]
    IdentityMismatch,
    /// A pre-key message for a key this installation does not have (rotated out long ago).
    #[error("the pre-key message uses a key this installation does not have")]
    UnknownKey,
    /// The message key was used already (a replay) or discarded.
    #[error("the message key was already used (a replay)")]
    Replay,
    /// Authentication failed: the message was altered or belongs to another session.
    #[error("the message does not authenticate: {0}")]
    BadMac(String),
}

impl From<vodozemac::olm::DecryptionError> for OpenError {
    fn from(error: vodozemac::olm::DecryptionError) -> Self {
        use vodozemac::olm::DecryptionError;
        match error {
            DecryptionError::MissingMessageKey(_) => Self::Replay,
            other => Self::BadMac(other.to_string()),
        }
    }
}

impl From<vodozemac::olm::SessionCreationError> for OpenError {
    fn from(error: vodozemac::olm::SessionCreationError) -> Self {
        use vodozemac::olm::SessionCreationError;
        match error {
            SessionCreationError::MismatchedIdentityKey(..) => Self::IdentityMismatch,
            SessionCreationError::MissingOneTimeKey(_) => Self::UnknownKey,
            SessionCreationError::Decryption(e) => e.into(),
            other => Self::BadMac(other.to_string()),
        }
    }
}

/// A double-ratchet session with one peer installation. Advancing it (`encrypt`, `decrypt`)
/// needs `&mut`: a stored copy is out of date after either.
pub struct OlmSession(Session);

impl std::fmt::Debug for OlmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OlmSession").field(&self.0.session_id()).finish()
    }
}

fn key(bytes: &[u8]) -> Result<Curve25519PublicKey, CryptoError> {
    Curve25519PublicKey::from_slice(bytes).map_err(|e| CryptoError::Session(e.to_string()))
}

impl Installation {
    /// Opens a session to a peer from its verified bundle's identity and fallback keys.
    pub fn create_outbound_session(
        &self,
        peer_identity_key: &[u8],
        peer_fallback_key: &[u8],
    ) -> Result<OlmSession, CryptoError> {
        self.account()
            .create_outbound_session(
                SessionConfig::version_1(),
                key(peer_identity_key)?,
                key(peer_fallback_key)?,
            )
            .map(OlmSession)
            .map_err(|e| CryptoError::Session(e.to_string()))
    }

    /// Opens the session a peer started with a pre-key message, and decrypts that message.
    ///
    /// This changes nothing in the account worth storing: vodozemac removes only one-time
    /// keys, and installations publish none (sessions start from the fallback key, which
    /// stays until the next rotation).
    pub fn create_inbound_session(
        &mut self,
        peer_identity_key: &[u8],
        message: &OlmCiphertext,
    ) -> Result<(OlmSession, Vec<u8>), OpenError> {
        let OlmMessage::PreKey(pre_key) = message.to_message()? else {
            return Err(OpenError::Malformed("expected a pre-key message".into()));
        };
        let peer = Curve25519PublicKey::from_slice(peer_identity_key)
            .map_err(|e| OpenError::Malformed(e.to_string()))?;
        let created = self.account_mut().create_inbound_session(
            SessionConfig::version_1(),
            peer,
            &pre_key,
        )?;
        Ok((OlmSession(created.session), created.plaintext))
    }
}

impl OlmSession {
    /// Encrypts `plaintext`, advancing the ratchet.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<OlmCiphertext, CryptoError> {
        let message = self.0.encrypt(plaintext).map_err(|e| CryptoError::Session(e.to_string()))?;
        Ok(OlmCiphertext::from_message(&message))
    }

    /// Decrypts a message of this session, advancing the ratchet.
    pub fn decrypt(&mut self, message: &OlmCiphertext) -> Result<Vec<u8>, OpenError> {
        Ok(self.0.decrypt(&message.to_message()?)?)
    }

    /// vodozemac's session id (both sides agree on it).
    pub fn session_id(&self) -> String {
        self.0.session_id()
    }

    /// The session encrypted under `key`, for storage.
    pub fn to_encrypted_pickle(&self, key: &PickleKey) -> Result<String, CryptoError> {
        super::sealed::seal(&self.0.pickle(), key)
    }

    /// The session back from [`OlmSession::to_encrypted_pickle`].
    pub fn from_encrypted_pickle(pickle: &str, key: &PickleKey) -> Result<Self, CryptoError> {
        let pickle: SessionPickle = super::sealed::open(pickle, key)?;
        Ok(Self(Session::from_pickle(pickle)))
    }

    /// The session's key bytes (root and chain keys, ratchet keys), for tests that look for
    /// them where they must not be.
    #[cfg(any(test, feature = "test-export"))]
    pub fn secret_keys_for_tests(&self) -> Vec<Vec<u8>> {
        let mut pickle = serde_json::to_value(self.0.pickle()).unwrap_or_default();
        // Public keys are no secret: the session's (identity, base, one-time) and the
        // peer's ratchet keys.
        if let Some(pickle) = pickle.as_object_mut() {
            pickle.remove("session_keys");
            if let Some(sending) = pickle.get_mut("sending_ratchet").and_then(|s| s.as_object_mut())
            {
                sending.remove("parent_ratchet_key");
            }
            let chains = pickle.get_mut("receiving_chains").and_then(|c| c.get_mut("inner"));
            for chain in chains.and_then(|c| c.as_array_mut()).into_iter().flatten() {
                if let Some(chain) = chain.as_object_mut() {
                    chain.remove("ratchet_key");
                }
            }
        }
        super::secrets::byte_strings_of_len(&pickle, 32)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn bundle_keys(peer: &Installation) -> (Vec<u8>, Vec<u8>) {
        let bundle = peer.unsigned_bundle("0xa", 0, 1, 0);
        (bundle.identity_key, bundle.fallback_key.unwrap().key)
    }

    /// Alice opens a session to Bob from his bundle and sends `first`; Bob opens it.
    struct Pair {
        alice: Installation,
        bob: Installation,
        outbound: OlmSession,
        inbound: OlmSession,
        first: OlmCiphertext,
        plaintext: Vec<u8>,
    }

    fn pair(first: &[u8]) -> Pair {
        let (alice, mut bob) = (Installation::generate(), Installation::generate());
        let (bob_identity, bob_fallback) = bundle_keys(&bob);
        let mut outbound = alice.create_outbound_session(&bob_identity, &bob_fallback).unwrap();
        let first = outbound.encrypt(first).unwrap();
        let (inbound, plaintext) =
            bob.create_inbound_session(&bundle_keys(&alice).0, &first).unwrap();
        Pair { alice, bob, outbound, inbound, first, plaintext }
    }

    #[test]
    fn a_session_from_a_bundle_carries_messages_both_ways() {
        let Pair { mut outbound, mut inbound, first, plaintext, .. } = pair(b"hello bob");
        assert!(first.is_pre_key());
        assert_eq!(plaintext, b"hello bob");
        assert_eq!(inbound.session_id(), outbound.session_id());

        let reply = inbound.encrypt(b"hi alice").unwrap();
        assert!(!reply.is_pre_key());
        assert_eq!(outbound.decrypt(&reply).unwrap(), b"hi alice");
    }

    #[test]
    fn tampered_replayed_and_foreign_messages_fail_without_panicking() {
        let Pair { alice, mut bob, mut outbound, mut inbound, first, .. } = pair(b"one");
        let alice_identity = bundle_keys(&alice).0;
        let bob_fallback = bundle_keys(&bob).1;

        let mut tampered = outbound.encrypt(b"two").unwrap();
        let last = tampered.ciphertext.len() - 1;
        tampered.ciphertext[last] ^= 1;
        assert!(matches!(inbound.decrypt(&tampered), Err(OpenError::BadMac(_))));

        let second = outbound.encrypt(b"three").unwrap();
        assert_eq!(inbound.decrypt(&second).unwrap(), b"three");
        assert_eq!(inbound.decrypt(&second), Err(OpenError::Replay), "a replay is refused");

        let garbage = OlmCiphertext { message_type: 7, ciphertext: vec![1, 2, 3] };
        assert!(inbound.decrypt(&garbage).is_err());
        let truncated =
            OlmCiphertext { message_type: 0, ciphertext: first.ciphertext[..10].to_vec() };
        assert!(bob.create_inbound_session(&alice_identity, &truncated).is_err());
        let mallory = Installation::generate();
        let forged = bob.create_inbound_session(&bundle_keys(&mallory).0, &first);
        assert_eq!(forged.err(), Some(OpenError::IdentityMismatch));
        assert!(alice.create_outbound_session(&[1; 31], &bob_fallback).is_err());
    }

    #[test]
    fn sessions_pickle_under_their_key() {
        let (alice, bob) = (Installation::generate(), Installation::generate());
        let (bob_identity, bob_fallback) = bundle_keys(&bob);
        let session = alice.create_outbound_session(&bob_identity, &bob_fallback).unwrap();
        let key = PickleKey::from_bytes([3; 32]);
        let pickle = session.to_encrypted_pickle(&key).unwrap();
        let back = OlmSession::from_encrypted_pickle(&pickle, &key).unwrap();
        assert_eq!(back.session_id(), session.session_id());
        assert!(
            OlmSession::from_encrypted_pickle(&pickle, &PickleKey::from_bytes([4; 32])).is_err()
        );
    }
}
