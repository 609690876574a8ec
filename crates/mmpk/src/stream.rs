//! Inserting an array whose bytes come from elsewhere (a file range, a
//! reader, a closure) without holding them in memory: the bytes go
//! straight into the new entry's data range, in the kernel where it can
//! ([`crate::platform::copy_range`]) or through one bounded buffer.

use std::fs::File;
use std::io::{self, Read};

use crate::dict::Dict;
use crate::dtype;
use crate::error::{Error, Result};

/// The data range of an array entry being inserted: what the closure of
/// [`Dict::insert_array_with`] fills. Offsets are relative to the first
/// byte of the array's data; bytes never written read as zeros.
#[derive(Debug)]
pub struct ArrayData<'a> {
    file: &'a File,
    base: u64,
    len: u64,
    /// The hull of everything written so far (`start..end`; empty at first):
    /// outside it the range still reads as zeros, so a copy there may skip
    /// the source's holes.
    written: (u64, u64),
}

impl ArrayData<'_> {
    /// Length of the data in bytes (`prod(shape) * itemsize`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the array holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where `offset..offset + len` is in the file, checked against the data.
    fn span(&mut self, offset: u64, len: u64) -> io::Result<(u64, bool)> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "bytes {offset}..+{len} are outside the array's {} bytes",
                        self.len
                    ),
                )
            })?;
        let (ws, we) = self.written;
        let fresh = ws >= we || end <= ws || offset >= we;
        self.written = if ws >= we {
            (offset, end)
        } else {
            (ws.min(offset), we.max(end))
        };
        Ok((self.base + offset, fresh))
    }

    /// Writes `bytes` at `offset` of the data.
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let (at, _) = self.span(offset, bytes.len() as u64)?;
        crate::io::write_all_at(self.file, bytes, at)
    }

    /// Copies `len` bytes of `src` from `src_offset` to `offset` of the
    /// data, in the kernel where the platform can (`copy_file_range`), else
    /// through one bounded buffer. Holes of `src` cost no I/O (unless bytes
    /// were written to that part of the range before): they read as zeros
    /// (like every insert of 1 MiB or more, the range was preallocated, so
    /// its blocks are reserved on disk). Fails with `UnexpectedEof` if `src`
    /// is shorter.
    pub fn copy_from_file(
        &mut self,
        src: &File,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        let (at, fresh) = self.span(offset, len)?;
        crate::io::copy_range(src, src_offset, self.file, at, len, fresh)
    }

    /// Copies exactly `len` bytes read from `r` to `offset` of the data,
    /// through one bounded buffer. Fails with `UnexpectedEof` if `r` ends
    /// first.
    pub fn copy_from_reader(&mut self, r: &mut dyn Read, offset: u64, len: u64) -> io::Result<()> {
        let (at, _) = self.span(offset, len)?;
        crate::io::copy_from_reader(r, self.file, at, len)
    }
}

impl Dict {
    /// Inserts (or replaces) `key` with an array of `dtype` (numpy's
    /// `dtype.str` or `str(dtype)`) and `shape` whose raw bytes (C order,
    /// in the dtype's byte order) `fill` writes into the new entry's data
    /// range, in any order, through [`ArrayData`]: nothing is held in
    /// memory, whatever the size.
    ///
    /// The entry is written in the usual crash-safe order: `fill` runs
    /// first, into bytes past the dict's end that no reader sees; only when
    /// it returns `Ok` is the entry made part of the dict (and the entry it
    /// replaces deleted). If `fill` fails, nothing changes (the bytes
    /// written are trailing bytes the next insert overwrites). `fill` runs
    /// under the dict's lock: other threads and processes wait for it, so
    /// it should not wait on anything slow but its input.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let dict = unsafe { mmpk::Dict::create(dir.path().join("d.mmpk"))? };
    /// // A 2 x 3 array of little-endian u16, written row by row.
    /// dict.insert_array_with("rows", "<u2", &[2, 3], |data| {
    ///     data.write_at(0, &[1, 0, 2, 0, 3, 0])?;
    ///     data.write_at(6, &[4, 0, 5, 0, 6, 0])
    /// })?;
    /// assert_eq!(dict.array("rows")?.view::<u16>()?[[1, 2]], 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_array_with<F>(
        &self,
        key: &str,
        dtype: &str,
        shape: &[usize],
        fill: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut ArrayData<'_>) -> io::Result<()>,
    {
        let dt = dtype::parse(dtype)?;
        let len = crate::array::nbytes(&dt, shape).ok_or(Error::ShapeMismatch {
            key: Some(key.into()),
            expected: None,
            found: 0,
        })?;
        let mut fill = Some(fill);
        let mut write = |f: &File, at: u64| -> io::Result<()> {
            let fill = fill
                .take()
                .ok_or_else(|| io::Error::other("array data written twice"))?;
            fill(&mut ArrayData {
                file: f,
                base: at,
                len,
                written: (0, 0),
            })
        };
        let data = Some(crate::write::RawData::Writer(&mut write));
        self.array_entry(key, &dt, shape, data, self.layout(), None)?;
        Ok(())
    }

    /// [`Dict::insert_array_with`] whose bytes are the first
    /// `prod(shape) * itemsize` bytes of `reader` (a file, a pipe, a
    /// socket), copied through one bounded buffer. Fails, inserting
    /// nothing, if the reader ends first.
    pub fn insert_array_from(
        &self,
        key: &str,
        dtype: &str,
        shape: &[usize],
        mut reader: impl Read,
    ) -> Result<()> {
        self.insert_array_with(key, dtype, shape, |data| {
            let n = data.len();
            data.copy_from_reader(&mut reader, 0, n)
        })
    }
}
