//! The cached entry list: built by a scan of the mapped file, brought up to
//! date under the lock when the commit number (or the length) changed, by
//! scanning only the new frames when the file grew and re-reading the
//! validity bytes of the entries already known.

use mmpk_format::entry::{parse_entry, LIVE};
use mmpk_format::header::{parse_header, HEADER_LEN};
use mmpk_format::scan::Tail;

use crate::keys::Keys;

/// Bytes still to scan from which a second thread prefaults the frames.
const PREFAULT_FROM: usize = 64 << 20;
/// Frames the scan reads before it considers starting that thread.
const PREFAULT_AFTER: u32 = 1024;

/// Where one entry is. Offsets are file offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    /// The entry's FRAME opcode.
    pub offset: u64,
    /// The entry's total length.
    pub len: u64,
    /// The value's first op.
    pub value_offset: u64,
    /// The value's length.
    pub value_len: u64,
}

impl Loc {
    pub(crate) fn validity_offset(&self) -> u64 {
        self.offset + self.len - 2
    }
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.len
    }
    pub(crate) fn value_span(&self) -> std::ops::Range<usize> {
        self.value_offset as usize..(self.value_offset + self.value_len) as usize
    }
}

/// The cached state of the file's entry list.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Commit number when last read (`None`: never read).
    pub commit: Option<i32>,
    /// File length when last read.
    pub file_len: u64,
    /// Where the intact entries end (the terminator, or where it goes).
    pub end: u64,
    /// How the file ends.
    pub tail: Option<Tail>,
    /// The winning live entry of each key.
    pub live: Keys,
    /// Live entries shadowed by a later live entry of the same key (after a
    /// crash between an insert and the delete of the entry it replaces).
    pub shadowed: Vec<(String, Loc)>,
    /// The highest memo max of all entries, at least 1.
    pub memo_max: u32,
    /// Number of entry frames (live, deleted and fillers).
    pub frames: u64,
    /// Frames that are fillers or deleted entries.
    pub dead: u64,
    /// The last frame known.
    pub last: Option<Loc>,
    /// The last frame known, if it is a room (module `room`): durable
    /// inserts are written into it.
    pub room: Option<Loc>,
}

/// What the caller of [`Index::update`] should know.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// The cache is what it was.
    Unchanged,
    /// Only new frames were read.
    Incremental,
    /// Everything was read again.
    Full,
}

impl Index {
    /// Brings the index up to date with `file` (the whole file, mapped),
    /// whose header says `commit`. `Err` only for a bad header.
    pub(crate) fn update(
        &mut self,
        file: &[u8],
        commit: i32,
    ) -> Result<Update, mmpk_format::Error> {
        let len = file.len() as u64;
        if self.commit == Some(commit) && self.file_len == len {
            return Ok(Update::Unchanged);
        }
        parse_header(file)?;
        let how = if self.commit.is_some() && len >= self.file_len && self.still_valid(file) {
            // Inserts into a room (the file's length unchanged) replaced
            // it: read again from where it was.
            let from = match self.room {
                Some(r) if self.room_changed(file, r) => {
                    self.frames -= 1;
                    self.dead -= 1;
                    self.room = None;
                    self.last = None;
                    r.offset
                }
                _ => self.end,
            };
            self.scan_from(file, from);
            Update::Incremental
        } else {
            *self = Index::default();
            self.scan_from(file, HEADER_LEN as u64);
            Update::Full
        };
        self.commit = Some(commit);
        self.file_len = len;
        Ok(how)
    }

    /// Re-reads what can change in place: the validity bytes of the entries
    /// believed live, and the frame of the last known entry (so a vacuum
    /// that rewrote the file is noticed). Drops entries deleted since.
    /// `false` if the known entries no longer match: rescan everything.
    fn still_valid(&mut self, file: &[u8]) -> bool {
        // The last known frame must still be there, unchanged (a room may
        // have been written into: then the entries before it are).
        if let Some(last) = self.last.filter(|l| Some(*l) != self.room) {
            match parse_entry(file, last.offset as usize) {
                Ok(e) if e.len as u64 == last.len && e.value_offset as u64 == last.value_offset => {
                }
                _ => return false,
            }
        }
        let byte = |l: &Loc| file.get(l.validity_offset() as usize).copied();
        let mut ok = true;
        let mut deleted = 0;
        self.live.retain(|_, l| match byte(l) {
            Some(LIVE) => true,
            Some(mmpk_format::entry::DELETED) => {
                deleted += 1;
                false
            }
            _ => {
                ok = false;
                true
            }
        });
        self.dead += deleted;
        let before = self.shadowed.len();
        self.shadowed.retain(|(_, l)| byte(l) == Some(LIVE));
        let gone = before - self.shadowed.len();
        self.dead += gone as u64;
        if !ok {
            return false;
        }
        // A shadowed entry whose winner was deleted becomes the winner again.
        if !self.shadowed.is_empty() {
            let mut all: Vec<(String, Loc)> = self.shadowed.drain(..).collect();
            all.extend(self.live.take_all());
            all.sort_by_key(|(_, l)| l.offset);
            for (k, l) in all {
                self.add_live(&k, l);
            }
        }
        true
    }

    /// Whether the room `r`, the last frame known, is no longer the frame
    /// there (inserts were written into it).
    fn room_changed(&self, file: &[u8], r: Loc) -> bool {
        match parse_entry(file, r.offset as usize) {
            Ok(e) => e.len as u64 != r.len || !crate::room::is_room(file, &e),
            Err(_) => true,
        }
    }

    /// Records a live entry that comes after every entry known so far.
    pub(crate) fn add_live(&mut self, key: &str, loc: Loc) {
        if let Some(old) = self.live.insert(key, loc) {
            self.shadowed.push((key.to_string(), old));
        }
    }

    /// Reads the frames from `from` on (an entry boundary), as
    /// `mmpk_format::scan` does, adding them to the index.
    ///
    /// Once the scan has read [`PREFAULT_AFTER`] frames with at least
    /// [`PREFAULT_FROM`] bytes still ahead (a large file of many entries), a
    /// second thread hops the rest of the frames ahead of it, so that
    /// mapping the pages (most of the time on such a file) overlaps with
    /// parsing them here. A file of a few large arrays never starts it.
    fn scan_from(&mut self, file: &[u8], from: u64) {
        std::thread::scope(|t| {
            let mut seen = 0u32;
            let ending = mmpk_format::scan::scan_from(file, from as usize, |e| {
                seen += 1;
                if seen == PREFAULT_AFTER {
                    let next = e.offset + e.len;
                    if file.len().saturating_sub(next) >= PREFAULT_FROM {
                        t.spawn(move || mmpk_format::scan::hop_frames(file, next));
                    }
                }
                self.add_scanned(file, &e);
            });
            let replaced = self.live.end_bulk();
            self.shadowed.extend(replaced);
            self.memo_max = self.memo_max.max(1);
            self.end = ending.end as u64;
            self.tail = Some(ending.tail);
        });
    }

    /// Records one frame of a scan (keys are indexed at the scan's end).
    fn add_scanned(&mut self, file: &[u8], e: &mmpk_format::entry::Entry<'_>) {
        self.frames += 1;
        self.memo_max = self.memo_max.max(e.memo_max);
        let loc = Loc {
            offset: e.offset as u64,
            len: e.len as u64,
            value_offset: e.value_offset as u64,
            value_len: e.value_len as u64,
        };
        self.last = Some(loc);
        self.room = crate::room::is_room(file, e).then_some(loc);
        if e.live {
            self.live.bulk_push(e.key, loc);
        } else {
            self.dead += 1;
        }
    }

    /// Where the next entry goes, if the tail allows writing.
    pub(crate) fn write_at(&self) -> Result<u64, mmpk_format::Error> {
        match &self.tail {
            Some(Tail::Corrupt(e)) => Err(e.clone()),
            _ => Ok(self.end),
        }
    }

    /// Live keys in file order.
    pub(crate) fn keys_in_order(&self) -> Vec<(&str, Loc)> {
        let mut v: Vec<(&str, Loc)> = self.live.iter().collect();
        v.sort_by_key(|(_, l)| l.offset);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmpk_format::header::{TERMINATOR, TERMINATOR_LEN};
    use mmpk_format::write::write_entry;
    use mmpk_format::write::write_header;

    fn file(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut f = write_header(1).to_vec();
        for (k, v, live) in entries {
            write_entry(&mut f, k, v, 3, *live).unwrap();
        }
        f.extend_from_slice(&TERMINATOR);
        f
    }

    #[test]
    fn agrees_with_the_format_scan() {
        let f = file(&[
            ("a", b"K\x01", true),
            ("b", b"K\x02", false),
            ("", b"N", false),
            ("a", b"K\x03", true),
        ]);
        let mut idx = Index::default();
        assert_eq!(idx.update(&f, 1).unwrap(), Update::Full);
        let s = mmpk_format::scan(&f).unwrap();
        assert_eq!(idx.tail, Some(s.tail.clone()));
        assert_eq!(idx.end as usize, s.intact_end);
        assert_eq!(idx.memo_max, s.memo_max());
        assert_eq!(idx.live.len(), 1);
        assert_eq!(
            idx.live.get("a").unwrap().offset as usize,
            s.entries[3].entry.offset
        );
        assert_eq!(idx.shadowed.len(), 1);
        assert_eq!(idx.frames, 4);
        assert_eq!(idx.update(&f, 1).unwrap(), Update::Unchanged);
    }

    #[test]
    fn growth_is_incremental_and_deletes_are_seen() {
        let mut f = file(&[("a", b"K\x01", true), ("b", b"K\x02", true)]);
        let mut idx = Index::default();
        idx.update(&f, 1).unwrap();
        // Append c, delete b.
        let t = f.len() - TERMINATOR_LEN;
        f.truncate(t);
        write_entry(&mut f, "c", b"K\x03", 1, true).unwrap();
        f.extend_from_slice(&TERMINATOR);
        let b = idx.live.get("b").unwrap().validity_offset() as usize;
        f[b] = 0x30;
        assert_eq!(idx.update(&f, 2).unwrap(), Update::Incremental);
        let keys: Vec<_> = idx.keys_in_order().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "c"]);
        // A rewritten file (shorter) is rescanned whole.
        let g = file(&[("z", b"K\x09", true)]);
        assert_eq!(idx.update(&g, 0).unwrap(), Update::Full);
        assert_eq!(idx.live.len(), 1);
    }

    #[test]
    fn shadowed_entries_come_back() {
        let mut f = file(&[("a", b"K\x01", true), ("a", b"K\x02", true)]);
        let mut idx = Index::default();
        idx.update(&f, 1).unwrap();
        let win = idx.live.get("a").unwrap();
        f[win.validity_offset() as usize] = 0x30;
        idx.update(&f, 2).unwrap();
        assert_eq!(idx.live.get("a").unwrap().offset, 24);
        assert!(idx.shadowed.is_empty());
    }

    #[test]
    fn inserts_into_a_room_are_read_incrementally() {
        use mmpk_format::write::write_filler;
        let mut f = write_header(1).to_vec();
        write_entry(&mut f, "a", b"K\x01", 3, true).unwrap();
        let at = f.len();
        write_filler(&mut f, 1000).unwrap();
        f.extend_from_slice(&TERMINATOR);
        let mut idx = Index::default();
        idx.update(&f, 1).unwrap();
        assert_eq!(idx.room.map(|r| r.offset), Some(at as u64));
        assert_eq!((idx.frames, idx.dead), (2, 1));
        // An insert into the room: "b", then a smaller room; same length.
        let mut g = Vec::new();
        write_entry(&mut g, "b", b"K\x02", 3, true).unwrap();
        let used = g.len();
        write_filler(&mut g, 1000 - used as u64).unwrap();
        f[at..at + 1000].copy_from_slice(&g);
        assert_eq!(idx.update(&f, 2).unwrap(), Update::Incremental);
        let keys: Vec<_> = idx.keys_in_order().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(idx.room.map(|r| r.offset), Some((at + used) as u64));
        assert_eq!((idx.frames, idx.dead), (3, 1));
        let mut full = Index::default();
        full.update(&f, 2).unwrap();
        assert_eq!(
            (full.frames, full.dead, full.end),
            (idx.frames, idx.dead, idx.end)
        );
        assert_eq!(full.room, idx.room);
    }
}
