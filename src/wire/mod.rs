//! Payload formats and topic names.
//!
//! Topic names live here, not in `net/`, because they are part of the protocol both sides
//! must agree on; `net/` only carries envelopes. The protobuf payloads (bundles, invites,
//! messages) join this module with the identity and sending issues.

mod topic;

pub use topic::{TOPIC_PREFIX, Topic, TopicError};
