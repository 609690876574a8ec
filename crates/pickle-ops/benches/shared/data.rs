//! The W4 data sets built in Rust: the one builder of issue 13's dict for
//! every bench of the workspace, included with `#[path]` by pickle-ops's
//! criterion bench, mmpk-format's `rewrite` and mmpk's `dict` benches and
//! the `bench_peer` and `bench_files` programs of crates/devtools (it needs
//! pickle-ops only, the lowest layer, so no crate reaches up for it).

use pickle_ops::{Pickle, Value};

/// `{str(i): [i, float(i), str(i)] for i in range(n)}`; key and value strs
/// are distinct objects, as in CPython.
pub fn build_dict(n: usize) -> Pickle {
    dict_of(n, false)
}

/// `{str(i): [l, l]}` for each `l = [i, float(i), str(i)]`: every list is
/// stored twice (a pickle with memo references to shared objects).
#[allow(dead_code)] // used by mmpk-format's rewrite bench only
pub fn build_dict_shared(n: usize) -> Pickle {
    dict_of(n, true)
}

fn dict_of(n: usize, shared: bool) -> Pickle {
    let mut p = Pickle::with_capacity(1 + if shared { 6 } else { 5 } * n);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let s = i.to_string();
        let k = p.push(Value::str(&s));
        let a = p.push(Value::int(i as i64));
        let b = p.push(Value::Float(i as f64));
        let c = p.push(Value::str(&s));
        let mut l = p.push(Value::List(vec![a, b, c]));
        if shared {
            l = p.push(Value::List(vec![l, l]));
        }
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
