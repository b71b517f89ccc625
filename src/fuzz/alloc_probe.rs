//! The test binary's allocator: the system one, noting the largest single allocation a
//! thread asks for while [`largest_allocation`] watches it. A decoder that trusts a length
//! field (a 5-byte input claiming a 4 GiB string) shows up as one huge request, before the
//! machine runs out of memory.

// A global allocator is an `unsafe` trait; this one only forwards to the system allocator.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

thread_local! {
    /// While watched, the largest request so far on this thread; `None` when not watched.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

struct Probe;

#[global_allocator]
static PROBE: Probe = Probe;

fn note(size: usize) {
    // `try_with`: allocations during thread teardown are simply not watched.
    let _ = LARGEST.try_with(|largest| {
        if let Some(so_far) = largest.get() {
            largest.set(Some(so_far.max(size)));
        }
    });
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its value with the largest single allocation it made on this thread.
pub(super) fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let watch = Watch { outer: LARGEST.with(|largest| largest.replace(Some(0))) };
    let value = f();
    let largest = LARGEST.with(Cell::get).unwrap_or(0);
    drop(watch);
    (value, largest)
}

/// Puts back the watch around this one when dropped, also when the decoder panics.
struct Watch {
    outer: Option<usize>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let inner = LARGEST.with(|largest| largest.replace(self.outer)).unwrap_or(0);
        // A watch around this one sees what this one saw.
        if self.outer.is_some() {
            note(inner);
        }
    }
}
