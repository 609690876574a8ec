//! Fault injection for tests (the `fault-injection` cargo feature; off by
//! default): a per-thread plan that makes the crate's Nth file write (a
//! `pwrite`, `ftruncate`, `fsync` or `rename`, counted from 0) fail with
//! `ENOSPC`, as a full disk does, or write only some of its bytes first.
//!
//! ```ignore
//! mmpk::fault::plan(3, mmpk::fault::Fault::Short(5), false);
//! assert!(dict.insert_array("k", &a).is_err()); // the 4th write was short
//! mmpk::fault::clear();
//! ```
//!
//! Only writes made on the thread that set the plan are counted.

use std::cell::Cell;

/// What the planned write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails with `ENOSPC` without writing anything.
    NoSpace,
    /// Writes only this many bytes (fewer than asked), then fails with
    /// `ENOSPC`; other operations than `pwrite` fail as [`Fault::NoSpace`].
    Short(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    No,
    NoSpace,
    Short(usize),
}

#[derive(Clone, Copy)]
struct Plan {
    /// Writes seen since the plan was set.
    seen: u64,
    /// The write that fails (`u64::MAX`: none).
    nth: u64,
    fault: Fault,
    /// Every write from the Nth on fails (the disk stays full).
    sticky: bool,
    /// Faults injected since the plan was set.
    injected: u64,
}

const NONE: Plan = Plan {
    seen: 0,
    nth: u64::MAX,
    fault: Fault::NoSpace,
    sticky: false,
    injected: 0,
};

thread_local! {
    static PLAN: Cell<Plan> = const { Cell::new(NONE) };
}

/// From now on, on this thread: count the crate's writes from 0 and make
/// write number `nth` fail with `fault`; with `sticky`, every later write
/// fails too (with `ENOSPC`), as on a disk that stays full.
pub fn plan(nth: u64, fault: Fault, sticky: bool) {
    PLAN.with(|p| {
        p.set(Plan {
            nth,
            fault,
            sticky,
            ..NONE
        })
    });
}

/// Counts this thread's writes from 0 again without failing any.
pub fn clear() {
    PLAN.with(|p| p.set(NONE));
}

/// This thread's writes since [`plan`] or [`clear`].
pub fn writes() -> u64 {
    PLAN.with(|p| p.get().seen)
}

/// The faults injected on this thread since [`plan`] or [`clear`].
pub fn injected() -> u64 {
    PLAN.with(|p| p.get().injected)
}

/// Called by each write of `crate::io`.
pub(crate) fn consult() -> Injected {
    PLAN.try_with(|c| {
        let mut p = c.get();
        let n = p.seen;
        p.seen += 1;
        let r = if n == p.nth {
            match p.fault {
                Fault::NoSpace => Injected::NoSpace,
                Fault::Short(k) => Injected::Short(k),
            }
        } else if p.sticky && n > p.nth {
            Injected::NoSpace
        } else {
            Injected::No
        };
        if r != Injected::No {
            p.injected += 1;
        }
        c.set(p);
        r
    })
    .unwrap_or(Injected::No)
}
