//! Recording every change the crate makes to files, for the crash-state
//! checker (the non-default cargo feature `crash-record`; zero cost when
//! off: the hooks in `crate::io` compile to nothing).
//!
//! While a thread records ([`start`] .. [`take`]), every call of the I/O
//! seam made on it appends an [`Event`]: positioned writes, length changes,
//! preallocations, `fsync`/`fdatasync`, `msync` of a mapped range, opens
//! that may create a file, renames and directory syncs, and the stores made
//! through a mutable array view or a raw handle ([`Event::MapStore`], found
//! by comparing the bytes with a snapshot taken when the handle was made,
//! at each `flush` of the handle or of the dict, and when the handle is
//! dropped). [`crate::crash`] builds from such
//! a record the files a power cut can leave.
//!
//! A mutant mode serves to validate the checker: [`skip_syncs_from`] makes
//! every sync called from one call site (a `file:line` of this crate) do
//! nothing, as if that line were deleted; [`sync_sites`] lists the sites
//! seen while recording.
//!
//! [`write_text`] and [`parse_text`] serialise a record (one event a line),
//! so a process (the `mmpk` tool built with the feature and run with
//! `MMPK_RECORD=FILE`) can hand its record to a test.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file, by (device, inode).
pub type FileId = (u64, u64);

/// One change made to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An open of a file (for writing, or one that creates the file if it
    /// is missing).
    Open {
        /// The path opened.
        path: PathBuf,
        /// The file it names now.
        file: FileId,
        /// Whether the open may create the file (`O_CREAT`).
        create: bool,
    },
    /// `pwrite` of `data` at `offset`.
    Write {
        /// The file.
        file: FileId,
        /// Where.
        offset: u64,
        /// What.
        data: Vec<u8>,
    },
    /// A copy into the file made by the kernel (`copy_file_range`, or its
    /// fallback): the bytes it left at `offset`.
    Copy {
        /// The file.
        file: FileId,
        /// Where.
        offset: u64,
        /// The bytes now there.
        data: Vec<u8>,
    },
    /// Stores made through a shared writable map (not a system call): the
    /// new bytes at `offset`, within one page.
    MapStore {
        /// The file.
        file: FileId,
        /// Where.
        offset: u64,
        /// The bytes now there.
        data: Vec<u8>,
    },
    /// `ftruncate` to `len`.
    SetLen {
        /// The file.
        file: FileId,
        /// The new length.
        len: u64,
    },
    /// `fallocate(FALLOC_FL_KEEP_SIZE)`: no change of content or size.
    Preallocate {
        /// The file.
        file: FileId,
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// `fsync` (`data_only`: `fdatasync`) of a file.
    Sync {
        /// The file.
        file: FileId,
        /// `fdatasync` rather than `fsync`.
        data_only: bool,
        /// The crate's call site (`file:line`).
        site: String,
    },
    /// `msync(MS_SYNC)` of a mapped range of a file.
    Msync {
        /// The file.
        file: FileId,
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// The crate's call site.
        site: String,
    },
    /// `rename(2)`.
    Rename {
        /// Old path.
        from: PathBuf,
        /// New path.
        to: PathBuf,
    },
    /// `fsync` of a directory.
    SyncDir {
        /// The directory.
        path: PathBuf,
        /// The crate's call site.
        site: String,
    },
    /// A label the test sets between calls ([`mark`]): crash states after
    /// it carry it.
    Mark(String),
}

#[derive(Default)]
struct Rec {
    on: bool,
    events: Vec<Event>,
    skip: Option<String>,
    sites: Vec<String>,
}

/// A thread's record; the threads a recording call fans out to (the rayon
/// workers of [`crate::par`]) [`join`] it for the duration of their part.
#[derive(Clone, Default)]
pub(crate) struct Session(std::sync::Arc<std::sync::Mutex<Rec>>);

thread_local! {
    static REC: RefCell<Session> = RefCell::new(Session::default());
}

/// Runs `f` on this thread's record.
fn with<R>(f: impl FnOnce(&mut Rec) -> R) -> Option<R> {
    REC.try_with(|r| {
        let s = r.borrow().clone();
        let mut g = s.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    })
    .ok()
}

/// This thread's record, to hand to threads working for it.
#[cfg_attr(not(feature = "rayon"), allow(dead_code))]
pub(crate) fn session() -> Session {
    REC.try_with(|r| r.borrow().clone()).unwrap_or_default()
}

/// Makes this thread record into `s` until the guard is dropped.
#[cfg_attr(not(feature = "rayon"), allow(dead_code))]
pub(crate) fn join(s: &Session) -> Joined {
    let old = REC
        .try_with(|r| std::mem::replace(&mut *r.borrow_mut(), s.clone()))
        .ok();
    Joined(old)
}

/// Restores a thread's own record (see [`join`]).
#[cfg_attr(not(feature = "rayon"), allow(dead_code))]
pub(crate) struct Joined(Option<Session>);

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(old) = self.0.take() {
            let _ = REC.try_with(|r| *r.borrow_mut() = old);
        }
    }
}

/// Starts recording this thread's file changes (forgetting any earlier
/// record).
pub fn start() {
    with(|r| {
        r.on = true;
        r.events.clear();
    });
}

/// Stops recording and returns the events.
pub fn take() -> Vec<Event> {
    with(|r| {
        r.on = false;
        std::mem::take(&mut r.events)
    })
    .unwrap_or_default()
}

/// Whether this thread is recording.
pub fn recording() -> bool {
    with(|r| r.on).unwrap_or(false)
}

/// Appends a label to the record (see [`Event::Mark`]).
pub fn mark(label: &str) {
    push(Event::Mark(label.to_string()));
}

/// Mutant mode: every sync (`fsync`, `fdatasync`, `msync`, directory
/// sync) called from `site` (`file:line`, as [`sync_sites`] lists them)
/// does nothing on this thread; `None` ends it.
pub fn skip_syncs_from(site: Option<&str>) {
    with(|r| r.skip = site.map(str::to_string));
}

/// The sync call sites seen on this thread since the first recording
/// (each once, in the order first seen).
pub fn sync_sites() -> Vec<String> {
    with(|r| r.sites.clone()).unwrap_or_default()
}

fn push(e: Event) {
    with(|r| {
        if r.on {
            r.events.push(e);
        }
    });
}

/// The (device, inode) of `f` (`(0, 0)` if it cannot be read).
pub fn file_id(f: &File) -> FileId {
    f.metadata().map(|m| (m.dev(), m.ino())).unwrap_or((0, 0))
}

/// Whether the sync at `site` must be skipped (a mutant); notes the site.
pub(crate) fn skip_sync(site: &std::panic::Location<'_>) -> bool {
    let site = format!("{}:{}", site.file(), site.line());
    with(|r| {
        if !r.on {
            return false;
        }
        if !r.sites.contains(&site) {
            r.sites.push(site.clone());
        }
        r.skip.as_deref() == Some(site.as_str())
    })
    .unwrap_or(false)
}

fn site_text(site: &std::panic::Location<'_>) -> String {
    format!("{}:{}", site.file(), site.line())
}

/// Records an open of `path` as `f` (`create`: with `O_CREAT`). This and
/// [`write()`], [`copied`] and [`set_len`] are the hooks for code that writes
/// files around mmpk's I/O seam (the `mmpk` tool's own output files), so
/// that its record, too, is complete.
pub fn open(path: &Path, f: &File, create: bool) {
    if recording() {
        push(Event::Open {
            path: absolute(path),
            file: file_id(f),
            create,
        });
    }
}

/// Records a `pwrite` of `data` at `offset` (see [`open`]).
pub fn write(f: &File, offset: u64, data: &[u8]) {
    if recording() {
        push(Event::Write {
            file: file_id(f),
            offset,
            data: data.to_vec(),
        });
    }
}

/// Records a kernel copy of `len` bytes into `f` at `offset`, reading back
/// the bytes it left (see [`open`]).
pub fn copied(f: &File, offset: u64, len: u64) {
    use std::os::unix::fs::FileExt;
    if recording() {
        let mut data = vec![0u8; usize::try_from(len).unwrap_or(0)];
        if f.read_exact_at(&mut data, offset).is_ok() {
            push(Event::Copy {
                file: file_id(f),
                offset,
                data,
            });
        }
    }
}

/// Records an `ftruncate` to `len` (see [`open`]).
pub fn set_len(f: &File, len: u64) {
    if recording() {
        push(Event::SetLen {
            file: file_id(f),
            len,
        });
    }
}

pub(crate) fn preallocate(f: &File, offset: u64, len: u64) {
    if recording() {
        push(Event::Preallocate {
            file: file_id(f),
            offset,
            len,
        });
    }
}

pub(crate) fn sync(f: &File, data_only: bool, site: &std::panic::Location<'_>) {
    if recording() {
        let e = if f.metadata().is_ok_and(|m| m.is_dir()) {
            Event::SyncDir {
                path: PathBuf::new(),
                site: site_text(site),
            }
        } else {
            Event::Sync {
                file: file_id(f),
                data_only,
                site: site_text(site),
            }
        };
        push(e);
    }
}

pub(crate) fn sync_dir(path: &Path, site: &std::panic::Location<'_>) {
    if recording() {
        push(Event::SyncDir {
            path: absolute(path),
            site: site_text(site),
        });
    }
}

pub(crate) fn msync(file: FileId, offset: u64, len: u64, site: &std::panic::Location<'_>) {
    if recording() {
        push(Event::Msync {
            file,
            offset,
            len,
            site: site_text(site),
        });
    }
}

pub(crate) fn rename(from: &Path, to: &Path) {
    if recording() {
        push(Event::Rename {
            from: absolute(from),
            to: absolute(to),
        });
    }
}

/// Records, page by page (4 KiB of the file), the bytes of `new` (mapped
/// at file offset `offset`) that differ from `old`.
pub(crate) fn map_stores(file: FileId, offset: u64, old: &[u8], new: &[u8]) {
    if !recording() {
        return;
    }
    const PAGE: u64 = 4096;
    let end = offset + new.len() as u64;
    let mut at = offset;
    while at < end {
        let page_end = ((at / PAGE) + 1) * PAGE;
        let stop = page_end.min(end);
        let r = (at - offset) as usize..(stop - offset) as usize;
        if old.get(r.clone()) != new.get(r.clone()) {
            push(Event::MapStore {
                file,
                offset: at,
                data: new[r].to_vec(),
            });
        }
        at = stop;
    }
}

/// A snapshot of the bytes of a mapped range that a handle may store into
/// (an [`crate::ArrayMut`], a [`crate::RawArray`]), made while recording:
/// [`Shadow::record`] records the stores made since the last snapshot as
/// [`Event::MapStore`]s. Handles record when they are flushed and when the
/// last of them is dropped; [`crate::Dict::flush`] records every live
/// shadow of its dict before its sync, so stores made before a flush are
/// recorded before it.
pub(crate) struct Shadow {
    map: std::sync::Arc<crate::map::Map>,
    file: FileId,
    range: std::ops::Range<usize>,
    old: std::sync::Mutex<Vec<u8>>,
}

impl Shadow {
    /// A shadow of `range` of `map` (file `file`), if this thread records.
    pub(crate) fn new(
        map: &std::sync::Arc<crate::map::Map>,
        file: &File,
        range: std::ops::Range<usize>,
    ) -> Option<std::sync::Arc<Shadow>> {
        recording().then(|| {
            std::sync::Arc::new(Shadow {
                old: std::sync::Mutex::new(map.bytes(range.clone()).to_vec()),
                map: map.clone(),
                file: file_id(file),
                range,
            })
        })
    }

    /// Records the stores made since the last snapshot.
    pub(crate) fn record(&self) {
        let mut old = self.old.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.map.bytes(self.range.clone());
        map_stores(self.file, self.range.start as u64, &old, now);
        old.copy_from_slice(now);
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        self.record();
    }
}

impl std::fmt::Debug for Shadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shadow")
            .field("file", &self.file)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// `p` made absolute (against the current directory), without `.`
/// components.
fn absolute(p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    p.components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect()
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2 + 1);
    s.push('x');
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix('x')?;
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn path_hex(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    hex(p.as_os_str().as_bytes())
}

fn unhex_path(s: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(unhex(s)?)))
}

/// The record as text, one event a line (paths and data in hex).
pub fn write_text(events: &[Event]) -> String {
    let id = |f: &FileId| format!("{}:{}", f.0, f.1);
    let mut out = String::new();
    for e in events {
        let line = match e {
            Event::Open { path, file, create } => format!(
                "{} {} {}",
                if *create { "create" } else { "open" },
                id(file),
                path_hex(path)
            ),
            Event::Write { file, offset, data } => {
                format!("write {} {offset} {}", id(file), hex(data))
            }
            Event::MapStore { file, offset, data } => {
                format!("mapstore {} {offset} {}", id(file), hex(data))
            }
            Event::Copy { file, offset, data } => {
                format!("copy {} {offset} {}", id(file), hex(data))
            }
            Event::SetLen { file, len } => format!("setlen {} {len}", id(file)),
            Event::Preallocate { file, offset, len } => {
                format!("preallocate {} {offset} {len}", id(file))
            }
            Event::Sync {
                file,
                data_only,
                site,
            } => format!(
                "{} {} {}",
                if *data_only { "fdatasync" } else { "fsync" },
                id(file),
                hex(site.as_bytes())
            ),
            Event::Msync {
                file,
                offset,
                len,
                site,
            } => format!("msync {} {offset} {len} {}", id(file), hex(site.as_bytes())),
            Event::Rename { from, to } => format!("rename {} {}", path_hex(from), path_hex(to)),
            Event::SyncDir { path, site } => {
                format!("syncdir {} {}", path_hex(path), hex(site.as_bytes()))
            }
            Event::Mark(l) => format!("mark {}", hex(l.as_bytes())),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Parses [`write_text`]'s output; `None` on any malformed line.
pub fn parse_text(text: &str) -> Option<Vec<Event>> {
    let id = |s: &str| -> Option<FileId> {
        let (a, b) = s.split_once(':')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let text_of = |s: &str| String::from_utf8(unhex(s)?).ok();
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        let e = match (w.first().copied()?, w.len()) {
            (k @ ("open" | "create"), 3) => Event::Open {
                file: id(w[1])?,
                path: unhex_path(w[2])?,
                create: k == "create",
            },
            ("write", 4) => Event::Write {
                file: id(w[1])?,
                offset: w[2].parse().ok()?,
                data: unhex(w[3])?,
            },
            ("mapstore", 4) => Event::MapStore {
                file: id(w[1])?,
                offset: w[2].parse().ok()?,
                data: unhex(w[3])?,
            },
            ("copy", 4) => Event::Copy {
                file: id(w[1])?,
                offset: w[2].parse().ok()?,
                data: unhex(w[3])?,
            },
            ("setlen", 3) => Event::SetLen {
                file: id(w[1])?,
                len: w[2].parse().ok()?,
            },
            ("preallocate", 4) => Event::Preallocate {
                file: id(w[1])?,
                offset: w[2].parse().ok()?,
                len: w[3].parse().ok()?,
            },
            (k @ ("fsync" | "fdatasync"), 3) => Event::Sync {
                file: id(w[1])?,
                data_only: k == "fdatasync",
                site: text_of(w[2])?,
            },
            ("msync", 5) => Event::Msync {
                file: id(w[1])?,
                offset: w[2].parse().ok()?,
                len: w[3].parse().ok()?,
                site: text_of(w[4])?,
            },
            ("rename", 3) => Event::Rename {
                from: unhex_path(w[1])?,
                to: unhex_path(w[2])?,
            },
            ("syncdir", 3) => Event::SyncDir {
                path: unhex_path(w[1])?,
                site: text_of(w[2])?,
            },
            ("mark", 2) => Event::Mark(text_of(w[1])?),
            _ => return None,
        };
        out.push(e);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_as_text() {
        let ev = vec![
            Event::Open {
                path: "/t/a b".into(),
                file: (1, 2),
                create: true,
            },
            Event::Open {
                path: "/t/c".into(),
                file: (1, 3),
                create: false,
            },
            Event::Write {
                file: (1, 2),
                offset: 7,
                data: vec![0, 255, 9],
            },
            Event::MapStore {
                file: (1, 2),
                offset: 4096,
                data: vec![1],
            },
            Event::Copy {
                file: (1, 2),
                offset: 3,
                data: vec![4, 5],
            },
            Event::SetLen {
                file: (1, 2),
                len: 99,
            },
            Event::Preallocate {
                file: (1, 2),
                offset: 5,
                len: 6,
            },
            Event::Sync {
                file: (1, 2),
                data_only: true,
                site: "src/x.rs:3".into(),
            },
            Event::Msync {
                file: (1, 2),
                offset: 0,
                len: 4096,
                site: "s".into(),
            },
            Event::Rename {
                from: "/t/x".into(),
                to: "/t/y".into(),
            },
            Event::SyncDir {
                path: "/t".into(),
                site: "s:1".into(),
            },
            Event::Mark("flushed".into()),
        ];
        assert_eq!(parse_text(&write_text(&ev)).unwrap(), ev);
        assert!(parse_text("write 1:2 x 00").is_none());
        assert!(parse_text("bogus").is_none());
    }

    #[test]
    fn map_stores_are_cut_at_pages() {
        start();
        let old = vec![0u8; 10000];
        let mut new = old.clone();
        new[10] = 1;
        new[9000] = 2;
        map_stores((1, 1), 100, &old, &new);
        let ev = take();
        assert_eq!(ev.len(), 2);
        assert!(matches!(&ev[0], Event::MapStore { offset: 100, data, .. } if data.len() == 3996));
        assert!(matches!(&ev[1], Event::MapStore { offset: 8192, data, .. } if data.len() == 1908));
    }
}
