//! Arrays read remotely: where an array's raw bytes are, found from the two
//! ends of its value (the ops before the raw bytes, and the dtype and shape
//! after them) without reading the raw bytes; and the owned arrays that
//! reads return.
//!
//! The two ends are decoded by `mmpk_format`'s own array reader, on a
//! value rebuilt with an empty raw-bytes op: the same checks as for a local
//! file, and the raw bytes' length is then checked against
//! `prod(shape) * itemsize` here.

use mmpk_format::array::{decode_array, nbytes, read_array, ArrayInfo, Encoding};
use mmpk_format::dtype::Dtype;
use mmpk_format::element::Element;
use mmpk_format::masked::MaskKind;
use mmpk_format::Error as FmtError;
use pickle_ops::{parse_op, ParseErrorKind};

use crate::error::{Error, Result};

/// An array read into memory: dtype, shape and raw bytes (C order, in the
/// dtype's byte order, as stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedArray {
    /// The encoding of the entry it was read from.
    pub encoding: Encoding,
    /// The dtype.
    pub dtype: Dtype,
    /// The shape (C order).
    pub shape: Vec<u64>,
    /// The raw bytes.
    pub data: Vec<u8>,
}

impl OwnedArray {
    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `T`, converted from the stored byte order; fails
    /// unless the dtype is `T`'s (any byte order).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if !T::matches(&self.dtype) {
            return Err(self.mismatch::<T>());
        }
        let order = self.dtype.byte_order();
        Ok(self
            .data
            .chunks_exact(std::mem::size_of::<T>())
            .map(|c| T::read(c, order))
            .collect())
    }

    /// The elements as an `ndarray` array of this shape (owned, C order),
    /// converted as [`OwnedArray::to_vec`] does.
    pub fn to_ndarray<T: Element>(&self) -> Result<ndarray::ArrayD<T>> {
        let shape = self
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| self.mismatch::<T>())?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), self.to_vec()?)
            .map_err(|_| self.mismatch::<T>())
    }

    fn mismatch<T: Element>(&self) -> Error {
        Error::TypeMismatch {
            dtype: self.dtype.str(),
            wanted: T::NAME,
        }
    }
}

/// A masked array read into memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMasked {
    /// The data.
    pub data: OwnedArray,
    /// The mask (bool; the data's shape, or 0-d).
    pub mask: OwnedArray,
    /// What the mask says.
    pub mask_kind: MaskKind,
}

/// Where the raw-bytes op of an array value is, from its first bytes.
#[derive(Debug)]
pub(crate) enum Locate {
    /// The op at `op`, its data at `data`, `n` bytes long.
    Found { op: usize, data: usize, n: u64 },
    /// The head ends before the raw-bytes op.
    NeedMore,
    /// Not an array value.
    NotArray,
}

/// Finds the raw-bytes op (`BINBYTES8`, `BINBYTES`, `SHORT_BINBYTES`) in
/// the first bytes of a value, hopping over the ops before it.
pub(crate) fn locate(head: &[u8]) -> Locate {
    // An array value starts with its module's name, a str op.
    if head
        .first()
        .is_some_and(|op| ![0x8c, 0x58, 0x8d, 0x56].contains(op))
    {
        return Locate::NotArray;
    }
    let mut pos = 0usize;
    loop {
        let Some(&op) = head.get(pos) else {
            return Locate::NeedMore;
        };
        let (len_bytes, hdr) = match op {
            0x8e => (8, 9),
            0x42 => (4, 5),
            0x43 => (1, 2),
            _ => match parse_op(&head[pos..]) {
                Ok((_, n)) => {
                    pos += n.max(1);
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind,
                        ParseErrorKind::Truncated(_) | ParseErrorKind::NoStop
                    ) =>
                {
                    return Locate::NeedMore
                }
                Err(_) => return Locate::NotArray,
            },
        };
        let Some(len) = head.get(pos + 1..pos + 1 + len_bytes) else {
            return Locate::NeedMore;
        };
        let mut le = [0u8; 8];
        le[..len_bytes].copy_from_slice(len);
        return Locate::Found {
            op: pos,
            data: pos + hdr,
            n: u64::from_le_bytes(le),
        };
    }
}

/// A value rebuilt from `prefix` (the ops before the raw bytes), `n`
/// zero bytes of raw data, and `rest`.
fn rebuild(prefix: &[u8], n: usize, rest: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(prefix.len() + 9 + n + rest.len());
    v.extend_from_slice(prefix);
    v.push(0x8e);
    v.extend_from_slice(&(n as u64).to_le_bytes());
    v.resize(v.len() + n, 0);
    v.extend_from_slice(rest);
    v
}

/// Largest itemsize a structured dtype may have for [`info_from_ends`]
/// (it builds one element).
const MAX_REBUILT_ITEM: u64 = 64 << 20;

/// Dtype, shape and encoding of an array value from its two ends: the ops
/// before the raw bytes (`prefix`), the raw bytes' length `n`, and every
/// op after them (`rest`). Error offsets are those of the value with its
/// raw bytes removed.
pub(crate) fn info_from_ends(
    prefix: &[u8],
    n: u64,
    rest: &[u8],
) -> Result<(Encoding, Dtype, Vec<u64>), FmtError> {
    let syn = rebuild(prefix, 0, rest);
    let (enc, dtype, shape) = match decode_array(&syn, 0..syn.len()) {
        Ok(av) => {
            let dtype = Dtype::parse(av.dtype)?;
            (av.encoding, dtype, av.shape)
        }
        Err(FmtError::NotAnArray { what, .. }) if what.starts_with("a dtype string") => {
            structured(prefix, rest)?
        }
        Err(e) => return Err(e),
    };
    let expected = nbytes(&dtype, &shape).ok_or(FmtError::Overflow {
        offset: prefix.len(),
    })?;
    if expected != n {
        return Err(FmtError::SizeMismatch {
            offset: prefix.len(),
            expected,
            found: n,
        });
    }
    Ok((enc, dtype, shape))
}

/// A structured dtype written as a descr list (v2): the dtype is read
/// from a rebuilt 0-d array of one element, the shape from a rebuilt
/// array of dtype `|V0`.
fn structured(prefix: &[u8], rest: &[u8]) -> Result<(Encoding, Dtype, Vec<u64>), FmtError> {
    let not = |what| FmtError::NotAnArray {
        offset: prefix.len(),
        what,
    };
    // The REDUCE ops after the raw bytes: the dtype ends at the second to last.
    let mut reduces = Vec::new();
    let mut pos = 0;
    while pos < rest.len() {
        let (_, len) = parse_op(&rest[pos..]).map_err(|e| {
            FmtError::Op(pickle_ops::ParseError {
                offset: e.offset + pos,
                kind: e.kind,
            })
        })?;
        if rest[pos] == 0x52 {
            reduces.push(pos);
        }
        pos += len;
    }
    let [.., cut, _] = reduces[..] else {
        return Err(not("TUPLE2 REDUCE after the dtype and the shape"));
    };
    let (dtype_part, shape_part) = rest.split_at(cut + 1);
    let mut d = dtype_part.to_vec();
    d.extend_from_slice(b")\x86R"); // EMPTY_TUPLE TUPLE2 REDUCE: shape ()
    let syn = rebuild(prefix, 0, &d);
    let item = match read_array(&syn, 0..syn.len()) {
        Ok(a) => return finish(prefix, a.encoding, a.dtype, shape_part),
        Err(FmtError::SizeMismatch { expected, .. }) => expected,
        Err(e) => return Err(e),
    };
    if item > MAX_REBUILT_ITEM {
        return Err(not("a structured itemsize of at most 64 MiB"));
    }
    let syn = rebuild(prefix, item as usize, &d);
    let a = read_array(&syn, 0..syn.len())?;
    finish(prefix, a.encoding, a.dtype, shape_part)
}

/// Reads the shape ops `shape_part` (ending with `TUPLE2 REDUCE`) with a
/// `|V0` dtype in place of the real one.
fn finish(
    prefix: &[u8],
    enc: Encoding,
    dtype: Dtype,
    shape_part: &[u8],
) -> Result<(Encoding, Dtype, Vec<u64>), FmtError> {
    let mut s = Vec::new();
    if enc == Encoding::V2 {
        s.extend_from_slice(b"\x85R"); // TUPLE1 REDUCE: bytearray(raw)
    }
    s.extend_from_slice(b"\x8c\x03|V0\x86R");
    s.extend_from_slice(shape_part);
    let syn = rebuild(prefix, 0, &s);
    let av = decode_array(&syn, 0..syn.len())?;
    Ok((enc, dtype, av.shape))
}

/// Checks `rows` against the first axis of `info`; the byte range of
/// those rows (relative to the raw bytes) and the slice's shape.
pub(crate) fn slice_range(
    key: &str,
    info: &ArrayInfo,
    rows: std::ops::Range<u64>,
) -> Result<(std::ops::Range<u64>, Vec<u64>)> {
    let len = info.rows().unwrap_or(0);
    if info.shape.is_empty() || rows.start > rows.end || rows.end > len {
        return Err(Error::BadSlice {
            key: key.to_string(),
            rows,
            len,
        });
    }
    let rb = info.row_bytes();
    let mut shape = info.shape.clone();
    shape[0] = rows.end - rows.start;
    Ok((rows.start * rb..rows.end * rb, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmpk_format::write::encode_array;
    use mmpk_format::write::write_array_tail;

    fn ends(v: &[u8]) -> (Vec<u8>, u64, Vec<u8>) {
        let Locate::Found { op, data, n } = locate(v) else {
            panic!("no raw bytes")
        };
        (v[..op].to_vec(), n, v[data + n as usize..].to_vec())
    }

    #[test]
    fn ends_give_what_read_array_gives() {
        let cases: &[(&str, &[u64])] = &[
            ("<f8", &[3, 2]),
            (">i4", &[5]),
            ("|b1", &[]),
            ("<U3", &[2, 0, 4]),
            ("[('x', '<f4'), ('y', '<i8', (2,))]", &[4]),
            ("[('a', 'u1'), ('', '|V3'), ('b', '<f4')]", &[1, 1]),
        ];
        for &(d, shape) in cases {
            let dtype = Dtype::parse(d).unwrap();
            for enc in [Encoding::V2, Encoding::V1] {
                if enc == Encoding::V1 && matches!(dtype, Dtype::Structured(_)) {
                    continue;
                }
                let n = nbytes(&dtype, shape).unwrap() as usize;
                let raw: Vec<u8> = (0..n).map(|i| i as u8).collect();
                let mut v = Vec::new();
                encode_array(&mut v, enc, &dtype, shape, &raw).unwrap();
                let want = read_array(&v, 0..v.len()).unwrap();
                let (p, n, r) = ends(&v);
                let got = info_from_ends(&p, n, &r).unwrap();
                assert_eq!(got, (want.encoding, want.dtype, want.shape), "{d} {enc:?}");
            }
        }
    }

    #[test]
    fn wrong_lengths_and_garbage_are_errors() {
        let mut v = Vec::new();
        mmpk_format::write::write_array_head(&mut v, Encoding::V2, 16);
        v.extend_from_slice(&[0; 16]);
        write_array_tail(&mut v, Encoding::V2, "<f8", &[3]).unwrap();
        let (p, n, r) = ends(&v);
        assert!(matches!(
            info_from_ends(&p, n, &r),
            Err(FmtError::SizeMismatch {
                expected: 24,
                found: 16,
                ..
            })
        ));
        assert!(info_from_ends(&p, 16, &r[..r.len() - 1]).is_err());
        assert!(info_from_ends(b"N", 0, b"").is_err());
        assert!(matches!(locate(b"\x8c\x05numpy\x8c"), Locate::NeedMore));
        assert!(matches!(locate(b"\xff"), Locate::NotArray));
        assert!(matches!(locate(&[b'N'; 100]), Locate::NotArray));
        assert!(matches!(locate(b"\x8c\x01aN"), Locate::NeedMore));
    }

    #[test]
    fn to_vec_converts_byte_order() {
        let a = OwnedArray {
            encoding: Encoding::V2,
            dtype: Dtype::parse(">u2").unwrap(),
            shape: vec![2],
            data: vec![1, 2, 3, 4],
        };
        assert_eq!(a.to_vec::<u16>().unwrap(), vec![0x0102, 0x0304]);
        let n = a.to_ndarray::<u16>().unwrap();
        assert_eq!(n.shape(), &[2]);
        assert_eq!(n[[1]], 0x0304);
        assert!(matches!(a.to_vec::<i16>(), Err(Error::TypeMismatch { .. })));
        assert!(a.to_vec::<u32>().is_err());
    }
}
