//! `cargo xtask cluster-test`: a `dask.distributed.LocalCluster` of two
//! worker processes reads an mmpk file served by nginx and by moto's S3
//! server on 127.0.0.1 (issue 14, "The cluster, tested"): through the zarr
//! chunk references with xarray and dask, and through `mmpk.dask`; and the
//! README's "From Python, on a dask cluster" example runs as printed. The
//! tests are `crates/mmpk-py/cluster_tests/`; the servers they start are
//! those of `crates/mmpk-py/testing/servers.py` (shared with the Python
//! package's tests, `cargo xtask zarr-test` and `cargo xtask bench dask`).
//!
//! The venv `target/venv/cluster` holds numpy 2, dask, distributed, xarray,
//! zarr 3, fsspec, kerchunk, s3fs, aiohttp, requests, `moto[server]` and
//! pytest, and the `mmpk` package's wheel (built as `cargo xtask
//! python-test` builds it).

use std::path::PathBuf;

use crate::{ensure_venv, python, run, Ctx};

/// What `target/venv/cluster` holds (besides mmpk's wheel).
pub(crate) const CLUSTER_VENV: &str = "numpy>=2,<3 zarr>=3,<4 xarray dask distributed fsspec \
                                       kerchunk s3fs aiohttp requests moto[server] pytest";

/// The venv's check: everything imports, numpy 2 and zarr 3.
const PROBE: &str = "import numpy, zarr, xarray, dask, distributed, fsspec, kerchunk, s3fs, \
                     aiohttp, requests, moto.server, pytest; \
                     assert numpy.__version__.startswith('2.') and zarr.__version__.startswith('3.')";

/// `target/venv/cluster` with mmpk's wheel freshly installed; returns its
/// interpreter and `moto_server`.
pub(crate) fn cluster_venv(ctx: &Ctx) -> Result<(PathBuf, PathBuf), String> {
    let py = ensure_venv(ctx, "cluster", Some(CLUSTER_VENV), PROBE)?;
    let wheel = crate::python::build_wheel(ctx, &py)?;
    crate::python::install_wheel(&py, &wheel)?;
    let moto = crate::venv_program(&py, "moto_server")?;
    Ok((py, moto))
}

pub(crate) fn cluster_test(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let nginx = crate::nginx()?;
    let (py, moto) = cluster_venv(ctx)?;
    let tests = ctx
        .root
        .join("crates")
        .join("mmpk-py")
        .join("cluster_tests");
    run(python(&py)
        .current_dir(&tests)
        .env("MMPK_TEST_NGINX", &nginx)
        .env("MMPK_TEST_MOTO", &moto)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&tests)
        .args(args))
}
