//! The files a power cut can leave, built from a record of file changes
//! ([`crate::record`]; cargo feature `crash-record`).
//!
//! The model (conservative, after SQLite's crash VFS and the ALICE study):
//!
//! - A file's content is 512-byte sectors. Until a barrier covers it, a
//!   sector written since the last barrier may hold, after a power cut,
//!   any of the values it held since that barrier: the durable one, or the
//!   one after any later write or map store to it. Sectors are independent
//!   of each other, so writes land in any subset and any order, and a
//!   write spanning several sectors may be torn at any sector boundary;
//!   only overlapping writes keep their order (a sector never goes back to
//!   an older value once a newer one is on the disk, since the page cache
//!   holds only the latest).
//! - The size of a file is metadata of its own: any size it had since its
//!   last barrier, independently of the sectors (so an appended region may
//!   read as zeros).
//! - `fsync` and `fdatasync` of a file make everything written to it
//!   durable, size included; `msync(MS_SYNC)` of a range makes the sectors
//!   in it durable (not the size).
//! - Names (creations and renames) are metadata of the directory: they
//!   reach the disk in the order they were made (a journaled filesystem
//!   commits metadata in order), so after a power cut any prefix of the
//!   name changes since the last directory sync holds; a directory `fsync`
//!   makes them all durable. A file's sync does not make its name durable.
//! - A crash may happen at any moment; the states of a crash just before a
//!   barrier include those of any earlier moment since the previous one,
//!   so states are built at each barrier (before it completes) and at the
//!   end of the record.
//!
//! [`crash_states`] calls back once per distinct state of the target path
//! (deduplicated by content), enumerating all combinations where they are
//! at most `limit` per cut, and a seeded sample of `limit` otherwise
//! (including the extremes: everything landed but one sector, nothing but
//! one sector).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::record::{Event, FileId};

/// Sector size: the unit a write may be torn at.
pub const SECTOR: u64 = 512;

/// The files of a directory as they are on the disk (all durable) when
/// recording starts.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    files: HashMap<FileId, Vec<u8>>,
    names: BTreeMap<PathBuf, FileId>,
}

impl Disk {
    /// Reads every regular file of `dir` (not recursively).
    pub fn read_dir(dir: &Path) -> std::io::Result<Disk> {
        use std::os::unix::fs::MetadataExt;
        let mut d = Disk::default();
        let dir = std::fs::canonicalize(dir)?;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let m = e.metadata()?;
            if !m.is_file() {
                continue;
            }
            let id = (m.dev(), m.ino());
            d.files.insert(id, std::fs::read(e.path())?);
            d.names.insert(e.path(), id);
        }
        Ok(d)
    }
}

/// One state a power cut can leave.
#[derive(Debug)]
pub struct CrashState<'a> {
    /// The target file's bytes, `None` if its name does not exist.
    pub content: Option<&'a [u8]>,
    /// The last [`Event::Mark`] before the cut (empty if none).
    pub mark: &'a str,
    /// Whether the cut is at the end of the record (every call returned).
    pub at_end: bool,
}

/// What [`crash_states`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct states given to the callback.
    pub states: u64,
    /// Cuts (barriers and the end) at which states were built.
    pub cuts: u64,
    /// Cuts with more combinations than the limit (sampled).
    pub sampled_cuts: u64,
    /// Combinations at all cuts (saturating).
    pub combinations: u128,
}

#[derive(Clone, Debug, Default)]
struct FileState {
    /// The page cache: what reads see now.
    cache: Vec<u8>,
    /// The disk's durable bytes (reads past them are zeros).
    durable: Vec<u8>,
    /// Sectors changed since their last barrier: the values they held
    /// since (the durable one first).
    pending: BTreeMap<u64, Vec<Vec<u8>>>,
    /// Sizes since the last barrier (the durable one first).
    sizes: Vec<u64>,
}

fn sector_of(bytes: &[u8], s: u64) -> Vec<u8> {
    let start = (s * SECTOR) as usize;
    let mut v = vec![0u8; SECTOR as usize];
    if start < bytes.len() {
        let end = (start + SECTOR as usize).min(bytes.len());
        v[..end - start].copy_from_slice(&bytes[start..end]);
    }
    v
}

impl FileState {
    fn new(bytes: Vec<u8>) -> FileState {
        FileState {
            sizes: vec![bytes.len() as u64],
            cache: bytes.clone(),
            durable: bytes,
            pending: BTreeMap::new(),
        }
    }

    /// Notes the cache's new value of the sectors in `range`.
    fn changed(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        for s in start / SECTOR..end.div_ceil(SECTOR) {
            let now = sector_of(&self.cache, s);
            match self.pending.get_mut(&s) {
                Some(v) => {
                    if v.last() != Some(&now) {
                        v.push(now);
                    }
                }
                None => {
                    let was = sector_of(&self.durable, s);
                    if was != now {
                        self.pending.insert(s, vec![was, now]);
                    }
                }
            }
        }
    }

    fn size_changed(&mut self) {
        let n = self.cache.len() as u64;
        if self.sizes.last() != Some(&n) {
            self.sizes.push(n);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset as usize + data.len();
        if self.cache.len() < end {
            self.cache.resize(end, 0);
        }
        self.cache[offset as usize..end].copy_from_slice(data);
        self.changed(offset, end as u64);
        self.size_changed();
    }

    fn set_len(&mut self, len: u64) {
        let old = self.cache.len() as u64;
        self.cache.resize(len as usize, 0);
        // Sectors cut away read as zeros if the file grows again. When it
        // grows, only sectors that held bytes before can change.
        let held = (self.durable.len() as u64).max(
            self.pending
                .keys()
                .next_back()
                .map_or(0, |s| (s + 1) * SECTOR),
        );
        self.changed(old.min(len), old.max(len).min(held.max(old)));
        self.size_changed();
    }

    fn sync(&mut self) {
        self.durable = self.cache.clone();
        self.pending.clear();
        self.sizes = vec![self.cache.len() as u64];
    }

    fn msync(&mut self, offset: u64, len: u64) {
        let (first, last) = (offset / SECTOR, (offset + len).div_ceil(SECTOR));
        let keys: Vec<u64> = self.pending.range(first..last).map(|(k, _)| *k).collect();
        for s in keys {
            self.pending.remove(&s);
            let start = (s * SECTOR) as usize;
            let v = sector_of(&self.cache, s);
            if self.durable.len() < start + SECTOR as usize {
                self.durable.resize(start + SECTOR as usize, 0);
            }
            self.durable[start..start + SECTOR as usize].copy_from_slice(&v);
        }
    }

    /// Combinations of this file's state.
    fn combinations(&self) -> u128 {
        self.pending
            .values()
            .fold(self.sizes.len() as u128, |a, v| {
                a.saturating_mul(v.len() as u128)
            })
    }

    /// The bytes for one choice: `size` index and a version per pending
    /// sector (in key order).
    fn build(&self, size: usize, versions: &[usize], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.durable);
        for ((s, vs), &i) in self.pending.iter().zip(versions) {
            let start = (*s * SECTOR) as usize;
            if out.len() < start + SECTOR as usize {
                out.resize(start + SECTOR as usize, 0);
            }
            out[start..start + SECTOR as usize].copy_from_slice(&vs[i]);
        }
        out.resize(self.sizes[size] as usize, 0);
    }
}

#[derive(Clone, Debug)]
enum NameOp {
    Link(PathBuf, FileId),
    Rename(PathBuf, PathBuf),
}

struct Model {
    files: HashMap<FileId, FileState>,
    durable_names: BTreeMap<PathBuf, FileId>,
    pending_names: Vec<NameOp>,
    names: BTreeMap<PathBuf, FileId>,
}

fn apply(names: &mut BTreeMap<PathBuf, FileId>, op: &NameOp) {
    match op {
        NameOp::Link(p, f) => {
            names.insert(p.clone(), *f);
        }
        NameOp::Rename(from, to) => {
            if let Some(f) = names.remove(from) {
                names.insert(to.clone(), f);
            }
        }
    }
}

/// A small deterministic generator (xorshift64*), for the samples.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

fn digest(content: Option<&[u8]>, mark: &str, at_end: bool) -> (u64, u64) {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xA5u8.hash(&mut b);
    for h in [&mut a, &mut b] {
        content.hash(h);
        mark.hash(h);
        at_end.hash(h);
    }
    (a.finish(), b.finish())
}

/// Builds the states a power cut can leave of `target` while `events` run
/// on `disk`, and calls `f` once for each distinct one (at most `limit`
/// combinations per cut, sampled with `seed` beyond). Returns the counts.
pub fn crash_states(
    disk: &Disk,
    events: &[Event],
    target: &Path,
    limit: usize,
    seed: u64,
    mut f: impl FnMut(&CrashState<'_>),
) -> Counts {
    let mut m = Model {
        files: disk
            .files
            .iter()
            .map(|(k, v)| (*k, FileState::new(v.clone())))
            .collect(),
        durable_names: disk.names.clone(),
        pending_names: Vec::new(),
        names: disk.names.clone(),
    };
    let mut seen = HashSet::new();
    let mut counts = Counts::default();
    let mut rng = Rng(seed | 1);
    let mut mark = String::new();
    let mut buf = Vec::new();
    let mut emit = |m: &Model, mark: &str, at_end: bool, counts: &mut Counts| {
        counts.cuts += 1;
        // Which file the name may point to: one per prefix of the pending
        // name changes.
        let mut targets: Vec<Option<FileId>> = Vec::new();
        let mut names = m.durable_names.clone();
        targets.push(names.get(target).copied());
        for op in &m.pending_names {
            apply(&mut names, op);
            let t = names.get(target).copied();
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        for t in targets {
            let Some(fs) = t.and_then(|id| m.files.get(&id)) else {
                if seen.insert(digest(None, mark, at_end)) {
                    counts.states += 1;
                    f(&CrashState {
                        content: None,
                        mark,
                        at_end,
                    });
                }
                continue;
            };
            let total = fs.combinations();
            counts.combinations = counts.combinations.saturating_add(total);
            let dims: Vec<usize> = std::iter::once(fs.sizes.len())
                .chain(fs.pending.values().map(Vec::len))
                .collect();
            let mut choices: Vec<Vec<usize>> = Vec::new();
            if total <= limit as u128 {
                // Every combination (mixed radix counting).
                let mut c = vec![0usize; dims.len()];
                loop {
                    choices.push(c.clone());
                    let mut i = 0;
                    while i < c.len() {
                        c[i] += 1;
                        if c[i] < dims[i] {
                            break;
                        }
                        c[i] = 0;
                        i += 1;
                    }
                    if i == c.len() {
                        break;
                    }
                }
            } else {
                counts.sampled_cuts += 1;
                let last: Vec<usize> = dims.iter().map(|d| d - 1).collect();
                let first = vec![0usize; dims.len()];
                choices.push(last.clone());
                choices.push(first.clone());
                // Everything landed but one sector (or the size); nothing
                // but one.
                for i in 0..dims.len() {
                    if choices.len() >= limit / 2 {
                        break;
                    }
                    let mut a = last.clone();
                    a[i] = 0;
                    choices.push(a);
                    let mut b = first.clone();
                    b[i] = dims[i] - 1;
                    choices.push(b);
                }
                while choices.len() < limit {
                    choices.push(dims.iter().map(|&d| rng.below(d)).collect());
                }
            }
            for c in choices {
                fs.build(c[0], &c[1..], &mut buf);
                if seen.insert(digest(Some(&buf), mark, at_end)) {
                    counts.states += 1;
                    f(&CrashState {
                        content: Some(&buf),
                        mark,
                        at_end,
                    });
                }
            }
        }
    };
    for e in events {
        match e {
            Event::Sync { .. } | Event::Msync { .. } | Event::SyncDir { .. } => {
                emit(&m, &mark, false, &mut counts)
            }
            _ => {}
        }
        match e {
            Event::Open { path, file, .. } => {
                if !m.names.contains_key(path) {
                    // A new name; an inode number reused from a file no
                    // name holds any more is a new file.
                    if !m.names.values().any(|f| f == file) {
                        m.files.insert(*file, FileState::new(Vec::new()));
                    }
                    let op = NameOp::Link(path.clone(), *file);
                    apply(&mut m.names, &op);
                    m.pending_names.push(op);
                } else {
                    m.files
                        .entry(*file)
                        .or_insert_with(|| FileState::new(Vec::new()));
                }
            }
            Event::Write { file, offset, data }
            | Event::Copy { file, offset, data }
            | Event::MapStore { file, offset, data } => {
                if let Some(fs) = m.files.get_mut(file) {
                    fs.write(*offset, data);
                }
            }
            Event::SetLen { file, len } => {
                if let Some(fs) = m.files.get_mut(file) {
                    fs.set_len(*len);
                }
            }
            Event::Preallocate { .. } => {}
            Event::Sync { file, .. } => {
                if let Some(fs) = m.files.get_mut(file) {
                    fs.sync();
                }
            }
            Event::Msync {
                file, offset, len, ..
            } => {
                if let Some(fs) = m.files.get_mut(file) {
                    fs.msync(*offset, *len);
                }
            }
            Event::Rename { from, to } => {
                let op = NameOp::Rename(from.clone(), to.clone());
                apply(&mut m.names, &op);
                m.pending_names.push(op);
            }
            Event::SyncDir { .. } => {
                for op in m.pending_names.drain(..) {
                    apply(&mut m.durable_names, &op);
                }
            }
            Event::Mark(l) => mark = l.clone(),
        }
    }
    emit(&m, &mark, true, &mut counts);
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(disk: &Disk, ev: &[Event], target: &str) -> Vec<(Option<Vec<u8>>, bool)> {
        let mut v = Vec::new();
        crash_states(disk, ev, Path::new(target), 10_000, 1, |s| {
            v.push((s.content.map(<[u8]>::to_vec), s.at_end))
        });
        v
    }

    fn disk(files: &[(&str, FileId, &[u8])]) -> Disk {
        let mut d = Disk::default();
        for (p, id, b) in files {
            d.files.insert(*id, b.to_vec());
            d.names.insert(PathBuf::from(p), *id);
        }
        d
    }

    fn w(file: FileId, offset: u64, data: &[u8]) -> Event {
        Event::Write {
            file,
            offset,
            data: data.to_vec(),
        }
    }

    fn sync(file: FileId) -> Event {
        Event::Sync {
            file,
            data_only: true,
            site: String::new(),
        }
    }

    #[test]
    fn unsynced_writes_land_in_any_subset_torn_at_sectors() {
        let d = disk(&[("/f", (1, 1), &[0u8; 1024])]);
        // One write over two sectors: 4 combinations (torn both ways).
        let s = states(&d, &[w((1, 1), 500, &[7; 24])], "/f");
        assert_eq!(s.len(), 4);
        let torn = s
            .iter()
            .filter(|(c, _)| {
                let c = c.as_ref().unwrap();
                (c[500] == 7) != (c[520] == 7)
            })
            .count();
        assert_eq!(torn, 2);
    }

    #[test]
    fn overlapping_writes_keep_their_order_and_syncs_are_barriers() {
        let d = disk(&[("/f", (1, 1), b"a")]);
        let ev = [
            w((1, 1), 0, b"b"),
            sync((1, 1)),
            w((1, 1), 0, b"c"),
            w((1, 1), 0, b"d"),
        ];
        let s = states(&d, &ev, "/f");
        let got: Vec<&[u8]> = s.iter().map(|(c, _)| c.as_deref().unwrap()).collect();
        // Before the sync: a or b; after (at the end): b, c or d, never a.
        assert_eq!(got, [&b"a"[..], b"b", b"b", b"c", b"d"]);
        assert!(s
            .iter()
            .filter(|(_, end)| *end)
            .all(|(c, _)| c.as_deref() != Some(b"a")));
    }

    #[test]
    fn appended_bytes_may_read_as_zeros_and_sizes_vary() {
        let d = disk(&[("/f", (1, 1), b"ab")]);
        let s = states(&d, &[w((1, 1), 2, b"cd")], "/f");
        let got: HashSet<Vec<u8>> = s.into_iter().map(|(c, _)| c.unwrap()).collect();
        let want: HashSet<Vec<u8>> = [&b"ab"[..], b"abcd", b"ab\0\0"]
            .iter()
            .map(|b| b.to_vec())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn renames_need_a_directory_sync_and_new_files_their_own() {
        let d = disk(&[("/d/f", (1, 1), b"old")]);
        let ev = vec![
            Event::Open {
                path: "/d/t".into(),
                file: (1, 2),
                create: true,
            },
            w((1, 2), 0, b"new"),
            sync((1, 2)),
            Event::Rename {
                from: "/d/t".into(),
                to: "/d/f".into(),
            },
        ];
        let s = states(&d, &ev, "/d/f");
        let at_end: HashSet<Vec<u8>> = s
            .iter()
            .filter(|(_, e)| *e)
            .map(|(c, _)| c.clone().unwrap())
            .collect();
        assert_eq!(at_end.len(), 2, "old or new until the directory is synced");
        let mut ev2 = ev.clone();
        ev2.push(Event::SyncDir {
            path: "/d".into(),
            site: String::new(),
        });
        let s = states(&d, &ev2, "/d/f");
        assert!(s
            .iter()
            .filter(|(_, e)| *e)
            .all(|(c, _)| c.as_deref() == Some(b"new")));
        // Without the file's sync, the renamed file may be empty.
        let mut ev3 = ev2.clone();
        ev3.remove(2);
        let s = states(&d, &ev3, "/d/f");
        assert!(s.iter().any(|(c, e)| *e && c.as_deref() == Some(b"")));
    }

    #[test]
    fn msync_makes_its_range_durable_and_large_cuts_are_sampled() {
        let d = disk(&[("/f", (1, 1), &[0u8; 8192])]);
        let store = Event::MapStore {
            file: (1, 1),
            offset: 0,
            data: vec![1; 8192],
        };
        let ms = Event::Msync {
            file: (1, 1),
            offset: 0,
            len: 8192,
            site: String::new(),
        };
        let mut n = 0;
        let c = crash_states(&d, &[store, ms], Path::new("/f"), 100, 3, |s| {
            if s.at_end {
                assert!(s.content.unwrap().iter().all(|&b| b == 1));
            }
            n += 1;
        });
        assert_eq!(c.sampled_cuts, 1);
        assert_eq!(c.combinations, (1u128 << 16) + 1);
        assert!(n > 60 && n <= 101, "{n}");
    }
}
