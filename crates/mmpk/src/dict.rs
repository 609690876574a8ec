//! [`Dict`]: opening, the lock, the cached index and the map operations.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use mmpk_format::entry::{DELETED, MAX_KEY_LEN};
use mmpk_format::filler::{check_align, DEFAULT_ALIGN};
use mmpk_format::header::{parse_header, COMMIT_OFFSET, EMPTY_FILE_LEN, HEADER_LEN};
use mmpk_format::write::empty_file;

use crate::error::{Error, Result};
use crate::index::{Index, Loc};
use crate::map::{Borrows, Map};

/// How new array entries are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// The v2 array encoding (plain `pickle.load` works on numpy 1.23 to
    /// 2.4) with alignment fillers before array entries. The default.
    #[default]
    V2,
    /// mmappickle 1.0's layout: v1 arrays (`fromstring`), no fillers; the
    /// same bytes mmappickle 1.0 writes for the same operations.
    Mmappickle1,
}

/// How to open a [`Dict`]: mode, layout, alignment and durability.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read_only: bool,
    create: bool,
    create_new: bool,
    layout: Layout,
    align: u64,
    durable: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Read-write, existing file, v2 layout, alignment 64, no fsync.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read_only: false,
            create: false,
            create_new: false,
            layout: Layout::V2,
            align: DEFAULT_ALIGN,
            durable: false,
        }
    }

    /// Open read-only: every write, and mutable views, are refused.
    pub fn read_only(&mut self, yes: bool) -> &mut Self {
        self.read_only = yes;
        self
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Create the file (an empty dict) if it is missing or empty.
    pub fn create(&mut self, yes: bool) -> &mut Self {
        self.create = yes;
        self
    }

    /// Create the file; fail if it exists.
    pub fn create_new(&mut self, yes: bool) -> &mut Self {
        self.create_new = yes;
        self
    }

    /// The layout new entries are written in.
    pub fn layout(&mut self, layout: Layout) -> &mut Self {
        self.layout = layout;
        self
    }

    /// Alignment of array data in the v2 layout: a power of two from 8 to
    /// 4096 (default 64).
    pub fn align(&mut self, align: u64) -> &mut Self {
        self.align = align;
        self
    }

    /// Durable mode: every change is on the disk when the call returns, and
    /// a power cut at any moment leaves the dict before or after each call.
    /// Off by default, as in mmappickle: a crash of the process never loses
    /// a completed write in either mode; a power cut (or kernel panic, or a
    /// VM stopped) may, in the default mode.
    ///
    /// The barriers (`fdatasync`, or `fsync` where named; `F_FULLFSYNC` on
    /// Apple platforms, as `std` issues it):
    ///
    /// | operation | durable mode | default mode |
    /// |---|---|---|
    /// | create | the file, then its directory | none |
    /// | insert, replace, reserve (any value) | after the new entry's body; after its frame head (a replace's delete of the old entry needs none: the new one wins over it) | none |
    /// | remove | after the validity bytes | none |
    /// | repair | after the cut | none |
    /// | upgrade | as a replace, per entry | none |
    /// | vacuum | `fsync` of the new file before the rename, then of the directory | the same |
    /// | convert | `fsync` of the new file before the rename, then of the directory | the new file only |
    /// | [`crate::ArrayMut::flush`] | `msync(MS_SYNC)` of the array's bytes | the same |
    /// | [`Dict::flush`] | `fsync` of the file | the same |
    ///
    /// So that those barriers change no file size (an `fdatasync` after a
    /// write that grows the file also journals the size, and costs more),
    /// a durable writer in the v2 layout leaves a *room* at the end of the
    /// file after an entry of at most 64 KiB that it appends: a filler of
    /// 64 KiB to 1 MiB (an eighth of the file) that later inserts are
    /// written into, each published by one 16-byte write (docs/format.md,
    /// sections 8 and 10; docs/design.md, "Barriers per durable call").
    /// Every reader sees it as a deleted entry; [`Dict::vacuum`] drops it.
    ///
    /// What a power cut can leave (modelled, not physically tested: see
    /// RELIABILITY.md, "Power loss", for the model and the states checked):
    ///
    /// - durable mode: a single-entry operation (insert, replace, remove of
    ///   one key), vacuum and convert leave the dict before or after the
    ///   call, after [`Dict::repair`] where a torn tail is found (a
    ///   creation cut short leaves no file or one that `create` finishes);
    ///   once the call returned, the dict after it, needing no repair. An
    ///   upgrade leaves every entry old (v1) or new (v2). Stores made
    ///   through an [`crate::ArrayMut`] are durable once its
    ///   [`flush`](crate::ArrayMut::flush) returns; before, any mix of old
    ///   and new 512-byte sectors.
    /// - default mode: the file opens (after [`Dict::repair`] where a torn
    ///   or corrupt tail is found); every key no change since the last
    ///   barrier touched keeps its value (a barrier: a durable call, a
    ///   [`Dict::flush`], a vacuum); a key touched since may hold its old
    ///   value, its new one, be missing (a replace whose delete reached the
    ///   disk before the new entry did, or a remove), or (a new entry) show
    ///   bytes never written: an array's data reading as zeros or partly
    ///   written, or a value or masked array failing to decode with a typed
    ///   error. A [`Dict::flush`] after a batch of inserts makes the batch
    ///   durable for one barrier.
    pub fn durable(&mut self, yes: bool) -> &mut Self {
        self.durable = yes;
        self
    }

    /// Whether [`OpenOptions::durable`] is set.
    pub(crate) fn is_durable(&self) -> bool {
        self.durable
    }

    /// Opens (or creates) the dict at `path`. A file that is not an mmpk
    /// file is refused with [`Error::NotMmpk`] and left unchanged.
    ///
    /// # Safety
    /// The file is memory-mapped. For as long as the dict, or any array or
    /// view taken from it, lives, the caller guarantees that no one
    /// truncates the file or rewrites it other than through the mmpk
    /// protocol (docs/format.md section 10: index changes under the `flock`), so no
    /// vacuum, repair, or editor runs on it in another process meanwhile.
    /// Array data may be written by other processes (Rust or Python) at any
    /// time: reading or writing the same array from several processes at once
    /// is a data race the caller must order, as with any shared memory.
    pub unsafe fn open(&self, path: impl AsRef<Path>) -> Result<Dict> {
        self.open_accepted(path.as_ref())
    }

    /// Opens (or, with [`OpenOptions::create`], creates in an empty file)
    /// the dict in `file`, a file already open for reading (and for writing
    /// unless [`OpenOptions::read_only`]): for files without a usable path,
    /// such as an unlinked temporary file or a descriptor handed over by
    /// another program. `name` is used in error messages and returned by
    /// [`Dict::path`]; it is never opened.
    ///
    /// Such a dict works on that open file only: it never checks what a
    /// path names, and [`Dict::vacuum`] and [`OpenOptions::convert_file`]
    /// rewrite the file in place instead of renaming a new file over it
    /// (see there for what a crash in the middle leaves).
    /// [`OpenOptions::create_new`] is refused ([`Error::BadOption`]).
    ///
    /// # Safety
    /// As [`OpenOptions::open`], for the file `file` refers to.
    pub unsafe fn open_file(&self, file: File, name: impl AsRef<Path>) -> Result<Dict> {
        self.open_file_accepted(file, name.as_ref())
    }

    pub(crate) fn open_file_accepted(&self, file: File, name: &Path) -> Result<Dict> {
        if self.create_new {
            return Err(Error::BadOption {
                what: "create_new cannot apply to a file that is already open".into(),
            });
        }
        self.check_align()?;
        self.open_handle(file, name, None)
    }

    /// [`OpenOptions::open`] for callers that have accepted its contract
    /// (the crate's own `unsafe` constructors and its unit tests).
    pub(crate) fn open_accepted(&self, path: &Path) -> Result<Dict> {
        self.check_align()?;
        let creating = (self.create || self.create_new) && !self.read_only;
        let file = crate::io::open(
            std::fs::OpenOptions::new()
                .read(true)
                .write(!self.read_only)
                .create(creating && !self.create_new)
                .create_new(self.create_new && !self.read_only),
            path,
            creating,
        )
        .map_err(|e| Error::io("open", path, e))?;
        let abs_path =
            std::fs::canonicalize(path).map_err(|e| Error::io("canonicalize", path, e))?;
        self.open_handle(file, path, Some(abs_path))
    }

    fn check_align(&self) -> Result<()> {
        check_align(self.align).map_err(|_| Error::BadOption {
            what: format!(
                "alignment {} is not a power of two from 8 to 4096",
                self.align
            ),
        })
    }

    /// Opens the dict in `file` (named `path`; at `abs_path` unless it was
    /// handed over open), creating the empty dict if asked.
    fn open_handle(&self, file: File, path: &Path, abs_path: Option<PathBuf>) -> Result<Dict> {
        let creating = (self.create || self.create_new) && !self.read_only;
        let borrows = Borrows::for_file(&file).map_err(|e| Error::io("stat", path, e))?;
        let shared = Shared {
            file: RwLock::new(Arc::new(file)),
            path: path.to_path_buf(),
            abs_path,
            read_only: self.read_only,
            layout: self.layout,
            align: self.align,
            durable: self.durable,
            state: Mutex::new(State::default()),
            borrows,
        };
        {
            let _lock = shared.flock()?;
            let len = shared.file_len()?;
            let mut head = vec![0u8; len.min(EMPTY_FILE_LEN as u64) as usize];
            shared
                .file()
                .read_exact_at(&mut head, 0)
                .map_err(|e| Error::io("read header", path, e))?;
            if creating && len <= EMPTY_FILE_LEN as u64 && creation_stub(&head) {
                // Empty, or what a creation killed inside its first write
                // left: no entry was ever there. Write the empty dict.
                shared.write_at(&empty_file(0), 0, "create")?;
                shared.sync()?;
                if let (true, Some(abs)) = (shared.durable, &shared.abs_path) {
                    // The new name, too, must survive a power cut.
                    crate::io::sync_parent_dir(abs)
                        .map_err(|e| Error::io("fsync directory", path, e))?;
                }
            } else {
                parse_header(&head[..head.len().min(HEADER_LEN)]).map_err(|source| {
                    Error::NotMmpk {
                        path: path.to_path_buf(),
                        plain_pickle: head.first() == Some(&0x80)
                            && matches!(source, mmpk_format::Error::BadHeader { .. }),
                        source,
                    }
                })?;
            }
        }
        let dict = Dict {
            shared: Arc::new(shared),
        };
        dict.with_lock(|_, _| Ok(()))?;
        Ok(dict)
    }
}

/// Whether `head`, the first bytes of a file shorter than a header, is what
/// creating a dict (ours or mmappickle's) leaves when it is cut short: a
/// prefix of an empty dict's bytes, whatever its commit number. Such a file
/// never held an entry, so `create` finishes it instead of refusing it.
///
/// A file of at most an empty dict's length holding only zero bytes is one
/// too: a power cut can leave a new file's size on the disk without its
/// bytes (they read as zeros).
fn creation_stub(head: &[u8]) -> bool {
    if head.len() <= EMPTY_FILE_LEN && head.iter().all(|&b| b == 0) {
        return true;
    }
    if head.len() >= HEADER_LEN {
        return false;
    }
    let mut want = empty_file(0);
    let commit = COMMIT_OFFSET..COMMIT_OFFSET + 4;
    for i in commit {
        if let (Some(w), Some(&h)) = (want.get_mut(i), head.get(i)) {
            *w = h;
        }
    }
    want.starts_with(head)
}

/// A dict stored in one file, shared by threads (`Send + Sync`) and by
/// processes (Rust or Python mmappickle) under `flock`.
///
/// Every operation that reads the entry list or changes the file takes the
/// dict's mutex and the file's exclusive `flock`, checks the commit number,
/// and rescans what changed. Array data is read and written through maps,
/// outside the lock.
#[derive(Clone)]
pub struct Dict {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Dict {
    /// The path and options (not the cached index, which may hold millions
    /// of keys).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &*self.shared;
        f.debug_struct("Dict")
            .field("path", &s.path)
            .field("read_only", &s.read_only)
            .field("layout", &s.layout)
            .field("align", &s.align)
            .field("durable", &s.durable)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    /// The file; replaced only by vacuum (a new inode), under the mutex.
    pub(crate) file: RwLock<Arc<File>>,
    pub(crate) path: PathBuf,
    /// The absolute path, to notice when the file is replaced by another;
    /// `None` for a dict opened from an open file
    /// ([`OpenOptions::open_file`]), which works on that file only (vacuum
    /// and conversion in place).
    pub(crate) abs_path: Option<PathBuf>,
    pub(crate) read_only: bool,
    pub(crate) layout: Layout,
    pub(crate) align: u64,
    pub(crate) durable: bool,
    pub(crate) state: Mutex<State>,
    pub(crate) borrows: Arc<Borrows>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) index: Index,
    /// The data map (views).
    pub(crate) map: Option<Arc<Map>>,
    /// The index map (scans, value decoding).
    pub(crate) index_map: Option<Arc<Map>>,
    /// Data maps replaced by a larger one (the file grew) that views or raw
    /// handles may still hold: vacuum waits for them too.
    pub(crate) retired: Vec<std::sync::Weak<Map>>,
    /// The snapshots of the handles that may store into maps (crash-state
    /// recording): [`Dict::flush`] records their stores before its sync.
    #[cfg(feature = "crash-record")]
    pub(crate) shadows: Vec<std::sync::Weak<crate::record::Shadow>>,
}

/// Releases the flock when dropped.
pub(crate) struct FlockGuard(Arc<File>);

impl Drop for FlockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Shared {
    /// The file (shared; vacuum may replace it).
    pub(crate) fn file(&self) -> Arc<File> {
        self.file.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn flock(&self) -> Result<FlockGuard> {
        let f = self.file();
        f.lock().map_err(|e| Error::io("flock", &self.path, e))?;
        Ok(FlockGuard(f))
    }

    pub(crate) fn file_len(&self) -> Result<u64> {
        Ok(self
            .file()
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len())
    }

    /// A snapshot of `range` of `map` for a handle that may store into it,
    /// registered for [`Dict::flush`] (crash-state recording; `None` when
    /// this thread does not record).
    #[cfg(feature = "crash-record")]
    pub(crate) fn shadow(
        &self,
        map: &Arc<Map>,
        range: std::ops::Range<usize>,
    ) -> Option<Arc<crate::record::Shadow>> {
        let sh = crate::record::Shadow::new(map, &self.file(), range)?;
        let mut st = lock_state(&self.state);
        st.shadows.retain(|w| w.strong_count() > 0);
        st.shadows.push(Arc::downgrade(&sh));
        Some(sh)
    }

    /// Records the stores made through every live handle (crash-state
    /// recording), before a sync that makes them durable.
    #[cfg(feature = "crash-record")]
    pub(crate) fn record_stores(&self) {
        let live: Vec<_> = lock_state(&self.state)
            .shadows
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for sh in &live {
            sh.record();
        }
    }

    pub(crate) fn write_at(&self, bytes: &[u8], offset: u64, op: &'static str) -> Result<()> {
        crate::io::write_all_at(&self.file(), bytes, offset)
            .map_err(|e| Error::io(op, &self.path, e))
    }

    /// `fdatasync` when durable (a barrier: everything written before is on
    /// the disk when it returns); nothing otherwise.
    #[track_caller]
    pub(crate) fn sync(&self) -> Result<()> {
        if self.durable {
            crate::io::sync_data(&self.file()).map_err(|e| Error::io("fsync", &self.path, e))?;
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self, op: &'static str) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly { op })
        } else {
            Ok(())
        }
    }

    /// The data map (writable unless read-only), covering at least `len`
    /// bytes: array views are made from it, each over its own entry's data.
    pub(crate) fn map_covering(&self, st: &mut State, len: u64) -> Result<Arc<Map>> {
        let old = st.map.clone();
        let m = self.covering(&mut st.map, len, !self.read_only)?;
        if let Some(old) = old.filter(|o| !Arc::ptr_eq(o, &m)) {
            st.retired.retain(|w| w.strong_count() > 0);
            st.retired.push(Arc::downgrade(&old));
        }
        Ok(m)
    }

    /// How many data maps (current or retired) are held outside the dict:
    /// views and raw handles alive in this process.
    pub(crate) fn maps_in_use(st: &State) -> usize {
        let current = st.map.as_ref().map_or(0, |m| Arc::strong_count(m) - 1);
        current + st.retired.iter().filter(|w| w.strong_count() > 0).count()
    }

    /// The index map (read-only), covering at least `len` bytes: the index
    /// scan and value decoding make shared slices of whole ranges of the
    /// file from it. It is a separate mapping from the data map, so those
    /// slices never alias a mutable view in Rust's sense; the bytes read
    /// through them (frames, value ops) are never written through views.
    pub(crate) fn index_map_covering(&self, st: &mut State, len: u64) -> Result<Arc<Map>> {
        self.covering(&mut st.index_map, len, false)
    }

    fn covering(&self, slot: &mut Option<Arc<Map>>, len: u64, writable: bool) -> Result<Arc<Map>> {
        if let Some(m) = slot {
            if m.len() as u64 >= len {
                return Ok(m.clone());
            }
        }
        let now = self.file_len()?;
        if now < len {
            return Err(Error::Changed {
                offset: now,
                what: "the file is shorter than an entry it held",
            });
        }
        let m = Arc::new(
            Map::new(&self.file(), now, writable).map_err(|e| Error::io("mmap", &self.path, e))?,
        );
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Reads the header; rescans what changed. Called with both locks held.
    pub(crate) fn refresh(&self, st: &mut State) -> Result<()> {
        let len = self.check_same_file()?;
        let mut head = [0u8; HEADER_LEN];
        if len < HEADER_LEN as u64 {
            return Err(Error::Changed {
                offset: len,
                what: "the file is shorter than a header",
            });
        }
        self.file()
            .read_exact_at(&mut head, 0)
            .map_err(|e| Error::io("read header", &self.path, e))?;
        let commit = parse_header(&head)
            .map_err(|_| Error::Changed {
                offset: 0,
                what: "the header is no longer an mmpk header",
            })?
            .commit;
        if st.index.commit == Some(commit) && st.index.file_len == len {
            return Ok(());
        }
        let map = self.index_map_covering(st, len)?;
        let bytes = map.bytes(0..len as usize);
        st.index
            .update(bytes, commit)
            .map_err(|source| Error::Format { key: None, source })?;
        Ok(())
    }

    /// Fails with [`Error::Changed`] if the path no longer names our file
    /// (another process vacuumed, converted, replaced or removed it);
    /// returns the file's length.
    fn check_same_file(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let gone = |what| Error::Changed { offset: 0, what };
        let Some(abs_path) = &self.abs_path else {
            return self.file_len();
        };
        let now = std::fs::metadata(abs_path)
            .map_err(|_| gone("the file was removed or renamed; reopen it"))?;
        let ours = self
            .file()
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?;
        if (now.dev(), now.ino()) != (ours.dev(), ours.ino()) {
            return Err(gone(
                "the file was replaced (vacuumed or converted by another process); reopen it",
            ));
        }
        Ok(ours.len())
    }

    /// Increments the commit number (under the lock).
    pub(crate) fn bump_commit(&self, st: &mut State) -> Result<()> {
        let next = st.index.commit.unwrap_or(0).wrapping_add(1);
        self.write_at(
            &next.to_le_bytes(),
            COMMIT_OFFSET as u64,
            "write commit number",
        )?;
        st.index.commit = Some(next);
        Ok(())
    }

    /// Flips the validity byte of every live entry of `key` (under the
    /// lock), then, if `barrier` (a remove), syncs when durable. Returns
    /// whether there was one.
    ///
    /// A replace passes `barrier: false`: the entries it deletes are
    /// shadowed by the new entry, already durable, which wins over them
    /// (the later live entry of a key wins), so the dict is the same
    /// whether the deletes reach the disk or not; they become durable with
    /// the next barrier. A durable replace costs two barriers, as an
    /// insert does (docs/design.md, "Durability").
    pub(crate) fn delete_locked(&self, st: &mut State, key: &str, barrier: bool) -> Result<bool> {
        let mut locs: Vec<Loc> = st.index.live.get(key).copied().into_iter().collect();
        locs.extend(
            st.index
                .shadowed
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, l)| *l),
        );
        if locs.is_empty() {
            return Ok(false);
        }
        self.bump_commit(st)?;
        for l in &locs {
            self.write_at(&[DELETED], l.validity_offset(), "delete entry")?;
        }
        if barrier {
            self.sync()?;
        }
        st.index.live.remove(key);
        st.index.shadowed.retain(|(k, _)| k != key);
        st.index.dead += locs.len() as u64;
        Ok(true)
    }
}

/// Creates a dict for the crate's unit tests (private temporary files).
#[cfg(test)]
pub(crate) fn test_dict(path: &Path, layout: Layout) -> Dict {
    OpenOptions::new()
        .create_new(true)
        .layout(layout)
        .open_accepted(path)
        .unwrap()
}

pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        Err(Error::KeyTooLong { len: key.len() })
    } else {
        Ok(())
    }
}

impl Dict {
    /// Creates a new file holding an empty dict (fails if `path` exists),
    /// with the default options.
    ///
    /// # Safety
    /// See [`OpenOptions::open`].
    pub unsafe fn create(path: impl AsRef<Path>) -> Result<Dict> {
        OpenOptions::new()
            .create_new(true)
            .open_accepted(path.as_ref())
    }

    /// Opens an existing mmpk file read-write with the default options.
    ///
    /// # Safety
    /// See [`OpenOptions::open`].
    pub unsafe fn open(path: impl AsRef<Path>) -> Result<Dict> {
        OpenOptions::new().open_accepted(path.as_ref())
    }

    /// Opens an existing mmpk file read-only.
    ///
    /// # Safety
    /// See [`OpenOptions::open`].
    pub unsafe fn open_read_only(path: impl AsRef<Path>) -> Result<Dict> {
        OpenOptions::new()
            .read_only(true)
            .open_accepted(path.as_ref())
    }

    /// Runs `f` with the dict's mutex and the file's flock held, after
    /// bringing the index up to date.
    pub(crate) fn with_lock<R>(
        &self,
        f: impl FnOnce(&Shared, &mut State) -> Result<R>,
    ) -> Result<R> {
        let s = &*self.shared;
        let mut st = lock_state(&s.state);
        let _flock = s.flock()?;
        s.refresh(&mut st)?;
        let r = f(s, &mut st);
        if let Err(Error::Io { .. }) = r {
            // A write failed part-way (a full disk, an I/O error): the file
            // may hold more than the cache knows (an insert whose delete of
            // the old entry failed) with the commit number the cache has.
            // Trust nothing cached; the next operation rescans.
            st.index = Index::default();
        }
        r
    }

    /// The file's path (for a dict opened with [`OpenOptions::open_file`],
    /// the name given there).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Whether the dict was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only
    }

    /// The layout new entries are written in.
    pub fn layout(&self) -> Layout {
        self.shared.layout
    }

    /// Whether `key` has a live entry.
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.with_lock(|_, st| Ok(st.index.live.contains_key(key)))
    }

    /// The live keys, in file order.
    pub fn keys(&self) -> Result<Vec<String>> {
        self.with_lock(|_, st| {
            Ok(st
                .index
                .keys_in_order()
                .into_iter()
                .map(|(k, _)| k.to_string())
                .collect())
        })
    }

    /// The live keys, in file order (a snapshot: see [`Dict::keys`]).
    pub fn iter(&self) -> Result<std::vec::IntoIter<String>> {
        Ok(self.keys()?.into_iter())
    }

    /// Every live entry's place in the file, in file order.
    pub fn entries(&self) -> Result<Vec<EntryInfo>> {
        self.with_lock(|_, st| {
            Ok(st
                .index
                .keys_in_order()
                .into_iter()
                .map(|(k, l)| EntryInfo {
                    key: k.to_string(),
                    offset: l.offset,
                    len: l.len,
                    value_offset: l.value_offset,
                    value_len: l.value_len,
                })
                .collect())
        })
    }

    /// The number of live keys.
    pub fn len(&self) -> Result<usize> {
        self.with_lock(|_, st| Ok(st.index.live.len()))
    }

    /// Whether the dict has no live key.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes `key` (flips its validity byte; the bytes stay until vacuum).
    /// [`Error::KeyNotFound`] if it has no live entry.
    pub fn remove(&self, key: &str) -> Result<()> {
        self.shared.check_writable("remove")?;
        self.with_lock(|s, st| {
            if s.delete_locked(st, key, true)? {
                Ok(())
            } else {
                Err(Error::KeyNotFound { key: key.into() })
            }
        })
    }

    /// The commit number in the file's header now (it changes on every
    /// mutation, by any process).
    pub fn commit_number(&self) -> Result<i32> {
        self.with_lock(|_, st| Ok(st.index.commit.unwrap_or(0)))
    }

    /// Sets the commit number in the file's header to `commit`, as
    /// mmappickle 1.0's `commit_number` setter does (its programs may set
    /// it). Nothing else changes. Other processes notice a change by the
    /// commit number together with the file's length: setting it back to a
    /// value they have seen, with the file's length unchanged, can hide a
    /// change from them, so this is for tools that know no other process
    /// has the file open (every operation of mmpk itself bumps it).
    pub fn set_commit_number(&self, commit: i32) -> Result<()> {
        self.shared.check_writable("set commit number")?;
        self.with_lock(|s, st| {
            s.write_at(
                &commit.to_le_bytes(),
                COMMIT_OFFSET as u64,
                "write commit number",
            )?;
            s.sync()?;
            st.index.commit = Some(commit);
            Ok(())
        })
    }

    /// Whether the dict was opened from an open file
    /// ([`OpenOptions::open_file`]) rather than a path: it then works on
    /// that file only, and vacuum and conversion rewrite it in place.
    pub fn is_opened_from_file(&self) -> bool {
        self.shared.abs_path.is_none()
    }

    /// Whether the file changed since this dict last looked at it (another
    /// process, or another `Dict` on the same file, wrote to it, or replaced
    /// it). Does not update the cache: the next operation does.
    pub fn changed_by_others(&self) -> Result<bool> {
        let s = &*self.shared;
        let st = lock_state(&s.state);
        let _flock = s.flock()?;
        let len = match s.check_same_file() {
            Ok(len) => len,
            Err(Error::Changed { .. }) => return Ok(true),
            Err(e) => return Err(e),
        };
        let mut head = [0u8; HEADER_LEN];
        if len < HEADER_LEN as u64 {
            return Ok(true);
        }
        s.file()
            .read_exact_at(&mut head, 0)
            .map_err(|e| Error::io("read header", &s.path, e))?;
        let commit = parse_header(&head).ok().map(|h| h.commit);
        Ok(commit != st.index.commit || len != st.index.file_len)
    }

    /// The raw pickle ops of `key`'s value (what `pickle.loads` would run
    /// for it, without PROTO or STOP).
    pub fn value_bytes(&self, key: &str) -> Result<Vec<u8>> {
        Ok(self.value_bytes_at(key)?.0)
    }

    /// Runs `f` on the whole file's bytes, under the lock (so no other
    /// process changes the entry list meanwhile): for tools that read the
    /// layout with `mmpk_format` (`mmpk ls`, `info`, `verify`). The slice is
    /// the read-only index map; array data in it may be written by mutable
    /// views meanwhile, as for any view (shared memory, see the crate docs).
    /// A file with a torn tail is given whole.
    pub fn with_file_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        self.with_lock(|s, st| {
            let len = st.index.file_len;
            let map = s.index_map_covering(st, len)?;
            let all = map.all();
            Ok(f(&all[..(len as usize).min(all.len())]))
        })
    }

    /// Statistics of the file's entry list.
    pub fn stats(&self) -> Result<Stats> {
        self.with_lock(|_, st| {
            Ok(Stats {
                file_len: st.index.file_len,
                frames: st.index.frames,
                live: st.index.live.len() as u64,
                dead: st.index.dead,
                clean_tail: matches!(st.index.tail, Some(mmpk_format::scan::Tail::Clean)),
            })
        })
    }
}

pub(crate) fn lock_state(m: &Mutex<State>) -> MutexGuard<'_, State> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => {
            // A panic mid-operation: trust nothing cached.
            let mut g = p.into_inner();
            g.index = Index::default();
            m.clear_poison();
            g
        }
    }
}

/// Where one live entry is in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// The key.
    pub key: String,
    /// Offset of the entry's `FRAME` opcode.
    pub offset: u64,
    /// Total length of the entry.
    pub len: u64,
    /// Offset of the value's first op.
    pub value_offset: u64,
    /// Length of the value's ops.
    pub value_len: u64,
}

/// Counts from the entry list ([`Dict::stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// File length in bytes.
    pub file_len: u64,
    /// Entry frames (live, deleted, fillers).
    pub frames: u64,
    /// Live keys.
    pub live: u64,
    /// Deleted entries and fillers.
    pub dead: u64,
    /// Whether the file ends exactly with the terminator.
    pub clean_tail: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_stays_short() {
        let dir = tempfile::tempdir().unwrap();
        let d = test_dict(&dir.path().join("d.mmpk"), Layout::V2);
        for i in 0..100 {
            d.insert_array(&format!("key{i}"), &ndarray::arr1(&[1u8]))
                .unwrap();
        }
        let text = format!("{d:?}");
        assert!(text.starts_with("Dict { path: "), "{text}");
        assert!(text.len() < 300, "{text}");
    }

    #[test]
    fn keys_up_to_255_bytes() {
        assert!(check_key("").is_ok());
        assert!(check_key(&"a".repeat(255)).is_ok());
        assert!(matches!(
            check_key(&"a".repeat(256)),
            Err(Error::KeyTooLong { len: 256 })
        ));
    }

    #[test]
    fn options_default_to_v2_align_64_no_fsync() {
        let o = OpenOptions::default();
        assert_eq!(o.layout, Layout::V2);
        assert_eq!(o.align, 64);
        assert!(!o.durable && !o.read_only && !o.create && !o.create_new);
    }

    #[test]
    fn a_poisoned_state_forgets_its_cache() {
        let m = Arc::new(Mutex::new(State::default()));
        m.lock().unwrap().index.commit = Some(5);
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(lock_state(&m).index.commit, None);
        assert!(!m.is_poisoned());
    }
}
