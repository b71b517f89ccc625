//! Hooks for the browser tests only (cargo feature `test-export`, never in the package apps
//! install): key bytes to look for at rest, a way to open payloads without storing them,
//! faults to inject, and the options reader.

use serde_json::Value;

use super::{Client, Options};

impl Client {
    /// The account's private key bytes (test builds only), to prove they never reach
    /// storage in the clear.
    pub fn secret_keys_for_tests(&self) -> Vec<Vec<u8>> {
        self.inner.local().installation.borrow().secret_keys_for_tests()
    }

    /// The key bytes of every stored Olm session (test builds only), to prove they never
    /// reach storage in the clear.
    pub async fn session_secrets_for_tests(&self) -> Vec<Vec<u8>> {
        use crate::{crypto::OlmSession, engine::SessionRecord, store::Store};
        let Ok(store) = self.inner.store() else { return Vec::new() };
        let key = &self.inner.local().pickle_key;
        let mut secrets = Vec::new();
        for record in store.all::<SessionRecord>().await.unwrap_or_default() {
            let previous = record.previous.iter().map(|b| b.as_slice());
            for pickle in std::iter::once(record.pickle.as_slice()).chain(previous) {
                let text = String::from_utf8_lossy(pickle);
                if let Ok(session) = OlmSession::from_encrypted_pickle(&text, key) {
                    secrets.extend(session.secret_keys_for_tests());
                }
            }
        }
        secrets
    }
    /// Decrypts, in order, the payloads one sender installation (with curve25519 key
    /// `sender_identity_key`) sent to this one, with one session opened by the first: each
    /// as `"invite:<message id>"` or `"message:<message id>"`, through the engine's own
    /// `open_payload` (test builds only; nothing is stored).
    pub fn open_payloads_for_tests(
        &self,
        sender_identity_key: &[u8],
        payloads: &[Vec<u8>],
    ) -> Result<Vec<String>, String> {
        use crate::{
            engine::{SenderKeys, open_payload, parse_inbound},
            wire::PlaintextKind,
        };
        // Opening needs only the identity key (the signing key checks notices).
        let keys =
            SenderKeys { identity_key: sender_identity_key.to_vec(), signing_key: Vec::new() };
        let mut sessions = Vec::new();
        let mut opened = Vec::new();
        for bytes in payloads {
            let payload = parse_inbound(bytes).map_err(|r| r.detail)?;
            let mut installation = self.inner.local().installation.borrow_mut();
            let open = open_payload(&mut installation, &payload, &keys, &mut sessions)
                .map_err(|r| r.detail)?;
            // A stored session opened it in place; a new one replaces it.
            if let Some(session) = open.session {
                sessions = vec![session];
            }
            opened.push(match open.plaintext.kind {
                Some(PlaintextKind::Invite(invite)) => {
                    format!("invite:{}", invite.message.map(|m| m.id).unwrap_or_default())
                }
                Some(PlaintextKind::Message(message)) => format!("message:{}", message.id),
                None => return Err("an empty plaintext".into()),
            });
        }
        Ok(opened)
    }
    /// A payload from this installation to the installation `recipient_id` (bundle
    /// `recipient_bundle`), carrying `plaintext` (an encoded `Plaintext`, any content) on a
    /// new session, signed: what a hostile but authenticated peer can send (test builds
    /// only; nothing is stored).
    pub fn seal_for_tests(
        &self,
        recipient_bundle: &[u8],
        recipient_id: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, String> {
        use crate::wire::{ContactEntry, InboxPayload};
        let bundle = ContactEntry::decode_bundle(recipient_bundle).ok_or("not a bundle")?;
        let fallback = bundle.fallback_key.ok_or("no fallback key")?;
        let installation = self.inner.local().installation.borrow();
        let mut session = installation
            .create_outbound_session(&bundle.identity_key, &fallback.key)
            .map_err(|e| e.to_string())?;
        let encrypted = session.encrypt(plaintext).map_err(|e| e.to_string())?;
        let mut payload = InboxPayload {
            sender_address: self.inner.local().own.borrow().address.clone(),
            sender_installation_id: installation.id().to_owned(),
            message_type: encrypted.message_type,
            ciphertext: encrypted.ciphertext,
            notice: None,
            signature: Vec::new(),
        };
        payload.signature = installation.sign(&payload.signing_bytes(recipient_id));
        Ok(prost::Message::encode_to_vec(&payload))
    }
    /// Runs one pass of the processors now and reports its outcome (test builds only).
    pub async fn process_for_tests(&self) -> Result<(), String> {
        self.inner.runtime.pass().await.map_err(|e| format!("{}: {}", e.code.as_str(), e))
    }
    /// Makes the next send commit fail after its first writes (test builds only).
    pub fn fault_next_commit_for_tests(&self) {
        self.inner.local().faults.fail_next_commit.set(true);
    }
    /// Flips a byte of the next payload encrypted, so that its recipient cannot decrypt it
    /// (test builds only).
    pub fn corrupt_next_payload_for_tests(&self) {
        self.inner.local().faults.corrupt_next_payload.set(true);
    }
    /// While `hold` is set, inbox payloads are stored but not processed (test builds only):
    /// a reload "after storing, before processing".
    pub fn hold_inbound_for_tests(&self, hold: bool) {
        self.inner.local().faults.hold_inbound.set(hold);
        self.inner.runtime.wake.notify();
    }
    /// Closes the database connection under the client, as a browser may (test builds only).
    pub fn lose_connection_for_tests(&self) {
        if let Ok(store) = self.inner.store() {
            store.lose_connection_for_tests();
        }
    }
}

/// `ClientOptions` as `Client.create` reads them (all but `signer`), and the same type read
/// from JSON by serde_json, each as JSON to compare (test builds only).
impl Client {
    /// The options read from `options` by `from_js`, as `Client.create` reads them.
    pub fn read_options_for_tests(options: wasm_bindgen::JsValue) -> Result<Value, String> {
        crate::from_js::from_value::<Options>(options).map(options_json).map_err(|e| e.to_string())
    }

    /// The options read from JSON text by serde_json, the reference for the above.
    pub fn options_from_json_for_tests(json: &str) -> Result<Value, String> {
        serde_json::from_str::<Options>(json).map(options_json).map_err(|e| e.to_string())
    }
}

fn options_json(options: Options) -> Value {
    serde_json::json!({
        "nodeUrl": match options.node_url.0.as_slice() {
            [one] => Value::from(one.as_str()),
            list => Value::from(list.to_vec()),
        },
        "dbName": options.db_name,
        "refreshThresholdMs": options.refresh_threshold_ms,
        "pickleKey": options.pickle_key.map(|key| key.into_vec()),
        "requestTimeoutMs": options.request_timeout_ms,
        "deleteSentPayloads": options.delete_sent_payloads,
    })
}
