//! # mmpk-format
//!
//! The mmpk file layout (mmappickle version 1) as pure functions over byte
//! slices: no files, maps, locks or threads. It sits between `pickle-ops`
//! (which knows pickle ops) and `mmpk` (which knows files); most users want
//! `mmpk`.
//!
//! ```
//! use mmpk_format::{entry::write_entry, header, scan::{scan, Kind}};
//!
//! // An empty dict, then two entries; the later live 'a' wins.
//! let mut file = header::write_header(1).to_vec();
//! write_entry(&mut file, "a", b"K\x01", 1, true)?; // BININT1 1
//! write_entry(&mut file, "a", b"K\x02", 1, true)?;
//! file.extend_from_slice(&header::TERMINATOR);
//!
//! let s = scan(&file)?;
//! assert!(s.is_clean());
//! assert_eq!(s.entries[0].kind, Kind::Live);
//! let latest = &s.entries[s.live_index()["a"]].entry;
//! assert_eq!(&file[latest.value_span()], b"K\x02");
//! # Ok::<(), mmpk_format::Error>(())
//! ```
//!
//! ## The format in brief (FORMAT.md has every byte)
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
//!   written around caller-written raw bytes, decoded without copying them
//!   ([`array::read_array`] validates dtype, shape and data length).
//! - [`dtype`]: numpy dtypes, parsed from and printed as `dtype.str`
//!   (v2) and numpy 1.23's `str(dtype)` (v1), with itemsize, alignment and
//!   byte order; [`descr`]: structured dtypes' `descr` lists and names.
//! - [`masked`]: masked arrays, `MaskedArray(data, mask)`, including
//!   mmappickle 1.0.0's 0-d "nothing masked" mask.
//! - [`filler`]: deleted, empty-keyed entries that align the next array's
//!   raw bytes (default 64); every mmappickle 1 reader skips them.
//! - [`generic`]: every other value, CPython's protocol-4 pickle with its
//!   memo renumbered from the file's memo base (byte-identical to
//!   mmappickle 1.0.0), decoded from the entry's bytes alone.
//!
//! ## Decisions where FORMAT.md leaves room
//!
//! - The commit number is the raw `i32` of its `BININT`; writers wrap.
//! - A negative `memo_max`, a validity byte other than `88`/`30`, a key that
//!   is not UTF-8, or a value of zero bytes make an entry corrupt.
//! - A filler's `SHORT_BINBYTES`/`BINBYTES` holds any number of zero bytes
//!   (that is how it reaches every length from 20 up); recognising one
//!   requires all its bytes to be zero.
//! - A `FRAME 2` whose `DICT STOP` was overwritten is an interrupted insert
//!   ([`scan::Tail::BrokenTerminator`]), not corruption.
//! - Generic values (section 6) follow mmappickle 1.0.0's `_pickle_dump_fix`
//!   exactly: the first kept memo store gets the base itself (the file's
//!   memo max, at least 1), not the base + 1; a value that keeps no store
//!   records `memo_max` = base (so a file of plain scalars records 1 in
//!   every entry); `MEMOIZE` stands for the memo's current size (distinct
//!   indices stored so far), as in CPython's unpickler; a store is kept when
//!   any fetch of the same value names its index, and a fetch follows the
//!   latest kept store of its index; every op that is not a memo op is
//!   written back unchanged. `memo_max` is at most `i32::MAX` (its
//!   `BININT`), so the last usable index is `i32::MAX - 1`.
//! - Rewriting accepts any valid pickle of protocol 0 to 4 (text `PUT`/`GET`
//!   included) and refuses `PROTO 5` and above, as the file says protocol 4;
//!   a fetch of an index not stored earlier in the same value is an error
//!   at write time, and at read time ([`generic::decode_value`] decodes the
//!   fragment alone, so it cannot see another entry's stores). Decoding
//!   works around a `pickle-ops` memo bug with sparse indices by retrying
//!   on the value renumbered from 0 (see [`generic::decode_value`]).
//! - Array dtypes: a name without byte order (`float64`) and the `=`
//!   prefix mean little-endian, whatever the machine: files are portable
//!   and mmappickle files come from little-endian machines; v1 writes names
//!   as numpy 1.23 prints them on a little-endian machine. Readers accept
//!   `dtype.str`, names and the short forms in both encodings. Object
//!   dtypes are refused ([`Error::ObjectDtype`]); itemsizes are at most
//!   `i32::MAX` (numpy 1.x); `datetime64` multipliers at most `i32::MAX`.
//! - Structured dtypes are fields at increasing, non-overlapping offsets
//!   (what `descr` can express); a descr's unnamed void items are padding
//!   (numpy's `descr_to_dtype`), so the `align=True` flag does not survive
//!   v2 (as in numpy; `pickle.load` names a padding item `f<i>`). The
//!   typed v1 writer refuses structured dtypes: mmappickle 1.0 writes their
//!   `str(dtype)` (list form, or the dict form for padded or aligned
//!   structs), which numpy cannot parse, so `pickle.load` of the whole file
//!   would fail; the untyped [`array::write_array_tail`] still writes those
//!   bytes, and readers accept them, keeping offsets, titles and the
//!   aligned flag. Field
//!   names are printed with Python's `repr`, approximated for non-ASCII
//!   characters without Unicode tables (C1 controls, NBSP, soft hyphen,
//!   separators and common format characters are escaped).
//! - `is_native` of a structured dtype looks at every field, subarray
//!   fields included (numpy's `isnative` does not look inside subarrays).
//! - An array's data must be exactly `prod(shape) * itemsize` bytes; that
//!   product must fit in `i64` (numpy's limit, computed over the non-zero
//!   dimensions, so `(2**63, 0)` is refused). A descr or v1 name is read by a
//!   data-only machine with at most 65 536 values and 32 levels of nesting;
//!   memo ops are allowed inside a descr and skipped elsewhere.
//! - A masked array's mask must be a bool array of the data's shape, or 0-d
//!   ([`masked::MaskKind`]: a 0-d `False` is "nothing masked", a 0-d `True`
//!   masks everything, as numpy broadcasts it). Writers write "nothing
//!   masked" as mmappickle 1.0.0 does, a 0-d `False`, in both encodings.
//!
//! Every length or offset read from the input is checked; any input gives a
//! value or an [`Error`] naming a byte offset, never a panic.
#![forbid(unsafe_code)]

pub mod array;
mod cursor;
pub mod descr;
pub mod dtype;
pub mod entry;
pub mod error;
pub mod filler;
pub mod generic;
pub mod header;
pub mod masked;
pub mod numpy;
pub mod plan;
pub mod pylit;
pub mod scan;

pub use entry::Entry;
pub use error::{Error, Result};
pub use header::Header;
pub use scan::{scan, Scan};
