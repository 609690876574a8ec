//! mmpk's side of `cargo xtask bench files` (W1-W6): one measurement per
//! process, printed as `measure<TAB>value` lines like the Python peers in
//! `benches/files/peers.py`.
//!
//! ```text
//! bench_files w1 (mmpk|raw) OUT --mib N     write one float32 array
//! bench_files w2 mmpk FILE --mib N          open, view, parallel sum
//! bench_files w3 mmpk OUT --n N             insert N float64[128] arrays
//! bench_files w3read mmpk FILE --n N        open, read every key
//! bench_files w3floor raw FILE              touch every page of a fresh map;
//!                                           read(2) the whole file
//! bench_files manymake mmpk OUT --n N       insert N small ints (`k{i}: i`)
//! bench_files manyopen mmpk FILE --n N      open, count the keys
//! bench_files w4 mmpk OUT --n N             store the 1M-entry-style dict
//! bench_files w4read mmpk FILE              read it back
//! bench_files w5 mmpk OUT --procs P --n N   P processes insert N arrays each
//! bench_files w6make mmpk OUT --gib G       a G GiB reservation + small keys
//! bench_files w6 mmpk FILE                  open, read one key, report RSS
//! ```
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use mmpk::{Dict, OpenOptions};
use ndarray::Array1;
use pickle_ops::{Pickle, Value};

type R<T> = Result<T, Box<dyn std::error::Error>>;

#[path = "../../../../benches/timing.rs"]
mod timing;
use timing::{arg, emit, main_of};

fn f32_array(mib: usize) -> Array1<f32> {
    let n = mib * (1 << 20) / 4;
    Array1::from_shape_fn(n, |i| (i % 1000) as f32)
}

fn small(i: usize) -> Array1<f64> {
    Array1::from_elem(128, i as f64)
}

fn create(path: &Path) -> R<Dict> {
    let _ = std::fs::remove_file(path);
    // SAFETY: the benchmark's own file; nobody else truncates it.
    Ok(unsafe { Dict::create(path)? })
}

fn open_ro(path: &Path) -> R<Dict> {
    // SAFETY: as above.
    Ok(unsafe { OpenOptions::new().read_only(true).open(path)? })
}

#[path = "../../../pickle-ops/benches/shared/data.rs"]
mod data;
use data::build_dict;

fn vm_hwm_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

fn main() -> ExitCode {
    main_of("bench_files", run)
}

fn run(args: &[String]) -> R<()> {
    let [task, contender, path, rest @ ..] = args else {
        return Err("usage: bench_files TASK CONTENDER PATH [OPTIONS] (see the source)".into());
    };
    let path = Path::new(path);
    match (task.as_str(), contender.as_str()) {
        ("w1", "mmpk") => {
            let a = f32_array(arg(rest, "--mib", 1024)?);
            let _ = std::fs::remove_file(path);
            let t = Instant::now();
            let d = create(path)?;
            d.insert_array("a", &a)?;
            drop(d);
            emit("write", t.elapsed().as_secs_f64());
        }
        ("w1", "raw") => {
            // The same values as `f32_array`, built straight into bytes (no
            // second 1 GiB buffer beside the source, as for the others).
            let n = arg(rest, "--mib", 1024)? * (1 << 20) / 4;
            let mut bytes: Vec<u8> = Vec::with_capacity(n * 4);
            for i in 0..n {
                bytes.extend_from_slice(&((i % 1000) as f32).to_ne_bytes());
            }
            let _ = std::fs::remove_file(path);
            let t = Instant::now();
            let mut f = std::fs::File::create(path)?;
            f.write_all(&bytes)?;
            drop(f);
            emit("write", t.elapsed().as_secs_f64());
        }
        ("w2", "mmpk") => {
            let t = Instant::now();
            let d = open_ro(path)?;
            let a = d.array("a")?;
            let v = a.view::<f32>()?;
            emit("open", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let s = mmpk::par::sum_f64(v);
            emit("sum", t.elapsed().as_secs_f64());
            emit("value", s);
        }
        ("w3", "mmpk") => {
            let n = arg(rest, "--n", 1000)?;
            let arrays: Vec<_> = (0..n).map(small).collect();
            let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let _ = std::fs::remove_file(path);
            let t = Instant::now();
            let d = create(path)?;
            for (k, a) in keys.iter().zip(&arrays) {
                d.insert_array(k, a)?;
            }
            drop(d);
            emit("insert", t.elapsed().as_secs_f64());
        }
        ("w3read", "mmpk") => {
            let n = arg(rest, "--n", 1000)?;
            let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let t = Instant::now();
            let d = open_ro(path)?;
            if d.len()? != n {
                return Err(format!("{} keys, expected {n}", d.len()?).into());
            }
            emit("open", t.elapsed().as_secs_f64());
            let mut total = 0.0;
            for k in &keys {
                total += d.array(k)?.view::<f64>()?[[0]];
            }
            emit("read", t.elapsed().as_secs_f64());
            let want = (n * n.saturating_sub(1) / 2) as f64;
            if total != want {
                return Err(format!("read {total}, expected {want}").into());
            }
        }
        ("w3floor", "raw") => {
            // What any reader that looks at every page of the file pays
            // before parsing anything: the kernel mapping each page-cache
            // page into a fresh map, and copying the bytes out with read(2).
            use std::os::unix::fs::FileExt as _;
            let f = std::fs::File::open(path)?;
            let t = Instant::now();
            // SAFETY: the benchmark's own file, read only, not truncated
            // while mapped.
            let m = unsafe { memmap2::Mmap::map(&f)? };
            let mut sum = 0u64;
            for i in (0..m.len()).step_by(4096) {
                sum += u64::from(m[i]);
            }
            emit("map", t.elapsed().as_secs_f64());
            drop(m);
            let mut buf = vec![0u8; 256 << 10];
            let t = Instant::now();
            let mut off = 0u64;
            loop {
                let n = f.read_at(&mut buf, off)?;
                if n == 0 {
                    break;
                }
                sum += u64::from(buf[n - 1]);
                off += n as u64;
            }
            emit("read", t.elapsed().as_secs_f64());
            std::hint::black_box(sum);
        }
        ("manymake", "mmpk") => {
            let n = arg(rest, "--n", 1000)?;
            let d = create(path)?;
            let t = Instant::now();
            for i in 0..n {
                let mut p = Pickle::with_capacity(1);
                let v = p.push(Value::int(i as i64));
                p.set_root(v);
                d.insert_pickle(&format!("k{i}"), &p)?;
            }
            drop(d);
            emit("insert", t.elapsed().as_secs_f64());
            emit("bytes", std::fs::metadata(path)?.len() as f64);
        }
        ("manyopen", "mmpk") => {
            let n = arg(rest, "--n", 1000)?;
            let t = Instant::now();
            let d = open_ro(path)?;
            if d.len()? != n {
                return Err(format!("{} keys, expected {n}", d.len()?).into());
            }
            emit("open", t.elapsed().as_secs_f64());
        }
        ("w4", "mmpk") => {
            let p = build_dict(arg(rest, "--n", 1_000_000)?);
            let _ = std::fs::remove_file(path);
            let t = Instant::now();
            let d = create(path)?;
            d.insert_pickle("obj", &p)?;
            drop(d);
            emit("write", t.elapsed().as_secs_f64());
        }
        ("w4read", "mmpk") => {
            let t = Instant::now();
            let d = open_ro(path)?;
            let p = d.get_pickle("obj")?;
            emit("read", t.elapsed().as_secs_f64());
            let n = match p.node(p.root()) {
                Some(Value::Dict(items)) => items.len(),
                _ => return Err("obj is not a dict".into()),
            };
            emit("entries", n as f64);
        }
        ("w5", "mmpk") => {
            let procs = arg(rest, "--procs", 4)?;
            let n = arg(rest, "--n", 1000)?;
            drop(create(path)?);
            let exe = std::env::current_exe()?;
            let t = Instant::now();
            let children: Vec<_> = (0..procs)
                .map(|p| {
                    Command::new(&exe)
                        .args(["w5child", "mmpk"])
                        .arg(path)
                        .args(["--n", &n.to_string(), "--id", &p.to_string()])
                        .spawn()
                })
                .collect::<Result<_, _>>()?;
            for mut c in children {
                if !c.wait()?.success() {
                    return Err("a writer failed".into());
                }
            }
            emit("total", t.elapsed().as_secs_f64());
            let d = open_ro(path)?;
            let mut lost = 0;
            for p in 0..procs {
                for i in 0..n {
                    lost += !d.contains(&format!("p{p}_{i}"))? as usize;
                }
            }
            emit("lost", lost as f64);
        }
        ("w5child", "mmpk") => {
            let n = arg(rest, "--n", 1000)?;
            let id = arg(rest, "--id", 0)?;
            // SAFETY: the benchmark's own file; writers follow the protocol.
            let d = unsafe { Dict::open(path)? };
            for i in 0..n {
                d.insert_array(&format!("p{id}_{i}"), &small(i))?;
            }
        }
        ("w6make", "mmpk") => {
            let gib = arg(rest, "--gib", 10)?;
            let d = create(path)?;
            d.reserve::<f32>("big", &[gib << 28])?;
            for i in 0..100 {
                d.insert_array(&format!("k{i}"), &small(i))?;
            }
        }
        ("w6", "mmpk") => {
            let t = Instant::now();
            let d = open_ro(path)?;
            let x = d.array("k42")?.view::<f64>()?[[0]];
            emit("open", t.elapsed().as_secs_f64());
            if x != 42.0 {
                return Err(format!("k42 holds {x}").into());
            }
            emit("rss_kib", vm_hwm_kib());
        }
        (t, c) => return Err(format!("unknown task/contender {t} {c}").into()),
    }
    Ok(())
}
