//! The W4 data set shared by `benches/dict.rs` and
//! `crates/devtools/src/bin/bench_files.rs`: `{str(i): [i, float(i), str(i)] for i in
//! range(n)}` as a pickle graph.

use pickle_ops::{Pickle, Value};

/// `{str(i): [i, float(i), str(i)] for i in range(n)}`.
pub fn big_dict(n: usize) -> Pickle {
    let mut p = Pickle::with_capacity(3 * n + 1);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let s = i.to_string();
        let k = p.push(Value::str(&s));
        let a = p.push(Value::int(i as i64));
        let b = p.push(Value::Float(i as f64));
        let c = p.push(Value::str(&s));
        let l = p.push(Value::List(vec![a, b, c]));
        items.push((k, l));
    }
    let root = p.push(Value::Dict(items));
    p.set_root(root);
    p
}
