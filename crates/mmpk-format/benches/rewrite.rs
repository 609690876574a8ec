//! Rewriting a stored value's pickle for the file's memo
//! (`generic::rewrite_pickle`: the structural check and the memo rewrite
//! that `mmpk.Dict.__setitem__` runs after CPython's `pickle.dumps`), on
//! issue 13's dict `{str(i): [i, float(i), str(i)] for i in range(N)}`
//! (35.7 MB for N = 1,000,000; nothing shared, so no store is kept) and on
//! the same dict with every list stored twice (`[l, l]` values: every
//! list's store is fetched, the two-pass path). Throughput is in pickle
//! bytes.
//!
//! `cargo bench -p mmpk-format --bench rewrite`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mmpk_format::generic::rewrite_pickle;
use pickle_ops::value::PyStr;
use pickle_ops::{encode, Pickle, PyInt, Value};

/// `{str(i): [i, float(i), str(i)] for i in range(n)}` (with `shared`,
/// `{str(i): [l, l]}` for that list `l`) as CPython's `pickle.dumps(.., 4)`.
fn dict(n: usize, shared: bool) -> Vec<u8> {
    let mut p = Pickle::with_capacity(1 + 6 * n);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let s = i.to_string();
        let k = p.push(Value::Str(PyStr::from(s.as_str())));
        let a = p.push(Value::Int(PyInt::Small(i as i64)));
        let b = p.push(Value::Float(i as f64));
        let c = p.push(Value::Str(PyStr::from(s.as_str())));
        let mut l = p.push(Value::List(vec![a, b, c]));
        if shared {
            l = p.push(Value::List(vec![l, l]));
        }
        items.push((k, l));
    }
    let root = p.push(Value::Dict(items));
    p.set_root(root);
    encode::encode(&p, 4).expect("encode")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rewrite_pickle");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, shared) in [("dict_1000000", false), ("dict_shared_1000000", true)] {
        let bytes = dict(1_000_000, shared);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(rewrite_pickle(black_box(&bytes), 1).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
