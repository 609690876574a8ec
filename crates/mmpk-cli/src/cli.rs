//! The command line's grammar (clap's builder API).

use clap::{Arg, ArgAction, Command};

const ABOUT_LONG: &str = "\
Memory-mapped pickle dicts (mmappickle files) and safe pickle tools.

An mmpk file is a dict in one file that is a valid pickle (Python's
pickle.load reads it) whose numpy arrays are memory-mapped. Decoding never
runs code from a file.

Safety contract: mmpk memory-maps the files it opens. While an mmpk command
runs on a file, do not truncate it or rewrite it by other means (an editor,
`truncate`, or `vacuum`/`repair` from another process); other processes may
insert, remove and write arrays through mmpk or mmappickle at any time.

Exit codes (the same for every command):
  0  success
  1  a check failed (verify found problems)
  2  usage or bad input (unknown command or option, missing argument, a file
     that is not what it should be, a missing key, bad JSON, dtype or shape)
  3  an I/O or lock failure (a read or write failed, a full disk, permission
     denied, the file's lock is held or another process has the file open)
  4  partial completion (some of the work was done and stays done; the
     message says what is left)";

fn file() -> Arg {
    Arg::new("file")
        .required(true)
        .value_name("FILE")
        .help("the mmpk file")
}

fn remote_file() -> Arg {
    Arg::new("file")
        .required(true)
        .value_name("FILE")
        .help("the mmpk file, or an http(s):// or s3://bucket/key URL")
}

fn key() -> Arg {
    Arg::new("key")
        .required(true)
        .value_name("KEY")
        .help("the entry's key (at most 255 UTF-8 bytes)")
}

fn pickle_file() -> Arg {
    Arg::new("file")
        .required(true)
        .value_name("FILE")
        .help("any pickle file (protocol 0 to 5)")
}

fn json() -> Arg {
    Arg::new("json")
        .long("json")
        .action(ArgAction::SetTrue)
        .help("print JSON for scripts")
}

/// `--durable`, on every command that writes a dict.
fn durable() -> Arg {
    flag(
        "durable",
        "sync each change to the disk before going on (fsync; a power cut then keeps every change reported done)",
    )
}

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// The `mmpk` command and its subcommands.
pub fn cli() -> Command {
    Command::new("mmpk")
        .about("Memory-mapped pickle dicts (mmappickle files) and safe pickle tools")
        .long_about(ABOUT_LONG)
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("demo")
                .about("Writes a time-lapse of hyperspectral frames, reads it back in parallel, prints what it did")
                .arg(json())
                .arg(
                    Arg::new("frames")
                        .long("frames")
                        .value_name("N")
                        .default_value("64")
                        .value_parser(clap::value_parser!(usize))
                        .help("number of frames to capture"),
                )
                .arg(
                    Arg::new("size")
                        .long("size")
                        .value_name("N")
                        .default_value("256")
                        .value_parser(clap::value_parser!(usize))
                        .help("frame height and width"),
                )
                .arg(
                    Arg::new("bands")
                        .long("bands")
                        .value_name("N")
                        .default_value("64")
                        .value_parser(clap::value_parser!(usize))
                        .help("spectral bands per frame"),
                )
                .arg(
                    Arg::new("fps")
                        .long("fps")
                        .value_name("F")
                        .default_value("0")
                        .value_parser(clap::value_parser!(f64))
                        .help("frames per second (0: as fast as possible); watch it with `mmpk watch`"),
                )
                .arg(
                    Arg::new("dir")
                        .value_name("DIR")
                        .help("where to write timelapse.mmpk (default: the temp dir's mmpk-demo)"),
                ),
        )
        .subcommand(
            Command::new("dis")
                .about("Disassembles a pickle, with the same text as `python3 -m pickletools FILE`")
                .arg(pickle_file()),
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
                .arg(pickle_file()),
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
                        .value_parser(clap::value_parser!(u8))
                        .help("pickle protocol, 0 to 5"),
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
        .subcommand(
            Command::new("ls")
                .about("Lists the entries: key, kind, dtype, shape, bytes, data offset, alignment, encoding (FILE may be an http(s):// or s3:// URL)")
                .arg(flag("all", "also deleted entries and alignment fillers"))
                .arg(json())
                .arg(remote_file()),
        )
        .subcommand(
            Command::new("info")
                .about("Format version, commit number, sizes, entry counts, alignment summary (FILE may be a URL)")
                .arg(json())
                .arg(remote_file()),
        )
        .subcommand(
            Command::new("get")
                .about("Prints a value, or an array's summary (dtype, shape, min/max/mean in parallel; FILE may be a URL)")
                .arg(flag("json", "print the full canonical JSON (arrays with their data)"))
                .arg(remote_file())
                .arg(key()),
        )
        .subcommand(
            Command::new("put")
                .about("Inserts or replaces KEY (creates FILE if missing)")
                .arg(durable())
                .arg(file())
                .arg(key())
                .arg(
                    Arg::new("npy")
                        .long("npy")
                        .value_name("A.npy")
                        .help("an array from a .npy file, or - for stdin (streamed, never held in memory; a Fortran-ordered array from a pipe is spooled to a temporary file in $TMPDIR)"),
                )
                .arg(
                    Arg::new("value-json")
                        .long("value-json")
                        // The spelling before 0.1; still accepted.
                        .alias("json")
                        .value_name("JSON_FILE")
                        .help("a canonical JSON value to store (a file, or - for stdin); --json is an old spelling of this option"),
                )
                .arg(
                    Arg::new("zeros")
                        .long("zeros")
                        .num_args(2)
                        .value_names(["DTYPE", "SHAPE"])
                        .help("reserve an array without writing it (sparse), e.g. --zeros f4 300,300,300"),
                )
                .group(
                    clap::ArgGroup::new("source")
                        .args(["npy", "value-json", "zeros"])
                        .required(true),
                )
                .arg(
                    Arg::new("layout")
                        .long("layout")
                        .value_name("v2|mmappickle1")
                        .help("encoding of new arrays (default v2)"),
                )
                .arg(
                    Arg::new("align")
                        .long("align")
                        .value_name("N")
                        .default_value("64")
                        .value_parser(clap::value_parser!(u64))
                        .help("alignment of array data in the v2 layout"),
                )
                .arg(flag("print-json", "print what was stored as JSON (put's output option; --json is not, see --value-json)")),
        )
        .subcommand(
            Command::new("export")
                .about("Writes an array entry as .npy (FILE may be a URL)")
                .arg(json())
                .arg(remote_file())
                .arg(key())
                .arg(
                    Arg::new("out")
                        .required(true)
                        .value_name("OUT.npy")
                        .help("the .npy file to write, or - for stdout (streamed, never held in memory)"),
                ),
        )
        .subcommand(
            Command::new("zarr-refs")
                .about("Writes kerchunk reference JSON: the file's arrays as a zarr store read by xarray, zarr and dask without mmpk (FILE may be a URL)")
                .arg(
                    Arg::new("file")
                        .required(true)
                        .value_name("FILE_OR_URL")
                        .help("an mmpk file, or an http://, https:// or s3://bucket/key URL"),
                )
                .arg(
                    Arg::new("url")
                        .long("url")
                        .value_name("URL")
                        .help("where readers will find the file: the URL every reference names (default: FILE's absolute path, or the URL given)"),
                )
                .arg(
                    Arg::new("chunk-mib")
                        .long("chunk-mib")
                        .value_name("N")
                        .default_value("16")
                        .value_parser(clap::value_parser!(f64))
                        .help("target chunk size in MiB (chunks are whole rows of the first axis)"),
                )
                .arg(
                    Arg::new("out")
                        .short('o')
                        .long("out")
                        .value_name("REFS.json")
                        .help("write the JSON there (default: standard output)"),
                ),
        )
        .subcommand(
            Command::new("rm")
                .about("Deletes keys (all must exist, or nothing is deleted)")
                .arg(durable())
                .arg(json())
                .arg(file())
                .arg(
                    Arg::new("keys")
                        .required(true)
                        .num_args(1..)
                        .value_name("KEY")
                        .help("the keys to delete"),
                ),
        )
        .subcommand(
            Command::new("vacuum")
                .about("Reclaims dead space; refuses while another process holds the lock or has the file open")
                .arg(durable())
                .arg(json())
                .arg(file()),
        )
        .subcommand(
            Command::new("verify")
                .about("Checks every byte of the structure; prints findings; exit 1 if any")
                .arg(json())
                .arg(file()),
        )
        .subcommand(
            Command::new("repair")
                .about("Repairs a torn tail or a missing terminator, losing nothing that was complete; refuses while another process has the file open")
                .arg(durable())
                .arg(json())
                .arg(file()),
        )
        .subcommand(
            Command::new("convert")
                .about("Turns a plain pickled dict into a new mmpk file")
                .arg(durable())
                .arg(json())
                .arg(
                    Arg::new("input")
                        .required(true)
                        .value_name("IN.pkl")
                        .help("a pickle file holding a dict with str keys"),
                )
                .arg(
                    Arg::new("output")
                        .required(true)
                        .value_name("OUT")
                        .help("the mmpk file to create (must not exist)"),
                ),
        )
        .subcommand(
            Command::new("upgrade")
                .about("Rewrites v1 array entries as v2 (then vacuums), so numpy 2.3+ can pickle.load the file")
                .arg(durable())
                .arg(json())
                .arg(file()),
        )
        .subcommand(
            Command::new("completions")
                .about("Prints a completion script for a shell (bash, zsh, fish)")
                .long_about(
                    "Prints a completion script for a shell on stdout. Install it with, e.g.:\n\n  \
                     mmpk completions bash > ~/.local/share/bash-completion/completions/mmpk\n  \
                     mmpk completions zsh > ~/.zfunc/_mmpk   (with fpath+=~/.zfunc)\n  \
                     mmpk completions fish > ~/.config/fish/completions/mmpk.fish",
                )
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_name("SHELL")
                        .value_parser(["bash", "zsh", "fish"])
                        .help("the shell to complete for"),
                ),
        )
        .subcommand(
            Command::new("watch")
                .about("Follows a file others write: prints each key added (+), replaced (~) or removed (-)")
                .arg(json())
                .arg(
                    Arg::new("interval")
                        .long("interval")
                        .value_name("MS")
                        .default_value("20")
                        .value_parser(clap::value_parser!(u64))
                        .help("how often to poll the commit number"),
                )
                .arg(
                    Arg::new("for")
                        .long("for")
                        .value_name("SECS")
                        .value_parser(clap::value_parser!(f64))
                        .help("stop after this long (default: until interrupted)"),
                )
                .arg(file()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_has_help() {
        let c = cli();
        c.clone().debug_assert();
        let mut missing = Vec::new();
        for sub in c.get_subcommands() {
            for a in sub.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{} {id}", sub.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
