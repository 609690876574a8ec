//! The index read over the network: the same frame hopping as
//! [`mmpk_format::scan()`], but over windows fetched as the scan goes.
//!
//! A small entry (its whole frame at most [`big_threshold`] bytes) is read
//! whole, with read-ahead, and parsed by [`mmpk_format::entry::parse_entry`].
//! A large one is read at its two ends only: its head (frame head, key and
//! the first [`HEAD_KEEP`] bytes of its value) and its tail (the last
//! [`TAIL_KEEP`] bytes of the value, the memo max and the validity byte),
//! fetched together with the first [`PEEK`] bytes after it (the next
//! entry's head); its middle (an array's data) is never read.

use std::collections::HashMap;

use bytes::Bytes;
use mmpk_format::entry::{is_filler, parse_entry, FRAME_HEAD_LEN};
use mmpk_format::filler::MIN_BINBYTES_FILLER_LEN;
use mmpk_format::header::TERMINATOR_LEN;
use mmpk_format::scan::{EntryKind, Tail};
use mmpk_format::Error as FmtError;

use crate::error::Result;
use crate::source::Source;
use crate::transport::ObjectVersion;

/// Value bytes kept from the start of a large entry (array prefixes,
/// masked-array globals).
pub(crate) const HEAD_KEEP: u64 = 1024;
/// Value bytes kept from the end of a large entry (dtype and shape).
pub(crate) const TAIL_KEEP: u64 = 1024;
/// Bytes read after a large entry, to find the next entry's head.
pub(crate) const PEEK: u64 = 4096;

/// Frames longer than this are read at their two ends only.
pub(crate) fn big_threshold(readahead: u64) -> u64 {
    readahead.max(16 << 10)
}

/// One entry of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteEntry {
    /// The key.
    pub key: String,
    /// Offset of the entry's `FRAME` opcode in the object.
    pub offset: u64,
    /// Total length of the entry.
    pub len: u64,
    /// Offset of the value's first op.
    pub value_offset: u64,
    /// Length of the value's ops.
    pub value_len: u64,
    /// The memo max the entry records.
    pub memo_max: u32,
    /// Live, deleted, or an alignment filler.
    pub kind: EntryKind,
    /// For a large entry: the first and last bytes of its value, as the
    /// index read them.
    pub(crate) ends: Option<(Bytes, Bytes)>,
}

impl RemoteEntry {
    /// Whether the entry is live.
    pub fn is_live(&self) -> bool {
        self.kind == EntryKind::Live
    }

    /// Offset of the byte after the entry.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// The index of one version of the object.
#[derive(Clone, Debug)]
pub(crate) struct Index {
    pub(crate) commit: i32,
    pub(crate) entries: Vec<RemoteEntry>,
    pub(crate) live: HashMap<String, usize>,
    pub(crate) intact_end: u64,
    pub(crate) terminator: Option<u64>,
    pub(crate) tail: Tail,
}

impl Index {
    /// The last entry, if it is a room (docs/format.md section 8): right
    /// before the terminator, deleted, empty key, memo high-water mark 0,
    /// at least [`MIN_BINBYTES_FILLER_LEN`] bytes. A durable writer puts
    /// its inserts there without changing the object's size, so a refresh
    /// reads again from the room's offset when its head changed. (Whether
    /// its value is a `BINBYTES`, which a writer checks too, is not: a
    /// reader only re-reads from there, whatever the frame holds now.)
    pub(crate) fn room(&self) -> Option<&RemoteEntry> {
        let e = self.entries.last()?;
        let room = self.terminator == Some(e.end())
            && !e.is_live()
            && e.key.is_empty()
            && e.memo_max == 0
            && e.len >= MIN_BINBYTES_FILLER_LEN;
        room.then_some(e)
    }

    /// Rebuilds the key -> latest live entry map.
    pub(crate) fn relink(&mut self) {
        self.live.clear();
        for (i, e) in self.entries.iter().enumerate() {
            if e.is_live() {
                self.live.insert(e.key.clone(), i);
            }
        }
    }
}

fn at(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

/// Moves the offsets of an error found in a slice that starts at `by`.
pub(crate) fn shift(e: FmtError, by: u64) -> FmtError {
    let s = |o: usize| o.saturating_add(at(by));
    match e {
        FmtError::Truncated { offset, needed } => FmtError::Truncated {
            offset: s(offset),
            needed,
        },
        FmtError::BadEntry { offset, what } => FmtError::BadEntry {
            offset: s(offset),
            what,
        },
        FmtError::KeyNotUtf8 { offset } => FmtError::KeyNotUtf8 { offset: s(offset) },
        FmtError::Overflow { offset } => FmtError::Overflow { offset: s(offset) },
        other => other,
    }
}

/// A moving window over the object.
struct Reader<'a> {
    src: &'a Source,
    v: &'a ObjectVersion,
    start: u64,
    buf: Bytes,
}

impl Reader<'_> {
    /// Bytes from `pos`, at least `len` (fewer at the end of the object);
    /// fetched with `ahead` bytes of read-ahead when not at hand.
    fn need(&mut self, pos: u64, len: u64, ahead: u64) -> Result<&[u8]> {
        let end = pos.saturating_add(len).min(self.v.size);
        let have = pos >= self.start && end <= self.start + self.buf.len() as u64;
        if !have {
            self.buf = self.src.window(pos, end - pos.min(end), ahead, self.v)?;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        Ok(&self.buf[from..])
    }
}

/// Scans entries from `pos` (an entry boundary) to the end of the object,
/// appending them to `entries`. `first` is bytes already read from offset 0.
pub(crate) fn scan_from(
    src: &Source,
    v: &ObjectVersion,
    mut pos: u64,
    first: Bytes,
    entries: &mut Vec<RemoteEntry>,
) -> Result<(u64, Option<u64>, Tail)> {
    let mut r = Reader {
        src,
        v,
        start: 0,
        buf: first,
    };
    let ahead = src.readahead;
    let big = big_threshold(ahead);
    let size = v.size;
    let head_len = FRAME_HEAD_LEN as u64;
    let (terminator, tail) = loop {
        let rest = size - pos.min(size);
        if rest == 0 {
            break (None, Tail::MissingTerminator);
        }
        if rest < head_len {
            break (None, Tail::IncompleteFrame);
        }
        let h = r.need(pos, head_len, ahead)?;
        if h[0] != 0x95 {
            let e = FmtError::BadEntry {
                offset: at(pos),
                what: "a FRAME opcode (0x95)",
            };
            break (None, Tail::Corrupt(e));
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&h[1..9]);
        let l = u64::from_le_bytes(l);
        let whole = match l.checked_add(head_len) {
            Some(w) if w <= rest => w,
            _ => break (None, Tail::IncompleteFrame),
        };
        if l == 2 {
            let t = r.need(pos, TERMINATOR_LEN as u64, ahead)?;
            if t.get(9..11) != Some(&[0x64, 0x2e][..]) {
                break (None, Tail::BrokenTerminator);
            }
            let after = rest - TERMINATOR_LEN as u64;
            let tail = if after == 0 {
                Tail::Clean
            } else {
                Tail::TrailingBytes { len: at(after) }
            };
            break (Some(pos), tail);
        }
        if whole <= big {
            let f = r.need(pos, whole, ahead)?;
            let frame = &f[..whole as usize];
            match parse_entry(frame, 0) {
                Ok(e) => {
                    let kind = if e.live {
                        EntryKind::Live
                    } else if is_filler(frame, &e) {
                        EntryKind::Filler
                    } else {
                        EntryKind::Deleted
                    };
                    entries.push(RemoteEntry {
                        key: e.key.to_string(),
                        offset: pos,
                        len: whole,
                        value_offset: pos + e.value_offset as u64,
                        value_len: e.value_len as u64,
                        memo_max: e.memo_max,
                        kind,
                        ends: None,
                    });
                }
                Err(e) => break (None, Tail::Corrupt(shift(e, pos))),
            }
        } else {
            let hl = whole.min(11 + 255 + HEAD_KEEP);
            let head = Bytes::copy_from_slice(&r.need(pos, hl, hl)?[..hl as usize]);
            let tail_start = pos + whole - 8 - TAIL_KEEP;
            let t = r.need(tail_start, TAIL_KEEP + 8, TAIL_KEEP + 8 + PEEK)?;
            let tail = Bytes::copy_from_slice(&t[..(TAIL_KEEP + 8) as usize]);
            match parse_split(&head, &tail, pos, whole) {
                Ok(e) => entries.push(e),
                Err(e) => break (None, Tail::Corrupt(e)),
            }
        }
        pos += whole;
    };
    Ok((pos, terminator, tail))
}

/// Parses a large entry from its head (from the frame's start) and its
/// tail (the last `TAIL_KEEP + 8` bytes), as `parse_entry` would.
fn parse_split(head: &[u8], tail: &[u8], pos: u64, whole: u64) -> Result<RemoteEntry, FmtError> {
    let bad = |rel: u64, what| FmtError::BadEntry {
        offset: at(pos + rel),
        what,
    };
    if head.get(9) != Some(&0x8c) {
        return Err(bad(9, "SHORT_BINUNICODE (0x8c) for the key"));
    }
    let k = u64::from(head.get(10).copied().unwrap_or(0));
    let value_rel = 11 + k;
    let tail_rel = whole - 8;
    if value_rel >= tail_rel {
        return Err(bad(10, "a key length leaving room for a value"));
    }
    let key_bytes = head
        .get(11..value_rel as usize)
        .ok_or(FmtError::Truncated {
            offset: at(pos),
            needed: value_rel,
        })?;
    let key = std::str::from_utf8(key_bytes).map_err(|_| FmtError::KeyNotUtf8 {
        offset: at(pos + 11),
    })?;
    let t = &tail[tail.len() - 8..];
    if t[0] != 0x4a {
        return Err(bad(tail_rel, "BININT (0x4a) for the memo max"));
    }
    let memo = i32::from_le_bytes([t[1], t[2], t[3], t[4]]);
    let memo_max =
        u32::try_from(memo).map_err(|_| bad(tail_rel + 1, "a memo max of at least 0"))?;
    if t[5] != 0x30 {
        return Err(bad(tail_rel + 5, "POP (0x30) after the memo max"));
    }
    let live = match t[6] {
        mmpk_format::entry::LIVE => true,
        mmpk_format::entry::DELETED => false,
        _ => return Err(bad(tail_rel + 6, "a validity byte (0x88 or 0x30)")),
    };
    if t[7] != 0x30 {
        return Err(bad(tail_rel + 7, "POP (0x30) at the end of the entry"));
    }
    let value_len = tail_rel - value_rel;
    let keep_head = value_len.min(HEAD_KEEP) as usize;
    let vh = head
        .get(value_rel as usize..value_rel as usize + keep_head)
        .unwrap_or(&[]);
    let keep_tail = value_len.min(TAIL_KEEP) as usize;
    let vt = &tail[tail.len() - 8 - keep_tail..tail.len() - 8];
    Ok(RemoteEntry {
        key: key.to_string(),
        offset: pos,
        len: whole,
        value_offset: pos + value_rel,
        value_len,
        memo_max,
        kind: if live {
            EntryKind::Live
        } else {
            EntryKind::Deleted
        },
        ends: Some((Bytes::copy_from_slice(vh), Bytes::copy_from_slice(vt))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmpk_format::write::write_entry;

    #[test]
    fn split_parse_matches_parse_entry() {
        let value = vec![b'N'; 40_000];
        for (key, live) in [("k", true), ("", false), ("é", true)] {
            let mut f = Vec::new();
            write_entry(&mut f, key, &value, 7, live).unwrap();
            let whole = f.len() as u64;
            let head = &f[..(11 + 255 + HEAD_KEEP as usize).min(f.len())];
            let tail = &f[f.len() - 8 - TAIL_KEEP as usize..];
            let e = parse_split(head, tail, 100, whole).unwrap();
            let want = parse_entry(&f, 0).unwrap();
            assert_eq!(e.key, want.key);
            assert_eq!(e.value_offset, 100 + want.value_offset as u64);
            assert_eq!(e.value_len, want.value_len as u64);
            assert_eq!((e.memo_max, e.is_live()), (7, live));
            // Every corruption of the two ends is found, at its offset.
            for i in [9usize, f.len() - 8, f.len() - 3, f.len() - 2, f.len() - 1] {
                let mut g = f.clone();
                g[i] ^= 0x01;
                let head = &g[..(11 + 255 + HEAD_KEEP as usize)];
                let tail = &g[g.len() - 8 - TAIL_KEEP as usize..];
                match parse_split(head, tail, 100, whole) {
                    Err(FmtError::BadEntry { offset, .. }) => assert_eq!(offset, 100 + i),
                    other => panic!("{i}: {other:?}"),
                }
            }
        }
    }
}
