//! `cargo xtask bench <workload>`: peer benchmarks (docs/design.md "Performance: what is measured").
//!
//! Every workload times mmpk's code and its peers in the same run, on the
//! same data, interleaved (round after round, the order rotated each round),
//! and reports medians, min-max and ratios. Full runs rewrite their own
//! delimited section of `BENCHMARKS.md`, so the workloads' sections live side
//! by side. What they share (building and running the timing programs,
//! statistics, number formats, the run's provenance, the sections of
//! `BENCHMARKS.md`) is module [`harness`].
//!
//! Workloads so far:
//!
//! - `pickle` (W4, module [`mod@pickle`]): generic pickle decode/encode,
//!   pickle-ops against CPython's C `pickle` and serde-pickle.
//! - `files` (W1-W6, module [`files`]): mmpk's dict against np.save /
//!   np.memmap / np.lib.format.open_memmap, safetensors, h5py, joblib,
//!   CPython's pickle and mmappickle 1.0 (`benches/files/peers.py`), and the
//!   Rust crates ndarray-npy and safetensors (`benches/files/rust-peer`,
//!   outside the workspace, built into `target/peers`), on files in
//!   `target/bench-data/files/`.
//! - `cli` (module [`mod@cli`]): `mmpk put --npy` and `mmpk export` of a
//!   1 GiB `.npy` against `cp` (and `cat` for pipes), with their peak
//!   resident memory.
//! - `python` (module [`mod@py`]): the Python package (`import mmpk`)
//!   against np.load / np.save, safetensors, h5py, pickle and mmappickle 1.0
//!   from Python (`benches/files/peers.py`), issue 13 "Speed".
//! - `durable` (module [`mod@durable`]): per-insert time of mmpk's durable
//!   and default modes against SQLite (WAL, `synchronous=FULL`) and h5py
//!   with `fsync`, with the barriers each insert makes, issue 16 item 7.
//! - `dask` (module [`mod@dask`]): a LocalCluster's full pass over a 4 GiB
//!   array served by nginx: `mmpk.dask`, the zarr references, a zarr store
//!   and the floor of the same ranged GETs; a 1 MiB slice from Python
//!   against Rust's `RemoteDict` (`benches/dask/`), issue 14 "Speed".

use crate::Ctx;

mod cli;
mod dask;
mod durable;
mod files;
mod harness;
mod pickle;
mod py;

pub(crate) fn bench(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("pickle") => pickle::pickle(ctx, &args[1..]),
        Some("files") => files::files(ctx, &args[1..]),
        Some("cli") => cli::cli(ctx, &args[1..]),
        Some("python") => py::python_bench(ctx, &args[1..]),
        Some("durable") => durable::durable(ctx, &args[1..]),
        Some("dask") => dask::dask_bench(ctx, &args[1..]),
        Some(other) => Err(format!(
            "unknown workload `{other}` (known: pickle, files, cli, python, durable, dask)"
        )),
        None => Err(
            "name a workload: `cargo xtask bench pickle|files|cli|python|durable|dask [--quick]`"
                .into(),
        ),
    }
}
