//! Masked arrays (docs/format.md section 6): `MaskedArray(data, mask)`, a
//! global then two array values, then `TUPLE2 REDUCE`.
//!
//! v2 uses the global `numpy.ma` `MaskedArray`, v1 (mmappickle 1.0)
//! `numpy.ma.core` `MaskedArray`. The mask is a bool array of the data's
//! shape, or 0-d: mmappickle 1.0.0 writes `obj.mask`, a 0-d `False` for an
//! array without a mask ([`MaskKind::Nomask`]).

use std::ops::Range;

use pickle_ops::{write_op, Op};

use crate::array::{array_at, end_of_value, Array, Encoding};
use crate::cursor::Cursor;
use crate::dtype::{Dtype, Scalar};
use crate::error::{Error, Result};

/// Bytes of a v2 masked array's global (`numpy.ma` `MaskedArray`).
pub const V2_MASKED_PREFIX_LEN: usize = 24;

/// Bytes of a v1 masked array's global (`numpy.ma.core` `MaskedArray`).
pub const V1_MASKED_PREFIX_LEN: usize = 29;

/// What a masked array's mask says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaskKind {
    /// One bool per element (the mask has the data's shape).
    Elementwise,
    /// A 0-d `False` mask on an array of at least one dimension: nothing is
    /// masked (mmappickle 1.0.0's `nomask`).
    Nomask,
    /// A 0-d `True` mask on an array of at least one dimension: numpy
    /// broadcasts it, so every element is masked.
    AllMasked,
}

/// A validated masked array value; offsets are the input's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedArray {
    /// The encoding of the `MaskedArray` global.
    pub encoding: Encoding,
    /// The data.
    pub data: Array,
    /// The mask: dtype bool, the data's shape or 0-d.
    pub mask: Array,
    /// What the mask means.
    pub mask_kind: MaskKind,
}

fn global(enc: Encoding) -> (&'static str, &'static str) {
    match enc {
        Encoding::V2 => ("numpy.ma", "MaskedArray"),
        Encoding::V1 => ("numpy.ma.core", "MaskedArray"),
    }
}

/// The bool dtype.
pub(crate) fn bool_dtype() -> Dtype {
    Dtype::Scalar(Scalar::BOOL)
}

/// The `MaskedArray` global ([`crate::write::write_masked_head`]).
pub(crate) fn masked_head(out: &mut Vec<u8>, enc: Encoding) {
    let (module, name) = global(enc);
    write_op(&Op::ShortBinunicode(module.as_bytes()), out);
    write_op(&Op::ShortBinunicode(name.as_bytes()), out);
    write_op(&Op::StackGlobal, out);
}

/// Whether the value at `value` (an entry's value bytes) starts like a
/// masked array (its first global), without validating the rest.
pub fn is_masked(value: &[u8]) -> bool {
    [Encoding::V2, Encoding::V1].iter().any(|&e| {
        let mut head = Vec::new();
        masked_head(&mut head, e);
        value.starts_with(&head)
    })
}

/// Decodes and validates the masked array value whose ops span `span` of
/// `file`: the global, two arrays as [`crate::array::read_array`] checks
/// them, a bool mask of the data's shape or 0-d ([`Error::BadMask`]),
/// `TUPLE2 REDUCE`, and nothing after.
pub fn read_masked(file: &[u8], span: Range<usize>) -> Result<MaskedArray> {
    let mut c = Cursor::new(file, span)?;
    let encoding = match c.peek_str()? {
        Some(b"numpy.ma") => Encoding::V2,
        _ => Encoding::V1,
    };
    let (module, name) = global(encoding);
    c.global(module, name)?;
    let data = array_at(&mut c)?;
    let mask_at = c.at_end()?.unwrap_or(c.end);
    let mask = array_at(&mut c)?;
    c.op(|o| matches!(o, Op::Tuple2), "TUPLE2")?;
    c.op(|o| matches!(o, Op::Reduce), "REDUCE")?;
    end_of_value(&mut c)?;
    if mask.dtype != bool_dtype() {
        return Err(Error::BadMask {
            offset: mask_at,
            what: "a mask of dtype bool",
        });
    }
    let mask_kind = if mask.shape == data.shape {
        MaskKind::Elementwise
    } else if mask.shape.is_empty() {
        match file.get(mask.data.start) {
            Some(0) => MaskKind::Nomask,
            Some(_) => MaskKind::AllMasked,
            None => {
                return Err(Error::Truncated {
                    offset: mask.data.start,
                    needed: 1,
                })
            }
        }
    } else {
        return Err(Error::BadMask {
            offset: mask_at,
            what: "a mask of the data's shape, or 0-d",
        });
    };
    Ok(MaskedArray {
        encoding,
        data,
        mask,
        mask_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::*;

    fn f8() -> Dtype {
        Dtype::parse("<f8").unwrap()
    }

    #[test]
    fn prefix_lengths() {
        for (enc, n) in [
            (Encoding::V2, V2_MASKED_PREFIX_LEN),
            (Encoding::V1, V1_MASKED_PREFIX_LEN),
        ] {
            let mut v = Vec::new();
            write_masked_head(&mut v, enc);
            assert_eq!(v.len(), n);
        }
    }

    #[test]
    fn round_trips() {
        for enc in [Encoding::V2, Encoding::V1] {
            for (mask, kind) in [
                (Some(&[1u8, 0][..]), MaskKind::Elementwise),
                (None, MaskKind::Nomask),
            ] {
                let mut v = vec![0xaa; 5];
                let raw = [7u8; 16];
                let (d, m) = encode_masked(&mut v, enc, &f8(), &[2], &raw, mask).unwrap();
                assert!(is_masked(&v[5..]));
                let a = read_masked(&v, 5..v.len()).unwrap();
                assert_eq!(a.encoding, enc);
                assert_eq!(a.data.data, d);
                assert_eq!(a.mask.data, m);
                assert_eq!(a.mask_kind, kind);
                assert_eq!(a.data.shape, [2]);
            }
        }
        let mut v = Vec::new();
        encode_masked(&mut v, Encoding::V1, &f8(), &[], &[0; 8], Some(&[1])).unwrap();
        assert_eq!(
            read_masked(&v, 0..v.len()).unwrap().mask_kind,
            MaskKind::Elementwise
        );
    }

    #[test]
    fn bad_masks() {
        let mut v = Vec::new();
        assert!(matches!(
            encode_masked(&mut v, Encoding::V2, &f8(), &[2], &[0; 16], Some(&[0])),
            Err(Error::SizeMismatch { .. })
        ));
        assert!(v.is_empty());
        // A mask of the wrong dtype or shape.
        for (dt, shape, raw) in [("<i1", &[2u64][..], &[0u8, 0][..]), ("|b1", &[1], &[0])] {
            let mut v = Vec::new();
            write_masked_head(&mut v, Encoding::V2);
            encode_array(&mut v, Encoding::V2, &f8(), &[2], &[0; 16]).unwrap();
            encode_array(&mut v, Encoding::V2, &Dtype::parse(dt).unwrap(), shape, raw).unwrap();
            write_masked_tail(&mut v);
            assert!(
                matches!(read_masked(&v, 0..v.len()), Err(Error::BadMask { offset, .. }) if offset == V2_MASKED_PREFIX_LEN + 68 + 16 + 14)
            );
        }
        let mut v = Vec::new();
        encode_masked(&mut v, Encoding::V2, &f8(), &[1], &[0; 8], Some(&[1])).unwrap();
        for n in 0..v.len() {
            assert!(read_masked(&v, 0..n).is_err());
        }
    }
}
