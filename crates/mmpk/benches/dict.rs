//! Criterion benchmarks of the dict (docs/design.md "Performance: what is measured"; issue 6),
//! the Rust side of the workloads that `cargo xtask bench files` compares
//! with the peers in fresh processes: `cargo bench -p mmpk --bench dict`.
//!
//! Bench ids carry the data sizes:
//!
//! - `w1_write/64MiB`: insert one float32 array of 64 MiB into a new file
//!   (and the same bytes with a raw `write(2)`, the limit, as
//!   `w1_write/raw_64MiB`);
//! - `w2_open_sum/64MiB`: open read-only, get the view, parallel sum;
//! - `w3_insert/<N>`: one more float64[128] array into a file that holds N
//!   of them (cost per insert, which must stay flat as N grows);
//!   `w3_get/<N>`: get one key's view in such a file;
//! - `w4_insert_pickle/100k` and `w4_get_pickle/100k`: the dict
//!   `{str(i): [i, float(i), str(i)]}` of 100,000 entries as one entry;
//! - `w5_concurrent/4x250`: 4 threads, each with its own handle on one
//!   file (so they take the file's `flock` against each other, as
//!   processes do), insert 250 float64[128] arrays each;
//! - `w6_open_get/4GiB`: open a file holding a 4 GiB reservation and a few
//!   small keys, get one small key (resident memory is the xtask's to
//!   measure, in a fresh process).
//!
//! Files live in a temporary directory (page cache warm). Sample counts are
//! small so the whole run takes a few minutes on 2 cores.
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mmpk::{Dict, OpenOptions};
use ndarray::Array1;

fn create(path: &Path) -> Dict {
    let _ = std::fs::remove_file(path);
    // SAFETY: the benchmark's own temporary file.
    unsafe { Dict::create(path).expect("create") }
}

fn open_ro(path: &Path) -> Dict {
    // SAFETY: as above.
    unsafe { OpenOptions::new().read_only(true).open(path).expect("open") }
}

#[path = "../../pickle-ops/benches/shared/data.rs"]
mod data;
use data::build_dict;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.mmpk");

    // W1 and W2: one 64 MiB float32 array.
    let n = (64 << 20) / 4;
    let a = Array1::from_shape_fn(n, |i| (i % 1000) as f32);
    let raw: Vec<u8> = a.iter().flat_map(|x| x.to_ne_bytes()).collect();
    let mut g = c.benchmark_group("w1_write");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("64MiB", |b| {
        b.iter(|| {
            let d = create(&path);
            d.insert_array("a", &a).expect("insert");
        })
    });
    let raw_path = dir.path().join("raw.bin");
    g.bench_function("raw_64MiB", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(&raw_path);
            let mut f = std::fs::File::create(&raw_path).expect("create");
            f.write_all(&raw).expect("write");
        })
    });
    g.finish();

    {
        let d = create(&path);
        d.insert_array("a", &a).expect("insert");
    }
    let mut g = c.benchmark_group("w2_open_sum");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("64MiB", |b| {
        b.iter(|| {
            let d = open_ro(&path);
            let arr = d.array("a").expect("array");
            mmpk::par::sum_f64(arr.view::<f32>().expect("view"))
        })
    });
    g.finish();

    // W3: insert cost as the file grows, and get cost.
    let small = Array1::from_elem(128, 1.0f64);
    let sizes = [1_000usize, 10_000, 100_000];
    let dicts: Vec<Dict> = sizes
        .iter()
        .map(|&n| {
            let d = create(&dir.path().join(format!("w3_{n}.mmpk")));
            for i in 0..n {
                d.insert_array(&format!("k{i}"), &small).expect("insert");
            }
            d
        })
        .collect();
    let mut g = c.benchmark_group("w3_insert");
    g.sample_size(20);
    for (&n, d) in sizes.iter().zip(&dicts) {
        let mut next = n;
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                d.insert_array(&format!("k{next}"), &small).expect("insert");
                next += 1;
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("w3_get");
    g.sample_size(20);
    for (&n, d) in sizes.iter().zip(&dicts) {
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                d.array(black_box("k7"))
                    .expect("get")
                    .view::<f64>()
                    .expect("view")[[0]]
            })
        });
    }
    g.finish();
    drop(dicts);

    // W4: a generic value of 100,000 entries.
    let p = build_dict(100_000);
    let w4 = dir.path().join("w4.mmpk");
    let mut g = c.benchmark_group("w4");
    g.sample_size(10);
    g.bench_function("insert_pickle/100k", |b| {
        b.iter_batched(
            || create(&w4),
            |d| d.insert_pickle("obj", &p).expect("insert"),
            BatchSize::PerIteration,
        )
    });
    {
        let d = create(&w4);
        d.insert_pickle("obj", &p).expect("insert");
    }
    g.bench_function("get_pickle/100k", |b| {
        let d = open_ro(&w4);
        b.iter_batched(
            || (),
            |_| d.get_pickle("obj").expect("get"),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // W5: threads with their own handles on one file.
    let w5 = dir.path().join("w5.mmpk");
    let small = Array1::<f64>::from_elem(128, 1.0);
    let mut g = c.benchmark_group("w5_concurrent");
    g.sample_size(10);
    g.throughput(Throughput::Elements(4 * 250));
    g.bench_function("4x250", |b| {
        b.iter_batched(
            || drop(create(&w5)),
            |()| {
                std::thread::scope(|t| {
                    for id in 0..4 {
                        let (w5, small) = (&w5, &small);
                        t.spawn(move || {
                            // SAFETY: as above.
                            let d = unsafe { OpenOptions::new().open(w5).expect("open") };
                            for i in 0..250 {
                                d.insert_array(&format!("p{id}-{i}"), small)
                                    .expect("insert");
                            }
                        });
                    }
                });
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // W6: a large sparse file, one small key read.
    let w6 = dir.path().join("w6.mmpk");
    {
        let d = create(&w6);
        d.reserve::<f32>("big", &[1 << 30]).expect("reserve");
        for i in 0..8 {
            d.insert_array(&format!("k{i}"), &small).expect("insert");
        }
    }
    let mut g = c.benchmark_group("w6_open_get");
    g.sample_size(20);
    g.bench_function("4GiB", |b| {
        b.iter(|| {
            let d = open_ro(&w6);
            let a = d.array(black_box("k3")).expect("get");
            a.view::<f64>().expect("view")[[0]]
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
