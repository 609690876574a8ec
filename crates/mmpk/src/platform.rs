//! The portable file calls: every platform-specific call of the crate, each
//! behind `cfg` with a fallback that works on every Unix.
//!
//! | call | Linux | macOS | FreeBSD | other Unix |
//! |---|---|---|---|---|
//! | [`preallocate`] | `fallocate(FALLOC_FL_KEEP_SIZE)` | `fcntl(F_PREALLOCATE)` | nothing | nothing |
//! | [`copy_range`] | `copy_file_range` | `pread`/`pwrite` | `copy_file_range` | `pread`/`pwrite` |
//! | holes skipped by [`copy_range`] | `SEEK_DATA`/`SEEK_HOLE` | `SEEK_DATA`/`SEEK_HOLE` | `SEEK_DATA`/`SEEK_HOLE` | zero blocks |
//!
//! Preallocation never changes a file's size (`posix_fallocate` is never
//! used: it would extend the file past the dict's terminator, which
//! readers would see as a torn tail), and is not asked for when the
//! filesystem has less free space than the range (plus 64 MiB), so it is
//! never why a write fails. Where the platform has nothing, or the
//! filesystem refuses, it does nothing. Copies go through a bounded
//! buffer ([`BUFFER`]) wherever the kernel cannot copy by itself, so
//! memory stays bounded for any size; nothing here maps a file.
//!
//! Windows is not supported (the crate uses Unix positioned I/O and
//! `flock` throughout).
//!
//! In the crate's own tests and with the `fault-injection` feature,
//! `force_portable` makes the calling thread take the fallbacks, so they
//! are tested on Linux too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

/// Size of the buffer the fallback copies go through (1 MiB).
pub const BUFFER: usize = 1 << 20;

#[cfg(any(test, feature = "fault-injection"))]
thread_local! {
    static PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes this thread's calls take the portable fallbacks (`yes`) or the
/// platform's calls again (test support; `fault-injection` feature).
#[cfg(any(test, feature = "fault-injection"))]
pub fn force_portable(yes: bool) {
    PORTABLE.with(|p| p.set(yes));
}

/// Whether this thread must take the fallbacks.
#[inline]
fn portable() -> bool {
    #[cfg(any(test, feature = "fault-injection"))]
    if PORTABLE.with(|p| p.get()) {
        return true;
    }
    false
}

/// Asks the filesystem to allocate `len` bytes at `offset` of `file` before
/// they are written, without changing the file's size: writing a large
/// array into blocks already allocated is faster, and a full disk shows up
/// before anything is written. Returns whether anything was asked of the
/// system (`false` where the platform has no such call); an error is the
/// filesystem's refusal, which callers may ignore.
pub fn preallocate(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "offset or length too large",
        ));
    };
    if off.checked_add(n).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "offset or length too large",
        ));
    }
    if portable() || n == 0 {
        return Ok(false);
    }
    // Never the reason a write fails: a preallocation that fails part-way
    // keeps the blocks it got (ext4), and a sparse copy may need far fewer
    // blocks than the range.
    if free_bytes(file).is_some_and(|free| free < len.saturating_add(PREALLOCATE_MARGIN)) {
        return Ok(false);
    }
    sys::preallocate(file, off, n)
}

/// Free space a preallocation must leave on the filesystem.
const PREALLOCATE_MARGIN: u64 = 64 << 20;

/// Bytes available to unprivileged users on `file`'s filesystem
/// (`fstatvfs`), if the system says.
fn free_bytes(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `fstatvfs` takes an open descriptor (borrowed from `file` for
    // the call) and a pointer to writable memory of one `statvfs`, which it
    // fills on success (checked before it is read).
    let r = unsafe { libc::fstatvfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if r != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ by platform
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Copies `len` bytes from `src` at `src_offset` to `dst` at `dst_offset`
/// (positioned: neither file's cursor is used for the data), in the kernel
/// where it can (`copy_file_range`), else through one bounded buffer.
///
/// With `dst_zeroed` the caller promises that the destination range reads
/// as zeros now (it lies past the end of `dst`, or was just reserved):
/// holes of `src` are then skipped (found with `SEEK_DATA`, which moves
/// `src`'s cursor; in the fallback, blocks of zeros are not written), so a
/// sparse source stays sparse and costs no I/O.
///
/// Fails with `UnexpectedEof` if `src` ends before `src_offset + len`.
pub fn copy_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
    dst_zeroed: bool,
) -> io::Result<()> {
    check_range(src_offset, len)?;
    check_range(dst_offset, len)?;
    if dst_zeroed && !portable() {
        let end = src_offset + len;
        let mut at = src_offset;
        while at < end {
            let Some((data, hole)) = sys::next_data(src, at, end)? else {
                // The rest is a hole (or the platform cannot tell: then
                // `next_data` returned the whole range as data).
                if src.metadata()?.len() < end {
                    return Err(eof());
                }
                return Ok(());
            };
            copy_segment_with(
                src,
                data,
                dst,
                dst_offset + (data - src_offset),
                hole - data,
                true,
            )?;
            at = hole;
        }
        return Ok(());
    }
    copy_segment_with(src, src_offset, dst, dst_offset, len, dst_zeroed)
}

/// One range, in the kernel if it can, else (or for what it left) through
/// the buffer.
fn copy_segment_with(
    src: &File,
    mut s: u64,
    dst: &File,
    mut d: u64,
    mut n: u64,
    skip_zeros: bool,
) -> io::Result<()> {
    if !portable() {
        let done = sys::copy_file_range(src, s, dst, d, n)?;
        s += done;
        d += done;
        n -= done;
    }
    if n == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; BUFFER.min(usize::try_from(n).unwrap_or(BUFFER))];
    while n > 0 {
        let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        src.read_exact_at(&mut buf[..k], s)?;
        if !(skip_zeros && buf[..k].iter().all(|&b| b == 0)) {
            dst.write_all_at(&buf[..k], d)?;
        }
        s += k as u64;
        d += k as u64;
        n -= k as u64;
    }
    Ok(())
}

/// Copies exactly `len` bytes from `r` to `dst` at `dst_offset`, through
/// one bounded buffer; returns the number of bytes written (`len`). Fails
/// with `UnexpectedEof` if `r` ends first.
pub fn copy_from_reader(
    r: &mut dyn Read,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<u64> {
    check_range(dst_offset, len)?;
    let mut buf = vec![0u8; BUFFER.min(usize::try_from(len).unwrap_or(BUFFER))];
    let (mut d, mut n) = (dst_offset, len);
    while n > 0 {
        let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        r.read_exact(&mut buf[..k])?;
        dst.write_all_at(&buf[..k], d)?;
        d += k as u64;
        n -= k as u64;
    }
    Ok(len)
}

/// Writes `len` bytes of `src` from `src_offset` to `w`, through one
/// bounded buffer (for pipes and sockets, where the kernel copy does not
/// apply). Fails with `UnexpectedEof` if `src` ends first.
pub fn copy_to_writer(src: &File, src_offset: u64, len: u64, w: &mut dyn Write) -> io::Result<()> {
    check_range(src_offset, len)?;
    let mut buf = vec![0u8; BUFFER.min(usize::try_from(len).unwrap_or(BUFFER))];
    let (mut s, mut n) = (src_offset, len);
    while n > 0 {
        let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        src.read_exact_at(&mut buf[..k], s)?;
        w.write_all(&buf[..k])?;
        s += k as u64;
        n -= k as u64;
    }
    Ok(())
}

fn check_range(offset: u64, len: u64) -> io::Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= i64::MAX as u64 => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "offset or length too large",
        )),
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the source file ends early")
}

/// The loop around `copy_file_range(2)` that Linux and FreeBSD share:
/// `call` asks the kernel for up to its argument's bytes (advancing its own
/// offsets) until `n` are copied, the source ends, or the kernel declines
/// with an errno `declines` accepts (then the caller's buffer copy takes
/// over from what was copied). Returns the bytes copied.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn kernel_copy(
    n: u64,
    declines: fn(i32) -> bool,
    mut call: impl FnMut(usize) -> isize,
) -> io::Result<u64> {
    let mut done = 0u64;
    while done < n {
        let want = usize::try_from(n - done).unwrap_or(usize::MAX).min(1 << 30);
        let r = call(want);
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(code) if declines(code) => return Ok(done),
                _ => return Err(e),
            }
        }
        if r == 0 {
            // End of the source: the buffer copy reports it.
            return Ok(done);
        }
        done += r as u64;
    }
    Ok(done)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    pub(super) fn preallocate(file: &File, off: i64, n: i64) -> io::Result<bool> {
        // SAFETY: `fallocate` takes an open descriptor (borrowed from
        // `file`, which outlives the call) and plain integers; it reads or
        // writes no memory of this process. KEEP_SIZE: the size stays.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, off, n) };
        if r == 0 {
            Ok(true)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) use super::unix_seek::next_data;

    /// Copies up to `n` bytes in the kernel; returns how many it copied
    /// before it stopped or declined (the caller copies the rest).
    pub(super) fn copy_file_range(
        src: &File,
        s: u64,
        dst: &File,
        d: u64,
        n: u64,
    ) -> io::Result<u64> {
        let (mut s, mut d) = (s as i64, d as i64);
        super::kernel_copy(n, declines, |want| {
            // SAFETY: both descriptors are open (borrowed from the files,
            // which outlive the call); the offset pointers point to live
            // local `i64`s (`loff_t`), which the kernel advances by what it
            // copied; no other memory is touched.
            unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    (&mut s as *mut i64).cast(),
                    dst.as_raw_fd(),
                    (&mut d as *mut i64).cast(),
                    want,
                    0,
                )
            }
        })
    }

    /// Not possible between these files (other filesystems, old kernels,
    /// special files): the buffer copies.
    fn declines(errno: i32) -> bool {
        matches!(
            errno,
            libc::ENOSYS
                | libc::EXDEV
                | libc::EINVAL
                | libc::EOPNOTSUPP
                | libc::EPERM
                | libc::ETXTBSY
        )
    }
}

#[cfg(target_os = "freebsd")]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    pub(super) fn preallocate(_: &File, _: i64, _: i64) -> io::Result<bool> {
        // FreeBSD has only posix_fallocate, which changes the size.
        Ok(false)
    }

    pub(super) use super::unix_seek::next_data;

    pub(super) fn copy_file_range(
        src: &File,
        s: u64,
        dst: &File,
        d: u64,
        n: u64,
    ) -> io::Result<u64> {
        let (mut s, mut d) = (s as libc::off_t, d as libc::off_t);
        super::kernel_copy(n, declines, |want| {
            // SAFETY: as on Linux: open descriptors borrowed for the call,
            // offset pointers to live locals.
            unsafe {
                libc::copy_file_range(src.as_raw_fd(), &mut s, dst.as_raw_fd(), &mut d, want, 0)
            }
        })
    }

    fn declines(errno: i32) -> bool {
        matches!(
            errno,
            libc::ENOSYS | libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP
        )
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    pub(super) fn preallocate(file: &File, off: i64, n: i64) -> io::Result<bool> {
        // F_PREALLOCATE allocates from the physical end of the file
        // (F_PEOFPOSMODE) and never changes the size: ask for what lies
        // past the current size.
        let size = i64::try_from(file.metadata()?.len()).unwrap_or(i64::MAX);
        let want = (off + n).saturating_sub(size);
        if want <= 0 {
            return Ok(true);
        }
        let mut store = libc::fstore_t {
            fst_flags: libc::F_ALLOCATECONTIG,
            fst_posmode: libc::F_PEOFPOSMODE,
            fst_offset: 0,
            fst_length: want,
            fst_bytesalloc: 0,
        };
        // SAFETY: `fcntl(F_PREALLOCATE)` takes an open descriptor (borrowed
        // from `file` for the call) and a pointer to a live, initialised
        // `fstore_t`, which it reads and updates (`fst_bytesalloc`).
        let mut r = unsafe {
            libc::fcntl(
                file.as_raw_fd(),
                libc::F_PREALLOCATE,
                &mut store as *mut libc::fstore_t,
            )
        };
        if r == -1 {
            // No contiguous space: any space.
            store.fst_flags = libc::F_ALLOCATEALL;
            // SAFETY: as above.
            r = unsafe {
                libc::fcntl(
                    file.as_raw_fd(),
                    libc::F_PREALLOCATE,
                    &mut store as *mut libc::fstore_t,
                )
            };
        }
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(true)
        }
    }

    pub(super) use super::unix_seek::next_data;

    pub(super) fn copy_file_range(_: &File, _: u64, _: &File, _: u64, _: u64) -> io::Result<u64> {
        // No kernel copy between offsets (fcopyfile copies whole files).
        Ok(0)
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
)))]
mod sys {
    use std::fs::File;
    use std::io;

    pub(super) fn preallocate(_: &File, _: i64, _: i64) -> io::Result<bool> {
        Ok(false)
    }

    /// No hole detection: the whole range is data (the buffer copy then
    /// skips blocks of zeros).
    pub(super) fn next_data(_: &File, at: u64, end: u64) -> io::Result<Option<(u64, u64)>> {
        Ok(Some((at, end)))
    }

    pub(super) fn copy_file_range(_: &File, _: u64, _: &File, _: u64, _: u64) -> io::Result<u64> {
        Ok(0)
    }
}

/// `SEEK_DATA`/`SEEK_HOLE`, where the platform has them.
#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
))]
mod unix_seek {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// The first data segment of `file` in `at..end`: `Some((start, stop))`,
    /// or `None` if the rest is a hole (or past the end of the file). A
    /// filesystem that cannot tell reports everything as data.
    pub(crate) fn next_data(file: &File, at: u64, end: u64) -> io::Result<Option<(u64, u64)>> {
        let fd = file.as_raw_fd();
        let seek = |off: u64, whence| -> io::Result<Option<u64>> {
            // SAFETY: `lseek` takes an open descriptor (borrowed from
            // `file` for the call) and integers; it touches no memory of
            // this process (it moves the descriptor's cursor only).
            let r = unsafe { libc::lseek(fd, off as libc::off_t, whence) };
            if r >= 0 {
                return Ok(Some(r as u64));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // No data past `off` (or `off` is past the end).
                Some(libc::ENXIO) => Ok(None),
                // The filesystem cannot tell: all data.
                Some(libc::EINVAL | libc::ENOTSUP) => Ok(Some(if whence == libc::SEEK_DATA {
                    off
                } else {
                    u64::MAX
                })),
                _ => Err(e),
            }
        };
        let Some(data) = seek(at, libc::SEEK_DATA)? else {
            return Ok(None);
        };
        if data >= end {
            return Ok(None);
        }
        let hole = seek(data, libc::SEEK_HOLE)?.unwrap_or(end).min(end);
        Ok(Some((data, hole)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A file holding `bytes`, open for reading and writing (its directory
    /// goes with the `TempDir`).
    pub(crate) fn file_with(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        (dir, f)
    }

    /// Every byte of `f`.
    pub(crate) fn read_all(f: &File) -> Vec<u8> {
        let mut v = vec![0; f.metadata().unwrap().len() as usize];
        f.read_exact_at(&mut v, 0).unwrap();
        v
    }

    /// Runs `t` with the platform's calls, then with the fallbacks.
    fn both(t: impl Fn(bool)) {
        t(false);
        force_portable(true);
        t(true);
        force_portable(false);
    }

    #[test]
    fn preallocation_keeps_the_file_size() {
        both(|portable| {
            let (_d, f) = file_with(b"0123456789");
            let asked = preallocate(&f, 4, 1 << 20);
            assert_eq!(f.metadata().unwrap().len(), 10);
            if portable {
                assert!(!asked.unwrap());
            }
            assert!(preallocate(&f, u64::MAX, 1).is_err());
            // More than the disk has: nothing asked, nothing changed.
            assert!(!preallocate(&f, 0, 1 << 60).unwrap());
            assert_eq!(f.metadata().unwrap().len(), 10);
            assert!(preallocate(&f, i64::MAX as u64, 2).is_err());
        });
    }

    #[test]
    fn ranges_copy_exactly() {
        both(|_| {
            let src: Vec<u8> = (0..3 * BUFFER + 77).map(|i| (i * 7 % 251) as u8).collect();
            let (_d, s) = file_with(&src);
            let (_e, d) = file_with(b"abcdefgh");
            copy_range(&s, 5, &d, 3, src.len() as u64 - 9, false).unwrap();
            let got = read_all(&d);
            assert_eq!(&got[..3], b"abc");
            assert_eq!(&got[3..], &src[5..src.len() - 4]);
            // A source that ends early is an error, not a short copy.
            let e = copy_range(&s, 10, &d, 0, src.len() as u64, false).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            let e = copy_range(&s, 10, &d, 0, src.len() as u64, true).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(copy_range(&s, u64::MAX, &d, 0, 1, false).is_err());
        });
    }

    #[test]
    fn holes_stay_holes_when_the_destination_is_zeros() {
        use std::os::unix::fs::MetadataExt;
        both(|_| {
            // 64 MiB sparse source with 3 bytes of data in the middle.
            let (_d, s) = file_with(b"");
            let len = 64u64 << 20;
            s.set_len(len).unwrap();
            s.write_all_at(b"xyz", 40 << 20).unwrap();
            let (_e, d) = file_with(b"");
            copy_range(&s, 0, &d, 100, len, true).unwrap();
            d.set_len(100 + len).unwrap();
            let mut b = [0u8; 5];
            d.read_exact_at(&mut b, 100 + (40 << 20) - 1).unwrap();
            assert_eq!(&b, b"\0xyz\0");
            // Only the data's blocks (and filesystem slack) were written.
            assert!(d.metadata().unwrap().blocks() * 512 < 8 << 20);
        });
    }

    #[test]
    fn readers_and_writers_stream_through_the_buffer() {
        let src: Vec<u8> = (0..2 * BUFFER + 5).map(|i| (i % 253) as u8).collect();
        let (_d, f) = file_with(b"");
        let n = copy_from_reader(&mut &src[..], &f, 7, src.len() as u64).unwrap();
        assert_eq!(n, src.len() as u64);
        let mut out = Vec::new();
        copy_to_writer(&f, 7, src.len() as u64, &mut out).unwrap();
        assert_eq!(out, src);
        let e = copy_from_reader(&mut &src[..10], &f, 0, 11).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = copy_to_writer(&f, 7, src.len() as u64 + 1, &mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
