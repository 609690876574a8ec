//! # mmpk-remote
//!
//! Read mmpk files (mmappickle 1: a dict in one file that is a valid
//! protocol-4 pickle) where they are published — an HTTP(S) server or an
//! S3 bucket — without downloading them: the header and the index cost a
//! few ranged GETs, then each array, slice of rows, or value costs one
//! request for its own bytes.
//!
//! ```
//! use mmpk_remote::{Options, RemoteDict};
//! # use mmpk_format::{array::Encoding, dtype::Dtype, header, write::{encode_array, write_entry, write_header}};
//! # // A file of two entries, served over HTTP on 127.0.0.1 for the example.
//! # let mut file = write_header(2).to_vec();
//! # let raw: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
//! # let (mut cube, f4) = (Vec::new(), Dtype::parse("<f4")?);
//! # encode_array(&mut cube, Encoding::V2, &f4, &[4, 3], &raw)?;
//! # write_entry(&mut file, "cube", &cube, 0, true)?;
//! # write_entry(&mut file, "meta", b"K\x07", 1, true)?; // BININT1 7
//! # file.extend_from_slice(&header::TERMINATOR);
//! # let server = mmpk_test_support::http::Server::start();
//! # server.put("cube.mmpk", file);
//! # let url = server.url("cube.mmpk");
//!
//! // `url` is http://, https://, or s3://bucket/key (endpoint, region and
//! // credentials from Options or the usual AWS_* variables).
//! let d = RemoteDict::open(&url, Options::new())?;
//! assert_eq!(d.keys(), ["cube", "meta"]);
//! let info = d.array_info("cube")?; // dtype and shape: no request
//! assert_eq!(info.dtype.str(), "<f4");
//! assert_eq!(info.shape, [4, 3]);
//! // Rows 1..3 along the first axis: one GET of exactly their bytes.
//! let rows = d.array_slice("cube", 1..3)?;
//! assert_eq!(rows.to_vec::<f32>()?, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
//! let meta = d.get_pickle("meta")?; // a generic value, decoded data-only
//! assert_eq!(*meta.value(meta.root()), pickle_ops::Value::int(7));
//! println!("{:?}", d.stats()); // requests, bytes, cache hits
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The layer
//!
//! `mmpk-remote` sits beside `mmpk` (the local, memory-mapped dict), on the
//! same `mmpk-format` (the layout over byte slices). It owns the network:
//! `object_store` (its HTTP and S3 stores, with reqwest and rustls on
//! `ring`, so no aws-lc and no C toolchain beyond `ring`'s), driven by the
//! process's one internal I/O runtime (multi-thread tokio, at most 4
//! threads, shared by every handle), and for plain `http://` objects a
//! small blocking HTTP/1.1 range reader of its own (see below), behind a
//! blocking API that mirrors the local dict's reads. Views become owned arrays ([`OwnedArray`]: dtype,
//! shape, raw bytes in the stored byte order; [`OwnedArray::to_vec`] and
//! [`OwnedArray::to_ndarray`] for native types; its `ndarray` is
//! re-exported as `mmpk_remote::ndarray`). The blocking calls return [`Error::InAsyncContext`]
//! inside an async runtime (use `spawn_blocking`); a dict may be dropped
//! anywhere.
//!
//! A reader handed only where an entry is (a dask task in another process)
//! needs no index: [`RemoteDict::pin`] gives an [`EntryPin`] (the object's
//! version and the entry's frame), and [`RemoteObject::read_pinned`] reads
//! byte ranges of that entry, following appends by re-validating the entry
//! and refusing rewrites (see [`RemoteObject`]);
//! [`RemoteObject::read_pinned_into`] does the same into the caller's
//! buffers, each received chunk copied once. For a plain `http://` URL
//! (and no proxy variable set), these reads and a dict's (all but the
//! first of `open`) use a small HTTP/1.1 range reader of the crate's own
//! that reads each response body from the socket straight into place,
//! over kept-alive connections, and leaves anything
//! unexpected (redirects, error statuses, chunked bodies, connection
//! failures) to `object_store` (`docs/remote.md`; `MMPK_REMOTE_DIRECT=0`
//! turns it off; [`TransferStats::direct`] counts its requests). [`RemoteDict::masked_info`]
//! locates a masked array's data and mask without reading them.
//!
//! [`RemoteDict::zarr_refs`] describes the file's arrays as a zarr store
//! whose chunks are byte ranges of the object (kerchunk reference JSON,
//! see `mmpk_format::zarr`), from the index alone.
//!
//! ## How it reads
//!
//! The index costs about `readahead + N × 5 KiB` in `1 + N` requests for
//! N large arrays (an array's raw bytes are never read by the scan); every
//! read goes through one byte-bounded cache of the current version,
//! coalesced and split into parallel requests; every GET carries
//! `If-Match` so that bytes of two versions never mix
//! ([`Error::Changed`]); [`RemoteDict::refresh`] picks up appends
//! cheaply. The details (index scan, caching, retries, consistency and
//! what validators servers give) are in the repository's `docs/remote.md`.
//!
//! ## Decisions
//!
//! - Method names mirror `mmpk::Dict`'s, one vocabulary for both:
//!   [`RemoteDict::array`], [`RemoteDict::masked`],
//!   [`RemoteDict::get_pickle`], [`RemoteDict::value_bytes`],
//!   [`RemoteDict::changed_by_others`], `keys`, `contains`, `entries`,
//!   `commit_number`, `stats`; what only a remote read has is named after
//!   them ([`RemoteDict::array_slice`], [`RemoteDict::array_slices`]: rows
//!   along the first axis). The element types ([`Element`]) and dtypes are
//!   mmpk's own (both from `mmpk_format`).
//! - Ranged GETs answered with a whole body are refused
//!   ([`Error::NoRangeSupport`]), never downloaded in full by surprise; the
//!   other decisions (truncated and foreign objects, pre-signed URLs, plain
//!   HTTP to S3, error offsets) are in `docs/design.md` ("Decisions by
//!   crate"), beside the format's specification in `docs/format.md`.
//!
//! Nothing read from the network can panic this crate or make it allocate
//! more than the object's size for one read; values are decoded data-only
//! (no code runs).
#![forbid(unsafe_code)]

mod array;
mod cache;
mod dict;
mod direct;
mod error;
mod index;
mod masked;
mod options;
mod pin;
mod runtime;
mod source;
mod transport;
mod zarr;

pub use array::{OwnedArray, OwnedMasked};
pub use bytes::Bytes;
pub use dict::{Refresh, RemoteDict};
pub use error::{Error, Result};
pub use index::RemoteEntry;
pub use masked::MaskedInfo;
/// Where and what one stored array is: the same type as `mmpk::ArrayInfo`.
pub use mmpk_format::array::ArrayInfo;
pub use mmpk_format::array::Encoding;
pub use mmpk_format::dtype::Dtype;
/// The element types of [`OwnedArray::to_vec`], the same sealed trait as
/// `mmpk::Element` (both are `mmpk_format::element::Element`).
pub use mmpk_format::element::Element;
pub use mmpk_format::masked::MaskKind;
pub use mmpk_format::scan::{EntryKind, Tail};
/// The `ndarray` (0.17) of [`OwnedArray::to_ndarray`]: name it
/// `mmpk_remote::ndarray` so downstream code uses the very same types.
pub use ndarray;
pub use options::Options;
pub use pickle_ops::Pickle;
pub use pin::{EntryPin, RemoteObject};
pub use transport::{ObjectVersion, TransferStats};
pub use zarr::MAX_MASKED_FETCH;
