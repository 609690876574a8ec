//! Alignment fillers (docs/format.md section 8): where an array's raw bytes land,
//! and the deleted, empty-keyed entry to put before it so they land on an
//! alignment boundary.
//!
//! A filler's value is `NONE` (20-byte filler), a `SHORT_BINBYTES` of
//! 0..=255 zero bytes (21..=276), or a `BINBYTES` of zero bytes (277 and
//! more), so every length from 20 up is possible.

use crate::entry::ENTRY_OVERHEAD;
use crate::error::{Error, Result};

/// The shortest filler: empty key, value `NONE`.
pub const MIN_FILLER_LEN: u64 = ENTRY_OVERHEAD as u64 + 1;

/// The shortest filler whose value is a `BINBYTES` (a shorter one's is
/// `NONE` or a `SHORT_BINBYTES`); a room (docs/format.md section 8) is
/// one of these.
pub const MIN_BINBYTES_FILLER_LEN: u64 = 277;

/// The default alignment of raw array bytes (a cache line).
pub const DEFAULT_ALIGN: u64 = 64;

/// Smallest alignment offered.
pub const MIN_ALIGN: u64 = 8;

/// Largest alignment offered.
pub const MAX_ALIGN: u64 = 4096;

/// Checks that `align` is a power of two in `8..=4096`.
pub fn check_align(align: u64) -> Result<()> {
    if align.is_power_of_two() && (MIN_ALIGN..=MAX_ALIGN).contains(&align) {
        Ok(())
    } else {
        Err(Error::BadAlignment { align })
    }
}

/// Offset of the raw bytes of an array entry that starts at `entry`, with a
/// `key_len`-byte key and `prefix_len` bytes of value before `BINBYTES8`:
/// `entry + 9 + 2 + key_len + prefix_len + 9`. `None` on overflow.
pub fn data_offset(entry: u64, key_len: usize, prefix_len: usize) -> Option<u64> {
    let before = 9u64 + 2 + key_len as u64 + prefix_len as u64 + 9;
    entry.checked_add(before)
}

/// Length of the filler to write at `next` (where the next entry would
/// start) so that the raw bytes of an array entry written right after it
/// (key of `key_len` bytes, `prefix_len` bytes before `BINBYTES8`) start on
/// a multiple of `align`. Returns 0 when no filler is needed, otherwise a
/// length of at least [`MIN_FILLER_LEN`] (and less than `align + 20`).
pub fn filler_len(next: u64, key_len: usize, prefix_len: usize, align: u64) -> Result<u64> {
    check_align(align)?;
    let overflow = Error::Overflow {
        offset: usize::try_from(next).unwrap_or(usize::MAX),
    };
    let data = data_offset(next, key_len, prefix_len).ok_or(overflow.clone())?;
    let pad = (align - data % align) % align;
    if pad == 0 {
        return Ok(0);
    }
    // The smallest length >= MIN_FILLER_LEN congruent to pad modulo align.
    let len = if pad >= MIN_FILLER_LEN {
        pad
    } else {
        let short = MIN_FILLER_LEN - pad;
        pad + short.div_ceil(align) * align
    };
    data.checked_add(len).ok_or(overflow)?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{V1_PREFIX_LEN, V2_PREFIX_LEN};
    use crate::entry::{is_filler, parse_entry};
    use crate::write::*;

    #[test]
    fn prefix_lengths_match_the_ops() {
        use pickle_ops::{write_ops, Op};
        let s = |t: &'static str| Op::ShortBinunicode(t.as_bytes());
        let v2 = write_ops([
            s("numpy"),
            s("reshape"),
            Op::StackGlobal,
            s("numpy"),
            s("frombuffer"),
            Op::StackGlobal,
            s("builtins"),
            s("bytearray"),
            Op::StackGlobal,
        ]);
        assert_eq!(v2.len(), V2_PREFIX_LEN);
        let v1 = write_ops([
            s("numpy.core.fromnumeric"),
            s("reshape"),
            Op::StackGlobal,
            s("numpy.core.multiarray"),
            s("fromstring"),
            Op::StackGlobal,
        ]);
        assert_eq!(v1.len(), V1_PREFIX_LEN);
    }

    #[test]
    fn alignments_are_checked() {
        for a in [8, 16, 64, 4096] {
            assert!(check_align(a).is_ok());
        }
        for a in [0, 1, 4, 24, 8192, u64::MAX] {
            assert_eq!(check_align(a), Err(Error::BadAlignment { align: a }));
        }
        assert!(filler_len(0, 0, 59, 3).is_err());
    }

    #[test]
    fn every_length_writes_exactly() {
        for len in (20..600).chain([4095, 4096 + 19]) {
            let mut out = vec![1, 2, 3];
            write_filler(&mut out, len).unwrap();
            assert_eq!(out.len() as u64, 3 + len);
            let e = parse_entry(&out, 3).unwrap();
            assert_eq!(e.len as u64, len);
            assert!(is_filler(&out, &e), "{len}");
        }
        for len in 1..20 {
            assert_eq!(
                write_filler(&mut Vec::new(), len),
                Err(Error::BadFillerLen { len })
            );
        }
        let mut out = Vec::new();
        write_filler(&mut out, 0).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn data_lands_aligned() {
        let mut checked = 0;
        for align in [8u64, 16, 32, 64, 128, 512, 4096] {
            for key_len in [0usize, 1, 2, 7, 31, 64, 200, 255] {
                for prefix in [V2_PREFIX_LEN, V1_PREFIX_LEN] {
                    for next in (24u64..24 + 2 * align + 3).chain([1 << 33, (1 << 40) + 5]) {
                        let f = filler_len(next, key_len, prefix, align).unwrap();
                        assert!(f == 0 || (MIN_FILLER_LEN..align + MIN_FILLER_LEN).contains(&f));
                        let data = data_offset(next + f, key_len, prefix).unwrap();
                        assert_eq!(data % align, 0, "{next} {key_len} {prefix} {align}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(matches!(
            filler_len(u64::MAX - 10, 3, 59, 64),
            Err(Error::Overflow { .. })
        ));
    }
}
