//! Maintenance: repair of a torn tail, and vacuum.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mmpk_format::array::{decode_array, Encoding};
use mmpk_format::header::TERMINATOR;
use mmpk_format::plan::{repair_plan, vacuum_plan, Step};
use mmpk_format::scan::Tail;
use mmpk_format::write::write_filler;
use mmpk_format::write::write_header;

use crate::dict::{Dict, Layout, Shared, State};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::io;
use crate::map::Borrows;

/// What [`Dict::repair`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// How the file ended before the repair.
    pub tail: Tail,
    /// Offset where the intact entries end (where the terminator now is).
    pub intact_end: u64,
    /// Bytes cut from the end of the file (a torn or corrupt frame and
    /// anything after it); 0 when nothing was wrong.
    pub dropped: u64,
    /// Whether the file was changed.
    pub changed: bool,
}

impl Dict {
    /// Repairs a file whose end is damaged (a writer killed mid-insert, a
    /// truncated copy, a corrupt frame): the intact entries are kept, a
    /// terminator is written right after them and anything beyond is cut.
    /// A clean file is left unchanged. Run it only while no other process
    /// holds views of the file (it may shrink it).
    pub fn repair(&self) -> Result<RepairReport> {
        self.shared.check_writable("repair")?;
        self.with_lock(|s, st| {
            let len = st.index.file_len;
            // mmpk-format's plan, from the file's bytes.
            let plan = {
                let map = s.index_map_covering(st, len)?;
                let file = &map.all()[..(len as usize).min(map.len())];
                let scan = mmpk_format::scan(file)
                    .map_err(|source| Error::Format { key: None, source })?;
                repair_plan(&scan, file.len())
            };
            let (tail, end) = (plan.tail.clone(), plan.terminator_at as u64);
            if !plan.needed {
                return Ok(RepairReport {
                    tail,
                    intact_end: end,
                    dropped: 0,
                    changed: false,
                });
            }
            let new_len = plan.new_len as u64;
            s.write_at(&TERMINATOR, end, "repair: write terminator")?;
            crate::io::set_len(&s.file(), new_len)
                .map_err(|e| crate::Error::io("repair: truncate", &s.path, e))?;
            s.bump_commit(st)?;
            s.sync()?;
            st.index.file_len = new_len;
            st.index.tail = Some(Tail::Clean);
            Ok(RepairReport {
                tail,
                intact_end: end,
                dropped: len.saturating_sub(new_len),
                changed: true,
            })
        })
    }
}

impl Dict {
    /// Rewrites every live v1 (mmappickle 1.0) array and masked-array entry
    /// in the v2 encoding (insert the new entry, then delete the old one), so
    /// that plain `pickle.load` works with numpy 2.3 and later. Returns the
    /// keys upgraded. Array bytes are copied straight from the map. Refused
    /// ([`Error::Busy`]) for an entry with a live mutable view; entries of
    /// dtypes mmpk does not handle (structured) are left as they are.
    ///
    /// Safe to run while other threads or processes write: each rewrite
    /// replaces exactly the entry it read, so a key replaced meanwhile keeps
    /// its newer value (upgrade reads it again, up to 4 times, and upgrades
    /// that if it is v1), and a key removed meanwhile stays removed.
    ///
    /// The replaced (now deleted) entries keep their v1 bytes, which plain
    /// `pickle.load` still evaluates, and fails on, with numpy 2.3+: follow
    /// with [`Dict::vacuum`] to rescue a file for those readers.
    ///
    /// Failure atomicity: every v1 entry is read and checked first; if one
    /// does not read (a corrupt dtype, a damaged entry), upgrade fails with
    /// that entry's error and nothing is written. A failure while writing
    /// (a full disk) gives [`Error::Incomplete`], naming the entries already
    /// rewritten (each complete); every other entry is as it was. A power
    /// cut leaves every entry old or new (durable mode: the entries rewritten
    /// before the last completed rewrite are new).
    pub fn upgrade(&self) -> Result<Vec<String>> {
        self.shared.check_writable("upgrade")?;
        let keys = self.keys()?;
        for key in &keys {
            match self.upgrade_one(key, true) {
                Ok(_) | Err(Error::KeyNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut done = Vec::new();
        for key in keys {
            for _ in 0..UPGRADE_TRIES {
                match self.upgrade_one(&key, false) {
                    Ok(Upgraded::Yes) => {
                        done.push(key);
                        break;
                    }
                    Ok(Upgraded::Retry) => continue,
                    // Not v1 (any more), or removed meanwhile.
                    Ok(Upgraded::No) | Err(Error::KeyNotFound { .. }) => break,
                    Err(e) if done.is_empty() => return Err(e),
                    Err(e) => {
                        return Err(Error::Incomplete {
                            op: "upgrade",
                            done,
                            source: Box::new(e),
                        })
                    }
                }
            }
        }
        Ok(done)
    }

    /// Rewrites `key` in the v2 layout if it holds a v1 array or masked
    /// array. The new entry replaces exactly the entry read: if another
    /// thread or process replaced `key` in between, nothing is written
    /// ([`Upgraded::Retry`]) and the newer value stays. With `check_only`,
    /// nothing is written: `Yes` says the entry would be rewritten (it reads
    /// whole).
    fn upgrade_one(&self, key: &str, check_only: bool) -> Result<Upgraded> {
        // What the entry holds, read in place (an array's data is not
        // copied to tell its encoding).
        let (found, value_offset) = self.with_value_bytes(key, |b, at| {
            let found = if let Ok(a) = decode_array(b, 0..b.len()) {
                Found::Array(a.encoding)
            } else if let Ok(m) = mmpk_format::masked::read_masked(b, 0..b.len()) {
                Found::Masked(m.encoding, m.mask_kind)
            } else {
                Found::Other
            };
            (found, at)
        })?;
        if let Found::Array(encoding) = found {
            if encoding != Encoding::V1 {
                return Ok(Upgraded::No);
            }
            let old = match self.array(key) {
                Ok(a) => a,
                // A dtype mmpk does not handle (structured, object):
                // left as it is.
                Err(Error::UnsupportedDtype { .. }) => return Ok(Upgraded::No),
                Err(e) => return Err(e),
            };
            if check_only {
                return Ok(Upgraded::Yes);
            }
            let (dtype, shape) = (old.dtype().clone(), old.shape().to_vec());
            let w = self.array_entry(
                key,
                &dtype,
                &shape,
                Some(crate::write::RawData::Bytes(old.bytes())),
                Layout::V2,
                Some(value_offset),
            )?;
            return Ok(if w.is_some() {
                Upgraded::Yes
            } else {
                Upgraded::Retry
            });
        }
        let Found::Masked(Encoding::V1, mask_kind) = found else {
            return Ok(Upgraded::No);
        };
        let mk = match self.masked(key) {
            Ok(m) => m,
            Err(Error::UnsupportedDtype { .. }) => return Ok(Upgraded::No),
            Err(e) => return Err(e),
        };
        if check_only {
            return Ok(Upgraded::Yes);
        }
        let data = mk.data().bytes().to_vec();
        let mask = match mask_kind {
            mmpk_format::masked::MaskKind::Elementwise => Some(mk.mask().bytes().to_vec()),
            _ if mk.mask().bytes() == [0] => None,
            _ => Some(vec![1; mk.data().shape().iter().product()]),
        };
        let dtype = mk.data().dtype().clone();
        let shape = mk.data().shape().to_vec();
        drop(mk);
        let written = self.masked_entry_dtype(
            key,
            &dtype,
            &shape,
            (&data, mask.as_deref()),
            Layout::V2,
            Some(value_offset),
        )?;
        Ok(if written {
            Upgraded::Yes
        } else {
            Upgraded::Retry
        })
    }
}

/// How many times [`Dict::upgrade`] reads a key again after another writer
/// replaced it between the read and the write.
const UPGRADE_TRIES: usize = 4;

/// What an entry holds, for [`Dict::upgrade`].
enum Found {
    Array(Encoding),
    Masked(Encoding, mmpk_format::masked::MaskKind),
    Other,
}

/// What [`Dict::upgrade`] did with one key.
enum Upgraded {
    Yes,
    /// Not a v1 array or masked array: left alone.
    No,
    /// Replaced by another writer meanwhile: read it again.
    Retry,
}

/// What [`Dict::vacuum`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VacuumReport {
    /// File length before.
    pub before: u64,
    /// File length after.
    pub after: u64,
    /// Live entries kept.
    pub live: u64,
    /// Frames dropped (deleted entries, old fillers, shadowed entries).
    pub dropped: u64,
}

impl Dict {
    /// Rewrites the file with only its live entries, in order, recomputing
    /// alignment fillers (v2 layout): reclaims deleted entries and fillers.
    ///
    /// Crash-safe: the new content is written to a temporary file beside
    /// the original, synced, and renamed over it, so a crash leaves either
    /// the old file or the new one. Reserved (never written) array bytes stay
    /// sparse. Refused with [`Error::ViewsAlive`] while this process holds any
    /// [`crate::Array`] or [`crate::ArrayMut`] of the file. A file with
    /// nothing to reclaim is left unchanged, commit number included.
    ///
    /// A dict opened from an open file ([`crate::OpenOptions::open_file`])
    /// is vacuumed in place instead: the live entries are moved within the
    /// file and the file is cut. That is not crash-safe (a process killed
    /// in the middle can lose the entries not yet moved; see
    /// [`crate::OpenOptions::convert_file`] for the same in conversions),
    /// and entries that move are written whole (reserved bytes that move
    /// are no longer sparse).
    ///
    /// Other processes (and other `Dict` values opened separately on the same
    /// path) must not have the file open: they would keep using the old,
    /// unlinked file (docs/format.md section 10: vacuum moves data).
    pub fn vacuum(&self) -> Result<VacuumReport> {
        self.shared.check_writable("vacuum")?;
        let borrows = self.shared.borrows.clone();
        self.with_lock(|s, st| {
            let held = borrows.active();
            // Maps the file has outgrown count too: an in-place vacuum
            // (dicts on an open file) moves and cuts bytes they map.
            let maps = Shared::maps_in_use(st);
            if held > 0 || maps > 0 {
                return Err(Error::ViewsAlive {
                    maps: maps.max(held),
                });
            }
            vacuum_locked(s, st)
        })
    }
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.vacuum-{}", std::process::id()))
}

fn vacuum_locked(s: &Shared, st: &mut State) -> Result<VacuumReport> {
    let before = st.index.file_len;
    let map = s.index_map_covering(st, before)?;
    let fmt = |source| Error::Format { key: None, source };
    // What to keep, copy and pad: mmpk-format's plan over the file's bytes.
    let plan = {
        let file = &map.all()[..(before as usize).min(map.len())];
        let scan = mmpk_format::scan(file).map_err(fmt)?;
        let align = (s.layout == Layout::V2).then_some(s.align);
        vacuum_plan(&scan, file, align).map_err(fmt)?
    };
    if is_identity(&plan, &map.all()[..(before as usize).min(map.len())]) {
        // Nothing to reclaim or to move: the file stays as it is, commit
        // number included (as mmappickle 1.0's vacuum of a compact file).
        return Ok(VacuumReport {
            before,
            after: before,
            live: plan.live as u64,
            dropped: 0,
        });
    }
    if s.abs_path.is_none() {
        // Opened from an open file: no path to rename over.
        drop(map);
        st.map = None;
        st.index_map = None;
        crate::inplace::vacuum_in_place(s, &plan)?;
        st.index = Index::default();
        s.refresh(st)?;
        return Ok(VacuumReport {
            before,
            after: plan.new_len,
            live: plan.live as u64,
            dropped: plan.dropped as u64,
        });
    }
    let src = s.file();
    let tmp = temp_path(&s.path);
    let ioerr = |op| move |e| Error::io(op, &s.path, e);
    let out = io::open(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true),
        &tmp,
        true,
    )
    .map_err(ioerr("vacuum: create temporary file"))?;
    let mut guard = TempGuard(Some(tmp.clone()));
    for step in &plan.steps {
        match step {
            Step::Header { commit } => {
                io::write_all_at(&out, &write_header(*commit), 0).map_err(ioerr("vacuum: write"))?
            }
            Step::Filler { to, len } => {
                let mut buf = Vec::new();
                write_filler(&mut buf, *len).map_err(fmt)?;
                io::write_all_at(&out, &buf, *to).map_err(ioerr("vacuum: write"))?;
            }
            Step::Copy { from, to, len, .. } => {
                copy_sparse(&src, *from, *len, &out, *to).map_err(ioerr("vacuum: write"))?
            }
            Step::Terminator { to } => {
                io::write_all_at(&out, &TERMINATOR, *to).map_err(ioerr("vacuum: write"))?
            }
        }
    }
    let pos = plan.new_len;
    io::set_len(&out, pos).map_err(ioerr("vacuum: write"))?;
    io::sync_all(&out).map_err(ioerr("vacuum: fsync"))?;
    drop(out);
    io::rename(&tmp, &s.path).map_err(ioerr("vacuum: rename"))?;
    guard.0 = None;
    // The rename is done: switch to the new file whatever happens next, but
    // report a failed directory sync (the rename may not survive a power
    // cut) once the dict is consistent again.
    let dir_synced = io::sync_parent_dir(&s.path).map_err(ioerr("vacuum: fsync directory"));
    let new = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&s.path)
        .map_err(ioerr("vacuum: reopen"))?;
    Borrows::register(&s.borrows, &new).map_err(ioerr("vacuum: stat"))?;
    *s.file.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
    drop(map);
    st.map = None;
    st.index_map = None;
    st.index = Index::default();
    s.refresh(st)?;
    dir_synced?;
    Ok(VacuumReport {
        before,
        after: pos,
        live: plan.live as u64,
        dropped: plan.dropped as u64,
    })
}

/// Whether executing `plan` over `file` (the bytes it was made from) would
/// leave every byte but the commit number as it is: every live entry stays
/// where it is and every filler the plan writes is already there, byte for
/// byte (a deleted entry the size of a filler is not).
fn is_identity(plan: &mmpk_format::plan::VacuumPlan, file: &[u8]) -> bool {
    plan.new_len == file.len() as u64
        && plan.steps.iter().all(|step| match step {
            Step::Header { .. } | Step::Terminator { .. } => true,
            Step::Copy { from, to, .. } => from == to,
            Step::Filler { to, len } => {
                let mut buf = Vec::new();
                write_filler(&mut buf, *len).is_ok()
                    && usize::try_from(*to)
                        .ok()
                        .and_then(|at| file.get(at..at.checked_add(buf.len())?))
                        == Some(&buf[..])
            }
        })
}

/// Copies `len` bytes at `from` of `src` to `to` of `out` (with `pread`,
/// so holes are not faulted in), leaving holes where whole chunks are zero:
/// reserved arrays stay sparse.
fn copy_sparse(src: &File, from: u64, len: u64, out: &File, to: u64) -> std::io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let mut buf = vec![0u8; CHUNK.min(len) as usize];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done) as usize;
        src.read_exact_at(&mut buf[..n], from + done)?;
        if buf[..n].iter().any(|&b| b != 0) {
            io::write_all_at(out, &buf[..n], to + done)?;
        }
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files_sit_beside_the_original() {
        let t = temp_path(Path::new("/data/cube.mmpk"));
        assert_eq!(t.parent(), Some(Path::new("/data")));
        assert!(t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".cube.mmpk.vacuum-"));
    }

    #[test]
    fn sparse_copies_skip_zero_chunks() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let src = File::create_new(dir.path().join("s")).unwrap();
        src.set_len(8 << 20).unwrap();
        src.write_all_at(b"xyz", 5 << 20).unwrap();
        let src = File::open(dir.path().join("s")).unwrap();
        let out = File::create_new(dir.path().join("o")).unwrap();
        copy_sparse(&src, 0, 8 << 20, &out, 7).unwrap();
        out.set_len(7 + (8 << 20)).unwrap();
        let mut b = [0u8; 3];
        out.read_exact_at(&mut b, 7 + (5 << 20)).unwrap();
        assert_eq!(&b, b"xyz");
        assert!(out.metadata().unwrap().blocks() * 512 <= 4 << 20);
    }
}
