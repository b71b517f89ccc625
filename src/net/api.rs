//! The JSON shapes of `xmtp.message_api.v1`, in the protobuf-JSON mapping XMTP's nodes serve:
//! camelCase names, `uint64` as a decimal string, `bytes` as padded standard base64, enums by
//! name and absent fields omitted. Decoding is lenient where the mapping allows (numbers for
//! `uint64`, URL-safe or unpadded base64) so any conforming node is understood.

use serde::{Deserialize, Serialize};

/// The most envelopes a node returns in one page; a limit of 0 or above this is clamped to it.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// One message on a topic, as stored and served by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The topic it was published to; starts with `/xmtp/0/`.
    pub content_topic: String,
    /// The sender's timestamp, in nanoseconds since the Unix epoch.
    #[serde(with = "uint64")]
    pub timestamp_ns: u64,
    /// The opaque payload.
    #[serde(with = "bytes")]
    pub message: Vec<u8>,
}

impl Envelope {
    /// `message` for `topic`, dated `at_ms` plus `extra_ns` nanoseconds (which orders the
    /// envelopes of one millisecond).
    pub fn new(topic: &crate::wire::Topic, at_ms: u64, extra_ns: u64, message: Vec<u8>) -> Self {
        Self {
            content_topic: topic.to_string(),
            timestamp_ns: at_ms.saturating_mul(1_000_000).saturating_add(extra_ns),
            message,
        }
    }
}

/// Sort order of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortDirection {
    /// The node's default, which is ascending.
    #[default]
    #[serde(rename = "SORT_DIRECTION_UNSPECIFIED")]
    Unspecified,
    /// Oldest first.
    #[serde(rename = "SORT_DIRECTION_ASCENDING")]
    Ascending,
    /// Newest first.
    #[serde(rename = "SORT_DIRECTION_DESCENDING")]
    Descending,
}

/// Position of the last envelope of a page: the node resumes strictly after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexCursor {
    /// sha-256 of the envelope's topic and message.
    #[serde(with = "bytes")]
    pub digest: Vec<u8>,
    /// The envelope's timestamp.
    #[serde(with = "uint64")]
    pub sender_time_ns: u64,
}

/// A paging cursor (a protobuf `oneof` of which only `index` exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The index cursor.
    pub index: IndexCursor,
}

/// Page size, position and order of a query; in an answer, present while more pages remain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingInfo {
    /// Envelopes per page (the node clamps 0 and anything above [`MAX_PAGE_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Where to resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// Sort order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<SortDirection>,
}

/// `POST /message/v1/query`, and each request of a batch query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    /// Topics to read; their envelopes are merged in order.
    pub content_topics: Vec<String>,
    /// Inclusive lower bound on `timestampNs`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "uint64::option")]
    pub start_time_ns: Option<u64>,
    /// Inclusive upper bound on `timestampNs`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "uint64::option")]
    pub end_time_ns: Option<u64>,
    /// Page size, cursor and direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging_info: Option<PagingInfo>,
}

/// One page of a query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    /// The envelopes of this page.
    #[serde(default)]
    pub envelopes: Vec<Envelope>,
    /// Present, with a cursor, while more pages remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging_info: Option<PagingInfo>,
}

impl QueryResponse {
    /// The cursor to send back for the next page, if there is one.
    pub fn next_cursor(&self) -> Option<&Cursor> {
        self.paging_info.as_ref()?.cursor.as_ref()
    }
}

/// `POST /message/v1/batch-query`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchQueryRequest {
    /// The queries, answered in the same order.
    pub requests: Vec<QueryRequest>,
}

/// The answer to a batch query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchQueryResponse {
    /// One answer per request, in order.
    #[serde(default)]
    pub responses: Vec<QueryResponse>,
}

/// `POST /message/v1/subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    /// Topics to follow.
    pub content_topics: Vec<String>,
}

/// One line of a subscription stream: `{"result": Envelope}`, or `{"error": ...}` when the
/// node fails mid-stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLine {
    /// The next envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Envelope>,
    /// A failure reported in the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeErrorBody>,
}

/// The body of a node's error answer: `{code, message, details}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeErrorBody {
    /// The gRPC status code (3 invalid argument, 14 unavailable, ...).
    #[serde(default)]
    pub code: i32,
    /// What went wrong, for people.
    #[serde(default)]
    pub message: String,
}

/// `uint64` in the protobuf-JSON mapping: written as a decimal string, read from a string or
/// a number.
mod uint64 {
    use std::fmt;

    use serde::{Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(Uint64Visitor)
    }

    struct Uint64Visitor;

    impl de::Visitor<'_> for Uint64Visitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a uint64 as a decimal string or a number")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("expected a uint64, got {v}")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            // JS numbers arrive as f64; only whole, exactly representable values are accepted.
            // (The value is not printed: float formatting would add kilobytes to the wasm.)
            if v.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom("expected a uint64, got a fractional, negative or huge number"))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse().map_err(|_| E::custom(format!("expected a uint64 string, got {v:?}")))
        }
    }

    pub(super) mod option {
        use serde::{Deserializer, Serializer};

        pub(in super::super) fn serialize<S: Serializer>(
            value: &Option<u64>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<u64>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// `bytes` in the protobuf-JSON mapping: written as padded standard base64, read from
/// standard or URL-safe base64 with or without padding.
mod bytes {
    use base64::{
        Engine, alphabet,
        engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose},
    };
    use serde::{Deserialize, Deserializer, Serializer, de};

    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

    pub(super) fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&general_purpose::STANDARD.encode(value))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .or_else(|_| URL_SAFE.decode(text.as_bytes()))
            .map_err(|e| de::Error::custom(format!("expected base64 bytes: {e}")))
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
