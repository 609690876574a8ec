//! Array values in the two encodings of docs/format.md section 5.
//!
//! Writing is split around the raw bytes, which the caller writes (or
//! reserves) itself: [`write_array_head`] (the fixed prefix and the
//! `BINBYTES8` length), then the raw bytes, then [`write_array_tail`] (dtype
//! and shape). [`decode_array`] finds dtype, shape and the raw bytes' span
//! of an entry's value without copying the data.
//!
//! Typed: [`read_array`] validates everything (dtype, shape, and that the
//! raw bytes are exactly `prod(shape) * itemsize`) and returns an [`Array`]
//! with a [`Dtype`]; [`write_array_tail_dtype`] and [`encode_array`] write
//! from a [`Dtype`] (v2: `dtype.str`, or the `descr` list of a structured
//! dtype; v1: numpy's `str(dtype)`). [`decode_array`] and
//! [`write_array_tail`] are the untyped forms (the dtype as its string).
//!
//! ```
//! use mmpk_format::array::{encode_array, read_array, Encoding};
//! use mmpk_format::dtype::Dtype;
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
//!
//! The v2 bytes of structured, big-endian, datetime, string, void, 0-d and
//! masked arrays were checked manually to load with plain `pickle.load`
//! under numpy 1.23.5 and 2.4.6 with warnings as errors (target/venv).

use std::ops::Range;

use pickle_ops::{write_op, Op};

use crate::cursor::{Cursor, RawArray, RawDtype};
use crate::dtype::Dtype;
use crate::error::{Error, Result};

/// Bytes of a v2 array value before its `BINBYTES8`.
pub const V2_PREFIX_LEN: usize = 59;

/// Bytes of a v1 (mmappickle 1.0) array value before its `BINBYTES8`.
pub const V1_PREFIX_LEN: usize = 70;

/// numpy's limit on the number of dimensions (`NPY_MAXDIMS`): the one limit
/// of the workspace (mmpk, mmpk-remote and numpy's own pickles).
pub const MAX_DIMS: usize = 64;

/// Which array encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `reshape(frombuffer(bytearray(raw), dtype.str), shape)`: the default.
    V2,
    /// mmappickle 1.0's `reshape(fromstring(raw, str(dtype)), shape)`.
    V1,
}

impl Encoding {
    /// The globals this encoding calls, in order: reshape, the array
    /// constructor, and (v2) the buffer constructor.
    fn globals(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Encoding::V2 => &[
                ("numpy", "reshape"),
                ("numpy", "frombuffer"),
                ("builtins", "bytearray"),
            ],
            Encoding::V1 => &[
                ("numpy.core.fromnumeric", "reshape"),
                ("numpy.core.multiarray", "fromstring"),
            ],
        }
    }

    /// Bytes of the value before `BINBYTES8`: 59 (v2) or 70 (v1).
    pub fn prefix_len(self) -> usize {
        match self {
            Encoding::V2 => V2_PREFIX_LEN,
            Encoding::V1 => V1_PREFIX_LEN,
        }
    }

    /// Offset of the raw bytes from the start of the value: the prefix and
    /// `BINBYTES8`'s 9 bytes (68 for v2, 79 for v1).
    pub fn data_offset(self) -> usize {
        self.prefix_len() + 9
    }
}

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

/// Appends a tuple of non-negative ints the way CPython's pickler does
/// (protocol 2+), without memo ops.
pub(crate) fn write_shape(out: &mut Vec<u8>, shape: &[u64]) {
    if shape.is_empty() {
        write_op(&Op::EmptyTuple, out);
        return;
    }
    let mark = shape.len() > 3;
    if mark {
        write_op(&Op::Mark, out);
    }
    for &d in shape {
        if d < 1 << 8 {
            write_op(&Op::Binint1(d as u8), out);
        } else if d < 1 << 16 {
            write_op(&Op::Binint2(d as u16), out);
        } else if d < 1 << 31 {
            write_op(&Op::Binint(d as i32), out);
        } else {
            // Minimal two's complement, little-endian.
            let mut b = d.to_le_bytes().to_vec();
            while b.last() == Some(&0) {
                b.pop();
            }
            if b.last().is_some_and(|&x| x & 0x80 != 0) {
                b.push(0);
            }
            write_op(&Op::Long1(&b), out);
        }
    }
    write_op(
        &match shape.len() {
            1 => Op::Tuple1,
            2 => Op::Tuple2,
            3 => Op::Tuple3,
            _ => Op::Tuple,
        },
        out,
    );
}

/// `prod(shape) * itemsize`, or `None` if it overflows `i64` (numpy's
/// limit, checked as numpy does: over the non-zero dimensions, so
/// `(2**63, 0)` is refused even though it holds nothing).
pub fn nbytes(dtype: &Dtype, shape: &[u64]) -> Option<u64> {
    let limit = i64::MAX as u64;
    let mut n = dtype.itemsize().max(1);
    let mut zero = dtype.itemsize() == 0;
    for &d in shape {
        if d == 0 {
            zero = true;
        } else {
            n = n.checked_mul(d).filter(|&n| n <= limit)?;
        }
        if d > limit {
            return None;
        }
    }
    Some(if zero { 0 } else { n })
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

/// A validated array value; offsets are the input's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Array {
    /// Which encoding it is in.
    pub encoding: Encoding,
    /// The dtype.
    pub dtype: Dtype,
    /// The shape (C order).
    pub shape: Vec<u64>,
    /// The span of the raw bytes: exactly `prod(shape) * itemsize` bytes.
    pub data: Range<usize>,
}

impl Array {
    /// Number of elements (`prod(shape)`; 1 for a 0-d array).
    pub fn len(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(0)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of raw data.
    pub fn nbytes(&self) -> u64 {
        self.data.end.saturating_sub(self.data.start) as u64
    }
}

impl Array {
    /// The [`ArrayInfo`] of this array value as entry `key` at file offset
    /// `entry_offset`, when the input given to [`read_array`] started at
    /// file offset `base` (0 when it was the whole file).
    pub fn info(&self, key: &str, entry_offset: u64, base: u64) -> ArrayInfo {
        ArrayInfo {
            key: key.into(),
            encoding: self.encoding,
            dtype: self.dtype.clone(),
            shape: self.shape.clone(),
            entry_offset,
            data_offset: base + self.data.start as u64,
            nbytes: self.nbytes(),
        }
    }
}

/// Where and what one stored array is: the one description of an array
/// entry that `mmpk` (`Array::info`) and `mmpk-remote`
/// (`RemoteDict::array_info`) both give. Offsets are file offsets; the
/// shape is `u64` on every platform (what the file holds: `mmpk` checks
/// that it fits the machine's `usize` before it makes a view).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArrayInfo {
    /// The key.
    pub key: String,
    /// The encoding of the entry (v2 default, v1 mmappickle 1.0).
    pub encoding: Encoding,
    /// The stored dtype.
    pub dtype: Dtype,
    /// The shape (C order).
    pub shape: Vec<u64>,
    /// File offset of the entry (its `FRAME` opcode).
    pub entry_offset: u64,
    /// File offset of the raw bytes.
    pub data_offset: u64,
    /// Length of the raw bytes: `prod(shape) * itemsize` ([`nbytes`]).
    pub nbytes: u64,
}

impl ArrayInfo {
    /// An info from its parts (readers that locate the raw bytes
    /// themselves, such as `mmpk-remote`'s ranged reads).
    pub fn new(
        key: &str,
        encoding: Encoding,
        dtype: Dtype,
        shape: Vec<u64>,
        entry_offset: u64,
        data_offset: u64,
        nbytes: u64,
    ) -> ArrayInfo {
        ArrayInfo {
            key: key.into(),
            encoding,
            dtype,
            shape,
            entry_offset,
            data_offset,
            nbytes,
        }
    }

    /// File offsets of the raw bytes.
    pub fn data_range(&self) -> Range<u64> {
        self.data_offset..self.data_offset + self.nbytes
    }

    /// Length of the first axis (`None` for a 0-d array).
    pub fn rows(&self) -> Option<u64> {
        self.shape.first().copied()
    }

    /// Bytes of one row (one index of the first axis); the whole array for
    /// a 0-d array.
    pub fn row_bytes(&self) -> u64 {
        self.shape
            .iter()
            .skip(1)
            .fold(self.dtype.itemsize(), |a, &d| a.saturating_mul(d))
    }
}

/// An array value found by [`decode_array`] (untyped); offsets are the
/// input's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayValue<'a> {
    /// Which encoding it is in.
    pub encoding: Encoding,
    /// The dtype string as written (`dtype.str` for v2, `str(dtype)` for v1).
    pub dtype: &'a str,
    /// The shape.
    pub shape: Vec<u64>,
    /// The span of the raw bytes.
    pub data: Range<usize>,
}

/// Decodes the array value whose ops span `span` of `file` (an entry's
/// [`crate::Entry::value_span`]) without validating the dtype or the data
/// length (see [`read_array`]). Memo ops (`MEMOIZE`, `BINPUT`,
/// `LONG_BINPUT`) are skipped; anything else that differs from the two
/// encodings is [`Error::NotAnArray`] naming the op's offset. The raw bytes
/// may be `BINBYTES8`, `BINBYTES` or `SHORT_BINBYTES`. A structured dtype
/// (a descr list) is an error here: use [`read_array`].
pub fn decode_array(file: &[u8], span: Range<usize>) -> Result<ArrayValue<'_>> {
    let mut c = Cursor::new(file, span)?;
    let raw = raw_array(&mut c)?;
    end_of_value(&mut c)?;
    match raw.dtype {
        RawDtype::Str(dtype) => Ok(ArrayValue {
            encoding: raw.encoding,
            dtype,
            shape: raw.shape,
            data: raw.data,
        }),
        RawDtype::Lit(_) => Err(Error::NotAnArray {
            offset: raw.dtype_offset,
            what: "a dtype string (read structured dtypes with read_array)",
        }),
    }
}

/// Decodes and validates the array value whose ops span `span` of `file`:
/// as [`decode_array`], and the dtype parses ([`Error::BadDtype`],
/// [`Error::ObjectDtype`]), `prod(shape) * itemsize` does not overflow
/// ([`Error::Overflow`]) and equals the raw bytes' length
/// ([`Error::SizeMismatch`]). O(1) in the size of the data.
pub fn read_array(file: &[u8], span: Range<usize>) -> Result<Array> {
    let mut c = Cursor::new(file, span)?;
    let a = array_at(&mut c)?;
    end_of_value(&mut c)?;
    Ok(a)
}

/// Fails unless the cursor is at the end of the value.
pub(crate) fn end_of_value(c: &mut Cursor<'_>) -> Result<()> {
    match c.at_end()? {
        Some(offset) => Err(Error::NotAnArray {
            offset,
            what: "the end of the value",
        }),
        None => Ok(()),
    }
}

/// One validated array at the cursor.
pub(crate) fn array_at(c: &mut Cursor<'_>) -> Result<Array> {
    let raw = raw_array(c)?;
    let at = raw.dtype_offset;
    let relocate = |e: Error| match e {
        Error::BadDtype { dtype, what, .. } => Error::BadDtype {
            offset: at,
            dtype,
            what,
        },
        Error::ObjectDtype { .. } => Error::ObjectDtype { offset: at },
        Error::Overflow { .. } => Error::Overflow { offset: at },
        other => other,
    };
    let dtype = match &raw.dtype {
        RawDtype::Str(s) => Dtype::parse(s),
        RawDtype::Lit(l) => crate::descr::dtype_from_value(l),
    }
    .map_err(relocate)?;
    let expected = nbytes(&dtype, &raw.shape).ok_or(Error::Overflow {
        offset: raw.raw_offset,
    })?;
    let found = raw.data.end.saturating_sub(raw.data.start) as u64;
    if expected != found {
        return Err(Error::SizeMismatch {
            offset: raw.raw_offset,
            expected,
            found,
        });
    }
    Ok(Array {
        encoding: raw.encoding,
        dtype,
        shape: raw.shape,
        data: raw.data,
    })
}

/// One array at the cursor, dtype as written.
pub(crate) fn raw_array<'a>(c: &mut Cursor<'a>) -> Result<RawArray<'a>> {
    let encoding = match c.peek_str()? {
        Some(b"numpy") => Encoding::V2,
        _ => Encoding::V1,
    };
    for (module, name) in encoding.globals() {
        c.global(module, name)?;
    }
    let (raw_offset, data) = c.raw_bytes()?;
    if encoding == Encoding::V2 {
        c.op(|o| matches!(o, Op::Tuple1), "TUPLE1")?;
        c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    }
    let (dtype_offset, dtype) = c.dtype()?;
    c.op(|o| matches!(o, Op::Tuple2), "TUPLE2")?;
    c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    let shape = c.shape()?;
    c.op(|o| matches!(o, Op::Tuple2), "TUPLE2")?;
    c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    Ok(RawArray {
        encoding,
        dtype,
        dtype_offset,
        shape,
        raw_offset,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(enc: Encoding, dtype: &str, shape: &[u64], raw: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        write_array_head(&mut v, enc, raw.len() as u64);
        assert_eq!(v.len(), enc.prefix_len() + 9);
        v.extend_from_slice(raw);
        write_array_tail(&mut v, enc, dtype, shape).unwrap();
        v
    }

    /// The v2 value of `np.arange(3, dtype='<i2')`, as docs/format.md section 5
    /// lays it out. Verified manually: inside an entry of a file, plain
    /// `pickle.loads` under numpy 1.23.5 and 2.4.6 (target/venv/np1, np2)
    /// with `-W error` gives `array([0, 1, 2], dtype=int16)`, writable.
    const V2_ARANGE: &[u8] = b"\x8c\x05numpy\x8c\x07reshape\x93\x8c\x05numpy\x8c\nfrombuffer\x93\
\x8c\x08builtins\x8c\tbytearray\x93\x8e\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x02\x00\
\x85R\x8c\x03<i2\x86RK\x03\x85\x86R";

    #[test]
    fn v2_bytes_are_pinned() {
        assert_eq!(
            value(Encoding::V2, "<i2", &[3], b"\0\0\x01\0\x02\0"),
            V2_ARANGE
        );
    }

    #[test]
    fn shapes_are_written_as_cpython_does() {
        let enc = |s: &[u64]| {
            let mut v = Vec::new();
            write_shape(&mut v, s);
            v
        };
        // pickle.dumps(t, 4) of each tuple, without PROTO/FRAME/MEMOIZE/STOP
        // (checked against CPython 3.11.7 with pickletools.genops).
        assert_eq!(enc(&[]), b")");
        assert_eq!(enc(&[5]), b"K\x05\x85");
        assert_eq!(enc(&[255, 256]), b"K\xffM\x00\x01\x86");
        assert_eq!(enc(&[65536, 0, 1]), b"J\x00\x00\x01\x00K\x00K\x01\x87");
        assert_eq!(enc(&[1, 2, 3, 4]), b"(K\x01K\x02K\x03K\x04t");
        assert_eq!(enc(&[1 << 31]), b"\x8a\x05\x00\x00\x00\x80\x00\x85");
        assert_eq!(enc(&[(1 << 31) - 1]), b"J\xff\xff\xff\x7f\x85");
        assert_eq!(
            enc(&[u64::MAX]),
            b"\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00\x85"
        );
    }

    #[test]
    fn decode_mirrors_encode() {
        let shapes: &[&[u64]] = &[
            &[],
            &[0],
            &[3],
            &[2, 3],
            &[1, 2, 3],
            &[1, 1, 1, 1, 1],
            &[300, 70000, 1 << 31, u64::MAX],
            &[1; 64],
        ];
        for enc in [Encoding::V2, Encoding::V1] {
            for shape in shapes {
                for raw in [&b""[..], b"abcdefgh"] {
                    let mut file = vec![7u8; 13];
                    let v = value(enc, "<f8", shape, raw);
                    file.extend_from_slice(&v);
                    let a = decode_array(&file, 13..file.len()).unwrap();
                    assert_eq!(a.encoding, enc);
                    assert_eq!(a.dtype, "<f8");
                    assert_eq!(a.shape, *shape);
                    assert_eq!(a.data.start, 13 + enc.prefix_len() + 9);
                    assert_eq!(&file[a.data], raw);
                }
            }
        }
    }

    #[test]
    fn prefix_lengths() {
        for enc in [Encoding::V2, Encoding::V1] {
            let mut v = Vec::new();
            write_array_head(&mut v, enc, 0);
            assert_eq!(v.len(), enc.prefix_len() + 9);
        }
    }

    #[test]
    fn short_raw_forms_and_memo_ops_are_accepted() {
        let v = value(Encoding::V1, "float64", &[2], b"abcd");
        // Replace BINBYTES8 (9 bytes of head) by SHORT_BINBYTES and add a MEMOIZE.
        let mut w = v[..70].to_vec();
        w.extend_from_slice(b"\x94C\x04abcd");
        w.extend_from_slice(&v[70 + 9 + 4..]);
        let a = decode_array(&w, 0..w.len()).unwrap();
        assert_eq!(&w[a.data.clone()], b"abcd");
        assert_eq!(a.data.start, 70 + 1 + 2);
        let mut w = v[..70].to_vec();
        w.extend_from_slice(b"B\x04\x00\x00\x00abcd");
        w.extend_from_slice(&v[70 + 9 + 4..]);
        let a = decode_array(&w, 0..w.len()).unwrap();
        assert_eq!(&w[a.data], b"abcd");
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let v = value(Encoding::V2, "<f8", &[1, 2, 3, 4], b"12345678");
        for n in 0..v.len() {
            assert!(decode_array(&v, 0..n).is_err(), "{n}");
        }
        let mut rng = 0x1234_5678_9abc_def0u64;
        for _ in 0..500 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut w = v.clone();
            let i = (rng % w.len() as u64) as usize;
            w[i] ^= 1 << (rng >> 60 & 7);
            let _ = decode_array(&w, 0..w.len());
        }
        assert!(matches!(
            decode_array(b"N", 0..1),
            Err(Error::NotAnArray { .. })
        ));
        assert!(decode_array(b"N", 0..5).is_err());
        let mut w = v.clone();
        w.push(b'N');
        assert!(
            matches!(decode_array(&w, 0..w.len()), Err(Error::NotAnArray { offset, .. }) if offset == v.len())
        );
        assert!(matches!(
            write_array_tail(&mut Vec::new(), Encoding::V2, &"x".repeat(256), &[]),
            Err(Error::DtypeTooLong { len: 256 })
        ));
        assert!(matches!(
            write_array_tail(&mut Vec::new(), Encoding::V2, "<f8", &[1; 65]),
            Err(Error::TooManyDims { ndim: 65 })
        ));
    }
}
