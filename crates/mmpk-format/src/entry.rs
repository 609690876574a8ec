//! One entry frame (docs/format.md section 3):
//!
//! ```text
//! 95 <u64 L>  8C <u8 k> <key>  <value: d bytes>  4A <i32 memo_max> 30  (88|30) 30
//! ```
//! with `L = 2 + k + d + 6 + 2`. The validity byte (`88` live, `30` deleted)
//! is the second to last byte of the entry.

use std::ops::Range;

use crate::error::{Error, Result};

/// Length of a frame head: `FRAME` + u64.
pub const FRAME_HEAD_LEN: usize = 9;

/// Bytes of an entry besides its key and value: frame head (9), key opcode
/// and length (2), memo max (6), validity (2).
pub const ENTRY_OVERHEAD: usize = FRAME_HEAD_LEN + 2 + 6 + 2;

/// Longest key, in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 255;

/// The validity byte of a live entry (`NEWTRUE`).
pub const LIVE: u8 = 0x88;

/// The validity byte of a deleted entry (`POP`).
pub const DELETED: u8 = 0x30;

/// One entry frame, located in a file. Offsets are from the start of the
/// slice given to [`parse_entry`]; the key is borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry<'a> {
    /// Offset of the entry's `FRAME` opcode.
    pub offset: usize,
    /// Total length of the entry (`9 + L`).
    pub len: usize,
    /// The key.
    pub key: &'a str,
    /// Offset of the value's first op.
    pub value_offset: usize,
    /// Length of the value's ops (`d`, at least 1).
    pub value_len: usize,
    /// The next free memo index after this entry's value.
    pub memo_max: u32,
    /// Whether the validity byte says live.
    pub live: bool,
}

impl Entry<'_> {
    /// Offset of the byte right after the entry (where the next one starts).
    pub fn end(&self) -> usize {
        self.offset + self.len
    }

    /// The span of the value's ops.
    pub fn value_span(&self) -> Range<usize> {
        self.value_offset..self.value_offset + self.value_len
    }

    /// Offset of the validity byte (`88` live, `30` deleted).
    pub fn validity_offset(&self) -> usize {
        self.end() - 2
    }
}

/// Total length in bytes of an entry with a `key_len`-byte key and a
/// `value_len`-byte value, or `None` if it overflows.
pub fn entry_len(key_len: usize, value_len: usize) -> Option<usize> {
    ENTRY_OVERHEAD.checked_add(key_len)?.checked_add(value_len)
}

/// Reads the frame head at `offset`: the frame's declared length `L`.
pub fn frame_len_at(file: &[u8], offset: usize) -> Result<u64> {
    let head = offset
        .checked_add(FRAME_HEAD_LEN)
        .and_then(|end| file.get(offset..end))
        .ok_or(Error::Truncated {
            offset,
            needed: FRAME_HEAD_LEN as u64,
        })?;
    if head[0] != 0x95 {
        return Err(Error::BadEntry {
            offset,
            what: "a FRAME opcode (0x95)",
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[1..]);
    Ok(u64::from_le_bytes(len))
}

/// Parses the entry that starts at `offset` of `file`, without decoding its
/// value. Never panics; a frame running past the end is [`Error::Truncated`].
pub fn parse_entry(file: &[u8], offset: usize) -> Result<Entry<'_>> {
    let l = frame_len_at(file, offset)?;
    let total = l
        .checked_add(FRAME_HEAD_LEN as u64)
        .and_then(|t| usize::try_from(t).ok())
        .ok_or(Error::Overflow { offset })?;
    let end = offset
        .checked_add(total)
        .ok_or(Error::Overflow { offset })?;
    let frame = file.get(offset..end).ok_or(Error::Truncated {
        offset,
        needed: l.saturating_add(FRAME_HEAD_LEN as u64),
    })?;
    parse_frame(frame, offset)
}

/// Parses a complete entry frame `frame` found at `offset`.
fn parse_frame(frame: &[u8], offset: usize) -> Result<Entry<'_>> {
    let total = frame.len();
    let bad = |at: usize, what| Error::BadEntry {
        offset: offset + at,
        what,
    };
    // Smallest frame: no key, a one-byte value.
    if total < ENTRY_OVERHEAD + 1 {
        return Err(bad(1, "a frame length of at least 11"));
    }
    if frame[9] != 0x8c {
        return Err(bad(9, "SHORT_BINUNICODE (0x8c) for the key"));
    }
    let k = usize::from(frame[10]);
    let value_offset = 11 + k;
    let tail = total - 8;
    if value_offset >= tail {
        return Err(bad(10, "a key length leaving room for a value"));
    }
    let key = std::str::from_utf8(&frame[11..value_offset]).map_err(|_| Error::KeyNotUtf8 {
        offset: offset + 11,
    })?;
    if frame[tail] != 0x4a {
        return Err(bad(tail, "BININT (0x4a) for the memo max"));
    }
    let memo = i32::from_le_bytes([
        frame[tail + 1],
        frame[tail + 2],
        frame[tail + 3],
        frame[tail + 4],
    ]);
    let memo_max = u32::try_from(memo).map_err(|_| bad(tail + 1, "a memo max of at least 0"))?;
    if frame[tail + 5] != 0x30 {
        return Err(bad(tail + 5, "POP (0x30) after the memo max"));
    }
    let live = match frame[tail + 6] {
        LIVE => true,
        DELETED => false,
        _ => return Err(bad(tail + 6, "a validity byte (0x88 or 0x30)")),
    };
    if frame[tail + 7] != 0x30 {
        return Err(bad(tail + 7, "POP (0x30) at the end of the entry"));
    }
    Ok(Entry {
        offset,
        len: total,
        key,
        value_offset: offset + value_offset,
        value_len: tail - value_offset,
        memo_max,
        live,
    })
}

/// Whether `entry` of `file` is an alignment filler (docs/format.md section 8):
/// deleted, empty key, and a value that is `NONE` or one `SHORT_BINBYTES` /
/// `BINBYTES` whose bytes are all zero (any length, empty included).
pub fn is_filler(file: &[u8], entry: &Entry<'_>) -> bool {
    if entry.live || !entry.key.is_empty() {
        return false;
    }
    let Some(v) = file.get(entry.value_span()) else {
        return false;
    };
    let payload = match v {
        [0x4e] => return true,
        [0x43, n, rest @ ..] if usize::from(*n) == rest.len() => rest,
        [0x42, a, b, c, d, rest @ ..]
            if u32::from_le_bytes([*a, *b, *c, *d]) as usize == rest.len() =>
        {
            rest
        }
        _ => return false,
    };
    payload.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::*;

    fn entry(key: &str, value: &[u8], memo: u32, live: bool) -> Vec<u8> {
        let mut v = Vec::new();
        write_entry(&mut v, key, value, memo, live).unwrap();
        v
    }

    #[test]
    fn bytes_are_as_specified() {
        // key 'a', value BININT1 5
        let e = entry("a", b"K\x05", 3, true);
        assert_eq!(
            e,
            b"\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x8c\x01aK\x05J\x03\x00\x00\x000\x880"
        );
        assert_eq!(e.len(), entry_len(1, 2).unwrap());
    }

    #[test]
    fn parse_mirrors_write() {
        let long = "é".repeat(127); // 254 bytes
        for (key, value, memo, live) in [
            ("a", &b"K\x05"[..], 3u32, true),
            ("", b"N", 0, false),
            (long.as_str(), b"\x8c\x02hi\x94", 2, true),
            ("k", b"N", i32::MAX as u32, false),
        ] {
            let mut file = vec![0xAAu8; 7];
            write_entry(&mut file, key, value, memo, live).unwrap();
            let e = parse_entry(&file, 7).unwrap();
            assert_eq!(e.offset, 7);
            assert_eq!(e.end(), file.len());
            assert_eq!(e.key, key);
            assert_eq!(&file[e.value_span()], value);
            assert_eq!(e.memo_max, memo);
            assert_eq!(e.live, live);
            assert_eq!(file[e.validity_offset()], if live { LIVE } else { DELETED });
        }
    }

    #[test]
    fn writer_refuses_bad_input() {
        let mut v = Vec::new();
        assert_eq!(
            write_entry(&mut v, &"x".repeat(256), b"N", 0, true),
            Err(Error::KeyTooLong { len: 256 })
        );
        assert!(write_entry(&mut v, &"x".repeat(255), b"N", 0, true).is_ok());
        assert_eq!(
            write_entry(&mut v, "a", b"", 0, true),
            Err(Error::EmptyValue)
        );
        assert_eq!(
            write_entry(&mut v, "a", b"N", 1 << 31, true),
            Err(Error::MemoMaxTooLarge { memo_max: 1 << 31 })
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let e = entry("key", b"K\x05", 1, true);
        for n in 0..e.len() {
            assert!(parse_entry(&e[..n], 0).is_err(), "{n}");
        }
        assert!(parse_entry(&e, e.len()).is_err());
        assert!(parse_entry(&e, usize::MAX).is_err());
    }

    #[test]
    fn huge_frame_lengths_do_not_panic() {
        for l in [0u64, 1, 10, 11, u64::MAX, u64::MAX - 8, 1 << 62] {
            let mut f = vec![0x95];
            f.extend_from_slice(&l.to_le_bytes());
            f.extend_from_slice(&[0x8c, 0, b'N', 0x4a, 0, 0, 0, 0, 0x30, 0x88, 0x30]);
            let _ = parse_entry(&f, 0);
        }
    }

    #[test]
    fn corrupt_bytes_name_their_offset() {
        let good = entry("a", b"K\x05", 3, true);
        let mut e = good.clone();
        e[9] = 0x8d;
        assert!(matches!(
            parse_entry(&e, 0),
            Err(Error::BadEntry { offset: 9, .. })
        ));
        let mut e = good.clone();
        let v = e.len() - 2;
        e[v] = 0x31;
        assert!(matches!(parse_entry(&e, 0), Err(Error::BadEntry { offset, .. }) if offset == v));
        let mut e = good.clone();
        e[11] = 0xff;
        e[10] = 1;
        let _ = parse_entry(&e, 0);
        let mut e = entry("\u{e9}", b"N", 0, true);
        e[11] = 0xff;
        assert_eq!(parse_entry(&e, 0), Err(Error::KeyNotUtf8 { offset: 11 }));
        let mut e = good.clone();
        e[10] = 200; // key longer than the frame
        assert!(matches!(
            parse_entry(&e, 0),
            Err(Error::BadEntry { offset: 10, .. })
        ));
    }

    #[test]
    fn fillers_are_recognised() {
        let mut zeros = vec![0x42];
        zeros.extend_from_slice(&300u32.to_le_bytes());
        zeros.extend(std::iter::repeat_n(0u8, 300));
        for (key, value, live, filler) in [
            ("", &b"N"[..], false, true),
            ("", b"C\x00", false, true),
            ("", b"C\x03\x00\x00\x00", false, true),
            ("", b"B\x00\x00\x00\x00", false, true),
            ("", &zeros[..], false, true),
            ("", b"N", true, false),
            ("a", b"N", false, false),
            ("", b"C\x01\x01", false, false),
            ("", b"C\x02\x00", false, false),
            ("", b"K\x00", false, false),
        ] {
            let f = entry(key, value, 0, live);
            let e = parse_entry(&f, 0).unwrap();
            assert_eq!(is_filler(&f, &e), filler, "{value:?}");
        }
    }
}
