//! Rewriting a file in place, for dicts opened from an open file
//! ([`crate::OpenOptions::open_file`]): an unlinked temporary file has no
//! path to rename a new file over, and the caller's own handle must see the
//! result. Vacuum compacts the live entries within the file and truncates
//! it; conversion writes the converted dict to a temporary file and copies
//! it over the original.
//!
//! # What a crash in the middle leaves
//!
//! Neither is crash-safe, unlike the rename-based vacuum and conversion of a
//! dict opened by path: bytes are moved over bytes the file still needs
//! until the move is complete. A process killed in the middle of an
//! in-place vacuum leaves a file whose entries up to the one being moved
//! are intact, and whose later entries may be lost; opening it may refuse
//! writes until [`crate::Dict::repair`], which keeps the intact entries
//! (the crate's tests kill a vacuum at each of its writes and check that
//! every key the repaired file holds has its value of before). A process
//! killed while a conversion copies back leaves a file that is neither the
//! old pickle nor a complete mmpk file.
//!
//! A power cut is worse than a killed process: the moves are not ordered
//! by syncs (the only `fsync` is the last step), so any subset of the
//! moved sectors may reach the disk, torn at sector boundaries. Syncs
//! between the moves would not make it safe: an entry moved over its own
//! old bytes is lost whenever its move is torn. The
//! crash-state checker enumerates its states (operation "vacuum in place"
//! in RELIABILITY.md, "Power loss") and finds, before the final `fsync`
//! returns: the file opens (after [`crate::Dict::repair`] where needed);
//! entries before the first one that moves keep their values; a later key
//! may be missing, or, when the end of a torn move landed but not its
//! middle, hold bytes that were never its value (an array reading another
//! entry's bytes): a value that reads is not proof it is right. Once the
//! vacuum returned, the vacuumed dict, in either mode. Making it
//! crash-safe would need a journal the format has no place for (readers,
//! mmappickle included, would have to replay it); a file that must survive
//! power loss is opened by path, where vacuum writes a new file and renames
//! it. An unlinked temporary file
//! (`tempfile.TemporaryFile()`) disappears with the process anyway; for a
//! file that must survive a crash, open it by path.

use std::fs::File;
use std::os::unix::fs::FileExt;

use mmpk_format::header::TERMINATOR;
use mmpk_format::plan::{Step, VacuumPlan};
use mmpk_format::write::write_filler;
use mmpk_format::write::write_header;

use crate::dict::Shared;
use crate::error::{Error, Result};
use crate::io;

/// Bytes moved per read and write.
const CHUNK: u64 = 1 << 20;

/// Executes `plan` (computed from this very file) within the file.
///
/// Entries keep their order and their destinations never overlap, so an
/// entry moving towards the start only ever overwrites bytes of earlier
/// entries that moved towards the start too (done first: ascending order),
/// and one moving towards the end only overwrites bytes of later entries
/// that move towards the end (done first: descending order). A filler is
/// written right after its entry is moved (it may cover the entry's old
/// bytes). The terminator, the truncation and the header's new commit
/// number come last.
pub(crate) fn vacuum_in_place(s: &Shared, plan: &VacuumPlan) -> Result<()> {
    let file = s.file();
    let ioerr = |op| move |e| Error::io(op, &s.path, e);
    // Each copy with the filler that precedes it.
    let mut moves: Vec<Move> = Vec::new();
    let mut filler = None;
    let mut header = None;
    let mut terminator = None;
    for step in &plan.steps {
        match step {
            Step::Header { commit } => header = Some(*commit),
            Step::Filler { to, len } => filler = Some((*to, *len)),
            Step::Copy { from, to, len, .. } => moves.push(Move {
                from: *from,
                to: *to,
                len: *len,
                filler: filler.take(),
            }),
            Step::Terminator { to } => terminator = Some(*to),
        }
    }
    let down = moves.iter().filter(|m| m.to <= m.from);
    let up = moves.iter().filter(|m| m.to > m.from).rev();
    for m in down.chain(up) {
        move_bytes(&file, m.from, m.to, m.len).map_err(ioerr("vacuum: move entry"))?;
        if let Some((at, n)) = m.filler {
            let mut buf = Vec::new();
            write_filler(&mut buf, n).map_err(|source| Error::Format { key: None, source })?;
            io::write_all_at(&file, &buf, at).map_err(ioerr("vacuum: write filler"))?;
        }
    }
    if let Some(at) = terminator {
        io::write_all_at(&file, &TERMINATOR, at).map_err(ioerr("vacuum: write terminator"))?;
    }
    io::set_len(&file, plan.new_len).map_err(ioerr("vacuum: truncate"))?;
    if let Some(commit) = header {
        io::write_all_at(&file, &write_header(commit), 0).map_err(ioerr("vacuum: write header"))?;
    }
    io::sync_all(&file).map_err(ioerr("vacuum: fsync"))
}

/// One live entry to move, and the filler (offset, length) to write
/// before its new place.
struct Move {
    from: u64,
    to: u64,
    len: u64,
    filler: Option<(u64, u64)>,
}

/// Moves `len` bytes at `from` to `to` within `file` (memmove order: front
/// to back when moving towards the start, back to front otherwise).
fn move_bytes(file: &File, from: u64, to: u64, len: u64) -> std::io::Result<()> {
    if from == to || len == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; CHUNK.min(len) as usize];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        let at = if to < from { done } else { len - done - n };
        let b = &mut buf[..n as usize];
        file.read_exact_at(b, from + at)?;
        io::write_all_at(file, b, to + at)?;
        done += n;
    }
    Ok(())
}

/// Copies the whole of `src` over `dst` from offset 0 and cuts `dst` to
/// `src`'s length. Zero chunks past `dst`'s old end are skipped (they read
/// as zeros after the length is set), so reserved arrays stay sparse there.
pub(crate) fn copy_over(src: &File, dst: &File) -> std::io::Result<()> {
    let len = src.metadata()?.len();
    let old_len = dst.metadata()?.len();
    let mut buf = vec![0u8; CHUNK.min(len.max(1)) as usize];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done) as usize;
        src.read_exact_at(&mut buf[..n], done)?;
        if done < old_len || buf[..n].iter().any(|&b| b != 0) {
            io::write_all_at(dst, &buf[..n], done)?;
        }
        done += n as u64;
    }
    io::set_len(dst, len)?;
    io::sync_all(dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::tests::{file_with, read_all};

    #[test]
    fn overlapping_moves_in_both_directions_keep_the_bytes() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        for (from, to) in [(100u64, 0u64), (0, 100), (5, CHUNK + 3), (CHUNK + 3, 5)] {
            let len = 2 * CHUNK + 9;
            let (_d, f) = file_with(&data);
            move_bytes(&f, from, to, len).unwrap();
            let got = read_all(&f);
            let (from, to, len) = (from as usize, to as usize, len as usize);
            assert_eq!(&got[to..to + len], &data[from..from + len], "{from}->{to}");
        }
    }

    #[test]
    fn copying_over_cuts_and_keeps_holes_past_the_old_end() {
        use std::os::unix::fs::MetadataExt;
        let (_d, dst) = file_with(&[7u8; 100]);
        let (_d2, src) = file_with(b"abc");
        src.set_len(8 << 20).unwrap();
        src.write_all_at(b"xyz", (8 << 20) - 3).unwrap();
        copy_over(&src, &dst).unwrap();
        let got = read_all(&dst);
        assert_eq!(got.len(), 8 << 20);
        assert_eq!(&got[..3], b"abc");
        assert!(got[3..(8 << 20) - 3].iter().all(|&b| b == 0));
        assert_eq!(&got[(8 << 20) - 3..], b"xyz");
        assert!(dst.metadata().unwrap().blocks() * 512 <= 4 << 20);

        let (_d3, small) = file_with(b"12");
        copy_over(&small, &dst).unwrap();
        assert_eq!(read_all(&dst), b"12");
    }
}
