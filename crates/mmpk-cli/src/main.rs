//! `mmpk`: the command-line tool of mmpk (see CLI.md in the project's
//! shared documents, and the README). Errors are one line on stderr naming
//! the file, key or byte offset; exit code 2 for bad input or usage, 1 for
//! a failed check (`verify`), 0 otherwise; never a panic.
//!
//! Modules: `cli` (the grammar), `dict_cmds` (`open_dict`, the only
//! `unsafe` of the tool, with its safety contract; `ls`, `info`, `verify`,
//! `rm` and maintenance), `get` and `stats` (summaries computed in parallel
//! with `mmpk::par`), `put` and `npy` (`.npy` streamed in and out: headers
//! parsed and written here, data copied by `copy_file_range` or through a
//! bounded buffer, never held in memory), `watch`,
//! `demo`, `inspect` (layout views over a file's bytes), `pyrepr`, `ui`
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
mod pickle_cmds;
mod put;
mod pyrepr;
mod remote;
mod stats;
mod ui;
mod watch;

use std::process::ExitCode;

/// A command's failure: the message and the exit code.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad input or usage (exit code 2).
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
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
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
            // A usage error: one line, as every other error.
            let text = e.render().to_string();
            let para: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            eprintln!(
                "mmpk: {} (see `mmpk --help`)",
                para.join(" ").trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
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
        _ => Err(Failure::input("unknown command")),
    };
    report_peak_memory();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("mmpk: {}", f.message.replace(['\n', '\r'], " "));
            ExitCode::from(f.code)
        }
    }
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
