//! Remote files (`http://`, `https://`, `s3://`) through `mmpk-remote`:
//! `mmpk._mmpk.RemoteObject` (one object behind a URL, read by pinned
//! byte ranges, no index) and `mmpk._mmpk.RemoteCore` (its header and
//! index, the native half of `mmpk.RemoteDict`). The Python half
//! (`python/mmpk/_remote.py`) keeps one `RemoteObject` per URL and
//! settings per process (one connection pool each), and
//! holds `mmpk.RemoteArray`. Every handle runs on mmpk-remote's one I/O
//! runtime of the process.
//!
//! Every network wait runs with the GIL released. A pin crosses into
//! Python as a plain tuple `(size, etag, last_modified_ms, key, offset,
//! len, memo_max)`, which pickles without the index or any credential.

use std::sync::RwLock;
use std::time::Duration;

use mmpk_remote::{
    EntryPin, Error as RErr, ObjectVersion, Options, Refresh, RemoteDict, RemoteObject,
};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{
    PyFileNotFoundError, PyIndexError, PyKeyError, PyMemoryError, PyPermissionError,
    PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyTuple};

use crate::{arrays, errors};

/// A pin as Python holds it.
type PinTuple = (u64, Option<String>, i64, String, u64, u64, u32);

fn pin_tuple(p: &EntryPin) -> PinTuple {
    (
        p.version.size,
        p.version.etag.clone(),
        p.version.last_modified_ms,
        p.key.clone(),
        p.offset,
        p.len,
        p.memo_max,
    )
}

fn pin_of(t: PinTuple) -> EntryPin {
    let (size, etag, lm, key, offset, len, memo) = t;
    EntryPin::new(ObjectVersion::new(size, etag, lm), key, offset, len, memo)
}

/// A remote read's error as the Python exception a user expects.
pub(crate) fn to_py(py: Python<'_>, e: RErr) -> PyErr {
    let msg = errors::message(&e);
    match e {
        RErr::BadUrl { .. } => PyValueError::new_err(msg),
        RErr::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        RErr::PermissionDenied { .. } => PyPermissionError::new_err(msg),
        RErr::Changed { .. } => errors::new(py, "ChangedError", msg),
        RErr::NotMmpk { .. } => errors::new(py, "NotMmpkError", msg),
        RErr::Truncated { .. } | RErr::Format { .. } | RErr::WrongKind { .. } => {
            errors::new(py, "FormatError", msg)
        }
        RErr::KeyNotFound { key } => PyKeyError::new_err(key),
        RErr::BadSlice { .. } => PyIndexError::new_err(msg),
        RErr::TooLarge { .. } => PyMemoryError::new_err(msg),
        RErr::InAsyncContext => PyRuntimeError::new_err(msg),
        _ => errors::new(py, "RemoteError", msg),
    }
}

/// Runs `f` with the GIL released.
fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> mmpk_remote::Result<T> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(|e| to_py(py, e))
}

/// `mmpk-remote`'s options from the normalised settings of
/// `python/mmpk/_remote.py` (`endpoint_url`, `region`, `key`, `secret`,
/// `token`, `anon`, `allow_http`, `timeout`, `connect_timeout`, `retries`).
fn options(settings: &Bound<'_, PyDict>) -> PyResult<Options> {
    let get = |k: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(settings.get_item(k)?.filter(|v| !v.is_none()))
    };
    let mut o = Options::new();
    if let Some(e) = get("endpoint_url")? {
        let e: String = e.extract()?;
        if e.starts_with("http://") {
            o = o.allow_http(true);
        }
        o = o.s3_endpoint(e);
    }
    if let Some(r) = get("region")? {
        o = o.s3_region(r.extract::<String>()?);
    }
    if let (Some(k), Some(s)) = (get("key")?, get("secret")?) {
        let token = get("token")?.map(|t| t.extract::<String>()).transpose()?;
        o = o.s3_credentials(k.extract::<String>()?, s.extract::<String>()?, token);
    }
    if let Some(a) = get("anon")? {
        o = o.s3_anonymous(a.is_truthy()?);
    }
    if let Some(a) = get("allow_http")? {
        o = o.allow_http(a.is_truthy()?);
    }
    let secs = |v: Bound<'_, PyAny>| -> PyResult<Duration> {
        let s: f64 = v.extract()?;
        Duration::try_from_secs_f64(s).map_err(|e| PyValueError::new_err(format!("{s} s: {e}")))
    };
    let (mut request, mut connect) = (Duration::from_secs(60), Duration::from_secs(5));
    if let Some(t) = get("timeout")? {
        request = secs(t)?;
    }
    if let Some(t) = get("connect_timeout")? {
        connect = secs(t)?;
    }
    o = o.timeouts(request, connect);
    if let Some(n) = get("retries")? {
        o = o.retries(
            n.extract()?,
            Duration::from_millis(100),
            Duration::from_secs(30),
        );
    }
    Ok(o)
}

/// One object behind a URL, read by pinned byte ranges (no index).
#[pyclass(module = "mmpk._mmpk", name = "RemoteObject", frozen)]
pub(crate) struct PyRemoteObject {
    obj: RemoteObject,
}

#[pymethods]
impl PyRemoteObject {
    /// A handle on `url` with `settings` (no request is sent).
    #[staticmethod]
    fn open(py: Python<'_>, url: &str, settings: &Bound<'_, PyDict>) -> PyResult<Self> {
        let o = options(settings)?;
        let obj = detached(py, || RemoteObject::open(url, o))?;
        Ok(PyRemoteObject { obj })
    }

    #[getter]
    fn url(&self) -> &str {
        self.obj.url()
    }

    /// Transfer counters: requests, bytes, cache hits, and the requests
    /// of the direct HTTP/1.1 reader (plain `http://` ranged GETs).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.obj.stats();
        let d = PyDict::new(py);
        d.set_item("requests", s.requests)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("cache_hits", s.cache_hits)?;
        d.set_item("direct", s.direct)?;
        Ok(d)
    }

    /// The byte ranges `ranges` (`(start, end)`) of the entry `pin`, each
    /// as a new `bytearray`.
    fn read<'py>(
        &self,
        py: Python<'py>,
        pin: PinTuple,
        ranges: Vec<(u64, u64)>,
    ) -> PyResult<Vec<Bound<'py, PyByteArray>>> {
        let pin = pin_of(pin);
        let r: Vec<_> = ranges.iter().map(|&(s, e)| s..e).collect();
        let got = detached(py, || self.obj.read_pinned(&pin, &r))?;
        Ok(got.iter().map(|b| PyByteArray::new(py, b)).collect())
    }

    /// Reads the entry `pin`'s bytes into numpy arrays: `reads` is a list
    /// of `(start, array)`, each array writable, C-contiguous, 1-D
    /// `uint8` (a `view` of the caller's result), filled with as many
    /// bytes from `start` as it holds, with one ranged GET (several in
    /// flight). Nothing is allocated here: each
    /// chunk received is copied once, into place, with the GIL released
    /// (the arrays are borrowed meanwhile: a second borrow, from another
    /// thread, fails).
    fn read_into(
        &self,
        py: Python<'_>,
        pin: PinTuple,
        reads: Vec<(u64, Bound<'_, PyArray1<u8>>)>,
    ) -> PyResult<()> {
        let pin = pin_of(pin);
        let mut borrowed = Vec::with_capacity(reads.len());
        for (start, a) in &reads {
            let rw = a
                .try_readwrite()
                .map_err(|e| PyValueError::new_err(format!("cannot write into the array: {e}")))?;
            borrowed.push((*start, rw));
        }
        let mut dst = Vec::with_capacity(borrowed.len());
        for (start, rw) in &mut borrowed {
            let s = rw
                .as_slice_mut()
                .map_err(|e| PyValueError::new_err(format!("cannot write into the array: {e}")))?;
            dst.push((*start, s));
        }
        detached(py, || self.obj.read_pinned_into(&pin, &mut dst))
    }

    /// Reads the header and index: a new `RemoteCore` on this handle's
    /// connections.
    fn open_dict(&self, py: Python<'_>) -> PyResult<RemoteCore> {
        let d = detached(py, || self.obj.open_dict())?;
        Ok(RemoteCore { d: RwLock::new(d) })
    }
}

/// The header and index of a remote file (`mmpk.RemoteDict`'s native half).
#[pyclass(module = "mmpk._mmpk", name = "RemoteCore", frozen)]
pub(crate) struct RemoteCore {
    d: RwLock<RemoteDict>,
}

impl RemoteCore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, RemoteDict> {
        self.d.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the dict; if the object changed meanwhile, refreshes
    /// (appends are followed) and runs it again. A rewrite of the object
    /// is a `ChangedError` (the dict then holds the new index).
    pub(crate) fn follow<T: Send>(
        &self,
        py: Python<'_>,
        f: impl Fn(&RemoteDict) -> mmpk_remote::Result<T> + Send + Sync,
    ) -> PyResult<T> {
        py.detach(|| {
            match f(&self.read()) {
                Err(RErr::Changed { .. }) => {}
                other => return other,
            }
            let r = self
                .d
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .refresh()?;
            if r == Refresh::Rescanned {
                let d = self.read();
                return Err(RErr::Changed {
                    url: d.url().to_string(),
                    what: "it was rewritten (vacuumed or replaced); the dict now reads the new \
                           version"
                        .into(),
                });
            }
            f(&self.read())
        })
        .map_err(|e| to_py(py, e))
    }
}

#[pymethods]
impl RemoteCore {
    #[getter]
    fn url(&self) -> String {
        self.read().url().to_string()
    }

    fn keys(&self) -> Vec<String> {
        self.read().keys()
    }

    fn len(&self) -> usize {
        self.read().len()
    }

    fn contains(&self, key: &str) -> bool {
        self.read().contains(key)
    }

    fn commit_number(&self) -> i32 {
        self.read().commit_number()
    }

    /// `(size, etag, last_modified_ms)` of the version the index is of.
    fn version(&self) -> (u64, Option<String>, i64) {
        let d = self.read();
        let v = d.version();
        (v.size, v.etag.clone(), v.last_modified_ms)
    }

    /// Looks at the object again: "unchanged", "data_changed", "grew"
    /// or "rescanned".
    fn refresh(&self, py: Python<'_>) -> PyResult<&'static str> {
        let r = detached(py, || {
            self.d.write().unwrap_or_else(|p| p.into_inner()).refresh()
        })?;
        Ok(match r {
            Refresh::Unchanged => "unchanged",
            Refresh::DataChanged => "data_changed",
            Refresh::Grew { .. } => "grew",
            _ => "rescanned",
        })
    }

    /// What `key` is: `("array", dtype, shape, data_offset, nbytes, pin)`,
    /// `("masked", dtype, shape, data_offset, nbytes, mask_offset,
    /// mask_nbytes, mask_kind, pin)` or `("value",)`.
    fn describe<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyTuple>> {
        enum What {
            Array(mmpk_remote::ArrayInfo, EntryPin),
            Masked(mmpk_remote::MaskedInfo, EntryPin),
            Value,
        }
        let what = self.follow(py, |d| {
            let pin = d.pin(key)?;
            match d.array_info(key) {
                Ok(i) => return Ok(What::Array(i, pin)),
                Err(RErr::WrongKind { .. }) => {}
                Err(e) => return Err(e),
            }
            match d.masked_info(key) {
                Ok(m) => Ok(What::Masked(m, pin)),
                Err(RErr::WrongKind { .. }) => Ok(What::Value),
                Err(e) => Err(e),
            }
        })?;
        match what {
            What::Array(i, pin) => {
                let dt = arrays::numpy_dtype(py, &i.dtype)?;
                let items: Vec<Bound<'py, PyAny>> = vec![
                    "array".into_pyobject(py)?.into_any(),
                    dt.into_any(),
                    PyTuple::new(py, &i.shape)?.into_any(),
                    i.data_offset.into_pyobject(py)?.into_any(),
                    i.nbytes.into_pyobject(py)?.into_any(),
                    pin_tuple(&pin).into_pyobject(py)?.into_any(),
                ];
                PyTuple::new(py, items)
            }
            What::Masked(m, pin) => {
                let dt = arrays::numpy_dtype(py, &m.data.dtype)?;
                let kind = match m.mask_kind {
                    mmpk_remote::MaskKind::Elementwise => "elementwise",
                    mmpk_remote::MaskKind::Nomask => "nomask",
                    _ => "all",
                };
                let items: Vec<Bound<'py, PyAny>> = vec![
                    "masked".into_pyobject(py)?.into_any(),
                    dt.into_any(),
                    PyTuple::new(py, &m.data.shape)?.into_any(),
                    m.data.data_offset.into_pyobject(py)?.into_any(),
                    m.data.nbytes.into_pyobject(py)?.into_any(),
                    m.mask.data_offset.into_pyobject(py)?.into_any(),
                    m.mask.nbytes.into_pyobject(py)?.into_any(),
                    kind.into_pyobject(py)?.into_any(),
                    pin_tuple(&pin).into_pyobject(py)?.into_any(),
                ];
                PyTuple::new(py, items)
            }
            What::Value => PyTuple::new(py, ["value"]),
        }
    }

    /// The value of `key` (not an array), decoded as a local entry's.
    fn value(&self, py: Python<'_>, key: &str, trusted: bool) -> PyResult<Py<PyAny>> {
        let ops = self.follow(py, |d| d.value_bytes(key))?;
        crate::values::ops_to_py(py, &ops, trusted, &format!("the value of key {key:?}"))
    }
}
