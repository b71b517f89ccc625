//! Content topics of the XMTP message API v1.
//!
//! Every topic starts with `/xmtp/0/` (nodes reject others) and ends with the payload encoding.
//! An account's bundles and revocations go to its contact topic; each installation reads its
//! inbox topic.

use std::fmt;

/// The prefix every message API v1 topic carries.
pub const TOPIC_PREFIX: &str = "/xmtp/0/";

/// A content topic, known to be well formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

/// Why a string is not a usable topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic does not start with [`TOPIC_PREFIX`].
    #[error("expected a topic starting with {TOPIC_PREFIX}, got {0:?}")]
    MissingPrefix(String),
}

impl Topic {
    /// The contact topic of an account: where its installations' bundles are published.
    /// `address` is the lower-case `0x` form.
    pub fn contact(address: &str) -> Self {
        Self(format!("{TOPIC_PREFIX}contact-{address}/proto"))
    }

    /// The inbox topic of one installation: where payloads encrypted for it are published.
    pub fn inbox(installation_id: &str) -> Self {
        Self(format!("{TOPIC_PREFIX}inbox-{installation_id}/proto"))
    }

    /// Parses a topic received from the network or the app.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        if topic.starts_with(TOPIC_PREFIX) && topic.len() > TOPIC_PREFIX.len() {
            Ok(Self(topic.to_owned()))
        } else {
            Err(TopicError::MissingPrefix(topic.to_owned()))
        }
    }

    /// The topic as the node sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> Self {
        topic.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_topics_carry_the_prefix() {
        let contact = Topic::contact("0xabc");
        assert_eq!(contact.as_str(), "/xmtp/0/contact-0xabc/proto");
        assert_eq!(Topic::parse(contact.as_str()), Ok(contact));
        assert_eq!(Topic::inbox("id1").to_string(), "/xmtp/0/inbox-id1/proto");
    }

    #[test]
    fn topics_without_the_prefix_are_refused() {
        assert!(matches!(Topic::parse("/xmtp/1/x"), Err(TopicError::MissingPrefix(_))));
        assert!(Topic::parse("/xmtp/0/").is_err());
        assert!(Topic::parse("").is_err());
    }
}
