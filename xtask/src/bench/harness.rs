//! What every `cargo xtask bench` workload shares: building the timing
//! programs, running them and reading their `measure<TAB>value` lines, the
//! statistics and number formats of the reports, the run's provenance
//! (date, commit, load average, time), and writing a report into its
//! section of `BENCHMARKS.md` (a full run) or a file of its own.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{ensure_venv, python, run, show, Ctx};

// ---------------------------------------------------------------------------
// Programs and venvs
// ---------------------------------------------------------------------------

/// Builds `bin` of the workspace package `package` in release mode (with
/// `flags` such as `--no-default-features`) and returns its path.
pub(super) fn release_bin(
    ctx: &Ctx,
    package: &str,
    flags: &[&str],
    bin: &str,
) -> Result<PathBuf, String> {
    run(Command::new(cargo())
        .current_dir(&ctx.root)
        .args(["build", "--release", "-p", package])
        .args(flags)
        .args(["--bin", bin]))?;
    Ok(ctx
        .target
        .join("release")
        .join(format!("{bin}{}", env::consts::EXE_SUFFIX)))
}

/// Builds the peer program `name`, a cargo package in `dir` outside the
/// workspace (so its dependencies stay out of mmpk's), into
/// `target/peers`, and returns its path.
pub(super) fn peer_bin(ctx: &Ctx, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let peers_target = ctx.target.join("peers");
    run(Command::new(cargo())
        .current_dir(&ctx.root)
        .args(["build", "--release", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&peers_target))?;
    Ok(peers_target
        .join("release")
        .join(format!("{name}{}", env::consts::EXE_SUFFIX)))
}

fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// `target/venv/bench`: numpy 2, h5py, safetensors and joblib, the Python
/// peers of `bench files`, `bench python` and `bench durable`.
pub(super) fn bench_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    ensure_venv(
        ctx,
        "bench",
        Some("numpy>=2,<3 h5py safetensors joblib"),
        "import numpy, h5py, safetensors, joblib; assert numpy.__version__.startswith('2.')",
    )
}

/// `target/bench-data/NAME`, created if needed.
pub(super) fn data_dir(ctx: &Ctx, name: &str) -> Result<PathBuf, String> {
    let data = ctx.target.join("bench-data").join(name);
    fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    Ok(data)
}

// ---------------------------------------------------------------------------
// Processes and samples
// ---------------------------------------------------------------------------

/// Runs `cmd` and returns its standard output (its stderr is passed on).
pub(super) fn output(cmd: &mut Command) -> Result<String, String> {
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
pub(super) fn first_line(cmd: &mut Command) -> String {
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

/// The first line `py -c CODE` prints (versions for a report), or `unknown`.
pub(super) fn python_line(py: &Path, code: &str) -> String {
    first_line(python(py).args(["-c", code]))
}

/// `measure\tvalue...` lines, as the timing programs print them.
pub(super) fn parse_lines(text: &str) -> Vec<(String, Vec<f64>)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.to_string();
            let vals: Option<Vec<f64>> = f.map(|v| v.trim().parse().ok()).collect();
            Some((name, vals?))
        })
        .collect()
}

/// `items` starting at `shift` (mod their number) and wrapping round: the
/// order of the contenders in round `shift`, so that none always runs
/// first.
pub(super) fn rotated<T>(items: &[T], shift: usize) -> impl Iterator<Item = &T> {
    let n = items.len();
    (0..n).map(move |k| &items[(k + shift) % n])
}

/// Who runs a contender: our timing program, the Rust peers' program, or
/// a Python script in a venv.
#[derive(Clone)]
pub(super) enum Runner {
    Ours(PathBuf),
    Rust(PathBuf),
    Py(PathBuf, PathBuf),
}

impl Runner {
    fn cmd(&self, task: &str, contender: &str, path: &Path) -> Command {
        let mut c = match self {
            Runner::Ours(exe) | Runner::Rust(exe) => Command::new(exe),
            Runner::Py(py, script) => {
                let mut c = python(py);
                c.arg(script);
                c
            }
        };
        c.arg(task).arg(contender).arg(path);
        c
    }
}

/// The contender name a program takes, for a contender key of the samples
/// and report where the two differ (keys are unique across programs; the
/// names only within one).
fn contender_arg(key: &str) -> &str {
    match key {
        // The safetensors crate (`rust-peer`), beside Python's `safetensors`.
        "safetensors-rs" => "safetensors",
        // `np.load(mmap_mode='r')` of `open_memmap`'s file, beside that of
        // `np.save`'s.
        "npload-openmemmap" => "npload",
        k => k,
    }
}

/// Samples keyed by (workload, contender, parameter, measure).
pub(super) type Samples = BTreeMap<(String, String, usize, String), Vec<f64>>;

/// The samples of a run of fresh-process measurements, and where their
/// files go.
pub(super) struct Bench {
    pub(super) samples: Samples,
    pub(super) data: PathBuf,
}

impl Bench {
    pub(super) fn new(data: PathBuf) -> Bench {
        Bench {
            samples: Samples::new(),
            data,
        }
    }

    /// Runs one measurement and records every `measure value` it prints.
    pub(super) fn measure(
        &mut self,
        w: &str,
        r: &Runner,
        (task, contender): (&str, &str),
        path: &Path,
        param: usize,
        extra: &[String],
    ) -> Result<(), String> {
        let text = output(r.cmd(task, contender_arg(contender), path).args(extra))?;
        for (name, vals) in parse_lines(&text) {
            if let Some(&v) = vals.first() {
                self.samples
                    .entry((w.to_string(), contender.to_string(), param, name))
                    .or_default()
                    .push(v);
            }
        }
        Ok(())
    }

    /// Task `w` then `wread` of contender `c` on the file `name` (both
    /// recorded under workload `w`), the file removed after.
    pub(super) fn write_read(
        &mut self,
        (w, c, r): (&str, &str, &Runner),
        name: &str,
        param: usize,
        extra: &[String],
    ) -> Result<(), String> {
        let path = self.file(name);
        self.measure(w, r, (w, c), &path, param, extra)?;
        self.measure(w, r, (&format!("{w}read"), c), &path, param, extra)?;
        let _ = fs::remove_file(&path);
        Ok(())
    }

    fn stats(&self, w: &str, c: &str, param: usize, m: &str) -> Option<Stats> {
        self.samples
            .get(&(w.to_string(), c.to_string(), param, m.to_string()))
            .and_then(|v| stats(v))
    }

    pub(super) fn median(&self, w: &str, c: &str, param: usize, m: &str) -> Option<f64> {
        self.stats(w, c, param, m).map(|s| s.median)
    }

    /// The best (smallest) sample.
    pub(super) fn best(&self, w: &str, c: &str, param: usize, m: &str) -> Option<f64> {
        self.stats(w, c, param, m).map(|s| s.min)
    }

    /// The worst (largest) sample.
    pub(super) fn worst(&self, w: &str, c: &str, param: usize, m: &str) -> Option<f64> {
        self.stats(w, c, param, m).map(|s| s.max)
    }

    /// `median (min – max)`, or `—`.
    pub(super) fn cell(&self, w: &str, c: &str, param: usize, m: &str) -> String {
        self.stats(w, c, param, m).map_or("—".into(), fmt_spread)
    }

    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.data.join(name)
    }
}

// ---------------------------------------------------------------------------
// Statistics and formats
// ---------------------------------------------------------------------------

/// Median, minimum and maximum of a non-empty sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Stats {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

pub(super) fn stats(xs: &[f64]) -> Option<Stats> {
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
pub(super) fn fmt_time(s: f64) -> String {
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

/// `median (min – max)` of durations, the median alone where all are equal.
pub(super) fn fmt_spread(s: Stats) -> String {
    if s.min != s.max {
        format!(
            "{} ({} – {})",
            fmt_time(s.median),
            fmt_time(s.min),
            fmt_time(s.max)
        )
    } else {
        fmt_time(s.median)
    }
}

pub(super) fn fmt_mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// A size given in KiB, in MiB.
pub(super) fn fmt_kib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// How many times `ours` goes into `peer`: `2.50×` (above 1: ours is
/// faster), or `—` when either is missing.
pub(super) fn ratio(peer: Option<f64>, ours: Option<f64>) -> String {
    match (peer, ours) {
        (Some(p), Some(o)) if o > 0.0 => format!("{:.2}×", p / o),
        _ => "—".into(),
    }
}

/// The bandwidth of moving `bytes` in `secs`, or `—`.
pub(super) fn gbps(bytes: f64, secs: Option<f64>) -> String {
    secs.filter(|&s| s > 0.0)
        .map_or("—".into(), |s| format!("{:.2} GB/s", bytes / s / 1e9))
}

/// 1000000 -> 1,000,000
pub(super) fn group(n: usize) -> String {
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

/// Within this factor of a bare `write(2)` counts as at the limit.
pub(super) const LIMIT_SLACK: f64 = 1.03;

/// A target's verdict.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Met {
    Yes,
    No,
    /// Not met, but ours and the peer's are both within [`LIMIT_SLACK`] of
    /// the floor (the same bytes written with nothing around the write).
    Limit,
    NotMeasured,
}

impl From<Option<bool>> for Met {
    fn from(m: Option<bool>) -> Met {
        match m {
            Some(true) => Met::Yes,
            Some(false) => Met::No,
            None => Met::NotMeasured,
        }
    }
}

/// A target's verdict cell.
pub(super) fn verdict(met: Met) -> &'static str {
    match met {
        Met::Yes => "yes",
        Met::No => "**no**",
        Met::Limit => {
            "at the machine's limit: both within 3% of the floor row (the same bytes written \
             with nothing around the write)"
        }
        Met::NotMeasured => "not measured",
    }
}

// ---------------------------------------------------------------------------
// The run's provenance
// ---------------------------------------------------------------------------

/// The CPUs this process may use.
pub(super) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// `/proc/loadavg`'s first three fields.
pub(super) fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

/// `rustc -V` (of `$RUSTC` where set).
pub(super) fn rustc_version() -> String {
    first_line(Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())).arg("-V"))
}

/// The current date and time, UTC, to the minute.
pub(super) fn date_utc() -> String {
    first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
}

/// The short id of the commit checked out at `root`.
pub(super) fn commit(root: &Path) -> String {
    first_line(
        Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "--short", "HEAD"]),
    )
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

/// Started when the timing starts: the load average and CPU counters then.
pub(super) struct Clock {
    load_before: String,
    cpu_before: Option<CpuTimes>,
    started: Instant,
}

impl Clock {
    pub(super) fn start() -> Clock {
        Clock {
            load_before: loadavg(),
            cpu_before: cpu_times(),
            started: Instant::now(),
        }
    }

    /// The span from the start to now.
    pub(super) fn stop(&self) -> Span {
        Span {
            secs: self.started.elapsed().as_secs_f64(),
            load_before: self.load_before.clone(),
            load_after: loadavg(),
            others: others_share(self.cpu_before, cpu_times()),
        }
    }
}

/// How long the timing took and how loaded the machine was.
pub(super) struct Span {
    pub(super) secs: f64,
    pub(super) load_before: String,
    pub(super) load_after: String,
    /// The share of the machine's CPU time other processes used, in percent.
    pub(super) others: Option<f64>,
}

impl Span {
    /// `Run DATE at commit `C`; load average A before, B after; N s in all.`
    pub(super) fn line(&self, root: &Path) -> String {
        self.line_with(&date_utc(), &commit(root))
    }

    fn line_with(&self, date: &str, commit: &str) -> String {
        format!(
            "Run {date} at commit `{commit}`; load average {} before, {} after; {:.0} s in all.",
            self.load_before, self.load_after, self.secs
        )
    }
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// A workload's section of `BENCHMARKS.md`, between its markers.
pub(super) struct Section {
    /// The marker's name (`W4 pickle`, `files`, ...).
    pub(super) marker: &'static str,
    /// The workload, as `cargo xtask bench` names it.
    pub(super) workload: &'static str,
}

impl Section {
    fn begin(&self) -> String {
        format!(
            "<!-- BEGIN {}: written by `cargo xtask bench {}`; edits inside are lost -->",
            self.marker, self.workload
        )
    }

    fn end(&self) -> String {
        format!("<!-- END {} -->", self.marker)
    }

    /// Writes `report`: into this section of `BENCHMARKS.md`
    /// when `write`, else into `dir/WORKLOAD-quick.md` (a quick run) or
    /// `dir/WORKLOAD.md`.
    pub(super) fn publish(
        &self,
        ctx: &Ctx,
        report: &str,
        write: bool,
        quick: bool,
        dir: &Path,
    ) -> Result<(), String> {
        let w = self.workload;
        if write {
            let path = ctx.root.join("BENCHMARKS.md");
            let old = match fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BENCHMARKS_HEADER.into(),
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            };
            let new = replace_section(&old, &self.begin(), &self.end(), report);
            fs::write(&path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("xtask bench {w}: wrote {}", path.display());
        } else {
            let path = dir.join(if quick {
                format!("{w}-quick.md")
            } else {
                format!("{w}.md")
            });
            fs::write(&path, report)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "xtask bench {w}: wrote {} (BENCHMARKS.md untouched)",
                path.display()
            );
        }
        Ok(())
    }
}

/// `old` with the text between `begin` and `end` (markers included)
/// replaced by the markers around `body`, or the section appended after a
/// blank line.
fn replace_section(old: &str, begin: &str, end: &str, body: &str) -> String {
    let section = format!("{begin}\n{body}{end}\n");
    match (old.find(begin), old.find(end)) {
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
    }
}

/// The start of a new `BENCHMARKS.md`.
const BENCHMARKS_HEADER: &str = "\
# Benchmarks

Measured with `cargo xtask bench <workload>` (peer programs under
`benches/`) and `cargo bench` (criterion). As [docs/design.md](docs/design.md) asks, every ratio is
against peers measured in the same run, on the same data. The sections
between `BEGIN`/`END` markers are rewritten by the xtask; text outside them is
kept.

";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_the_rest_kept() {
        let old = "head\n<!-- B -->\nold body\n<!-- E -->\ntail\n";
        assert_eq!(
            replace_section(old, "<!-- B -->", "<!-- E -->", "new\n"),
            "head\n<!-- B -->\nnew\n<!-- E -->\ntail\n"
        );
        // The end marker last in the file, with no newline after it.
        assert_eq!(
            replace_section(
                "<!-- B -->\nx\n<!-- E -->",
                "<!-- B -->",
                "<!-- E -->",
                "y\n"
            ),
            "<!-- B -->\ny\n<!-- E -->\n"
        );
    }

    #[test]
    fn a_missing_section_is_appended_after_one_blank_line() {
        let s = "<!-- B -->\nbody\n<!-- E -->\n";
        let add = |old: &str| replace_section(old, "<!-- B -->", "<!-- E -->", "body\n");
        assert_eq!(add(""), s);
        assert_eq!(add("text\n\n"), format!("text\n\n{s}"));
        assert_eq!(add("text\n"), format!("text\n\n{s}"));
        assert_eq!(add("text"), format!("text\n\n{s}"));
        // An end marker before the begin marker is no section.
        assert_eq!(
            add("<!-- E -->\n<!-- B -->\n"),
            format!("<!-- E -->\n<!-- B -->\n\n{s}")
        );
    }

    #[test]
    fn every_workloads_markers_stand_in_benchmarks_md() {
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("BENCHMARKS.md"),
        )
        .unwrap();
        for (marker, workload) in [
            ("W4 pickle", "pickle"),
            ("files", "files"),
            ("cli", "cli"),
            ("python", "python"),
            ("durable", "durable"),
            ("dask", "dask"),
        ] {
            let s = Section { marker, workload };
            let (b, e) = (text.find(&s.begin()), text.find(&s.end()));
            assert!(matches!((b, e), (Some(b), Some(e)) if b < e), "{marker}");
        }
        assert_eq!(
            Section {
                marker: "W4 pickle",
                workload: "pickle"
            }
            .begin(),
            "<!-- BEGIN W4 pickle: written by `cargo xtask bench pickle`; edits inside are lost -->"
        );
    }

    #[test]
    fn durations_have_three_significant_digits() {
        assert_eq!(fmt_time(123.4), "123 s");
        assert_eq!(fmt_time(1.0), "1.00 s");
        assert_eq!(fmt_time(0.0123), "12.3 ms");
        assert_eq!(fmt_time(0.999e-3), "999 µs");
        assert_eq!(fmt_time(2.5e-6), "2.50 µs");
    }

    #[test]
    fn spreads_ratios_and_sizes() {
        let s = stats(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(fmt_spread(s), "2.00 s (1.00 s – 3.00 s)");
        assert_eq!(fmt_spread(stats(&[0.5, 0.5]).unwrap()), "500 ms");
        assert_eq!(ratio(Some(5.0), Some(2.0)), "2.50×");
        assert_eq!(ratio(Some(5.0), Some(0.0)), "—");
        assert_eq!(ratio(None, Some(2.0)), "—");
        assert_eq!(gbps(3e9, Some(2.0)), "1.50 GB/s");
        assert_eq!(gbps(3e9, None), "—");
        assert_eq!(fmt_mb(1_260_000.0), "1.3 MB");
        assert_eq!(fmt_kib(1536.0), "1.5 MiB");
        assert_eq!(group(1), "1");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(group(100_000), "100,000");
    }

    #[test]
    fn medians_of_odd_and_even_samples() {
        let s = stats(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert_eq!(stats(&[7.0]).unwrap().median, 7.0);
        assert_eq!(stats(&[]), None);
    }

    #[test]
    fn timing_lines_are_parsed_and_others_skipped() {
        let got = parse_lines("write\t0.5\nwarming up\npeak\t10\t20\nbad\tx\n");
        assert_eq!(
            got,
            vec![
                ("write".to_string(), vec![0.5]),
                ("warming up".to_string(), vec![]),
                ("peak".to_string(), vec![10.0, 20.0]),
            ]
        );
    }

    #[test]
    fn rounds_rotate_the_order() {
        let v = ["a", "b", "c"];
        let order = |shift| rotated(&v, shift).copied().collect::<Vec<_>>();
        assert_eq!(order(0), ["a", "b", "c"]);
        assert_eq!(order(1), ["b", "c", "a"]);
        assert_eq!(order(5), ["c", "a", "b"]);
        assert_eq!(rotated::<u8>(&[], 3).count(), 0);
    }

    #[test]
    fn the_run_line_and_verdicts() {
        let span = Span {
            secs: 12.4,
            load_before: "1.00 0.50 0.25".into(),
            load_after: "2.00 1.00 0.50".into(),
            others: None,
        };
        assert_eq!(
            span.line_with("2026-01-02 03:04 UTC", "abc1234"),
            "Run 2026-01-02 03:04 UTC at commit `abc1234`; load average 1.00 0.50 0.25 \
             before, 2.00 1.00 0.50 after; 12 s in all."
        );
        assert_eq!(verdict(Some(true).into()), "yes");
        assert_eq!(verdict(Some(false).into()), "**no**");
        assert_eq!(verdict(None.into()), "not measured");
    }
}
