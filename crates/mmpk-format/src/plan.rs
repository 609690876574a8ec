//! Repair and vacuum as plans: pure functions that say which byte ranges to
//! keep, copy and cut, and where fillers and the terminator go. The `mmpk`
//! crate executes them on files (with its locks, temporary files and
//! `fsync`s); here they are computed from bytes alone, so they can be
//! tested and fuzzed without files.
//!
//! ```
//! use mmpk_format::{header, plan, scan::scan, write::{write_entry, write_header}};
//!
//! let mut file = write_header(1).to_vec();
//! write_entry(&mut file, "a", b"K\x01", 1, true)?;
//! let torn = file.len();
//! write_entry(&mut file, "b", b"K\x02", 1, true)?;
//! file.truncate(torn + 5); // a writer died inside "b"'s frame
//! let p = plan::repair_plan(&scan(&file)?, file.len());
//! assert_eq!((p.terminator_at, p.new_len), (torn, torn + header::TERMINATOR_LEN));
//! # Ok::<(), mmpk_format::Error>(())
//! ```

use crate::array::read_array;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::filler::filler_len;
use crate::header::{HEADER_LEN, TERMINATOR_LEN};
use crate::masked::read_masked;
use crate::scan::{EntryKind, Scan, Tail};

/// What a repair does: write the terminator at `terminator_at` (right after
/// the intact entries) and cut the file to `new_len`. Nothing is needed for
/// a clean file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairPlan {
    /// How the file ended.
    pub tail: Tail,
    /// Whether the file must change.
    pub needed: bool,
    /// Where the terminator goes.
    pub terminator_at: usize,
    /// The file's length after the repair.
    pub new_len: usize,
    /// Bytes beyond the intact entries that are cut (a torn or corrupt
    /// frame and what follows it, or bytes after the terminator).
    pub dropped: usize,
}

/// The repair of a scanned file of `file_len` bytes: every complete entry
/// is kept, a terminator follows them, the rest is cut.
pub fn repair_plan(scan: &Scan<'_>, file_len: usize) -> RepairPlan {
    let at = scan.intact_end;
    let new_len = at + TERMINATOR_LEN;
    RepairPlan {
        tail: scan.tail.clone(),
        needed: scan.tail != Tail::Clean,
        terminator_at: at,
        new_len,
        dropped: file_len.saturating_sub(new_len),
    }
}

/// One step of a vacuum: the new file is written from offset 0 by doing
/// these in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The header, with the given commit number, at offset 0.
    Header {
        /// The new commit number.
        commit: i32,
    },
    /// A filler entry of `len` bytes at `to` (see [`crate::filler`]).
    Filler {
        /// Where it goes in the new file.
        to: u64,
        /// Its length (at least 20).
        len: u64,
    },
    /// `len` bytes copied from `from` in the old file to `to` in the new one:
    /// one whole live entry.
    Copy {
        /// The key of the entry copied.
        key: String,
        /// Offset in the old file.
        from: u64,
        /// Offset in the new file.
        to: u64,
        /// Length of the entry.
        len: u64,
    },
    /// The terminator at `to`.
    Terminator {
        /// Where it goes.
        to: u64,
    },
}

/// A vacuum: the steps that write the new file, and what it reclaims.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VacuumPlan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The new file's length.
    pub new_len: u64,
    /// Live entries kept.
    pub live: usize,
    /// Entries dropped: deleted ones, fillers, and live entries shadowed
    /// by a later live entry of the same key.
    pub dropped: usize,
}

/// Offset, from its entry's start, of the raw bytes an entry's array (or a
/// masked array's data) starts at, if it is one.
fn data_rel(file: &[u8], e: &Entry<'_>) -> Option<u64> {
    let span = e.value_span();
    let start = read_array(file, span.clone())
        .map(|a| a.data.start)
        .or_else(|_| read_masked(file, span).map(|m| m.data.data.start))
        .ok()?;
    start.checked_sub(e.offset).map(|r| r as u64)
}

/// The vacuum of a scanned file: the latest live entry of each key, in file
/// order, each array entry's raw bytes aligned to `align` by a filler when
/// `align` is given (the v2 layout; `None` writes no fillers, as
/// mmappickle 1.0 does), then the terminator. The commit number is the old
/// one plus one. `file` is the bytes that were scanned.
pub fn vacuum_plan(scan: &Scan<'_>, file: &[u8], align: Option<u64>) -> Result<VacuumPlan> {
    let latest = scan.live_index();
    let mut steps = vec![Step::Header {
        commit: scan.header.commit.wrapping_add(1),
    }];
    let mut pos = HEADER_LEN as u64;
    let mut live = 0;
    for (i, s) in scan.entries.iter().enumerate() {
        if s.kind != EntryKind::Live || latest.get(s.entry.key) != Some(&i) {
            continue;
        }
        let e = &s.entry;
        if let (Some(a), Some(rel)) = (align, data_rel(file, e)) {
            // data_offset(pos, 0, rel - 20) == pos + rel
            let prefix = rel
                .checked_sub(20)
                .ok_or(Error::Overflow { offset: e.offset })?;
            let f = filler_len(pos, 0, prefix as usize, a)?;
            if f > 0 {
                steps.push(Step::Filler { to: pos, len: f });
                pos = pos
                    .checked_add(f)
                    .ok_or(Error::Overflow { offset: e.offset })?;
            }
        }
        steps.push(Step::Copy {
            key: e.key.to_string(),
            from: e.offset as u64,
            to: pos,
            len: e.len as u64,
        });
        pos = pos
            .checked_add(e.len as u64)
            .ok_or(Error::Overflow { offset: e.offset })?;
        live += 1;
    }
    steps.push(Step::Terminator { to: pos });
    Ok(VacuumPlan {
        steps,
        new_len: pos + TERMINATOR_LEN as u64,
        live,
        dropped: scan.entries.len() - live,
    })
}

/// Executes a vacuum plan in memory: the new file's bytes (a reference for
/// tests and for small files; `mmpk` writes the same bytes to a file).
pub fn apply_vacuum(plan: &VacuumPlan, old: &[u8]) -> Result<Vec<u8>> {
    let len = usize::try_from(plan.new_len).map_err(|_| Error::Overflow { offset: 0 })?;
    let mut out = Vec::with_capacity(len);
    for step in &plan.steps {
        match step {
            Step::Header { commit } => out.extend_from_slice(&crate::write::write_header(*commit)),
            Step::Filler { len, .. } => crate::write::write_filler(&mut out, *len)?,
            Step::Copy { from, len, .. } => {
                let (from, n) = (*from as usize, *len as usize);
                let end = from
                    .checked_add(n)
                    .ok_or(Error::Overflow { offset: from })?;
                let bytes = old.get(from..end).ok_or(Error::Truncated {
                    offset: from,
                    needed: *len,
                })?;
                out.extend_from_slice(bytes);
            }
            Step::Terminator { .. } => out.extend_from_slice(&crate::header::TERMINATOR),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TERMINATOR;
    use crate::scan::scan;
    use crate::write::write_entry;
    use crate::write::write_header;

    fn file_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut f = write_header(7).to_vec();
        for (k, v, live) in entries {
            write_entry(&mut f, k, v, 1, *live).unwrap();
        }
        f.extend_from_slice(&TERMINATOR);
        f
    }

    #[test]
    fn clean_files_need_no_repair() {
        let f = file_of(&[("a", b"K\x01", true)]);
        let p = repair_plan(&scan(&f).unwrap(), f.len());
        assert!(!p.needed);
        assert_eq!((p.new_len, p.dropped), (f.len(), 0));
    }

    #[test]
    fn trailing_bytes_and_missing_terminators_are_repaired() {
        let mut f = file_of(&[("a", b"K\x01", true)]);
        f.extend_from_slice(b"junk");
        let p = repair_plan(&scan(&f).unwrap(), f.len());
        assert!(p.needed);
        assert_eq!((p.new_len, p.dropped), (f.len() - 4, 4));
        let f = file_of(&[("a", b"K\x01", true)]);
        let g = &f[..f.len() - TERMINATOR_LEN];
        let p = repair_plan(&scan(g).unwrap(), g.len());
        assert!(p.needed);
        assert_eq!(
            (p.terminator_at, p.new_len, p.dropped),
            (g.len(), f.len(), 0)
        );
    }

    #[test]
    fn vacuum_aligns_every_array_it_keeps() {
        use crate::array::Encoding;
        use crate::dtype::Dtype;
        use crate::write::encode_array;
        let d = Dtype::parse("<f8").unwrap();
        let mut f = write_header(1).to_vec();
        let mut raws = Vec::new();
        for (i, enc) in [Encoding::V2, Encoding::V1, Encoding::V2]
            .into_iter()
            .enumerate()
        {
            let raw: Vec<u8> = (0..24u8).map(|b| b.wrapping_mul(i as u8 + 3)).collect();
            let mut v = Vec::new();
            encode_array(&mut v, enc, &d, &[3], &raw).unwrap();
            // keys of varying length shift the data off any alignment
            write_entry(&mut f, &"k".repeat(i * 7 + 1), &v, 0, true).unwrap();
            write_entry(&mut f, "dead", b"N", 1, false).unwrap();
            raws.push(raw);
        }
        f.extend_from_slice(&TERMINATOR);
        for align in [8u64, 64, 4096] {
            let p = vacuum_plan(&scan(&f).unwrap(), &f, Some(align)).unwrap();
            let new = apply_vacuum(&p, &f).unwrap();
            let t = scan(&new).unwrap();
            assert!(t.is_clean());
            let arrays: Vec<_> = t
                .entries
                .iter()
                .filter(|e| e.kind == EntryKind::Live)
                .map(|e| read_array(&new, e.entry.value_span()).unwrap())
                .collect();
            assert_eq!(arrays.len(), 3);
            for (a, raw) in arrays.iter().zip(&raws) {
                assert_eq!(a.data.start as u64 % align, 0, "align {align}");
                assert_eq!(&new[a.data.clone()], &raw[..]);
            }
        }
        // Without alignment no filler is written.
        let p = vacuum_plan(&scan(&f).unwrap(), &f, None).unwrap();
        assert!(!p.steps.iter().any(|s| matches!(s, Step::Filler { .. })));
    }

    #[test]
    fn vacuum_keeps_the_latest_live_entries_in_order() {
        let f = file_of(&[
            ("a", b"K\x01", true),
            ("b", b"K\x02", false),
            ("a", b"K\x03", true),
            ("c", b"K\x04", true),
        ]);
        let s = scan(&f).unwrap();
        let p = vacuum_plan(&s, &f, Some(64)).unwrap();
        assert_eq!((p.live, p.dropped), (2, 2));
        let new = apply_vacuum(&p, &f).unwrap();
        assert_eq!(new.len() as u64, p.new_len);
        let t = scan(&new).unwrap();
        assert!(t.is_clean());
        assert_eq!(t.header.commit, 8);
        let got: Vec<(&str, &[u8])> = t
            .entries
            .iter()
            .map(|e| (e.entry.key, &new[e.entry.value_span()]))
            .collect();
        assert_eq!(got, [("a", &b"K\x03"[..]), ("c", &b"K\x04"[..])]);
        // Nothing live: header and terminator only.
        let f = file_of(&[("a", b"K\x01", false)]);
        let p = vacuum_plan(&scan(&f).unwrap(), &f, None).unwrap();
        assert_eq!(
            apply_vacuum(&p, &f).unwrap().len(),
            HEADER_LEN + TERMINATOR_LEN
        );
    }
}
