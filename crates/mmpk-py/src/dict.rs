//! `mmpk._mmpk.Core`: one open dict, the native half of `mmpk.Dict`
//! (python/mmpk/_dict.py holds the public class, its mapping methods and
//! docstrings).
//!
//! Every operation that may wait (for the dict's mutex, the file's `flock`,
//! or the disk) runs with the GIL released; an `flock` wait interrupted by a
//! signal checks for Python signals (Ctrl-C raises `KeyboardInterrupt`) and
//! otherwise waits again.
//!
//! `fork`: the child of a process with open dicts must not use the
//! parent's file description, whose `flock` is the parent's too (a lock
//! held by one would be held by both). `mmpk` registers
//! `os.register_at_fork(after_in_child=...)`, which bumps a generation
//! counter; a dict of an older generation reopens its file (by path, or
//! through `/proc/self/fd/N` for a dict opened from a file object) before
//! its next operation, so the child gets a description and a lock of its
//! own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use mmpk::{Layout, OpenOptions, RawValue};
use numpy::PyUntypedArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::arrays;
use crate::errors;

/// Bumped in a child process after `fork`: dicts opened before reopen.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called by `os.register_at_fork(after_in_child=...)` (see module docs).
#[pyfunction]
pub(crate) fn _after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Runs `f` with the GIL released; an `flock` wait interrupted by a signal
/// runs Python's signal handlers (a `KeyboardInterrupt` propagates) and
/// retries.
pub(crate) fn retry<T: Send>(
    py: Python<'_>,
    mut f: impl FnMut() -> mmpk::Result<T> + Send,
) -> PyResult<T> {
    loop {
        match py.detach(&mut f) {
            Ok(v) => return Ok(v),
            Err(e) if errors::interrupted(&e) => py.check_signals()?,
            Err(e) => return Err(errors::to_py(py, e)),
        }
    }
}

/// Checks a key: `str` of at most 255 UTF-8 bytes.
pub(crate) fn key_str<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, str>> {
    let s = key.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "mmpk keys are str, not {}",
            key.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let k = s
        .to_cow()
        .map_err(|_| PyValueError::new_err("mmpk keys must be valid UTF-8 (no lone surrogates)"))?;
    if k.len() > 255 {
        return Err(PyValueError::new_err(format!(
            "key of {} UTF-8 bytes is longer than the 255 allowed",
            k.len()
        )));
    }
    Ok(k)
}

/// How to open (and reopen) the file.
#[derive(Clone, Debug)]
struct Spec {
    /// The path, or for a dict opened from a file object the name shown in
    /// messages.
    path: PathBuf,
    /// The descriptor of a file object the dict was opened from.
    fd: Option<i32>,
    read_only: bool,
    layout: Layout,
    align: u64,
    durable: bool,
}

impl Spec {
    fn options(&self) -> OpenOptions {
        let mut o = OpenOptions::new();
        o.read_only(self.read_only)
            .layout(self.layout)
            .align(self.align)
            .durable(self.durable);
        o
    }
}

struct Open {
    dict: mmpk::Dict,
    generation: u64,
}

/// One open mmpk dict (the native half of `mmpk.Dict`).
#[pyclass(module = "mmpk._mmpk", name = "Core", frozen)]
pub(crate) struct Core {
    spec: Spec,
    state: RwLock<Option<Open>>,
}

fn parse_layout(layout: &str) -> PyResult<Layout> {
    match layout {
        "v2" => Ok(Layout::V2),
        "mmappickle1" | "v1" => Ok(Layout::Mmappickle1),
        _ => Err(PyValueError::new_err(format!(
            "layout must be \"v2\" or \"mmappickle1\", not {layout:?}"
        ))),
    }
}

/// Opens `spec` with the `create`/`create_new` flags of a mode.
fn open_with(py: Python<'_>, spec: &Spec, create: bool, create_new: bool) -> PyResult<mmpk::Dict> {
    let mut o = spec.options();
    o.create(create).create_new(create_new);
    if let Some(fd) = spec.fd {
        let file = fd_file(py, fd, spec)?;
        // SAFETY: as below, for the file the descriptor refers to.
        return retry(py, || unsafe { o.open_file(clone(&file)?, &spec.path) });
    }
    // SAFETY: the open contract of mmpk (no truncation or rewriting of the
    // file outside the mmpk protocol while it is mapped) is stated to
    // Python users in the package docs ("Safety"): a file shrunk under a
    // live array faults with SIGBUS, as with `numpy.memmap`.
    retry(py, || unsafe { o.open(&spec.path) })
}

/// A handle of our own on a file object's descriptor: on Linux a new open
/// of `/proc/self/fd/N`, so the dict has its own file description (and so
/// its own `flock`, apart from the caller's and, after `fork`, the
/// parent's); elsewhere `/dev/fd/N`, a duplicate of the descriptor.
fn fd_file(py: Python<'_>, fd: i32, spec: &Spec) -> PyResult<std::fs::File> {
    let proc_path = if cfg!(target_os = "linux") {
        format!("/proc/self/fd/{fd}")
    } else {
        format!("/dev/fd/{fd}")
    };
    std::fs::OpenOptions::new()
        .read(true)
        .write(!spec.read_only)
        .open(&proc_path)
        .map_err(|e| {
            errors::to_py(
                py,
                mmpk::Error::Io {
                    op: "open",
                    path: spec.path.clone(),
                    source: e,
                },
            )
        })
}

fn clone(f: &std::fs::File) -> mmpk::Result<std::fs::File> {
    f.try_clone().map_err(|e| mmpk::Error::Io {
        op: "dup",
        path: PathBuf::from("<file object>"),
        source: e,
    })
}

/// Empties `path` (mode `w`), under the file's `flock`, creating it if
/// missing; for a file object, the file its descriptor refers to.
fn truncate(py: Python<'_>, spec: &Spec) -> PyResult<()> {
    let file = match spec.fd {
        Some(fd) => Some(fd_file(py, fd, spec)?),
        None => None,
    };
    let path = &spec.path;
    let r = py.detach(|| -> std::io::Result<()> {
        let f = match file {
            Some(f) => f,
            None => std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?,
        };
        f.lock()?;
        f.set_len(0)?;
        f.unlock()
    });
    r.map_err(|e| {
        errors::to_py(
            py,
            mmpk::Error::Io {
                op: "open",
                path: path.to_path_buf(),
                source: e,
            },
        )
    })
}

impl Core {
    /// The open dict, reopened first in a child after `fork`.
    pub(crate) fn dict(&self, py: Python<'_>) -> PyResult<mmpk::Dict> {
        let generation = GENERATION.load(Ordering::SeqCst);
        {
            let st = self.state.read().unwrap_or_else(|p| p.into_inner());
            match &*st {
                None => return Err(PyValueError::new_err("I/O operation on a closed mmpk.Dict")),
                Some(o) if o.generation == generation => return Ok(o.dict.clone()),
                Some(_) => {}
            }
        }
        let dict = open_with(py, &self.spec, false, false)?;
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        if st.is_none() {
            return Err(PyValueError::new_err("I/O operation on a closed mmpk.Dict"));
        }
        *st = Some(Open {
            dict: dict.clone(),
            generation,
        });
        Ok(dict)
    }

    fn writable(&self) -> bool {
        !self.spec.read_only
    }
}

#[pymethods]
impl Core {
    /// Opens `path` in `mode` (`r`, `r+`, `a`, `w`, `x`); with `fd`, the
    /// file that descriptor refers to (`path` is then its name in
    /// messages).
    #[staticmethod]
    #[pyo3(signature = (path, mode, layout, align, durable, fd=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        mode: &str,
        layout: &str,
        align: u64,
        durable: bool,
        fd: Option<i32>,
    ) -> PyResult<Core> {
        let spec = Spec {
            path,
            fd,
            read_only: mode == "r",
            layout: parse_layout(layout)?,
            align,
            durable,
        };
        let (create, create_new) = match mode {
            "r" | "r+" => (false, false),
            "a" => (true, false),
            "w" => {
                truncate(py, &spec)?;
                (true, false)
            }
            "x" if fd.is_some() => {
                return Err(PyValueError::new_err(
                    "mode \"x\" creates a file: give a path, not an open file object",
                ))
            }
            "x" => (false, true),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "mode must be one of \"r\", \"r+\", \"a\", \"w\", \"x\", not {mode:?}"
                )))
            }
        };
        let dict = open_with(py, &spec, create, create_new)?;
        Ok(Core {
            spec,
            state: RwLock::new(Some(Open {
                dict,
                generation: GENERATION.load(Ordering::SeqCst),
            })),
        })
    }

    /// The path the dict was opened with.
    #[getter]
    fn path(&self) -> std::ffi::OsString {
        self.spec.path.clone().into_os_string()
    }

    /// The descriptor of the file object the dict was opened from, if any.
    #[getter]
    fn fd(&self) -> Option<i32> {
        self.spec.fd
    }

    /// Whether the dict is read-only.
    #[getter]
    fn read_only(&self) -> bool {
        self.spec.read_only
    }

    /// The layout name (`v2` or `mmappickle1`).
    #[getter]
    fn layout(&self) -> &'static str {
        match self.spec.layout {
            Layout::Mmappickle1 => "mmappickle1",
            _ => "v2",
        }
    }

    /// The alignment of array data (v2 layout).
    #[getter]
    fn align(&self) -> u64 {
        self.spec.align
    }

    /// Whether writes are synced (`fsync`).
    #[getter]
    fn durable(&self) -> bool {
        self.spec.durable
    }

    /// Whether the dict is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Drops the file handle and the dict's reference to the map (arrays
    /// keep theirs).
    fn close(&self) {
        let old = self.state.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(old);
    }

    /// The value of `key`: a mapped array, masked array, or decoded value.
    #[pyo3(signature = (key, trusted=false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        trusted: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = key_str(key)?;
        let d = self.dict(py)?;
        match retry(py, || d.get_raw(&k))? {
            RawValue::Array(a) => arrays::view(py, a, self.writable()),
            RawValue::Masked(m) => arrays::masked_view(py, m, self.writable()),
            _ => Ok(crate::values::entry_to_py(py, &d, &k, trusted)?.into_bound(py)),
        }
    }

    /// Stores `value` under `key` (arrays mapped, anything else pickled).
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let k = key_str(key)?;
        let d = self.dict(py)?;
        if d.is_read_only() {
            return Err(errors::to_py(py, mmpk::Error::ReadOnly { op: "insert" }));
        }
        if arrays::is_masked(py, value)? {
            if arrays::store_masked(py, &d, &k, value)? {
                return Ok(());
            }
        } else if let Ok(a) = value.cast::<PyUntypedArray>() {
            if arrays::store(py, &d, &k, a)? {
                return Ok(());
            }
        }
        crate::values::store(py, &d, &k, value)
    }

    /// Removes `key` (`KeyError` if missing).
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = key_str(key)?;
        let d = self.dict(py)?;
        retry(py, || d.remove(&k))
    }

    /// Whether `key` is in the dict (any non-str key is not).
    fn contains(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(s) = key.cast::<PyString>() else {
            return Ok(false);
        };
        let Ok(k) = s.to_cow() else {
            return Ok(false);
        };
        let d = self.dict(py)?;
        retry(py, || d.contains(&k))
    }

    /// The number of keys.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        let d = self.dict(py)?;
        retry(py, || d.len())
    }

    /// The keys, in file order.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let d = self.dict(py)?;
        retry(py, || d.keys())
    }

    /// `(key, entry offset)` of every key, in file order.
    fn entries(&self, py: Python<'_>) -> PyResult<Vec<(String, u64)>> {
        let d = self.dict(py)?;
        let e = retry(py, || d.entries())?;
        Ok(e.into_iter().map(|e| (e.key, e.offset)).collect())
    }

    /// Reserves an array (sparse) and returns it, writable.
    fn reserve<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        shape: Vec<usize>,
        dtype: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = key_str(key)?;
        let d = self.dict(py)?;
        arrays::reserve(py, &d, &k, &shape, dtype)?;
        let a = retry(py, || d.raw_array(&k))?;
        arrays::view(py, a, true)
    }

    /// Syncs the file (every write through arrays included) to the disk.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let d = self.dict(py)?;
        retry(py, || d.flush())
    }

    /// The commit number in the file's header now.
    fn commit_number(&self, py: Python<'_>) -> PyResult<i32> {
        let d = self.dict(py)?;
        retry(py, || d.commit_number())
    }

    /// Sets the commit number in the file's header (mmappickle's setter).
    fn set_commit_number(&self, py: Python<'_>, commit: i32) -> PyResult<()> {
        let d = self.dict(py)?;
        retry(py, || d.set_commit_number(commit))
    }

    /// Whether the file changed since this dict last read its entry list.
    fn changed(&self, py: Python<'_>) -> PyResult<bool> {
        let d = self.dict(py)?;
        retry(py, || d.changed_by_others())
    }

    /// Waits until the commit number differs from `commit` or `timeout`
    /// seconds pass (`None`: forever), polling every 20 ms with the GIL
    /// released and checking for signals between polls. Returns whether it
    /// changed.
    #[pyo3(signature = (commit, timeout=None))]
    fn wait(&self, py: Python<'_>, commit: i32, timeout: Option<f64>) -> PyResult<bool> {
        let d = self.dict(py)?;
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        loop {
            let now = retry(py, || d.commit_number())?;
            if now != commit {
                return Ok(true);
            }
            if deadline.is_some_and(|t| Instant::now() >= t) {
                return Ok(false);
            }
            py.detach(|| std::thread::sleep(Duration::from_millis(20)));
            py.check_signals()?;
        }
    }

    /// Counts from the entry list, and the bytes and entries by kind
    /// (`mmpk info --json`'s `bytes` and `entries`), as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.dict(py)?;
        let (s, commit, totals) = retry(py, || {
            let totals = d.with_file_bytes(crate::maint::totals)?;
            Ok((d.stats()?, d.commit_number()?, totals))
        })?;
        let totals = totals
            .map_err(|source| errors::to_py(py, mmpk::Error::Format { key: None, source }))?;
        let out = PyDict::new(py);
        out.set_item("path", self.spec.path.as_os_str())?;
        out.set_item("file_size", s.file_len)?;
        out.set_item("commit_number", commit)?;
        out.set_item("live", s.live)?;
        out.set_item("dead", s.dead)?;
        out.set_item("frames", s.frames)?;
        out.set_item("clean_tail", s.clean_tail)?;
        out.set_item("bytes", crate::maint::by_kind(py, totals.bytes)?)?;
        out.set_item("entries", crate::maint::by_kind(py, totals.entries)?)?;
        out.set_item("read_only", self.spec.read_only)?;
        out.set_item("layout", self.layout())?;
        out.set_item("align", self.spec.align)?;
        out.set_item("durable", self.spec.durable)?;
        Ok(out)
    }

    /// Repairs a damaged end of file; returns what was done.
    fn repair<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.dict(py)?;
        let r = retry(py, || d.repair())?;
        let out = PyDict::new(py);
        out.set_item("changed", r.changed)?;
        out.set_item("dropped", r.dropped)?;
        out.set_item("intact_end", r.intact_end)?;
        out.set_item("tail", format!("{:?}", r.tail))?;
        Ok(out)
    }

    /// Checks the whole file; returns its findings (empty when sound).
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let d = self.dict(py)?;
        crate::maint::verify(py, &d)
    }

    /// Rewrites the file with its live entries only.
    fn vacuum<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.dict(py)?;
        let r = retry(py, || d.vacuum())?;
        let out = PyDict::new(py);
        out.set_item("before", r.before)?;
        out.set_item("after", r.after)?;
        out.set_item("live", r.live)?;
        out.set_item("dropped", r.dropped)?;
        Ok(out)
    }

    /// Rewrites v1 (mmappickle) array entries as v2; returns their keys.
    fn upgrade<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let d = self.dict(py)?;
        let keys = retry(py, || d.upgrade())?;
        PyList::new(py, keys)
    }
}

/// Converts the plain pickled dict at `path` into an mmpk file in place
/// (crash-safe: written beside it and renamed over it); with `fd`, the file
/// that descriptor refers to, rewritten in place (`path` is its name in
/// messages).
#[pyfunction]
#[pyo3(signature = (path, fd=None))]
pub(crate) fn convert_in_place(py: Python<'_>, path: PathBuf, fd: Option<i32>) -> PyResult<()> {
    let o = OpenOptions::new();
    if let Some(fd) = fd {
        let spec = Spec {
            path: path.clone(),
            fd: Some(fd),
            read_only: false,
            layout: Layout::V2,
            align: 64,
            durable: false,
        };
        let file = fd_file(py, fd, &spec)?;
        // SAFETY: the dict is dropped at once; nothing is mapped afterwards.
        return retry(py, || {
            unsafe { o.convert_file(clone(&file)?, &path) }.map(drop)
        });
    }
    // SAFETY: as above.
    retry(py, || unsafe { o.convert(&path) }.map(drop))
}

/// Converts the plain pickled dict at `src` into the new mmpk file `dst`
/// (written beside it and renamed to it once complete: a crash leaves no
/// `dst` or the whole one); `src` is not changed.
#[pyfunction]
pub(crate) fn convert_to(py: Python<'_>, src: PathBuf, dst: PathBuf) -> PyResult<()> {
    // SAFETY: the dict is dropped at once; nothing is mapped afterwards.
    retry(py, || {
        unsafe { OpenOptions::new().convert_to(&src, &dst) }.map(drop)
    })
}
