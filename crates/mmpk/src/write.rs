//! Writing one entry in the crash-safe order of docs/design.md principle 3.
//!
//! With `t` the offset of the old terminator (where the new bytes go):
//! 1. the bytes after the first frame head, up to and including the new
//!    terminator, are written (the raw data last among them, so a reserved
//!    array's hole is never written); the old terminator still ends the dict;
//! 2. (`fsync` when durable)
//! 3. the commit number is incremented, so every other process rescans;
//! 4. the first frame head (9 bytes) is written over the old terminator's:
//!    from this one small write on, the entry (and its filler) are in the
//!    dict;
//! 5. (`fsync` when durable), then the entry this one replaces is deleted.
//!
//! A process killed before step 4 leaves the old dict plus trailing bytes
//! (`Tail::TrailingBytes` or `Tail::BrokenTerminator`), which the next
//! insert overwrites and repair removes.

use std::io;

use mmpk_format::entry::{ENTRY_OVERHEAD, FRAME_HEAD_LEN, LIVE};
use mmpk_format::filler::filler_len;
use mmpk_format::header::TERMINATOR;
use mmpk_format::scan::Tail;
use mmpk_format::write::write_filler;

use crate::dict::{check_key, Dict, Layout, Shared, State};
use crate::error::{Error, Result};
use crate::index::Loc;
use crate::room;

/// A value prefix of at least this many bytes is written from the caller's
/// buffer, after the entry's head, instead of being copied into the head
/// (a large generic value, such as a 10^6-entry dict's 35 MB of ops: the
/// copy and its fresh pages cost more than the extra `pwrite`).
const WRITE_PREFIX_APART_FROM: usize = 64 << 10;

/// Array data of at least this many bytes is preallocated before it is
/// written ([`crate::platform::preallocate`], through `crate::io`), as
/// numpy's `tofile` (`np.save`) does: measured on ext4, writing into the
/// preallocated range costs less CPU than delayed allocation at 256 KiB
/// to 1 GiB (docs/design.md, "Writing a large array").
const PREALLOCATE_FROM: u64 = 1 << 20;

/// Writes the raw data of an entry at a file offset.
pub(crate) type DataWriter<'a> = &'a mut dyn FnMut(&std::fs::File, u64) -> io::Result<()>;

/// The raw data of an entry.
pub(crate) enum RawData<'a> {
    /// Bytes in memory, written with one positioned write.
    Bytes(&'a [u8]),
    /// Writes the raw data at a file offset.
    Writer(DataWriter<'a>),
}

impl RawData<'_> {
    /// Writes `len` bytes at `offset` of `f`. `appended`: the range lies
    /// past the end of the file (not in a room), so a large one is first
    /// preallocated (best effort: a filesystem without fallocate just
    /// writes).
    fn write(
        &mut self,
        f: &std::fs::File,
        offset: u64,
        len: u64,
        appended: bool,
    ) -> io::Result<()> {
        if appended && len >= PREALLOCATE_FROM {
            let _ = crate::io::preallocate(f, offset, len);
        }
        match self {
            RawData::Bytes(b) => crate::io::write_all_at(f, b, offset),
            RawData::Writer(w) => w(f, offset),
        }
    }
}

/// One entry to write.
pub(crate) struct NewEntry<'a> {
    pub key: &'a str,
    /// The value's ops before the raw data (all of them for a value without
    /// raw data).
    pub prefix: Vec<u8>,
    /// Length of the raw data.
    pub data_len: u64,
    /// The raw data; `None` leaves it unwritten (sparse: zeros).
    pub data: Option<RawData<'a>>,
    /// The value's ops after the raw data.
    pub suffix: Vec<u8>,
    /// The entry's memo max.
    pub memo_max: u32,
    /// Put an alignment filler before the entry so the raw data lands on the
    /// dict's alignment (v2 layout).
    pub align_data: bool,
}

/// Where the written entry's parts are.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)]
pub(crate) struct Written {
    pub loc: Loc,
    pub data_offset: u64,
}

impl Dict {
    /// Writes `e` as a new live entry, deleting the entry it replaces.
    pub(crate) fn insert_entry(&self, e: NewEntry<'_>) -> Result<Written> {
        self.shared.check_writable("insert")?;
        check_key(e.key)?;
        self.with_lock(|s, st| insert_locked(s, st, e))
    }

    /// [`Dict::insert_entry`] if `key`'s live entry still has its value at
    /// `value_offset` (the entry the caller read and rewrites); `None`, and
    /// nothing written, if another thread or process replaced or removed it
    /// meanwhile: its newer value stays.
    pub(crate) fn replace_entry_if(
        &self,
        e: NewEntry<'_>,
        value_offset: u64,
    ) -> Result<Option<Written>> {
        self.shared.check_writable("insert")?;
        check_key(e.key)?;
        self.with_lock(|s, st| {
            if st.index.live.get(e.key).map(|l| l.value_offset) != Some(value_offset) {
                return Ok(None);
            }
            insert_locked(s, st, e).map(Some)
        })
    }
}

/// Where an entry's parts go when its first byte is at `t`.
struct Parts {
    /// Length of the alignment filler at `t` (0: none).
    filler: u64,
    /// Filler, frame head, key and (when `prefix_apart` is false) value
    /// prefix, written at `t`.
    head: Vec<u8>,
    /// The value prefix is not in `head`: it follows it, written from
    /// [`NewEntry::prefix`] (at least [`WRITE_PREFIX_APART_FROM`] bytes).
    prefix_apart: bool,
    entry_offset: u64,
    entry_len: u64,
    data_offset: u64,
    /// Value suffix, memo max, validity, written at `tail_offset`.
    tail: Vec<u8>,
    tail_offset: u64,
}

impl Parts {
    /// Where the entry ends.
    fn end(&self) -> u64 {
        self.tail_offset + self.tail.len() as u64
    }

    /// The bytes written at `t`, in order: the head, then the value prefix
    /// when it is not in the head.
    fn at_t<'a>(&'a self, e: &'a NewEntry<'_>) -> [&'a [u8]; 2] {
        let apart: &[u8] = if self.prefix_apart { &e.prefix } else { &[] };
        [&self.head, apart]
    }
}

/// Writes the bytes `range` of the concatenation of `parts` (which starts
/// at file offset `t`) at `t + range.start`, one `pwrite` per part touched.
fn write_range(
    s: &Shared,
    parts: &[&[u8]],
    t: u64,
    range: std::ops::Range<usize>,
    op: &'static str,
) -> Result<()> {
    let mut at = 0;
    for part in parts {
        let (lo, hi) = (range.start.max(at), range.end.min(at + part.len()));
        if lo < hi {
            s.write_at(&part[lo - at..hi - at], t + lo as u64, op)?;
        }
        at += part.len();
    }
    Ok(())
}

fn parts(s: &Shared, e: &NewEntry<'_>, t: u64, value_len: u64, memo: i32) -> Result<Parts> {
    let k = e.key.len();
    let overflow = || Error::Format {
        key: Some(e.key.to_string()),
        source: mmpk_format::Error::Overflow {
            offset: usize::try_from(t).unwrap_or(usize::MAX),
        },
    };
    let filler = if e.align_data {
        let prefix_before_data = e.prefix.len().saturating_sub(9);
        filler_len(t, k, prefix_before_data, s.align).map_err(|source| Error::Format {
            key: Some(e.key.to_string()),
            source,
        })?
    } else {
        0
    };
    let entry_len = (ENTRY_OVERHEAD as u64 + k as u64)
        .checked_add(value_len)
        .ok_or_else(overflow)?;
    let prefix_apart = e.prefix.len() >= WRITE_PREFIX_APART_FROM;
    let in_head = if prefix_apart { 0 } else { e.prefix.len() };
    let mut head = Vec::with_capacity(filler as usize + 11 + k + in_head);
    write_filler(&mut head, filler).map_err(|source| Error::Format { key: None, source })?;
    head.push(0x95);
    head.extend_from_slice(&(entry_len - FRAME_HEAD_LEN as u64).to_le_bytes());
    head.push(0x8c);
    head.push(k as u8);
    head.extend_from_slice(e.key.as_bytes());
    head.extend_from_slice(&e.prefix[..in_head]);
    let data_offset = t + (head.len() + e.prefix.len() - in_head) as u64;
    let mut tail = e.suffix.clone();
    tail.push(0x4a);
    tail.extend_from_slice(&memo.to_le_bytes());
    tail.extend_from_slice(&[0x30, LIVE, 0x30]);
    let tail_offset = data_offset.checked_add(e.data_len).ok_or_else(overflow)?;
    tail_offset
        .checked_add(tail.len() as u64 + 1 + room::ROOM_FOR + (1 << 20))
        .ok_or_else(overflow)?;
    Ok(Parts {
        filler,
        head,
        prefix_apart,
        entry_offset: t + filler,
        entry_len,
        data_offset,
        tail,
        tail_offset,
    })
}

/// The room an insert may be written into: the last entry before the
/// terminator, room-shaped, in a file that ends cleanly, with a head that a
/// publishing write does not tear (module `room`).
fn usable_room(s: &Shared, st: &State, end: u64) -> Option<Loc> {
    let ix = &st.index;
    let r = ix.room?;
    let ok = s.durable
        && s.layout == Layout::V2
        && ix.tail == Some(Tail::Clean)
        && ix.file_len == end + TERMINATOR.len() as u64
        && r.end() == end
        && !room::crosses_sector(r.offset);
    ok.then_some(r)
}

pub(crate) fn insert_locked(s: &Shared, st: &mut State, mut e: NewEntry<'_>) -> Result<Written> {
    let end = st.index.write_at().map_err(|source| Error::Corrupt {
        offset: st.index.end,
        source,
    })?;
    let value_len = (e.prefix.len() as u64)
        .checked_add(e.data_len)
        .and_then(|v| v.checked_add(e.suffix.len() as u64))
        .ok_or_else(|| Error::Format {
            key: Some(e.key.to_string()),
            source: mmpk_format::Error::Overflow {
                offset: usize::try_from(end).unwrap_or(usize::MAX),
            },
        })?;
    if value_len == 0 {
        return Err(Error::Format {
            key: Some(e.key.to_string()),
            source: mmpk_format::Error::EmptyValue,
        });
    }
    let memo = i32::try_from(e.memo_max).map_err(|_| Error::Format {
        key: Some(e.key.to_string()),
        source: mmpk_format::Error::MemoMaxTooLarge {
            memo_max: e.memo_max,
        },
    })?;
    // Into the room if the entry fits with a room left after it (and its
    // first 16 bytes are its head's, or it has no raw data to come between).
    let in_room = usable_room(s, st, end).and_then(|r| {
        let p = parts(s, &e, r.offset, value_len, memo).ok()?;
        let next = p.end() + room::pad_before(p.end());
        let fits = next.checked_add(room::MIN_ROOM)? <= r.end()
            && (e.data_len == 0 || p.data_offset - r.offset >= room::HEAD_LEN as u64);
        fits.then_some((r, p))
    });
    let (room_used, mut p) = match in_room {
        Some((r, p)) => (Some(r), p),
        None => (None, parts(s, &e, end, value_len, memo)?),
    };
    let t = room_used.map_or(end, |r| r.offset);
    let group = p.end() - t;
    let pad = room::pad_before(p.end());
    // What follows the entry: the rest of the room it was written into (its
    // head; its tail and the terminator are there), or, appended, a new
    // room (durable, v2, a small entry) and a new terminator.
    let new_room = match room_used {
        Some(r) => Some(r.end() - (p.end() + pad)),
        None if s.durable && s.layout == Layout::V2 && group <= room::ROOM_FOR => {
            Some(room::room_len(p.end()))
        }
        None => None,
    };
    if new_room.is_some() {
        write_filler(&mut p.tail, pad).map_err(|source| Error::Format { key: None, source })?;
    }
    let room_offset = p.end();
    if let Some(len) = new_room {
        p.tail.extend_from_slice(&room::head(len));
        if room_used.is_none() {
            p.tail
                .resize(p.tail.len() + (len as usize - room::HEAD_LEN - 8), 0);
            p.tail.extend_from_slice(&room::TAIL);
        }
    }
    if room_used.is_none() {
        p.tail.extend_from_slice(&TERMINATOR);
    }
    let new_len = match room_used {
        Some(_) => st.index.file_len,
        None => p.end(),
    };
    // Without raw data the tail follows the head: one buffer (unless the
    // value is written apart).
    if e.data_len == 0 && !p.prefix_apart {
        let tail = std::mem::take(&mut p.tail);
        p.head.extend_from_slice(&tail);
        p.tail_offset = t + p.head.len() as u64;
    }
    // The bytes of the publishing write: the frame head over the old
    // terminator's, or the room's head.
    let publish = if room_used.is_some() {
        room::HEAD_LEN
    } else {
        FRAME_HEAD_LEN
    };

    // A torn tail longer than what we overwrite: cut it (keeping the old
    // terminator's 11 bytes), so a reserved array's bytes read as zeros.
    let keep = end + TERMINATOR.len() as u64;
    if room_used.is_none() && st.index.file_len > keep {
        crate::io::set_len(&s.file(), keep)
            .map_err(|err| Error::io("truncate torn tail", &s.path, err))?;
        st.index.file_len = keep;
    }
    // 1. Everything but the publishing write. With data: the data first,
    // appended to the file (as np.save writes; faster than filling a hole),
    // then the tail. Without (a reservation): the tail first, so the
    // array's bytes are a hole; in a room, whose payload may hold an
    // unpublished insert's bytes, they are written as zeros.
    match e.data.as_mut() {
        Some(d) => {
            let appended = room_used.is_none();
            d.write(&s.file(), p.data_offset, e.data_len, appended)
                .map_err(|err| Error::io("write array data", &s.path, err))?;
        }
        None if room_used.is_some() && e.data_len > 0 => {
            s.write_at(&vec![0; e.data_len as usize], p.data_offset, "write entry")?;
        }
        None => {}
    }
    let at_t = p.at_t(&e);
    let at_t_len = at_t.iter().map(|b| b.len()).sum();
    // A value written apart goes first: appended, as one large write.
    if p.prefix_apart {
        write_range(s, &at_t, t, publish..at_t_len, "write entry")?;
    }
    if !p.tail.is_empty() {
        s.write_at(&p.tail, p.tail_offset, "write entry")?;
    }
    if !p.prefix_apart {
        s.write_at(&p.head[publish..], t + publish as u64, "write entry")?;
    }
    // 2.
    s.sync()?;
    // 3.
    s.bump_commit(st)?;
    // 4.
    // One write, whatever parts it spans (it must not tear).
    let first: Vec<u8> = at_t
        .iter()
        .flat_map(|b| b.iter())
        .take(publish)
        .copied()
        .collect();
    s.write_at(&first, t, "write frame head")?;
    // 5.
    s.sync()?;
    let k = e.key.len() as u64;
    let loc = Loc {
        offset: p.entry_offset,
        len: p.entry_len,
        value_offset: p.entry_offset + 11 + k,
        value_len,
    };
    {
        let ix = &mut st.index;
        let room_loc = new_room.map(|len| Loc {
            offset: room_offset,
            len,
            value_offset: room_offset + 11,
            value_len: len - ENTRY_OVERHEAD as u64,
        });
        // Frames added: filler, entry, pad, room; the room written into
        // is gone (it was a dead frame).
        let dead_new = u64::from(p.filler > 0)
            + u64::from(pad > 0 && new_room.is_some())
            + u64::from(new_room.is_some());
        let gone = u64::from(room_used.is_some());
        ix.file_len = new_len;
        ix.end = new_len - TERMINATOR.len() as u64;
        ix.tail = Some(Tail::Clean);
        ix.memo_max = ix.memo_max.max(e.memo_max);
        ix.frames = ix.frames + 1 + dead_new - gone;
        ix.dead = ix.dead + dead_new - gone;
        ix.last = Some(room_loc.unwrap_or(loc));
        ix.room = room_loc;
    }
    // The shadowed entries' deletes need no barrier (see delete_locked).
    s.delete_locked(st, e.key, false)?;
    st.index.add_live(e.key, loc);
    Ok(Written {
        loc,
        data_offset: p.data_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_land_after_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mmpk");
        let d = crate::dict::test_dict(&p, crate::Layout::V2);
        let w = d
            .insert_entry(NewEntry {
                key: "a",
                prefix: b"K\x05".to_vec(),
                data_len: 0,
                data: None,
                suffix: Vec::new(),
                memo_max: 0,
                align_data: false,
            })
            .unwrap();
        assert_eq!(w.loc.offset, 24);
        let bytes = std::fs::read(&p).unwrap();
        let s = mmpk_format::scan(&bytes).unwrap();
        assert!(s.is_clean());
        assert_eq!(s.header.commit, 1);
        assert_eq!(&bytes[s.entries[0].entry.value_span()], b"K\x05");
    }

    fn small(key: &str, v: u8) -> NewEntry<'_> {
        NewEntry {
            key,
            prefix: vec![b'K', v],
            data_len: 0,
            data: None,
            suffix: Vec::new(),
            memo_max: 0,
            align_data: false,
        }
    }

    #[test]
    fn replace_entry_if_writes_only_over_the_entry_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mmpk");
        let d = crate::dict::test_dict(&p, crate::Layout::V2);
        let first = d.insert_entry(small("a", 1)).unwrap().loc.value_offset;
        // Another handle (as another process) replaces "a" meanwhile.
        let other = crate::OpenOptions::new().open_accepted(&p).unwrap();
        other.insert_entry(small("a", 2)).unwrap();
        // The rewrite of the entry first read is refused; the newer stays.
        assert!(d.replace_entry_if(small("a", 3), first).unwrap().is_none());
        assert_eq!(d.value_bytes("a").unwrap(), b"K\x02");
        // Over the entry that is there now, it is written.
        let (_, now) = d.value_bytes_at("a").unwrap();
        assert!(d.replace_entry_if(small("a", 4), now).unwrap().is_some());
        assert_eq!(other.value_bytes("a").unwrap(), b"K\x04");
        // A removed key is not brought back.
        let (_, now) = d.value_bytes_at("a").unwrap();
        other.remove("a").unwrap();
        assert!(d.replace_entry_if(small("a", 5), now).unwrap().is_none());
        assert!(!d.contains("a").unwrap());
    }

    fn durable(p: &std::path::Path, layout: crate::Layout) -> Dict {
        crate::OpenOptions::new()
            .create_new(true)
            .durable(true)
            .layout(layout)
            .open_accepted(p)
            .unwrap()
    }

    /// The file's last entry, if it is a room: (offset, length).
    fn room_of(bytes: &[u8]) -> Option<(usize, usize)> {
        let s = mmpk_format::scan(bytes).unwrap();
        assert!(s.is_clean(), "{:?}", s.tail);
        let last = s.entries.last()?;
        (room::is_room(bytes, &last.entry) && last.kind == mmpk_format::scan::EntryKind::Filler)
            .then_some((last.entry.offset, last.entry.len))
    }

    #[test]
    fn durable_inserts_fill_a_room_without_growing_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mmpk");
        let d = durable(&p, crate::Layout::V2);
        d.insert_entry(small("first", 1)).unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        let (at, room_len) = room_of(&std::fs::read(&p).unwrap()).expect("a room");
        assert_eq!(room_len as u64, room::room_len(at as u64));
        assert_eq!(len, (at + room_len + TERMINATOR.len()) as u64);
        // Another handle, as another process, reads along.
        let other = crate::OpenOptions::new().open_accepted(&p).unwrap();
        assert_eq!(other.keys().unwrap(), ["first"]);
        for i in 0..40u8 {
            d.insert_entry(small(&format!("k{i}"), i)).unwrap();
            let a = ndarray::Array1::from_elem(100 + usize::from(i), f64::from(i));
            d.insert_array(&format!("a{i}"), &a).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!(bytes.len() as u64, len, "insert {i} grew the file");
            let (now, _) = room_of(&bytes).expect("a room");
            assert!(!room::crosses_sector(now as u64));
            assert_eq!(other.value_bytes(&format!("k{i}")).unwrap(), [b'K', i]);
        }
        // A replace into the room: the old entry deleted, the new one wins.
        d.insert_entry(small("k3", 99)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
        for h in [&d, &other] {
            assert_eq!(h.value_bytes("k3").unwrap(), b"K\x63");
            assert_eq!(h.keys().unwrap().len(), 81);
            let a = h.array("a7").unwrap();
            assert_eq!(a.view::<f64>().unwrap().sum(), 107.0 * 7.0);
        }
        let fresh = crate::OpenOptions::new().open_accepted(&p).unwrap();
        assert_eq!(fresh.keys().unwrap(), d.keys().unwrap());
    }

    #[test]
    fn a_full_room_is_followed_by_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mmpk");
        let d = durable(&p, crate::Layout::V2);
        let mut lens = Vec::new();
        for i in 0..200usize {
            let a = ndarray::Array1::from_elem(128, i as f64);
            d.insert_array(&format!("k{i}"), &a).unwrap();
            let l = std::fs::metadata(&p).unwrap().len();
            if lens.last() != Some(&l) {
                lens.push(l);
            }
        }
        // 200 KiB of arrays in 64 KiB rooms: a few appends, the rest in rooms.
        assert!((3..=6).contains(&lens.len()), "{lens:?}");
        let bytes = std::fs::read(&p).unwrap();
        assert!(room_of(&bytes).is_some());
        let fresh = crate::OpenOptions::new().open_accepted(&p).unwrap();
        assert_eq!(fresh.len().unwrap(), 200);
        let a = fresh.array("k150").unwrap();
        assert!(a.view::<f64>().unwrap().iter().all(|&x| x == 150.0));
        // An entry too large for the room goes after it, with no new room.
        let big = ndarray::Array1::from_elem(20_000, 1.5f64);
        d.insert_array("big", &big).unwrap();
        assert!(room_of(&std::fs::read(&p).unwrap()).is_none());
    }

    #[test]
    fn only_durable_v2_writers_make_and_use_rooms() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mmpk");
        let d = durable(&p, crate::Layout::Mmappickle1);
        d.insert_entry(small("a", 1)).unwrap();
        assert!(room_of(&std::fs::read(&p).unwrap()).is_none());
        let q = dir.path().join("e.mmpk");
        let d = crate::dict::test_dict(&q, crate::Layout::V2);
        d.insert_entry(small("a", 1)).unwrap();
        assert!(room_of(&std::fs::read(&q).unwrap()).is_none());
        // The default mode appends after a room a durable writer left.
        drop(d);
        let r = dir.path().join("f.mmpk");
        durable(&r, crate::Layout::V2)
            .insert_entry(small("a", 1))
            .unwrap();
        let len = std::fs::metadata(&r).unwrap().len();
        let d = crate::OpenOptions::new().open_accepted(&r).unwrap();
        d.insert_entry(small("b", 2)).unwrap();
        let bytes = std::fs::read(&r).unwrap();
        assert!(bytes.len() as u64 > len);
        assert!(room_of(&bytes).is_none());
        assert!(mmpk_format::scan(&bytes).unwrap().is_clean());
    }

    #[test]
    fn a_room_s_unpublished_bytes_stay_unseen_and_are_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mmpk");
        durable(&p, crate::Layout::V2)
            .insert_entry(small("a", 1))
            .unwrap();
        // An insert that never reached its publishing write (a killed
        // writer): a live entry's bytes in the room's payload, junk after.
        let mut bytes = std::fs::read(&p).unwrap();
        let (at, len) = room_of(&bytes).unwrap();
        let mut ghost = Vec::new();
        mmpk_format::write::write_entry(&mut ghost, "ghost", b"K\x07", 1, true).unwrap();
        bytes[at + room::HEAD_LEN..at + room::HEAD_LEN + ghost.len()].copy_from_slice(&ghost);
        for b in &mut bytes[at + 100..at + len - 8] {
            *b = 0xab;
        }
        std::fs::write(&p, &bytes).unwrap();
        let s = mmpk_format::scan(&bytes).unwrap();
        assert!(s.is_clean());
        assert_eq!(s.live_index().len(), 1);
        let d = crate::OpenOptions::new()
            .durable(true)
            .open_accepted(&p)
            .unwrap();
        assert_eq!(d.keys().unwrap(), ["a"]);
        // The next insert goes into the room all the same; a reservation
        // there reads zeros, not the junk.
        d.reserve::<u8>("r", &[300]).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), bytes.len() as u64);
        assert!(d.array("r").unwrap().bytes().iter().all(|&b| b == 0));
        let fresh = crate::OpenOptions::new().open_accepted(&p).unwrap();
        let mut keys = fresh.keys().unwrap();
        keys.sort();
        assert_eq!(keys, ["a", "r"]);
    }
}
