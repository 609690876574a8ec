//! mmpk's side of `cargo xtask bench durable` (issue 16, "the cost of
//! durability"): inserts into a new file, each timed on its own, printed as
//! one `insert<TAB>seconds<TAB>seconds...` line (one value per insert), as
//! `benches/durable/peers.py` prints its peers' (SQLite, h5py, the Python
//! package).
//!
//! ```text
//! bench_durable small (durable|default|fdatasync) OUT --n N
//!     N float64[128] arrays, keys k0, k1, ... (W3's arrays)
//! bench_durable big (durable|default|fdatasync) OUT --n N --mib M
//!     N float32 arrays of M MiB each
//! bench_durable serve (durable|default|fdatasync) OUT
//!     small inserts on request: one line on stdin, one insert (k0, k1,
//!     ...), its time in seconds on stdout; for `benches/durable/
//!     interleave.py`, which alternates contenders insert by insert
//! ```
//!
//! `durable` and `default` are mmpk's two modes (`OpenOptions::durable`);
//! `fdatasync` is the floor of one barrier: the array's bytes appended to a
//! plain file with one `pwrite`, then one `fdatasync`. The file is created
//! (and, durable, synced) before the first timed insert.
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mmpk::OpenOptions;
use ndarray::Array1;

type R<T> = Result<T, Box<dyn std::error::Error>>;

#[path = "../../../../benches/timing.rs"]
mod timing;
use timing::{arg, main_of};

/// The `i`th array of the workload (as `peers.py` makes it).
fn array(task: &str, i: usize, mib: usize) -> Array1<f64> {
    match task {
        "small" => Array1::from_elem(128, i as f64),
        _ => Array1::from_shape_fn(mib * (1 << 20) / 8, |j| (i + j % 1000) as f64),
    }
}

/// One contender's inserts, one at a time (`serve`).
enum Inserter {
    Dict(mmpk::Dict),
    File(File, u64),
}

impl Inserter {
    fn new(contender: &str, path: &Path) -> R<Inserter> {
        let _ = std::fs::remove_file(path);
        match contender {
            "durable" | "default" => {
                let mut o = OpenOptions::new();
                o.create_new(true).durable(contender == "durable");
                // SAFETY: the benchmark's own new file; nobody else truncates it.
                Ok(Inserter::Dict(unsafe { o.open(path)? }))
            }
            "fdatasync" => {
                let f = File::create(path)?;
                f.sync_all()?;
                Ok(Inserter::File(f, 0))
            }
            other => Err(format!("unknown contender `{other}`").into()),
        }
    }

    /// Inserts the `i`th array of `task`; returns the seconds it took.
    fn insert(&mut self, task: &str, i: usize, mib: usize) -> R<f64> {
        let a = array(task, i, mib);
        match self {
            Inserter::Dict(d) => {
                let key = format!("k{i}");
                let t = Instant::now();
                d.insert_array(&key, &a)?;
                Ok(t.elapsed().as_secs_f64())
            }
            Inserter::File(f, at) => {
                let bytes: &[u8] = bytemuck::cast_slice(a.as_slice().ok_or("not contiguous")?);
                let t = Instant::now();
                f.write_all_at(bytes, *at)?;
                f.sync_data()?;
                let s = t.elapsed().as_secs_f64();
                *at += bytes.len() as u64;
                Ok(s)
            }
        }
    }
}

/// `serve CONTENDER OUT`: an insert per line read, its time written back.
fn serve(args: &[String]) -> R<()> {
    let [_, contender, out, ..] = args else {
        return Err("usage: bench_durable serve durable|default|fdatasync OUT".into());
    };
    let path = Path::new(out);
    let mut ins = Inserter::new(contender, path)?;
    let mut stdout = std::io::stdout().lock();
    for (i, line) in std::io::stdin().lines().enumerate() {
        line?;
        let s = ins.insert("small", i, 0)?;
        writeln!(stdout, "{s:.9}")?;
        stdout.flush()?;
    }
    drop(ins);
    let _ = std::fs::remove_file(path);
    Ok(())
}

fn run(args: &[String]) -> R<Vec<f64>> {
    let [task, contender, out, ..] = args else {
        return Err("usage: bench_durable small|big durable|default|fdatasync OUT --n N".into());
    };
    if task != "small" && task != "big" {
        return Err(format!("unknown task `{task}`").into());
    }
    let n = arg(args, "--n", 100)?;
    let mib = arg(args, "--mib", 16)?;
    let path = Path::new(out);
    let mut ins = Inserter::new(contender, path)?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        times.push(ins.insert(task, i, mib)?);
    }
    if let Inserter::Dict(d) = &ins {
        if d.len()? != n {
            return Err("keys missing after the inserts".into());
        }
    }
    drop(ins);
    let _ = std::fs::remove_file(path);
    Ok(times)
}

fn main() -> ExitCode {
    main_of("bench_durable", |args| {
        if args.first().map(String::as_str) == Some("serve") {
            return serve(args);
        }
        let mut line = String::from("insert");
        for t in run(args)? {
            line.push_str(&format!("\t{t:.9}"));
        }
        let _ = writeln!(std::io::stdout().lock(), "{line}");
        Ok(())
    })
}
