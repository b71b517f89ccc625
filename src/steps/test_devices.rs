//! Installations for the steps' native tests: a wallet the test holds, an installation over
//! the in-memory store and node, one processor pass at a given time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};

use super::{
    Faults, Local, Pull,
    identity::{self, WalletSigner},
    processor, queue,
};
use crate::{
    crypto::{Address, PickleKey, sign_for_tests},
    engine::{InboundPayloadRecord, MessageRecord, OutboundPayloadRecord},
    error::SdkError,
    net::memory::MemoryNode,
    sim::block_on,
    store::{Changes, Store, memory::MemoryStore},
};

pub(super) struct Wallet {
    key: [u8; 32],
    pub(super) address: Address,
}

impl Wallet {
    pub(super) fn new(seed: u8) -> Self {
        let mut key = [seed; 32];
        key[0] = 0x11;
        let address = sign_for_tests(&key, b"who").recover(b"who").unwrap();
        Self { key, address }
    }

    /// The wallet's raw signature over `text`.
    pub(super) fn sign_bytes(&self, text: &str) -> Vec<u8> {
        sign_for_tests(&self.key, text.as_bytes()).as_bytes().to_vec()
    }
}

impl WalletSigner for Wallet {
    async fn address(&self) -> Result<String, SdkError> {
        Ok(self.address.to_string())
    }
    async fn sign(&self, text: &str) -> Result<String, SdkError> {
        Ok(sign_for_tests(&self.key, text.as_bytes()).to_hex())
    }
}

/// One installation: its store and its memory.
pub(super) struct Device {
    pub(super) store: MemoryStore,
    pub(super) local: Local,
    pub(super) address: String,
    pub(super) id: String,
}

pub(super) const NOW: u64 = 1_760_000_000_000;

/// A new installation of `wallet`, created and published at `now`.
pub(super) fn device_at(
    node: &MemoryNode,
    wallet: &Wallet,
    now: u64,
    refresh_threshold_ms: u64,
) -> Device {
    let store = MemoryStore::new();
    let key = PickleKey::from_bytes([7; 32]);
    let identity = block_on(async {
        let created =
            identity::create(&store, wallet.address, wallet, key, Changes::new(), now).await?;
        identity::start(&store, node, created, now).await
    })
    .unwrap();
    let local = Local {
        installation: RefCell::new(identity.installation),
        own: RefCell::new(identity.own.clone()),
        pickle_key: identity.pickle_key,
        refresh_threshold_ms,
        delete_sent_payloads: false,
        faults: Faults::default(),
        pull_needed: Cell::new(Pull::CatchUp),
        pulled_at_ms: Cell::new(None),
        verified: Default::default(),
        stream: Default::default(),
    };
    Device { store, local, address: wallet.address.to_string(), id: identity.own.id }
}

/// A new installation of `wallet` at [`NOW`], refreshing other accounts after a second.
pub(super) fn device(node: &MemoryNode, wallet: &Wallet) -> Device {
    device_at(node, wallet, NOW, 1_000)
}

impl Device {
    /// One pass of the processors at `now`.
    pub(super) fn pass(&self, node: &MemoryNode, now: u64) -> Result<(), SdkError> {
        let clock = move || now;
        let ctx = self.local.context(&self.store, node, &clock);
        self.local.need(Pull::CatchUp);
        block_on(processor::pass(&ctx, &self.local))
    }

    /// Queues `text` to `peer` as message `id`.
    pub(super) fn send(&self, peer: &str, id: &str, text: &str, now: u64) -> MessageRecord {
        block_on(async {
            let conversation = queue::conversation(&self.store, &self.address, peer, now).await?;
            queue::queue_message(
                &self.store,
                &conversation,
                &self.address,
                "text/plain".into(),
                text.as_bytes().to_vec(),
                id,
                now,
            )
            .await
        })
        .unwrap()
    }

    /// The message whose id was made from `nonce` (ids name their sender and conversation).
    pub(super) fn message(&self, nonce: &str) -> Option<MessageRecord> {
        let messages = block_on(self.store.all::<MessageRecord>()).unwrap();
        let made_from =
            |m: &MessageRecord| m.id.len() == nonce.len() + 32 && m.id.starts_with(nonce);
        messages.into_iter().find(|m| m.id == nonce || made_from(m))
    }

    pub(super) fn inbound(&self) -> Vec<InboundPayloadRecord> {
        block_on(self.store.all::<InboundPayloadRecord>()).unwrap()
    }

    pub(super) fn outbound(&self) -> Vec<OutboundPayloadRecord> {
        block_on(self.store.all::<OutboundPayloadRecord>()).unwrap()
    }
}

/// Alice and Bob, who know each other and refresh each other only after an hour (so that
/// processing reads and saves nothing for a refresh).
pub(super) fn quiet_pair(node: &MemoryNode) -> (Device, Device) {
    let hour = 3_600_000;
    let alice = device_at(node, &Wallet::new(1), NOW, hour);
    let bob = device_at(node, &Wallet::new(2), NOW, hour);
    alice.send(&bob.address, "hello", "hello", NOW);
    alice.pass(node, NOW).unwrap();
    bob.pass(node, NOW).unwrap();
    assert_eq!(bob.message("hello").unwrap().state, crate::engine::MessageState::Received);
    (alice, bob)
}
