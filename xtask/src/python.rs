//! `cargo xtask python-test`: the Python package (`crates/mmpk-py`) built
//! once as a wheel the way `pip install ./crates/mmpk-py` builds it (PEP 517,
//! maturin from PyPI, release profile, abi3), installed into two venvs and
//! tested with pytest (`crates/mmpk-py/tests/`) in both:
//!
//! | venv | contents |
//! |---|---|
//! | `target/venv/pytest-np1` | `numpy==1.23.5 mmappickle==1.0.0 pytest hypothesis` (Python 3.11, numpy 1.23.5's newest) |
//! | `target/venv/pytest-np2` | newest `numpy` 2.x, `pytest hypothesis dask[array] moto[server]` |
//!
//! The first is made from `$PYTHON` (default `python3`), the second from
//! `$PYTHON_NP2` (default: the newest CPython 3.12+ found, else `python3`),
//! so the one abi3 wheel runs on two interpreters. An existing venv is
//! reused while it passes its check; delete it to change its interpreter. The
//! tests find the `mmpk` tool (built here, debug) through `MMPK_CLI` and
//! the `conformance_files` program of crates/devtools (every dtype, both layouts)
//! through `MMPK_CONFORMANCE_FILES`, the repository through `MMPK_ROOT`. Arguments are passed to pytest.
//!
//! The remote tests (`tests/test_remote.py`, `tests/test_dask.py`) start
//! nginx (`MMPK_TEST_NGINX`, else found as `remote-test` finds it) and
//! moto's S3 server (`moto_server` of the numpy 2 venv) on 127.0.0.1; in
//! the numpy 2 venv they must run (`MMPK_REQUIRE_SERVERS=1`: a missing
//! server fails them), in the numpy 1 venv (no dask, no moto) the dask
//! and S3 tests skip.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, venv_of, Ctx};

/// `py -m pip`, without the version check.
pub(crate) fn pip(py: &Path) -> Command {
    let mut c = Command::new(py);
    c.args(["-m", "pip", "--disable-pip-version-check"]);
    c
}

/// The interpreter of the numpy 2 venv: `$PYTHON_NP2`, else the newest
/// CPython 3.12+ found (on `PATH`, or installed by pyenv), else `python3`.
fn np2_base() -> OsString {
    if let Some(p) = std::env::var_os("PYTHON_NP2") {
        return p;
    }
    let mut candidates: Vec<OsString> = vec!["python3.13".into(), "python3.12".into()];
    if let Some(home) = std::env::var_os("HOME") {
        let versions = Path::new(&home).join(".pyenv").join("versions");
        let mut found: Vec<PathBuf> = fs::read_dir(&versions)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join("python3")))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev().map(PathBuf::into_os_string));
    }
    let new_enough = "import sys, venv; assert sys.version_info >= (3, 12)";
    candidates
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", new_enough])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| "python3".into())
}

pub(crate) fn python_test(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let base = crate::base_python();
    let np1 = venv_of(
        ctx,
        "pytest-np1",
        &base,
        Some("numpy==1.23.5 mmappickle==1.0.0 pytest hypothesis"),
        "import numpy, mmappickle, pytest, hypothesis; assert numpy.__version__ == '1.23.5'",
    )?;
    let np2 = venv_of(
        ctx,
        "pytest-np2",
        &np2_base(),
        Some("numpy>=2,<3 pytest hypothesis dask[array] moto[server]"),
        "import numpy, pytest, hypothesis, dask.array, moto.server; \
         assert numpy.__version__.startswith('2.')",
    )?;

    // The mmpk tool and mmpk-format's writer of every dtype, for the
    // cross-checks with Rust.
    run(Command::new(env!("CARGO")).current_dir(&ctx.root).args([
        "build",
        "--quiet",
        "-p",
        "mmpk-devtools",
        "--no-default-features",
        "--bin",
        "conformance_files",
    ]))?;
    let cli = crate::debug_mmpk(ctx)?;
    let files = ctx.target.join("debug").join("conformance_files");

    let wheel = build_wheel(ctx, &np1)?;
    let pkg = ctx.root.join("crates").join("mmpk-py");

    let nginx = crate::find_nginx();
    let mut failed = Vec::new();
    for py in [&np1, &np2] {
        install_wheel(py, &wheel)?;
        let mut cmd = Command::new(py);
        cmd.current_dir(&pkg)
            .env("MMPK_CLI", &cli)
            .env("MMPK_CONFORMANCE_FILES", &files)
            .env("MMPK_ROOT", &ctx.root)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("PYTHONPATH")
            .args(["-m", "pytest", "-p", "no:cacheprovider", "tests"])
            .args(args);
        if let Some(n) = &nginx {
            cmd.env("MMPK_TEST_NGINX", n);
        }
        if py == &np2 {
            cmd.env("MMPK_REQUIRE_SERVERS", "1");
        }
        if let Err(e) = run(&mut cmd) {
            failed.push(e);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Builds the package's one wheel into `target/wheels` with `py`'s pip, as
/// `pip install ./crates/mmpk-py` builds it (release profile, abi3), and
/// returns its path.
pub(crate) fn build_wheel(ctx: &Ctx, py: &Path) -> Result<PathBuf, String> {
    let wheels = ctx.target.join("wheels");
    if wheels.exists() {
        fs::remove_dir_all(&wheels)
            .map_err(|e| format!("cannot remove {}: {e}", wheels.display()))?;
    }
    let pkg = ctx.root.join("crates").join("mmpk-py");
    run(pip(py)
        .args(["wheel", "--quiet", "--no-deps", "--wheel-dir"])
        .arg(&wheels)
        .arg(&pkg))?;
    let wheel = fs::read_dir(&wheels)
        .map_err(|e| format!("cannot list {}: {e}", wheels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("pip wheel made no wheel")?;
    Ok(wheel)
}

/// Installs `wheel` into `py`'s venv (no dependencies, replacing any other).
pub(crate) fn install_wheel(py: &Path, wheel: &Path) -> Result<(), String> {
    run(pip(py)
        .args(["install", "--quiet", "--no-deps", "--force-reinstall"])
        .arg(wheel))
}

/// `cargo xtask python-lint`: `ruff check` and `ruff format --check` of the
/// repository's Python (ruff from PyPI in `target/venv/ruff`): the package
/// under `crates/mmpk-py` with its pyproject.toml's settings, everything
/// else with the root `ruff.toml`'s.
pub(crate) fn python_lint(ctx: &Ctx, _args: &[String]) -> Result<(), String> {
    let py = crate::ensure_venv(ctx, "ruff", Some("ruff"), "import ruff")?;
    for args in [&["check", "."][..], &["format", "--check", "."][..]] {
        run(Command::new(&py)
            .current_dir(&ctx.root)
            .args(["-m", "ruff"])
            .args(args))?;
    }
    Ok(())
}
