//! Criterion benchmarks of the pickle codec (issue 2; docs/design.md
//! "Performance", workload W4): `cargo bench -p pickle-ops --bench codec`.
//!
//! Data, built in Rust and encoded with our encoder at protocol 4 (the bytes
//! equal CPython's `pickle.dumps(obj, 4)`; `cargo xtask bench pickle` checks
//! that for the dict and times the same bytes against CPython and
//! serde-pickle):
//!
//! - `dict_N`: `{str(i): [i, float(i), str(i)] for i in range(N)}`
//!   (35.7 MB for N = 1,000,000);
//! - `floats_N`: `[float(i) for i in range(N)]` (9.0 MB for N = 1,000,000).
//!
//! Each is decoded (`decode/…`) and encoded (`encode/…`, from the decoded
//! graph) for N = 1,000 and 1,000,000, and its ops are walked (`ops/…`:
//! the `Ops` iterator, each op's opcode byte summed, as a lexer-level
//! consumer such as the disassembler or mmpk's memo rewrite sees them);
//! throughput is in pickle bytes.
//! Outputs are dropped outside the timed region. Sample counts are
//! kept small so that the whole run takes a few minutes on a 2-core machine.
use std::hint::black_box;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use pickle_ops::{decode, encode, Pickle};

#[path = "shared/data.rs"]
mod data;
use data::{build_dict, build_floats};

/// One data set; bench ids are `<op>/<kind>_<entries>/<pickle size>`, e.g.
/// `decode/dict_1000000/35.7MB`.
struct Case {
    name: String,
    bytes: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for n in [1_000, 1_000_000] {
        for (kind, build) in [
            ("dict", build_dict as fn(usize) -> Pickle),
            ("floats", build_floats),
        ] {
            let bytes = encode::encode(&build(n), 4).expect("encode");
            out.push(Case {
                name: format!("{kind}_{n}"),
                bytes,
            });
        }
    }
    out
}

fn bench_codec(c: &mut Criterion) {
    let cases = cases();
    let opts = decode::DecodeOptions::default();
    for op in ["decode", "encode"] {
        let mut g = c.benchmark_group(op);
        for case in &cases {
            let big = case.bytes.len() > 1 << 20;
            // Outputs are dropped outside the timed region, one at a time for
            // the big cases (so that at most one decoded graph is alive, as
            // in the peer harness), in small batches for the small ones.
            let batch = if big {
                BatchSize::PerIteration
            } else {
                BatchSize::SmallInput
            };
            if big {
                // About 0.1-0.3 s an iteration: few, flat samples.
                g.sample_size(10)
                    .sampling_mode(SamplingMode::Flat)
                    .warm_up_time(Duration::from_secs(1))
                    .measurement_time(Duration::from_secs(4));
            } else {
                g.sample_size(50)
                    .sampling_mode(SamplingMode::Auto)
                    .warm_up_time(Duration::from_millis(500))
                    .measurement_time(Duration::from_secs(2));
            }
            g.throughput(Throughput::Bytes(case.bytes.len() as u64));
            let len = case.bytes.len() as f64;
            let size = if len < 1e6 {
                format!("{:.1}kB", len / 1e3)
            } else {
                format!("{:.1}MB", len / 1e6)
            };
            let id = BenchmarkId::new(&case.name, size);
            if op == "decode" {
                g.bench_with_input(id, &case.bytes, |b, bytes| {
                    b.iter_batched(
                        || (),
                        |()| decode::decode(black_box(bytes), &opts).expect("decode"),
                        batch,
                    )
                });
            } else {
                let p = decode::decode(&case.bytes, &opts).expect("decode");
                assert_eq!(encode::encode(&p, 4).expect("encode"), case.bytes);
                g.bench_with_input(id, &p, |b, p| {
                    b.iter_batched(
                        || (),
                        |()| encode::encode(black_box(p), 4).expect("encode"),
                        batch,
                    )
                });
            }
        }
        g.finish();
    }
}

fn bench_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("ops");
    for case in cases().iter().filter(|c| c.bytes.len() > 1 << 20) {
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Bytes(case.bytes.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(&case.name),
            &case.bytes,
            |b, bytes| {
                b.iter(|| {
                    pickle_ops::ops(black_box(bytes))
                        .map(|r| u64::from(r.expect("op").1.opcode().byte()))
                        .sum::<u64>()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench_codec, bench_ops);
criterion_main!(benches);
