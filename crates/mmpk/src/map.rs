//! Every `unsafe` block of the crate: memory maps of the file (typed views
//! of mapped bytes are bytemuck's checked casts, safe code).
//!
//! A [`Map`] maps the first `len` bytes of the file (`MAP_SHARED`), and is
//! shared through `Arc`: every view holds one, so a map lives as long as its
//! last view. When the file grows, the dict maps it again; old maps stay
//! valid for the bytes they cover.
//!
//! A dict keeps two maps of its file: the *index map* (read-only), from
//! which the index scan and value decoding take shared slices of whole
//! ranges of the file, and the *data map*, from which array views are
//! made, each over its own entry's raw bytes only, under the per-entry
//! borrow table ([`Borrows`]: one mutable view, or shared ones, per entry,
//! shared by every `Dict` of the process on the same file). The two are
//! separate allocations, so an index slice never aliases a mutable view in
//! Rust's sense, and the bytes read through index slices (frame heads,
//! value ops) are never written through views.
//!
//! The soundness of everything here rests on the contract the caller accepted
//! when opening the dict (see the crate docs, "Safety"): while a map exists,
//! the mapped bytes are not truncated away, and bytes this process reads as
//! a shared slice are not changed by others except array data, whose
//! concurrent writes are the user's to order.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};

use memmap2::{MmapOptions, MmapRaw};
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};

use crate::dtype::Element;

/// A shared map of the first `len()` bytes of the file.
#[derive(Debug)]
pub(crate) struct Map {
    raw: MmapRaw,
    writable: bool,
}

impl Map {
    /// Maps the first `len` bytes of `file`, writable (shared) or read-only.
    /// (Creating a raw map is safe; reading it is what the open contract
    /// covers.)
    pub(crate) fn new(file: &File, len: u64, writable: bool) -> std::io::Result<Map> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        let mut opts = MmapOptions::new();
        opts.len(len);
        let raw = if writable {
            opts.map_raw(file)?
        } else {
            opts.map_raw_read_only(file)?
        };
        Ok(Map { raw, writable })
    }

    /// Bytes mapped.
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// Address of the byte at `offset` (for alignment checks).
    pub(crate) fn addr(&self, offset: usize) -> usize {
        self.raw.as_ptr() as usize + offset
    }

    /// Pointer to the byte at `offset` (at most `len()`), for
    /// [`crate::RawArray`]: computing it is safe; writing through it is
    /// only valid for a writable map.
    pub(crate) fn ptr(&self, offset: usize) -> *mut u8 {
        assert!(offset <= self.len());
        self.raw.as_mut_ptr().wrapping_add(offset)
    }

    /// Whether the map is writable (shared, read-write).
    pub(crate) fn is_writable(&self) -> bool {
        self.writable
    }

    /// `msync(MS_SYNC)` of `len` bytes at `offset`: the stores made through
    /// this map there are on the disk when it returns (see `crate::io::msync`,
    /// the only caller).
    pub(crate) fn flush_range(&self, offset: usize, len: usize) -> std::io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.raw.flush_range(offset, len)
    }

    /// The mapped bytes in `range` (which must be inside the map).
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        assert!(range.start <= range.end && range.end <= self.len());
        if range.is_empty() {
            return &[];
        }
        // SAFETY: the range is inside the live mapping (checked above) and the
        // mapping outlives `&self`. The open contract (crate docs, "Safety")
        // promises that no one truncates the file under a live map, and that
        // bytes read through this slice are only changed by others under the
        // protocol (index bytes under the flock we hold while reading them) or
        // are array data, whose concurrent writes the caller accepted. Inside
        // this process, slices of the data map cover one entry's raw bytes
        // and are handed out only with a read token of that entry (no mutable
        // view of it exists); slices of the index map are a separate
        // allocation (module docs).
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(range.start), range.len()) }
    }

    /// The whole mapping as a byte slice.
    pub(crate) fn all(&self) -> &[u8] {
        self.bytes(0..self.len())
    }

    /// A mutable slice of `range`, which must be the array data of the entry
    /// `token` was taken for (the dict only asks for that range).
    pub(crate) fn bytes_mut<'t>(
        &'t self,
        range: Range<usize>,
        token: &'t mut WriteToken,
    ) -> &'t mut [u8] {
        assert!(self.writable && range.start <= range.end && range.end <= self.len());
        debug_assert!(
            range.start as u64 > token.entry,
            "data lies inside its entry"
        );
        if range.is_empty() {
            return &mut [];
        }
        // SAFETY: in bounds (checked) of a writable shared mapping that lives
        // as long as `&self`. The write token is the only one for this entry
        // in this process and no read token exists for it (the borrow table
        // guarantees both), `range` is that entry's data, and the token is
        // borrowed mutably for the slice's lifetime: no other reference to
        // these bytes exists in this process. Other processes are covered by
        // the open contract (crate docs, "Safety").
        unsafe {
            std::slice::from_raw_parts_mut(self.raw.as_mut_ptr().add(range.start), range.len())
        }
    }
}

/// Per-entry borrow states of one dict, keyed by entry offset: a positive
/// count of shared views, or -1 for one mutable view.
#[derive(Debug, Default)]
pub(crate) struct Borrows {
    table: Mutex<HashMap<u64, isize>>,
}

/// The borrow tables of the files open in this process, by (device, inode):
/// two `Dict`s on the same file share one, so a shared view from one and a
/// mutable view from the other are refused as within one `Dict`.
static REGISTRY: Mutex<Vec<(FileId, Weak<Borrows>)>> = Mutex::new(Vec::new());

/// A file's (device, inode).
type FileId = (u64, u64);

fn file_id(file: &File) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

impl Borrows {
    /// The borrow table of `file`, shared with every other `Dict` of this
    /// process on the same file.
    pub(crate) fn for_file(file: &File) -> std::io::Result<Arc<Borrows>> {
        let id = file_id(file)?;
        let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|(_, w)| w.strong_count() > 0);
        if let Some(b) = reg
            .iter()
            .find(|(i, _)| *i == id)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(b);
        }
        let b = Arc::new(Borrows::default());
        reg.push((id, Arc::downgrade(&b)));
        Ok(b)
    }

    /// Registers `this` as the table of `file` (after vacuum made it a new
    /// inode).
    pub(crate) fn register(this: &Arc<Borrows>, file: &File) -> std::io::Result<()> {
        let id = file_id(file)?;
        let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|(i, w)| w.strong_count() > 0 && *i != id);
        reg.push((id, Arc::downgrade(this)));
        Ok(())
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, isize>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A shared borrow of entry `entry`, unless it is borrowed mutably.
    pub(crate) fn read(self: &Arc<Self>, entry: u64) -> Option<ReadToken> {
        let mut t = self.table();
        let n = t.entry(entry).or_insert(0);
        if *n < 0 {
            return None;
        }
        *n += 1;
        Some(ReadToken {
            borrows: self.clone(),
            entry,
        })
    }

    /// The mutable borrow of entry `entry`, unless it is borrowed at all.
    pub(crate) fn write(self: &Arc<Self>, entry: u64) -> Option<WriteToken> {
        let mut t = self.table();
        if t.contains_key(&entry) {
            return None;
        }
        t.insert(entry, -1);
        Some(WriteToken {
            borrows: self.clone(),
            entry,
        })
    }

    /// Number of entries borrowed.
    pub(crate) fn active(&self) -> usize {
        self.table().len()
    }

    fn release(&self, entry: u64, shared: bool) {
        let mut t = self.table();
        if shared {
            if let Some(n) = t.get_mut(&entry) {
                *n -= 1;
                if *n > 0 {
                    return;
                }
            }
        }
        t.remove(&entry);
    }
}

/// A shared borrow of one entry's data.
#[derive(Debug)]
pub(crate) struct ReadToken {
    borrows: Arc<Borrows>,
    entry: u64,
}

impl Drop for ReadToken {
    fn drop(&mut self) {
        self.borrows.release(self.entry, true);
    }
}

/// The mutable borrow of one entry's data.
#[derive(Debug)]
pub(crate) struct WriteToken {
    borrows: Arc<Borrows>,
    entry: u64,
}

impl Drop for WriteToken {
    fn drop(&mut self) {
        self.borrows.release(self.entry, false);
    }
}

/// A typed view of `bytes`, which must be aligned for `T` and hold exactly
/// `shape`'s product of elements; bools must be 0 or 1. Returns `None` if
/// any of that is not so. (bytemuck's casts: no `unsafe` here.)
pub(crate) fn view<'a, T: Element>(bytes: &'a [u8], shape: &[usize]) -> Option<ArrayViewD<'a, T>> {
    if elements::<T>(bytes, shape)? == 0 {
        return ArrayViewD::from_shape(IxDyn(shape), &[]).ok();
    }
    let s = mmpk_format::element::cast_slice::<T>(bytes)?;
    ArrayViewD::from_shape(IxDyn(shape), s).ok()
}

/// The mutable counterpart of [`view`].
pub(crate) fn view_mut<'a, T: Element>(
    bytes: &'a mut [u8],
    shape: &[usize],
) -> Option<ArrayViewMutD<'a, T>> {
    if elements::<T>(bytes, shape)? == 0 {
        return ArrayViewMutD::from_shape(IxDyn(shape), &mut []).ok();
    }
    let s = mmpk_format::element::cast_slice_mut::<T>(bytes)?;
    ArrayViewMutD::from_shape(IxDyn(shape), s).ok()
}

/// The number of elements of `shape`, if `bytes` holds exactly that many
/// `T`s (alignment and bool bytes are checked by the cast).
fn elements<T: Element>(bytes: &[u8], shape: &[usize]) -> Option<usize> {
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
    (n.checked_mul(std::mem::size_of::<T>())? == bytes.len()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    use num_complex::Complex;

    #[test]
    fn views_check_alignment_length_and_bools() {
        let v: Vec<u64> = vec![1, 2, 3, 4];
        let b: &[u8] = bytemuck::cast_slice(&v);
        let a = view::<u64>(b, &[2, 2]).unwrap();
        assert_eq!(a[[1, 0]], 3);
        assert!(view::<u64>(&b[1..25], &[3]).is_none());
        assert!(view::<u64>(b, &[3]).is_none());
        assert!(view::<u32>(b, &[8]).is_some());
        assert!(view::<bool>(&[0, 1, 1], &[3]).is_some());
        assert!(view::<bool>(&[0, 2], &[2]).is_none());
        assert_eq!(view::<f64>(&[], &[0, 5]).unwrap().len(), 0);
        assert!(view::<f64>(&[], &[usize::MAX, 2]).is_none());
        let c = [Complex::new(1.0f32, 2.0)];
        assert_eq!(bytemuck::cast_slice::<_, u8>(&c).len(), 8);
        let mut m = vec![0u16; 4];
        let mb: &mut [u8] = bytemuck::cast_slice_mut(&mut m);
        view_mut::<u16>(mb, &[4]).unwrap()[2] = 7;
        assert_eq!(m[2], 7);
    }

    #[test]
    fn borrows_exclude_as_refcell_does() {
        let b = Arc::new(Borrows::default());
        let r1 = b.read(5).unwrap();
        let r2 = b.read(5).unwrap();
        assert!(b.write(5).is_none());
        let w = b.write(6).unwrap();
        assert!(b.read(6).is_none());
        drop(r1);
        assert!(b.write(5).is_none());
        drop(r2);
        assert_eq!(b.active(), 1);
        let _w5 = b.write(5).unwrap();
        drop(w);
        assert!(b.read(6).is_some());
    }
}
