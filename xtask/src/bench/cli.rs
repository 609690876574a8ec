//! `cargo xtask bench cli`: the `mmpk` tool's streaming array I/O against
//! `cp` of the same `.npy`, side by side in one run.
//!
//! A `.npy` of float32 data (1024 MiB by default, every page written, not
//! sparse) is made once in `target/bench-data/cli/`. Each round times, in
//! an order rotated every round, fresh processes of the release `mmpk`:
//!
//! - `cp SRC copy.npy` (the peer: coreutils' in-kernel copy);
//! - `mmpk put new.mmpk k --npy SRC` (a new file each time);
//! - `mmpk export new.mmpk k out.npy`;
//! - `cat SRC | cat > copy.npy` and `cat SRC | mmpk put new.mmpk k --npy -`
//!   (through a pipe; `sh -c`);
//! - `mmpk put` of the same array in Fortran order (the tiled
//!   transposition; no peer).
//!
//! The page cache is warm (the source is read before the first round) and
//! `sync` runs, untimed, before each command so that no command pays for
//! the previous one's writeback. The peak resident memory of each `mmpk`
//! command is its own `VmHWM` (`MMPK_REPORT_PEAK_RSS=1`). Full runs rewrite
//! their section of `BENCHMARKS.md`; `--quick` (64 MiB, 2 rounds) writes
//! only `target/bench-data/cli-quick.md`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::harness::{
    cpus, data_dir, first_line, fmt_kib, fmt_spread, gbps, release_bin, rotated, stats, Clock,
    Section,
};
use super::{Options, Values};
use crate::{run, show, Ctx};

const SECTION: Section = Section {
    marker: "cli",
    workload: "cli",
};

struct Opts {
    mib: u64,
    rounds: usize,
    quick: bool,
    write: bool,
}

impl Options for Opts {
    const WORKLOAD: &'static str = "cli";

    fn defaults(quick: bool) -> Opts {
        Opts {
            mib: if quick { 64 } else { 1024 },
            rounds: if quick { 2 } else { 5 },
            quick,
            write: !quick,
        }
    }

    fn write(&mut self) -> &mut bool {
        &mut self.write
    }

    fn set(&mut self, name: &str, values: &mut Values<'_>) -> Result<bool, String> {
        match name {
            "--mib" => self.mib = values.num(name)?,
            "--rounds" => self.rounds = values.num(name)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A `.npy` version 1 header for float32 `shape`, C or Fortran order.
fn npy_header(shape: &[u64], fortran: bool) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': {}, 'shape': ({}), }}",
        if fortran { "True" } else { "False" },
        dims.join(", ")
    );
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Writes `path` as a `.npy` of `mib` MiB of float32 (shape `(mib, 512,
/// 512)`; every byte written, values from a xorshift), unless it already
/// has the right size.
fn make_npy(path: &Path, mib: u64, fortran: bool) -> Result<(), String> {
    let header = npy_header(&[mib, 512, 512], fortran);
    let want = header.len() as u64 + (mib << 20);
    if fs::metadata(path).ok().map(|m| m.len()) == Some(want) {
        return Ok(());
    }
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::io::BufWriter::new(fs::File::create(path).map_err(err)?);
    f.write_all(&header).map_err(err)?;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for c in buf.chunks_exact_mut(4) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&((x >> 40) as f32).to_le_bytes());
        }
        f.write_all(&buf).map_err(err)?;
    }
    f.flush().map_err(err)
}

/// Runs `cmd` once after an untimed `sync`; returns the seconds it took
/// and the peak resident memory it reported (kB), if any.
fn timed(cmd: &mut Command) -> Result<(f64, Option<u64>), String> {
    let _ = Command::new("sync").status();
    let t = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", show(cmd)))?;
    let secs = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} failed: {}: {err}", show(cmd), out.status));
    }
    let peak = err
        .lines()
        .find_map(|l| l.split("mmpk: peak resident memory: ").nth(1))
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok());
    Ok((secs, peak))
}

pub(super) fn cli(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let o = Opts::parse(args)?;
    let mmpk = release_bin(ctx, "mmpk-cli", &[], "mmpk")?;
    let data = data_dir(ctx, "cli")?;
    let src = data.join(format!("c{}.npy", o.mib));
    let src_f = data.join(format!("f{}.npy", o.mib));
    make_npy(&src, o.mib, false)?;
    make_npy(&src_f, o.mib, true)?;
    // Warm the page cache with both sources.
    for p in [&src, &src_f] {
        let _ = fs::read(p).map(drop);
    }
    let copy = data.join("copy.npy");
    let db = data.join("new.mmpk");
    let out = data.join("out.npy");
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();
    let names = [
        "cp",
        "mmpk put --npy",
        "mmpk export",
        "cat | cat > file",
        "cat | mmpk put --npy -",
        "mmpk put --npy (Fortran order)",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut peaks: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
    let indices: Vec<usize> = (0..names.len()).collect();
    let clock = Clock::start();
    for round in 0..o.rounds {
        // `export` needs the entry `put` makes: keep that pair in order.
        for &i in rotated(&indices, round) {
            let _ = fs::remove_file(&copy);
            if i != 2 {
                let _ = fs::remove_file(&db);
            } else if !db.exists() {
                run(Command::new(&mmpk)
                    .args(["put", &s(&db), "k", "--npy", &s(&src)])
                    .stdout(Stdio::null()))?;
            }
            let _ = fs::remove_file(&out);
            let mut cmd = match i {
                0 => {
                    let mut c = Command::new("cp");
                    c.arg(&src).arg(&copy);
                    c
                }
                1 => {
                    let mut c = Command::new(&mmpk);
                    c.args(["put", &s(&db), "k", "--npy", &s(&src)]);
                    c
                }
                2 => {
                    let mut c = Command::new(&mmpk);
                    c.args(["export", &s(&db), "k", &s(&out)]);
                    c
                }
                3 => {
                    let mut c = Command::new("sh");
                    c.args(["-c", "cat \"$1\" | cat > \"$2\"", "sh", &s(&src), &s(&copy)]);
                    c
                }
                4 => {
                    let mut c = Command::new("sh");
                    c.args([
                        "-c",
                        "cat \"$1\" | \"$2\" put \"$3\" k --npy -",
                        "sh",
                        &s(&src),
                        &s(&mmpk),
                        &s(&db),
                    ]);
                    c
                }
                _ => {
                    let mut c = Command::new(&mmpk);
                    c.args(["put", &s(&db), "k", "--npy", &s(&src_f)]);
                    c
                }
            };
            cmd.env("MMPK_REPORT_PEAK_RSS", "1");
            let (secs, peak) = timed(&mut cmd)?;
            times[i].push(secs);
            if let Some(p) = peak {
                peaks[i].push(p);
            }
            if i == 2 {
                // The export must be the source, byte for byte.
                let a = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                let b = fs::metadata(&src).map(|m| m.len()).unwrap_or(1);
                if a != b {
                    return Err(format!("export wrote {a} bytes, the source has {b}"));
                }
            }
        }
        eprintln!("bench cli: round {} of {} done", round + 1, o.rounds);
    }
    let span = clock.stop();
    for p in [&db, &out, &copy] {
        let _ = fs::remove_file(p);
    }

    let med = |i: usize| stats(&times[i]).map_or(f64::NAN, |s| s.median);
    let bytes = (o.mib << 20) as f64;
    let mut r = String::new();
    r.push_str(&format!(
        "## CLI streaming array I/O (`cargo xtask bench cli`)\n\n\
         A {} MiB float32 `.npy` (every byte written, not sparse), page cache warm, `sync` \
         (untimed) before every command; fresh processes, contenders interleaved, the order \
         rotated each round; medians with min – max over {} rounds. Peak resident memory \
         is the `mmpk` process's own `VmHWM`. {} CPUs; `cp`: {}. {}\n\n\
         | command | time | throughput | vs `cp` | peak resident memory |\n\
         |---|---:|---:|---:|---:|\n",
        o.mib,
        o.rounds,
        cpus(),
        first_line(Command::new("cp").arg("--version")),
        span.line(&ctx.root),
    ));
    for (i, name) in names.iter().enumerate() {
        let Some(st) = stats(&times[i]) else { continue };
        let peer = if (3..=4).contains(&i) { med(3) } else { med(0) };
        let vs = if i == 0 || i == 3 {
            "peer".to_string()
        } else {
            format!("{:.2}x", st.median / peer)
        };
        let peak = peaks[i]
            .iter()
            .max()
            .map_or("—".to_string(), |&kb| fmt_kib(kb as f64));
        r.push_str(&format!(
            "| `{}` | {} | {} | {vs} | {peak} |\n",
            name.replace('|', "\\|"),
            fmt_spread(st),
            gbps(bytes, Some(st.median)),
        ));
    }
    r.push_str(
        "\n`vs cp`: the pipe rows against `cat | cat > file`, the others against `cp` of the same \
         file. The target (issue 15) is `mmpk put --npy` within 1.1x `cp`, under 64 MiB \
         resident for any size (the 4 GiB case is the test \
         `npy::a_4_gib_array_streams_in_and_out_in_bounded_memory` of mmpk-cli).\n\n",
    );
    print!("{r}");
    SECTION.publish(ctx, &r, o.write, o.quick, &ctx.target.join("bench-data"))
}
