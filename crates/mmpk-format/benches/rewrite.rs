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
use pickle_ops::{encode, Pickle};

#[path = "../../pickle-ops/benches/shared/data.rs"]
mod data;
use data::{build_dict, build_dict_shared};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rewrite_pickle");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, build) in [
        ("dict_1000000", build_dict as fn(usize) -> Pickle),
        ("dict_shared_1000000", build_dict_shared),
    ] {
        let bytes = encode::encode(&build(1_000_000), 4).expect("encode");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(rewrite_pickle(black_box(&bytes), 1).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
