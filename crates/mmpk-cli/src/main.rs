//! `mmpk`: the command-line tool of mmpk (see CLI.md in the project's
//! shared documents). Errors are one line on stderr naming the file, key or
//! byte offset; exit code 2 for bad input or usage, 1 for a failed check,
//! 0 otherwise.

mod pickle_cmds;

use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

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

fn cli() -> Command {
    Command::new("mmpk")
        .about("Memory-mapped pickle dicts (mmappickle files) and safe pickle tools")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("dis")
                .about("Disassembles a pickle, with the same text as `python3 -m pickletools FILE`")
                .arg(Arg::new("file").required(true).value_name("FILE")),
        )
        .subcommand(
            Command::new("pickle-json")
                .about("Decodes a pickle without running anything and prints its canonical JSON")
                .arg(
                    Arg::new("raw")
                        .long("raw")
                        .action(ArgAction::SetTrue)
                        .help("print the raw (opcode-level) form"),
                )
                .arg(
                    Arg::new("encoding")
                        .long("encoding")
                        .value_name("ASCII|latin1|bytes")
                        .default_value("ASCII")
                        .help("how Python 2 strings decode, as pickle.loads(encoding=...)"),
                )
                .arg(Arg::new("file").required(true).value_name("FILE")),
        )
        .subcommand(
            Command::new("pickle-encode")
                .about(
                    "Encodes a canonical JSON value as a pickle (CPython's bytes for plain values)",
                )
                .arg(
                    Arg::new("protocol")
                        .long("protocol")
                        .short('p')
                        .required(true)
                        .value_name("P")
                        .value_parser(clap::value_parser!(u8)),
                )
                .arg(
                    Arg::new("output")
                        .short('o')
                        .long("output")
                        .value_name("OUT")
                        .help("output file (default: stdout)"),
                )
                .arg(
                    Arg::new("json")
                        .required(true)
                        .value_name("JSON")
                        .help("a file holding canonical JSON, or - for stdin"),
                ),
        )
}

fn main() -> ExitCode {
    let matches = match cli().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match matches.subcommand() {
        Some(("dis", m)) => pickle_cmds::dis(m),
        Some(("pickle-json", m)) => pickle_cmds::pickle_json(m),
        Some(("pickle-encode", m)) => pickle_cmds::pickle_encode(m),
        _ => Err(Failure::input("unknown command")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("mmpk: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
