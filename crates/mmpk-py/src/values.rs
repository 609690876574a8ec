//! Stored values other than mapped arrays, both ways, safe by default.
//!
//! **Reading** never runs code a file names. An entry's value (or a
//! standalone pickle given to `mmpk.loads`) is decoded by `pickle-ops`'
//! data-only decoder, Python 2 names are mapped and the folds of
//! `pickle_ops::resolve` (set, frozenset, bytes, bytearray) and
//! `mmpk_format::numpy` (numpy's own array pickles, either major) are
//! applied, and the graph is then built into Python objects by
//! `build.rs`: the builtin containers and scalars with shared references
//! and cycles kept, plus the allowlist of `allow.rs` (numpy arrays,
//! scalars and dtypes, `datetime`, `decimal.Decimal`, `collections`,
//! `uuid.UUID`, `complex`, `slice`, `range`), each made by a constructor
//! mmpk chose, from data. Any other global raises
//! `mmpk.errors.UnsafePickleError` naming it, before anything is built.
//! With `trusted=True` such a value is handed to CPython's `pickle.loads`
//! instead, as a standalone pickle (an entry's memo indices renumbered
//! from 0: `mmpk_format::generic::standalone_value`).
//!
//! **Writing** any object but an array: CPython's own
//! `pickle.dumps(obj, protocol=4)` (so custom classes work), stored as a
//! generic entry exactly as mmpk stores values
//! (`mmpk::Dict::insert_pickle_bytes`), the GIL released meanwhile.

mod allow;
mod build;
mod numpy;

use mmpk_format::generic::standalone_value;
use pickle_ops::decode::{decode, Options};
use pickle_ops::Pickle;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use build::Failure;

/// The exception class `name` of `mmpk.errors` with `message`.
fn error(py: Python<'_>, name: &str, message: String) -> PyErr {
    let cls = match py.import("mmpk.errors").and_then(|m| m.getattr(name)) {
        Ok(c) => c,
        Err(e) => return e,
    };
    match cls.call1((message,)) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// An mmpk error as the Python exception a user expects (the binding's
/// common mapping belongs to the Dict layer; this covers what the value
/// functions meet).
fn mmpk_error(py: Python<'_>, e: mmpk::Error) -> PyErr {
    use std::error::Error as _;
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    match e {
        mmpk::Error::KeyNotFound { key } => PyKeyError::new_err(key),
        mmpk::Error::Format { .. } => error(py, "BadPickleError", msg),
        mmpk::Error::ReadOnly { .. } => error(py, "ReadOnlyError", msg),
        mmpk::Error::Busy { .. } => error(py, "BusyError", msg),
        mmpk::Error::KeyTooLong { .. } => pyo3::exceptions::PyValueError::new_err(msg),
        mmpk::Error::Io { source, .. } => {
            pyo3::exceptions::PyOSError::new_err(format!("{msg} ({})", source.kind()))
        }
        _ => error(py, "Error", msg),
    }
}

/// The Python exception for a value that was not built; `what` says
/// which value ("the value of key 'k'", "the pickle").
fn failure_to_err(py: Python<'_>, f: Failure, what: &str) -> PyErr {
    match f {
        Failure::Unsafe(name) => error(
            py,
            "UnsafePickleError",
            format!(
                "{what} names {name}, which is not in mmpk's allowlist of safe globals \
                 (nothing was run); pass trusted=True to load it with Python's pickle, \
                 only for data you trust as you would trust code"
            ),
        ),
        Failure::Bad(msg) => error(py, "BadPickleError", format!("{what}: {msg}")),
        Failure::Py(e) => e,
    }
}

/// Decoder options of the safe path (CPython's defaults: Python 2 strings
/// as ASCII).
fn options() -> Options {
    Options::default()
}

/// The resolved view the builder reads: Python 2 names mapped, plain
/// REDUCE folds (set, frozenset, bytes, bytearray) and numpy's arrays.
/// `buffers` are a protocol-5 pickle's out-of-band buffers, in order.
fn prepare(p: &mut Pickle, buffers: &[&[u8]]) -> Result<(), Failure> {
    pickle_ops::resolve::resolve(p, options().max_compare_work)
        .map_err(|k| Failure::Bad(format!("{k:?}")))?;
    mmpk_format::numpy::resolve_numpy(p, buffers);
    Ok(())
}

/// CPython's `pickle.loads` of a standalone pickle (the trusted path),
/// with its out-of-band buffers if any.
fn pickle_loads(py: Python<'_>, data: &[u8], buffers: &[PyBackedBytes]) -> PyResult<Py<PyAny>> {
    let kw = PyDict::new(py);
    if !buffers.is_empty() {
        let bufs = buffers.iter().map(|b| PyBytes::new(py, b));
        kw.set_item("buffers", PyList::new(py, bufs)?)?;
    }
    Ok(py
        .import("pickle")?
        .getattr("loads")?
        .call((PyBytes::new(py, data),), Some(&kw))?
        .unbind())
}

/// Builds a decoded value safely; `fallback` gives the standalone pickle
/// to hand to `pickle.loads` when `trusted` and the value needs code.
fn build_or_trust(
    py: Python<'_>,
    mut p: Pickle,
    trusted: bool,
    what: &str,
    buffers: &[PyBackedBytes],
    fallback: impl FnOnce(Python<'_>) -> PyResult<Vec<u8>>,
) -> PyResult<Py<PyAny>> {
    let prepared = py.detach(|| {
        let bufs: Vec<&[u8]> = buffers.iter().map(|b| &b[..]).collect();
        prepare(&mut p, &bufs).map(|()| p)
    });
    let r = prepared.and_then(|p| build::build(py, &p));
    match r {
        Ok(o) => Ok(o),
        Err(Failure::Unsafe(_)) if trusted => {
            let whole = fallback(py)?;
            pickle_loads(py, &whole, buffers)
        }
        Err(f) => Err(failure_to_err(py, f, what)),
    }
}

/// `key`'s value of `dict` as a Python object, decoded safely (see the
/// module docs); with `trusted`, values naming globals outside the
/// allowlist are loaded by CPython's pickle. For array entries the binding
/// maps the array instead; given one, this returns a copy.
// Called by the Dict binding (`d[key]`, `d[key] = obj`).
pub(crate) fn entry_to_py(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    trusted: bool,
) -> PyResult<Py<PyAny>> {
    let p = py
        .detach(|| dict.get_pickle(key))
        .map_err(|e| mmpk_error(py, e))?;
    let what = format!("the value of key {key:?}");
    build_or_trust(py, p, trusted, &what, &[], |py| {
        let ops = py
            .detach(|| dict.value_bytes(key))
            .map_err(|e| mmpk_error(py, e))?;
        standalone_value(&ops, 0).map_err(|e| error(py, "BadPickleError", format!("{what}: {e}")))
    })
}

/// A decoded value (from `mmpk::Dict::get`'s `Value::Pickle`) as a Python
/// object, as [`entry_to_py`]; the trusted path re-encodes the value as
/// CPython's pickle of it.
// Called by the Dict binding (`d[key]`, `d[key] = obj`).
#[allow(dead_code)]
pub(crate) fn pickle_to_py(py: Python<'_>, pickle: &Pickle, trusted: bool) -> PyResult<Py<PyAny>> {
    build_or_trust(py, pickle.clone(), trusted, "the value", &[], |py| {
        pickle_ops::encode::encode(pickle, 4)
            .map_err(|e| error(py, "BadPickleError", format!("the value: {e}")))
    })
}

/// Stores `obj` (anything but an array, which the binding maps) under
/// `key`: CPython's `pickle.dumps(obj, protocol=4)`, stored as a generic
/// entry; the GIL is released during the file write.
// Called by the Dict binding (`d[key]`, `d[key] = obj`).
pub(crate) fn store(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    obj: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let bytes: PyBackedBytes = py
        .import("pickle")?
        .getattr("dumps")?
        .call1((obj, 4))?
        .extract()?;
    py.detach(|| dict.insert_pickle_bytes(key, &bytes))
        .map_err(|e| mmpk_error(py, e))
}

/// Where the pickle at the start of `data` ends (after its STOP).
fn pickle_end(data: &[u8]) -> Option<usize> {
    let mut it = pickle_ops::ops(data);
    while let Some(Ok((_, op))) = it.next() {
        if matches!(op, pickle_ops::Op::Stop) {
            return Some(it.position());
        }
    }
    None
}

/// `mmpk.loads` (see `python/mmpk/_values.py`): the object and where its
/// pickle ended in `data`. `buffers` are the out-of-band buffers of a
/// protocol-5 pickle (as `pickle.loads(buffers=)`).
#[pyfunction]
#[pyo3(signature = (data, trusted = false, buffers = Vec::new()))]
fn loads_prefix(
    py: Python<'_>,
    data: PyBackedBytes,
    trusted: bool,
    buffers: Vec<PyBackedBytes>,
) -> PyResult<Py<PyTuple>> {
    let decoded = py.detach(|| decode(&data, &options()));
    let p = decoded.map_err(|e| error(py, "BadPickleError", format!("the pickle: {e}")))?;
    let end = pickle_end(&data).unwrap_or(data.len());
    let obj = build_or_trust(py, p, trusted, "the pickle", &buffers, |_| {
        Ok(data[..end].to_vec())
    })?;
    Ok(PyTuple::new(py, [obj, end.into_pyobject(py)?.into_any().unbind()])?.unbind())
}

/// Registers the value functions on the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(loads_prefix, m)?)?;
    Ok(())
}
