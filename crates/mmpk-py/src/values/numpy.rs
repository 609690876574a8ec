//! numpy objects of the safe decoder: arrays, masked arrays, scalars and
//! dtypes, made by numpy's own constructors from the dtype, shape and
//! bytes `mmpk_format::numpy` read out of numpy's pickles (numpy 1.x and
//! 2.x names, any protocol), never by calling what the pickle names.

use std::collections::HashMap;

use mmpk_format::dtype::Dtype;
use mmpk_format::numpy::NumpyScalar;
use mmpk_format::pylit::Lit;
use pickle_ops::value::{Dtype as NodeDtype, NdArray, ObjectKind};
use pickle_ops::{NodeId, Pickle, PyInt, Value};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::build::{BuildResult, Failure};

fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// A dtype from its descr (a str, or a list of field tuples) as numpy's
/// own `numpy.lib.format.descr_to_dtype` reads it (unnamed void fields are
/// padding, as in `.npy` headers).
fn descr_to_dtype<'py>(py: Python<'py>, descr: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if descr.is_instance_of::<PyString>() {
        return numpy(py)?.getattr("dtype")?.call1((descr,));
    }
    py.import("numpy.lib.format")?
        .getattr("descr_to_dtype")?
        .call1((descr,))
}

/// A literal (a descr) as a Python object.
fn lit_to_py<'py>(py: Python<'py>, l: &Lit) -> PyResult<Bound<'py, PyAny>> {
    Ok(match l {
        Lit::Str(s) => PyString::new(py, s).into_any(),
        Lit::Int(i) => i.into_pyobject(py)?.into_any(),
        Lit::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
        Lit::None => py.None().into_bound(py),
        Lit::List(v) => {
            let items = v
                .iter()
                .map(|x| lit_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Lit::Tuple(v) => {
            let items = v
                .iter()
                .map(|x| lit_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        Lit::Name(_) | Lit::Dict(_) => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a dtype descr mmpk does not rebuild",
            ))
        }
    })
}

/// numpy's dtype for an mmpk dtype.
pub(super) fn dtype<'py>(py: Python<'py>, d: &Dtype) -> PyResult<Bound<'py, PyAny>> {
    let descr = lit_to_py(py, &d.descr().to_lit())?;
    descr_to_dtype(py, descr)
}

/// A structured dtype's descr node (`[[name, format(, shape)], ...]`, a
/// titled name as `[title, name]`, a nested format as a list) as the
/// Python descr numpy takes (a list of tuples), bounded in depth.
fn descr_node<'py>(
    py: Python<'py>,
    p: &Pickle,
    id: NodeId,
    depth: usize,
) -> BuildResult<Bound<'py, PyAny>> {
    if depth > mmpk_format::pylit::MAX_DEPTH {
        return Err(Failure::Bad("a numpy dtype nested too deep".into()));
    }
    let bad = || Failure::Bad("a numpy dtype descr mmpk does not know".into());
    match p.node(id).ok_or_else(bad)? {
        Value::Str(s) => Ok(PyString::new(py, s.as_str().ok_or_else(bad)?).into_any()),
        Value::List(items) => {
            let mut fields = Vec::with_capacity(items.len());
            for &f in items {
                let Some(Value::List(parts)) = p.node(f) else {
                    return Err(bad());
                };
                let (name, format, shape) = match parts.as_slice() {
                    [n, f] => (*n, *f, None),
                    [n, f, s] => (*n, *f, Some(*s)),
                    _ => return Err(bad()),
                };
                let name = match p.node(name).ok_or_else(bad)? {
                    Value::Str(s) => PyString::new(py, s.as_str().ok_or_else(bad)?).into_any(),
                    Value::List(tn) if tn.len() == 2 => {
                        let t = descr_node(py, p, tn[0], depth + 1)?;
                        let n = descr_node(py, p, tn[1], depth + 1)?;
                        PyTuple::new(py, [t, n])?.into_any()
                    }
                    _ => return Err(bad()),
                };
                let format = descr_node(py, p, format, depth + 1)?;
                let mut t = vec![name, format];
                if let Some(s) = shape {
                    let Some(Value::List(dims)) = p.node(s) else {
                        return Err(bad());
                    };
                    let dims = dims
                        .iter()
                        .map(|&d| match *p.value(d) {
                            Value::Int(PyInt::Small(v)) if v >= 0 => Ok(v),
                            _ => Err(bad()),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    t.push(PyTuple::new(py, dims)?.into_any());
                }
                fields.push(PyTuple::new(py, t)?);
            }
            Ok(PyList::new(py, fields)?.into_any())
        }
        _ => Err(bad()),
    }
}

/// An array from its dtype, shape and C-order bytes (a fresh, writable
/// array owning a copy of the bytes).
pub(super) fn ndarray<'py>(
    py: Python<'py>,
    p: &Pickle,
    a: &NdArray,
) -> BuildResult<Bound<'py, PyAny>> {
    let dtype = match &a.dtype {
        NodeDtype::Str(s) => descr_to_dtype(py, PyString::new(py, s).into_any())?,
        NodeDtype::Descr(node) => descr_to_dtype(py, descr_node(py, p, *node, 0)?)?,
    };
    let shape = PyTuple::new(py, &a.shape)?;
    let np = numpy(py)?;
    // numpy checks the bytes against itemsize * size (frombuffer, reshape):
    // a dtype that disagrees with mmpk's reading is an error, never a view
    // past the bytes.
    let arr = if a.data.is_empty() {
        let size = a.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
        let itemsize: u64 = dtype.getattr("itemsize")?.extract()?;
        let kind: String = dtype.getattr("kind")?.extract()?;
        // Zero bytes for a non-empty array only fit a zero-size void dtype:
        // numpy widens `S0`/`U0` to one character, so a hostile shape would
        // allocate without bound.
        if size != Some(0) && (itemsize != 0 || kind != "V") {
            return Err(Failure::Bad(
                "a numpy array without its bytes (or of a zero-size dtype numpy widens)".into(),
            ));
        }
        np.getattr("zeros")?.call1((shape, dtype))?
    } else {
        let buf = PyByteArray::new(py, &a.data);
        let kw = PyDict::new(py);
        kw.set_item("dtype", dtype)?;
        np.getattr("frombuffer")?
            .call((buf,), Some(&kw))?
            .call_method1("reshape", (shape,))?
    };
    Ok(arr)
}

/// A masked array of two arrays, with its `fill_value` if it had one.
pub(super) fn masked<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    fill: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("mask", mask)?;
    if let Some(f) = fill.filter(|f| !f.is_none()) {
        kw.set_item("fill_value", f)?;
    }
    py.import("numpy.ma")?
        .getattr("MaskedArray")?
        .call((data,), Some(&kw))
}

/// The `fill_value` nodes of numpy's masked array pickles
/// (`_mareconstruct(...)` with BUILD `(version, shape, dtype, is_fortran,
/// data, mask, fill_value)`), by the masked array's node, read before
/// `mmpk_format::numpy` folds them into masked array nodes (which keep
/// data and mask only). [`keep_fills`] then keeps those the fold made a
/// 0-d array of (numpy pickles a fill value so) or that are plain data.
pub(super) fn masked_fills(p: &Pickle) -> HashMap<NodeId, NodeId> {
    let mut out = HashMap::new();
    for id in p.ids() {
        let Some(Value::Object(o)) = p.node(id) else {
            continue;
        };
        let ObjectKind::Reduce { callable, .. } = o.kind else {
            continue;
        };
        let is_mareconstruct = matches!(p.node(callable), Some(Value::Global(g))
            if g.name.as_bytes() == b"_mareconstruct"
                && matches!(g.module.as_bytes(), b"numpy.ma.core" | b"numpy.ma"));
        let Some(Value::Tuple(st)) = o.state.and_then(|s| p.node(s)) else {
            continue;
        };
        let (true, [.., fill]) = (is_mareconstruct && st.len() == 7, st.as_ref()) else {
            continue;
        };
        out.insert(id, *fill);
    }
    out
}

/// Of the fill values [`masked_fills`] found, once numpy's pickles are
/// folded, those the safe decoder rebuilds from data alone and that belong
/// to a folded masked array: a 0-d array, `None`, a bool, int, float, str
/// or bytes, or a numpy scalar of a dtype mmpk knows. Any other is dropped
/// (the masked array gets numpy's default fill value), never refused.
pub(super) fn keep_fills(p: &Pickle, fills: &mut HashMap<NodeId, NodeId>) {
    fills.retain(|&m, fill| {
        let folded = matches!(p.node(m), Some(Value::MaskedArray { .. }));
        let simple = match *p.value(*fill) {
            Value::NdArray(ref a) => a.shape.is_empty(),
            Value::None
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::Bytes(_) => true,
            Value::Object(_) => mmpk_format::numpy::numpy_scalar(p, *fill).is_some(),
            _ => false,
        };
        folded && simple
    });
}

/// A numpy scalar from its dtype and bytes.
pub(super) fn scalar<'py>(py: Python<'py>, s: &NumpyScalar) -> PyResult<Bound<'py, PyAny>> {
    let dt = dtype(py, &s.dtype)?;
    if s.data.is_empty() {
        // `S0`, `U0`, `V0`: numpy cannot view zero bytes; the empty scalar
        // of the dtype's own type.
        let empty = match dt.getattr("kind")?.extract::<String>()?.as_str() {
            "U" => PyString::new(py, "").into_any(),
            _ => PyBytes::new(py, b"").into_any(),
        };
        return dt.getattr("type")?.call1((empty,));
    }
    let kw = PyDict::new(py);
    kw.set_item("dtype", dt)?;
    let arr = numpy(py)?
        .getattr("frombuffer")?
        .call((PyBytes::new(py, &s.data),), Some(&kw))?;
    // A 1-element array: its one element is the scalar (np.float64,
    // np.void, np.datetime64, ... as numpy makes them).
    arr.get_item(0)
}
