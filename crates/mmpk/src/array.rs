//! Array entries: inserting ndarrays, raw bytes or reservations, and the
//! [`Array`] / [`ArrayMut`] handles that view them in the map.

use std::io;
use std::sync::Arc;

use mmpk_format::array::{read_array, ArrayInfo, Encoding};
use mmpk_format::write::{write_array_head, write_array_tail_dtype};
use ndarray::{ArrayBase, ArrayD, ArrayViewD, ArrayViewMutD, Data, Dimension, IxDyn};

use crate::dict::{Dict, Layout};
use crate::dtype::{self, matches, Dtype, Element};
use crate::error::{Error, Result};
use crate::index::Loc;
use crate::map::{self, Map, ReadToken, WriteToken};
use crate::write::{NewEntry, RawData, Written};

/// Bytes a dtype and shape need: mmpk-format's one rule
/// ([`mmpk_format::array::nbytes`], numpy's: `None` if the product of the
/// non-zero dimensions times the item size exceeds `i64::MAX`, even when a
/// zero dimension makes the array empty), and at most `isize::MAX` on
/// this machine (ndarray's limit).
pub(crate) fn nbytes(dtype: &Dtype, shape: &[usize]) -> Option<u64> {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    mmpk_format::array::nbytes(dtype, &shape).filter(|&n| n <= isize::MAX as u64)
}

/// Chunk size for writing non-contiguous arrays.
const CHUNK: usize = 1 << 20;

impl Dict {
    pub(crate) fn array_entry<'a>(
        &self,
        key: &'a str,
        dtype: &Dtype,
        shape: &[usize],
        data: Option<RawData<'a>>,
        layout: Layout,
        replaces: Option<u64>,
    ) -> Result<Option<Written>> {
        let data_len = nbytes(dtype, shape).ok_or(Error::ShapeMismatch {
            key: Some(key.into()),
            expected: None,
            found: 0,
        })?;
        let (enc, align_data) = match layout {
            Layout::V2 => (Encoding::V2, true),
            Layout::Mmappickle1 => (Encoding::V1, false),
        };
        let mut prefix = Vec::with_capacity(enc.prefix_len() + 9);
        write_array_head(&mut prefix, enc, data_len);
        let mut suffix = Vec::with_capacity(32);
        let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        // (The v1 encoding refuses structured dtypes: numpy cannot parse
        // their str(dtype) back.)
        write_array_tail_dtype(&mut suffix, enc, dtype, &shape64).map_err(|source| {
            Error::Format {
                key: Some(key.into()),
                source,
            }
        })?;
        let e = NewEntry {
            key,
            prefix,
            data_len,
            data,
            suffix,
            memo_max: 0,
            align_data,
        };
        match replaces {
            None => self.insert_entry(e).map(Some),
            Some(at) => self.replace_entry_if(e, at),
        }
    }

    /// Inserts (or replaces) `key` with a copy of `array`, of any layout:
    /// the file holds it in C order, native byte order.
    pub fn insert_array<A, S, D>(&self, key: &str, array: &ArrayBase<S, D>) -> Result<()>
    where
        A: Element,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let dtype = A::dtype();
        let shape = array.shape().to_vec();
        if let Some(s) = array.as_slice() {
            let data = RawData::Bytes(bytemuck::cast_slice(s));
            self.array_entry(key, &dtype, &shape, Some(data), self.layout(), None)?;
            return Ok(());
        }
        let mut write = |f: &std::fs::File, at: u64| -> io::Result<()> {
            let per = (CHUNK / std::mem::size_of::<A>().max(1)).max(1);
            let mut buf: Vec<A> = Vec::with_capacity(per.min(array.len()));
            let mut at = at;
            for &x in array.iter() {
                buf.push(x);
                if buf.len() == per {
                    crate::io::write_all_at(f, bytemuck::cast_slice(&buf), at)?;
                    at += std::mem::size_of_val(buf.as_slice()) as u64;
                    buf.clear();
                }
            }
            crate::io::write_all_at(f, bytemuck::cast_slice(&buf), at)
        };
        let data = RawData::Writer(&mut write);
        self.array_entry(key, &dtype, &shape, Some(data), self.layout(), None)?;
        Ok(())
    }

    /// Inserts (or replaces) `key` with an array of `dtype` (numpy's
    /// `dtype.str` or `str(dtype)`) and `shape` whose raw bytes, C order in
    /// the dtype's byte order, are `raw`.
    pub fn insert_bytes(&self, key: &str, dtype: &str, shape: &[usize], raw: &[u8]) -> Result<()> {
        let dt = dtype::parse(dtype)?;
        let need = nbytes(&dt, shape);
        if need != Some(raw.len() as u64) {
            return Err(Error::ShapeMismatch {
                key: Some(key.into()),
                expected: need,
                found: raw.len() as u64,
            });
        }
        let data = Some(RawData::Bytes(raw));
        self.array_entry(key, &dt, shape, data, self.layout(), None)?;
        Ok(())
    }

    /// Reserves an array of `T` and `shape` under `key`: its bytes are
    /// allocated in the file (sparse: they read as zeros and take no disk
    /// until written) but never written. Fill it through
    /// [`Dict::array_mut`]. Takes the same time for any size.
    pub fn reserve<T: Element>(&self, key: &str, shape: &[usize]) -> Result<()> {
        self.array_entry(key, &T::dtype(), shape, None, self.layout(), None)?;
        Ok(())
    }

    /// [`Dict::reserve`] for a dtype given as a string.
    pub fn reserve_dtype(&self, key: &str, dtype: &str, shape: &[usize]) -> Result<()> {
        self.array_entry(key, &dtype::parse(dtype)?, shape, None, self.layout(), None)?;
        Ok(())
    }

    /// Locates `key`'s live entry; returns the index map and the data map,
    /// both covering it.
    pub(crate) fn locate(&self, key: &str) -> Result<(Arc<Map>, Arc<Map>, Loc)> {
        self.with_lock(|s, st| {
            let loc = *st
                .index
                .live
                .get(key)
                .ok_or_else(|| Error::KeyNotFound { key: key.into() })?;
            let index = s.index_map_covering(st, loc.end())?;
            Ok((index, s.map_covering(st, loc.end())?, loc))
        })
    }

    /// Locates `key`'s array; returns the data map (covering it) and its info.
    pub(crate) fn locate_array(&self, key: &str) -> Result<(Arc<Map>, ArrayInfo)> {
        let (index, map, loc) = self.locate(key)?;
        let a = read_array(index.all(), loc.value_span()).map_err(|source| Error::NotAnArray {
            key: key.into(),
            source,
        })?;
        let info = array_info(key, &loc, &a)?;
        Ok((map, info))
    }

    /// A shared handle on `key`'s array. While it lives, [`Dict::array_mut`]
    /// of the same entry fails with [`Error::Busy`].
    pub fn array(&self, key: &str) -> Result<Array> {
        let (map, info) = self.locate_array(key)?;
        self.array_handle(map, info)
    }

    /// A shared handle on an array already located (masked arrays' parts).
    pub(crate) fn array_handle(&self, map: Arc<Map>, info: ArrayInfo) -> Result<Array> {
        let token = self
            .shared
            .borrows
            .read(info.entry_offset)
            .ok_or_else(|| Error::Busy {
                key: info.key.clone(),
            })?;
        Ok(Array {
            map,
            shape: usize_shape(&info)?,
            info,
            _token: token,
        })
    }

    /// The exclusive, writable handle on `key`'s array: one per entry in this
    /// process, and none while an [`Array`] of it lives ([`Error::Busy`]).
    /// Writes land in the file (shared memory: other processes see them).
    pub fn array_mut(&self, key: &str) -> Result<ArrayMut> {
        self.shared.check_writable("array_mut")?;
        let (map, info) = self.locate_array(key)?;
        let token = self
            .shared
            .borrows
            .write(info.entry_offset)
            .ok_or_else(|| Error::Busy { key: key.into() })?;
        Ok(ArrayMut {
            #[cfg(feature = "crash-record")]
            shadow: self.shared.shadow(&map, range(&info)),
            map,
            shape: usize_shape(&info)?,
            info,
            token,
            file: self.shared.file(),
            path: self.shared.path.clone(),
        })
    }
}

/// Describes a decoded, validated array value of entry `loc` (shapes must
/// also fit this machine's `usize` and `isize::MAX` bytes).
pub(crate) fn array_info(key: &str, loc: &Loc, a: &mmpk_format::array::Array) -> Result<ArrayInfo> {
    let info = a.info(key, loc.offset, 0);
    let shape = usize_shape(&info)?;
    let need = nbytes(&info.dtype, &shape);
    if need != Some(info.nbytes) {
        return Err(Error::ShapeMismatch {
            key: Some(key.into()),
            expected: need,
            found: info.nbytes,
        });
    }
    Ok(info)
}

/// The shape as this machine's `usize`s ([`Error::ShapeMismatch`] if a
/// dimension does not fit).
pub(crate) fn usize_shape(info: &ArrayInfo) -> Result<Vec<usize>> {
    info.shape
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| Error::ShapeMismatch {
            key: Some(info.key.clone()),
            expected: None,
            found: info.nbytes,
        })
}

fn typed_view<'a, T: Element>(
    info: &ArrayInfo,
    shape: &[usize],
    map: &'a Map,
) -> Result<ArrayViewD<'a, T>> {
    check_type::<T>(info)?;
    let bytes = map.bytes(range(info));
    map::view::<T>(bytes, shape).ok_or_else(|| view_error::<T>(info, map, bytes))
}

fn check_type<T: Element>(info: &ArrayInfo) -> Result<()> {
    if !matches::<T>(&info.dtype) {
        return Err(Error::WrongType {
            key: info.key.clone(),
            stored: dtype::text(&info.dtype),
            requested: T::NAME,
        });
    }
    if !dtype::is_native(&info.dtype) {
        return Err(Error::ByteOrder {
            key: info.key.clone(),
            dtype: dtype::text(&info.dtype),
        });
    }
    Ok(())
}

/// Why [`map::view`] refused (the type and order already matched).
fn view_error<T: Element>(info: &ArrayInfo, map: &Map, bytes: &[u8]) -> Error {
    let align = std::mem::align_of::<T>();
    if !map.addr(range(info).start).is_multiple_of(align) {
        return Error::Misaligned {
            key: info.key.clone(),
            offset: info.data_offset,
            align,
        };
    }
    match bytes.iter().position(|&b| b > 1) {
        Some(i) => Error::InvalidBool {
            key: info.key.clone(),
            offset: info.data_offset + i as u64,
        },
        None => Error::ShapeMismatch {
            key: Some(info.key.clone()),
            expected: None,
            found: info.nbytes,
        },
    }
}

fn owned<T: Element>(info: &ArrayInfo, shape: &[usize], bytes: &[u8]) -> Result<ArrayD<T>> {
    if !matches::<T>(&info.dtype) {
        return Err(Error::WrongType {
            key: info.key.clone(),
            stored: dtype::text(&info.dtype),
            requested: T::NAME,
        });
    }
    let size = std::mem::size_of::<T>();
    let order = dtype::order(&info.dtype);
    let v: Vec<T> = bytes
        .chunks_exact(size)
        .map(|c| T::read(c, order))
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|_| Error::ShapeMismatch {
        key: Some(info.key.clone()),
        expected: None,
        found: info.nbytes,
    })
}

/// The raw bytes' range in the map (located arrays fit in the map).
pub(crate) fn range(info: &ArrayInfo) -> std::ops::Range<usize> {
    info.data_offset as usize..(info.data_offset + info.nbytes) as usize
}

/// A shared handle on one stored array: it keeps its map alive and holds a
/// shared borrow of the entry (see [`Dict::array`]).
#[derive(Debug)]
pub struct Array {
    map: Arc<Map>,
    info: ArrayInfo,
    shape: Vec<usize>,
    _token: ReadToken,
}

impl Array {
    /// Where and what the array is.
    pub fn info(&self) -> &ArrayInfo {
        &self.info
    }

    /// The stored dtype.
    pub fn dtype(&self) -> &Dtype {
        &self.info.dtype
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The raw bytes (C order, stored byte order), zero-copy.
    pub fn bytes(&self) -> &[u8] {
        self.map.bytes(range(&self.info))
    }

    /// A zero-copy typed view. Needs `T` to match the dtype, native byte
    /// order and aligned raw bytes: [`Error::WrongType`],
    /// [`Error::ByteOrder`], [`Error::Misaligned`] otherwise.
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        typed_view(&self.info, &self.shape, &self.map)
    }

    /// An owned copy in native byte order, whatever the stored byte order
    /// and alignment (v1 or v2).
    pub fn to_owned<T: Element>(&self) -> Result<ArrayD<T>> {
        owned(&self.info, &self.shape, self.bytes())
    }
}

/// The exclusive, writable handle on one stored array (see
/// [`Dict::array_mut`]).
#[derive(Debug)]
pub struct ArrayMut {
    map: Arc<Map>,
    info: ArrayInfo,
    shape: Vec<usize>,
    token: WriteToken,
    /// The file mapped (for [`ArrayMut::flush`]).
    file: Arc<std::fs::File>,
    path: std::path::PathBuf,
    /// The bytes as last recorded, if this thread recorded when the
    /// handle was made (crash-state recording only; records when dropped).
    #[cfg(feature = "crash-record")]
    shadow: Option<Arc<crate::record::Shadow>>,
}

impl ArrayMut {
    /// Where and what the array is.
    pub fn info(&self) -> &ArrayInfo {
        &self.info
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// A zero-copy typed view (see [`Array::view`]).
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        typed_view(&self.info, &self.shape, &self.map)
    }

    /// An owned copy in native byte order (see [`Array::to_owned`]).
    pub fn to_owned<T: Element>(&self) -> Result<ArrayD<T>> {
        owned(&self.info, &self.shape, self.map.bytes(range(&self.info)))
    }

    /// Makes the stores made through this handle durable: `msync(MS_SYNC)`
    /// of the array's bytes (followed by `F_FULLFSYNC` of the file on Apple
    /// platforms, where `msync` leaves them in the drive's cache). When it
    /// returns, a power cut leaves the array as it is now. Until then,
    /// stores are in the page cache: a crash of the process loses none of
    /// them, a power cut may leave any mix of old and new pages (each
    /// 512-byte sector old or new). Dropping the handle does not flush.
    pub fn flush(&self) -> Result<()> {
        #[cfg(feature = "crash-record")]
        if let Some(sh) = &self.shadow {
            sh.record();
        }
        let r = range(&self.info);
        crate::io::msync(&self.map, &self.file, r.start, r.len())
            .map_err(|e| Error::io("msync", &self.path, e))
    }

    /// The raw bytes, writable, zero-copy.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.map.bytes_mut(range(&self.info), &mut self.token)
    }

    /// A zero-copy mutable typed view; writes land in the file.
    pub fn view_mut<T: Element>(&mut self) -> Result<ArrayViewMutD<'_, T>> {
        check_type::<T>(&self.info)?;
        let range = range(&self.info);
        let addr_ok = self
            .map
            .addr(range.start)
            .is_multiple_of(std::mem::align_of::<T>());
        if !addr_ok && self.info.nbytes > 0 {
            return Err(Error::Misaligned {
                key: self.info.key.clone(),
                offset: self.info.data_offset,
                align: std::mem::align_of::<T>(),
            });
        }
        let key = self.info.key.clone();
        let offset = self.info.data_offset;
        let bytes = self.map.bytes_mut(range, &mut self.token);
        if let Some(i) = (T::KIND == crate::dtype::DtypeKind::Bool)
            .then(|| bytes.iter().position(|&b| b > 1))
            .flatten()
        {
            return Err(Error::InvalidBool {
                key,
                offset: offset + i as u64,
            });
        }
        map::view_mut::<T>(bytes, &self.shape).ok_or(Error::ShapeMismatch {
            key: Some(key),
            expected: None,
            found: self.info.nbytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_overflow_into_none() {
        let f8 = dtype::parse("<f8").unwrap();
        assert_eq!(nbytes(&f8, &[2, 3]), Some(48));
        assert_eq!(nbytes(&f8, &[]), Some(8));
        assert_eq!(nbytes(&f8, &[0, usize::MAX]), None);
        assert_eq!(nbytes(&f8, &[1 << 31, 0]), Some(0));
        assert_eq!(nbytes(&f8, &[usize::MAX / 4]), None);
    }

    #[test]
    fn non_contiguous_arrays_cross_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::dict::test_dict(&dir.path().join("a.mmpk"), Layout::V2);
        // 3 * CHUNK bytes of u16 plus a remainder, transposed.
        let n = 3 * CHUNK / 2 + 7;
        let a = ndarray::Array::from_shape_fn((n, 2), |(i, j)| (i * 2 + j) as u16);
        let t = a.t();
        assert!(t.as_slice().is_none());
        d.insert_array("t", &t).unwrap();
        let got = d.array("t").unwrap();
        assert_eq!(got.view::<u16>().unwrap(), t.into_dyn());
        assert_eq!(got.info().nbytes as usize, n * 4);
    }
}
