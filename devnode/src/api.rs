//! JSON wire types of `xmtp.message_api.v1`, following the protobuf-JSON
//! mapping that XMTP's grpc-gateway serves.
//!
//! Parsing is lenient the way protobuf-JSON allows (uint64 as string or
//! number, `null` as absent, enums by name or number, base64 standard or
//! URL-safe, padded or not, unknown fields ignored). Emitting is strict:
//! uint64 as decimal strings, standard padded base64, absent fields omitted.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Prefix every XMTP v1 content topic carries.
pub(crate) const TOPIC_PREFIX: &str = "/xmtp/0/";

/// Standard alphabet, padding optional; URL-safe input is mapped onto it first.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes the way protobuf-JSON emits them: standard alphabet, padded.
pub(crate) fn encode_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard or URL-safe base64, padded or not.
pub(crate) fn decode_b64(text: &str) -> Result<Vec<u8>, String> {
    let normalized: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    LENIENT_B64
        .decode(normalized.as_bytes())
        .map_err(|e| format!("expected base64 (standard or URL-safe), got {e}"))
}

/// An envelope as received in a publish request (or read from the data file).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvelopeIn {
    #[serde(default, deserialize_with = "de_string")]
    pub(crate) content_topic: String,
    #[serde(default, deserialize_with = "de_u64")]
    pub(crate) timestamp_ns: u64,
    #[serde(default, deserialize_with = "de_bytes")]
    pub(crate) message: Vec<u8>,
}

/// An envelope as emitted: uint64 as string, bytes as padded base64.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvelopeOut {
    pub(crate) content_topic: String,
    pub(crate) timestamp_ns: String,
    pub(crate) message: String,
}

/// `PublishRequest { envelopes }`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublishRequest {
    #[serde(default, deserialize_with = "de_vec")]
    pub(crate) envelopes: Vec<EnvelopeIn>,
}

/// Sort direction of a query; `Unspecified` behaves as ascending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Direction {
    #[default]
    Unspecified,
    Ascending,
    Descending,
}

impl Direction {
    /// Whether results run newest first.
    pub(crate) fn is_descending(self) -> bool {
        self == Self::Descending
    }

    fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "SORT_DIRECTION_UNSPECIFIED",
            Self::Ascending => "SORT_DIRECTION_ASCENDING",
            Self::Descending => "SORT_DIRECTION_DESCENDING",
        }
    }
}

impl Serialize for Direction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Direction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Direction;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SORT_DIRECTION_* name or 0..=2")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Direction, E> {
                match v {
                    "SORT_DIRECTION_UNSPECIFIED" => Ok(Direction::Unspecified),
                    "SORT_DIRECTION_ASCENDING" => Ok(Direction::Ascending),
                    "SORT_DIRECTION_DESCENDING" => Ok(Direction::Descending),
                    other => Err(E::custom(format!(
                        "expected SORT_DIRECTION_UNSPECIFIED, SORT_DIRECTION_ASCENDING or \
                         SORT_DIRECTION_DESCENDING, got {other:?}"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Direction, E> {
                match v {
                    0 => Ok(Direction::Unspecified),
                    1 => Ok(Direction::Ascending),
                    2 => Ok(Direction::Descending),
                    other => Err(E::custom(format!("expected direction 0..=2, got {other}"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Direction, E> {
                Err(E::custom(format!("expected direction 0..=2, got {v}")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Direction, E> {
                Ok(Direction::Unspecified)
            }
        }
        d.deserialize_any(V)
    }
}

/// `IndexCursor { digest, senderTimeNs }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexCursor {
    #[serde(
        default,
        deserialize_with = "de_bytes",
        serialize_with = "ser_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) digest: Vec<u8>,
    #[serde(default, deserialize_with = "de_u64", serialize_with = "ser_u64")]
    pub(crate) sender_time_ns: u64,
}

/// `Cursor { oneof cursor { IndexCursor index } }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<IndexCursor>,
}

/// `PagingInfo { limit, cursor, direction }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PagingInfo {
    #[serde(default, deserialize_with = "de_u64")]
    pub(crate) limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cursor: Option<Cursor>,
    #[serde(default)]
    pub(crate) direction: Direction,
}

/// `QueryRequest { contentTopics, startTimeNs, endTimeNs, pagingInfo }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryRequest {
    #[serde(default, deserialize_with = "de_vec")]
    pub(crate) content_topics: Vec<String>,
    #[serde(default, deserialize_with = "de_u64")]
    pub(crate) start_time_ns: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub(crate) end_time_ns: u64,
    #[serde(default)]
    pub(crate) paging_info: Option<PagingInfo>,
}

/// `QueryResponse { envelopes, pagingInfo }`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryResponse {
    pub(crate) envelopes: Vec<EnvelopeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) paging_info: Option<PagingInfo>,
}

/// `BatchQueryRequest { requests }`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchQueryRequest {
    #[serde(default, deserialize_with = "de_vec")]
    pub(crate) requests: Vec<QueryRequest>,
}

/// `BatchQueryResponse { responses }`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchQueryResponse {
    pub(crate) responses: Vec<QueryResponse>,
}

/// `SubscribeRequest { contentTopics }`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscribeRequest {
    #[serde(default, deserialize_with = "de_vec")]
    pub(crate) content_topics: Vec<String>,
}

/// One line of a subscribe stream: `{"result": Envelope}`.
#[derive(Debug, Serialize)]
pub(crate) struct StreamItem<'a> {
    pub(crate) result: &'a EnvelopeOut,
}

// ---- lenient field deserializers -------------------------------------------

/// uint64 from a JSON number or a decimal string; `null` means 0.
pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a uint64 as decimal string or number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v)
                .map_err(|_| E::custom(format!("expected uint64 (non-negative), got {v}")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            // protobuf-JSON accepts 1e3-style numbers if they are integral.
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("expected uint64, got {v}")))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse::<u64>()
                .map_err(|_| E::custom(format!("expected uint64 as decimal string, got {v:?}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

/// Emits a uint64 as protobuf-JSON does: a decimal string.
pub(crate) fn ser_u64<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Bytes from base64 (standard or URL-safe, padded or not); `null` means empty.
pub(crate) fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text {
        None => Ok(Vec::new()),
        Some(t) => decode_b64(&t).map_err(de::Error::custom),
    }
}

fn ser_bytes<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode_b64(v))
}

/// A string where `null` means empty.
fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A repeated field where `null` means empty.
fn de_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_variants_decode_alike() {
        for text in ["+/8=", "+/8", "-_8=", "-_8"] {
            assert_eq!(decode_b64(text).unwrap(), [0xfb, 0xff]);
        }
        assert_eq!(encode_b64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(decode_b64("YQ==").unwrap(), b"a");
        assert_eq!(decode_b64("YQ").unwrap(), b"a");
        assert_eq!(decode_b64("YQ-_").unwrap(), decode_b64("YQ+/").unwrap());
        assert!(decode_b64("!!").is_err());
    }

    #[test]
    fn u64_from_string_number_or_null() {
        let e: EnvelopeIn =
            serde_json::from_str(r#"{"contentTopic":"t","timestampNs":"12","message":null}"#)
                .unwrap();
        assert_eq!(e.timestamp_ns, 12);
        let e: EnvelopeIn = serde_json::from_str(r#"{"timestampNs":12}"#).unwrap();
        assert_eq!(e.timestamp_ns, 12);
        assert!(serde_json::from_str::<EnvelopeIn>(r#"{"timestampNs":-1}"#).is_err());
        assert!(serde_json::from_str::<EnvelopeIn>(r#"{"timestampNs":"x"}"#).is_err());
    }
}
