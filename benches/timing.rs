//! Helpers of the timing programs of `cargo xtask bench`: mmpk's (the
//! `bench_*` programs of crates/devtools) and the peers' packages under
//! `benches/`. Std only: each program includes this file with `#[path]`, so
//! a peer depends on no crate of the workspace and times only its own code.
//! None of these runs inside a timed region.

// Each program uses some of these.
#![allow(dead_code)]

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
