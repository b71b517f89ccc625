//! Message ids that name their sender and conversation, so no peer can pre-empt another's.
//!
//! An id is `nonce ‖ tag`: the sender's random nonce, then 32 hex digits of
//! sha-256(sender ‖ conversation ‖ nonce). Every installation shows a message under the id its
//! sender chose (a re-send shows once), and a receiver accepts an id only from the sender and
//! conversation it names: a peer who copies Alice's id into its own message (published first,
//! so that Alice's copy would look like a duplicate) is refused as a forged sender instead.

use sha2::{Digest, Sha256};

/// Hex digits of the tag at the end of an id.
const TAG_HEX: usize = 32;

/// The id of a message `sender_address` sends in conversation `convo_id`, from a random
/// `nonce` (hex).
pub fn message_id(sender_address: &str, convo_id: &str, nonce: &str) -> String {
    nonce.to_owned() + &tag(sender_address, convo_id, nonce)
}

/// Whether `id` is one [`message_id`] gives for this sender and conversation.
pub fn message_id_matches(id: &str, sender_address: &str, convo_id: &str) -> bool {
    let Some(split) = id.len().checked_sub(TAG_HEX).filter(|at| *at > 0) else { return false };
    match (id.get(..split), id.get(split..)) {
        (Some(nonce), Some(tag_hex)) => tag(sender_address, convo_id, nonce) == tag_hex,
        _ => false,
    }
}

fn tag(sender_address: &str, convo_id: &str, nonce: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"e2ee-sdk message id\n")
        .chain_update(sender_address.to_ascii_lowercase().as_bytes())
        .chain_update(b"\n")
        .chain_update(convo_id.as_bytes())
        .chain_update(b"\n")
        .chain_update(nonce.as_bytes())
        .finalize();
    crate::wire::hex(&digest[..TAG_HEX / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_sender_and_conversation_only() {
        let id = message_id("0xAA", "c1", "00112233");
        assert_eq!(id.len(), 8 + TAG_HEX);
        assert!(id.starts_with("00112233"));
        assert!(message_id_matches(&id, "0xaa", "c1"), "addresses compare case-blind");
        assert!(!message_id_matches(&id, "0xbb", "c1"), "another sender");
        assert!(!message_id_matches(&id, "0xaa", "c2"), "another conversation");
        let mut altered = id.clone();
        altered.replace_range(0..1, "1");
        assert!(!message_id_matches(&altered, "0xaa", "c1"), "another nonce");
    }

    #[test]
    fn short_and_odd_ids_are_refused_without_panicking() {
        for id in ["", "abc", &"0".repeat(TAG_HEX), "é".repeat(40).as_str()] {
            assert!(!message_id_matches(id, "0xaa", "c1"), "{id:?}");
        }
    }
}
