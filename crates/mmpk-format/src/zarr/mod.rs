//! Zarr chunk references: a file's arrays described as a zarr store whose
//! chunks are byte ranges of the file itself, in kerchunk's reference JSON
//! (version 1, zarr v2 metadata as kerchunk writes it). xarray
//! (`engine="zarr"` over fsspec's `reference://`), zarr-python 3 and
//! `dask.array.from_zarr` read the arrays from a local path, HTTP or S3
//! without mmpk: each array is one uncompressed, C-ordered run of bytes.
//!
//! This module is the pure generator: entries in ([`Item`]: what `mmpk`
//! and `mmpk-remote` find in a file), JSON out ([`generate`]). What goes
//! in the store:
//!
//! - every array, as a zarr array named by its key: dtype and shape
//!   exact, chunks along the first axis of about [`Options::chunk_bytes`]
//!   (the other axes whole; see [`chunks`] for the last chunk), no
//!   compressor, no filters, `fill_value` null (xarray would mask values
//!   equal to a fill value), and `_ARRAY_DIMENSIONS` (`{key}_dim0`, ...,
//!   made unique in the store) so that xarray opens the store;
//! - every masked array, as a group named by its key holding the arrays
//!   `data` and `mask` (`bool`, the data's shape; or 0-d, as stored, for
//!   mmappickle's "nothing masked" and an all-masked 0-d mask, which numpy
//!   broadcasts);
//! - every other value that JSON can express ([`attrs::attr_json`]), as an
//!   attribute of the root group (`.zattrs`) named by its key.
//!
//! What does not: [`Refs::skipped`] lists each entry left out and why; the
//! JSON lists them too, under the top-level `"mmpk_skipped"` object (fsspec
//! reads only `version`, `refs`, `templates` and `gen`):
//!
//! - dtypes zarr v2 metadata cannot express for zarr-python 3
//!   ([`zarr_dtype`]): `float128`/`complex256` (x86 long double), zero
//!   itemsizes (`S0`, `U0`, `V0`), and structured dtypes with a title, a
//!   subarray field or a nested structured field (padding between fields
//!   is kept as unnamed `|V<n>` items, which zarr-python 3 names `f<i>`, as
//!   `pickle.load` does);
//! - keys that are not zarr node names: empty, containing `/`, starting
//!   with `.` (zarr's `.zarray`/`.zattrs` names) or `__` (reserved by
//!   zarr 3);
//! - values JSON cannot express (bytes, sets, objects, NaN, ...).
//!
//! Measured with zarr-python 3.1: it reads big-endian `datetime64` and
//! `timedelta64` arrays in native byte order (the same values), a 0-d
//! array as a numpy scalar, and every other dtype here as stored.

pub mod attrs;
pub mod chunks;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;

use pickle_ops::Pickle;

use crate::dtype::{Dtype, DtypeKind};
pub use chunks::{plan_chunks, ChunkPlan, Edge};
use pickle_ops::json::encode_str;

/// Values whose pickle is longer than this are not read as attributes
/// (no attribute could be written for them: see [`attrs::MAX_ATTR_BYTES`]).
pub const MAX_VALUE_BYTES: u64 = 1 << 20;

/// Default target bytes per chunk (16 MiB).
pub const DEFAULT_CHUNK_BYTES: u64 = 16 << 20;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The URL (or path) every reference names: where readers will find
    /// the file.
    pub url: String,
    /// Target bytes per chunk.
    pub chunk_bytes: u64,
}

impl Options {
    /// References to `url`, chunks of [`DEFAULT_CHUNK_BYTES`].
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }
}

/// Where one array's raw bytes are in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayLoc {
    /// The stored dtype.
    pub dtype: Dtype,
    /// The shape.
    pub shape: Vec<u64>,
    /// File offset of the raw bytes (`prod(shape) × itemsize` of them).
    pub data_offset: u64,
}

/// One live entry of the file, as the caller found it.
#[derive(Clone, Debug)]
pub enum Source {
    /// An array.
    Array(ArrayLoc),
    /// A masked array's data and mask (bool, the data's shape or 0-d).
    Masked {
        /// The data.
        data: ArrayLoc,
        /// The mask.
        mask: ArrayLoc,
    },
    /// Any other value, decoded data-only.
    Value(Pickle),
    /// An entry the caller could not describe, and why.
    Skip(String),
}

/// A key and what it holds, in file order.
#[derive(Clone, Debug)]
pub struct Item {
    /// The key.
    pub key: String,
    /// What it holds.
    pub source: Source,
}

/// The reference JSON and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refs {
    /// The kerchunk reference JSON (version 1).
    pub json: String,
    /// Keys described as arrays (masked arrays included).
    pub arrays: Vec<String>,
    /// Keys written as root attributes.
    pub attrs: Vec<String>,
    /// Keys left out, and why.
    pub skipped: Vec<(String, String)>,
    /// Arrays whose last chunk is inline (and the bytes read for it).
    pub inlined: Vec<(String, u64)>,
}

/// The zarr v2 `dtype` of `d` as JSON text, or why zarr-python 3 cannot
/// read it.
pub fn zarr_dtype(d: &Dtype) -> Result<String, String> {
    match d {
        Dtype::Scalar(s) => {
            let bad = |why: &str| Err(format!("dtype {}: {why}", s.str()));
            match s.kind() {
                DtypeKind::Float if s.itemsize() == 16 => return bad("long double"),
                DtypeKind::Complex if s.itemsize() == 32 => return bad("long double"),
                DtypeKind::Bytes | DtypeKind::Unicode | DtypeKind::Void if s.itemsize() == 0 => {
                    return bad("zero itemsize")
                }
                _ => {}
            }
            let mut out = String::new();
            encode_str(&s.str(), &mut out);
            Ok(out)
        }
        Dtype::Structured(st) => {
            // numpy's descr: fields in order, gaps as unnamed `|V<n>` items
            // (zarr-python 3 names them `f<i>`, as `pickle.load` does).
            if st.fields().is_empty() {
                return Err(format!("structured dtype {}: no fields", d.name()));
            }
            let mut out = String::from("[");
            let mut end = 0;
            let pad = |out: &mut String, n: u64| {
                let _ = write!(out, r#"["","|V{n}"],"#);
            };
            for f in st.fields() {
                let why = if f.title.is_some() {
                    Some("a field with a title")
                } else if !f.shape.is_empty() {
                    Some("a subarray field")
                } else if matches!(f.dtype, Dtype::Structured(_)) {
                    Some("a nested structured field")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(format!("structured dtype {}: {why}", d.name()));
                }
                if f.offset > end {
                    pad(&mut out, f.offset - end);
                }
                end = f.offset + f.dtype.itemsize();
                out.push('[');
                encode_str(&f.name, &mut out);
                out.push(',');
                out.push_str(&zarr_dtype(&f.dtype)?);
                out.push_str("],");
            }
            if st.itemsize() > end {
                pad(&mut out, st.itemsize() - end);
            }
            if out.ends_with(',') {
                out.pop();
            }
            out.push(']');
            Ok(out)
        }
    }
}

/// The live entries of a whole file (`file`: its bytes), in file order,
/// as [`generate`] takes them: arrays and masked arrays by where their
/// bytes are, values decoded data-only and resolved
/// (`pickle_ops::resolve`; those over [`MAX_VALUE_BYTES`] are skipped). A file that does not scan is an error; an entry that
/// does not decode is a [`Source::Skip`].
pub fn items_from_file(file: &[u8]) -> crate::Result<Vec<Item>> {
    let s = crate::scan(file)?;
    let live = s.live_index();
    let mut items = Vec::new();
    for (i, sc) in s.entries.iter().enumerate() {
        let e = &sc.entry;
        if live.get(e.key) != Some(&i) {
            continue;
        }
        let span = e.value_span();
        let loc = |a: crate::array::Array| ArrayLoc {
            dtype: a.dtype,
            shape: a.shape,
            data_offset: a.data.start as u64,
        };
        let source = if let Ok(a) = crate::array::read_array(file, span.clone()) {
            Source::Array(loc(a))
        } else if crate::masked::is_masked(&file[span.clone()]) {
            match crate::masked::read_masked(file, span) {
                Ok(m) => Source::Masked {
                    data: loc(m.data),
                    mask: loc(m.mask),
                },
                Err(err) => Source::Skip(format!("a masked array that does not decode: {err}")),
            }
        } else if e.value_len as u64 > MAX_VALUE_BYTES {
            Source::Skip(format!(
                "a value of {} bytes (attributes are read from values of at most {MAX_VALUE_BYTES})",
                e.value_len
            ))
        } else {
            let opts = pickle_ops::decode::DecodeOptions::default();
            // Python 2 forms folded (`_codecs.encode` bytes, ...), as
            // mmpk-remote's values are.
            match crate::generic::decode_value(&file[span], e.value_offset, &opts) {
                Ok(mut p) => match pickle_ops::resolve::resolve(&mut p, opts.max_compare_work) {
                    Ok(_) => Source::Value(p),
                    Err(kind) => Source::Skip(format!("a value that does not resolve: {kind:?}")),
                },
                Err(err) => Source::Skip(format!("a value that does not decode: {err}")),
            }
        };
        items.push(Item {
            key: e.key.to_string(),
            source,
        });
    }
    Ok(items)
}

/// Why `key` cannot name a zarr node, if it cannot.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("an empty key cannot name a zarr node")
    } else if key.contains('/') {
        Some("a key with '/' cannot name a zarr node")
    } else if key.starts_with('.') {
        Some("a key starting with '.' cannot name a zarr node")
    } else if key.starts_with("__") {
        Some("a key starting with '__' is reserved by zarr")
    } else {
        None
    }
}

fn write_list(out: &mut String, v: &[u64]) {
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{x}");
    }
    out.push(']');
}

/// The reference JSON of `items` (a file of `file_len` bytes): see the
/// module docs. `read` returns the file's bytes in a range; it is called
/// only for inline last chunks ([`Edge::Inline`]), with at most
/// [`Options::chunk_bytes`] bytes.
pub fn generate<E>(
    items: &[Item],
    file_len: u64,
    opts: &Options,
    mut read: impl FnMut(Range<u64>) -> Result<Vec<u8>, E>,
) -> Result<Refs, E> {
    let mut w = Writer {
        refs: String::new(),
        names: items.iter().map(|it| it.key.clone()).collect(),
        file_len,
        opts,
    };
    let mut out = Refs {
        json: String::new(),
        arrays: Vec::new(),
        attrs: Vec::new(),
        skipped: Vec::new(),
        inlined: Vec::new(),
    };
    let mut root_attrs = String::new();
    w.entry(".zgroup", r#"{"zarr_format":2}"#);
    for it in items {
        let key = &it.key;
        if let Some(why) = key_problem(key) {
            out.skipped.push((key.clone(), why.to_string()));
            continue;
        }
        let done = match &it.source {
            Source::Skip(why) => Err(why.clone()),
            Source::Value(p) => p
                .try_root()
                .ok_or_else(|| "a value without a root".to_string())
                .and_then(|root| attrs::attr_json(p, root))
                .map(|j| {
                    root_attrs.push(if root_attrs.is_empty() { '{' } else { ',' });
                    encode_str(key, &mut root_attrs);
                    root_attrs.push(':');
                    root_attrs.push_str(&j);
                    out.attrs.push(key.clone());
                }),
            Source::Array(a) => match w.check(a) {
                Err(why) => Err(why),
                Ok(dt) => {
                    let dims = w.dims(key, a.shape.len());
                    w.array(key, a, &dt, &dims, &mut read, &mut out)?;
                    out.arrays.push(key.clone());
                    Ok(())
                }
            },
            Source::Masked { data, mask } => match (w.check(data), w.check(mask)) {
                (Err(why), _) | (_, Err(why)) => Err(why),
                (Ok(dt), Ok(mt)) => {
                    let dims = w.dims(key, data.shape.len());
                    w.entry(&format!("{key}/.zgroup"), r#"{"zarr_format":2}"#);
                    let data_key = format!("{key}/data");
                    w.array(&data_key, data, &dt, &dims, &mut read, &mut out)?;
                    let mdims = if mask.shape.is_empty() {
                        &[][..]
                    } else {
                        &dims
                    };
                    w.array(
                        &format!("{key}/mask"),
                        mask,
                        &mt,
                        mdims,
                        &mut read,
                        &mut out,
                    )?;
                    out.arrays.push(key.clone());
                    Ok(())
                }
            },
        };
        if let Err(why) = done {
            out.skipped.push((key.clone(), why));
        }
    }
    if !root_attrs.is_empty() {
        root_attrs.push('}');
        w.entry(".zattrs", &root_attrs);
    }
    let mut j = String::from(r#"{"version":1,"refs":{"#);
    j.push_str(&w.refs);
    j.push('}');
    if !out.skipped.is_empty() {
        j.push_str(r#","mmpk_skipped":{"#);
        for (i, (k, why)) in out.skipped.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            encode_str(k, &mut j);
            j.push(':');
            encode_str(why, &mut j);
        }
        j.push('}');
    }
    j.push('}');
    out.json = j;
    Ok(out)
}

struct Writer<'a> {
    refs: String,
    /// Every name in use at the root (keys, dimension names).
    names: HashSet<String>,
    file_len: u64,
    opts: &'a Options,
}

impl Writer<'_> {
    /// Appends `"key": "<text as a JSON string>"`.
    fn entry(&mut self, key: &str, text: &str) {
        if !self.refs.is_empty() {
            self.refs.push(',');
        }
        encode_str(key, &mut self.refs);
        self.refs.push(':');
        encode_str(text, &mut self.refs);
    }

    /// The zarr dtype, once the data is known to lie inside the file.
    fn check(&self, a: &ArrayLoc) -> Result<String, String> {
        let dt = zarr_dtype(&a.dtype)?;
        let n = crate::array::nbytes(&a.dtype, &a.shape).ok_or("an array too large")?;
        match a.data_offset.checked_add(n) {
            Some(end) if end <= self.file_len => Ok(dt),
            _ => Err(format!(
                "its data ({n} bytes at {}) runs past the end of the file ({} bytes)",
                a.data_offset, self.file_len
            )),
        }
    }

    /// Dimension names for `key`, unique among the root's names.
    fn dims(&mut self, key: &str, ndim: usize) -> Vec<String> {
        (0..ndim)
            .map(|i| {
                let mut name = format!("{key}_dim{i}");
                while self.names.contains(&name) {
                    name.push('_');
                }
                self.names.insert(name.clone());
                name
            })
            .collect()
    }

    fn array<E>(
        &mut self,
        path: &str,
        a: &ArrayLoc,
        dtype: &str,
        dims: &[String],
        read: &mut impl FnMut(Range<u64>) -> Result<Vec<u8>, E>,
        out: &mut Refs,
    ) -> Result<(), E> {
        let itemsize = a.dtype.itemsize();
        let nbytes = crate::array::nbytes(&a.dtype, &a.shape).unwrap_or(0);
        let data_end = a.data_offset + nbytes;
        let plan = plan_chunks(
            &a.shape,
            itemsize,
            self.file_len - data_end,
            self.opts.chunk_bytes,
        );
        let mut meta = String::from(r#"{"chunks":"#);
        write_list(&mut meta, &plan.chunks);
        let _ = write!(
            meta,
            r#","compressor":null,"dtype":{dtype},"fill_value":null,"filters":null,"order":"C","shape":"#
        );
        write_list(&mut meta, &a.shape);
        meta.push_str(r#","zarr_format":2}"#);
        self.entry(&format!("{path}/.zarray"), &meta);
        let mut zattrs = String::from(r#"{"_ARRAY_DIMENSIONS":["#);
        for (i, d) in dims.iter().enumerate() {
            if i > 0 {
                zattrs.push(',');
            }
            encode_str(d, &mut zattrs);
        }
        zattrs.push_str("]}");
        self.entry(&format!("{path}/.zattrs"), &zattrs);
        let suffix: String = ".0".repeat(a.shape.len().saturating_sub(1));
        for i in 0..plan.count {
            let start = a.data_offset + i * plan.chunk_bytes;
            let name = if a.shape.is_empty() {
                format!("{path}/0")
            } else {
                format!("{path}/{i}{suffix}")
            };
            if !self.refs.is_empty() {
                self.refs.push(',');
            }
            encode_str(&name, &mut self.refs);
            self.refs.push(':');
            let last = i + 1 == plan.count;
            if last && plan.edge == Edge::Inline {
                let mut bytes = read(start..data_end)?;
                bytes.resize(plan.chunk_bytes as usize, 0);
                let mut b64 = String::from("base64:");
                pickle_ops::json::base64_encode(&bytes, &mut b64);
                encode_str(&b64, &mut self.refs);
                out.inlined.push((path.to_string(), data_end - start));
                continue;
            }
            self.refs.push('[');
            encode_str(&self.opts.url, &mut self.refs);
            let _ = write!(self.refs, ",{start},{}]", plan.chunk_bytes);
        }
        Ok(())
    }
}
