//! A seeded single-threaded executor: every tick it polls one task the seed picks, so the
//! order in which the installations' steps interleave is a function of the seed. Tasks are
//! owned by a device; killing a device drops its futures wherever they are (between any two
//! store calls or node requests), as a reload does.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
};

/// SplitMix64: small, seedable, good enough to pick schedules and faults.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The tasks of the world, each with the device that owns it.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: Vec<(usize, Task)>,
    spawned: Rc<RefCell<Vec<(usize, Task)>>>,
}

/// Lets a task spawn others (a restarted device starts its loops).
#[derive(Clone, Default)]
pub(crate) struct Spawner(Rc<RefCell<Vec<(usize, Task)>>>);

impl Spawner {
    pub(crate) fn spawn(&self, owner: usize, task: impl Future<Output = ()> + 'static) {
        self.0.borrow_mut().push((owner, Box::pin(task)));
    }
}

impl Executor {
    pub(crate) fn spawner(&self) -> Spawner {
        Spawner(self.spawned.clone())
    }

    /// Polls one task the seed picks; false if there is none.
    pub(crate) fn tick(&mut self, rng: &mut Rng) -> bool {
        self.tasks.append(&mut self.spawned.borrow_mut());
        if self.tasks.is_empty() {
            return false;
        }
        let i = rng.below(self.tasks.len() as u64) as usize;
        let mut cx = Context::from_waker(Waker::noop());
        if self.tasks[i].1.as_mut().poll(&mut cx).is_ready() {
            drop(self.tasks.swap_remove(i));
        }
        true
    }

    /// Drops every task of `owner`, wherever it is.
    pub(crate) fn kill(&mut self, owner: usize) {
        self.tasks.append(&mut self.spawned.borrow_mut());
        self.tasks.retain(|(o, _)| *o != owner);
    }
}

/// Polls `future` to completion on its own (setup and inspection outside the schedule).
pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// Answers `Pending` `n` times: a task waiting `n` of its turns (the sim's sleep).
pub(crate) async fn pause(n: u64) {
    for _ in 0..n {
        crate::store::memory::yield_now().await;
    }
}

/// The simulated wall clock, in milliseconds; every tick moves it on.
#[derive(Clone, Default)]
pub(crate) struct Clock(Rc<Cell<u64>>);

impl Clock {
    pub(crate) fn now(&self) -> u64 {
        self.0.get()
    }
    pub(crate) fn advance(&self, ms: u64) {
        self.0.set(self.0.get().saturating_add(ms));
    }
    pub(crate) fn set(&self, ms: u64) {
        self.0.set(ms);
    }
}
