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
use mmpk_format::write::write_filler;

use crate::dict::{check_key, Dict, Shared, State};
use crate::error::{Error, Result};
use crate::index::Loc;

/// Array data of at least this many bytes is preallocated before it is
/// written ([`crate::platform::preallocate`], through `crate::io`).
const PREALLOCATE_FROM: u64 = 1 << 20;

/// Writes the raw data of an entry at a file offset.
pub(crate) type DataWriter<'a> = &'a mut dyn FnMut(&std::fs::File, u64) -> io::Result<()>;

/// One entry to write.
pub(crate) struct NewEntry<'a> {
    pub key: &'a str,
    /// The value's ops before the raw data (all of them for a value without
    /// raw data).
    pub prefix: Vec<u8>,
    /// Length of the raw data.
    pub data_len: u64,
    /// Writes the raw data; `None` leaves it unwritten (sparse: zeros).
    pub data: Option<DataWriter<'a>>,
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

pub(crate) fn insert_locked(s: &Shared, st: &mut State, mut e: NewEntry<'_>) -> Result<Written> {
    let t = st.index.write_at().map_err(|source| Error::Corrupt {
        offset: st.index.end,
        source,
    })?;
    let k = e.key.len();
    let overflow = || Error::Format {
        key: Some(e.key.to_string()),
        source: mmpk_format::Error::Overflow {
            offset: usize::try_from(t).unwrap_or(usize::MAX),
        },
    };
    let value_len = (e.prefix.len() as u64)
        .checked_add(e.data_len)
        .and_then(|v| v.checked_add(e.suffix.len() as u64))
        .ok_or_else(overflow)?;
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
    // Head: filler, frame head, key, value prefix.
    let mut head = Vec::with_capacity(filler as usize + 11 + k + e.prefix.len());
    write_filler(&mut head, filler).map_err(|source| Error::Format { key: None, source })?;
    let entry_offset = t + filler;
    head.push(0x95);
    head.extend_from_slice(&(entry_len - FRAME_HEAD_LEN as u64).to_le_bytes());
    head.push(0x8c);
    head.push(k as u8);
    head.extend_from_slice(e.key.as_bytes());
    head.extend_from_slice(&e.prefix);
    let data_offset = t + head.len() as u64;
    // Tail: value suffix, memo max, validity, new terminator.
    let mut tail = e.suffix.clone();
    tail.push(0x4a);
    tail.extend_from_slice(&memo.to_le_bytes());
    tail.extend_from_slice(&[0x30, LIVE, 0x30]);
    tail.extend_from_slice(&TERMINATOR);
    let tail_offset = data_offset.checked_add(e.data_len).ok_or_else(overflow)?;
    let new_len = tail_offset
        .checked_add(tail.len() as u64)
        .ok_or_else(overflow)?;

    // A torn tail longer than what we overwrite: cut it (keeping the old
    // terminator's 11 bytes), so a reserved array's bytes read as zeros.
    let keep = t + TERMINATOR.len() as u64;
    if st.index.file_len > keep {
        crate::io::set_len(&s.file(), keep)
            .map_err(|err| Error::io("truncate torn tail", &s.path, err))?;
        st.index.file_len = keep;
    }
    // 1. Everything but the first frame head. With data: the data first,
    // appended to the file (as np.save writes; faster than filling a hole),
    // then the tail. Without (a reservation): the tail first, so the
    // array's bytes are a hole.
    if let Some(w) = e.data.as_mut() {
        if e.data_len >= PREALLOCATE_FROM {
            // Best effort: a filesystem without fallocate just writes.
            let _ = crate::io::preallocate(&s.file(), data_offset, e.data_len);
        }
        w(&s.file(), data_offset).map_err(|err| Error::io("write array data", &s.path, err))?;
    }
    s.write_at(&tail, tail_offset, "write entry")?;
    s.write_at(
        &head[FRAME_HEAD_LEN..],
        t + FRAME_HEAD_LEN as u64,
        "write entry",
    )?;
    // 2.
    s.sync()?;
    // 3.
    s.bump_commit(st)?;
    // 4.
    s.write_at(&head[..FRAME_HEAD_LEN], t, "write frame head")?;
    // 5.
    s.sync()?;
    let loc = Loc {
        offset: entry_offset,
        len: entry_len,
        value_offset: entry_offset + 11 + k as u64,
        value_len,
    };
    {
        let ix = &mut st.index;
        ix.file_len = new_len;
        ix.end = new_len - TERMINATOR.len() as u64;
        ix.tail = Some(mmpk_format::scan::Tail::Clean);
        ix.memo_max = ix.memo_max.max(e.memo_max);
        ix.frames += 1 + u64::from(filler > 0);
        ix.dead += u64::from(filler > 0);
        ix.last = Some(loc);
    }
    // The shadowed entries' deletes need no barrier (see delete_locked).
    s.delete_locked(st, e.key, false)?;
    st.index.add_live(e.key, loc);
    Ok(Written { loc, data_offset })
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
}
