//! Helpers of the timing programs of `cargo xtask bench`: mmpk's (the
//! `bench_*` programs of crates/devtools) and the peers' packages under
//! `benches/`. Std only: each program includes this file with `#[path]`, so
//! a peer depends on no crate of the workspace and times only its own code.
//! None of these runs inside a timed region.

// Each program uses some of these.
#![allow(dead_code)]

/// A timing program's `main`: `run` on the command line's arguments (the
/// program's name left out); an error is printed as `NAME: error`, with
/// exit status 1.
pub fn main_of<E: std::fmt::Display>(
    name: &str,
    run: impl FnOnce(&[String]) -> Result<(), E>,
) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The arguments of a pickle program's `time` command:
/// `FILE [--warmup W] [--iters K]`, and `[--check]` where `check` is
/// allowed.
pub struct TimeArgs {
    pub file: String,
    pub warmup: usize,
    pub iters: usize,
    pub check: bool,
}

impl TimeArgs {
    pub fn parse(args: &[String], allow_check: bool) -> Result<TimeArgs, String> {
        let mut file = None;
        let (mut warmup, mut iters, mut check) = (1, 3, false);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |name: &str| -> Result<usize, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("{name} needs a number"))
            };
            match a.as_str() {
                "--warmup" => warmup = num("--warmup")?,
                "--iters" => iters = num("--iters")?,
                "--check" if allow_check => check = true,
                f if file.is_none() && !f.starts_with('-') => file = Some(f.to_string()),
                other => return Err(format!("unexpected argument `{other}`")),
            }
        }
        Ok(TimeArgs {
            file: file.ok_or("missing FILE")?,
            warmup,
            iters,
            check,
        })
    }
}

/// The value of the option `name` in `args` (`--n 10`), or `default`.
pub fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
        None => Ok(default),
    }
}

/// Prints one `measure<TAB>seconds` line.
pub fn emit(name: &str, secs: f64) {
    println!("{name}\t{secs:.9}");
}

/// The bytes of the file at `path`.
pub fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

/// Peak resident set size so far (`VmHWM`), in kB.
pub fn vm_hwm_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_string())
}
