//! # mmpk
//!
//! A dict stored in one file that is a valid protocol-4 pickle (Python's
//! `pickle.load` reads it, and so does mmappickle 1.0), whose numpy arrays
//! are memory-mapped: arrays come back as zero-copy [`ndarray`] views, keys
//! are added and removed in place, and several processes, Rust or Python,
//! read and write the same file at once.
//!
//! ```
//! use mmpk::ndarray::array; // mmpk's own ndarray (0.17), re-exported
//! use mmpk::{Dict, OpenOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("cube.mmpk");
//! // SAFETY: nobody truncates or rewrites this private file while it is open.
//! let dict = unsafe { Dict::create(&path)? };
//!
//! dict.insert_array("image", &array![[1.0f32, 2.0], [3.0, 4.0]])?;
//! dict.reserve::<u16>("stack", &[10, 512, 512])?; // sparse, no RAM
//! {
//!     let mut stack = dict.array_mut("stack")?;
//!     stack.view_mut::<u16>()?.fill(7); // lands in the file
//! }
//!
//! let image = dict.array("image")?;
//! let view = image.view::<f32>()?; // zero-copy, aligned (64 by default)
//! assert_eq!(view.sum(), 10.0);
//! assert_eq!(dict.keys()?, ["image", "stack"]);
//!
//! dict.remove("image")?;
//! // SAFETY: as above.
//! let again = unsafe { OpenOptions::new().read_only(true).open(&path)? };
//! assert_eq!(again.array("stack")?.view::<u16>()?[[9, 511, 511]], 7);
//! assert!(!again.contains("image")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The layer
//!
//! `mmpk` is the crate users depend on. It owns files, maps, locks and
//! threads; the byte layout (header, entry frames, index scan, fillers, array
//! encodings) is `mmpk_format`'s, which works on byte slices only, and the
//! pickle ops are `pickle_ops`'. docs/format.md describes every byte.
//!
//! ## Safety: what mapping a shared file means
//!
//! Opening a dict is `unsafe`, as `memmap2::Mmap::map` is: the file is
//! memory-mapped, and Rust cannot protect a `&[u8]` into a file that another
//! process may change or shrink. By calling [`OpenOptions::open`] (or
//! [`Dict::create`], [`Dict::open`], [`Dict::open_read_only`]) the caller
//! promises, for as long as the dict or any [`Array`], [`ArrayMut`] or view
//! taken from it lives:
//!
//! - nobody truncates the file or rewrites it outside the mmpk protocol
//!   (docs/format.md section 10): no vacuum or repair in another process, no editor,
//!   no `truncate`. A shrunk file makes reads of a view raise `SIGBUS`;
//! - concurrent writes to the same *array data* by several processes are
//!   ordered by the caller, as for any shared memory (a process may write an
//!   array another one is reading: that is a data race outside Rust's
//!   control).
//!
//! Inside one process the dict enforces Rust's rules itself: one
//! [`ArrayMut`] per entry, or any number of [`Array`] handles, never both
//! (checked at run time, [`Error::Busy`]); a handle keeps its map alive
//! (maps are `Arc`-shared and the file is remapped when it grows); two
//! `Dict`s of one process on the same file share these rules. Every
//! `unsafe` block of the crate is in two modules (`map.rs`: maps and typed
//! casts; [`platform`]: the platform's file calls), each with its
//! `// SAFETY:` reasoning; elsewhere `unsafe` marks only the opening
//! functions' contract.
//!
//! ## Concurrency
//!
//! Every operation that reads the entry list or changes the file holds the
//! dict's mutex (threads) and an exclusive `flock` on the file (processes;
//! the lock Python's `fcntl.flock` takes, so mmappickle interoperates).
//! Under the lock the commit number (header byte 18) and the file length say
//! whether the cached index is current; when the file only grew, only the
//! new frames are read (and the validity bytes of the known live entries
//! re-read). A [`Dict`] is `Send + Sync` and `Clone` (clones share the
//! cache and the lock).
//!
//! ## Crash safety
//!
//! An insert writes everything but its first frame head (the new entry's
//! body, the raw data, the new terminator), bumps the commit number, then
//! writes the 9-byte frame head over the old terminator: a process killed at
//! any instant leaves a file holding every earlier entry, and the new one
//! complete or absent. Replace is insert, then delete of the old entry (the
//! later live entry wins if a crash comes between). A power cut is another
//! matter (unsynced writes lost, reordered or torn): [`OpenOptions::durable`]
//! adds the barriers that make every call durable when it returns (off by
//! default, as in mmappickle); its docs say, per operation, which syncs
//! happen and what a power cut can leave in each mode, and
//! [`Dict::flush`] and [`ArrayMut::flush`] make earlier writes durable in
//! either mode.
//!
//! ## What else is here
//!
//! - Generic values: [`Dict::insert_pickle`] / [`Dict::get_pickle`] store and
//!   decode any value of `pickle_ops`' data-only model (docs/format.md section
//!   7, through `mmpk_format::generic`); nothing in a file runs code.
//! - Masked arrays: [`Dict::insert_masked`], [`Dict::masked`] (both parts
//!   mapped).
//! - [`Dict::get`] returns whichever of the three an entry holds.
//! - Maintenance: [`Dict::repair`] (torn tail, missing terminator, corrupt
//!   frame), [`Dict::vacuum`] (live entries only, fillers recomputed,
//!   crash-safe by rename), [`Dict::upgrade`] (v1 entries to v2, so numpy
//!   2.3+ can `pickle.load` the file).
//! - Conversion: [`OpenOptions::convert`] turns a plain pickled dict into an
//!   mmpk file in place (new file beside it, renamed over it when complete);
//!   numpy arrays among its values become mapped arrays.
//! - Already-open files: [`OpenOptions::open_file`] and
//!   [`OpenOptions::convert_file`] work on a `File` without a usable path
//!   (an unlinked temporary file, a descriptor handed over); vacuum and
//!   conversion then rewrite that file in place, which is not crash-safe
//!   (the module docs of `inplace.rs` give the crash model).
//! - [`Dict::set_commit_number`]: mmappickle 1.0 lets programs set the
//!   commit number; so does mmpk.
//! - [`par`] (feature `rayon`): rayon reductions and fills along axis 0 of (mapped) arrays,
//!   and parallel bulk insert.
//!
//! ## Cargo features
//!
//! - `rayon` (default): [`par`] (parallel reductions, fills and bulk
//!   inserts over mapped arrays) and ndarray's parallel iterators. Without
//!   it (`default-features = false`) mmpk builds no thread pool.
//! - `fault-injection` and `crash-record` (off; test support):
//!   `mmpk::fault` makes the Nth file write fail or come up short;
//!   `mmpk::record` and `mmpk::crash` record file changes and the files a
//!   power cut can leave.
//!
//! ndarray (0.17), `half` and `num_complex` are re-exported
//! (`mmpk::ndarray`, ...): downstream code names the very same types.
//!
//! ## Specification and design
//!
//! `docs/format.md` specifies the file format and the concurrency
//! protocol this crate follows, and `docs/design.md` ("Decisions by
//! crate") lists the decisions it made where the format leaves room (Unix
//! only, the cache rules, the commit-number bumps, vacuum by rename or in
//! place, the key index, fault injection, platform calls); timings are in
//! `BENCHMARKS.md`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod array;
mod convert;
#[cfg(feature = "crash-record")]
pub mod crash;
mod dict;
mod dtype;
mod error;
#[cfg(any(test, feature = "fault-injection"))]
pub mod fault;
mod index;
mod inplace;
mod io;
mod keys;
mod maint;
mod map;
mod masked;
#[cfg(feature = "rayon")]
#[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
pub mod par;
pub mod platform;
mod raw;
#[cfg(feature = "crash-record")]
pub mod record;
mod room;
mod stream;
mod value;
mod write;
mod zarr_refs;

pub use array::{Array, ArrayMut};
pub use dict::{Dict, EntryInfo, Layout, OpenOptions, Stats};
pub use dtype::{visit_element, ByteOrder, Dtype, DtypeKind, Element, ElementVisitor};
pub use error::{Error, Result};
/// The `half` crate of the [`Element`] type `half::f16`.
pub use half;
pub use maint::{RepairReport, VacuumReport};
pub use masked::Masked;
/// Where and what one stored array is: the same type as `mmpk_remote::ArrayInfo`.
pub use mmpk_format::array::ArrayInfo;
pub use mmpk_format::array::Encoding;
pub use mmpk_format::masked::MaskKind;
/// Zarr chunk references (kerchunk JSON) of a file's arrays: see [`Dict::zarr_refs`].
pub use mmpk_format::zarr;
/// The `ndarray` (0.17) that views and owned arrays are made of: name it
/// `mmpk::ndarray` so downstream code uses the very same types.
pub use ndarray;
/// The `num_complex` crate of the [`Element`] types `Complex<f32|f64>`.
pub use num_complex;
pub use pickle_ops;
pub use pickle_ops::Pickle;
pub use raw::{RawArray, RawMasked, RawValue};
pub use stream::ArrayData;
pub use value::Value;
