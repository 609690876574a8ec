//! `cargo xtask crash-states`: the crash-state checker in full (see
//! RELIABILITY.md, "Power loss").
//!
//! 1. mmpk's `power` tests (debug build: the time goes to opening states,
//!    not to the library) with `MMPK_CRASH_LIMIT` states per cut (default
//!    7000; `cargo test` runs 48) and bigger entries: every operation, both
//!    layouts, both modes, the table of states checked and violations; the
//!    default mode's known failures; one mutant per sync call site.
//! 2. The record against the kernel: every writing command of the `mmpk`
//!    tool (built with the `crash-record` feature) under `strace`, its
//!    recorded file changes equal to strace's (installs strace with apt-get
//!    when it is missing).

use std::process::Command;

use crate::{run, Ctx};

pub fn crash_states(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let mut limit = 7000usize;
    let mut strace = true;
    let mut sample = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--limit" => {
                limit = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--limit needs a number")?
            }
            "--no-strace" => strace = false,
            "--strace-only" => sample = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !sample {
        run(Command::new("cargo")
            .current_dir(&ctx.root)
            .args([
                "test",
                "-p",
                "mmpk",
                "--test",
                "integration",
                "power::",
                "--",
                "--nocapture",
                "--test-threads",
                "2",
            ])
            .env("MMPK_CRASH_LIMIT", limit.to_string()))?;
    }
    if strace {
        ensure_strace()?;
        run(Command::new("cargo").current_dir(&ctx.root).args([
            "test",
            "-p",
            "mmpk-cli",
            "--features",
            "crash-record",
            "--test",
            "integration",
            "strace",
            "--",
            "--nocapture",
        ]))?;
    }
    Ok(())
}

fn strace_works() -> bool {
    Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn ensure_strace() -> Result<(), String> {
    if strace_works() {
        return Ok(());
    }
    eprintln!("xtask: strace is missing: installing it with apt-get");
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get").args(["install", "-y", "-qq", "strace"]))?;
    if strace_works() {
        Ok(())
    } else {
        Err("strace does not run here (ptrace not permitted?)".into())
    }
}
