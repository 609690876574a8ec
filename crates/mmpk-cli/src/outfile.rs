//! The tool's own output files: `export`'s `.npy`, `pickle-encode -o`,
//! `zarr-refs -o`. They are written as `cp` writes a copy: created (or
//! truncated), written, not synced; a power cut soon after may leave them
//! empty or partly written (run `sync` to have them on the disk). With the
//! `crash-record` feature, every change made here is recorded in mmpk's
//! record (`mmpk::record`), as the changes mmpk makes to dicts are, so the
//! crash-state checker's record of a command is complete (checked against
//! `strace`).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Creates (or truncates) `path` for writing (and reading: the recorder
/// reads back what a kernel copy left).
pub fn create(path: &str) -> io::Result<File> {
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    #[cfg(feature = "crash-record")]
    mmpk::record::open(std::path::Path::new(path), &f, true);
    Ok(f)
}

/// `pwrite` of all of `buf` at `offset`.
pub fn write_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    f.write_all_at(buf, offset)?;
    #[cfg(feature = "crash-record")]
    mmpk::record::write(f, offset, buf);
    Ok(())
}

/// `len` bytes of `src` at `src_offset` copied into `dst` at `dst_offset`
/// by the kernel where it can (`mmpk::platform::copy_range`; `dst` is
/// zeros there).
pub fn copy_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    mmpk::platform::copy_range(src, src_offset, dst, dst_offset, len, true)?;
    #[cfg(feature = "crash-record")]
    mmpk::record::copied(dst, dst_offset, len);
    Ok(())
}

/// `ftruncate`.
pub fn set_len(f: &File, len: u64) -> io::Result<()> {
    f.set_len(len)?;
    #[cfg(feature = "crash-record")]
    mmpk::record::set_len(f, len);
    Ok(())
}

/// Writes `bytes` to a new `path` (as `std::fs::write`).
pub fn write(path: &str, bytes: &[u8]) -> io::Result<()> {
    write_at(&create(path)?, bytes, 0)
}

/// A writer of a new file, each `write` a positioned write of this module
/// (wrap it in a `BufWriter`).
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub struct Out {
    f: File,
    at: u64,
}

#[cfg_attr(not(feature = "remote"), allow(dead_code))]
impl Out {
    /// Creates (or truncates) `path`.
    pub fn create(path: &str) -> io::Result<Out> {
        Ok(Out {
            f: create(path)?,
            at: 0,
        })
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_at(&self.f, buf, self.at)?;
        self.at += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
