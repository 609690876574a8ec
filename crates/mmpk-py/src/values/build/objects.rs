//! The allowlisted objects made from pickled state rather than from their
//! arguments, read from the graph: `datetime.date`, `time`, `datetime`
//! (their bytes), `uuid.UUID` (its state dict) and numpy arrays of Python
//! objects (numpy's `_reconstruct` with an object dtype and a list of
//! items, which `mmpk_format::numpy` leaves to the binding).

use pickle_ops::value::{Object, ObjectKind};
use pickle_ops::{NodeId, PyInt, Value};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::{args_of, bad, callable_of, int, BuildResult, Builder, Known};

/// An object array as numpy pickles it: shape, memory order and the list
/// node of its items (in C order).
pub(super) struct ObjectArray {
    shape: Vec<u64>,
    fortran: bool,
    pub(super) items: NodeId,
}

impl<'py> Builder<'py, '_> {
    /// `date`, `time`, `datetime` from their pickled bytes (and tzinfo).
    pub(super) fn datetime(
        &mut self,
        o: &Object,
        known: Known,
        name: &str,
    ) -> BuildResult<Bound<'py, PyAny>> {
        let py = self.py;
        let args = self.tuple_items(args_of(o), name)?;
        let (state, tz) = match (known, args) {
            (Known::Date, [s]) => (*s, None),
            (Known::Time | Known::DateTime, [s]) => (*s, None),
            (Known::Time | Known::DateTime, [s, tz]) => (*s, Some(*tz)),
            _ => return bad(format!("{name}: arguments Python does not write")),
        };
        let b: Vec<u8> = match self.p.node(state) {
            Some(Value::Bytes(b)) => b.to_vec(),
            // Python 2 pickles carry the state as a latin-1 str.
            Some(Value::Str(s)) => match s.to_latin1() {
                Some(b) => b,
                None => return bad(format!("{name}: state is not bytes")),
            },
            _ => return bad(format!("{name}: state is not bytes")),
        };
        let tzinfo = match tz {
            None => py.None().into_bound(py),
            Some(t) => {
                let t = self.get(t)?;
                let base = self.import("datetime", "tzinfo")?;
                if !t.is_none() && !t.is_instance(&base)? {
                    return bad(format!("{name}: tzinfo is not a tzinfo"));
                }
                t
            }
        };
        let us = |x: &[u8]| (u32::from(x[0]) << 16) | (u32::from(x[1]) << 8) | u32::from(x[2]);
        let kw = PyDict::new(py);
        let (cls, args) = match (known, b.as_slice()) {
            (Known::Date, [yh, yl, m, d]) => {
                let y = u32::from(*yh) * 256 + u32::from(*yl);
                ("date", PyTuple::new(py, [y, u32::from(*m), u32::from(*d)])?)
            }
            (Known::Time, [h, mi, s, rest @ ..]) if rest.len() == 3 => {
                kw.set_item("tzinfo", &tzinfo)?;
                kw.set_item("fold", u32::from(*h >> 7))?;
                let v = [
                    u32::from(*h & 0x7F),
                    u32::from(*mi),
                    u32::from(*s),
                    us(rest),
                ];
                ("time", PyTuple::new(py, v)?)
            }
            (Known::DateTime, [yh, yl, m, d, h, mi, s, rest @ ..]) if rest.len() == 3 => {
                kw.set_item("tzinfo", &tzinfo)?;
                kw.set_item("fold", u32::from(*m >> 7))?;
                let y = u32::from(*yh) * 256 + u32::from(*yl);
                let v = [
                    y,
                    u32::from(*m & 0x7F),
                    u32::from(*d),
                    u32::from(*h),
                    u32::from(*mi),
                    u32::from(*s),
                    us(rest),
                ];
                ("datetime", PyTuple::new(py, v)?)
            }
            _ => return bad(format!("{name}: state of a wrong size")),
        };
        let c = self.import("datetime", cls)?;
        c.call(args, Some(&kw)).map_err(|e| self.bad_call(name, e))
    }

    /// `uuid.UUID` from its state `{'int': n[, 'is_safe': v]}`.
    pub(super) fn uuid(&mut self, o: &Object) -> BuildResult<Bound<'py, PyAny>> {
        let py = self.py;
        let p = self.p;
        if !self.tuple_items(args_of(o), "uuid.UUID")?.is_empty() {
            return bad("uuid.UUID: arguments Python does not write");
        }
        let Some(Value::Dict(items)) = o.state.and_then(|s| p.node(s)) else {
            return bad("uuid.UUID: state is not a dict");
        };
        let (mut n, mut safe) = (None, None);
        for &(k, v) in items {
            let key = match p.node(k) {
                Some(Value::Str(s)) => s.as_str().unwrap_or(""),
                _ => "",
            };
            match (key, &*p.value(v)) {
                ("int", Value::Int(i)) => n = Some(int(py, i)?),
                ("is_safe", Value::Int(i)) => safe = Some(int(py, i)?),
                ("is_safe", Value::None) => safe = Some(py.None().into_bound(py)),
                _ => return bad("uuid.UUID: state holds other than 'int' and 'is_safe'"),
            }
        }
        let Some(n) = n else {
            return bad("uuid.UUID: state without 'int'");
        };
        let kw = PyDict::new(py);
        kw.set_item("int", n)?;
        if let Some(s) = safe {
            let s = self
                .import("uuid", "SafeUUID")?
                .call1((s,))
                .map_err(|e| self.bad_call("uuid.SafeUUID", e))?;
            kw.set_item("is_safe", s)?;
        }
        self.import("uuid", "UUID")?
            .call((), Some(&kw))
            .map_err(|e| self.bad_call("uuid.UUID", e))
    }

    /// Reads `o` as numpy's pickle of an object array:
    /// `_reconstruct(ndarray, (0,), b'b')` with BUILD state
    /// `([version,] shape, dtype('O8'), is_fortran, [items])`, the items'
    /// count matching the shape. `None` if it is not one.
    pub(super) fn object_array(&self, o: &Object) -> Option<ObjectArray> {
        let p = self.p;
        let global = |id: NodeId, name: &str| {
            matches!(p.node(id), Some(Value::Global(g)) if g.name.as_bytes() == name.as_bytes()
                && super::allow::callable(g.module.as_bytes(), g.name.as_bytes()).is_some())
        };
        if !matches!(o.kind, ObjectKind::Reduce { .. }) || !global(callable_of(o), "_reconstruct") {
            return None;
        }
        let Some(Value::Tuple(args)) = p.node(args_of(o)) else {
            return None;
        };
        if args.len() != 3 || !global(args[0], "ndarray") || !o.listitems.is_empty() {
            return None;
        }
        let Some(Value::Tuple(st)) = o.state.and_then(|s| p.node(s)) else {
            return None;
        };
        let st = match st.len() {
            5 => &st[1..],
            4 => &st[..],
            _ => return None,
        };
        let shape: Vec<u64> = match p.node(st[0])? {
            Value::Tuple(d) => d
                .iter()
                .map(|&x| match *p.value(x) {
                    Value::Int(PyInt::Small(v)) => u64::try_from(v).ok(),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            _ => return None,
        };
        if shape.len() > mmpk_format::dtype::MAX_DIMS {
            return None;
        }
        // numpy.dtype('O8' | 'O4', False, True) with its BUILD state.
        let Some(Value::Object(dt)) = p.node(st[1]) else {
            return None;
        };
        let Some(Value::Tuple(dargs)) = p.node(args_of(dt)) else {
            return None;
        };
        let is_object = matches!(dargs.first().and_then(|&a| p.node(a)),
            Some(Value::Str(s)) if s.as_bytes().first() == Some(&b'O'));
        if !global(callable_of(dt), "dtype") || !is_object {
            return None;
        }
        let fortran = match *p.value(st[2]) {
            Value::Bool(b) => b,
            Value::Int(PyInt::Small(v)) => v != 0,
            _ => return None,
        };
        let Some(Value::List(items)) = p.node(st[3]) else {
            return None;
        };
        let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        (n == items.len() as u64).then_some(ObjectArray {
            shape,
            fortran,
            items: st[3],
        })
    }

    /// `numpy.empty(shape, dtype=object, order=...)`.
    pub(super) fn empty_object_array(&self, a: &ObjectArray) -> BuildResult<Bound<'py, PyAny>> {
        let py = self.py;
        let kw = PyDict::new(py);
        kw.set_item("dtype", py.import("builtins")?.getattr("object")?)?;
        kw.set_item("order", if a.fortran { "F" } else { "C" })?;
        Ok(py
            .import("numpy")?
            .getattr("empty")?
            .call((PyTuple::new(py, &a.shape)?,), Some(&kw))?)
    }

    /// Sets an object array's items, one by one (each item is stored as
    /// the object it is, sequences included).
    pub(super) fn fill_object_array(
        &self,
        a: &ObjectArray,
        arr: &Bound<'py, PyAny>,
    ) -> BuildResult<()> {
        let Some(Value::List(items)) = self.p.node(a.items) else {
            return bad("an object array's items are not a list");
        };
        // numpy lists the items in C order whatever the memory order;
        // `arr.flat` indexes in C order and writes in place.
        let flat = arr.getattr("flat")?;
        for (i, &item) in items.iter().enumerate() {
            flat.set_item(i, self.get(item)?)?;
        }
        Ok(())
    }
}
