//! A per-thread counting global allocator: the hostile-input suites measure
//! the peak heap each input costs. Counting is per thread, so tests running
//! in parallel do not disturb each other.
//!
//! The counts move only in a binary whose global allocator is [`Counting`];
//! a library cannot declare that for its users, so each test binary does:
//!
//! ```
//! use mmpk_test_support::alloc::{peak_of, Counting};
//!
//! #[global_allocator]
//! static ALLOC: Counting = Counting;
//!
//! fn main() {
//!     let (v, peak) = peak_of(|| vec![0u8; 4096]);
//!     assert!(peak >= 4096);
//!     drop(v);
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator: forwards to [`System`] and notes, per thread,
/// the bytes currently allocated and their peak.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

// SAFETY: forwards every call to the system allocator unchanged; the
// bookkeeping only touches const-initialised thread-locals (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes allocated and not yet freed by this thread (allocations freed by
/// another thread count against that one, so this may be negative).
pub fn current() -> isize {
    CURRENT.with(|c| c.get())
}

/// Peak bytes allocated (above the level at the start) while `f` runs on
/// this thread.
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(|c| c.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    (r, (peak - base).max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOC: Counting = Counting;

    #[test]
    fn counts_an_allocation_on_this_thread() {
        let before = current();
        let (v, peak) = peak_of(|| vec![0u8; 10_000]);
        assert!(peak >= 10_000, "{peak}");
        assert!(current() - before >= 10_000);
        drop(v);
        assert!(current() - before < 10_000);
        // Freed memory does not count towards the next peak.
        let ((), peak) = peak_of(|| ());
        assert_eq!(peak, 0);
    }

    #[test]
    fn other_threads_do_not_count() {
        let ((), peak) = peak_of(|| {
            std::thread::scope(|s| {
                s.spawn(|| drop(std::hint::black_box(vec![0u8; 1 << 20])));
            })
        });
        assert!(peak < 1 << 20, "{peak}");
    }
}
