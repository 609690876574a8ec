//! Writing an entry's raw data into the file (step 1 of the insert
//! protocol, module `write`): by the caller's writer, with one `pwrite` of
//! a byte slice, or, for a large slice on a machine with several CPUs, by
//! several threads at once: one `pwrite` of a first share beside copies
//! of the other parts into a writable map of the preallocated range
//! (docs/design.md, "Writing a large array").
//!
//! The threads are taken when all of these hold:
//! - the data is one byte slice in memory of at least [`MAPPED_FROM`]
//!   bytes, appended after the old terminator (not into a room);
//! - the machine has more than one CPU (`available_parallelism`) and at
//!   least one besides this thread's is idle (no other task is runnable
//!   on it: `/proc/loadavg`, Linux);
//! - the range was preallocated ([`crate::platform::preallocate`] made
//!   the call and it succeeded), on a filesystem where that means a store
//!   into the range never faults for lack of space
//!   ([`crate::platform::preallocation_backs_maps`]: ext4, XFS, tmpfs).
//!
//! Then the file is extended to the data's end (`ftruncate`), and up to
//! [`MAX_THREADS`] threads copy: this one writes the first share
//! (`pwrite`), the others copy page-aligned parts of at least
//! [`MIN_PART`] bytes into a map of the rest, unmapped when they are done
//! ([`split`] sizes them); the rest of the insert is unchanged. Anything
//! else, or a map the system refuses, is one `pwrite`.

use std::fs::File;
use std::io;

use crate::write::DataWriter;

/// The raw data of an entry.
pub(crate) enum RawData<'a> {
    /// Bytes in memory, copied as they are.
    Bytes(&'a [u8]),
    /// Writes the raw data at a file offset.
    Writer(DataWriter<'a>),
}

/// Array data of at least this many bytes is preallocated before it is
/// written ([`crate::platform::preallocate`], through `crate::io`), as
/// numpy's `tofile` (`np.save`) does: measured on ext4, writing into the
/// preallocated range costs less CPU than delayed allocation at 256 KiB
/// to 1 GiB (docs/design.md, "Writing a large array").
const PREALLOCATE_FROM: u64 = 1 << 20;

/// Data of at least this many bytes is copied by several threads (when
/// the rest of the rule holds; module docs).
pub(crate) const MAPPED_FROM: u64 = 64 << 20;

/// The smallest part one thread copies through the map.
pub(crate) const MIN_PART: usize = 32 << 20;

/// The most threads one copy uses.
pub(crate) const MAX_THREADS: usize = 8;

/// How much faster one thread writes with `pwrite` than it copies through
/// a map, in tenths (15: 1.5 times): a store into a new page of a map
/// faults, and the kernel zeroes the page before the copy fills it, where
/// a `pwrite` of whole pages does neither. Measured on ext4 (Linux 6.18,
/// 1 GiB): about 190 against 300 ms of CPU. The write's share is sized so
/// that both finish together.
const WRITE_SPEED_TENTHS: usize = 15;

/// Parts end at file offsets that are multiples of this (a multiple of
/// every page size Linux uses: 4, 16 and 64 KiB), and preallocations for
/// the mapped copy cover whole such blocks, so no page of the map holds a
/// block the preallocation left out and no two threads store into one
/// page.
const PART_ALIGN: u64 = 64 << 10;

/// Writes `len` bytes of `data` into `f` at `offset`. `appended`: the
/// range lies past the end of the file (the insert appends), so it may be
/// preallocated and extended.
pub(crate) fn write_data(
    data: &mut RawData<'_>,
    f: &File,
    offset: u64,
    len: u64,
    appended: bool,
) -> io::Result<()> {
    let forced = crate::platform::mapped_copy_forced();
    let plan = match (&*data, forced) {
        (RawData::Bytes(b), Some(p)) if !b.is_empty() => Some((FORCED_THREADS, p.max(1))),
        (RawData::Bytes(b), None) if b.len() as u64 >= MAPPED_FROM => {
            threads().filter(|&n| n > 1).map(|n| (n, MIN_PART))
        }
        _ => None,
    };
    let mut preallocated = false;
    if appended && (len >= PREALLOCATE_FROM || plan.is_some()) {
        let (start, end) = match plan {
            // Whole blocks, so no page of the map lacks its block.
            Some(_) => (
                offset / PART_ALIGN * PART_ALIGN,
                (offset + len).div_ceil(PART_ALIGN) * PART_ALIGN,
            ),
            None => (offset, offset + len),
        };
        // Best effort: a filesystem without fallocate just writes.
        preallocated = crate::io::preallocate(f, start, end - start).unwrap_or(false);
    }
    let mapped = preallocated && (forced.is_some() || crate::platform::preallocation_backs_maps(f));
    match (data, plan) {
        (RawData::Bytes(b), Some((threads, min_part))) if mapped => {
            // (The data starts past the old end of the file, which the
            // insert cut to its terminator: this only extends it.)
            if f.metadata()?.len() < offset + len {
                crate::io::set_len(f, offset + len)?;
            }
            let parts = split(offset, b.len(), threads, min_part);
            crate::io::copy_mapped(f, offset, b, &parts)
        }
        (RawData::Bytes(b), _) => crate::io::write_all_at(f, b, offset),
        (RawData::Writer(w), _) => w(f, offset),
    }
}

/// Threads of a copy forced by `crate::platform::force_mapped_copy`: one
/// write and up to three mapped parts, whatever the machine.
const FORCED_THREADS: usize = 4;

/// The lengths of the parts of `len` bytes at `offset` copied by
/// `threads` threads (at least 2): the first, written with `pwrite`, of
/// `WRITE_SPEED_TENTHS` shares against one share for each of the others,
/// copied through the map, each at least `min_part` bytes; every part but
/// the last ends on a [`PART_ALIGN`] boundary of the file. The first may
/// be empty (small data: all of it mapped).
fn split(offset: u64, len: usize, threads: usize, min_part: usize) -> Vec<usize> {
    let end = offset + len as u64;
    let boundary = |at: u64| (at / PART_ALIGN * PART_ALIGN).clamp(offset, end);
    let mapped_threads = (threads - 1).max(1);
    let shares = WRITE_SPEED_TENTHS + 10 * mapped_threads;
    let first = len as u128 * WRITE_SPEED_TENTHS as u128 / shares as u128;
    let mut at = boundary(offset + first as u64);
    let mut parts = vec![(at - offset) as usize];
    let rest = (end - at) as usize;
    let each = rest.div_ceil(mapped_threads).max(min_part) as u64;
    while at < end {
        let stop = boundary(at.saturating_add(each).div_ceil(PART_ALIGN) * PART_ALIGN);
        let stop = if stop <= at { end } else { stop };
        parts.push((stop - at) as usize);
        at = stop;
    }
    parts
}

/// The threads a copy may use: the CPUs this process may run on
/// (`available_parallelism`), at most [`MAX_THREADS`], less one for each
/// other task that is runnable right now (Linux: `/proc/loadavg`'s count,
/// which includes this thread). A thread that waits for a CPU gains
/// nothing and adds the mapped copy's extra work (measured: on a
/// saturated machine the threads were slower than the one `pwrite`).
fn threads() -> Option<usize> {
    let cpus = std::thread::available_parallelism().ok()?.get();
    let busy = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| other_runnable(&s))
        .unwrap_or(0);
    Some(cpus.min(MAX_THREADS).saturating_sub(busy).max(1))
}

/// The runnable tasks other than the reader in `/proc/loadavg`'s text
/// (its fourth field, `runnable/total`).
fn other_runnable(loadavg: &str) -> Option<usize> {
    let field = loadavg.split_whitespace().nth(3)?;
    let runnable: usize = field.split_once('/')?.0.parse().ok()?;
    Some(runnable.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_data_and_end_on_boundaries() {
        let gib = 1usize << 30;
        for (offset, len, threads) in [
            (4096 + 77, gib, 2),
            (123, gib + 5, 8),
            (1 << 16, 64 << 20, 2),
            (999, 100 << 20, 5),
            (10, 3000, FORCED_THREADS),
        ] {
            let parts = split(offset, len, threads, MIN_PART.min(len));
            assert_eq!(parts.iter().sum::<usize>(), len);
            assert!(parts.len() <= threads);
            let mut at = offset;
            for &p in parts[..parts.len() - 1].iter().filter(|&&p| p > 0) {
                at += p as u64;
                assert_eq!(at % PART_ALIGN, 0, "{parts:?}");
            }
            assert!(parts[1..].iter().all(|&p| p > 0), "{parts:?}");
        }
        // Two threads: the write takes 3/5, the map the rest.
        let p = split(0, gib, 2, MIN_PART);
        assert_eq!(p.len(), 2);
        assert!((p[0] as f64 / gib as f64 - 0.6).abs() < 0.001, "{p:?}");
        // Eight: the write 15/85, seven mapped parts of equal size.
        let p = split(0, gib, 8, MIN_PART);
        assert_eq!(p.len(), 8);
        assert!(p[1..7]
            .iter()
            .all(|&x| x.abs_diff(p[1]) <= PART_ALIGN as usize));
        // Small data: all of it mapped, in one part.
        assert_eq!(split(100, 3000, FORCED_THREADS, 1), [0, 3000]);
    }

    #[test]
    fn busy_cpus_are_read_from_loadavg() {
        assert_eq!(other_runnable("5.65 6.85 7.32 4/130 19071\n"), Some(3));
        assert_eq!(other_runnable("0.01 0.05 0.10 1/98 7"), Some(0));
        assert_eq!(other_runnable("0.01 0.05"), None);
        assert_eq!(other_runnable("0.01 0.05 0.10 x/98 7"), None);
        assert!(threads().is_some_and(|n| (1..=MAX_THREADS).contains(&n)));
    }
}
