//! A wake-up signal for the processors: `notify` from anywhere (a send, the browser going
//! online, another tab), `wait` with a timeout in the processor loop.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::pin,
    task::{Poll, Waker},
    time::Duration,
};

/// A level-triggered signal: a notify before the wait is not lost.
#[derive(Default)]
pub(crate) struct Wake {
    pending: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Wake {
    pub(crate) fn notify(&self) {
        self.pending.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Runs `future` until it completes (`Some`) or a notify comes first (`None`; the
    /// future is dropped).
    pub(crate) async fn race<T>(&self, future: impl Future<Output = T>) -> Option<T> {
        let mut future = pin!(future);
        std::future::poll_fn(|cx| {
            if self.pending.replace(false) {
                return Poll::Ready(None);
            }
            if let Poll::Ready(value) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(value));
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Resolves at the next notify (or at once if one is pending), or after `timeout`.
    pub(crate) async fn wait(&self, timeout: Duration) {
        let mut sleep = pin!(gloo_timers::future::sleep(timeout));
        std::future::poll_fn(|cx| {
            if self.pending.replace(false) {
                return Poll::Ready(());
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}
