//! # mmpk-format
//!
//! The mmpk file layout (mmappickle version 1) as pure functions over byte
//! slices: no files, maps, locks or threads. It sits between `pickle-ops`
//! (which knows pickle ops) and `mmpk` (which knows files); most users want
//! `mmpk`.
//!
//! ```
//! use mmpk_format::{header, scan::{scan, EntryKind}, write::{write_entry, write_header}};
//!
//! // An empty dict, then two entries; the later live 'a' wins.
//! let mut file = write_header(1).to_vec();
//! write_entry(&mut file, "a", b"K\x01", 1, true)?; // BININT1 1
//! write_entry(&mut file, "a", b"K\x02", 1, true)?;
//! file.extend_from_slice(&header::TERMINATOR);
//!
//! let s = scan(&file)?;
//! assert!(s.is_clean());
//! assert_eq!(s.entries[0].kind, EntryKind::Live);
//! let latest = &s.entries[s.live_index()["a"]].entry;
//! assert_eq!(&file[latest.value_span()], b"K\x02");
//! # Ok::<(), mmpk_format::Error>(())
//! ```
//!
//! ## Modules
//!
//! A file is a protocol-4 pickle building one `dict`:
//!
//! - [`header`]: 24 bytes, `PROTO 4`, `FRAME 13`, the format version (1) and
//!   the **commit number** (byte 18) as `BININT ... POP`, then `MARK`.
//! - [`entry`]: one `FRAME` per entry: key as `SHORT_BINUNICODE` (at most
//!   255 UTF-8 bytes), the value's ops, `BININT memo_max POP`, then
//!   `NEWTRUE POP` (live) or `POP POP` (deleted): deleting flips one byte.
//! - the **terminator**: `FRAME 2`, `DICT`, `STOP` (11 bytes). An empty
//!   dict is 35 bytes.
//! - [`mod@scan`]: the index, found by hopping frames without decoding values;
//!   a torn tail (crash mid-write) is reported with what is intact.
//! - [`mod@array`]: the v2 (default) and v1 (mmappickle 1.0) array values,
//!   decoded without copying their raw bytes ([`array::read_array`]
//!   validates dtype, shape and data length; [`array::ArrayInfo`] is where
//!   and what a stored array is, for `mmpk` and `mmpk-remote` alike).
//! - [`dtype`]: numpy dtypes with itemsize, alignment and byte order;
//!   [`descr`]: their spellings, parsed from and printed as `dtype.str`
//!   (v2), numpy 1.23's `str(dtype)` (v1) and structured dtypes' `descr`
//!   lists; [`pylit`]: the small Python literals those are made of.
//! - [`masked`]: masked arrays, `MaskedArray(data, mask)`, including
//!   mmappickle 1.0.0's 0-d "nothing masked" mask.
//! - [`filler`]: deleted, empty-keyed entries that align the next array's
//!   raw bytes (default 64); every mmappickle 1 reader skips them.
//! - [`generic`]: every other value, CPython's protocol-4 pickle with its
//!   memo renumbered from the file's memo base (byte-identical to
//!   mmappickle 1.0.0), decoded from the entry's bytes alone.
//! - [`mod@write`]: the writers of all of the above (header, entries,
//!   fillers, array values written around caller-written raw bytes,
//!   masked arrays), apart from the readers.
//! - [`numpy`]: numpy's own pickles (arrays, scalars, dtypes) recognised
//!   in decoded values (see `docs/design.md` on why this is here and not in
//!   `pickle-ops`).
//! - [`plan`]: repair and vacuum plans.
//! - [`element`]: the Rust element types of arrays (one sealed trait for
//!   `mmpk` and `mmpk-remote`).
//! - [`zarr`]: a file's arrays as zarr chunk references (kerchunk JSON)
//!   pointing at the file's own bytes, for xarray, zarr and dask.
//!
//! The modules build on each other in one direction: values go [`pylit`]
//! (Python literals) < [`dtype`] < [`descr`] < [`mod@array`] < [`masked`],
//! frames go [`header`] < [`entry`] < [`mod@scan`]; [`mod@write`] writes
//! both, and [`generic`], [`plan`] and [`zarr`] build on the rest.
//!
//! `docs/format.md` in the repository specifies every byte; where it
//! leaves room, this crate's decisions are in `docs/design.md`
//! ("Decisions by crate").
//!
//! Every length or offset read from the input is checked; any input gives a
//! value or an [`Error`] naming a byte offset, never a panic.
#![forbid(unsafe_code)]

pub mod array;
mod cursor;
pub mod descr;
pub mod dtype;
pub mod element;
pub mod entry;
pub mod error;
pub mod filler;
pub mod generic;
pub mod header;
pub mod masked;
pub mod numpy;
mod pickled;
pub mod plan;
pub mod pylit;
pub mod scan;
pub mod write;
pub mod zarr;

pub use entry::Entry;
pub use error::{Error, Result};
pub use header::Header;
pub use scan::{scan, Scan};
