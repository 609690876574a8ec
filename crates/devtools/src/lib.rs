//! Development programs of the mmpk workspace (not published): each is a
//! binary under `src/bin/`, built and run by `cargo xtask`.
//!
//! | program | what it does | run by |
//! |---|---|---|
//! | `bench_peer` | pickle-ops' side of the pickle benchmark | `cargo xtask bench pickle` |
//! | `pickle_phases`, `pickle_timing` | time the phases of decoding, and decode/encode of a file | by hand |
//! | `bench_files` | mmpk's side of the file benchmarks (W1-W6) | `cargo xtask bench files` |
//! | `bench_durable` | mmpk's durable and default modes per insert | `cargo xtask bench durable` |
//! | `remote_bench` | slices of a large remote array (nginx, or `--url`) | by hand, `cargo xtask bench dask` |
//! | `perf_smoke`, `open_profile` | quick timings of inserts, opens and reads | by hand |
//! | `conformance_files` | every dtype and shape class in both layouts, with a manifest, for real Python | `cargo xtask conformance`, `python-test` |
//! | `interop_sample` | a sample file of every element type for Python | by hand |
//! | `soak` | the soak test as a program (logic in `crates/mmpk/tests/soak/soak.rs`) | `cargo xtask soak` |
//!
//! Usage examples of the library crates are in their `examples/` folders.
