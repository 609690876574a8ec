//! The room: a filler at the end of a durable writer's file that later
//! inserts are written into, so that their barriers change no file size
//! (docs/format.md section 8, "Room"; docs/design.md, "Durability").
//!
//! A room is an ordinary `BINBYTES` filler (deleted, empty key, memo
//! high-water mark 0) of at least [`MIN_ROOM`] bytes, the last entry before
//! the terminator. Its first [`HEAD_LEN`] bytes (frame head, key op, value
//! op with its length) are the only bytes of it an insert into it changes
//! before its publishing write; that write replaces them, in one 16-byte
//! write inside one 512-byte sector, by the first bytes of the new entries,
//! whose other bytes (and the smaller room after them) were written into
//! the room's payload before the first barrier.
//!
//! Why: an `fdatasync` after a write that grows the file must also journal
//! the new size (and the new blocks), and costs more than one after a write
//! within the file's size; a durable insert into a room makes both of its
//! barriers of the cheaper kind. Rooms are made and used by durable writers
//! in the v2 layout only (the mmappickle 1.0 layout writes no fillers; the
//! default mode makes no barriers, so a room would only cost space).

use mmpk_format::entry::Entry;

/// Bytes an insert into a room replaces in its publishing write: `FRAME`
/// and its length (9), `SHORT_BINUNICODE` of the empty key (2), `BINBYTES`
/// and its length (5).
pub(crate) const HEAD_LEN: usize = 16;

/// The room's last bytes: memo high-water mark 0 and `POP POP` (deleted).
pub(crate) const TAIL: [u8; 8] = [0x4a, 0, 0, 0, 0, 0x30, 0x30, 0x30];

/// The shortest room: a `BINBYTES` filler (277 bytes and more, format
/// section 8).
pub(crate) const MIN_ROOM: u64 = mmpk_format::filler::MIN_BINBYTES_FILLER_LEN;

/// The sector a publishing write must stay within (the crash model's and
/// the disks' unit of atomic writes).
pub(crate) const SECTOR: u64 = 512;

/// Entries (with their alignment filler) of at most this many bytes get a
/// room after them when appended durably; larger ones are appended as they
/// are (their data's write-back dwarfs the barriers).
pub(crate) const ROOM_FOR: u64 = 64 << 10;

/// Length of the room made at the end of a file of `file_len` bytes: an
/// eighth of the file, from 64 KiB to 1 MiB.
pub(crate) fn room_len(file_len: u64) -> u64 {
    (file_len / 8).clamp(64 << 10, 1 << 20)
}

/// A 20-byte filler, put before a room whose head would otherwise cross a
/// sector boundary (0 when it does not).
pub(crate) fn pad_before(room: u64) -> u64 {
    if crosses_sector(room) {
        mmpk_format::filler::MIN_FILLER_LEN
    } else {
        0
    }
}

/// Whether a publishing write at `at` ([`HEAD_LEN`] bytes) would cross a
/// sector boundary.
pub(crate) fn crosses_sector(at: u64) -> bool {
    at % SECTOR > SECTOR - HEAD_LEN as u64
}

/// The first [`HEAD_LEN`] bytes of a room of `len` bytes (`len` at least
/// [`MIN_ROOM`], at most 4 GiB of payload).
pub(crate) fn head(len: u64) -> [u8; HEAD_LEN] {
    debug_assert!(len >= MIN_ROOM);
    let mut h = [0u8; HEAD_LEN];
    h[0] = 0x95;
    h[1..9].copy_from_slice(&(len - 9).to_le_bytes());
    h[9] = 0x8c;
    h[10] = 0;
    h[11] = 0x42;
    let payload = u32::try_from(len - 24).unwrap_or(u32::MAX);
    h[12..16].copy_from_slice(&payload.to_le_bytes());
    h
}

/// Whether `e` has a room's shape: deleted, empty key, memo high-water
/// mark 0, a `BINBYTES` value filling the frame, at least [`MIN_ROOM`]
/// bytes. Only its head is read: the payload may hold the bytes of an
/// insert that never reached its publishing write (they are overwritten by
/// the next one).
pub(crate) fn is_room(file: &[u8], e: &Entry<'_>) -> bool {
    if e.live || !e.key.is_empty() || e.memo_max != 0 || (e.len as u64) < MIN_ROOM {
        return false;
    }
    match file.get(e.value_offset..e.value_offset + 5) {
        Some([0x42, a, b, c, d]) => {
            u32::from_le_bytes([*a, *b, *c, *d]) as usize + 5 == e.value_len
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmpk_format::entry::parse_entry;
    use mmpk_format::write::write_filler;

    #[test]
    fn a_room_is_a_binbytes_filler() {
        for len in [MIN_ROOM, 300, 64 << 10] {
            let mut f = Vec::new();
            write_filler(&mut f, len).unwrap();
            assert_eq!(f.len() as u64, len);
            assert_eq!(f[..HEAD_LEN], head(len));
            assert_eq!(f[f.len() - 8..], TAIL);
            let e = parse_entry(&f, 0).unwrap();
            assert!(mmpk_format::entry::is_filler(&f, &e));
            assert!(is_room(&f, &e));
        }
        // Shorter fillers are not rooms (their value is not BINBYTES).
        let mut f = Vec::new();
        write_filler(&mut f, MIN_ROOM - 1).unwrap();
        assert!(!is_room(&f, &parse_entry(&f, 0).unwrap()));
        // Nor is a live entry or one with a key.
        let mut g = Vec::new();
        mmpk_format::write::write_entry(&mut g, "k", &f[11..f.len() - 8], 0, false).unwrap();
        assert!(!is_room(&g, &parse_entry(&g, 0).unwrap()));
    }

    #[test]
    fn publishing_writes_stay_in_one_sector() {
        for at in 0..2 * SECTOR {
            let pad = pad_before(at);
            let room = at + pad;
            assert!(!crosses_sector(room), "{at}");
            assert_eq!(room / SECTOR, (room + HEAD_LEN as u64 - 1) / SECTOR);
            assert_eq!(pad == 0, !crosses_sector(at));
        }
        assert_eq!(room_len(0), 64 << 10);
        assert_eq!(room_len(1 << 30), 1 << 20);
    }
}
