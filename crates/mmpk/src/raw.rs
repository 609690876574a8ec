//! Raw handles on stored arrays for foreign code (the Python binding hands
//! them to numpy): the array's place and dtype, and raw pointers into a map
//! that the handle keeps alive.
//!
//! A [`RawArray`] takes no borrow of its entry: it bypasses the
//! one-writer-per-entry rule that [`crate::Array`] and [`crate::ArrayMut`]
//! enforce. That rule is Rust's (no `&mut [u8]` may alias another
//! reference); foreign code that holds raw pointers follows its own rules
//! (numpy lets any number of writable views share memory). Handing out raw
//! pointers is safe; dereferencing them is the caller's `unsafe`, under the
//! open contract (crate docs, "Safety") and these guarantees:
//!
//! - the bytes `as_ptr()..as_ptr() + len()` stay mapped for as long as the
//!   handle (or a clone) lives, even after the dict is dropped;
//! - removing or replacing the key never frees or reuses them: mmpk never
//!   writes over a committed entry (deleting flips a validity byte in the
//!   entry's frame, outside the raw data; new entries go after the last
//!   one), so the handle keeps seeing the old value, and writes through it
//!   land in dead bytes that no reader sees;
//! - [`crate::Dict::vacuum`] refuses to run while any handle of the file's
//!   maps (the current one, or one the file has outgrown) is alive in this
//!   process ([`crate::Error::ViewsAlive`]);
//! - a file truncated by someone else (outside the protocol) faults with
//!   `SIGBUS` on access, as for any map.

use std::sync::Arc;

use mmpk_format::array::{decode_array, read_array};
use mmpk_format::masked::{read_masked, MaskKind};

use crate::array::array_info;
use crate::dict::Dict;
use crate::error::{Error, Result};
use crate::map::Map;
use mmpk_format::array::ArrayInfo;

/// A raw handle on one stored array's bytes: its [`ArrayInfo`] and the map
/// holding them (see the module docs of `raw` for what it guarantees).
#[derive(Clone, Debug)]
pub struct RawArray {
    map: Arc<Map>,
    info: ArrayInfo,
    /// The bytes as last recorded (crash-state recording only; clones
    /// share it, and it records when the last one is dropped).
    #[cfg(feature = "crash-record")]
    _shadow: Option<Arc<crate::record::Shadow>>,
}

impl RawArray {
    /// Where and what the array is.
    pub fn info(&self) -> &ArrayInfo {
        &self.info
    }

    /// Length of the raw bytes (`info().nbytes`, as a `usize`).
    pub fn len(&self) -> usize {
        self.info.nbytes as usize
    }

    /// Whether the array has no bytes.
    pub fn is_empty(&self) -> bool {
        self.info.nbytes == 0
    }

    /// Address of the first raw byte; `len()` bytes from it are mapped for
    /// as long as this handle lives. Never null.
    pub fn as_ptr(&self) -> *const u8 {
        self.map.ptr(self.info.data_offset as usize).cast_const()
    }

    /// The same address for writing, if the map is writable (the dict was
    /// not opened read-only: its pages are mapped read-only otherwise, and
    /// a write would fault). Writes land in the file (shared map).
    pub fn as_mut_ptr(&self) -> Option<*mut u8> {
        self.map
            .is_writable()
            .then(|| self.map.ptr(self.info.data_offset as usize))
    }

    /// Whether [`RawArray::as_mut_ptr`] gives a pointer.
    pub fn is_writable(&self) -> bool {
        self.map.is_writable()
    }
}

/// A masked array's two raw handles (see [`Dict::get_raw`]).
#[derive(Clone, Debug)]
pub struct RawMasked {
    /// The data.
    pub data: RawArray,
    /// The mask (`|b1`; the data's shape, or 0-d).
    pub mask: RawArray,
    /// What the mask means.
    pub kind: MaskKind,
}

/// What [`Dict::get_raw`] found under a key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RawValue {
    /// An array (v1 or v2).
    Array(RawArray),
    /// A masked array.
    Masked(RawMasked),
    /// Any other value: read it with [`Dict::get_pickle`] or
    /// [`Dict::value_bytes`].
    Other,
}

impl Dict {
    /// A raw handle on `key`'s array. It takes no borrow of the entry (see
    /// the module docs of `raw`): several handles, writable ones included,
    /// may coexist, with each other and with [`crate::Array`]s.
    /// [`Error::NotAnArray`] if the value is not a plain array.
    pub fn raw_array(&self, key: &str) -> Result<RawArray> {
        let (map, info) = self.locate_array(key)?;
        Ok(self.raw(map, info))
    }

    fn raw(&self, map: Arc<Map>, info: ArrayInfo) -> RawArray {
        RawArray {
            #[cfg(feature = "crash-record")]
            _shadow: map
                .is_writable()
                .then(|| self.shared.shadow(&map, crate::array::range(&info)))
                .flatten(),
            map,
            info,
        }
    }

    /// What `key` holds, located once: raw handles for an array or a masked
    /// array, [`RawValue::Other`] for anything else.
    pub fn get_raw(&self, key: &str) -> Result<RawValue> {
        let (index, map, loc) = self.locate(key)?;
        let file = index.all();
        let span = loc.value_span();
        // read_array decodes structured dtypes (descr lists) too;
        // decode_array tells an array entry whose dtype or length is bad.
        match read_array(file, span.clone()) {
            Ok(a) => {
                let info = array_info(key, &loc, &a)?;
                return Ok(RawValue::Array(self.raw(map, info)));
            }
            Err(source) if decode_array(file, span.clone()).is_ok() => {
                return Err(Error::NotAnArray {
                    key: key.into(),
                    source,
                })
            }
            Err(_) => {}
        }
        if let Ok(m) = read_masked(file, span) {
            let data = array_info(key, &loc, &m.data)?;
            let mask = array_info(key, &loc, &m.mask)?;
            return Ok(RawValue::Masked(RawMasked {
                data: self.raw(map.clone(), data),
                mask: self.raw(map, mask),
                kind: m.mask_kind,
            }));
        }
        Ok(RawValue::Other)
    }

    /// Writes every change made through maps of the file (views, raw
    /// handles) and by inserts to the disk (`fsync`; `F_FULLFSYNC` on Apple
    /// platforms): on Linux the maps share the file's page cache, so
    /// syncing the file syncs them all. Whatever the options: when it
    /// returns, a power cut leaves the dict as it is now. In the default
    /// (not durable) mode, call it after a batch of inserts to make the
    /// batch durable for one barrier.
    pub fn flush(&self) -> Result<()> {
        let s = &*self.shared;
        #[cfg(feature = "crash-record")]
        s.record_stores();
        crate::io::sync_all(&s.file()).map_err(|e| Error::io("fsync", &s.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;

    #[test]
    fn raw_handles_outlive_removal_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::dict::test_dict(&dir.path().join("r.mmpk"), Layout::V2);
        d.insert_array("a", &ndarray::arr1(&[1u32, 2, 3])).unwrap();
        d.insert_array("b", &ndarray::arr1(&[1u8])).unwrap();
        let r = d.raw_array("a").unwrap();
        let r2 = d.raw_array("a").unwrap();
        assert_eq!(r.len(), 12);
        assert_eq!(r.as_ptr() as usize % 64, 0);
        assert!(r.is_writable());
        // Two writable handles at once, and a shared Array beside them.
        let _shared = d.array("a").unwrap();
        let (p, q) = (r.as_mut_ptr().unwrap(), r2.as_mut_ptr().unwrap());
        assert_eq!(p, q);
        drop(_shared);
        d.insert_array("a", &ndarray::arr1(&[9u32])).unwrap();
        d.remove("a").unwrap();
        // The handle keeps the old bytes mapped (read through the map's own
        // checked accessor: no `unsafe` outside map.rs).
        let start = r.info().data_offset as usize;
        let old = r.map.bytes(start..start + r.len());
        assert_eq!(old, bytemuck::cast_slice::<u32, u8>(&[1, 2, 3]));
        assert!(matches!(d.raw_array("a"), Err(Error::KeyNotFound { .. })));
        // Vacuum waits for the handles of the current map, and of maps the
        // file has outgrown since.
        assert!(matches!(d.vacuum(), Err(Error::ViewsAlive { .. })));
        drop((r, r2));
        let small = d.raw_array("b").unwrap();
        d.reserve::<u8>("big", &[1 << 20]).unwrap();
        let _big = d.raw_array("big").unwrap();
        drop(_big);
        assert!(matches!(d.vacuum(), Err(Error::ViewsAlive { maps: 1 })));
        drop(small);
        d.vacuum().unwrap();
    }

    #[test]
    fn get_raw_tells_the_kinds_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::dict::test_dict(&dir.path().join("k.mmpk"), Layout::V2);
        d.insert_masked_bytes("m", "<i2", &[2], &[1, 0, 2, 0], Some(&[0, 1]))
            .unwrap();
        d.insert_bytes("b", ">f8", &[1], &[0; 8]).unwrap();
        d.insert_bytes("st", "[('x', '<f4'), ('y', '>i8', (2,))]", &[1], &[0; 20])
            .unwrap();
        let mut p = crate::Pickle::new();
        let root = p.push(pickle_ops::Value::str("x"));
        p.set_root(root);
        d.insert_pickle("s", &p).unwrap();
        let RawValue::Masked(m) = d.get_raw("m").unwrap() else {
            panic!("not masked")
        };
        assert_eq!(
            (m.data.len(), m.mask.len(), m.kind),
            (4, 2, MaskKind::Elementwise)
        );
        let RawValue::Array(b) = d.get_raw("b").unwrap() else {
            panic!("not an array")
        };
        assert_eq!(crate::dtype::text(&b.info().dtype), ">f8");
        assert!(matches!(d.get_raw("s").unwrap(), RawValue::Other));
        let RawValue::Array(st) = d.get_raw("st").unwrap() else {
            panic!("structured arrays are arrays")
        };
        assert_eq!(st.len(), 20);
        assert!(matches!(d.raw_array("s"), Err(Error::NotAnArray { .. })));
        // Read-only dicts give no write pointer.
        // SAFETY: test only: a private temporary file.
        let ro = unsafe { Dict::open_read_only(dir.path().join("k.mmpk")).unwrap() };
        assert!(ro.raw_array("b").unwrap().as_mut_ptr().is_none());
    }
}
