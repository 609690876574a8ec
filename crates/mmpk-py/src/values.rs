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
use pickle_ops::decode::{decode, DecodeOptions};
use std::collections::HashMap;

use pickle_ops::{NodeId, Pickle};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use build::Failure;

/// The exception class `name` of `mmpk.errors` with `message`.
fn error(py: Python<'_>, name: &'static str, message: String) -> PyErr {
    crate::errors::new(py, name, message)
}

/// An mmpk error of the value functions as a Python exception: a value
/// that does not decode is a `BadPickleError` (also a `FormatError`), the
/// rest as everywhere in the binding.
fn mmpk_error(py: Python<'_>, e: mmpk::Error) -> PyErr {
    match e {
        mmpk::Error::Format { .. } => {
            use std::error::Error as _;
            let mut msg = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                msg.push_str(": ");
                msg.push_str(&c.to_string());
                cause = c.source();
            }
            error(py, "BadPickleError", msg)
        }
        e => crate::errors::to_py(py, e),
    }
}

/// Runs `f` with the GIL released; a lock wait interrupted by a signal
/// runs Python's signal handlers (Ctrl-C propagates) and retries.
fn detached<T: Send>(py: Python<'_>, mut f: impl FnMut() -> mmpk::Result<T> + Send) -> PyResult<T> {
    loop {
        match py.detach(&mut f) {
            Ok(v) => return Ok(v),
            Err(e) if crate::errors::interrupted(&e) => py.check_signals()?,
            Err(e) => return Err(mmpk_error(py, e)),
        }
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
fn options() -> DecodeOptions {
    DecodeOptions::default()
}

/// The resolved view the builder reads: Python 2 names mapped, plain
/// REDUCE folds (set, frozenset, bytes, bytearray) and numpy's arrays.
/// `buffers` are a protocol-5 pickle's out-of-band buffers, in order.
/// Returns the masked arrays' fill values (`numpy::masked_fills`), which
/// the fold drops.
fn prepare(p: &mut Pickle, buffers: &[&[u8]]) -> Result<HashMap<NodeId, NodeId>, Failure> {
    pickle_ops::resolve::resolve(p, options().max_compare_work)
        .map_err(|k| Failure::Bad(format!("{k:?}")))?;
    let mut fills = numpy::masked_fills(p);
    mmpk_format::numpy::resolve_numpy(p, buffers);
    numpy::keep_fills(p, &mut fills);
    Ok(fills)
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
        prepare(&mut p, &bufs).map(|fills| (p, fills))
    });
    let r = prepared.and_then(|(p, fills)| build::build(py, &p, &fills));
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
pub(crate) fn entry_to_py(
    py: Python<'_>,
    dict: &mmpk::Dict,
    key: &str,
    trusted: bool,
) -> PyResult<Py<PyAny>> {
    let p = detached(py, || dict.get_pickle(key))?;
    let what = format!("the value of key {key:?}");
    build_or_trust(py, p, trusted, &what, &[], |py| {
        let ops = detached(py, || dict.value_bytes(key))?;
        standalone_value(&ops, 0).map_err(|e| error(py, "BadPickleError", format!("{what}: {e}")))
    })
}

/// A value's ops `ops` (an entry's value read elsewhere: a remote
/// file's) as a Python object, decoded as [`entry_to_py`] decodes a local
/// entry's.
pub(crate) fn ops_to_py(
    py: Python<'_>,
    ops: &[u8],
    trusted: bool,
    what: &str,
) -> PyResult<Py<PyAny>> {
    let p = py.detach(|| mmpk_format::generic::decode_value(ops, 0, &options()));
    let p = p.map_err(|e| error(py, "BadPickleError", format!("{what}: {e}")))?;
    build_or_trust(py, p, trusted, what, &[], |py| {
        standalone_value(ops, 0).map_err(|e| error(py, "BadPickleError", format!("{what}: {e}")))
    })
}

/// Stores `obj` (anything but an array, which the binding maps) under
/// `key`: CPython's `pickle.dumps(obj, protocol=4)`, stored as a generic
/// entry; the GIL is released during the file write.
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
    detached(py, || dict.insert_pickle_bytes(key, &bytes))
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
