//! `mmpk`: the command-line tool of mmpk (docs/cli.md is its reference,
//! kept true by the `cli_reference` tests). Errors are one line on stderr
//! naming the file, key or byte offset, never a panic; the exit codes are
//! one table for every command ([`exit`]): 0 success, 1 a failed check, 2
//! usage or bad input, 3 an I/O or lock failure, 4 partial completion.
//!
//! Cargo features: `remote` (default) reads `http://`, `https://` and
//! `s3://` URLs through mmpk-remote; built without it
//! (`--no-default-features`), no object_store/tokio/reqwest stack is
//! compiled and URL arguments give a one-line error (exit 2).
//! `crash-record` and `fault-injection` (off) are test support: the
//! `MMPK_RECORD=FILE` and `MMPK_FAIL_WRITE=N` variables record file changes
//! or make writes fail as on a full disk.
//!
//! Modules: `cli` (the grammar), `dict_cmds` (`open_dict`, the only
//! `unsafe` of the tool, with its safety contract; `ls`, `info`, `verify`,
//! `rm` and maintenance), `get` and `stats` (summaries computed in parallel
//! with `mmpk::par`), `put` and `npy` (`.npy` streamed in and out: headers
//! parsed and written here, data copied by `copy_file_range` or through a
//! bounded buffer, never held in memory), `watch`,
//! `demo`, `zarr` (`zarr-refs`), `inspect` (layout views over a file's bytes), `pyrepr`, `ui`
//! (tables, sizes, progress bars, the dtype formatting helper) and
//! `pickle_cmds` (commands on any pickle).

// `unsafe` is allowed in one function only: `dict_cmds::open_dict`.
#![deny(unsafe_code)]

mod cli;
mod demo;
mod dict_cmds;
mod get;
mod inspect;
mod npy;
mod outfile;
mod pickle_cmds;
mod put;
mod pyrepr;
#[cfg(feature = "remote")]
mod remote;
// Without the `remote` feature, URL arguments give a one-line error.
#[cfg(not(feature = "remote"))]
#[path = "remote_off.rs"]
mod remote;
mod stats;
mod ui;
mod watch;
mod zarr;

use std::process::ExitCode;

/// The exit codes, one table for every command (`mmpk --help`, the CLI
/// reference and the README say the same).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A check failed (`verify` found problems).
    pub const CHECK: u8 = 1;
    /// Usage or bad input: an unknown command or option, a missing
    /// argument, an input that is not what it should be (not an mmpk file,
    /// not a pickle, a bad `.npy`, JSON, dtype or shape), a missing key or
    /// file.
    pub const INPUT: u8 = 2;
    /// An I/O or lock failure: a read or write failed, a full disk,
    /// permission denied, the file's lock is held or another process has
    /// the file open, a remote server unreachable.
    pub const IO: u8 = 3;
    /// Partial completion: some of the work was done and stays done (the
    /// message says what is left).
    pub const PARTIAL: u8 = 4;
}

/// A command's failure: the message and the exit code.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Usage or bad input ([`exit::INPUT`]).
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::INPUT,
            message: message.into(),
        }
    }

    /// An I/O or lock failure ([`exit::IO`]).
    pub fn io(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::IO,
            message: message.into(),
        }
    }

    /// A failed check ([`exit::CHECK`]).
    pub fn check(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::CHECK,
            message: message.into(),
        }
    }

    /// Partial completion ([`exit::PARTIAL`]): `done` says what was done,
    /// the failure what went wrong.
    pub fn partial(done: &str, f: Failure) -> Failure {
        Failure {
            code: exit::PARTIAL,
            message: format!("{done}, then: {}", f.message),
        }
    }
}

fn main() -> ExitCode {
    let matches = match cli::cli().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // --help, --version, or `mmpk` alone: the help text.
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() {
                    exit::INPUT
                } else {
                    exit::OK
                });
            }
            eprintln!("mmpk: {}", usage_line(&e.render().to_string()));
            return ExitCode::from(exit::INPUT);
        }
    };
    #[cfg(feature = "crash-record")]
    let record_to = std::env::var_os("MMPK_RECORD");
    #[cfg(feature = "crash-record")]
    if record_to.is_some() {
        mmpk::record::start();
    }
    #[cfg(feature = "fault-injection")]
    if let Some(n) = std::env::var("MMPK_FAIL_WRITE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        mmpk::fault::plan(n, mmpk::fault::Fault::NoSpace, true);
    }
    if let Some((_, sub)) = matches.subcommand() {
        dict_cmds::set_durable(matches!(sub.try_get_one::<bool>("durable"), Ok(Some(true))));
    }
    let result = match matches.subcommand() {
        Some(("dis", m)) => pickle_cmds::dis(m),
        Some(("pickle-json", m)) => pickle_cmds::pickle_json(m),
        Some(("pickle-encode", m)) => pickle_cmds::pickle_encode(m),
        Some(("ls", m)) => dict_cmds::ls(m),
        Some(("info", m)) => dict_cmds::info(m),
        Some(("get", m)) => get::get(m),
        Some(("put", m)) => put::put(m),
        Some(("export", m)) => put::export(m),
        Some(("rm", m)) => dict_cmds::rm(m),
        Some(("vacuum", m)) => dict_cmds::vacuum(m),
        Some(("verify", m)) => dict_cmds::verify(m),
        Some(("repair", m)) => dict_cmds::repair(m),
        Some(("convert", m)) => dict_cmds::convert(m),
        Some(("upgrade", m)) => dict_cmds::upgrade(m),
        Some(("watch", m)) => watch::watch(m),
        Some(("demo", m)) => demo::demo(m),
        Some(("completions", m)) => completions(m),
        Some(("zarr-refs", m)) => zarr::zarr_refs(m),
        _ => Err(Failure::input("unknown command")),
    };
    report_peak_memory();
    #[cfg(feature = "crash-record")]
    if let Some(p) = record_to {
        let text = mmpk::record::write_text(&mmpk::record::take());
        if let Err(e) = std::fs::write(&p, text) {
            eprintln!("mmpk: cannot write the record: {e}");
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("mmpk: {}", f.message.replace(['\n', '\r'], " "));
            ExitCode::from(f.code)
        }
    }
}

/// A clap usage error as one line: its first paragraph, with clap's tip
/// ("a similar subcommand exists: 'ls'") kept as "did you mean".
fn usage_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let first: Vec<&str> = lines
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    let mut s = first.join(" ").trim_start_matches("error: ").to_string();
    for tip in lines.iter().filter_map(|l| l.strip_prefix("tip: ")) {
        // clap: "a similar subcommand exists: 'ls'", "a similar argument
        // exists: '--all'", "some similar values exist: 'zsh', 'fish'".
        match tip.split_once(" exist") {
            Some((_, rest)) if tip.contains("similar") => {
                let names = rest.trim_start_matches('s').trim_start_matches(':').trim();
                s.push_str(&format!("; did you mean {names}?"));
            }
            _ => s.push_str(&format!("; {tip}")),
        }
    }
    format!("{s} (see `mmpk --help`)")
}

/// `mmpk completions SHELL`: the completion script on stdout.
fn completions(m: &clap::ArgMatches) -> Result<(), Failure> {
    use clap_complete::Shell;
    let shell = match m.get_one::<String>("shell").map(String::as_str) {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        other => {
            return Err(Failure::input(format!(
                "unknown shell {other:?}: bash, zsh or fish"
            )))
        }
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli::cli(), "mmpk", &mut script);
    ui::print(&String::from_utf8_lossy(&script))
}

/// With `MMPK_REPORT_PEAK_RSS=1` in the environment, prints the process's
/// peak resident memory (`VmHWM` of `/proc/self/status`, Linux) to stderr
/// as `mmpk: peak resident memory: N kB`: how the tests and the benchmark
/// check that streaming commands stay bounded.
fn report_peak_memory() {
    if std::env::var_os("MMPK_REPORT_PEAK_RSS").is_none_or(|v| v != "1") {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kb) = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    {
        eprintln!("mmpk: peak resident memory: {kb} kB");
    }
}
