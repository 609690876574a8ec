//! Array values in the two encodings of docs/format.md section 5: what
//! they are ([`Encoding`], [`nbytes`], [`ArrayInfo`]) and how they are
//! read. [`decode_array`] finds dtype, shape and the raw bytes' span of an
//! entry's value without copying the data; [`read_array`] validates
//! everything (dtype, shape, and that the raw bytes are exactly
//! `prod(shape) * itemsize`) and returns an [`Array`] with a [`Dtype`].
//! The writers are in [`crate::write`] (an example there writes and reads
//! back a structured array).
//!
//! The v2 bytes of structured, big-endian, datetime, string, void, 0-d and
//! masked arrays were checked manually to load with plain `pickle.load`
//! under numpy 1.23.5 and 2.4.6 with warnings as errors (target/venv).

use std::ops::Range;

use pickle_ops::Op;

use crate::cursor::{Cursor, RawDtype};
use crate::dtype::Dtype;
use crate::error::{Error, Result};

/// Where a raw array value's pieces are; see [`decode_array`].
#[derive(Clone, Debug)]
pub(crate) struct RawArray<'a> {
    pub encoding: Encoding,
    pub dtype: RawDtype<'a>,
    /// Offset of the dtype's first op.
    pub dtype_offset: usize,
    pub shape: Vec<u64>,
    /// Offset of the raw-bytes op.
    pub raw_offset: usize,
    pub data: Range<usize>,
}

/// Bytes of a v2 array value before its `BINBYTES8`.
pub const V2_PREFIX_LEN: usize = 59;

/// Bytes of a v1 (mmappickle 1.0) array value before its `BINBYTES8`.
pub const V1_PREFIX_LEN: usize = 70;

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
    pub(crate) fn globals(self) -> &'static [(&'static str, &'static str)] {
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
    use crate::pickled::write_shape;
    use crate::write::*;

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
