//! `cargo xtask bench dask`: issue 14 "Speed". A full pass (sum) over a
//! 4 GiB float32 array served by nginx on 127.0.0.1, computed by a 2-worker
//! `dask.distributed.LocalCluster`, the same chunks for all: `mmpk.dask`,
//! the zarr references, the same bytes as a zarr-python 3 store, and the
//! floor (the same pass, its chunks fetched by plain ranged GETs, nothing
//! decoded) beside the transfer alone (the GETs, no array, no sum);
//! then a 1 MiB slice from Python against mmpk-remote's `RemoteDict` on the
//! same URL (the `remote_bench` program of crates/devtools, `--url`).
//!
//! The work is `benches/dask/dask_bench.py` in `target/venv/cluster` (made
//! as `cargo xtask cluster-test` makes it, mmpk's wheel installed), with the
//! servers of `crates/mmpk-py/testing/servers.py`. Its data (the mmpk
//! file and the zarr store: twice the array's size) goes in
//! `target/bench-data/dask/` and is deleted after the run. A full run
//! rewrites its section of `BENCHMARKS.md`; `--quick` (a 64 MiB array,
//! seconds; CI's smoke test) writes `target/bench-data/dask-quick.md` only.

use std::fs;
use std::process::Command;

use super::harness::{cpus, data_dir, first_line, python_line, Clock, Section};
use crate::{python, run, Ctx};

const SECTION: Section = Section {
    marker: "dask",
    workload: "dask",
};

pub(super) fn dask_bench(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut write = !quick;
    for a in args {
        match a.as_str() {
            "--quick" => {}
            "--no-write" => write = false,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    // (array MiB, chunk MiB, rounds, slices)
    let (mib, chunk, rounds, slices) = if quick {
        (64, 4, 1, 10)
    } else {
        (4096, 64, 3, 50)
    };
    let nginx = crate::nginx()?;
    let (py, _moto) = crate::cluster::cluster_venv(ctx)?;
    // The Rust figure: release for the real run, the debug build (already
    // there after `cargo test`) for the smoke test.
    let mut build = crate::clean_cargo();
    build.current_dir(&ctx.root).args([
        "build",
        "--quiet",
        "-p",
        "mmpk-devtools",
        "--bin",
        "remote_bench",
    ]);
    if !quick {
        build.arg("--release");
    }
    run(&mut build)?;
    let rust = ctx
        .target
        .join(if quick { "debug" } else { "release" })
        .join("remote_bench");

    let data = data_dir(ctx, "dask")?;
    let out = data.join("section.md");
    let benches = ctx.root.join("benches").join("dask");
    let servers = ctx.root.join("crates").join("mmpk-py").join("testing");
    let pythonpath = std::env::join_paths([&benches, &servers]).map_err(|e| e.to_string())?;
    let clock = Clock::start();
    let mut cmd = python(&py);
    cmd.current_dir(&ctx.root)
        .env("PYTHONPATH", pythonpath)
        .env("MMPK_TEST_NGINX", &nginx)
        .arg(benches.join("dask_bench.py"))
        .arg("--dir")
        .arg(&data)
        .args(["--mib", &mib.to_string()])
        .args(["--chunk-mib", &chunk.to_string()])
        .args(["--rounds", &rounds.to_string()])
        .args(["--slices", &slices.to_string()])
        .arg("--rust-bench")
        .arg(&rust)
        .arg("--out")
        .arg(&out);
    run(&mut cmd)?;
    let body =
        fs::read_to_string(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    let span = clock.stop();
    let machine = format!(
        "{} CPUs, shared with other jobs (ratios within one run are what count); {}; \
         {}. {}",
        cpus(),
        python_line(
            &py,
            "import sys, numpy, dask, distributed, zarr, fsspec, importlib.metadata as m; \
             print(f'CPython {sys.version.split()[0]}, numpy {numpy.__version__}, \
             dask {dask.__version__}, distributed {distributed.__version__}, \
             zarr {zarr.__version__}, fsspec {fsspec.__version__}, mmpk {m.version(\"mmpk\")}')"
        ),
        first_line(
            Command::new("sh")
                .arg("-c")
                .arg(format!("'{}' -v 2>&1", nginx.display()))
        ),
        span.line(&ctx.root),
    );
    let report =
        format!("## dask: a cluster's full pass (`cargo xtask bench dask`)\n\n{body}\n{machine}\n");
    println!("{report}");
    SECTION.publish(ctx, &report, write, quick, &ctx.target.join("bench-data"))
}
