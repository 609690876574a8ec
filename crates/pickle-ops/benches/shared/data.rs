//! The W4 data sets built in Rust, shared by the criterion bench and the
//! `bench_peer` program of crates/devtools (included with `#[path]`).

use pickle_ops::value::PyStr;
use pickle_ops::{Pickle, PyInt, Value};

/// `{str(i): [i, float(i), str(i)] for i in range(n)}`; key and value strs
/// are distinct objects, as in CPython.
pub fn build_dict(n: usize) -> Pickle {
    let mut p = Pickle::with_capacity(1 + 5 * n);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let s = i.to_string();
        let k = p.push(Value::Str(PyStr::from(s.as_str())));
        let a = p.push(Value::Int(PyInt::Small(i as i64)));
        let b = p.push(Value::Float(i as f64));
        let c = p.push(Value::Str(PyStr::from(s.as_str())));
        let l = p.push(Value::List(vec![a, b, c]));
        items.push((k, l));
    }
    let root = p.push(Value::Dict(items));
    p.set_root(root);
    p
}

/// `[float(i) for i in range(n)]`
#[allow(dead_code)] // used by the criterion bench only
pub fn build_floats(n: usize) -> Pickle {
    let mut p = Pickle::with_capacity(1 + n);
    let items = (0..n).map(|i| p.push(Value::Float(i as f64))).collect();
    let root = p.push(Value::List(items));
    p.set_root(root);
    p
}
