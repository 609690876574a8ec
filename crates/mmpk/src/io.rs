//! Every change the crate makes to files, in one place: positioned writes,
//! copies into a file, length changes, preallocations, syncs (of files, mapped ranges and
//! directories), opens that may create a file, and renames. Reads are not
//! routed here.
//!
//! In the crate's own test builds and with the non-default cargo feature
//! `fault-injection`, the writes, length changes, syncs and renames consult
//! a per-thread fault plan ([`crate::fault`]) first, so tests can make the
//! Nth write fail as a full disk does (`ENOSPC`), or write only part of its
//! bytes and then fail. With the non-default feature `crash-record`, every
//! call here is also recorded ([`crate::record`]) for the crash-state
//! checker, and the syncs of one call site can be skipped (its mutants).
//! In every other build the functions are the plain `std` calls.
//!
//! The syncs are `#[track_caller]`, so a record names the line of the
//! crate that asked for each barrier.

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
            #[cfg(feature = "crash-record")]
            crate::record::write(f, offset, &buf[..k]);
            return Err(no_space());
        }
    }
    f.write_all_at(buf, offset)?;
    #[cfg(feature = "crash-record")]
    crate::record::write(f, offset, buf);
    Ok(())
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
    crate::platform::copy_range(src, src_offset, dst, dst_offset, len, dst_zeroed)?;
    #[cfg(feature = "crash-record")]
    crate::record::copied(dst, dst_offset, len);
    Ok(())
}

/// Copies exactly `len` bytes from `r` to `dst` at `dst_offset` through one
/// bounded buffer ([`crate::platform::BUFFER`]), each chunk a positioned
/// write of this module. Fails with `UnexpectedEof` if `r` ends first.
pub(crate) fn copy_from_reader(
    r: &mut dyn io::Read,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    if dst_offset
        .checked_add(len)
        .is_none_or(|e| e > i64::MAX as u64)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "offset or length too large",
        ));
    }
    let cap = crate::platform::BUFFER.min(usize::try_from(len).unwrap_or(usize::MAX));
    let mut buf = vec![0u8; cap];
    let (mut at, mut left) = (dst_offset, len);
    while left > 0 {
        let k = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        r.read_exact(&mut buf[..k])?;
        write_all_at(dst, &buf[..k], at)?;
        at += k as u64;
        left -= k as u64;
    }
    Ok(())
}

/// `ftruncate`.
#[inline]
pub(crate) fn set_len(f: &File, len: u64) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    f.set_len(len)?;
    #[cfg(feature = "crash-record")]
    crate::record::set_len(f, len);
    Ok(())
}

/// Preallocation of `len` bytes at `offset`, keeping the size (a
/// best-effort hint: callers may ignore its error).
#[inline]
pub(crate) fn preallocate(f: &File, offset: u64, len: u64) -> io::Result<()> {
    let asked = crate::platform::preallocate(f, offset, len)?;
    #[cfg(feature = "crash-record")]
    if asked {
        crate::record::preallocate(f, offset, len);
    }
    #[cfg(not(feature = "crash-record"))]
    let _ = asked;
    Ok(())
}

/// `fsync` (data and metadata; `F_FULLFSYNC` on Apple platforms, as
/// `std` does).
#[inline]
#[track_caller]
pub(crate) fn sync_all(f: &File) -> io::Result<()> {
    sync(f, false)
}

/// `fdatasync` (`F_FULLFSYNC` on Apple platforms, as `std` does).
#[inline]
#[track_caller]
pub(crate) fn sync_data(f: &File) -> io::Result<()> {
    sync(f, true)
}

/// The one sync of the seam: `fdatasync` when `data_only`, else `fsync`.
/// (`#[track_caller]` all the way down, so the recorder's site is the
/// caller of `sync_all`/`sync_data`.)
#[inline]
#[track_caller]
fn sync(f: &File, data_only: bool) -> io::Result<()> {
    #[cfg(feature = "crash-record")]
    let site = std::panic::Location::caller();
    #[cfg(feature = "crash-record")]
    if crate::record::skip_sync(site) {
        return Ok(());
    }
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    if data_only {
        f.sync_data()?;
    } else {
        f.sync_all()?;
    }
    #[cfg(feature = "crash-record")]
    crate::record::sync(f, data_only, site);
    Ok(())
}

/// `fsync` of the directory holding `path`, so that a file created or
/// renamed there keeps its name after a power cut.
#[inline]
#[track_caller]
pub(crate) fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    #[cfg(feature = "crash-record")]
    let site = std::panic::Location::caller();
    #[cfg(feature = "crash-record")]
    if crate::record::skip_sync(site) {
        return Ok(());
    }
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    File::open(dir)?.sync_all()?;
    #[cfg(feature = "crash-record")]
    crate::record::sync_dir(dir, site);
    Ok(())
}

/// `msync(MS_SYNC)` of `len` bytes of `map` at map offset `offset` (file
/// offset `offset` too: maps start at 0), then, on Apple platforms where
/// `msync` does not flush the drive's cache, `F_FULLFSYNC` of `file`.
#[inline]
#[track_caller]
pub(crate) fn msync(
    map: &crate::map::Map,
    file: &File,
    offset: usize,
    len: usize,
) -> io::Result<()> {
    #[cfg(feature = "crash-record")]
    let site = std::panic::Location::caller();
    #[cfg(feature = "crash-record")]
    if crate::record::skip_sync(site) {
        return Ok(());
    }
    map.flush_range(offset, len)?;
    #[cfg(target_vendor = "apple")]
    file.sync_data()?;
    #[cfg(not(target_vendor = "apple"))]
    let _ = file;
    #[cfg(feature = "crash-record")]
    crate::record::msync(
        crate::record::file_id(file),
        offset as u64,
        len as u64,
        site,
    );
    Ok(())
}

/// Opens `path` with `opts`; `creates` tells whether `opts` may create it
/// (`O_CREAT`), which is recorded.
#[inline]
pub(crate) fn open(opts: &std::fs::OpenOptions, path: &Path, creates: bool) -> io::Result<File> {
    let f = opts.open(path)?;
    #[cfg(feature = "crash-record")]
    crate::record::open(path, &f, creates);
    #[cfg(not(feature = "crash-record"))]
    let _ = creates;
    Ok(f)
}

/// `rename(2)`.
#[inline]
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if consult() != Injected::No {
        return Err(no_space());
    }
    std::fs::rename(from, to)?;
    #[cfg(feature = "crash-record")]
    crate::record::rename(from, to);
    Ok(())
}

#[cfg(any(test, feature = "fault-injection"))]
fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28) // ENOSPC
}
