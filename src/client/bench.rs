//! The benchmark's crypto baseline (cargo feature `bench`, never in the package apps
//! install): vodozemac's Olm encrypt and decrypt with nothing else around them, so the
//! bench page can set the SDK's per-message cost against the bare cipher's in the same run.
//! The page times the calls itself; this only holds the two sessions between them.

use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig};
use wasm_bindgen::prelude::*;

/// Two accounts with an established session (Alice → Bob, answered once, so Alice's
/// messages are normal ratchet messages as in a running conversation), and the
/// ciphertexts of the last [`OlmBench::encrypt`] waiting for [`OlmBench::decrypt`].
#[wasm_bindgen]
pub struct OlmBench {
    alice: Session,
    bob: Session,
    pending: Vec<OlmMessage>,
}

#[wasm_bindgen]
impl OlmBench {
    /// Sets up the two accounts and the session between them.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<OlmBench, JsError> {
        let alice_account = Account::new();
        let mut bob_account = Account::new();
        // Installations start sessions from the fallback key (they publish no one-time keys).
        let fallback = bob_account
            .generate_fallback_key()
            .or_else(|| bob_account.fallback_key().into_values().next())
            .ok_or_else(|| JsError::new("no fallback key"))?;
        let mut alice = alice_account.create_outbound_session(
            SessionConfig::version_1(),
            bob_account.curve25519_key(),
            fallback,
        )?;
        let OlmMessage::PreKey(first) = alice.encrypt(b"hello")? else {
            return Err(JsError::new("the first message is not a pre-key message"));
        };
        let mut bob = bob_account
            .create_inbound_session(
                SessionConfig::version_1(),
                alice_account.curve25519_key(),
                &first,
            )?
            .session;
        let answer = bob.encrypt(b"hi")?;
        alice.decrypt(&answer)?;
        Ok(OlmBench { alice, bob, pending: Vec::new() })
    }

    /// Encrypts `count` messages of `size` bytes on Alice's side, kept for `decrypt`.
    pub fn encrypt(&mut self, count: u32, size: u32) -> Result<(), JsError> {
        let plaintext = vec![b'x'; size as usize];
        self.pending.clear();
        for _ in 0..count {
            self.pending.push(self.alice.encrypt(&plaintext)?);
        }
        Ok(())
    }

    /// Decrypts, in order, on Bob's side every message of the last `encrypt`; the count.
    pub fn decrypt(&mut self) -> Result<u32, JsError> {
        let mut opened = 0;
        for message in self.pending.drain(..) {
            self.bob.decrypt(&message)?;
            opened += 1;
        }
        Ok(opened)
    }
}
