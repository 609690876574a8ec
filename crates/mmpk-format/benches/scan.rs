//! The index scan over a file of 1,000,000 small entries (issue 3's target:
//! under 50 ms), and decoding one array value's header (O(1) in the
//! array's size).
//!
//! `cargo bench -p mmpk-format --bench scan`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mmpk_format::array::{read_array, Encoding};
use mmpk_format::dtype::Dtype;
use mmpk_format::header::TERMINATOR;
use mmpk_format::scan::scan;
use mmpk_format::write::encode_array;
use mmpk_format::write::write_entry;
use mmpk_format::write::write_header;

/// 1,000,000 entries: keys `k0`..`k999999`, alternately a small int
/// (`BININT1`) and a small v2 array of 4 `<f4`; every 10th deleted.
fn file(n: usize) -> Vec<u8> {
    let dtype = Dtype::parse("<f4").unwrap();
    let mut arr = Vec::new();
    encode_array(&mut arr, Encoding::V2, &dtype, &[4], &[0; 16]).unwrap();
    let mut f = write_header(1).to_vec();
    for i in 0..n {
        let key = format!("k{i}");
        let value: &[u8] = if i % 2 == 0 { b"K\x07" } else { &arr };
        let memo = if i % 2 == 0 { 1 } else { 0 };
        write_entry(&mut f, &key, value, memo, i % 10 != 9).unwrap();
    }
    f.extend_from_slice(&TERMINATOR);
    f
}

fn bench(c: &mut Criterion) {
    let f = file(1_000_000);
    let mut g = c.benchmark_group("scan");
    g.sample_size(20);
    g.bench_function("1M entries", |b| {
        b.iter(|| {
            let s = scan(black_box(&f)).unwrap();
            assert_eq!(s.entries.len(), 1_000_000);
            s.entries.len()
        })
    });
    g.bench_function("1M entries + live index", |b| {
        b.iter(|| {
            let s = scan(black_box(&f)).unwrap();
            s.live_index().len()
        })
    });
    g.finish();

    // Decoding an array value: the same cost for 16 bytes and 64 MiB.
    let dtype = Dtype::parse("[('x', '<f4'), ('y', '<i8', (2,))]").unwrap();
    for (name, n) in [("small", 1u64), ("64MiB", 64 << 20)] {
        let shape = [n / dtype.itemsize().max(1)];
        let len = mmpk_format::array::nbytes(&dtype, &shape).unwrap() as usize;
        let mut v = Vec::new();
        encode_array(&mut v, Encoding::V2, &dtype, &shape, &vec![0; len]).unwrap();
        c.bench_function(&format!("read_array structured {name}"), |b| {
            b.iter(|| read_array(black_box(&v), 0..v.len()).unwrap().data.len())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
