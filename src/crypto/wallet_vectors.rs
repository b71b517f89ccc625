//! Test vectors for `wallet.rs`, all produced by ethers 6.17.0 (npm `ethers@6`, node
//! v20.20.2): `new Wallet(key).signMessage(message)` for the signatures, `getAddress` for
//! the checksums, `verifyMessage` for the altered signatures, `hashMessage` for the hashes.
//! The fourth private key came from `Wallet.createRandom()`.

/// A message as it was given to `signMessage`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Message {
    /// A string (signed as its UTF-8 bytes).
    Text(&'static str),
    /// [`long_message`].
    Long,
    /// A `Uint8Array`, here as hex.
    Bytes(&'static str),
}

/// One `signMessage` call.
pub(super) struct Signed {
    pub(super) message: Message,
    /// `hashMessage(message)`.
    pub(super) hash: &'static str,
    pub(super) signature: &'static str,
}

/// A private key, its address (`wallet.address`, checksummed) and its signatures.
pub(super) struct KeyVectors {
    pub(super) private_key: &'static str,
    pub(super) address: &'static str,
    pub(super) signed: &'static [Signed],
}

/// What ethers' `verifyMessage` made of an altered signature or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// It recovered this (checksummed) address.
    Recovers(&'static str),
    /// It threw this error.
    Throws(&'static str),
}

/// The 1,000-character message: `ALPHA[i % ALPHA.length]` for i in 0..1000, with
/// ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789 ".
pub(super) fn long_message() -> Vec<u8> {
    b"abcdefghijklmnopqrstuvwxyz0123456789 ".iter().copied().cycle().take(1000).collect()
}

pub(super) const KEYS: &[KeyVectors] = &[
    KeyVectors {
        private_key: "0x1111111111111111111111111111111111111111111111111111111111111111",
        address: "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A",
        signed: &[
            Signed {
                message: Message::Text(""),
                hash: "0x5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad",
                signature: "\
                    0x2a78cca8e3c7653cb7943898806b3b9d74811a26fa9f9db6c4ba07bf714664\
                    cb2f841b084f5264df14711a2cc77a6cf0c0cecb6691a132a2a8c6e9321f23d5\
                    5d1b",
            },
            Signed {
                message: Message::Text("hello"),
                hash: "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750",
                signature: "\
                    0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
                    e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
                    891b",
            },
            Signed {
                message: Message::Text(
                    "\
                    Link installation\n\
                    Address: 0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a\n\
                    Key: ü漢字",
                ),
                hash: "0xe33b673fc413936df268e3b1295d97cf7be455eab141bf0a2a730926147942a5",
                signature: "\
                    0xa162b0c7dd6d15b9399d8c4ac7e0dacbae7e27e8de0afedaee17e1c216c9d7\
                    4a04d83a4a169587dca2623c175d9d7baa7cdfdbf7ec5436e3505c9e4da3bdc3\
                    551c",
            },
            Signed {
                message: Message::Long,
                hash: "0x5794d2563fb0383f64e9efb46b43858ca381689db4c04b4072cdf6e559502c28",
                signature: "\
                    0x74a6496ade9b37eedcdd1cca8b146dea4c07c287801afed4b56e991394e552\
                    f578361786716336a120cfa534753f75855b543e159b7bd5e04c50c9634aa505\
                    b61b",
            },
            Signed {
                message: Message::Bytes(
                    "\
                    0x052a4f7499bee3082d52779cc1e60b30557a9fc4e90e33587da2c7ec11365b\
                    80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb\
                    20",
                ),
                hash: "0x797efc6730076310d54afc938ef5f9bc1ebb52712442c522c3c8a941a270b3f8",
                signature: "\
                    0x9354b318e3a307fc9ab96b531da524e972602d0c7da04921fb9f39684dac54\
                    9f767c93dafd93a937b7253fcefaa99cfc814fc0fdd325e545b5ee019991390d\
                    591b",
            },
        ],
    },
    KeyVectors {
        private_key: "0x2222222222222222222222222222222222222222222222222222222222222222",
        address: "0x1563915e194D8CfBA1943570603F7606A3115508",
        signed: &[
            Signed {
                message: Message::Text(""),
                hash: "0x5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad",
                signature: "\
                    0xe9f9984ba234bd311c89021a2e94f7c772c8e46e8596fcb41908c2f55de91b\
                    0d5a79cb6ff7cef949095e22f735643bc7eee1c92a875d8a5df8cf4cb07f4d75\
                    bc1b",
            },
            Signed {
                message: Message::Text("hello"),
                hash: "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750",
                signature: "\
                    0x1b45716596d11d870d423dc25a27e1a011e6d71470ed9d9c05fe6e7e2d9ded\
                    c80b3739b0a395e7b9dc30547cb9b4cfe261d6c92210d15397a37a95b2f88620\
                    cc1b",
            },
            Signed {
                message: Message::Text(
                    "\
                    Link installation\n\
                    Address: 0x1563915e194d8cfba1943570603f7606a3115508\n\
                    Key: ü漢字",
                ),
                hash: "0xe891923c486d265fb6866b3d678baa0cf15b60535e3f2c4d6942d556984a78e6",
                signature: "\
                    0xb0762cbd212edc1bfa490e918886658865b31972c9f26e002fa26d94a86663\
                    eb302c48cc5acf0045ebd0604f35081628caed662cce4c6887fbde39946a47c3\
                    6b1b",
            },
            Signed {
                message: Message::Long,
                hash: "0x5794d2563fb0383f64e9efb46b43858ca381689db4c04b4072cdf6e559502c28",
                signature: "\
                    0xc28ac9fbd1b57a2c80d71aa649b79fb448527b2db2ca08113b6ec5452b1bdf\
                    5d0711312f2b24eefe5e147e2c69f3397fbb5f92580d7e9d8140382b500ca8c2\
                    d61b",
            },
            Signed {
                message: Message::Bytes(
                    "\
                    0x052a4f7499bee3082d52779cc1e60b30557a9fc4e90e33587da2c7ec11365b\
                    80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb\
                    20",
                ),
                hash: "0x797efc6730076310d54afc938ef5f9bc1ebb52712442c522c3c8a941a270b3f8",
                signature: "\
                    0x6f3afc2bead932b198cb64138924cd13cf725f8537489807e796d15dca0b5f\
                    836f05cace3e7a80d03a98ca5b4ddc062360a886c1697540e8526b36f68806f9\
                    431c",
            },
        ],
    },
    KeyVectors {
        private_key: "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        address: "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c",
        signed: &[
            Signed {
                message: Message::Text(""),
                hash: "0x5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad",
                signature: "\
                    0xe69e62383070377b9c305f0a39dc0c6ed003afe3cded630af4b144ed389914\
                    7768106a3b2a064099d98a59d1e0ed06ec4bb6fb2d6c3306daa0db0cd9255cfc\
                    0d1b",
            },
            Signed {
                message: Message::Text("hello"),
                hash: "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750",
                signature: "\
                    0x0c3324046197fec2336027b2c0931a7b4d5e8fc063e1977b46ab510d6dc493\
                    057889019d0e4a07d56babffba4a017a4c85c69aae7dcfacdb004e75ed453a46\
                    511b",
            },
            Signed {
                message: Message::Text(
                    "\
                    Link installation\n\
                    Address: 0xfcad0b19bb29d4674531d6f115237e16afce377c\n\
                    Key: ü漢字",
                ),
                hash: "0x414d484b5043eb016d6b1bc79ff66b8551742fc2c1f297615e862c8b865be1fe",
                signature: "\
                    0x221cb6e165720ecef052fc083de8b8088a452293befe3d5def7294266805c1\
                    0e7d00c21627507741bcfcea54e98c9215577f17e4606274c5682a6095b4e770\
                    501b",
            },
            Signed {
                message: Message::Long,
                hash: "0x5794d2563fb0383f64e9efb46b43858ca381689db4c04b4072cdf6e559502c28",
                signature: "\
                    0x20e89412174b635e6dc48ac4926ec40bec7a600f8c2f9458fc92b42e216b35\
                    e0436bf4fd8a9d4a272efd0483a87a8eb8762d078b27d7f1a9b9c2d3df9985e0\
                    461b",
            },
            Signed {
                message: Message::Bytes(
                    "\
                    0x052a4f7499bee3082d52779cc1e60b30557a9fc4e90e33587da2c7ec11365b\
                    80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb\
                    20",
                ),
                hash: "0x797efc6730076310d54afc938ef5f9bc1ebb52712442c522c3c8a941a270b3f8",
                signature: "\
                    0x84cb9a62572244dff3e948c2b566fb8c73dde00b540c4ff01d3ab81920c57a\
                    b82b2e19db47819d07cd4904cdcf3d33cc668baab6d1152f1affb0979782f1d6\
                    e21c",
            },
        ],
    },
    KeyVectors {
        private_key: "0xf4a4d72c6799c6620c25a42fab2db02fadede8c6fe4bf9475111a004e6b88124",
        address: "0x427e1112eecda7106b9ca6063f6917273A37C7fB",
        signed: &[
            Signed {
                message: Message::Text(""),
                hash: "0x5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad",
                signature: "\
                    0xb31a786e2a238b107e2420955187d7e5bdd267523b73b67c1c30894cf0b35c\
                    c72fe0a382acf9206353c97566a59a17cc4383dcf14a7cf413aa98b14ebdefb9\
                    e81b",
            },
            Signed {
                message: Message::Text("hello"),
                hash: "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750",
                signature: "\
                    0x2e5eab0631b4cacf1115fdbb95d008bda9c3a847f8fa15f090c00ead5c5a9c\
                    ea6609da565455637fb38358e4da50b276bd2f6b9567a4749019a1f64bb3a484\
                    9c1b",
            },
            Signed {
                message: Message::Text(
                    "\
                    Link installation\n\
                    Address: 0x427e1112eecda7106b9ca6063f6917273a37c7fb\n\
                    Key: ü漢字",
                ),
                hash: "0x5b575ac2a39ecba53816320c97d4693509722ed6ebe88ab914587376eb81b6bb",
                signature: "\
                    0x7aa2c77568f02719c26a073d0cf393ec6acedd7b75faaf7b2ffdc7e41a2c6e\
                    ba7d0bf26674a3d657af8cfeffcdd7406c2a703c5126107203a452d8d8ffd9a1\
                    b31b",
            },
            Signed {
                message: Message::Long,
                hash: "0x5794d2563fb0383f64e9efb46b43858ca381689db4c04b4072cdf6e559502c28",
                signature: "\
                    0x1c65a799032c72028c8f75a04b40a4990fb17fb06586c53b21f7efa160f135\
                    165526d3ee5473b66796f1ad23770ddb57e1f625514d14cd87b179d4f540b3fc\
                    b01b",
            },
            Signed {
                message: Message::Bytes(
                    "\
                    0x052a4f7499bee3082d52779cc1e60b30557a9fc4e90e33587da2c7ec11365b\
                    80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb\
                    20",
                ),
                hash: "0x797efc6730076310d54afc938ef5f9bc1ebb52712442c522c3c8a941a270b3f8",
                signature: "\
                    0xda15f7e25c1e0a0f1f945cdd5ed2ad07c0be72fc7da25dc6a4429ce95f5338\
                    f26eb5edf4c75127baffa7c1d58ee9f68ff9c17e4848efc72e6ebb44682ab9ca\
                    c61b",
            },
        ],
    },
];

/// `[hexlify(randomBytes(20)), getAddress(it)]`, plus the all-zero and all-one addresses.
pub(super) const CHECKSUMS: &[(&str, &str)] = &[
    ("0x22baa3928c852c4a0b24cc731cd3129bed455f1a", "0x22BAA3928C852c4a0b24CC731CD3129bED455F1A"),
    ("0x46f5b88adc38e037cb30b37695bced954a37cf2d", "0x46f5B88Adc38e037Cb30B37695bcED954a37cF2D"),
    ("0x8b0d4d6aab77c5e2f83b707d1ffff97f95d707e9", "0x8B0D4d6AaB77C5e2F83b707d1ffFf97f95d707e9"),
    ("0x0bc4d427e0165fe417a8f05129282e9b8f7a3148", "0x0bC4D427E0165Fe417a8f05129282E9b8F7A3148"),
    ("0x0ab273ce15a81226ace27f04169b542b2674b311", "0x0AB273Ce15A81226Ace27f04169b542B2674b311"),
    ("0x9a5105c2efb9e3aec76f6219bf428796d6588d5a", "0x9A5105c2efb9E3aEc76F6219BF428796d6588D5a"),
    ("0xb13769f199eb435325b35b5a96e53f75e5c9d7ff", "0xB13769F199EB435325b35B5a96e53F75E5c9D7FF"),
    ("0x6398fe80ae704f18a6b8b4432112dfaa7707c828", "0x6398fE80AE704F18A6b8B4432112dFAa7707C828"),
    ("0x0000000000000000000000000000000000000000", "0x0000000000000000000000000000000000000000"),
    ("0xffffffffffffffffffffffffffffffffffffffff", "0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF"),
];

/// The examples of EIP-55 itself (checked with ethers' `getAddress` too).
pub(super) const EIP55_SPEC: &[&str] = &[
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
];

/// The signature of "hello" by key 0x11…11, altered, and what `verifyMessage` made of it:
/// (message, altered signature, outcome).
pub(super) const HELLO_ALTERATIONS: &[(&str, &str, Outcome)] = &[
    (
        "Hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0xa4893Be396633a4B937A39568207DDde321e6eb6"),
    ),
    (
        "hello\n",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0xB7cA4C47289Dea1c34636735C361A97A47A72C83"),
    ),
    (
        "",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0xcc9F22F76fcF71E06a4DaB25a115AE460f823aBD"),
    ),
    (
        "hell",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0xfF685E6fD112Ac695F042D9249722e58009eCeeB"),
    ),
    (
        "hello",
        "\
            0x9308d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0x160D370FFC4cbDd48858737b5C7f22999efBFD3B"),
    ),
    (
        "hello",
        "\
            0x1208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0xBD326C49e2629Fc063A6C2048df92cdA7425d7e4"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e12e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Throws("Cannot find square root"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            602e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Throws("Cannot find square root"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02f9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Recovers("0xBF8c8F9898F1dA922aF517dA685D6560c146e4D6"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e0ae9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Throws("non-canonical s; use ._s"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            881b",
        Outcome::Recovers("0xd377a25C081d831469cFAa8F0c783Cc0Af97F201"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            091b",
        Outcome::Recovers("0x225188C04aC31AC788bb14E0d9779e325201bD64"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891c",
        Outcome::Recovers("0xf619EaF53E6e61432bf35023aF4DDfb06E48991e"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            8900",
        Outcome::Recovers("0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            8901",
        Outcome::Recovers("0xf619EaF53E6e61432bf35023aF4DDfb06E48991e"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            8902",
        Outcome::Throws("invalid v"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891d",
        Outcome::Throws("invalid v"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            8925",
        Outcome::Recovers("0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e02e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            89ff",
        Outcome::Recovers("0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"),
    ),
    (
        "hello",
        "\
            0x00000000000000000000000000000000000000000000000000000000000000\
            002e9d28a1adcb8cce60ebcef9756dee20522a2987afea3055f4edd8380d425f\
            891b",
        Outcome::Throws("r must be 0 < r < CURVE.n"),
    ),
    (
        "hello",
        "\
            0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
            e000000000000000000000000000000000000000000000000000000000000000\
            001b",
        Outcome::Throws("s must be 0 < s < CURVE.n"),
    ),
];

/// The "hello" signature of key 0x11…11 with s replaced by n - s and v flipped: the same
/// key's other (high-s) signature of "hello", which ethers refuses:
/// Outcome::Throws("non-canonical s; use ._s").
pub(super) const HELLO_HIGH_S: &str = "\
    0x9208d5f86a1f5d9c1908dbb42969925675ceb388616fc5b186c248e4967a03\
    e0d162d75e523473319f1431068a9211de6884b35eff5e6fe5cae48654c2f3e1\
    b81c";
