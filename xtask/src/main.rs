//! Development tasks for the mmpk workspace, run as `cargo xtask <task>`.
//!
//! The `cargo xtask` alias lives in `.cargo/config.toml`. This crate uses
//! only the standard library and `serde_json` (for `cargo metadata`); Python work is done by the scripts under
//! `fixtures/gen/`, in virtual environments under `target/venv/`:
//!
//! | venv | contents | used for |
//! |---|---|---|
//! | `target/venv/py` | standard library only | `gen_pickles.py`, `gen_handbuilt.py`, `conformance_pickle.py` |
//! | `target/venv/np1` | `numpy==1.23.5` | `gen_numpy.py` (numpy 1.x pickles) |
//! | `target/venv/np2` | newest `numpy` 2.x | `gen_numpy.py` (numpy 2.x pickles) |
//! | `target/venv/mmp1` | `numpy==1.23.5 mmappickle==1.0.0` | `gen_mmappickle.py` (mmappickle 1.0 files) |
//! | `target/venv/moto` | `moto[server]` | `remote-test`: the S3 server mmpk-remote's tests start |
//! | `target/venv/pytest-np1`, `pytest-np2` | the `mmpk` Python package, numpy 1.23.5 / 2.x, pytest | `python-test` (module [`mod@python`]) |
//! | `target/venv/cluster` | numpy 2, dask, distributed, xarray, zarr 3, fsspec, kerchunk, s3fs, aiohttp, requests, `moto[server]`, pytest, and the `mmpk` wheel | `cluster-test` and `bench dask` (module [`mod@cluster`]) |
//! | `target/venv/zarr` | numpy 2, zarr 3, xarray, dask, fsspec, kerchunk, s3fs, aiohttp, requests, `moto[server]`, pytest | `zarr-test`: `mmpk zarr-refs` read by xarray, zarr and dask |
//!
//! `cargo xtask bench` (module [`mod@bench`]) also uses `target/venv/py`, with
//! `benches/pickle/cpython_peer.py`, and builds the Rust peers under
//! `benches/`.
//!
//! Venvs are created on first use and reused afterwards. Set `PYTHON` to
//! choose the interpreter they are made from (default `python3`; the
//! fixtures record its `sys.version`).

mod bench;
mod cluster;
mod crash;
mod examples;
mod msrv;
mod python;
mod soak;

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// One `cargo xtask` task: its name, a one-line summary and its entry point.
struct Task {
    name: &'static str,
    args: &'static str,
    about: &'static str,
    run: fn(&Ctx, &[String]) -> Result<(), String>,
}

const TASKS: &[Task] = &[
    Task {
        name: "help",
        args: "",
        about: "print this table",
        run: help,
    },
    Task {
        name: "fixtures",
        args: "[--check] [--skip-numpy]",
        about: "regenerate fixtures/{pickle,hostile,handbuilt,numpy,mmappickle} with real Python in target/venv/*; \
                --check regenerates into target/fixtures-check and fails if anything differs \
                from fixtures/",
        run: fixtures,
    },
    Task {
        name: "bench",
        args: "pickle [--quick] [OPTIONS]",
        about: "time pickle-ops' decode/encode against CPython's pickle and serde-pickle, \
                interleaved, on the same CPython-written bytes (benches/pickle/, data in \
                target/bench-data/) and rewrite its section of BENCHMARKS.md; --quick: \
                10,000 entries, a smoke test that writes only target/bench-data/pickle-quick.md; \
                OPTIONS: --n N, --rounds R, --iters K, --no-write; `bench cli [--quick] [--mib N] \
                [--rounds R] [--no-write]`: mmpk put --npy / export of a 1 GiB .npy against cp \
                and cat, with peak memory; `bench python [--quick] [--no-write]`: the Python \
                package (its wheel installed into target/venv/bench) against np.load/np.save, \
                safetensors, h5py, pickle and mmappickle 1.0 from Python (issue 13 \"Speed\"); \
                `bench durable [--quick] [--no-write]`: per-insert time and barriers of mmpk's \
                durable and default modes against SQLite (WAL, synchronous=FULL) and h5py with \
                fsync (issue 16); \
                `bench dask [--quick] [--no-write]`: a 2-worker LocalCluster's sum over a 4 GiB \
                array served by nginx: mmpk.dask, the zarr references, a zarr store, the floor \
                of the same GETs; a 1 MiB slice from Python vs RemoteDict (issue 14 \"Speed\")",
        run: bench::bench,
    },
    Task {
        name: "examples",
        args: "[--url URL]",
        about: "build the library crates' examples and run each with small arguments (the \
                camera writer and the live viewer as two processes on one file); --url also \
                runs the remote example against URL",
        run: examples::examples,
    },
    Task {
        name: "fuzz",
        args: "[--seconds N] [TARGET...]",
        about: "run the cargo-fuzz targets of fuzz/ (default: all, 60 s each), seeded with the \
                fixtures; installs cargo-fuzz when missing (stable toolchain via RUSTC_BOOTSTRAP)",
        run: fuzz,
    },
    Task {
        name: "soak",
        args: "[--seconds N] [--processes P] [--threads T] [--ops K] [--seed S] [--mixed]",
        about: "run the soak test for N seconds (default 60): rounds of worker processes and \
                threads inserting, replacing, removing, reading and filling views, vacuums \
                between rounds, checked against a model (the `soak` program of crates/devtools, release); \
                --mixed also runs mmappickle 1.0.0 and mmpk writers on one file \
                (fixtures/gen/mixed_writers.py, venv target/venv/mmp1)",
        run: soak::soak,
    },
    Task {
        name: "crash-states",
        args: "[--limit N] [--no-strace] [--strace-only]",
        about: "the crash-state checker in full: every operation of mmpk recorded, \
                the files a power cut can leave built and checked against each mode's promise \
                (N states per cut, default 7000), the default mode's known failures, one \
                mutant per sync call site; then every writing command of the tool under \
                strace, its recorded file changes equal to strace's (installs strace)",
        run: crash::crash_states,
    },
    Task {
        name: "conformance",
        args: "[ARGS...]",
        about: "build mmpk-cli, then cross-check its pickle codec against CPython \
                (fixtures/gen/conformance_pickle.py; ARGS are passed on, e.g. --cases 300); \
                then load files mmpk-format writes (both layouts, every dtype) with \
                pickle.load under numpy 2 (-W error) and 1.23.5 and with mmappickle 1.0.0 \
                (fixtures/gen/check_files.py); then mmpk and mmappickle 1.0.0 writers on \
                one file at once (fixtures/gen/mixed_writers.py)",
        run: conformance,
    },
    Task {
        name: "remote-test",
        args: "[TEST FILTER...]",
        about: "run mmpk-remote's tests with the real servers they start on 127.0.0.1: nginx \
                (Debian package; MMPK_TEST_NGINX, else found on PATH) and moto's S3 server \
                (`moto[server]` from PyPI in target/venv/moto; MMPK_TEST_MOTO): \
                `cargo test -p mmpk-remote -- --include-ignored`",
        run: remote_test,
    },
    Task {
        name: "msrv",
        args: "[--verbose]",
        about: "check that every locked dependency of each workspace crate (cargo metadata \
                --locked) declares a rust-version no newer than the crate's own; --verbose \
                lists the dependencies that declare none",
        run: msrv::msrv,
    },
    Task {
        name: "python-test",
        args: "[PYTEST ARGS...]",
        about: "build the Python package's wheel once (pip wheel ./crates/mmpk-py: maturin, \
                release, abi3), install it into target/venv/pytest-np1 (numpy 1.23.5, \
                mmappickle 1.0.0) and target/venv/pytest-np2 (newest numpy 2), and run \
                pytest on crates/mmpk-py/tests in both",
        run: python::python_test,
    },
    Task {
        name: "python-lint",
        args: "",
        about: "ruff check and ruff format --check of the repository's Python (ruff from PyPI in \
                target/venv/ruff)",
        run: python::python_lint,
    },
    Task {
        name: "zarr-test",
        args: "[PYTEST ARGS...]",
        about: "build mmpk-cli, then read `mmpk zarr-refs` JSON with xarray, zarr-python 3 and \
                dask (target/venv/zarr: numpy 2, zarr 3, xarray, dask, fsspec, kerchunk, s3fs, \
                moto[server], pytest) from a local path, over nginx and over moto's S3 server \
                on 127.0.0.1, and every dtype and shape class of mmpk-format's conformance \
                files (crates/mmpk-cli/tests/python/test_zarr_refs.py)",
        run: zarr_test,
    },
    Task {
        name: "cluster-test",
        args: "[PYTEST ARGS...]",
        about: "a dask.distributed LocalCluster (2 worker processes) reads an mmpk file served \
                by nginx and moto's S3 server on 127.0.0.1 through the zarr references (xarray, \
                dask) and mmpk.dask: results, bytes moved (nginx's log, a counting proxy before \
                moto), a file growing or rewritten meanwhile; the README's cluster example \
                (target/venv/cluster: numpy 2, \
                dask, distributed, xarray, zarr 3, s3fs, moto[server], mmpk's wheel; \
                crates/mmpk-py/cluster_tests)",
        run: cluster::cluster_test,
    },
];

/// Paths shared by the tasks.
struct Ctx {
    root: PathBuf,
    target: PathBuf,
}

impl Ctx {
    fn new() -> Ctx {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().map(Path::to_path_buf).unwrap_or(manifest);
        let target = env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|p| if p.is_absolute() { p } else { root.join(p) })
            .unwrap_or_else(|| root.join("target"));
        Ctx { root, target }
    }

    fn gen(&self, script: &str) -> PathBuf {
        self.root.join("fixtures").join("gen").join(script)
    }

    fn venv(&self, name: &str) -> PathBuf {
        self.target.join("venv").join(name)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let ctx = Ctx::new();
    let name = args.first().map(String::as_str).unwrap_or("help");
    let Some(task) = TASKS.iter().find(|t| t.name == name) else {
        eprintln!("xtask: unknown task `{name}`\n");
        print_table();
        return ExitCode::from(2);
    };
    match (task.run)(&ctx, &args[args.len().min(1)..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {}: error: {e}", task.name);
            ExitCode::FAILURE
        }
    }
}

fn print_table() {
    use std::io::Write;
    // Write errors (a closed pipe) are ignored: this is only help text.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "usage: cargo xtask <task> [args]\n\ntasks:");
    for t in TASKS {
        let head = if t.args.is_empty() {
            t.name.to_string()
        } else {
            format!("{} {}", t.name, t.args)
        };
        let _ = writeln!(out, "  {head:<40} {}", t.about);
    }
}

fn help(_ctx: &Ctx, _args: &[String]) -> Result<(), String> {
    print_table();
    Ok(())
}

// ---------------------------------------------------------------------------
// Processes and venvs
// ---------------------------------------------------------------------------

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {}", show(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", show(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {status}", show(cmd)))
    }
}

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn base_python() -> OsString {
    env::var_os("PYTHON").unwrap_or_else(|| OsString::from("python3"))
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// A Python command with the environment every generator expects.
fn python(py: &Path) -> Command {
    let mut c = Command::new(py);
    c.env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH");
    c
}

/// Does `code` run successfully in this interpreter?
fn python_ok(py: &Path, code: &str) -> bool {
    Command::new(py)
        .args(["-c", code])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Create (or reuse) a venv of `$PYTHON` (default `python3`); `requirement`
/// is what pip installs into it and `probe` the Python snippet that tells
/// an existing venv is usable.
fn ensure_venv(
    ctx: &Ctx,
    name: &str,
    requirement: Option<&str>,
    probe: &str,
) -> Result<PathBuf, String> {
    venv_of(ctx, name, &base_python(), requirement, probe)
}

/// [`ensure_venv`] with the venv made by the interpreter `base`. A new venv
/// gets the newest pip before `requirement`.
fn venv_of(
    ctx: &Ctx,
    name: &str,
    base: &OsStr,
    requirement: Option<&str>,
    probe: &str,
) -> Result<PathBuf, String> {
    let dir = ctx.venv(name);
    let py = venv_python(&dir);
    if py.exists() && python_ok(&py, probe) {
        eprintln!("xtask: reusing {}", dir.display());
        return Ok(py);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir.parent().unwrap_or(&dir))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    run(Command::new(base).arg("-m").arg("venv").arg(&dir))?;
    if let Some(req) = requirement {
        run(python::pip(&py).args(["install", "--quiet", "--upgrade", "pip"]))?;
        run(python::pip(&py)
            .args(["install", "--quiet"])
            .args(req.split_whitespace()))?;
    }
    if !python_ok(&py, probe) {
        return Err(format!(
            "{} does not pass its check `{probe}`",
            dir.display()
        ));
    }
    Ok(py)
}

fn py_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    ensure_venv(
        ctx,
        "py",
        None,
        "import pickle, pickletools, test.pickletester",
    )
}

/// `target/venv/np1`: numpy 1.23.5, the last numpy mmappickle 1.0 runs with.
fn np1_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    ensure_venv(
        ctx,
        "np1",
        Some("numpy==1.23.5"),
        "import numpy; assert numpy.__version__ == '1.23.5'",
    )
}

/// `target/venv/np2`: the newest numpy 2.
fn np2_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    ensure_venv(
        ctx,
        "np2",
        Some("numpy>=2,<3"),
        "import numpy; assert numpy.__version__.startswith('2.')",
    )
}

/// `target/venv/mmp1`: mmappickle 1.0.0 with numpy 1.23.5.
pub(crate) fn mmp1_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    ensure_venv(
        ctx,
        "mmp1",
        Some("numpy==1.23.5 mmappickle==1.0.0"),
        "import numpy, mmappickle, importlib.metadata as m; \
         assert numpy.__version__ == '1.23.5'; \
         assert m.version('mmappickle') == '1.0.0'",
    )
}

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

fn fixtures(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let mut check = false;
    let mut numpy = true;
    for a in args {
        match a.as_str() {
            "--check" => check = true,
            "--skip-numpy" => numpy = false,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let py = py_venv(ctx)?;
    let pythons = if numpy {
        vec![np1_venv(ctx)?, np2_venv(ctx)?]
    } else {
        Vec::new()
    };
    let mmp1 = if numpy { Some(mmp1_venv(ctx)?) } else { None };
    let fixtures = ctx.root.join("fixtures");
    let out = if check {
        let scratch = ctx.target.join("fixtures-check");
        if scratch.exists() {
            fs::remove_dir_all(&scratch)
                .map_err(|e| format!("cannot remove {}: {e}", scratch.display()))?;
        }
        fs::create_dir_all(scratch.join("numpy"))
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        scratch
    } else {
        fixtures.clone()
    };
    run(python(&py)
        .arg(ctx.gen("gen_pickles.py"))
        .arg("--root")
        .arg(&out))?;
    run(python(&py)
        .arg(ctx.gen("gen_handbuilt.py"))
        .arg("--root")
        .arg(&out))?;
    for np in &pythons {
        run(python(np)
            .arg(ctx.gen("gen_numpy.py"))
            .arg("--root")
            .arg(out.join("numpy")))?;
    }
    if let Some(mmp) = &mmp1 {
        run(python(mmp)
            .arg(ctx.gen("gen_mmappickle.py"))
            .arg("--root")
            .arg(out.join("mmappickle")))?;
    }
    if check {
        let mut subdirs = vec!["pickle", "hostile", "handbuilt"];
        if numpy {
            subdirs.push("numpy");
            subdirs.push("mmappickle");
        }
        let mut diffs = Vec::new();
        for sub in subdirs {
            compare_trees(
                &fixtures.join(sub),
                &out.join(sub),
                Path::new(sub),
                &mut diffs,
            )?;
        }
        if !diffs.is_empty() {
            for d in diffs.iter().take(20) {
                eprintln!("  differs: {d}");
            }
            return Err(format!(
                "{} file(s) differ between fixtures/ and a fresh regeneration in {}",
                diffs.len(),
                out.display()
            ));
        }
        println!("xtask fixtures --check: regeneration is byte-for-byte identical");
    }
    Ok(())
}

/// Record every path (relative to the compared roots) whose presence or bytes differ.
fn compare_trees(a: &Path, b: &Path, rel: &Path, diffs: &mut Vec<String>) -> Result<(), String> {
    let list = |p: &Path| -> Result<Vec<(String, bool)>, String> {
        if !p.exists() {
            return Ok(Vec::new());
        }
        let mut v = Vec::new();
        for e in fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()))? {
            let e = e.map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            v.push((e.file_name().to_string_lossy().into_owned(), is_dir));
        }
        v.sort();
        Ok(v)
    };
    let la = list(a)?;
    let lb = list(b)?;
    for (name, is_dir) in &la {
        if name == "__pycache__" {
            continue;
        }
        let r = rel.join(name);
        if !lb.iter().any(|(n, _)| n == name) {
            diffs.push(format!("{} (only in fixtures/)", r.display()));
        } else if *is_dir {
            compare_trees(&a.join(name), &b.join(name), &r, diffs)?;
        } else {
            let x = fs::read(a.join(name)).map_err(|e| format!("{}: {e}", r.display()))?;
            let y = fs::read(b.join(name)).map_err(|e| format!("{}: {e}", r.display()))?;
            if x != y {
                diffs.push(r.display().to_string());
            }
        }
    }
    for (name, _) in &lb {
        if name != "__pycache__" && !la.iter().any(|(n, _)| n == name) {
            diffs.push(format!(
                "{} (only in the regeneration)",
                rel.join(name).display()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// conformance
// ---------------------------------------------------------------------------

/// The targets in fuzz/Cargo.toml.
const FUZZ_TARGETS: &[&str] = &["ops", "decode", "dis", "array", "scan", "open"];

fn fuzz(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a number")?
            }
            t if FUZZ_TARGETS.contains(&t) => targets.push(t.to_string()),
            other => {
                return Err(format!(
                    "unknown fuzz argument {other:?} (targets: {FUZZ_TARGETS:?})"
                ))
            }
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|s| s.to_string()).collect();
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let have = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        run(Command::new(&cargo).args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let fuzz_dir = ctx.root.join("fuzz");
    // Files mmpk-format writes (both layouts, every dtype), and each of their
    // array values alone.
    let written = ctx.target.join("fuzz-seeds");
    write_conformance_files(ctx, &written)?;
    for t in &targets {
        let corpus = fuzz_dir.join("corpus").join(t);
        fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let copy_all = |dir: &Path, ext: &str, prefix: &str| -> Result<(), String> {
            for e in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
                let p = e.map_err(|e| e.to_string())?.path();
                if p.extension().is_some_and(|x| x == ext) {
                    let name = format!(
                        "{prefix}-{}",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    );
                    fs::copy(&p, corpus.join(name)).map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        };
        match t.as_str() {
            // Seeds: whole mmpk files (mmappickle 1.0's and ours).
            "scan" => {
                copy_all(
                    &ctx.root.join("fixtures").join("mmappickle"),
                    "mmpk",
                    "mmappickle",
                )?;
                copy_all(&written, "mmpk", "written")?;
                run_fuzz(&cargo, &fuzz_dir, t, &corpus, seconds)?;
                continue;
            }
            // Seeds: whole files through the mmpk API (mmappickle 1.0's,
            // the hand-built ones with torn tails and corrupt bytes, ours).
            "open" => {
                let fx = ctx.root.join("fixtures");
                copy_all(&fx.join("mmappickle"), "mmpk", "mmappickle")?;
                copy_all(&fx.join("handbuilt"), "mmpk", "handbuilt")?;
                copy_all(&fx.join("handbuilt"), "pkl", "handbuilt")?;
                copy_all(&written, "mmpk", "written")?;
                run_fuzz(&cargo, &fuzz_dir, t, &corpus, seconds)?;
                continue;
            }
            // Seeds: single array and masked values.
            "array" => {
                copy_all(&written.join("array-seeds"), "bin", "written")?;
                run_fuzz(&cargo, &fuzz_dir, t, &corpus, seconds)?;
                continue;
            }
            _ => {}
        }
        // Seeds: every small fixture pickle.
        for sub in ["pickle", "hostile"] {
            let dir = ctx.root.join("fixtures").join(sub);
            for e in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
                let p = e.map_err(|e| e.to_string())?.path();
                let small = fs::metadata(&p).is_ok_and(|m| m.len() < 20_000);
                if small && p.extension().is_some_and(|x| x == "pkl") {
                    let name = format!(
                        "{sub}-{}",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    );
                    fs::copy(&p, corpus.join(name)).map_err(|e| e.to_string())?;
                }
            }
        }
        run_fuzz(&cargo, &fuzz_dir, t, &corpus, seconds)?;
    }
    Ok(())
}

fn run_fuzz(
    cargo: &OsString,
    fuzz_dir: &Path,
    t: &str,
    corpus: &Path,
    seconds: u64,
) -> Result<(), String> {
    run(Command::new(cargo)
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "-O", t])
        .arg(corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args([
            "-rss_limit_mb=2048",
            "-max_len=65536",
            "-print_final_stats=1",
        ]))
}

fn conformance(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let exe = debug_mmpk(ctx)?;
    if !exe.exists() {
        return Err(format!("{} was not built", exe.display()));
    }
    let py = py_venv(ctx)?;
    run(python(&py)
        .arg(ctx.gen("conformance_pickle.py"))
        .arg("--mmpk")
        .arg(&exe)
        .args(args))?;
    conformance_files(ctx)?;
    // Rust and Python (mmappickle 1.0.0) writers on one file at once.
    soak::soak_mixed(ctx)
}

/// Files written by mmpk-format in both layouts (every dtype, masked arrays,
/// generic values, deleted and replaced keys) must load with plain
/// `pickle.load` under numpy 2 with warnings as errors (v2 layout) and under
/// numpy 1.23.5 (both), and with mmappickle 1.0.0 (both), all equal to what
/// was written (`fixtures/gen/check_files.py`).
/// Runs the `conformance_files` program (crates/devtools): both layouts, every
/// dtype, into `dir` (with `dir/array-seeds/`).
fn write_conformance_files(ctx: &Ctx, dir: &Path) -> Result<(), String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    run(Command::new(cargo)
        .current_dir(&ctx.root)
        .args([
            "run",
            "-q",
            "-p",
            "mmpk-devtools",
            "--no-default-features",
            "--bin",
            "conformance_files",
            "--",
        ])
        .arg(dir))
}

fn conformance_files(ctx: &Ctx) -> Result<(), String> {
    let dir = ctx.target.join("conformance-files");
    write_conformance_files(ctx, &dir)?;
    let np1 = np1_venv(ctx)?;
    let np2 = np2_venv(ctx)?;
    let mmp1 = mmp1_venv(ctx)?;
    let script = ctx.gen("check_files.py");
    // numpy 2: no warning at all may be raised by the v2 layout.
    run(python(&np2)
        .args(["-W", "error"])
        .arg(&script)
        .arg(&dir)
        .args(["--mode", "pickle", "--layouts", "v2"]))?;
    // numpy 1.23.5 warns (DeprecationWarning) on v1's fromstring, as it
    // does for mmappickle's own files.
    for (py, mode) in [(&np1, "pickle"), (&mmp1, "mmappickle")] {
        run(python(py)
            .args(["-W", "ignore::DeprecationWarning"])
            .arg(&script)
            .arg(&dir)
            .args(["--mode", mode]))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// remote-test
// ---------------------------------------------------------------------------

/// The `mmpk` tool, built (debug) for the tests that run it.
fn debug_mmpk(ctx: &Ctx) -> Result<PathBuf, String> {
    run(clean_cargo()
        .current_dir(&ctx.root)
        .args(["build", "--quiet", "-p", "mmpk-cli"]))?;
    Ok(ctx
        .target
        .join("debug")
        .join(format!("mmpk{}", env::consts::EXE_SUFFIX)))
}

/// The program `name` of the venv whose interpreter is `py`.
fn venv_program(py: &Path, name: &str) -> Result<PathBuf, String> {
    py.parent()
        .map(|bin| bin.join(name))
        .ok_or_else(|| format!("{}: a venv without a bin directory", py.display()))
}

/// nginx ([`find_nginx`]), or the error that says how to get it.
pub(crate) fn nginx() -> Result<PathBuf, String> {
    find_nginx().ok_or_else(|| {
        "nginx not found: install it (Debian/Ubuntu: `apt-get install -y nginx`) \
         or set MMPK_TEST_NGINX to its binary"
            .to_string()
    })
}

/// nginx: `MMPK_TEST_NGINX`, else `nginx` on `PATH` or in `/usr/sbin`.
pub(crate) fn find_nginx() -> Option<PathBuf> {
    if let Some(p) = env::var_os("MMPK_TEST_NGINX") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.into_iter()
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

fn remote_test(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let nginx = nginx()?;
    let moto = match env::var_os("MMPK_TEST_MOTO") {
        Some(p) => PathBuf::from(p),
        None => {
            let py = ensure_venv(ctx, "moto", Some("moto[server]"), "import moto.server")?;
            venv_program(&py, "moto_server")?
        }
    };
    if !moto.exists() {
        return Err(format!("{} does not exist", moto.display()));
    }
    run(clean_cargo()
        .current_dir(&ctx.root)
        .env("MMPK_TEST_NGINX", &nginx)
        .env("MMPK_TEST_MOTO", &moto)
        .args(["test", "-p", "mmpk-remote", "--", "--include-ignored"])
        .args(args))
}

/// `cargo`, without the variables `cargo run` gave this process: build
/// scripts that track them (ring's: CARGO_MANIFEST_DIR) would rebuild.
fn clean_cargo() -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd
}

// ---------------------------------------------------------------------------
// zarr-test
// ---------------------------------------------------------------------------

/// What `target/venv/zarr` holds.
const ZARR_VENV: &str = "numpy>=2,<3 zarr>=3,<4 xarray dask fsspec kerchunk s3fs aiohttp \
                         requests moto[server] pytest";

fn zarr_test(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let nginx = nginx()?;
    let py = ensure_venv(
        ctx,
        "zarr",
        Some(ZARR_VENV),
        "import numpy, zarr, xarray, dask, fsspec, kerchunk, s3fs, aiohttp, requests, \
         moto.server, pytest; \
         assert numpy.__version__.startswith('2.') and zarr.__version__.startswith('3.')",
    )?;
    let moto = venv_program(&py, "moto_server")?;
    let exe = debug_mmpk(ctx)?;
    // Every dtype and shape class, both layouts (crates/devtools' conformance_files).
    let conformance = ctx.target.join("zarr-test").join("conformance");
    write_conformance_files(ctx, &conformance)?;
    let tests = ctx
        .root
        .join("crates/mmpk-cli/tests/python/test_zarr_refs.py");
    run(python(&py)
        .current_dir(&ctx.root)
        .env("MMPK_BIN", &exe)
        .env("MMPK_CONFORMANCE_DIR", &conformance)
        .env("MMPK_TEST_NGINX", &nginx)
        .env("MMPK_TEST_MOTO", &moto)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&tests)
        .args(args))
}
