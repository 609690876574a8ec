//! A quick timing of inserts, opens and reads (not a benchmark: see
//! `benches/`). `cargo run --release -p mmpk-devtools --bin perf_smoke [N]`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(100_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("perf.mmpk");
    // SAFETY: a private temporary file.
    let d = unsafe { mmpk::Dict::create(&path)? };
    let a = ndarray::Array1::from_elem(16, 1.0f32);
    let t = Instant::now();
    for i in 0..n {
        d.insert_array(&format!("k{i}"), &a)?;
        if i + 1 == n / 10 {
            println!(
                "first {} inserts: {:?} each",
                i + 1,
                t.elapsed() / (i as u32 + 1)
            );
        }
    }
    let per = t.elapsed() / n as u32;
    println!("{n} inserts: {per:?} each");
    drop(d);
    for _ in 0..3 {
        let t = Instant::now();
        // SAFETY: as above.
        let d = unsafe { mmpk::Dict::open_read_only(&path)? };
        println!("open of {} entries: {:?}", d.len()?, t.elapsed());
    }
    // SAFETY: as above.
    let d = unsafe { mmpk::Dict::open_read_only(&path)? };
    let t = Instant::now();
    let mut s = 0.0;
    for i in 0..n {
        s += d.array(&format!("k{i}"))?.view::<f32>()?.sum();
    }
    println!(
        "{n} gets + views: {:?} each (sum {s})",
        t.elapsed() / n as u32
    );
    let big = ndarray::Array1::from_elem(1 << 28, 1.0f32);
    // SAFETY: as above.
    let w = unsafe { mmpk::Dict::open(&path)? };
    let raw = dir.path().join("raw.bin");
    let t = Instant::now();
    std::fs::write(&raw, mmpk_bytes(&big))?;
    println!("1 GiB raw write(2): {:?}", t.elapsed());
    std::fs::remove_file(&raw)?;
    let t = Instant::now();
    w.insert_array("big", &big)?;
    let el = t.elapsed();
    println!(
        "1 GiB insert: {el:?} ({:.2} GB/s)",
        1.073741824 / el.as_secs_f64()
    );
    let t = Instant::now();
    let got = w.array("big")?;
    let sum = mmpk::par::sum_f64(got.view::<f32>()?);
    println!("1 GiB get + par sum: {:?} (sum {sum})", t.elapsed());
    Ok(())
}

fn mmpk_bytes(a: &ndarray::Array1<f32>) -> Vec<u8> {
    a.iter().flat_map(|x| x.to_ne_bytes()).collect()
}
