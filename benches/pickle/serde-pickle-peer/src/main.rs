//! serde-pickle side of `cargo xtask bench pickle` (see BENCHMARKS.md).
//!
//! ```text
//! serde-pickle-peer time FILE [--warmup W] [--iters K]
//!     one line per timed iteration: `decode\t<seconds>` for
//!     `serde_pickle::value_from_slice(bytes, DeOptions::default())` and
//!     `encode\t<seconds>` for `serde_pickle::value_to_vec(&value,
//!     SerOptions::default())` (serde-pickle writes protocol 3, so its bytes
//!     differ from the input's; informational only)
//! serde-pickle-peer peak FILE
//!     decodes once in this fresh process: `peak\t<VmHWM kB after>\t<VmHWM kB before>`
//! ```
//!
//! Decoded values are dropped outside the timed region, as the other
//! contenders do.
use std::process::ExitCode;
use std::time::Instant;

use serde_pickle::{DeOptions, SerOptions};

#[path = "../../../timing.rs"]
mod timing;
use timing::{main_of, read, vm_hwm_kb, TimeArgs};

fn main() -> ExitCode {
    main_of("serde-pickle-peer", |args| {
        match args.first().map(String::as_str) {
            Some("time") => time(&args[1..]),
            Some("peak") => peak(&args[1..]),
            _ => Err("usage: serde-pickle-peer time|peak ... (see the source)".into()),
        }
    })
}

fn time(args: &[String]) -> Result<(), String> {
    let TimeArgs {
        file: path,
        warmup,
        iters,
        ..
    } = TimeArgs::parse(args, false)?;
    let data = read(&path)?;
    let mut out = String::new();
    for i in 0..warmup + iters {
        let t = Instant::now();
        let v = serde_pickle::value_from_slice(&data, DeOptions::default())
            .map_err(|e| format!("{path}: {e}"))?;
        let td = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let bytes = serde_pickle::value_to_vec(&v, SerOptions::default())
            .map_err(|e| format!("{path}: {e}"))?;
        let te = t.elapsed().as_secs_f64();
        std::hint::black_box(&bytes);
        drop((v, bytes));
        if i >= warmup {
            out.push_str(&format!("decode\t{td:.9}\nencode\t{te:.9}\n"));
        }
    }
    print!("{out}");
    Ok(())
}

fn peak(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err("usage: serde-pickle-peer peak FILE".into());
    };
    let data = read(path)?;
    let before = vm_hwm_kb()?;
    let v = serde_pickle::value_from_slice(&data, DeOptions::default())
        .map_err(|e| format!("{path}: {e}"))?;
    let after = vm_hwm_kb()?;
    std::hint::black_box(&v);
    println!("peak\t{after}\t{before}");
    Ok(())
}
