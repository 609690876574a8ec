//! A rayon reduction over a mapped array: fill a large reserved array in
//! parallel, then reduce it in parallel, straight from the file's pages.
//!
//! What it teaches:
//! - `Dict::reserve` makes a sparse entry of any size without touching RAM;
//!   `ArrayMut::view_mut` writes into the file through the map;
//! - `mmpk::par::fill_axis0` and `mmpk::par::reduce_axis0` (feature
//!   `rayon`, on by default) split axis 0 into chunks of rows for rayon;
//!   `mmpk::par::sum_f64` is a ready-made parallel sum;
//! - a view of a mapped array is an ordinary `ndarray` view: any rayon or
//!   ndarray code runs on it, and reopening the file finds the data there.
//!
//! ```text
//! cargo run --release -p mmpk --example par_reduce -- [FILE] [--rows N]
//! ```
//!
//! Without FILE it works in a temporary directory. `--rows` (default
//! 200000) sets the size: rows of 256 `f32` (1 KiB each).

use std::error::Error;
use std::time::Instant;

use mmpk::ndarray::Axis;
use mmpk::{par, Dict, OpenOptions};

const COLS: usize = 256;

fn main() -> Result<(), Box<dyn Error>> {
    let mut path = None;
    let mut rows = 200_000usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rows" => rows = it.next().ok_or("--rows needs a value")?.parse()?,
            _ => path = Some(std::path::PathBuf::from(a)),
        }
    }
    let dir = tempfile::tempdir()?;
    let path = path.unwrap_or_else(|| dir.path().join("reduce.mmpk"));
    let _ = std::fs::remove_file(&path);

    // SAFETY: a file of this program's own; nothing else truncates it.
    let dict = unsafe { Dict::create(&path)? };
    dict.reserve::<f32>("signal", &[rows, COLS])?; // sparse: no RAM, no writes
    let t = Instant::now();
    {
        let mut a = dict.array_mut("signal")?;
        // Row r holds r % 1000 + column / 256: known sums to check against.
        par::fill_axis0(a.view_mut::<f32>()?, 4096, |first, mut chunk| {
            for (i, mut row) in chunk.outer_iter_mut().enumerate() {
                let base = ((first + i) % 1000) as f32;
                for (c, x) in row.iter_mut().enumerate() {
                    *x = base + c as f32 / COLS as f32;
                }
            }
        });
    }
    println!(
        "filled {rows} x {COLS} f32 in {:.3} s",
        t.elapsed().as_secs_f64()
    );

    // Reopen read-only: the data is in the file, the view maps it.
    drop(dict);
    // SAFETY: as above.
    let dict = unsafe { OpenOptions::new().read_only(true).open(&path)? };
    let signal = dict.array("signal")?;
    let view = signal.view::<f32>()?;

    // A custom reduction: the maximum of every row's mean, in parallel.
    let t = Instant::now();
    let best = par::reduce_axis0(
        view.view(),
        4096,
        || f64::MIN,
        |chunk| {
            chunk
                .axis_iter(Axis(0))
                .map(|row| row.iter().map(|&x| f64::from(x)).sum::<f64>() / COLS as f64)
                .fold(f64::MIN, f64::max)
        },
        f64::max,
    );
    println!(
        "max row mean {best:.4} in {:.3} s",
        t.elapsed().as_secs_f64()
    );

    // The ready-made parallel sum, against a sequential one.
    let t = Instant::now();
    let total = par::sum_f64(view.view());
    let par_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let seq: f64 = view.iter().map(|&x| f64::from(x)).sum();
    let seq_s = t.elapsed().as_secs_f64();
    println!("sum {total:.1} (parallel {par_s:.3} s, sequential {seq_s:.3} s)");

    // Check against the closed form.
    let per_row_cols: f64 = (0..COLS).map(|c| c as f64 / COLS as f64).sum();
    let expect: f64 = (0..rows)
        .map(|r| (r % 1000) as f64 * COLS as f64 + per_row_cols)
        .sum();
    let rel = |x: f64| (x - expect).abs() / expect.max(1.0);
    if rel(total) > 1e-9 || rel(seq) > 1e-6 {
        return Err(format!("sum {total} (sequential {seq}), expected {expect}").into());
    }
    let want_best = (rows.min(1000) - 1) as f64 + per_row_cols / COLS as f64;
    if (best - want_best).abs() > 1e-3 {
        return Err(format!("max row mean {best}, expected {want_best}").into());
    }
    println!("checked against the closed form");
    Ok(())
}
