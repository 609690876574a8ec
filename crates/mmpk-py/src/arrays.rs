//! numpy arrays over the map (the hand-off of mapped bytes to numpy) and
//! array writes from numpy's buffers.
//!
//! A mapped array is made by numpy's own constructor
//! (`PyArray_NewFromDescr`) from the entry's dtype, shape and raw bytes,
//! with a [`MapRegion`] as its base object: the region holds an
//! [`mmpk::RawArray`], which keeps the map alive for as long as any array
//! (or view of a view) of it lives, after the dict is closed too. Before
//! any array is made, numpy's `itemsize * size` for the dtype and shape is
//! checked to equal the entry's byte range: no dtype can yield a view past
//! its entry.

use mmpk::{Dtype, RawArray};
use numpy::npyffi::{self, npy_intp, NpyTypes, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PySlice, PyTuple};

use crate::errors;
use crate::pool::PooledBuffer;

/// The base object of every array that views a file: it owns a reference
/// to the file's map, so the mapped bytes stay valid while it lives.
#[pyclass(module = "mmpk._mmpk", name = "MapRegion", frozen)]
pub(crate) struct MapRegion {
    raw: RawArray,
}

#[pymethods]
impl MapRegion {
    /// The key whose entry this region is (as it was when mapped).
    #[getter]
    fn key(&self) -> &str {
        &self.raw.info().key
    }

    /// File offset of the region's first byte.
    #[getter]
    fn offset(&self) -> u64 {
        self.raw.info().data_offset
    }

    /// Length of the region in bytes.
    #[getter]
    fn nbytes(&self) -> u64 {
        self.raw.info().nbytes
    }

    fn __repr__(&self) -> String {
        let i = self.raw.info();
        format!(
            "<mmpk.MapRegion of {:?}: {} bytes at byte {}>",
            i.key, i.nbytes, i.data_offset
        )
    }
}

/// numpy's dtype for a stored dtype.
pub(crate) fn numpy_dtype<'py>(py: Python<'py>, d: &Dtype) -> PyResult<Bound<'py, PyArrayDescr>> {
    match d {
        Dtype::Scalar(s) => PyArrayDescr::new(py, s.str()),
        Dtype::Structured(st) => {
            let (names, formats) = (PyList::empty(py), PyList::empty(py));
            let (offsets, titles) = (PyList::empty(py), PyList::empty(py));
            let mut any_title = false;
            for f in st.fields() {
                names.append(&f.name)?;
                let sub = numpy_dtype(py, &f.dtype)?;
                if f.shape.is_empty() {
                    formats.append(sub)?;
                } else {
                    formats.append((sub, PyTuple::new(py, &f.shape)?))?;
                }
                offsets.append(f.offset)?;
                any_title |= f.title.is_some();
                titles.append(f.title.as_deref())?;
            }
            let spec = PyDict::new(py);
            spec.set_item("names", names)?;
            spec.set_item("formats", formats)?;
            spec.set_item("offsets", offsets)?;
            if any_title {
                spec.set_item("titles", titles)?;
            }
            spec.set_item("itemsize", st.itemsize())?;
            spec.set_item("aligned", st.is_aligned())?;
            PyArrayDescr::new(py, spec)
        }
    }
}

/// A numpy array viewing `raw`'s bytes (zero copy), writable if asked
/// (and the map is writable).
pub(crate) fn view<'py>(
    py: Python<'py>,
    raw: RawArray,
    writable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let info = raw.info();
    let descr = numpy_dtype(py, &info.dtype)?;
    let count = info.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let need = count.and_then(|n| n.checked_mul(descr.itemsize() as u64));
    if need != Some(info.nbytes) {
        return Err(errors::new(
            py,
            "FormatError",
            format!(
                "entry {:?}: numpy's dtype {} and shape {:?} need {} bytes, the entry holds {} at byte {}",
                info.key,
                descr.str()?,
                info.shape,
                need.map_or("more than 2**64".to_string(), |n| n.to_string()),
                info.nbytes,
                info.data_offset
            ),
        ));
    }
    let mut dims = info
        .shape
        .iter()
        .map(|&d| npy_intp::try_from(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            errors::new(
                py,
                "FormatError",
                format!("entry {:?}: a dimension exceeds numpy's limit", info.key),
            )
        })?;
    hand_off(
        py,
        descr,
        &mut dims,
        Base::Map(Bound::new(py, MapRegion { raw })?),
        writable,
    )
}

/// The object that owns the bytes of an array handed to numpy: it becomes
/// the array's base object.
pub(crate) enum Base<'py> {
    /// A file's mapped bytes (writable only through a writable map).
    Map(Bound<'py, MapRegion>),
    /// A heap block of the read-buffer pool (always writable).
    Pooled(Bound<'py, PooledBuffer>),
}

/// A C-contiguous numpy array of `descr` and `dims` over the bytes `base`
/// owns (zero copy), writable if asked and `base` allows it. This is the
/// one place bytes are handed to numpy: `ValueError` unless numpy's
/// `itemsize * size` for `descr` and `dims` is exactly `base`'s length.
pub(crate) fn hand_off<'py>(
    py: Python<'py>,
    descr: Bound<'py, PyArrayDescr>,
    dims: &mut [npy_intp],
    base: Base<'py>,
    writable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (data, len, can_write) = match &base {
        Base::Map(m) => {
            let raw = &m.get().raw;
            let len = usize::try_from(raw.info().nbytes).ok();
            match raw.as_mut_ptr() {
                Some(p) => (p, len, true),
                None => (raw.as_ptr().cast_mut(), len, false),
            }
        }
        Base::Pooled(b) => {
            let (p, len) = b.get().bytes();
            (p, Some(len), true)
        }
    };
    let count = dims.iter().try_fold(1usize, |a, &d| {
        usize::try_from(d).ok().and_then(|d| a.checked_mul(d))
    });
    let need = count.and_then(|n| n.checked_mul(descr.itemsize()));
    if need.is_none() || need != len {
        return Err(PyValueError::new_err(format!(
            "numpy's dtype {} and shape {dims:?} do not fit {len:?} bytes",
            descr.str()?
        )));
    }
    let nd = i32::try_from(dims.len())
        .map_err(|_| PyValueError::new_err(format!("{} dimensions: too many", dims.len())))?;
    let flags = if writable && can_write {
        npyffi::NPY_ARRAY_WRITEABLE
    } else {
        0
    };
    let owner = match base {
        Base::Map(m) => m.into_any(),
        Base::Pooled(b) => b.into_any(),
    };
    // SAFETY: `data` points at `len` initialised bytes owned by `owner`
    // (a map's bytes, held by the `RawArray` that holds the map, or a
    // pool block, freed or recycled only when its `PooledBuffer` is
    // dropped), exactly what numpy's `itemsize * size` for `descr` and
    // `dims` covers (checked above), and C-contiguous strides (NULL) stay
    // inside them. `owner` becomes the array's base object before the
    // array is given to anyone, so every view numpy derives from it keeps
    // the bytes alive. The WRITEABLE flag is set only where writing is
    // allowed (a read-write, shared map, or a pool block, whose pointer
    // nothing else holds); numpy sets the alignment flag itself
    // (unaligned views are valid in numpy). `PyArray_NewFromDescr` steals
    // the reference to `descr` and `PyArray_SetBaseObject` the one to
    // `owner`, even on failure; a null result is an error set by numpy.
    unsafe {
        let subtype = npyffi::get_type_object(py, NpyTypes::PyArray_Type);
        let arr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            subtype,
            descr.into_dtype_ptr(),
            nd,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            data.cast(),
            flags,
            std::ptr::null_mut(),
        );
        let arr = Bound::from_owned_ptr_or_err(py, arr)?;
        if PY_ARRAY_API.PyArray_SetBaseObject(py, arr.as_ptr().cast(), owner.into_ptr()) < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(arr)
    }
}

static MASKED_ARRAY: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
static NOMASK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `numpy.ma.MaskedArray`.
pub(crate) fn masked_array_type(py: Python<'_>) -> PyResult<&Bound<'_, pyo3::types::PyType>> {
    MASKED_ARRAY.import(py, "numpy.ma", "MaskedArray")
}

/// Whether `value` is a `numpy.ma.MaskedArray`. `numpy.ma` is not
/// imported for it (~15-50 ms): while it is not in `sys.modules`, no masked
/// array can exist, so storing a plain array never imports it.
pub(crate) fn is_masked(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Some(t) = MASKED_ARRAY.get(py) {
        return value.is_instance(t.bind(py));
    }
    if !py.import("sys")?.getattr("modules")?.contains("numpy.ma")? {
        return Ok(false);
    }
    value.is_instance(masked_array_type(py)?)
}

/// A `numpy.ma.MaskedArray` over the mapped data and (per-element) mask.
pub(crate) fn masked_view<'py>(
    py: Python<'py>,
    m: mmpk::RawMasked,
    writable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    use mmpk::MaskKind;
    let data = view(py, m.data, writable)?;
    let mask = match m.kind {
        MaskKind::Elementwise => view(py, m.mask, writable)?,
        MaskKind::Nomask => NOMASK.import(py, "numpy.ma", "nomask")?.clone(),
        _ => true.into_pyobject(py)?.to_owned().into_any(),
    };
    let kw = PyDict::new(py);
    kw.set_item("mask", mask)?;
    kw.set_item("copy", false)?;
    let ma = masked_array_type(py)?.call((data,), Some(&kw))?;
    if m.kind == MaskKind::Elementwise {
        // The mask is the mapped one, not shared with another masked
        // array: masking an element writes it in place (into the file).
        ma.setattr("_sharedmask", false)?;
    }
    Ok(ma)
}

/// The dtype text mmpk parses for a numpy dtype: `dtype.str`, or
/// `str(dtype)` for a structured one. `None` if mmpk cannot store it as an
/// array (object dtypes, numpy 2's StringDType, ...).
fn dtype_text(dt: &Bound<'_, PyArrayDescr>) -> PyResult<Option<String>> {
    if dt.has_object() {
        return Ok(None);
    }
    let text = if dt.has_fields() {
        dt.str()?.to_string()
    } else {
        dt.getattr("str")?.extract::<String>()?
    };
    Ok(Dtype::parse(&text).ok().map(|_| text))
}

/// `a` itself if C-contiguous, else a C-order copy.
fn c_order<'py>(a: &Bound<'py, PyUntypedArray>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if a.is_c_contiguous() {
        return Ok(a.clone());
    }
    Ok(a.call_method1("copy", ("C",))?
        .cast_into::<PyUntypedArray>()?)
}

/// The bytes of a C-contiguous array.
///
/// The slice is valid while `a` lives and is not resized: numpy frees or
/// moves an array's data only on deallocation or `resize`, which refuses
/// while other references exist unless forced with `refcheck=False` (the
/// same assumption numpy's own `tofile` makes when it releases the GIL).
fn c_bytes<'a>(a: &'a Bound<'_, PyUntypedArray>) -> &'a [u8] {
    let n = a.len() * a.dtype().itemsize();
    if n == 0 {
        return &[];
    }
    // SAFETY: `a` is C-contiguous (callers pass `c_order`'s result), so its
    // `len * itemsize` bytes start at its data pointer and are initialised
    // (numpy arrays of non-object dtypes hold plain bytes); the slice
    // borrows `a`, which keeps the array and so its data alive.
    unsafe {
        let data = (*a.as_array_ptr()).fields.data;
        std::slice::from_raw_parts(data.cast::<u8>().cast_const(), n)
    }
}

/// Stores a numpy array under `key`: C-contiguous input straight from its
/// buffer, with the GIL released; any other layout in C order, copied in
/// blocks of at most [`CHUNK`] bytes (see [`store_strided`]). `Ok(false)`:
/// its dtype is not one mmpk stores as an array (the caller pickles it
/// instead).
pub(crate) fn store(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    a: &Bound<'_, PyUntypedArray>,
) -> PyResult<bool> {
    let Some(text) = dtype_text(&a.dtype())? else {
        return Ok(false);
    };
    let nbytes = a.len().saturating_mul(a.dtype().itemsize());
    if !a.is_c_contiguous() && nbytes > CHUNK {
        store_strided(py, dict, key, &text, a)?;
        return Ok(true);
    }
    let c = c_order(a)?;
    let shape = c.shape().to_vec();
    let bytes = c_bytes(&c);
    crate::dict::retry(py, || dict.insert_bytes(key, &text, &shape, bytes))?;
    Ok(true)
}

/// The most bytes of a non-contiguous array copied at once when it is
/// written.
const CHUNK: usize = 16 << 20;

/// Writes `a` (not C-contiguous, more than [`CHUNK`] bytes) in C order
/// without a whole copy: in blocks `a[i, j, ..., p:q]` of at most `CHUNK`
/// bytes (of one element at least), each copied in C order with the GIL
/// held and written with it released, while the new entry is filled
/// ([`mmpk::Dict::insert_array_with`]).
fn store_strided(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    text: &str,
    a: &Bound<'_, PyUntypedArray>,
) -> PyResult<()> {
    let shape = a.shape().to_vec();
    let itemsize = a.dtype().itemsize().max(1);
    // tail[k]: the bytes of one block of the trailing axes shape[k..].
    let mut tail = vec![itemsize; shape.len() + 1];
    for k in (0..shape.len()).rev() {
        tail[k] = tail[k + 1].saturating_mul(shape[k]);
    }
    // The first axis whose trailing blocks fit (the caller saw the whole
    // not fit, so k >= 1): blocks run along axis k - 1, at every index of
    // the axes before it.
    let k = (1..=shape.len())
        .find(|&k| tail[k] <= CHUNK)
        .unwrap_or(shape.len());
    let run = (CHUNK / tail[k].max(1)).max(1);
    let outer = &shape[..k - 1];
    let len = shape[k - 1];
    let arr = a.clone().into_any().unbind();
    let mut failed: Option<PyErr> = None;
    let r = crate::dict::retry(py, || {
        dict.insert_array_with(key, text, &shape, |data| {
            let mut at = 0u64;
            let mut buf = Vec::new();
            let mut idx = vec![0usize; outer.len()];
            loop {
                let mut j = 0;
                while j < len {
                    let end = (j + run).min(len);
                    let copied = Python::attach(|py| -> PyResult<()> {
                        let mut parts: Vec<Bound<'_, PyAny>> = idx
                            .iter()
                            .map(|&i| pyo3::types::PyInt::new(py, i).into_any())
                            .collect();
                        parts.push(PySlice::new(py, j as isize, end as isize, 1).into_any());
                        let block = arr
                            .bind(py)
                            .get_item(PyTuple::new(py, parts)?)?
                            .call_method1("copy", ("C",))?
                            .cast_into::<PyUntypedArray>()?;
                        buf.clear();
                        buf.extend_from_slice(c_bytes(&block));
                        Ok(())
                    });
                    if let Err(e) = copied {
                        failed = Some(e);
                        return Err(std::io::Error::other("copying a block of the array failed"));
                    }
                    data.write_at(at, &buf)?;
                    at += buf.len() as u64;
                    j = end;
                }
                // The next index of the outer axes, in C order.
                let mut d = outer.len();
                loop {
                    if d == 0 {
                        return Ok(());
                    }
                    d -= 1;
                    idx[d] += 1;
                    if idx[d] < outer[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
        })
    });
    match (r, failed) {
        (_, Some(e)) => Err(e),
        (r, None) => r,
    }
}

/// Stores a `numpy.ma.MaskedArray` under `key` (data and mask in C order).
/// `Ok(false)`: its dtype is not stored as an array.
pub(crate) fn store_masked(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    m: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let data = m.getattr("data")?.cast_into::<PyUntypedArray>()?;
    let Some(text) = dtype_text(&data.dtype())? else {
        return Ok(false);
    };
    let data = c_order(&data)?;
    let mask = m.getattr("_mask")?;
    let nomask = NOMASK.import(py, "numpy.ma", "nomask")?;
    let mask_bytes: Option<Vec<u8>> = if mask.is(nomask) {
        None
    } else {
        let mask = mask.cast_into::<PyUntypedArray>()?;
        if mask.shape() != data.shape() || mask.dtype().kind() != b'b' {
            return Ok(false);
        }
        let mask = c_order(&mask)?;
        Some(c_bytes(&mask).to_vec())
    };
    let shape = data.shape().to_vec();
    let bytes = c_bytes(&data);
    crate::dict::retry(py, || {
        dict.insert_masked_bytes(key, &text, &shape, bytes, mask_bytes.as_deref())
    })?;
    Ok(true)
}

/// Reserves an array of `dtype` and `shape` (sparse) under `key`.
pub(crate) fn reserve(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    shape: &[usize],
    dtype: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let dt = PyArrayDescr::new(py, dtype)?;
    let Some(text) = dtype_text(&dt)? else {
        return Err(errors::new(
            py,
            "UnsupportedError",
            format!("dtype {} cannot be reserved as a mapped array", dt.str()?),
        ));
    };
    crate::dict::retry(py, || dict.reserve_dtype(key, &text, shape)).map(|_| ())
}
