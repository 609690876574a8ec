//! The index scan: every entry of a whole file, found by hopping frames
//! (`95` + u64 length) without decoding any value, so its cost is linear in
//! the number of entries, not in the file's size.
//!
//! A damaged tail is reported, not fatal: the scan stops at the first frame
//! that is incomplete or corrupt and says what is intact before it. Only a
//! bad header is an error.

use std::collections::HashMap;

use crate::entry::{frame_len_at, is_filler, parse_entry, Entry, FRAME_HEAD_LEN};
use crate::error::{Error, Result};
use crate::header::{parse_header, Header, HEADER_LEN, TERMINATOR_LEN};

/// What kind of entry a scanned entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A live entry.
    Live,
    /// A deleted entry (not a filler).
    Deleted,
    /// An alignment filler (docs/format.md section 8): deleted, empty key,
    /// `NONE` or zero bytes.
    Filler,
}

/// One scanned entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scanned<'a> {
    /// The entry's frame.
    pub entry: Entry<'a>,
    /// Live, deleted, or filler.
    pub kind: EntryKind,
}

/// How the file ends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tail {
    /// The terminator follows the last entry and ends the file.
    Clean,
    /// The file ends at an entry boundary without a terminator.
    MissingTerminator,
    /// The frame at `intact_end` is not complete: the file ends inside it.
    IncompleteFrame,
    /// The terminator is in place but more bytes follow it (an insert was
    /// interrupted before its frame head replaced the terminator).
    TrailingBytes {
        /// How many bytes follow the terminator.
        len: usize,
    },
    /// The terminator's frame head (`FRAME 2`) is at `intact_end` but its
    /// `DICT STOP` was overwritten: an insert was interrupted after writing
    /// its body and before its frame head replaced the terminator's.
    BrokenTerminator,
    /// A complete frame at `intact_end` is not a valid entry.
    Corrupt(Error),
}

/// The result of [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scan<'a> {
    /// The header.
    pub header: Header,
    /// Every intact entry, in file order.
    pub entries: Vec<Scanned<'a>>,
    /// Offset where the intact entries end: where the terminator is, or
    /// where a repair would write it.
    pub intact_end: usize,
    /// Offset of the terminator, if one was found at `intact_end`.
    pub terminator: Option<usize>,
    /// How the file ends.
    pub tail: Tail,
}

impl<'a> Scan<'a> {
    /// Whether the file ended exactly with the terminator.
    pub fn is_clean(&self) -> bool {
        self.tail == Tail::Clean
    }

    /// For each key, the index in [`Scan::entries`] of its latest live entry
    /// (when two live entries share a key, the later one wins).
    pub fn live_index(&self) -> HashMap<&'a str, usize> {
        let mut map = HashMap::with_capacity(self.entries.len());
        for (i, s) in self.entries.iter().enumerate() {
            if s.kind == EntryKind::Live {
                map.insert(s.entry.key, i);
            }
        }
        map
    }

    /// The highest memo max of all entries, live or deleted, and at least 1:
    /// where the next generic value's memo starts (docs/format.md section 7).
    pub fn memo_max(&self) -> u32 {
        self.entries
            .iter()
            .map(|s| s.entry.memo_max)
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// Scans a whole file. Fails only when the header is not an mmpk header;
/// anything wrong after it ends the scan with a [`Tail`] that says what.
pub fn scan(file: &[u8]) -> Result<Scan<'_>> {
    let header = parse_header(file)?;
    let mut entries = Vec::new();
    let ending = scan_from(file, HEADER_LEN, |entry| {
        let kind = if entry.live {
            EntryKind::Live
        } else if is_filler(file, &entry) {
            EntryKind::Filler
        } else {
            EntryKind::Deleted
        };
        entries.push(Scanned { entry, kind });
    });
    Ok(Scan {
        header,
        entries,
        intact_end: ending.end,
        terminator: ending.terminator,
        tail: ending.tail,
    })
}

/// Where a [`scan_from`] stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ending {
    /// Offset where the intact entries end.
    pub end: usize,
    /// Offset of the terminator, if one was found at `end`.
    pub terminator: Option<usize>,
    /// How the file ends.
    pub tail: Tail,
}

/// Hops the frames of `file` from offset `from` without reading entries,
/// and returns how many it passed: what [`scan_from`] reads first of each
/// frame, alone. The dict runs it on a second thread ahead of the scan of a
/// large mapped file, so that the page faults of touching each frame land
/// there while the scan parses.
pub fn hop_frames(file: &[u8], from: usize) -> usize {
    let mut at = from;
    let mut n = 0;
    while let Ok(l) = frame_len_at(file, at) {
        if l == 2 {
            break;
        }
        match l
            .checked_add(FRAME_HEAD_LEN as u64)
            .and_then(|w| usize::try_from(w).ok())
            .and_then(|w| at.checked_add(w))
        {
            Some(next) if next <= file.len() => at = next,
            _ => break,
        }
        n += 1;
    }
    n
}

/// Reads the frames of `file` from offset `from` (an entry boundary after
/// the header), calling `each` with every intact entry in file order, and
/// stops at the terminator or at the first frame that is incomplete or not
/// an entry. The header is not read. Cost linear in the number of entries:
/// values are hopped over. [`scan`] is this from the header on; the `mmpk`
/// crate calls it to read only what a growing file appended.
pub fn scan_from<'a>(file: &'a [u8], from: usize, mut each: impl FnMut(Entry<'a>)) -> Ending {
    let mut at = from;
    let (terminator, tail) = loop {
        let rest = file.len().saturating_sub(at);
        if rest == 0 {
            break (None, Tail::MissingTerminator);
        }
        let l = match frame_len_at(file, at) {
            Ok(l) => l,
            Err(Error::Truncated { .. }) => break (None, Tail::IncompleteFrame),
            Err(e) => break (None, Tail::Corrupt(e)),
        };
        let whole = l.checked_add(FRAME_HEAD_LEN as u64);
        if whole.is_none_or(|w| w > rest as u64) {
            break (None, Tail::IncompleteFrame);
        }
        if l == 2 {
            // Only the terminator has a 2-byte frame.
            let t = file.get(at + FRAME_HEAD_LEN..at + TERMINATOR_LEN);
            if t != Some(&[0x64, 0x2e][..]) {
                break (None, Tail::BrokenTerminator);
            }
            let after = rest - TERMINATOR_LEN;
            let tail = if after == 0 {
                Tail::Clean
            } else {
                Tail::TrailingBytes { len: after }
            };
            break (Some(at), tail);
        }
        match parse_entry(file, at) {
            Ok(entry) => {
                at = entry.end();
                each(entry);
            }
            Err(e) => break (None, Tail::Corrupt(e)),
        }
    };
    Ending {
        end: at,
        terminator,
        tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TERMINATOR;
    use crate::write::write_entry;
    use crate::write::{empty_file, write_header};

    fn file(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut f = write_header(9).to_vec();
        for (k, v, live) in entries {
            write_entry(&mut f, k, v, 2, *live).unwrap();
        }
        f.extend_from_slice(&TERMINATOR);
        f
    }

    #[test]
    fn hopping_passes_the_frames_the_scan_reads() {
        let f = file(&[
            ("a", b"K\x01", true),
            ("b", b"K\x02", false),
            ("c", b"N", true),
        ]);
        assert_eq!(hop_frames(&f, HEADER_LEN), 3);
        // A torn tail stops it where the scan stops.
        assert_eq!(hop_frames(&f[..f.len() - 15], HEADER_LEN), 2);
        assert_eq!(hop_frames(&f, f.len()), 0);
        assert_eq!(hop_frames(b"", 5), 0);
    }

    #[test]
    fn empty_file_is_clean() {
        let f = empty_file(1);
        let s = scan(&f).unwrap();
        assert!(s.is_clean());
        assert!(s.entries.is_empty());
        assert_eq!(s.terminator, Some(24));
        assert_eq!(s.intact_end, 24);
        assert_eq!(s.memo_max(), 1);
    }

    #[test]
    fn kinds_offsets_and_later_wins() {
        let f = file(&[
            ("a", b"K\x01", true),
            ("b", b"K\x02", false),
            ("", b"N", false),
            ("a", b"K\x03", true),
            ("c", b"K\x04", true),
        ]);
        let s = scan(&f).unwrap();
        assert!(s.is_clean());
        let kinds: Vec<_> = s.entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EntryKind::Live,
                EntryKind::Deleted,
                EntryKind::Filler,
                EntryKind::Live,
                EntryKind::Live
            ]
        );
        assert_eq!(s.entries[0].entry.offset, 24);
        for w in s.entries.windows(2) {
            assert_eq!(w[0].entry.end(), w[1].entry.offset);
        }
        assert_eq!(s.terminator, Some(f.len() - 11));
        let idx = s.live_index();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx["a"], 3);
        assert_eq!(idx["c"], 4);
        assert_eq!(s.memo_max(), 2);
    }

    #[test]
    fn torn_tails_are_reported() {
        let f = file(&[("a", b"K\x01", true), ("b", b"K\x02", true)]);
        let t = f.len() - 11;
        // No terminator.
        let s = scan(&f[..t]).unwrap();
        assert_eq!(
            (s.tail.clone(), s.entries.len(), s.intact_end),
            (Tail::MissingTerminator, 2, t)
        );
        // Inside the last entry.
        let s = scan(&f[..t - 3]).unwrap();
        assert_eq!(
            (s.tail.clone(), s.entries.len()),
            (Tail::IncompleteFrame, 1)
        );
        // Inside the terminator.
        let s = scan(&f[..t + 10]).unwrap();
        assert_eq!(s.tail, Tail::IncompleteFrame);
        assert_eq!(s.intact_end, t);
        // Bytes after the terminator.
        let mut g = f.clone();
        g.extend_from_slice(b"xyz");
        let s = scan(&g).unwrap();
        assert_eq!(s.tail, Tail::TrailingBytes { len: 3 });
        assert_eq!(s.terminator, Some(t));
        // A corrupt frame.
        let mut g = f.clone();
        g[24 + 9] = 0;
        let s = scan(&g).unwrap();
        assert!(matches!(
            s.tail,
            Tail::Corrupt(Error::BadEntry { offset: 33, .. })
        ));
        assert!(s.entries.is_empty());
    }

    #[test]
    fn interrupted_insert_keeps_earlier_entries() {
        // Crash-safe order: new terminator, then body, then frame head.
        let mut f = file(&[("a", b"K\x01", true)]);
        let t = f.len() - 11;
        let mut new = Vec::new();
        write_entry(&mut new, "b", b"K\x02", 0, true).unwrap();
        f.resize(t + new.len(), 0);
        f.extend_from_slice(&TERMINATOR);
        let s = scan(&f).unwrap();
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.terminator, Some(t));
        assert!(matches!(s.tail, Tail::TrailingBytes { .. }));
        f[t + 9..t + new.len()].copy_from_slice(&new[9..]);
        let s = scan(&f).unwrap();
        assert_eq!(s.entries.len(), 1);
        assert_eq!((s.terminator, s.intact_end), (None, t));
        assert_eq!(s.tail, Tail::BrokenTerminator);
        // Then the frame head lands: the new entry is visible.
        f[t..t + 9].copy_from_slice(&new[..9]);
        let s = scan(&f).unwrap();
        assert!(s.is_clean());
        assert_eq!(s.entries.len(), 2);
    }

    #[test]
    fn bad_header_is_an_error() {
        assert!(scan(b"\x80\x04}\x94.").is_err());
        assert!(scan(b"").is_err());
    }
}
