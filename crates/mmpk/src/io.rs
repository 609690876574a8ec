//! Every write the crate makes to a file, in one place: positioned writes,
//! copies into the file, length changes, syncs and renames. Reads are not routed here.
//!
//! In the crate's own test builds and with the non-default cargo feature
//! `fault-injection`, each of these consults a per-thread fault plan
//! ([`crate::fault`]) first, so tests can make the Nth write fail as a full
//! disk does (`ENOSPC`), or write only part of its bytes and then fail. In
//! every other build the functions are the plain `std` calls.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

#[cfg(any(test, feature = "fault-injection"))]
use crate::fault::{consult, Injected};

/// `pwrite` of all of `buf` at `offset`.
#[inline]
pub(crate) fn write_all_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    match consult() {
        Injected::No => {}
        Injected::NoSpace => return Err(no_space()),
        Injected::Short(k) => {
            let k = k.min(buf.len().saturating_sub(1));
            f.write_all_at(&buf[..k], offset)?;
            return Err(no_space());
        }
    }
    f.write_all_at(buf, offset)
}

/// [`crate::platform::copy_range`] into `dst` (the dict's file).
#[inline]
pub(crate) fn copy_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
    dst_zeroed: bool,
) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    crate::platform::copy_range(src, src_offset, dst, dst_offset, len, dst_zeroed)
}

/// [`crate::platform::copy_from_reader`] into `dst` (the dict's file).
#[inline]
pub(crate) fn copy_from_reader(
    r: &mut dyn io::Read,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    crate::platform::copy_from_reader(r, dst, dst_offset, len).map(|_| ())
}

/// `ftruncate`.
#[inline]
pub(crate) fn set_len(f: &File, len: u64) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    f.set_len(len)
}

/// `fsync` (data and metadata).
#[inline]
pub(crate) fn sync_all(f: &File) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    f.sync_all()
}

/// `fdatasync`.
#[inline]
pub(crate) fn sync_data(f: &File) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    f.sync_data()
}

/// `rename(2)`.
#[inline]
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    std::fs::rename(from, to)
}

#[cfg(any(test, feature = "fault-injection"))]
fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28) // ENOSPC
}
