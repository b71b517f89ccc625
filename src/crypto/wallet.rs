//! Wallet addresses and `personal_sign` signatures (EIP-191 over secp256k1, as ethers and
//! every browser wallet produce them).
//!
//! Everything here takes untrusted input (the network, JS) and never panics: wrong lengths,
//! non-hex text, bad `v` values, out-of-range scalars and high-s signatures are all errors.
//!
//! High-s signatures are **rejected** with [`SignatureError::HighS`], as ethers 6 does
//! ("non-canonical s"). Wallets only produce low-s signatures (EIP-2), and rejecting the
//! other half keeps signatures non-malleable: one signer, one message, one byte string.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

/// The prefix of an EIP-191 `personal_sign` message, before its decimal byte length.
const EIP191_PREFIX: &[u8] = b"\x19Ethereum Signed Message:\n";

/// Hex digits of an address, after its `0x`.
const ADDRESS_HEX_DIGITS: usize = 40;

/// Bytes of a `r || s || v` signature.
const SIGNATURE_BYTES: usize = 65;

/// A wallet address: 20 bytes, shown as lower-case `0x` hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 20]);

impl Address {
    /// Parses `0x` + 40 hex digits. All-lower-case and all-upper-case (after `0x`) are accepted
    /// as is; mixed case must be a valid EIP-55 checksum, else [`AddressError::BadChecksum`].
    /// The prefix must be a lower-case `0x`, and no whitespace is trimmed.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        if text.trim() != text {
            return Err(AddressError::Whitespace);
        }
        let digits = text.strip_prefix("0x").ok_or(if text.contains('.') {
            AddressError::Name
        } else {
            AddressError::MissingPrefix
        })?;
        let got = digits.chars().count();
        if got != ADDRESS_HEX_DIGITS {
            return Err(AddressError::WrongLength { expected: ADDRESS_HEX_DIGITS, got });
        }
        let bytes = decode_hex::<20>(digits.as_bytes()).ok_or(AddressError::NotHex)?;
        let address = Self(bytes);
        let has_lower = digits.bytes().any(|c| c.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum() != text {
            return Err(AddressError::BadChecksum);
        }
        Ok(address)
    }

    /// The address with these bytes.
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The address's 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// EIP-55 checksummed form: `0x`, then hex whose letters are upper case where the
    /// matching nibble of keccak256(lower-case hex) is 8 or more.
    pub fn to_checksum(&self) -> String {
        let lower = encode_hex(&self.0);
        let hash = keccak256(&[lower.as_bytes()]);
        let mut out = String::with_capacity(2 + ADDRESS_HEX_DIGITS);
        out.push_str("0x");
        for (h, pair) in hash.iter().zip(lower.as_bytes().chunks_exact(2)) {
            for (c, nibble) in pair.iter().zip([h >> 4, h & 0x0f]) {
                let c = if nibble >= 8 { c.to_ascii_uppercase() } else { *c };
                out.push(char::from(c));
            }
        }
        out
    }

    /// The address of a public key: the last 20 bytes of keccak256 of its uncompressed
    /// encoding without the leading `0x04`.
    fn from_verifying_key(key: &VerifyingKey) -> Option<Self> {
        let point = key.to_encoded_point(false);
        let (&tag, xy) = point.as_bytes().split_first()?;
        if tag != 0x04 || xy.len() != 64 {
            return None;
        }
        let hash = keccak256(&[xy]);
        let mut bytes = [0u8; 20];
        for (out, h) in bytes.iter_mut().zip(hash.iter().skip(12)) {
            *out = *h;
        }
        Some(Self(bytes))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", encode_hex(&self.0))
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Why a text is not a wallet address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The text is empty.
    #[error("expected an address (0x and 40 hex digits), got an empty string")]
    Empty,
    /// It has spaces around it.
    #[error("expected an address without spaces around it")]
    Whitespace,
    /// A name such as `vitalik.eth`: the SDK takes addresses, the app resolves names.
    #[error(
        "expected an address, got a name: resolve it to its 0x address first (an ENS name with \
         your provider, e.g. ethers' `provider.resolveName(name)`)"
    )]
    Name,
    /// It does not start with `0x`.
    #[error("expected an address starting with 0x (and 40 hex digits)")]
    MissingPrefix,
    /// Not 40 characters after the `0x`.
    #[error("expected {expected} hex digits after 0x, got {got}")]
    WrongLength {
        /// Always 40.
        expected: usize,
        /// The number of characters after the `0x`.
        got: usize,
    },
    /// A character after the `0x` is not a hex digit.
    #[error("expected hex digits after 0x, got another character")]
    NotHex,
    /// Mixed case that is not the address's EIP-55 checksum: most likely a typo.
    #[error("expected an EIP-55 checksum in a mixed-case address, got a wrong one")]
    BadChecksum,
}

/// A 65-byte `r || s || v` secp256k1 signature as `personal_sign` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSignature([u8; 65]);

impl WalletSignature {
    /// From `0x`-prefixed (or bare) hex, 130 hex digits of either case. No whitespace is
    /// trimmed. The bytes are only checked for length here; [`Self::recover`] checks the rest.
    pub fn from_hex(text: &str) -> Result<Self, SignatureError> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let got = digits.chars().count();
        if got != 2 * SIGNATURE_BYTES {
            return Err(SignatureError::WrongLength { expected: 2 * SIGNATURE_BYTES, got });
        }
        decode_hex::<65>(digits.as_bytes()).map(Self).ok_or(SignatureError::NotHex)
    }

    /// From exactly 65 bytes, `r || s || v`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        <[u8; 65]>::try_from(bytes).map(Self).map_err(|_| SignatureError::WrongLength {
            expected: SIGNATURE_BYTES,
            got: bytes.len(),
        })
    }

    /// The 65 bytes, `r || s || v`.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// `0x`-prefixed lower-case hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", encode_hex(&self.0))
    }

    /// Recovers the address that signed `message` under EIP-191 personal_sign:
    /// `keccak256("\x19Ethereum Signed Message:\n" + decimal byte length + message)`.
    ///
    /// `v` may be 27/28 or 0/1 (anything else, including EIP-155 values, is
    /// [`SignatureError::BadRecoveryId`]). `r` and `s` must be in `1..n`
    /// ([`SignatureError::Unrecoverable`] otherwise) and `s` must be low
    /// ([`SignatureError::HighS`] otherwise). A valid signature over another message, or an
    /// altered one, usually recovers to some other address: compare the result.
    pub fn recover(&self, message: &[u8]) -> Result<Address, SignatureError> {
        let [rs @ .., v] = self.0;
        let is_y_odd = match v {
            0 | 27 => false,
            1 | 28 => true,
            other => return Err(SignatureError::BadRecoveryId(other)),
        };
        let signature = Signature::from_slice(&rs).map_err(|_| SignatureError::Unrecoverable)?;
        if signature.normalize_s().is_some() {
            return Err(SignatureError::HighS);
        }
        let hash = eip191_hash(message);
        let recovery_id = RecoveryId::new(is_y_odd, false);
        let key = VerifyingKey::recover_from_prehash(&hash, &signature, recovery_id)
            .map_err(|_| SignatureError::Unrecoverable)?;
        Address::from_verifying_key(&key).ok_or(SignatureError::Unrecoverable)
    }
}

/// Why bytes are not a usable wallet signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes (or, from hex, not 130 hex digits).
    #[error("wrong signature length (65 bytes, 130 hex digits): expected {expected}, got {got}")]
    WrongLength {
        /// 65 from bytes, 130 from hex.
        expected: usize,
        /// The number of bytes, or of characters after any `0x`.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("expected a hex signature, got another character")]
    NotHex,
    /// The last byte is not 27, 28, 0 or 1.
    #[error("expected a recovery id (v) of 27, 28, 0 or 1, got {0}")]
    BadRecoveryId(u8),
    /// `s` is in the upper half of the curve order: a malleated signature, which no wallet
    /// produces and ethers 6 refuses too.
    #[error("expected a low-s signature, got a high-s (non-canonical) one")]
    HighS,
    /// `r` or `s` is zero or not below the curve order, or no public key matches.
    #[error("expected a recoverable signature, got invalid r/s or no matching public key")]
    Unrecoverable,
}

/// EIP-191 personal_sign hash of `message`:
/// `keccak256("\x19Ethereum Signed Message:\n" + decimal byte length + message)`.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let length = message.len().to_string();
    keccak256(&[EIP191_PREFIX, length.as_bytes(), message])
}

/// A test-only wallet: signs `message` as `personal_sign` would (RFC 6979, low-s,
/// `v = 27 + recovery id`), so byte for byte as ethers' `Wallet.signMessage`.
///
/// Panics if `private_key` is not a valid secp256k1 secret key (zero or not below n).
#[cfg(test)]
#[allow(clippy::expect_used)]
pub(crate) fn sign_for_tests(private_key: &[u8; 32], message: &[u8]) -> WalletSignature {
    let key = k256::ecdsa::SigningKey::from_bytes(private_key.into())
        .expect("sign_for_tests: invalid secp256k1 private key");
    let (signature, recovery_id) = key
        .sign_prehash_recoverable(&eip191_hash(message))
        .expect("sign_for_tests: signing failed");
    let mut bytes = [0u8; 65];
    for (out, b) in bytes.iter_mut().zip(signature.to_bytes().iter()) {
        *out = *b;
    }
    bytes[64] = 27 + recovery_id.to_byte();
    WalletSignature(bytes)
}

/// keccak256 of the concatenation of `parts`.
fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Lower-case hex, no prefix.
use crate::wire::hex as encode_hex;

/// Exactly `2 * N` hex digits of either case, no prefix; `None` otherwise.
fn decode_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    fn value(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = (value(*hi)? << 4) | value(*lo)?;
    }
    Some(out)
}

#[cfg(test)]
#[path = "wallet_vectors.rs"]
mod vectors;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::vectors::{
        CHECKSUMS, EIP55_SPEC, HELLO_ALTERATIONS, HELLO_HIGH_S, KEYS, Message, Outcome,
        long_message,
    };
    use super::*;

    /// secp256k1's group order n, big-endian.
    const ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];

    /// (n - 1) / 2: the largest low s.
    const HALF_ORDER: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ];

    /// The one vector quoted in the toolchain notes (ethers 6).
    const KEY_11: [u8; 32] = [0x11; 32];
    const ADDRESS_11: &str = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A";
    const HELLO_11: &str = "0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03e02e9d\
                            28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f891b";

    fn message_bytes(message: Message) -> Vec<u8> {
        match message {
            Message::Text(text) => text.as_bytes().to_vec(),
            Message::Long => long_message(),
            Message::Bytes(hex) => {
                let digits = hex.strip_prefix("0x").unwrap();
                (0..digits.len() / 2)
                    .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap())
                    .collect()
            }
        }
    }

    fn key_bytes(hex: &str) -> [u8; 32] {
        let digits = hex.strip_prefix("0x").unwrap();
        decode_hex::<32>(digits.as_bytes()).unwrap()
    }

    fn address(text: &str) -> Address {
        Address::parse(text).unwrap()
    }

    fn signature(r: [u8; 32], s: [u8; 32], v: u8) -> WalletSignature {
        let mut bytes = [0u8; 65];
        bytes[..32].copy_from_slice(&r);
        bytes[32..64].copy_from_slice(&s);
        bytes[64] = v;
        WalletSignature(bytes)
    }

    /// xorshift64: deterministic, dependency-free noise for the malformed-input tests.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn byte(&mut self) -> u8 {
            self.next().to_le_bytes()[0]
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }

        fn fill(&mut self, out: &mut [u8]) {
            for b in out {
                *b = self.byte();
            }
        }
    }

    #[test]
    fn the_toolchain_notes_vector_recovers() {
        let signature = WalletSignature::from_hex(HELLO_11).unwrap();
        assert_eq!(signature.recover(b"hello"), Ok(address(ADDRESS_11)));
        assert_eq!(signature.to_hex(), HELLO_11);
        assert_eq!(sign_for_tests(&KEY_11, b"hello"), signature);
    }

    #[test]
    fn every_ethers_vector_recovers_to_its_address() {
        let mut count = 0;
        for key in KEYS {
            let expected = address(key.address);
            assert_eq!(expected.to_checksum(), key.address);
            for signed in key.signed {
                let message = message_bytes(signed.message);
                let signature = WalletSignature::from_hex(signed.signature).unwrap();
                assert_eq!(signature.recover(&message), Ok(expected), "{}", signed.signature);
                assert_eq!(signature.to_hex(), signed.signature);
                let hash = format!("0x{}", encode_hex(&eip191_hash(&message)));
                assert_eq!(hash, signed.hash);
                count += 1;
            }
        }
        assert_eq!(count, 20);
        assert_eq!(long_message().len(), 1000);
    }

    #[test]
    fn private_keys_derive_ethers_addresses() {
        for key in KEYS {
            let signing =
                k256::ecdsa::SigningKey::from_bytes((&key_bytes(key.private_key)).into()).unwrap();
            let derived = Address::from_verifying_key(signing.verifying_key()).unwrap();
            assert_eq!(derived.to_checksum(), key.address);
        }
    }

    #[test]
    fn sign_for_tests_matches_ethers_byte_for_byte() {
        for key in KEYS {
            let private_key = key_bytes(key.private_key);
            for signed in key.signed {
                let message = message_bytes(signed.message);
                let ours = sign_for_tests(&private_key, &message);
                assert_eq!(ours.to_hex(), signed.signature);
                assert_eq!(ours.recover(&message), Ok(address(key.address)));
            }
        }
    }

    #[test]
    fn sign_for_tests_round_trips_random_keys_and_messages() {
        let mut rng = XorShift(0x5eed_0001);
        for _ in 0..16 {
            let mut private_key = [0u8; 32];
            rng.fill(&mut private_key);
            private_key[0] &= 0x7f; // below n
            private_key[31] |= 1; // not zero
            let signing = k256::ecdsa::SigningKey::from_bytes((&private_key).into()).unwrap();
            let expected = Address::from_verifying_key(signing.verifying_key()).unwrap();
            let mut message = vec![0u8; rng.below(300)];
            rng.fill(&mut message);
            let signature = sign_for_tests(&private_key, &message);
            assert!(matches!(signature.as_bytes()[64], 27 | 28));
            assert_eq!(signature.recover(&message), Ok(expected));
            message.push(0);
            assert_ne!(signature.recover(&message), Ok(expected));
        }
    }

    #[test]
    fn alterations_match_ethers_verify_message() {
        let signer = address(ADDRESS_11);
        for &(message, altered, outcome) in HELLO_ALTERATIONS {
            let signature = WalletSignature::from_hex(altered).unwrap();
            let v = signature.as_bytes()[64];
            let ours = signature.recover(message.as_bytes());
            let expected = match outcome {
                // ethers also takes EIP-155 transaction v values (35 + 2 * chain id + parity);
                // personal_sign never produces them, and this module refuses them.
                Outcome::Recovers(_) if v >= 35 => Err(SignatureError::BadRecoveryId(v)),
                Outcome::Recovers(text) => Ok(address(text)),
                Outcome::Throws("invalid v") => Err(SignatureError::BadRecoveryId(v)),
                Outcome::Throws("non-canonical s; use ._s") => Err(SignatureError::HighS),
                Outcome::Throws(_) => Err(SignatureError::Unrecoverable),
            };
            assert_eq!(ours, expected, "{message:?} {altered}");
            let original = message == "hello" && altered == HELLO_11;
            if ours == Ok(signer) {
                // Only v = 0 (the same parity as 27) may still recover the signer.
                assert!(original || v == 0, "{message:?} {altered}");
            }
        }
    }

    #[test]
    fn altered_messages_recover_other_addresses() {
        for key in KEYS {
            let expected = address(key.address);
            for signed in key.signed {
                let signature = WalletSignature::from_hex(signed.signature).unwrap();
                let mut message = message_bytes(signed.message);
                message.push(b' ');
                let recovered = signature.recover(&message).unwrap();
                assert_ne!(recovered, expected);
                message.pop();
                if let Some(first) = message.first_mut() {
                    *first ^= 1;
                    assert_ne!(signature.recover(&message).unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn altering_any_byte_of_r_or_s_never_recovers_the_signer() {
        let mut outcomes = [0usize; 3]; // other address, high s, unrecoverable
        for key in KEYS {
            let expected = address(key.address);
            let signed = &key.signed[1];
            let message = message_bytes(signed.message);
            let original = WalletSignature::from_hex(signed.signature).unwrap();
            for index in 0..64 {
                for flip in [0x01, 0x80] {
                    let mut bytes = *original.as_bytes();
                    bytes[index] ^= flip;
                    match WalletSignature(bytes).recover(&message) {
                        Ok(other) => {
                            assert_ne!(other, expected);
                            outcomes[0] += 1;
                        }
                        Err(SignatureError::HighS) => {
                            assert!(index == 32 && flip == 0x80);
                            outcomes[1] += 1;
                        }
                        Err(other) => {
                            assert_eq!(other, SignatureError::Unrecoverable);
                            assert!(index < 32, "a changed s keeps r a valid x");
                            outcomes[2] += 1;
                        }
                    }
                }
            }
        }
        assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
    }

    #[test]
    fn high_s_is_rejected_even_though_it_is_the_same_key() {
        let high = WalletSignature::from_hex(HELLO_HIGH_S).unwrap();
        assert_eq!(high.recover(b"hello"), Err(SignatureError::HighS));
        // It is the malleated twin of the real signature: normalising s gives it back.
        let low = WalletSignature::from_hex(HELLO_11).unwrap();
        let high_sig = Signature::from_slice(&high.as_bytes()[..64]).unwrap();
        let normalised = high_sig.normalize_s().unwrap();
        assert_eq!(normalised.to_bytes().as_slice(), &low.as_bytes()[..64]);
        assert_ne!(high.as_bytes()[64], low.as_bytes()[64]);
    }

    #[test]
    fn s_at_the_half_order_boundary() {
        let r =
            *WalletSignature::from_hex(HELLO_11).unwrap().as_bytes().first_chunk::<32>().unwrap();
        let mut above_half = HALF_ORDER;
        above_half[31] += 1;
        for v in [27, 28] {
            let at_half = signature(r, HALF_ORDER, v).recover(b"hello");
            assert!(at_half.is_ok(), "{at_half:?}");
            assert_eq!(signature(r, above_half, v).recover(b"hello"), Err(SignatureError::HighS));
        }
    }

    #[test]
    fn out_of_range_scalars_are_unrecoverable() {
        let good = WalletSignature::from_hex(HELLO_11).unwrap();
        let r = *good.as_bytes().first_chunk::<32>().unwrap();
        let s = *good.as_bytes()[32..].first_chunk::<32>().unwrap();
        let ones = [0xff; 32];
        let mut order_plus_one = ORDER;
        order_plus_one[31] += 1;
        for (r, s) in [
            ([0; 32], s),
            (r, [0; 32]),
            ([0; 32], [0; 32]),
            (ORDER, s),
            (order_plus_one, s),
            (ones, s),
            (r, ORDER),
            (r, order_plus_one),
            (r, ones),
        ] {
            for v in [0, 1, 27, 28] {
                let result = signature(r, s, v).recover(b"hello");
                assert_eq!(result, Err(SignatureError::Unrecoverable));
            }
        }
    }

    #[test]
    fn v_may_be_27_28_or_0_1_and_nothing_else() {
        let good = WalletSignature::from_hex(HELLO_11).unwrap();
        let with_v = |v: u8| {
            let mut bytes = *good.as_bytes();
            bytes[64] = v;
            WalletSignature(bytes).recover(b"hello")
        };
        assert_eq!(with_v(27), Ok(address(ADDRESS_11)));
        assert_eq!(with_v(0), with_v(27));
        assert_eq!(with_v(1), with_v(28));
        assert_ne!(with_v(28), with_v(27));
        for v in (2..27).chain(29..=255) {
            assert_eq!(with_v(v), Err(SignatureError::BadRecoveryId(v)));
        }
        assert_eq!(
            SignatureError::BadRecoveryId(29).to_string(),
            "expected a recovery id (v) of 27, 28, 0 or 1, got 29"
        );
    }

    #[test]
    fn signature_hex_parsing() {
        let bare = HELLO_11.strip_prefix("0x").unwrap();
        let good = WalletSignature::from_hex(HELLO_11).unwrap();
        assert_eq!(WalletSignature::from_hex(bare), Ok(good.clone()));
        assert_eq!(WalletSignature::from_hex(&bare.to_uppercase()), Ok(good.clone()));
        assert_eq!(WalletSignature::from_hex(&format!("0x{}", bare.to_uppercase())), Ok(good));

        let wrong = |got| Err(SignatureError::WrongLength { expected: 130, got });
        assert_eq!(WalletSignature::from_hex(""), wrong(0));
        assert_eq!(WalletSignature::from_hex("0x"), wrong(0));
        assert_eq!(WalletSignature::from_hex(&bare[1..]), wrong(129));
        assert_eq!(WalletSignature::from_hex(&format!("{bare}0")), wrong(131));
        assert_eq!(WalletSignature::from_hex(&format!("{bare}00")), wrong(132));
        assert_eq!(WalletSignature::from_hex(&format!("{HELLO_11}\n")), wrong(131));
        assert_eq!(WalletSignature::from_hex(&format!("0X{bare}")), wrong(132));
        assert_eq!(
            WalletSignature::from_hex(&format!("0x0x{}", &bare[2..])),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            wrong(129).unwrap_err().to_string(),
            "wrong signature length (65 bytes, 130 hex digits): expected 130, got 129"
        );

        let not_hex = Err(SignatureError::NotHex);
        assert_eq!(WalletSignature::from_hex(&format!("{}g", &bare[1..])), not_hex);
        assert_eq!(WalletSignature::from_hex(&format!("g{}", &bare[1..])), not_hex);
        assert_eq!(WalletSignature::from_hex(&format!("{} ", &bare[1..])), not_hex);
        assert_eq!(WalletSignature::from_hex(&format!("{}ü", &bare[1..])), not_hex);
        assert_eq!(WalletSignature::from_hex(&format!("{}-", &bare[1..])), not_hex);
        assert_eq!(WalletSignature::from_hex(&"漢".repeat(130)), not_hex);
    }

    #[test]
    fn signature_bytes_parsing() {
        let good = WalletSignature::from_hex(HELLO_11).unwrap();
        let bytes = good.as_bytes();
        assert_eq!(WalletSignature::from_bytes(bytes), Ok(good.clone()));
        for len in [0, 1, 32, 64, 66, 130] {
            let input = vec![27u8; len];
            assert_eq!(
                WalletSignature::from_bytes(&input),
                Err(SignatureError::WrongLength { expected: 65, got: len })
            );
        }
        assert_eq!(
            WalletSignature::from_bytes(&bytes[..64]).unwrap_err().to_string(),
            "wrong signature length (65 bytes, 130 hex digits): expected 65, got 64"
        );
    }

    #[test]
    fn eip191_hash_prefixes_the_decimal_byte_length() {
        let mut expected = Keccak256::new();
        expected.update(b"\x19Ethereum Signed Message:\n10");
        expected.update(b"0123456789");
        assert_eq!(eip191_hash(b"0123456789"), <[u8; 32]>::from(expected.finalize()));
        // "ü" is two bytes, so the length is 2, not 1.
        let mut expected = Keccak256::new();
        expected.update("\x19Ethereum Signed Message:\n2ü".as_bytes());
        assert_eq!(eip191_hash("ü".as_bytes()), <[u8; 32]>::from(expected.finalize()));
    }

    #[test]
    fn checksums_match_ethers_get_address() {
        for &(lower, checksummed) in CHECKSUMS {
            let parsed = address(lower);
            assert_eq!(parsed.to_checksum(), checksummed);
            assert_eq!(parsed.to_string(), lower);
            assert_eq!(address(checksummed), parsed);
            assert_eq!(address(&format!("0x{}", lower[2..].to_uppercase())), parsed);
        }
        for &text in EIP55_SPEC {
            let parsed = address(text);
            let lower = text.to_lowercase();
            assert_eq!(parsed.to_string(), lower);
            // The all-caps and all-lower examples are accepted as they are.
            let has_lower = text[2..].bytes().any(|c| c.is_ascii_lowercase());
            let has_upper = text[2..].bytes().any(|c| c.is_ascii_uppercase());
            if has_lower && has_upper {
                assert_eq!(parsed.to_checksum(), text);
            }
        }
    }

    #[test]
    fn address_parse_accepts_lower_upper_and_checksummed() {
        let checksummed = address(ADDRESS_11);
        let lower = ADDRESS_11.to_lowercase();
        let upper = format!("0x{}", ADDRESS_11[2..].to_uppercase());
        assert_eq!(Address::parse(&lower), Ok(checksummed));
        assert_eq!(Address::parse(&upper), Ok(checksummed));
        assert_eq!(lower.parse::<Address>(), Ok(checksummed));
        assert_eq!(checksummed.to_string(), lower);
        assert_eq!(checksummed.to_checksum(), ADDRESS_11);
        assert_eq!(Address::from_bytes(*checksummed.as_bytes()), checksummed);
        let zero = Address::from_bytes([0; 20]);
        assert_eq!(zero.to_string(), format!("0x{}", "0".repeat(40)));
        assert_eq!(Address::parse(&zero.to_checksum()), Ok(zero));
    }

    #[test]
    fn address_parse_rejects_a_bad_checksum() {
        let mut checked = 0;
        for text in KEYS.iter().map(|k| k.address).chain(CHECKSUMS.iter().map(|c| c.1)) {
            for (i, c) in text.char_indices().skip(2).filter(|(_, c)| c.is_ascii_alphabetic()) {
                let mut typo = text.to_string();
                let swapped = if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                typo.replace_range(i..=i, &swapped.to_string());
                let digits = &typo[2..];
                let mixed = digits.bytes().any(|c| c.is_ascii_lowercase())
                    && digits.bytes().any(|c| c.is_ascii_uppercase());
                let expected =
                    if mixed { Err(AddressError::BadChecksum) } else { Ok(address(text)) };
                assert_eq!(Address::parse(&typo), expected, "{typo}");
                checked += 1;
            }
        }
        assert!(checked > 100);
        assert_eq!(
            AddressError::BadChecksum.to_string(),
            "expected an EIP-55 checksum in a mixed-case address, got a wrong one"
        );
    }

    #[test]
    fn address_parse_rejects_malformed_text() {
        let lower = ADDRESS_11.to_lowercase();
        let digits = &lower[2..];
        let wrong = |got| Err(AddressError::WrongLength { expected: 40, got });
        assert_eq!(Address::parse("0x"), wrong(0));
        assert_eq!(Address::parse(&lower[..41]), wrong(39));
        assert_eq!(Address::parse(&format!("{lower}0")), wrong(41));
        assert_eq!(Address::parse(&format!("0x{}", "0".repeat(64))), wrong(64));
        assert_eq!(wrong(39).unwrap_err().to_string(), "expected 40 hex digits after 0x, got 39");

        let missing = Err(AddressError::MissingPrefix);
        assert_eq!(Address::parse(digits), missing);
        assert_eq!(Address::parse(&format!("0X{digits}")), missing);
        assert_eq!(Address::parse(&format!("x{digits}")), missing);
        // The common mistakes, each named.
        assert_eq!(Address::parse(""), Err(AddressError::Empty));
        assert_eq!(Address::parse(&format!(" {lower}")), Err(AddressError::Whitespace));
        assert_eq!(Address::parse(&format!("{lower}\n")), Err(AddressError::Whitespace));
        assert_eq!(Address::parse("vitalik.eth"), Err(AddressError::Name));
        assert!(AddressError::Name.to_string().contains("resolveName"));

        let not_hex = Err(AddressError::NotHex);
        assert_eq!(Address::parse(&format!("0x{}g", &digits[1..])), not_hex);
        assert_eq!(Address::parse(&format!("0x{}ü", &digits[1..])), not_hex);
        assert_eq!(Address::parse(&format!("0x{}", "漢".repeat(40))), not_hex);
        assert_eq!(Address::parse(&format!("0x0x{}", &digits[2..])), not_hex);
        assert_eq!(Address::parse(&format!("0x{} ", &digits[1..])), Err(AddressError::Whitespace));
        assert_eq!(Address::parse(&format!("0x+{}", &digits[1..])), not_hex);
    }

    #[test]
    fn hex_helpers_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        let hex = encode_hex(&bytes);
        assert_eq!(hex.len(), 512);
        assert_eq!(&hex[..8], "00010203");
        assert_eq!(&hex[hex.len() - 4..], "feff");
        let array: [u8; 256] = bytes.clone().try_into().unwrap();
        assert_eq!(decode_hex::<256>(hex.as_bytes()), Some(array));
        assert_eq!(decode_hex::<256>(hex.to_uppercase().as_bytes()), Some(array));
        assert_eq!(decode_hex::<2>(b"abc"), None);
        assert_eq!(decode_hex::<2>(b"abcde"), None);
        assert_eq!(decode_hex::<2>(b"ab:d"), None);
        assert_eq!(decode_hex::<2>(b"ab/d"), None);
        assert_eq!(decode_hex::<2>(b"abGd"), None);
        assert_eq!(decode_hex::<2>(b"ab`d"), None);
        assert_eq!(decode_hex::<0>(b""), Some([]));
    }

    #[test]
    fn random_65_byte_signatures_never_panic() {
        let mut rng = XorShift(0x0123_4567_89ab_cdef);
        let (mut recovered, mut high_s, mut unrecoverable, mut bad_v) = (0, 0, 0, 0);
        for i in 0..600 {
            let mut bytes = [0u8; 65];
            rng.fill(&mut bytes);
            bytes[64] = match i % 6 {
                0 => 27,
                1 => 28,
                2 => 0,
                3 => 1,
                _ => bytes[64],
            };
            if i % 7 == 0 {
                bytes[..32].fill(0xff);
            }
            if i % 11 == 0 {
                bytes[32..64].fill(0);
            }
            let signature = WalletSignature::from_bytes(&bytes).unwrap();
            assert_eq!(WalletSignature::from_hex(&signature.to_hex()), Ok(signature.clone()));
            let message_len = rng.below(66);
            match signature.recover(&bytes[..message_len]) {
                Ok(_) => recovered += 1,
                Err(SignatureError::HighS) => high_s += 1,
                Err(SignatureError::BadRecoveryId(v)) => {
                    assert!(!matches!(v, 0 | 1 | 27 | 28));
                    bad_v += 1;
                }
                Err(other) => {
                    assert_eq!(other, SignatureError::Unrecoverable);
                    unrecoverable += 1;
                }
            }
        }
        // Every path was taken.
        assert!(recovered > 50 && high_s > 50 && unrecoverable > 50 && bad_v > 50);
    }

    #[test]
    fn random_text_and_lengths_never_panic() {
        const ALPHABET: &[&str] =
            &["0", "9", "a", "f", "A", "F", "g", "x", "0x", " ", "ü", "漢", "\n", "\0", "-"];
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for i in 0..600 {
            let len = if i % 2 == 0 { rng.below(140) } else { [40, 42, 130, 132][i % 4] };
            let mut text: String = (0..len).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
            if i % 3 == 0 {
                text.insert_str(0, "0x");
            }
            let _ = Address::parse(&text);
            let _ = text.parse::<Address>();
            let _ = WalletSignature::from_hex(&text).and_then(|s| s.recover(text.as_bytes()));
            let mut raw = vec![0u8; rng.below(140)];
            rng.fill(&mut raw);
            let lossy = String::from_utf8_lossy(&raw);
            let _ = Address::parse(&lossy);
            let _ = WalletSignature::from_hex(&lossy);
            let _ = WalletSignature::from_bytes(&raw).and_then(|s| s.recover(&raw));
        }
        // Near-misses of real inputs: one random character changed.
        for _ in 0..300 {
            for real in [ADDRESS_11, HELLO_11] {
                let mut chars: Vec<char> = real.chars().collect();
                let at = rng.below(chars.len());
                chars[at] = ALPHABET[rng.below(ALPHABET.len())].chars().next().unwrap();
                let text: String = chars.into_iter().collect();
                if text == real {
                    continue;
                }
                // A changed digit changes the bytes (and breaks the checksum); a changed case
                // breaks the checksum: never the original address or signer.
                assert_ne!(Address::parse(&text), Ok(address(ADDRESS_11)), "{text}");
                let original = WalletSignature::from_hex(HELLO_11).unwrap();
                // (Hex digits of either case are the same byte.)
                let changed = WalletSignature::from_hex(&text).ok().filter(|s| *s != original);
                if let Some(signature) = changed {
                    assert_ne!(signature.recover(b"hello"), Ok(address(ADDRESS_11)), "{text}");
                }
            }
        }
    }
}
