//! numpy objects of the safe decoder: arrays, masked arrays, scalars and
//! dtypes, made by numpy's own constructors from the dtype, shape and
//! bytes `mmpk_format::numpy` read out of numpy's pickles (numpy 1.x and
//! 2.x names, any protocol), never by calling what the pickle names.

use mmpk_format::dtype::Dtype;
use mmpk_format::numpy::NumpyScalar;
use mmpk_format::pylit::Lit;
use pickle_ops::value::{Dtype as NodeDtype, NdArray};
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

/// A masked array of two arrays.
pub(super) fn masked<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("mask", mask)?;
    py.import("numpy.ma")?
        .getattr("MaskedArray")?
        .call((data,), Some(&kw))
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
