//! Array values in the two encodings of FORMAT.md section 4.
//!
//! Writing is split around the raw bytes, which the caller writes (or
//! reserves) itself: [`write_array_head`] (the fixed prefix and the
//! `BINBYTES8` length), then the raw bytes, then [`write_array_tail`] (dtype
//! and shape). [`decode_array`] finds dtype, shape and the raw bytes' span
//! of an entry's value without copying the data.
//!
//! This module handles dtypes given as their string (`dtype.str` for v2,
//! `str(dtype)` for v1); structured dtypes (v2's descr list) are not done yet.

use std::ops::Range;

use pickle_ops::{write_op, Op, Ops};

use crate::error::{Error, Result};

/// Bytes of a v2 array value before its `BINBYTES8`.
pub const V2_PREFIX_LEN: usize = 59;

/// Bytes of a v1 (mmappickle 1.0) array value before its `BINBYTES8`.
pub const V1_PREFIX_LEN: usize = 70;

/// numpy's limit on the number of dimensions.
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
    if shape.len() > MAX_DIMS {
        return Err(Error::TooManyDims { ndim: shape.len() });
    }
    if enc == Encoding::V2 {
        write_op(&Op::Tuple1, out);
        write_op(&Op::Reduce, out);
    }
    write_op(&Op::ShortBinunicode(dtype.as_bytes()), out);
    write_op(&Op::Tuple2, out);
    write_op(&Op::Reduce, out);
    write_shape(out, shape);
    write_op(&Op::Tuple2, out);
    write_op(&Op::Reduce, out);
    Ok(())
}

/// Appends a tuple of non-negative ints the way CPython's pickler does
/// (protocol 2+), without memo ops.
fn write_shape(out: &mut Vec<u8>, shape: &[u64]) {
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

/// An array value found by [`decode_array`]; offsets are the input's.
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

/// Most ops an array value of [`MAX_DIMS`] dimensions has.
const MAX_OPS: usize = 20 + MAX_DIMS;

/// Decodes the array value whose ops span `span` of `file` (an entry's
/// [`crate::Entry::value_span`]). Memo ops (`MEMOIZE`, `BINPUT`,
/// `LONG_BINPUT`) are skipped; anything else that differs from the two
/// encodings is [`Error::NotAnArray`] naming the op's offset. The raw bytes
/// may be `BINBYTES8`, `BINBYTES` or `SHORT_BINBYTES`.
pub fn decode_array(file: &[u8], span: Range<usize>) -> Result<ArrayValue<'_>> {
    let start = span.start;
    let value = file.get(span).ok_or(Error::Truncated {
        offset: start,
        needed: 0,
    })?;
    let mut ops: Vec<(usize, Op<'_>)> = Vec::new();
    for item in Ops::fragment(value, start) {
        let (at, op) = item?;
        if matches!(op, Op::Memoize | Op::Binput(_) | Op::LongBinput(_)) {
            continue;
        }
        if ops.len() == MAX_OPS {
            return Err(Error::NotAnArray {
                offset: at,
                what: "the end of the value (too many ops)",
            });
        }
        ops.push((at, op));
    }
    let end = start + value.len();
    let mut c = Cursor {
        ops: &ops,
        i: 0,
        end,
    };
    let encoding = match c.peek() {
        Some(Op::ShortBinunicode(b"numpy") | Op::Binunicode(b"numpy")) => Encoding::V2,
        _ => Encoding::V1,
    };
    for (module, name) in encoding.globals() {
        c.string(module, "the module of a global")?;
        c.string(name, "the name of a global")?;
        c.op(|o| matches!(o, Op::StackGlobal), "STACK_GLOBAL")?;
    }
    let (at, raw) = c.next("the raw bytes")?;
    let (head, bytes) = match raw {
        Op::Binbytes8(b) => (9, b),
        Op::Binbytes(b) => (5, b),
        Op::ShortBinbytes(b) => (2, b),
        _ => return Err(c.bad(at, "BINBYTES8, BINBYTES or SHORT_BINBYTES")),
    };
    let data = at + head..at + head + bytes.len();
    if encoding == Encoding::V2 {
        c.op(|o| matches!(o, Op::Tuple1), "TUPLE1")?;
        c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    }
    let (at, d) = c.next("the dtype string")?;
    let dtype = match d {
        Op::ShortBinunicode(s) | Op::Binunicode(s) | Op::Binunicode8(s) => {
            std::str::from_utf8(s).map_err(|_| c.bad(at, "a UTF-8 dtype string"))?
        }
        _ => {
            return Err(c.bad(
                at,
                "a dtype string (structured dtypes are not supported yet)",
            ))
        }
    };
    c.op(|o| matches!(o, Op::Tuple2), "TUPLE2")?;
    c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    let shape = c.shape()?;
    c.op(|o| matches!(o, Op::Tuple2), "TUPLE2")?;
    c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    if let Some(&(at, _)) = ops.get(c.i) {
        return Err(Error::NotAnArray {
            offset: at,
            what: "the end of the value",
        });
    }
    Ok(ArrayValue {
        encoding,
        dtype,
        shape,
        data,
    })
}

/// A cursor over parsed ops, for [`decode_array`].
struct Cursor<'o, 'a> {
    ops: &'o [(usize, Op<'a>)],
    i: usize,
    end: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<&Op<'a>> {
        self.ops.get(self.i).map(|(_, o)| o)
    }

    fn bad(&self, offset: usize, what: &'static str) -> Error {
        Error::NotAnArray { offset, what }
    }

    fn next(&mut self, what: &'static str) -> Result<(usize, Op<'a>)> {
        let item = *self.ops.get(self.i).ok_or(Error::NotAnArray {
            offset: self.end,
            what,
        })?;
        self.i += 1;
        Ok(item)
    }

    fn op(&mut self, ok: impl Fn(&Op<'a>) -> bool, what: &'static str) -> Result<()> {
        let (at, o) = self.next(what)?;
        if ok(&o) {
            Ok(())
        } else {
            Err(self.bad(at, what))
        }
    }

    fn string(&mut self, want: &str, what: &'static str) -> Result<()> {
        let w = want.as_bytes();
        self.op(
            |o| matches!(o, Op::ShortBinunicode(s) | Op::Binunicode(s) if *s == w),
            what,
        )
    }

    /// A tuple of non-negative ints, in any of CPython's forms.
    fn shape(&mut self) -> Result<Vec<u64>> {
        let (at, first) = self.next("the shape tuple")?;
        let marked = match first {
            Op::EmptyTuple => return Ok(Vec::new()),
            Op::Mark => true,
            _ => {
                self.i -= 1;
                false
            }
        };
        let mut dims = Vec::new();
        loop {
            let (op_at, o) = self.next("a dimension or the end of the shape")?;
            let dim = match o {
                Op::Binint1(v) => u64::from(v),
                Op::Binint2(v) => u64::from(v),
                Op::Binint(v) => {
                    u64::try_from(v).map_err(|_| self.bad(op_at, "a non-negative dimension"))?
                }
                Op::Long1(b) => long1_to_u64(b).ok_or(self.bad(op_at, "a dimension below 2^64"))?,
                Op::Tuple if marked => break,
                Op::Tuple1 | Op::Tuple2 | Op::Tuple3 if !marked => {
                    let n = match o {
                        Op::Tuple1 => 1,
                        Op::Tuple2 => 2,
                        _ => 3,
                    };
                    if dims.len() != n {
                        return Err(self.bad(op_at, "a TUPLEn matching the number of dimensions"));
                    }
                    break;
                }
                _ => return Err(self.bad(op_at, "a dimension (BININT1, BININT2, BININT, LONG1)")),
            };
            if dims.len() == MAX_DIMS {
                return Err(self.bad(at, "at most 64 dimensions"));
            }
            dims.push(dim);
        }
        Ok(dims)
    }
}

/// A LONG1 argument (two's complement, little-endian) as a `u64`, if it is
/// non-negative and fits.
fn long1_to_u64(b: &[u8]) -> Option<u64> {
    if b.last().is_some_and(|&x| x & 0x80 != 0) {
        return None;
    }
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        if x != 0 {
            if i >= 8 {
                return None;
            }
            v |= u64::from(x) << (8 * i);
        }
    }
    Some(v)
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

    /// The v2 value of `np.arange(3, dtype='<i2')`, as FORMAT.md section 4
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
