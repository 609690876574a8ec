//! `cargo xtask bench <workload>`: peer benchmarks (docs/design.md "Performance: what is measured").
//!
//! Every workload times mmpk's code and its peers in the same run, on the
//! same data, interleaved (round after round, the order rotated each round),
//! and reports medians, min-max and ratios. Full runs rewrite their own
//! delimited section of `BENCHMARKS.md`, so the workloads' sections live side
//! by side.
//!
//! Workloads so far:
//!
//! - `pickle` (W4): generic pickle decode/encode. Data made by CPython
//!   (`benches/pickle/cpython_peer.py gen`, PYTHONHASHSEED=0) into
//!   `target/bench-data/`; contenders are CPython's C `pickle` (same script,
//!   in `target/venv/py`), pickle-ops (`crates/devtools/src/bin/bench_peer.rs`)
//!   and serde-pickle (`benches/pickle/serde-pickle-peer`, a cargo package
//!   outside the workspace, built into `target/peers`).
//! - `files` (W1-W6, module [`files`]): mmpk's dict against np.save /
//!   np.memmap / np.lib.format.open_memmap, safetensors, h5py, joblib,
//!   CPython's pickle and mmappickle 1.0 (`benches/files/peers.py`), and the
//!   Rust crates ndarray-npy and safetensors (`benches/files/rust-peer`,
//!   outside the workspace, built into `target/peers`), on files in
//!   `target/bench-data/files/`.
//! - `cli` (module [`mod@cli`]): `mmpk put --npy` and `mmpk export` of a
//!   1 GiB `.npy` against `cp` (and `cat` for pipes), with their peak
//!   resident memory.
//! - `python` (module [`mod@py`]): the Python package (`import mmpk`)
//!   against np.load / np.save, safetensors, h5py, pickle and mmappickle 1.0
//!   from Python (`benches/files/peers.py`), issue 13 "Speed".
//! - `durable` (module [`mod@durable`]): per-insert time of mmpk's durable
//!   and default modes against SQLite (WAL, `synchronous=FULL`) and h5py
//!   with `fsync`, with the barriers each insert makes, issue 16 item 7.
//! - `dask` (module [`mod@dask`]): a LocalCluster's full pass over a 4 GiB
//!   array served by nginx: `mmpk.dask`, the zarr references, a zarr store
//!   and the floor of the same ranged GETs; a 1 MiB slice from Python
//!   against Rust's `RemoteDict` (`benches/dask/`), issue 14 "Speed".

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{py_venv, python, run, show, Ctx};

mod cli;
mod dask;
mod durable;
mod files;
mod py;

pub(crate) fn bench(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("pickle") => pickle(ctx, &args[1..]),
        Some("files") => files::files(ctx, &args[1..]),
        Some("cli") => cli::cli(ctx, &args[1..]),
        Some("python") => py::python_bench(ctx, &args[1..]),
        Some("durable") => durable::durable(ctx, &args[1..]),
        Some("dask") => dask::dask_bench(ctx, &args[1..]),
        Some(other) => Err(format!(
            "unknown workload `{other}` (known: pickle, files, cli, python, durable, dask)"
        )),
        None => Err(
            "name a workload: `cargo xtask bench pickle|files|cli|python|durable|dask [--quick]`"
                .into(),
        ),
    }
}

// ---------------------------------------------------------------------------
// Processes, samples, statistics
// ---------------------------------------------------------------------------

/// Runs `cmd` and returns its standard output (its stderr is passed on).
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", show(cmd)))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", show(cmd), out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{} printed non-UTF-8", show(cmd)))
}

/// The first line of a command's output, or `unknown`.
fn first_line(cmd: &mut Command) -> String {
    cmd.stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8(o.stdout)
                .ok()
                .and_then(|s| s.lines().next().map(str::to_string))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// `measure\tvalue...` lines, as the timing programs print them.
fn parse_lines(text: &str) -> Vec<(String, Vec<f64>)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.to_string();
            let vals: Option<Vec<f64>> = f.map(|v| v.trim().parse().ok()).collect();
            Some((name, vals?))
        })
        .collect()
}

/// Median, minimum and maximum of a non-empty sample.
#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(xs: &[f64]) -> Option<Stats> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stats {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// A duration with three significant digits.
fn fmt_time(s: f64) -> String {
    let (v, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else {
        (s * 1e6, "µs")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

fn fmt_mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// `/proc/loadavg`'s first three fields.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

/// CPU time counters, in clock ticks: the machine's total and busy time
/// (`/proc/stat`) and this process's own plus its waited-for children's
/// (`/proc/self/stat`).
#[derive(Clone, Copy)]
struct CpuTimes {
    total: u64,
    busy: u64,
    ours: u64,
}

fn cpu_times() -> Option<CpuTimes> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user)
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4).unwrap_or(&0);
    let me = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime is field 14.
    let rest: Vec<u64> = me
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    Some(CpuTimes {
        total,
        busy: total - idle,
        ours: rest.iter().sum(),
    })
}

/// The share of the machine's CPU time that other processes used between
/// two snapshots, in percent.
fn others_share(a: Option<CpuTimes>, b: Option<CpuTimes>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let total = b.total.checked_sub(a.total).filter(|&t| t > 0)?;
    let others = (b.busy.saturating_sub(a.busy)).saturating_sub(b.ours.saturating_sub(a.ours));
    Some(100.0 * others as f64 / total as f64)
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The version of `name` recorded in a `Cargo.lock`.
fn locked_version(lock: &Path, name: &str) -> Option<String> {
    let text = fs::read_to_string(lock).ok()?;
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim() == format!("name = \"{name}\"") {
            let v = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(v.trim_end_matches('"').to_string());
        }
    }
    None
}

/// Replaces the text between `begin` and `end` (markers included) in `path`,
/// or appends the section; creates the file with `header` if needed.
fn write_section(
    path: &Path,
    header: &str,
    begin: &str,
    end: &str,
    body: &str,
) -> Result<(), String> {
    let old = match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => header.to_string(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let section = format!("{begin}\n{body}{end}\n");
    let new = match (old.find(begin), old.find(end)) {
        (Some(b), Some(e)) if e > b => {
            let after = &old[e + end.len()..];
            let after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{section}{after}", &old[..b])
        }
        _ => {
            let sep = if old.ends_with("\n\n") || old.is_empty() {
                ""
            } else if old.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{old}{sep}{section}")
        }
    };
    fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

const BENCHMARKS_HEADER: &str = "\
# Benchmarks

Measured with `cargo xtask bench <workload>` (peer programs under
`benches/`) and `cargo bench` (criterion). As [docs/design.md](docs/design.md) asks, every ratio is
against peers measured in the same run, on the same data. The sections
between `BEGIN`/`END` markers are rewritten by the xtask; text outside them is
kept.

";

// ---------------------------------------------------------------------------
// pickle (W4)
// ---------------------------------------------------------------------------

const PICKLE_BEGIN: &str =
    "<!-- BEGIN W4 pickle: written by `cargo xtask bench pickle`; edits inside are lost -->";
const PICKLE_END: &str = "<!-- END W4 pickle -->";

/// Options of `bench pickle`.
struct PickleOpts {
    quick: bool,
    n: usize,
    rounds: usize,
    warmup: usize,
    iters: usize,
    write: bool,
}

impl PickleOpts {
    fn parse(args: &[String]) -> Result<PickleOpts, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = if quick {
            PickleOpts {
                quick,
                n: 10_000,
                rounds: 3,
                warmup: 2,
                iters: 10,
                write: false,
            }
        } else {
            PickleOpts {
                quick,
                n: 1_000_000,
                rounds: 5,
                warmup: 1,
                iters: 2,
                write: true,
            }
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |name: &str| -> Result<usize, String> {
                it.next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .filter(|&v: &usize| v > 0)
                    .ok_or(format!("{name} needs a positive number"))
            };
            match a.as_str() {
                "--quick" => {}
                "--n" => o.n = num("--n")?,
                "--rounds" => o.rounds = num("--rounds")?,
                "--iters" => o.iters = num("--iters")?,
                "--no-write" => o.write = false,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(o)
    }
}

/// One timing program: how to run it and which measures it prints.
struct Contender {
    key: &'static str,
    cmd: Box<dyn Fn() -> Command>,
    /// Extra arguments for the first round (self-checks).
    check_args: &'static [&'static str],
    /// Whether `time` needs `--object KIND --n N` (to rebuild the object).
    wants_object: bool,
}

/// A row of the report: `contender.measure`, its label, and the measure of
/// ours it is compared with (None for ours).
struct Row {
    key: &'static str,
    label: &'static str,
    vs: Option<&'static str>,
}

const ROWS: &[Row] = &[
    Row {
        key: "ours.decode",
        label: "**pickle-ops `decode`**",
        vs: None,
    },
    Row {
        key: "cpython.loads",
        label: "CPython `pickle.loads` (gc on)",
        vs: Some("ours.decode"),
    },
    Row {
        key: "cpython.loads_nogc",
        label: "CPython `pickle.loads` (gc off)",
        vs: Some("ours.decode"),
    },
    Row {
        key: "serde.decode",
        label: "serde-pickle `value_from_slice`",
        vs: Some("ours.decode"),
    },
    Row {
        key: "ours.encode",
        label: "**pickle-ops `encode`** (protocol 4)",
        vs: None,
    },
    Row {
        key: "ours.floor",
        label: "floor: the pickle's bytes copied into a new buffer",
        vs: None,
    },
    Row {
        key: "cpython.dumps",
        label: "CPython `pickle.dumps(obj, 4)`",
        vs: Some("ours.encode"),
    },
    Row {
        key: "serde.encode",
        label: "serde-pickle `value_to_vec` (protocol 3; other bytes)",
        vs: Some("ours.encode"),
    },
];

/// Issue 2's targets: (ours, peer, minimum speed-up, text).
const TARGETS: &[(&str, &str, f64, &str)] = &[
    (
        "ours.decode",
        "cpython.loads",
        5.0,
        "decode ≥ 5× CPython `pickle.loads` (gc on)",
    ),
    (
        "ours.decode",
        "serde.decode",
        2.0,
        "decode ≥ 2× serde-pickle",
    ),
    (
        "ours.encode",
        "cpython.dumps",
        5.0,
        "encode ≥ 5× CPython `pickle.dumps`",
    ),
];

/// One data set: its label and file.
struct DataSet {
    kind: &'static str,
    label: String,
    file: PathBuf,
    bytes: u64,
}

/// Results of the run, keyed by (data set index, `contender.measure`).
type Samples = BTreeMap<(usize, String), Vec<f64>>;

fn pickle(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let o = PickleOpts::parse(args)?;
    let py = py_venv(ctx)?;
    let script = ctx
        .root
        .join("benches")
        .join("pickle")
        .join("cpython_peer.py");

    // (a) the data, written by CPython.
    let data_dir = ctx.target.join("bench-data");
    run(python(&py)
        .arg(&script)
        .args(["gen", "--n", &o.n.to_string(), "--out"])
        .arg(&data_dir))?;
    let sets: Vec<DataSet> = [
        (
            "dict",
            "`{str(i): [i, float(i), str(i)] for i in range(N)}`",
        ),
        ("floats", "`[float(i) for i in range(N)]`"),
    ]
    .iter()
    .map(|&(kind, expr)| {
        let file = data_dir.join(format!("{kind}_{}.p4.pickle", o.n));
        let bytes = fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        DataSet {
            kind,
            label: format!(
                "{kind}, N = {}: {expr}, {}",
                group(o.n),
                fmt_mb(bytes as f64)
            ),
            file,
            bytes,
        }
    })
    .collect();

    // The Rust programs, as release builds.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    run(Command::new(&cargo).current_dir(&ctx.root).args([
        "build",
        "--release",
        "-p",
        "mmpk-devtools",
        "--no-default-features",
        "--bin",
        "bench_peer",
    ]))?;
    let ours = ctx
        .target
        .join("release")
        .join(format!("bench_peer{}", env::consts::EXE_SUFFIX));
    let peer_dir = ctx
        .root
        .join("benches")
        .join("pickle")
        .join("serde-pickle-peer");
    let peers_target = ctx.target.join("peers");
    run(Command::new(&cargo)
        .current_dir(&ctx.root)
        .args(["build", "--release", "--manifest-path"])
        .arg(peer_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&peers_target))?;
    let serde = peers_target
        .join("release")
        .join(format!("serde-pickle-peer{}", env::consts::EXE_SUFFIX));

    // The criterion bench builds the dict in Rust: it must be CPython's bytes.
    let same = output(
        Command::new(&ours)
            .arg("check-dict")
            .arg(o.n.to_string())
            .arg(&sets[0].file),
    )?;
    let rust_built_same = same.trim() == "same\ttrue";
    if !rust_built_same {
        eprintln!("xtask bench: warning: the Rust-built dict does not encode to CPython's bytes");
    }

    let contenders = {
        let (py, script, ours, serde) = (py.clone(), script.clone(), ours.clone(), serde.clone());
        vec![
            Contender {
                key: "cpython",
                cmd: Box::new(move || {
                    let mut c = python(&py);
                    c.arg(&script);
                    c
                }),
                check_args: &["--check"],
                wants_object: true,
            },
            Contender {
                key: "ours",
                cmd: Box::new(move || Command::new(&ours)),
                check_args: &["--check"],
                wants_object: false,
            },
            Contender {
                key: "serde",
                cmd: Box::new(move || Command::new(&serde)),
                check_args: &[],
                wants_object: false,
            },
        ]
    };

    // (b) interleaved rounds, every contender on the same files.
    let load_before = loadavg();
    let cpu_before = cpu_times();
    let started = std::time::Instant::now();
    let mut samples = Samples::new();
    for round in 0..o.rounds {
        eprintln!("xtask bench pickle: round {}/{}", round + 1, o.rounds);
        for (si, set) in sets.iter().enumerate() {
            for k in 0..contenders.len() {
                let c = &contenders[(k + round + si) % contenders.len()];
                let mut cmd = (c.cmd)();
                cmd.arg("time")
                    .arg(&set.file)
                    .args(["--warmup", &o.warmup.to_string()])
                    .args(["--iters", &o.iters.to_string()]);
                if c.wants_object {
                    cmd.args(["--object", set.kind, "--n", &o.n.to_string()]);
                }
                if round == 0 {
                    cmd.args(c.check_args);
                }
                for (measure, vals) in parse_lines(&output(&mut cmd)?) {
                    if let Some(&v) = vals.first() {
                        samples
                            .entry((si, format!("{}.{measure}", c.key)))
                            .or_default()
                            .push(v);
                    }
                }
            }
        }
    }
    // (c) peak RSS of one decode in a fresh process.
    let mut peaks: BTreeMap<(usize, &'static str), (f64, f64)> = BTreeMap::new();
    for (si, set) in sets.iter().enumerate() {
        for c in &contenders {
            let text = output((c.cmd)().arg("peak").arg(&set.file))?;
            for (name, vals) in parse_lines(&text) {
                if let ("peak", [after, before]) = (name.as_str(), vals.as_slice()) {
                    peaks.insert((si, c.key), (*after * 1024.0, *before * 1024.0));
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let load_after = loadavg();
    let others =
        others_share(cpu_before, cpu_times()).map_or("unknown".to_string(), |p| format!("{p:.0}%"));

    // (d) the report.
    let machine = Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu: cpu_model(),
        rustc: first_line(
            Command::new(env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"))).arg("-V"),
        ),
        python: first_line(python(&py).args(["-c", "import sys; print(sys.version.split()[0])"])),
        serde_pickle: locked_version(&peer_dir.join("Cargo.lock"), "serde-pickle")
            .unwrap_or_else(|| "unknown".to_string()),
        date: first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        commit: source_state(&ctx.root),
        load: format!(
            "{load_before} before, {load_after} after; other processes used {others} of \
             the machine's CPU time during the {elapsed:.0} s of timing"
        ),
    };
    let report = pickle_report(&o, &sets, &samples, &peaks, &machine, rust_built_same);
    println!("{report}");
    if o.write {
        let path = ctx.root.join("BENCHMARKS.md");
        write_section(&path, BENCHMARKS_HEADER, PICKLE_BEGIN, PICKLE_END, &report)?;
        eprintln!("xtask bench pickle: wrote {}", path.display());
    } else {
        let path = data_dir.join(if o.quick {
            "pickle-quick.md"
        } else {
            "pickle.md"
        });
        fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!(
            "xtask bench pickle: wrote {} (BENCHMARKS.md untouched)",
            path.display()
        );
    }
    Ok(())
}

/// The commit, and whether pickle-ops' sources differ from it (other
/// changes, such as to the bench programs, do not change what is timed).
fn source_state(root: &Path) -> String {
    let commit =
        first_line(
            Command::new("git")
                .current_dir(root)
                .args(["rev-parse", "--short", "HEAD"]),
        );
    let dirty = Command::new("git")
        .current_dir(root)
        .args(["status", "--porcelain", "--", "crates/pickle-ops/src"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| !o.stdout.is_empty());
    match dirty {
        Some(false) => format!("commit `{commit}` (pickle-ops sources as committed)"),
        Some(true) => format!("commit `{commit}` plus uncommitted changes to pickle-ops sources"),
        None => format!("commit `{commit}`"),
    }
}

/// 1000000 -> 1,000,000
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// What the report says about the machine and the run.
struct Machine {
    nproc: usize,
    cpu: String,
    rustc: String,
    python: String,
    serde_pickle: String,
    date: String,
    commit: String,
    load: String,
}

fn pickle_report(
    o: &PickleOpts,
    sets: &[DataSet],
    samples: &Samples,
    peaks: &BTreeMap<(usize, &'static str), (f64, f64)>,
    m: &Machine,
    rust_built_same: bool,
) -> String {
    let get = |si: usize, key: &str| samples.get(&(si, key.to_string())).and_then(|v| stats(v));
    let mut r = String::new();
    let _ = writeln!(
        r,
        "## W4: generic pickle decode/encode{}\n",
        if o.quick { " (quick run)" } else { "" }
    );
    let _ = writeln!(
        r,
        "`cargo xtask bench pickle{}`: {} rounds; in each, every contender runs in a fresh \
         process ({} untimed + {} timed iterations), the order rotated every round, so each \
         figure below is over {} timings. Data written by CPython (PYTHONHASHSEED=0) at \
         protocol 4; every contender reads the same bytes. Decoded objects are freed outside \
         the timed region. Throughput is pickle bytes per second; \"ours ×\" is the peer's \
         median time over ours (above 1: we are faster).\n",
        if o.quick { " --quick" } else { "" },
        o.rounds,
        o.warmup,
        o.iters,
        o.rounds * o.iters,
    );
    let _ = writeln!(
        r,
        "Machine: {} CPUs ({}), shared; rustc `{}` (release: codegen-units 1, thin LTO), \
         CPython {}, serde-pickle {}. Run {} at {}; load average {}.\n",
        m.nproc, m.cpu, m.rustc, m.python, m.serde_pickle, m.date, m.commit, m.load
    );
    for (si, set) in sets.iter().enumerate() {
        let _ = writeln!(r, "### {}\n", set.label);
        let _ = writeln!(r, "| contender | median | min – max | MB/s | ours × |");
        let _ = writeln!(r, "|---|---:|---:|---:|---:|");
        for row in ROWS {
            let Some(s) = get(si, row.key) else { continue };
            let ratio = match row.vs.and_then(|k| get(si, k)) {
                Some(ours) => format!("{:.2}×", s.median / ours.median),
                None => "—".to_string(),
            };
            let mbps = if row.key == "serde.encode" {
                "—".to_string()
            } else {
                format!("{:.1}", set.bytes as f64 / s.median / 1e6)
            };
            let _ = writeln!(
                r,
                "| {} | {} | {} – {} | {mbps} | {ratio} |",
                row.label,
                fmt_time(s.median),
                fmt_time(s.min),
                fmt_time(s.max),
            );
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(
        r,
        "### Targets (issue 2; medians of this run)\n\n| target | data | ours × | met |\n|---|---|---:|---|"
    );
    let mut met_all = true;
    let mut at_limit = false;
    for (ours, peer, min, text) in TARGETS {
        for (si, set) in sets.iter().enumerate() {
            let kind = set.kind;
            let (ratio, met) = match (get(si, ours), get(si, peer)) {
                (Some(a), Some(b)) => {
                    let x = b.median / a.median;
                    (format!("{x:.2}×"), x >= *min)
                }
                _ => ("—".to_string(), false),
            };
            // An encode target under the floor (the output's bytes written
            // into a new buffer) cannot be met by any encoder on this machine.
            let limit = !met
                && *ours == "ours.encode"
                && match (get(si, peer), get(si, "ours.floor")) {
                    (Some(b), Some(f)) => b.median / min < f.median,
                    _ => false,
                };
            at_limit |= limit;
            met_all &= met || limit;
            let verdict = if met {
                "yes"
            } else if limit {
                "at the machine's limit: the target time is below the floor"
            } else {
                "**no**"
            };
            let _ = writeln!(r, "| {text} | {kind} | {ratio} | {verdict} |");
        }
    }
    for (si, set) in sets.iter().enumerate() {
        if let (Some(ours), Some(peer), Some(floor)) = (
            get(si, "ours.encode"),
            get(si, "cpython.dumps"),
            get(si, "ours.floor"),
        ) {
            let _ = writeln!(
                r,
                "\nEncode floor, {}: writing the output's {} into a new buffer takes {} \
                 (allocation and first-touch page faults: every encoder pays it); \
                 CPython's time ÷ 5 is {}; ours is the floor + {}.",
                set.kind,
                fmt_mb(set.bytes as f64),
                fmt_time(floor.median),
                fmt_time(peer.median / 5.0),
                fmt_time((ours.median - floor.median).max(0.0)),
            );
        }
    }
    if at_limit {
        let _ = writeln!(
            r,
            "\nWhere a target is below the floor, the warm figure tells the encoder's own \
             speed: `cargo bench -p pickle-ops --bench codec` (criterion, the same process \
             encoding again and again, so the output's pages are reused)."
        );
    }
    let _ = writeln!(
        r,
        "\nAll targets met{}: {}.{}\n",
        if at_limit {
            " or at the machine's limit"
        } else {
            ""
        },
        if met_all { "yes" } else { "**no**" },
        if o.quick {
            " (A quick run's small data says little about the targets, which are for N = 1,000,000.)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        r,
        "### Peak memory of one decode (fresh process, `VmHWM`)\n\n\
         | decoder | data | peak RSS | above the loaded input | ÷ pickle size |\n|---|---|---:|---:|---:|"
    );
    for (si, set) in sets.iter().enumerate() {
        let kind = set.kind;
        for (key, label) in [
            ("ours", "pickle-ops `decode`"),
            ("cpython", "CPython `pickle.loads`"),
            ("serde", "serde-pickle `value_from_slice`"),
        ] {
            if let Some(&(after, before)) = peaks.get(&(si, key)) {
                let _ = writeln!(
                    r,
                    "| {label} | {kind} | {} | {} | {:.2} |",
                    fmt_mb(after),
                    fmt_mb(after - before),
                    (after - before) / set.bytes as f64
                );
            }
        }
    }
    let _ = writeln!(
        r,
        "\nThe Rust-built dict of the criterion bench (`cargo bench -p pickle-ops --bench codec`) \
         encodes to CPython's bytes: {}.",
        if rust_built_same { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        r,
        "Every ratio compares figures of this one run; they move together when the shared \
         machine is loaded, the absolute times do not."
    );
    r
}
