//! Rust peers of `cargo xtask bench files` W1 and W2: the `ndarray-npy` and
//! `safetensors` crates. One measurement per process, printed as
//! `measure<TAB>value` lines like mmpk's `crates/devtools/src/bin/bench_files.rs`
//! and the Python peers in `benches/files/peers.py`.
//!
//! ```text
//! rust-peer w1 (ndarray-npy|safetensors) OUT --mib N   write one float32 array
//! rust-peer w2 (ndarray-npy|safetensors) FILE --mib N  open, view (mmap), sum
//! ```
//!
//! W1 times from before creating the file to after it is closed, the source
//! array built beforehand with the values of `bench_files.rs`'s `f32_array`.
//! W2 times `open` (map the file and get a zero-copy view of the array) and
//! `sum` (single-threaded, as `f64`), and prints the sum as `value`.
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use memmap2::Mmap;
use ndarray::{Array1, ArrayView1};
use ndarray_npy::{write_npy, ViewNpyExt};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

type R<T> = Result<T, Box<dyn std::error::Error>>;

#[path = "../../../timing.rs"]
mod timing;
use timing::{arg, emit, main_of};

/// The same values as `f32_array` in `bench_files.rs` and `peers.py`.
fn f32_array(mib: usize) -> Array1<f32> {
    let n = mib * (1 << 20) / 4;
    Array1::from_shape_fn(n, |i| (i % 1000) as f32)
}

/// Single-threaded sum as `f64`, with the 16-lane accumulator of mmpk's
/// per-chunk sum (`mmpk::par::sum_f64`) so the compiler vectorises it.
fn sum_f64(s: &[f32]) -> f64 {
    let mut acc = [0.0f64; 16];
    let mut chunks = s.chunks_exact(16);
    for ch in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(ch) {
            *a += f64::from(x);
        }
    }
    let rest: f64 = chunks.remainder().iter().map(|&x| f64::from(x)).sum();
    acc.iter().sum::<f64>() + rest
}

fn map(path: &Path) -> R<Mmap> {
    let f = File::open(path)?;
    // SAFETY: the benchmark's own file, read only; nobody truncates or
    // writes it while it is mapped.
    Ok(unsafe { Mmap::map(&f)? })
}

fn main() -> ExitCode {
    main_of("rust-peer", run)
}

fn run(args: &[String]) -> R<()> {
    let [task, contender, path, rest @ ..] = args else {
        return Err("usage: rust-peer (w1|w2) (ndarray-npy|safetensors) PATH [--mib N]".into());
    };
    let path = Path::new(path);
    let mib = arg(rest, "--mib", 1024)?;
    match (task.as_str(), contender.as_str()) {
        ("w1", "ndarray-npy") => {
            let a = f32_array(mib);
            let _ = std::fs::remove_file(path);
            let t = Instant::now();
            write_npy(path, &a)?;
            emit("write", t.elapsed().as_secs_f64());
        }
        ("w1", "safetensors") => {
            let a = f32_array(mib);
            let bytes: &[u8] = bytemuck::cast_slice(a.as_slice().ok_or("not contiguous")?);
            let _ = std::fs::remove_file(path);
            let t = Instant::now();
            let view = TensorView::new(Dtype::F32, vec![a.len()], bytes)?;
            safetensors::serialize_to_file([("a", view)], None, path)?;
            emit("write", t.elapsed().as_secs_f64());
        }
        ("w2", "ndarray-npy") => {
            let t = Instant::now();
            let m = map(path)?;
            let v = ArrayView1::<f32>::view_npy(&m)?;
            emit("open", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let s = sum_f64(v.as_slice().ok_or("not contiguous")?);
            emit("sum", t.elapsed().as_secs_f64());
            emit("value", s);
        }
        ("w2", "safetensors") => {
            let t = Instant::now();
            let m = map(path)?;
            let st = SafeTensors::deserialize(&m)?;
            let a = st.tensor("a")?;
            if a.dtype() != Dtype::F32 {
                return Err(format!("tensor a is {:?}, not F32", a.dtype()).into());
            }
            // The data start 8-aligned in the file (safetensors pads its
            // header), so the cast succeeds on a page-aligned map; the
            // fallback decodes little-endian chunks if it ever does not.
            let v: Result<&[f32], _> = bytemuck::try_cast_slice(a.data());
            emit("open", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let s = match v {
                Ok(v) => sum_f64(v),
                Err(_) => a
                    .data()
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .sum(),
            };
            emit("sum", t.elapsed().as_secs_f64());
            emit("value", s);
        }
        (t, c) => return Err(format!("unknown task/contender {t} {c}").into()),
    }
    Ok(())
}
