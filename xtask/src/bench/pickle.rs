//! `cargo xtask bench pickle` (W4): generic pickle decode/encode. Data made
//! by CPython (`benches/pickle/cpython_peer.py gen`, PYTHONHASHSEED=0) into
//! `target/bench-data/`; contenders are CPython's C `pickle` (same script,
//! in `target/venv/py`), pickle-ops (`crates/devtools/src/bin/bench_peer.rs`)
//! and serde-pickle (`benches/pickle/serde-pickle-peer`, a cargo package
//! outside the workspace, built into `target/peers`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::harness::{
    commit, cpus, date_utc, fmt_mb, fmt_time, group, output, parse_lines, peer_bin, python_line,
    release_bin, rotated, rustc_version, stats, Clock, Section,
};
use super::{Options, Values};
use crate::{py_venv, python, run, Ctx};

const SECTION: Section = Section {
    marker: "W4 pickle",
    workload: "pickle",
};

/// Options of `bench pickle`.
struct PickleOpts {
    quick: bool,
    n: usize,
    rounds: usize,
    warmup: usize,
    iters: usize,
    write: bool,
}

impl Options for PickleOpts {
    const WORKLOAD: &'static str = "pickle";

    fn defaults(quick: bool) -> PickleOpts {
        if quick {
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
        }
    }

    fn write(&mut self) -> &mut bool {
        &mut self.write
    }

    fn set(&mut self, name: &str, values: &mut Values<'_>) -> Result<bool, String> {
        match name {
            "--n" => self.n = values.num(name)?,
            "--rounds" => self.rounds = values.num(name)?,
            "--iters" => self.iters = values.num(name)?,
            _ => return Ok(false),
        }
        Ok(true)
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

pub(super) fn pickle(ctx: &Ctx, args: &[String]) -> Result<(), String> {
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
    let ours = release_bin(
        ctx,
        "mmpk-devtools",
        &["--no-default-features"],
        "bench_peer",
    )?;
    let peer_dir = ctx
        .root
        .join("benches")
        .join("pickle")
        .join("serde-pickle-peer");
    let serde = peer_bin(ctx, &peer_dir, "serde-pickle-peer")?;

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
    let clock = Clock::start();
    let mut samples = Samples::new();
    for round in 0..o.rounds {
        eprintln!("xtask bench pickle: round {}/{}", round + 1, o.rounds);
        for (si, set) in sets.iter().enumerate() {
            for c in rotated(&contenders, round + si) {
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
    let span = clock.stop();
    let others = span
        .others
        .map_or("unknown".to_string(), |p| format!("{p:.0}%"));

    // (d) the report.
    let machine = Machine {
        nproc: cpus(),
        cpu: cpu_model(),
        rustc: rustc_version(),
        python: python_line(&py, "import sys; print(sys.version.split()[0])"),
        serde_pickle: locked_version(&peer_dir.join("Cargo.lock"), "serde-pickle")
            .unwrap_or_else(|| "unknown".to_string()),
        date: date_utc(),
        commit: source_state(&ctx.root),
        load: format!(
            "{} before, {} after; other processes used {others} of \
             the machine's CPU time during the {:.0} s of timing",
            span.load_before, span.load_after, span.secs
        ),
    };
    let report = pickle_report(&o, &sets, &samples, &peaks, &machine, rust_built_same);
    println!("{report}");
    SECTION.publish(ctx, &report, o.write, o.quick, &data_dir)
}

/// The commit, and whether pickle-ops' sources differ from it (other
/// changes, such as to the bench programs, do not change what is timed).
fn source_state(root: &Path) -> String {
    let commit = commit(root);
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

/// The CPU's model name (`/proc/cpuinfo`).
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
