//! The sessions with a group's senders, held in memory while the group is planned: read and
//! unpickled once, advanced in place by each payload that opens with one, pickled once at the
//! commit (only those a payload advanced).

use super::super::context::{Context, crypto_error, unpickle};
use crate::{
    crypto::OlmSession,
    engine::{
        InboundFailure, InstallationRecord, MAX_PREVIOUS_SESSIONS, Rejection, SenderKeys,
        SessionRecord, SessionUpdate, open_payload, receivable,
    },
    error::SdkError,
    net::Node,
    store::Store,
    wire::{InboxPayload, Plaintext},
};

/// The sessions with one sender installation, as the group advanced them in memory.
pub(super) struct Sessions {
    /// The sender installation.
    pub(super) id: String,
    /// The stored record's version (`None`: there was none).
    pub(super) version: Option<u32>,
    /// Current first.
    pub(super) sessions: Vec<OlmSession>,
    /// Each session's stored pickle, while the group has not advanced it.
    pub(super) pickles: Vec<Option<Vec<u8>>>,
    /// Whether a payload of the group was opened with one (they are written back).
    pub(super) used: bool,
}

/// The stored sessions with `id`, unpickled, current first. One that no longer opens
/// (corrupted) counts as lost: if a payload needed it, it fails as UNKNOWN_SESSION and the
/// sender re-sends on a new session, instead of blocking the queue.
pub(super) fn held_sessions<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    id: &str,
    stored: Option<SessionRecord>,
) -> Sessions {
    let mut held = Sessions {
        id: id.to_owned(),
        version: stored.as_ref().map(|s| s.version),
        sessions: Vec::new(),
        pickles: Vec::new(),
        used: false,
    };
    let Some(stored) = stored else { return held };
    let previous = stored.previous.into_iter().map(|p| p.into_vec());
    for pickle in std::iter::once(stored.pickle).chain(previous) {
        if let Ok(session) = unpickle(&pickle, ctx.pickle_key) {
            held.sessions.push(session);
            held.pickles.push(Some(pickle));
        }
    }
    held
}

/// Opens `payload` with the sender's sessions and checks what it carries. Returns the
/// plaintext, its message's id and conversation; the session that opened it becomes the
/// current one (the others are kept), unless the payload is refused.
pub(super) fn open<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    own_address: &str,
    sender: &InstallationRecord,
    keys: &SenderKeys,
    payload: &InboxPayload,
    held: &mut Sessions,
    now: u64,
) -> Result<(Box<Plaintext>, String, String), Rejection> {
    let opened = {
        let mut installation = ctx.installation.borrow_mut();
        open_payload(&mut installation, payload, keys, &mut held.sessions)?
    };
    // (A refused payload's new session is dropped; a stored one it advanced is written
    // only if another payload of the group opened with it too.)
    let (message, _) = receivable(own_address, &sender.address, &opened.plaintext, now)?;
    let (session, pickle) = match (opened.session, opened.used) {
        (Some(new), _) => (new, None),
        (None, Some(i)) if i < held.sessions.len() => {
            held.pickles.remove(i);
            (held.sessions.remove(i), None)
        }
        (None, _) => {
            return Err(Rejection {
                failure: InboundFailure::ProcessingFailed,
                detail: "no session opened it".into(),
            });
        }
    };
    held.sessions.insert(0, session);
    held.pickles.insert(0, pickle);
    held.used = true;
    Ok((Box::new(opened.plaintext), message.id, message.convo_id))
}

/// `held` as the record to store: the current session and the others, each pickled anew
/// only if the group advanced it.
pub(super) fn session_record<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    held: Sessions,
) -> Result<SessionRecord, SdkError> {
    let mut sessions = held.sessions.into_iter().zip(held.pickles);
    let Some((current, _)) = sessions.next() else {
        return Err(SdkError::new(crate::error::ErrorCode::Storage, "no session to store"));
    };
    let mut previous = Vec::new();
    for (session, pickle) in sessions.take(MAX_PREVIOUS_SESSIONS) {
        let pickle = match pickle {
            Some(stored) => stored,
            None => session.to_encrypted_pickle(ctx.pickle_key).map_err(crypto_error)?.into_bytes(),
        };
        previous.push(serde_bytes::ByteBuf::from(pickle));
    }
    let update = SessionUpdate {
        installation_id: held.id,
        version: held.version.unwrap_or(0),
        session: current,
        previous,
    };
    update.to_record(ctx.pickle_key).map_err(crypto_error)
}
