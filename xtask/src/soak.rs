//! `cargo xtask soak`: the long soak, and the Rust + Python mixed run.
//!
//! - `soak [--seconds N] [--processes P] [--threads T] [--ops K] [--seed S]`
//!   builds the `soak` program of crates/devtools (release) and runs rounds of P worker
//!   processes of T threads each (insert, replace, remove, views, mutable
//!   views, reservations, generic values, each thread against its model),
//!   vacuuming between rounds, for N seconds (default 60), then checks every
//!   key with a fresh reader. `cargo test` runs a short version
//!   (`crates/mmpk/tests/integration/soak.rs`).
//! - `soak --mixed` also runs [`soak_mixed`].

use std::env;
use std::ffi::OsString;
use std::process::Command;

use crate::{run, Ctx};

/// Builds the `soak` program in `profile` and returns its path.
fn build_soak(ctx: &Ctx, release: bool) -> Result<std::path::PathBuf, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut c = Command::new(cargo);
    c.current_dir(&ctx.root).args([
        "build",
        "-q",
        "-p",
        "mmpk-devtools",
        "--no-default-features",
        "--bin",
        "soak",
    ]);
    if release {
        c.arg("--release");
    }
    run(&mut c)?;
    let exe = ctx
        .target
        .join(if release { "release" } else { "debug" })
        .join(format!("soak{}", env::consts::EXE_SUFFIX));
    if exe.exists() {
        Ok(exe)
    } else {
        Err(format!("{} was not built", exe.display()))
    }
}

/// The `soak` task.
pub(crate) fn soak(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let mut opts = [
        ("--seconds", "60"),
        ("--processes", "4"),
        ("--threads", "3"),
        ("--ops", "400"),
        ("--seed", "1"),
    ]
    .map(|(k, v)| (k, v.to_string()));
    let mut mixed = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--mixed" {
            mixed = true;
            continue;
        }
        let Some(slot) = opts.iter_mut().find(|(k, _)| k == a) else {
            return Err(format!("unknown soak argument {a:?}"));
        };
        let v = it.next().ok_or(format!("{a} needs a number"))?;
        v.parse::<u64>()
            .map_err(|_| format!("{a} needs a number, not {v:?}"))?;
        slot.1 = v.clone();
    }
    let exe = build_soak(ctx, true)?;
    let dir = ctx.target.join("soak");
    run(Command::new(&exe)
        .arg("run")
        .arg(&dir)
        .args(opts.iter().map(|(_, v)| v.as_str())))?;
    if mixed {
        soak_mixed(ctx)?;
    }
    Ok(())
}

/// Rust and Python writers on one file at once: runs
/// `fixtures/gen/mixed_writers.py` (mmappickle 1.0.0 in `target/venv/mmp1`,
/// created when missing) with the `soak` program as the Rust writer and
/// checker; every key of both is checked by both.
pub(crate) fn soak_mixed(ctx: &Ctx) -> Result<(), String> {
    let py = crate::mmp1_venv(ctx)?;
    let exe = build_soak(ctx, false)?;
    run(Command::new(py)
        .arg(ctx.gen("mixed_writers.py"))
        .arg("--soak")
        .arg(&exe)
        .arg("--dir")
        .arg(ctx.target.join("soak-mixed"))
        .args(["--writers", "3", "--count", "80"]))
}
