//! The explicit states stored on each record, and the reasons stored with failed payloads.
//!
//! Each is stored by name (`"UNINITIALIZED"`, `"SESSION_CREATED"`, ...) so the database stays
//! readable in the browser's devtools and a renamed Rust variant cannot silently reinterpret
//! old rows: an unknown name fails to decode instead.
//!
//! Every name is written once, in a `named!` table below. The table gives the enum its
//! `name`/`from_name`, its serde form (the name as a string), the stored form
//! (`store::records` reads and writes any [`Named`]) and the error texts; a test checks the
//! TypeScript unions in `client/typescript.rs` and `error.rs` against the tables.

use std::{fmt, marker::PhantomData};

use serde::de;

/// An enum whose variants each have one stable name (declared with `named!`).
pub trait Named: Copy + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// Every variant's name, in the order of [`Named::ALL`].
    const NAMES: &'static [&'static str];
    /// The variant's name.
    fn name(self) -> &'static str;
    /// The variant named `name`, if any (names are case-sensitive).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.get(position(Self::NAMES, name)?).copied()
    }
}

// Not generic, so the loop exists once for every table.
fn position(names: &[&str], name: &str) -> Option<usize> {
    names.iter().position(|n| *n == name)
}

/// "one of `A`, `B`": the names a value must be one of, for error texts.
pub fn expected_names(names: &[&str]) -> String {
    let mut text = String::from("one of");
    for (i, name) in names.iter().enumerate() {
        text.push_str(if i == 0 { " `" } else { ", `" });
        text.push_str(name);
        text.push('`');
    }
    text
}

/// Reads a [`Named`] from its name (any serde format: a JSON string, a JS string).
pub fn deserialize_named<'de, T: Named, D: de::Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_str(NameVisitor(PhantomData))
}

struct NameVisitor<T>(PhantomData<T>);

impl<T: Named> de::Visitor<'_> for NameVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&expected_names(T::NAMES))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<T, E> {
        T::from_name(name).ok_or_else(|| E::unknown_variant(name, T::NAMES))
    }
}

/// Declares a fieldless enum with each variant's name written once:
///
/// ```ignore
/// named! {
///     /// Docs and attributes of the enum.
///     pub enum Light {
///         /// Docs and attributes of a variant.
///         Green = "GREEN",
///         Red = "RED",
///     }
/// }
/// ```
///
/// It derives `Debug, Clone, Copy, PartialEq, Eq, Hash`, and generates `ALL`, `NAMES`,
/// `name()` and `from_name()` (inherent, and as [`Named`]), and `Serialize`/`Deserialize` as
/// the name. The first variant is what an unreadable stored value is replaced with while its
/// record is being discarded.
macro_rules! named {
    (
        $(#[$meta:meta])*
        $vis:vis enum $enum:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $name:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $enum {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $enum {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// Every variant's name, in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The variant's name, as stored and as JS sees it.
            pub fn name(self) -> &'static str {
                // The variants are numbered 0.. in table order, so this never panics.
                Self::NAMES[self as usize]
            }

            /// The variant named `name`, if any.
            pub fn from_name(name: &str) -> Option<Self> {
                <Self as $crate::engine::Named>::from_name(name)
            }
        }

        impl $crate::engine::Named for $enum {
            const ALL: &'static [Self] = Self::ALL;
            const NAMES: &'static [&'static str] = Self::NAMES;
            fn name(self) -> &'static str {
                Self::name(self)
            }
        }

        impl ::serde::Serialize for $enum {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $enum {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::engine::deserialize_named(deserializer)
            }
        }
    };
}
pub(crate) use named;

named! {
    /// Where a conversation is in the seed's protocol.
    pub enum ConversationState {
        /// Created locally; no invite has been committed yet, so the next message carries one.
        Uninitialized = "UNINITIALIZED",
        /// An invite has been committed (or received): later messages go as plain messages.
        Invited = "INVITED",
    }
}

named! {
    /// What this installation knows of another installation.
    pub enum InstallationState {
        /// Its verified bundle is stored, but no Olm session exists with it yet.
        Uninitialized = "UNINITIALIZED",
        /// An Olm session with it is stored.
        SessionCreated = "SESSION_CREATED",
    }
}

named! {
    /// Life of a message this installation sends.
    pub enum MessageState {
        /// Durably stored; not yet encrypted for the recipients' installations.
        Uninitialized = "UNINITIALIZED",
        /// Encrypted: every outbound payload for it is queued in the same transaction.
        Committed = "COMMITTED",
        /// Every outbound payload for it has been acknowledged by the node.
        Sent = "SENT",
        /// Gave up (for example a payload exhausted its retries); the record keeps the reason.
        Failed = "FAILED",
        /// Received from another installation.
        Received = "RECEIVED",
        /// Stands for a payload from this sender that could not be decrypted; the sender was
        /// asked to re-send, and the message it re-sends replaces this marker.
        Undecryptable = "UNDECRYPTABLE",
    }
}

named! {
    /// Life of one encrypted payload in the outbound queue.
    pub enum OutboundPayloadState {
        /// Queued for publishing, in sequential-id order.
        Uninitialized = "UNINITIALIZED",
        /// Acknowledged by the node.
        Sent = "SENT",
        /// Exhausted its retries; reported to the app rather than blocking the queue.
        Failed = "FAILED",
    }
}

named! {
    /// Life of one payload pulled from this installation's inbox.
    pub enum InboundPayloadState {
        /// Stored raw, before processing, so a reload resumes it.
        Received = "RECEIVED",
        /// Decrypted and its results stored.
        Processed = "PROCESSED",
        /// Could not be decrypted; the record keeps the reason, and the sender was asked to
        /// re-send.
        Failed = "FAILED",
        /// Refused (malformed, unknown or forged sender, a replay...); the record keeps the
        /// reason. Nothing is asked of the sender.
        Rejected = "REJECTED",
    }
}

named! {
    /// Why an inbox payload was not stored as a message: one enum for every reason, stored on
    /// the payload's record and shown to the app by name.
    #[derive(thiserror::Error)]
    pub enum InboundFailure {
        /// Not a payload of this protocol (truncated or garbled protobuf, a bad field).
        #[error("malformed payload")]
        Malformed = "MALFORMED",
        /// Larger than any payload this protocol makes.
        #[error("oversized payload")]
        Oversized = "OVERSIZED",
        /// The claimed sender installation is not among the claimed account's installations.
        #[error("unknown sender installation")]
        UnknownSender = "UNKNOWN_SENDER",
        /// The payload is not from whom it claims (another account's installation, another
        /// identity key, or a message naming another sender).
        #[error("forged sender")]
        ForgedSender = "FORGED_SENDER",
        /// No session with the sender installation can open it (this side lost it, say).
        #[error("no session for this message")]
        UnknownSession = "UNKNOWN_SESSION",
        /// It does not authenticate under the session: altered, or from a broken session.
        #[error("bad MAC")]
        BadMac = "BAD_MAC",
        /// Its message key was used already: an old payload sent again.
        #[error("replayed message")]
        Replay = "REPLAY",
        /// A message for a conversation this account is not in.
        #[error("message for another conversation")]
        WrongConversation = "WRONG_CONVERSATION",
        /// A decryption-failure notice that is not addressed here or not signed by its sender.
        #[error("invalid decryption-failure notice")]
        BadNotice = "BAD_NOTICE",
        /// Processing it kept failing (something in it this side cannot store or use).
        #[error("processing failed")]
        ProcessingFailed = "PROCESSING_FAILED",
        /// Not in canonical protobuf encoding (a known payload re-encoded to pass as new).
        #[error("non-canonical encoding")]
        NonCanonical = "NON_CANONICAL",
        /// Not signed by the sender installation it claims.
        #[error("bad payload signature")]
        BadSignature = "BAD_SIGNATURE",
        /// The sender installation's link to its wallet expired.
        #[error("sender installation expired")]
        SenderExpired = "SENDER_EXPIRED",
        /// The sender installation's wallet revoked it.
        #[error("sender installation revoked")]
        SenderRevoked = "SENDER_REVOKED",
    }
}

impl InboundFailure {
    /// The name the app sees (`"BAD_MAC"`, ...): the same as [`InboundFailure::name`].
    pub fn code(self) -> &'static str {
        self.name()
    }

    /// Whether the sender should be asked to re-send (the payload may have been genuine).
    pub fn is_decryption_failure(self) -> bool {
        matches!(self, Self::UnknownSession | Self::BadMac)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use serde::Serialize;

    use super::*;

    fn json<T: Serialize>(state: T) -> String {
        serde_json::to_string(&state).unwrap()
    }

    /// Every table's names, round trips and serde form.
    fn check_table<T: Named + Serialize + de::DeserializeOwned + PartialEq + fmt::Debug>() {
        assert_eq!(T::ALL.len(), T::NAMES.len());
        let mut names = T::NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), T::NAMES.len(), "names are unique: {:?}", T::NAMES);
        for (&variant, &name) in T::ALL.iter().zip(T::NAMES) {
            assert_eq!(variant.name(), name);
            assert_eq!(T::from_name(name), Some(variant));
            assert_eq!(json(variant), format!("\"{name}\""), "serialized by name");
            assert_eq!(serde_json::from_str::<T>(&json(variant)).unwrap(), variant);
            assert_eq!(T::from_name(&name.to_lowercase()), None, "names are case-sensitive");
        }
        assert_eq!(T::from_name(""), None);
    }

    #[test]
    fn every_table_round_trips_by_name() {
        check_table::<ConversationState>();
        check_table::<InstallationState>();
        check_table::<MessageState>();
        check_table::<OutboundPayloadState>();
        check_table::<InboundPayloadState>();
        check_table::<InboundFailure>();
        check_table::<crate::ErrorCode>();
    }

    /// The names in existing databases (and apps' code): written out again here on purpose,
    /// so that renaming a variant's name fails this test instead of orphaning stored rows.
    #[test]
    fn stored_names_do_not_change() {
        assert_eq!(ConversationState::NAMES, ["UNINITIALIZED", "INVITED"]);
        assert_eq!(InstallationState::NAMES, ["UNINITIALIZED", "SESSION_CREATED"]);
        assert_eq!(
            MessageState::NAMES,
            ["UNINITIALIZED", "COMMITTED", "SENT", "FAILED", "RECEIVED", "UNDECRYPTABLE"]
        );
        assert_eq!(OutboundPayloadState::NAMES, ["UNINITIALIZED", "SENT", "FAILED"]);
        assert_eq!(InboundPayloadState::NAMES, ["RECEIVED", "PROCESSED", "FAILED", "REJECTED"]);
        assert_eq!(
            InboundFailure::NAMES,
            [
                "MALFORMED",
                "OVERSIZED",
                "UNKNOWN_SENDER",
                "FORGED_SENDER",
                "UNKNOWN_SESSION",
                "BAD_MAC",
                "REPLAY",
                "WRONG_CONVERSATION",
                "BAD_NOTICE",
                "PROCESSING_FAILED",
                "NON_CANONICAL",
                "BAD_SIGNATURE",
                "SENDER_EXPIRED",
                "SENDER_REVOKED",
            ]
        );
        for failure in InboundFailure::ALL {
            assert_eq!(failure.code(), failure.name());
        }
    }

    #[test]
    fn unknown_state_names_fail_to_decode() {
        let error = serde_json::from_str::<MessageState>("\"DELIVERED\"").unwrap_err();
        assert!(error.to_string().contains("unknown variant `DELIVERED`"), "{error}");
        assert!(error.to_string().contains("`UNDECRYPTABLE`"), "{error}");
        let error = serde_json::from_str::<MessageState>("3").unwrap_err();
        assert!(error.to_string().contains("expected one of `UNINITIALIZED`, `COMMITTED`"));
        let ok: MessageState = serde_json::from_str("\"COMMITTED\"").unwrap();
        assert_eq!(ok, MessageState::Committed);
        assert_eq!(expected_names(ConversationState::NAMES), "one of `UNINITIALIZED`, `INVITED`");
    }

    const TYPESCRIPT: &str = include_str!("../client/typescript.rs");
    const ERRORS: &str = include_str!("../error.rs");

    /// The string literals of the TypeScript union after `anchors` (found one after the
    /// other) in `text`, up to the next `;`, sorted.
    fn union(text: &str, anchors: &[&str]) -> Vec<String> {
        let mut at = 0;
        for anchor in anchors {
            let found = text[at..].find(anchor).unwrap_or_else(|| panic!("no `{anchor}`"));
            at += found + anchor.len();
        }
        let end = at + text[at..].find(';').unwrap();
        let mut members: Vec<String> = text[at..end]
            .split('|')
            .map(str::trim)
            .filter(|member| !member.is_empty())
            .map(|member| {
                let name = member.strip_prefix('"').and_then(|m| m.strip_suffix('"'));
                name.unwrap_or_else(|| panic!("`{member}` in {anchors:?} is not a string"))
                    .to_owned()
            })
            .collect();
        members.sort_unstable();
        members
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        names.sort_unstable();
        names
    }

    /// The TypeScript declarations are written by hand; this keeps each union equal to its
    /// table.
    #[test]
    fn typescript_unions_list_the_tables_names() {
        let cases: [(&str, &[&str], &[&str]); 7] = [
            (TYPESCRIPT, &["export type MessageState ="], MessageState::NAMES),
            (
                TYPESCRIPT,
                &["export interface InstallationInfo {", "state:"],
                InstallationState::NAMES,
            ),
            (
                TYPESCRIPT,
                &["export interface ConversationInfo {", "state:"],
                ConversationState::NAMES,
            ),
            (TYPESCRIPT, &["export type InboundFailureCode ="], InboundFailure::NAMES),
            (
                TYPESCRIPT,
                &["export interface InboundFailureInfo {", "state:"],
                &[InboundPayloadState::Failed.name(), InboundPayloadState::Rejected.name()],
            ),
            (ERRORS, &["export type ErrorCode ="], crate::ErrorCode::NAMES),
            (
                TYPESCRIPT,
                &["export interface NodeState {", "state:"],
                crate::net::NodeStatus::NAMES,
            ),
        ];
        for (text, anchors, names) in cases {
            assert_eq!(union(text, anchors), sorted(names), "the union after {anchors:?}");
        }
        // The other places states appear name the unions above.
        assert_eq!(TYPESCRIPT.matches("state:").count(), 5, "a new `state:` needs a case here");
        assert!(TYPESCRIPT.contains("  state: MessageState;\n"));
        assert!(TYPESCRIPT.contains("  code: InboundFailureCode;\n"));
    }
}
