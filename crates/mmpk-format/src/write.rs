//! The layout's writers: the header, entries and fillers, and array and
//! masked-array values, appended to a `Vec<u8>` (or, for the commit
//! number, written into a file's bytes). The other modules read what these
//! write ([`crate::header::parse_header`], [`crate::scan()`],
//! [`crate::array::read_array`], [`crate::masked::read_masked`]); generic
//! values are encoded by [`crate::generic`].
//!
//! Arrays are written around raw bytes the caller writes (or reserves)
//! itself: [`write_array_head`] (the fixed prefix and the `BINBYTES8`
//! length), then the raw bytes, then [`write_array_tail_dtype`] (dtype and
//! shape); [`encode_array`] writes a whole value from a slice.
//! [`write_array_tail`] is the untyped form (the dtype as its string).
//!
//! ```
//! use mmpk_format::array::{read_array, Encoding};
//! use mmpk_format::dtype::Dtype;
//! use mmpk_format::write::encode_array;
//!
//! let dtype = Dtype::parse("[('x', '<f4'), ('y', '>i2', (2,))]")?;
//! let mut value = Vec::new();
//! let raw = [0u8; 2 * 8];
//! let span = encode_array(&mut value, Encoding::V2, &dtype, &[2], &raw)?;
//! assert_eq!(span.start, Encoding::V2.data_offset());
//!
//! let a = read_array(&value, 0..value.len())?;
//! assert_eq!((a.dtype.itemsize(), a.shape.as_slice()), (8, &[2][..]));
//! assert_eq!(a.data, span); // where to map the elements from
//! assert!(!a.dtype.is_native()); // a big-endian field
//! # Ok::<(), mmpk_format::Error>(())
//! ```

use std::ops::Range;

use pickle_ops::{write_op, Op};

use crate::array::{nbytes, Encoding};
use crate::dtype::{Dtype, MAX_DIMS};
use crate::entry::{entry_len, DELETED, FRAME_HEAD_LEN, LIVE};
use crate::error::{Error, Result};
use crate::filler::{MIN_BINBYTES_FILLER_LEN, MIN_FILLER_LEN};
use crate::header::{
    check_commit_opcode, header_bytes, COMMIT_OFFSET, EMPTY_FILE_LEN, HEADER_LEN, TERMINATOR,
};
use crate::masked::{bool_dtype, masked_head};
use crate::pickled::write_shape;

// ---------------------------------------------------------------- header

/// The header with `commit` as its commit number.
pub fn write_header(commit: i32) -> [u8; HEADER_LEN] {
    header_bytes(commit)
}

/// Overwrites the commit number of `file` (same check as [`crate::header::read_commit`]).
pub fn write_commit(file: &mut [u8], commit: i32) -> Result<()> {
    check_commit_opcode(file)?;
    let slot = file
        .get_mut(COMMIT_OFFSET..COMMIT_OFFSET + 4)
        .ok_or(Error::Truncated {
            offset: 0,
            needed: HEADER_LEN as u64,
        })?;
    slot.copy_from_slice(&commit.to_le_bytes());
    Ok(())
}

/// The bytes of a file holding an empty dict: header + terminator (35 bytes).
pub fn empty_file(commit: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity(EMPTY_FILE_LEN);
    v.extend_from_slice(&write_header(commit));
    v.extend_from_slice(&TERMINATOR);
    v
}

// ---------------------------------------------------------------- entries

/// Appends one entry to `out`. `value` is the value's pickle ops (at least
/// one byte; not checked to push exactly one object).
pub fn write_entry(
    out: &mut Vec<u8>,
    key: &str,
    value: &[u8],
    memo_max: u32,
    live: bool,
) -> Result<()> {
    let k = u8::try_from(key.len()).map_err(|_| Error::KeyTooLong { len: key.len() })?;
    if value.is_empty() {
        return Err(Error::EmptyValue);
    }
    let memo = i32::try_from(memo_max).map_err(|_| Error::MemoMaxTooLarge { memo_max })?;
    let total = entry_len(key.len(), value.len()).ok_or(Error::Overflow { offset: out.len() })?;
    let frame = (total - FRAME_HEAD_LEN) as u64;
    out.reserve(total);
    out.push(0x95);
    out.extend_from_slice(&frame.to_le_bytes());
    out.push(0x8c);
    out.push(k);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value);
    out.push(0x4a);
    out.extend_from_slice(&memo.to_le_bytes());
    out.push(0x30);
    out.push(if live { LIVE } else { DELETED });
    out.push(0x30);
    Ok(())
}

/// Appends a filler entry of exactly `len` bytes to `out` (`len` 0 appends
/// nothing; 1 to 19 is [`Error::BadFillerLen`]).
pub fn write_filler(out: &mut Vec<u8>, len: u64) -> Result<()> {
    let bad = Error::BadFillerLen { len };
    let n = usize::try_from(len).map_err(|_| bad.clone())?;
    let value: Vec<u8> = match len {
        0 => return Ok(()),
        1..MIN_FILLER_LEN => return Err(bad),
        MIN_FILLER_LEN => vec![0x4e], // NONE
        21..MIN_BINBYTES_FILLER_LEN => {
            let zeros = n - 21;
            let mut v = vec![0u8; 2 + zeros];
            v[0] = 0x43; // SHORT_BINBYTES
            v[1] = zeros as u8;
            v
        }
        _ => {
            let zeros = u32::try_from(n - 24).map_err(|_| bad)?;
            let mut v = vec![0u8; 5 + zeros as usize];
            v[0] = 0x42; // BINBYTES
            v[1..5].copy_from_slice(&zeros.to_le_bytes());
            v
        }
    };
    write_entry(out, "", &value, 0, false)
}

// ---------------------------------------------------------------- arrays

/// Appends an array value's ops up to the raw bytes: the fixed prefix and
/// `BINBYTES8` with `data_len`. The caller then writes `data_len` raw bytes
/// (C order) and calls [`write_array_tail`].
pub fn write_array_head(out: &mut Vec<u8>, enc: Encoding, data_len: u64) {
    for (module, name) in enc.globals() {
        write_op(&Op::ShortBinunicode(module.as_bytes()), out);
        write_op(&Op::ShortBinunicode(name.as_bytes()), out);
        write_op(&Op::StackGlobal, out);
    }
    out.push(0x8e); // BINBYTES8
    out.extend_from_slice(&data_len.to_le_bytes());
}

/// Appends an array value's ops after the raw bytes: `dtype` (numpy's
/// `dtype.str` for v2, `str(dtype)` for v1; at most 255 bytes) and `shape`
/// as CPython pickles a tuple of ints.
pub fn write_array_tail(
    out: &mut Vec<u8>,
    enc: Encoding,
    dtype: &str,
    shape: &[u64],
) -> Result<()> {
    if dtype.len() > 255 {
        return Err(Error::DtypeTooLong { len: dtype.len() });
    }
    write_tail(out, enc, shape, |out| {
        write_op(&Op::ShortBinunicode(dtype.as_bytes()), out)
    })
}

/// The tail both [`write_array_tail`] and [`write_array_tail_dtype`]
/// append: `dtype_ops` pushes the dtype argument, then `shape` follows.
fn write_tail(
    out: &mut Vec<u8>,
    enc: Encoding,
    shape: &[u64],
    dtype_ops: impl FnOnce(&mut Vec<u8>),
) -> Result<()> {
    if shape.len() > MAX_DIMS {
        return Err(Error::TooManyDims { ndim: shape.len() });
    }
    if enc == Encoding::V2 {
        write_op(&Op::Tuple1, out);
        write_op(&Op::Reduce, out);
    }
    dtype_ops(out);
    write_op(&Op::Tuple2, out);
    write_op(&Op::Reduce, out);
    write_shape(out, shape);
    write_op(&Op::Tuple2, out);
    write_op(&Op::Reduce, out);
    Ok(())
}

/// Appends an array value's ops after the raw bytes, for a typed dtype: v2
/// writes `dtype.str` (a structured dtype: its `descr` pickled as a list of
/// tuples); v1 writes numpy's `str(dtype)` as mmappickle 1.0 does (at most
/// 255 bytes, like mmappickle).
///
/// A structured dtype in v1 is refused ([`Error::BadDtype`]): numpy cannot
/// parse its `str(dtype)`, so neither `pickle.load` of the whole file nor
/// mmappickle could read it (mmpk could). To reproduce such bytes anyway,
/// pass `dtype.name()` to [`write_array_tail`].
pub fn write_array_tail_dtype(
    out: &mut Vec<u8>,
    enc: Encoding,
    dtype: &Dtype,
    shape: &[u64],
) -> Result<()> {
    match (enc, dtype) {
        (Encoding::V1, Dtype::Structured(_)) => Err(Error::BadDtype {
            offset: out.len(),
            dtype: String::new(),
            what: "a dtype whose name numpy parses (use v2 for structured dtypes)",
        }),
        (Encoding::V1, _) => write_array_tail(out, enc, &dtype.name(), shape),
        (Encoding::V2, Dtype::Scalar(s)) => write_array_tail(out, enc, &s.str(), shape),
        (Encoding::V2, Dtype::Structured(_)) => {
            write_tail(out, enc, shape, |out| dtype.descr().write_ops(out))
        }
    }
}

/// The ops [`write_array_tail_dtype`] appends, as a vector (to size an
/// entry before writing it).
pub fn array_tail(enc: Encoding, dtype: &Dtype, shape: &[u64]) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    write_array_tail_dtype(&mut v, enc, dtype, shape)?;
    Ok(v)
}

/// Bytes of a whole array value: prefix, `BINBYTES8`, data, tail.
pub fn array_value_len(enc: Encoding, dtype: &Dtype, shape: &[u64]) -> Result<u64> {
    let overflow = Error::Overflow { offset: 0 };
    let n = nbytes(dtype, shape).ok_or(overflow.clone())?;
    let tail = array_tail(enc, dtype, shape)?.len() as u64;
    (enc.data_offset() as u64)
        .checked_add(n)
        .and_then(|x| x.checked_add(tail))
        .ok_or(overflow)
}

/// Appends a whole array value (`raw` must be `prod(shape) * itemsize`
/// bytes, C order, in the dtype's byte order); returns the span of the raw
/// bytes inside `out`.
pub fn encode_array(
    out: &mut Vec<u8>,
    enc: Encoding,
    dtype: &Dtype,
    shape: &[u64],
    raw: &[u8],
) -> Result<Range<usize>> {
    let expected = nbytes(dtype, shape).ok_or(Error::Overflow { offset: out.len() })?;
    if expected != raw.len() as u64 {
        return Err(Error::SizeMismatch {
            offset: out.len(),
            expected,
            found: raw.len() as u64,
        });
    }
    let tail = array_tail(enc, dtype, shape)?;
    write_array_head(out, enc, expected);
    let start = out.len();
    out.extend_from_slice(raw);
    let data = start..out.len();
    out.extend_from_slice(&tail);
    Ok(data)
}

// ---------------------------------------------------------------- masked arrays

/// Appends the `MaskedArray` global; then write the data and the mask as
/// two array values, then [`write_masked_tail`].
pub fn write_masked_head(out: &mut Vec<u8>, enc: Encoding) {
    masked_head(out, enc);
}

/// Appends `TUPLE2 REDUCE`, ending a masked array value.
pub fn write_masked_tail(out: &mut Vec<u8>) {
    write_op(&Op::Tuple2, out);
    write_op(&Op::Reduce, out);
}

/// Appends a whole masked array value: `data` as in
/// [`encode_array`]; `mask` one byte (0 or 1) per element, or `None` for
/// "nothing masked", written as mmappickle 1.0.0 writes it (a 0-d `False`
/// mask) in both encodings. The two arrays use `enc` too. Returns the spans
/// of the data's and the mask's raw bytes inside `out`.
pub fn encode_masked(
    out: &mut Vec<u8>,
    enc: Encoding,
    dtype: &Dtype,
    shape: &[u64],
    data: &[u8],
    mask: Option<&[u8]>,
) -> Result<(Range<usize>, Range<usize>)> {
    let start = out.len();
    write_masked_head(out, enc);
    let res = (|| {
        let d = encode_array(out, enc, dtype, shape, data)?;
        let m = match mask {
            Some(m) => encode_array(out, enc, &bool_dtype(), shape, m)?,
            None => encode_array(out, enc, &bool_dtype(), &[], &[0])?,
        };
        Ok((d, m))
    })();
    match res {
        Ok(spans) => {
            write_masked_tail(out);
            Ok(spans)
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}
