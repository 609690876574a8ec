//! Where a masked array's data and mask are, read from around their raw
//! bytes: [`RemoteDict::masked_info`].
//!
//! A masked array value is the `MaskedArray` global, the data as an array
//! value, the mask as an array value, then `TUPLE2 REDUCE`. Its head (kept
//! by the index) holds the ops before the data's raw bytes; one window read
//! after the data holds the data's dtype and shape and the mask's ops up to
//! its raw bytes; the value's tail holds the rest. Where the data's ops end
//! and the mask's begin is found by decoding both arrays, with
//! `mmpk_format`'s own reader, at each op boundary of that window until
//! both decode. Neither array's raw bytes are read (but the one byte of a
//! 0-d mask).

use mmpk_format::array::Encoding;
use mmpk_format::array::{Array, ArrayInfo};
use mmpk_format::dtype::{Dtype, Scalar};
use mmpk_format::masked::{
    is_masked, read_masked, MaskKind, V1_MASKED_PREFIX_LEN, V2_MASKED_PREFIX_LEN,
};
use mmpk_format::write::write_masked_head;
use mmpk_format::Error as FmtError;
use pickle_ops::parse_op;

use crate::array::{info_from_ends, locate, Locate};
use crate::dict::{RemoteDict, MAX_ARRAY_TAIL};
use crate::error::{Error, Result};

/// Bytes read after a masked array's data to find the mask's raw bytes.
const BETWEEN: u64 = 64 << 10;

/// Where a masked array's data and mask are, and what its mask says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaskedInfo {
    /// The data.
    pub data: ArrayInfo,
    /// The mask: dtype bool, the data's shape or 0-d.
    pub mask: ArrayInfo,
    /// What the mask means.
    pub mask_kind: MaskKind,
}

/// The first raw-bytes op of `ops` (no check of what comes first).
fn raw_op(ops: &[u8]) -> Option<(usize, usize, u64)> {
    let mut pos = 0;
    while pos < ops.len() {
        let (len_bytes, hdr) = match ops[pos] {
            0x8e => (8, 9),
            0x42 => (4, 5),
            0x43 => (1, 2),
            _ => {
                let (_, n) = parse_op(&ops[pos..]).ok()?;
                pos += n.max(1);
                continue;
            }
        };
        let len = ops.get(pos + 1..pos + 1 + len_bytes)?;
        let mut le = [0u8; 8];
        le[..len_bytes].copy_from_slice(len);
        return Some((pos, pos + hdr, u64::from_le_bytes(le)));
    }
    None
}

/// The offsets of the op boundaries of `ops`, 0 and its end included.
fn boundaries(ops: &[u8]) -> Vec<usize> {
    let mut out = vec![0];
    let mut pos = 0;
    while pos < ops.len() {
        match parse_op(&ops[pos..]) {
            Ok((_, n)) => pos += n.max(1),
            Err(_) => break,
        }
        out.push(pos);
    }
    out
}

impl RemoteDict {
    /// Where the masked array `key`'s data and mask are (dtype, shape,
    /// offset and length of each), without reading either's raw bytes
    /// (but the one byte of a 0-d mask): then [`crate::RemoteObject::read_pinned`]
    /// or [`RemoteDict::masked`] fetch them.
    pub fn masked_info(&self, key: &str) -> Result<MaskedInfo> {
        let e = self.live(key)?;
        let fmt = |source| Error::Format {
            key: key.to_string(),
            value_offset: e.value_offset,
            source,
        };
        let not_masked = || Error::WrongKind {
            key: key.to_string(),
            expected: "a masked array",
        };
        let info = |a: Array, start: u64| a.info(key, e.offset, start);
        let Some((head, tail)) = &e.ends else {
            let v = self.value_of(e)?;
            if !is_masked(&v) {
                return Err(not_masked());
            }
            let m = read_masked(&v, 0..v.len()).map_err(fmt)?;
            return Ok(MaskedInfo {
                data: info(m.data, e.value_offset),
                mask: info(m.mask, e.value_offset),
                mask_kind: m.mask_kind,
            });
        };
        if !is_masked(head) {
            return Err(not_masked());
        }
        let mut v2 = Vec::new();
        write_masked_head(&mut v2, Encoding::V2);
        let g = if head.starts_with(&v2) {
            V2_MASKED_PREFIX_LEN
        } else {
            V1_MASKED_PREFIX_LEN
        };
        // The data's raw-bytes op, reading more of the value if needed.
        let mut head = head.clone();
        let limit = e.value_len.min(MAX_ARRAY_TAIL);
        let (op1, d1, n1) = loop {
            match locate(&head[g.min(head.len())..]) {
                Locate::Found { op, data, n } => break (g + op, (g + data) as u64, n),
                Locate::NeedMore if (head.len() as u64) < limit => {
                    let more = limit.min((head.len() as u64 * 4).max(64 << 10));
                    head = self
                        .src
                        .read_one(e.value_offset..e.value_offset + more, &self.version)?;
                }
                _ => {
                    return Err(fmt(FmtError::NotAnArray {
                        offset: g,
                        what: "the data of a masked array",
                    }))
                }
            }
        };
        let truncated = |offset: u64, needed: u64| {
            fmt(FmtError::Truncated {
                offset: offset as usize,
                needed,
            })
        };
        let data_end = d1
            .checked_add(n1)
            .filter(|&d| d <= e.value_len)
            .ok_or_else(|| truncated(op1 as u64, n1))?;
        let win_len = BETWEEN.min(e.value_len - data_end);
        let at = e.value_offset + data_end;
        let w = self.src.read_one(at..at + win_len, &self.version)?;
        let no_mask = || {
            fmt(FmtError::NotAnArray {
                offset: data_end as usize,
                what: "a mask's raw bytes within 64 KiB after the data",
            })
        };
        let (op2, d2, n2) = raw_op(&w).ok_or_else(no_mask)?;
        let mask_start = data_end + d2 as u64;
        let mask_end = mask_start
            .checked_add(n2)
            .filter(|&m| m <= e.value_len)
            .ok_or_else(|| truncated(data_end + op2 as u64, n2))?;
        let rest_len = e.value_len - mask_end;
        let rest = if rest_len <= tail.len() as u64 {
            tail.slice(tail.len() - rest_len as usize..)
        } else if rest_len <= MAX_ARRAY_TAIL {
            let s = e.value_offset + mask_end;
            self.src.read_one(s..s + rest_len, &self.version)?
        } else {
            return Err(no_mask());
        };
        let Some(rest) = rest.strip_suffix(b"\x86R") else {
            return Err(fmt(FmtError::NotAnArray {
                offset: mask_end as usize,
                what: "TUPLE2 REDUCE ending a masked array",
            }));
        };
        let between = &w[..op2];
        let mut last = None;
        let mut found = None;
        for k in boundaries(between) {
            let d = info_from_ends(&head[g..op1], n1, &between[..k]);
            let m = d
                .as_ref()
                .ok()
                .map(|_| info_from_ends(&between[k..], n2, rest));
            match (d, m) {
                (Ok(d), Some(Ok(m))) => {
                    found = Some((d, m));
                    break;
                }
                (Err(err), _) | (_, Some(Err(err))) => last = Some(err),
                _ => {}
            }
        }
        let Some(((enc, dtype, shape), (menc, mdtype, mshape))) = found else {
            return Err(fmt(last.unwrap_or(FmtError::NotAnArray {
                offset: data_end as usize,
                what: "a masked array's data and mask",
            })));
        };
        let bad_mask = |what| {
            fmt(FmtError::BadMask {
                offset: data_end as usize,
                what,
            })
        };
        if mdtype != Dtype::Scalar(Scalar::BOOL) {
            return Err(bad_mask("a mask of dtype bool"));
        }
        let mask_offset = e.value_offset + mask_start;
        let mask_kind = if mshape == shape {
            MaskKind::Elementwise
        } else if mshape.is_empty() {
            let b = self
                .src
                .read_one(mask_offset..mask_offset + 1, &self.version)?;
            match b.first() {
                Some(0) => MaskKind::Nomask,
                Some(_) => MaskKind::AllMasked,
                None => return Err(truncated(mask_start, 1)),
            }
        } else {
            return Err(bad_mask("a mask of the data's shape, or 0-d"));
        };
        Ok(MaskedInfo {
            data: ArrayInfo::new(key, enc, dtype, shape, e.offset, e.value_offset + d1, n1),
            mask: ArrayInfo::new(key, menc, mdtype, mshape, e.offset, mask_offset, n2),
            mask_kind,
        })
    }
}
