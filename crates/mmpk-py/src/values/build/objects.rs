//! The allowlisted objects made from pickled state rather than from their
//! arguments: `datetime.date`, `time`, `datetime` (their bytes) and
//! `uuid.UUID` (its state dict), read from the graph.

use pickle_ops::value::Object;
use pickle_ops::Value;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::{args_of, bad, int, BuildResult, Builder, Known};

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
}
