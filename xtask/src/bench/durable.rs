//! `cargo xtask bench durable`: the cost of durability (issue 16, item 7).
//!
//! Per-insert time of small arrays (W3's `float64[128]`, keys `k0`, `k1`, ...)
//! and of 16 MiB arrays into a new file, each insert timed on its own:
//!
//! - mmpk from Rust (`crates/devtools/src/bin/bench_durable.rs`, release),
//!   durable and default mode, and the floor of one barrier (the bytes
//!   appended with one `pwrite`, then one `fdatasync`);
//! - mmpk from Python (`mmpk.open(..., durable=True)` and default), SQLite
//!   (Python's `sqlite3`) in WAL mode with `synchronous=FULL` (durable) and
//!   `NORMAL`, h5py with `flush()` plus `os.fsync` after each dataset and
//!   without (`benches/durable/peers.py`, venv `target/venv/bench`).
//!
//! Contenders run in fresh processes, interleaved, the order rotated each
//! round, on files in `target/bench-data/durable/` (the disk the repository
//! is on). The barriers per insert (`fsync`, `fdatasync`, `msync`,
//! `sync_file_range` calls) are counted with `strace -f -c` on two runs of
//! different lengths (their difference over the extra inserts, so creating
//! the file does not count). A full run rewrites its section of
//! `BENCHMARKS.md`; `--quick` (few inserts, small big arrays; CI's smoke
//! test) writes `target/bench-data/durable-quick.md` only and uses the
//! Python package already installed in the venv (a full run builds and
//! installs the wheel).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::harness::{
    bench_venv, cpus, data_dir, first_line, fmt_time, output, parse_lines, python_line,
    release_bin, rotated, Clock, Section,
};
use super::Options;
use crate::{python, python_ok, Ctx};

const SECTION: Section = Section {
    marker: "durable",
    workload: "durable",
};

/// The durable insert's target against SQLite's (issue 16).
const TARGET: f64 = 1.5;

struct Opts {
    quick: bool,
    write: bool,
    rounds: usize,
    small_n: usize,
    big_n: usize,
    mib: usize,
}

impl Options for Opts {
    const WORKLOAD: &'static str = "durable";

    fn defaults(quick: bool) -> Opts {
        if quick {
            Opts {
                quick,
                write: false,
                rounds: 1,
                small_n: 20,
                big_n: 2,
                mib: 4,
            }
        } else {
            // Many short rounds: a barrier's time here moves with the
            // disk's phases, which last seconds.
            Opts {
                quick,
                write: true,
                rounds: 8,
                small_n: 100,
                big_n: 4,
                mib: 16,
            }
        }
    }

    fn write(&mut self) -> &mut bool {
        &mut self.write
    }
}

/// Who runs a contender.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// The `bench_durable` program (its contender name).
    Rust(&'static str),
    /// `peers.py` (its contender name).
    Py(&'static str),
}

struct Contender {
    key: &'static str,
    label: &'static str,
    side: Side,
    /// Whether it claims each insert is on the disk when it returns.
    durable: bool,
}

const CONTENDERS: &[Contender] = &[
    Contender {
        key: "rs-durable",
        label: "**mmpk (Rust), durable**",
        side: Side::Rust("durable"),
        durable: true,
    },
    Contender {
        key: "py-durable",
        label: "**mmpk (Python), `durable=True`**",
        side: Side::Py("mmpk-durable"),
        durable: true,
    },
    Contender {
        key: "sqlite-full",
        label: "SQLite, WAL, `synchronous=FULL`",
        side: Side::Py("sqlite-full"),
        durable: true,
    },
    Contender {
        key: "h5py-fsync",
        label: "h5py, `flush()` + `os.fsync`",
        side: Side::Py("h5py-fsync"),
        durable: true,
    },
    Contender {
        key: "floor",
        label: "floor: `pwrite` + one `fdatasync` (Rust)",
        side: Side::Rust("fdatasync"),
        durable: true,
    },
    Contender {
        key: "rs-default",
        label: "mmpk (Rust), default mode",
        side: Side::Rust("default"),
        durable: false,
    },
    Contender {
        key: "py-default",
        label: "mmpk (Python), default mode",
        side: Side::Py("mmpk"),
        durable: false,
    },
    Contender {
        key: "sqlite-normal",
        label: "SQLite, WAL, `synchronous=NORMAL`",
        side: Side::Py("sqlite-normal"),
        durable: false,
    },
    Contender {
        key: "h5py",
        label: "h5py, no flush",
        side: Side::Py("h5py"),
        durable: false,
    },
];

struct Env {
    example: PathBuf,
    py: PathBuf,
    script: PathBuf,
    /// Whether the Python package is importable in the venv.
    mmpk_py: bool,
    data: PathBuf,
}

impl Env {
    fn cmd(&self, c: &Contender, task: &str, n: usize, mib: usize) -> Command {
        let out = self.data.join(format!("{}-{task}", c.key));
        let mut cmd = match c.side {
            Side::Rust(name) => {
                let mut cmd = Command::new(&self.example);
                cmd.args([task, name]);
                cmd
            }
            Side::Py(name) => {
                let mut cmd = python(&self.py);
                cmd.arg(&self.script).args([task, name]);
                cmd
            }
        };
        cmd.arg(out)
            .args(["--n", &n.to_string(), "--mib", &mib.to_string()]);
        cmd
    }

    fn runs(&self, c: &Contender) -> bool {
        self.mmpk_py || !matches!(c.side, Side::Py(n) if n.starts_with("mmpk"))
    }
}

/// Per-insert times keyed by (task, contender).
type Samples = BTreeMap<(&'static str, &'static str), Vec<f64>>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// The barrier calls (`fsync`, `fdatasync`, `msync`, `sync_file_range`)
/// a command makes, counted by `strace -f -c`.
fn barriers(cmd: Command, log: &Path) -> Result<u64, String> {
    let mut s = Command::new("strace");
    s.args([
        "-f",
        "-c",
        "-e",
        "trace=fsync,fdatasync,msync,sync_file_range",
        "-o",
    ])
    .arg(log)
    .arg(cmd.get_program())
    .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    output(s.stdout(Stdio::null()))?;
    let text =
        fs::read_to_string(log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
    let mut calls = 0;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5
            && matches!(
                f.last().copied(),
                Some("fsync" | "fdatasync" | "msync" | "sync_file_range")
            )
        {
            calls += f[3].parse::<u64>().map_err(|_| format!("strace -c: {l}"))?;
        }
    }
    Ok(calls)
}

pub(super) fn durable(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let o = Opts::parse(args)?;
    let example = release_bin(
        ctx,
        "mmpk-devtools",
        &["--no-default-features"],
        "bench_durable",
    )?;
    let py = bench_venv(ctx)?;
    if !o.quick {
        let wheel = crate::python::build_wheel(ctx, &py)?;
        crate::python::install_wheel(&py, &wheel)?;
    }
    let mmpk_py = python_ok(&py, "import mmpk");
    if !mmpk_py {
        eprintln!("xtask bench durable: the Python package is not in target/venv/bench: its rows are left out (a full run installs it)");
    }
    let data = data_dir(ctx, "durable")?;
    let e = Env {
        example,
        py: py.clone(),
        script: ctx.root.join("benches").join("durable").join("peers.py"),
        mmpk_py,
        data: data.clone(),
    };
    let tasks: [(&'static str, usize, usize); 2] =
        [("small", o.small_n, 0), ("big", o.big_n, o.mib)];
    let clock = Clock::start();
    let mut samples = Samples::new();
    let active: Vec<&Contender> = CONTENDERS.iter().filter(|c| e.runs(c)).collect();
    for round in 0..o.rounds {
        for &(task, n, mib) in &tasks {
            eprintln!(
                "xtask bench durable: {task}, round {}/{}",
                round + 1,
                o.rounds
            );
            for &c in rotated(&active, round) {
                let _ = Command::new("sync").status();
                let text = output(&mut e.cmd(c, task, n, mib))?;
                let (_, vals) = parse_lines(&text)
                    .into_iter()
                    .find(|(m, _)| m == "insert")
                    .ok_or_else(|| format!("{}: printed no insert times", c.key))?;
                if vals.len() != n {
                    return Err(format!("{}: {} times for {n} inserts", c.key, vals.len()));
                }
                samples.entry((task, c.key)).or_default().extend(vals);
            }
        }
    }
    // Barriers per insert: strace on runs of k and 2k inserts.
    let mut per_insert: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    let strace = crate::crash::ensure_strace().is_ok();
    if strace {
        for &(task, _, mib) in &tasks {
            let k = if task == "small" { 10 } else { 2 };
            for c in &active {
                let log = data.join("strace.txt");
                let one = barriers(e.cmd(c, task, k, mib), &log)?;
                let two = barriers(e.cmd(c, task, 2 * k, mib), &log)?;
                per_insert.insert((task, c.key), two.saturating_sub(one) as f64 / k as f64);
            }
        }
    }
    let span = clock.stop();

    let mut r = String::new();
    let fs_type = first_line(
        Command::new("findmnt")
            .args(["-n", "-o", "FSTYPE", "-T"])
            .arg(&data),
    );
    let versions = python_line(
        &py,
        "import sys, sqlite3, numpy, h5py; print(f'CPython {sys.version.split()[0]}, \
         SQLite {sqlite3.sqlite_version}, numpy {numpy.__version__}, h5py {h5py.__version__}, \
         HDF5 {h5py.version.hdf5_version}')",
    );
    let _ = write!(
        r,
        "## The cost of durability (`cargo xtask bench durable`)\n\n\
         Each insert timed on its own, into a new file on this machine's disk ({fs_type}, \
         `target/bench-data/durable/`): {} float64[128] arrays (W3's, keys `k0`, `k1`, ...) and \
         {} float64 arrays of {} MiB; fresh processes, contenders interleaved, the order \
         rotated each round; per-insert median and 90th percentile over {} rounds. \
         Barriers per insert: `fsync`, `fdatasync`, `msync` and `sync_file_range` calls \
         counted by `strace -f -c` (the difference between runs of k and 2k inserts, over k). \
         Peers from Python: {versions}. {} CPUs (a VM: its disk may or may not honour a \
         flush; the figures are what a barrier costs here). {}\n\n",
        o.small_n,
        o.big_n,
        o.mib,
        o.rounds,
        cpus(),
        span.line(&ctx.root),
    );
    let mut ratios = Vec::new();
    for &(task, n, mib) in &tasks {
        let title = if task == "small" {
            format!("{n} inserts of float64[128] (1 KiB)")
        } else {
            format!("{n} inserts of {mib} MiB")
        };
        let _ = write!(
            r,
            "**{title}**\n\n\
             | contender | durable | barriers per insert | per insert (median) | 90th percentile | vs SQLite `FULL` |\n\
             |---|---|---:|---:|---:|---:|\n"
        );
        let med = |key: &str| -> Option<(f64, f64)> {
            let mut v = samples.get(&(task, key))?.clone();
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| (percentile(&v, 0.5), percentile(&v, 0.9)))
        };
        let sqlite = med("sqlite-full").map(|m| m.0);
        for c in &active {
            let Some((m, p90)) = med(c.key) else { continue };
            let b = per_insert
                .get(&(task, c.key))
                .map_or("—".to_string(), |b| format!("{b:.1}"));
            let vs = match sqlite {
                Some(_) if c.key == "sqlite-full" => "peer".to_string(),
                Some(s) => format!("{:.2}×", m / s),
                None => "—".into(),
            };
            let _ = writeln!(
                r,
                "| {} | {} | {b} | {} | {} | {vs} |",
                c.label,
                if c.durable { "yes" } else { "no" },
                fmt_time(m),
                fmt_time(p90),
            );
            if c.key == "rs-durable" {
                if let Some(s) = sqlite {
                    ratios.push((title.clone(), m / s));
                }
            }
        }
        r.push('\n');
    }
    let _ = write!(
        r,
        "`vs SQLite FULL`: the contender's median per-insert time over SQLite's durable one \
         (lower is faster). Target (issue 16): a durable insert within {TARGET}× SQLite's: {}.\n\n\
         Why two barriers per durable insert (and not one), why they change no file size (the \
         room a durable writer leaves at the end of its file), and why a durable replace needs \
         no third one: docs/design.md, \"Barriers per durable call\". A barrier's cost here \
         moves with the disk's phases from one contender's run to the next; \
         `benches/durable/interleave.py` alternates contenders insert by insert.\n\n",
        ratios
            .iter()
            .map(|(t, x)| format!(
                "{t}: {x:.2}× ({})",
                if *x <= TARGET { "met" } else { "not met" }
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if !strace {
        r.push_str("(strace was not available: barriers were not counted.)\n\n");
    }
    print!("{r}");
    SECTION.publish(ctx, &r, o.write, o.quick, &ctx.target.join("bench-data"))
}
