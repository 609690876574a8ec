//! Times the generic-value pipeline on the W4 dict (`{str(i): [i, float(i), str(i)]}`,
//! N = 1,000,000): encode + rewrite of a whole pickle, the traced
//! `encode_value`, and decoding the entry's value.
//!
//! `cargo run --release -p mmpk-format --example generic_timing`
use std::time::Instant;

use pickle_ops::{Pickle, Value};

fn main() {
    let n = 1_000_000;
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
    for _ in 0..3 {
        let t = Instant::now();
        let bytes = pickle_ops::encode::encode(&p, 4).unwrap();
        let te = t.elapsed();
        let t = Instant::now();
        let g = mmpk_format::generic::rewrite_pickle(&bytes, 1).unwrap();
        let tr = t.elapsed();
        let t = Instant::now();
        let h = mmpk_format::generic::encode_value(&p, 1).unwrap();
        let tv = t.elapsed();
        assert_eq!(h, g);
        let t = Instant::now();
        let q = mmpk_format::generic::decode_value(&g.ops, 0, &Default::default()).unwrap();
        let td = t.elapsed();
        println!("encode {te:?} + rewrite_pickle {tr:?}; encode_value {tv:?}; decode {td:?} ({} bytes, {} nodes)", g.ops.len(), q.len());
    }
}
