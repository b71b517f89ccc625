//! A test wallet: a secp256k1 key that signs like ethers' `Wallet.signMessage`, handed to the
//! SDK as the JS signer object apps pass.

use std::{cell::Cell, rc::Rc};

use e2ee_sdk::crypto::{Address, eip191_hash};
use js_sys::{Object, Promise, Reflect};
use k256::ecdsa::SigningKey;
use wasm_bindgen::{JsValue, prelude::Closure};

pub(crate) struct TestWallet {
    key: SigningKey,
    pub(crate) address: Address,
    /// How many times the SDK asked this wallet to sign.
    pub(crate) signatures: Rc<Cell<u32>>,
}

impl TestWallet {
    /// The wallet of a private key (`[0x11; 32]` is ethers' test vector address).
    pub(crate) fn starting_at(private_key: [u8; 32]) -> Self {
        let key = SigningKey::from_slice(&private_key).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let hash = <sha3::Keccak256 as sha3::Digest>::digest(&point.as_bytes()[1..]);
        let address = Address::from_bytes(hash[12..].try_into().unwrap());
        Self { key, address, signatures: Rc::new(Cell::new(0)) }
    }

    /// A wallet no other test uses.
    pub(crate) fn random() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).unwrap();
        Self::starting_at(key)
    }

    /// `personal_sign` of `text` as 65-byte hex.
    pub(crate) fn sign(&self, text: &str) -> String {
        sign_hex(&self.key, text)
    }

    /// The JS signer object (`getAddress`, `signMessage`) apps pass to `Client.create`.
    pub(crate) fn signer(&self) -> JsValue {
        let object = Object::new();
        let address = self.address.to_checksum();
        let get_address = Closure::<dyn Fn() -> Promise>::new(move || {
            Promise::resolve(&JsValue::from_str(&address))
        });
        let (key, count) = (self.key.clone(), self.signatures.clone());
        let sign_message = Closure::<dyn Fn(String) -> Promise>::new(move |text: String| {
            count.set(count.get() + 1);
            Promise::resolve(&JsValue::from_str(&sign_hex(&key, &text)))
        });
        Reflect::set(&object, &"getAddress".into(), &get_address.into_js_value()).unwrap();
        Reflect::set(&object, &"signMessage".into(), &sign_message.into_js_value()).unwrap();
        object.into()
    }
}

fn sign_hex(key: &SigningKey, text: &str) -> String {
    let (signature, recovery) =
        key.sign_prehash_recoverable(&eip191_hash(text.as_bytes())).unwrap();
    let mut bytes = signature.to_bytes().to_vec();
    bytes.push(27 + recovery.to_byte());
    format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
