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

/// A workload's options, read from its command line by [`Options::parse`]:
/// `--quick` (CI's smoke test: small sizes, no section of `BENCHMARKS.md`
/// rewritten) chooses the defaults, `--no-write` keeps a full run from
/// rewriting its section, and the workload's own options follow.
trait Options: Sized {
    /// The workload, for errors.
    const WORKLOAD: &'static str;

    /// The options of a run with no other option than `--quick` or not.
    fn defaults(quick: bool) -> Self;

    /// Whether the run rewrites its section of `BENCHMARKS.md`.
    fn write(&mut self) -> &mut bool;

    /// Applies the workload's own option `name`, its value (if it takes
    /// one) from `values`; `Ok(false)`: not an option of this workload.
    fn set(&mut self, name: &str, values: &mut Values<'_>) -> Result<bool, String> {
        let _ = (name, values);
        Ok(false)
    }

    /// The options `args` give.
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Self::defaults(args.iter().any(|a| a == "--quick"));
        let mut values = Values(args.iter());
        while let Some(a) = values.0.next() {
            match a.as_str() {
                "--quick" => {}
                "--no-write" => *o.write() = false,
                other => {
                    if !o.set(other, &mut values)? {
                        return Err(format!(
                            "bench {}: unknown option `{other}`",
                            Self::WORKLOAD
                        ));
                    }
                }
            }
        }
        Ok(o)
    }
}

/// The rest of a command line, for an option's value.
struct Values<'a>(std::slice::Iter<'a, String>);

impl Values<'_> {
    /// The value of option `name`.
    fn text(&mut self, name: &str) -> Result<&str, String> {
        self.0
            .next()
            .map(String::as_str)
            .ok_or_else(|| format!("{name} needs a value"))
    }

    /// The value of option `name`, a positive whole number (`_` allowed
    /// between digits, as in `1_000_000`).
    fn num<T: std::str::FromStr + PartialOrd + Default>(
        &mut self,
        name: &str,
    ) -> Result<T, String> {
        self.0
            .next()
            .and_then(|v| v.replace('_', "").parse().ok())
            .filter(|v: &T| *v > T::default())
            .ok_or_else(|| format!("{name} needs a positive number"))
    }
}

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
