//! One pass of the processors: every step in the order that finishes what a reload
//! interrupted first. The browser's loop (`runner`) and the simulator run the same pass.

use super::{
    Local,
    context::{Context, Pull},
    deliver, encrypt, notice, process, pull,
};
use crate::{
    error::SdkError,
    net::{Node, SubscriptionEvent},
    store::Store,
};

/// Runs one pass: deliver the outbound queue; pull the inbox if due and process what is
/// stored; send the decryption-failure notices that waited; encrypt queued messages;
/// deliver again. Every step runs even if one before it
/// failed (a node that refuses queries must not stop sending); the first error is returned,
/// and the ids of the messages the pass changed are in `ctx.changed`.
pub(crate) async fn pass<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    local: &Local,
) -> Result<(), SdkError> {
    // (The larger steps are boxed: their state machines stay out of this one, which is
    // less wasm than one machine holding all of them.)
    let delivered = deliver::deliver_pending(ctx).await;
    let received = Box::pin(receive(ctx, local)).await;
    let noticed = Box::pin(notice::send_pending_notices(ctx)).await;
    let encrypted = Box::pin(encrypt::encrypt_pending(ctx)).await;
    let delivered_again = deliver::deliver_pending(ctx).await;
    delivered.and(received).and(noticed).and(encrypted).and(delivered_again)
}

/// How often the inbox is caught up whatever the stream said (this installation's clock).
pub(crate) const PULL_EVERY_MS: u64 = 60_000;

/// Processes stored payloads, pulls the inbox if due, and processes what it brought.
async fn receive<S: Store, N: Node>(
    ctx: &Context<'_, S, N>,
    local: &Local,
) -> Result<(), SdkError> {
    let process = !ctx.faults.hold_inbound.get();
    if process {
        process::process_received(ctx).await?;
    }
    // The stream is a hint, not a promise (a node may drop or hold back what it streams, and
    // one dated behind the cursor by its sender's clock is out of a plain pull's reach): the
    // inbox is caught up at least every PULL_EVERY_MS whatever the stream said.
    let now = ctx.now();
    let due = local.pulled_at_ms.get().is_none_or(|at| now.saturating_sub(at) >= PULL_EVERY_MS);
    let (pull_needed, pulled_at) = (&local.pull_needed, &local.pulled_at_ms);
    let pull =
        pull_needed.replace(Pull::Nothing).max(if due { Pull::CatchUp } else { Pull::Nothing });
    if pull != Pull::Nothing {
        // Taken with the need: a reconnection from here on asks again, and is not covered.
        let connection = local.stream.connection.get();
        if let Err(e) = pull::pull_inbox(ctx, pull == Pull::CatchUp).await {
            pull_needed.set(pull_needed.get().max(pull));
            return Err(e);
        }
        pulled_at.set(Some(now));
        if connection != 0 && local.stream.connection.get() == connection {
            local.stream.synced.set(Some(connection));
        }
        if process {
            process::process_received(ctx).await?;
        }
    }
    Ok(())
}

/// What an event of the inbox subscription does. A (re)connection asks for a catch-up pull
/// (envelopes published while away). An envelope is stored `RECEIVED`: if a pull finished
/// under this connection after it opened, the connection has brought everything published
/// since, so the envelope may be processed at once and moves the saved cursor (a reconnection
/// after a long session catches up from there, not from the last pull); otherwise a pull from
/// the cursor is asked for, which must read everything before it first. (If storing fails, a
/// catch-up pull brings it again.)
pub(crate) async fn on_inbox_event(
    local: &Local,
    store: &impl Store,
    event: SubscriptionEvent,
    now_ms: u64,
) {
    let stream = &local.stream;
    match event {
        SubscriptionEvent::Connected { .. } => {
            stream.connection.set(stream.connection.get().wrapping_add(1));
            // What the last connection brought is processed once the catch-up covers it.
            stream.read_upto_ns.set(None);
            local.need(Pull::CatchUp);
        }
        SubscriptionEvent::Envelope(envelope) => {
            let covered = stream.is_synced();
            match pull::store_streamed(stream, store, envelope, covered, now_ms).await {
                Ok(()) if covered => {}
                Ok(()) => local.need(Pull::FromCursor),
                Err(_) => local.need(Pull::CatchUp),
            }
        }
    }
}
