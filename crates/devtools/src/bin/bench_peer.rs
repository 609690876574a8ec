//! pickle-ops side of `cargo xtask bench pickle` (see BENCHMARKS.md); build
//! with `cargo build --release -p mmpk-devtools --bin bench_peer`.
//!
//! ```text
//! bench_peer time FILE [--warmup W] [--iters K] [--check]
//!     one line per timed iteration: `decode\t<seconds>` and `encode\t<seconds>`
//!     (encode of the graph just decoded, at the file's protocol); --check
//!     first makes sure that encode(decode(b)) == b
//! bench_peer peak FILE
//!     decodes once in this fresh process: `peak\t<VmHWM kB after>\t<VmHWM kB before>`
//! bench_peer check-dict N FILE
//!     builds {str(i): [i, float(i), str(i)] for i in range(N)} in Rust, encodes
//!     it at protocol 4 and prints `same\ttrue` if the bytes equal FILE's
//! ```
//!
//! Decoded values are dropped outside the timed region, as the peers do.
use std::process::ExitCode;
use std::time::Instant;

use pickle_ops::{decode, encode};

#[path = "../../../../benches/timing.rs"]
mod timing;
use timing::{main_of, read, vm_hwm_kb, TimeArgs};

fn main() -> ExitCode {
    main_of("bench_peer", |args| {
        match args.first().map(String::as_str) {
            Some("time") => time(&args[1..]),
            Some("peak") => peak(&args[1..]),
            Some("check-dict") => check_dict(&args[1..]),
            _ => Err("usage: bench_peer time|peak|check-dict ... (see the source)".into()),
        }
    })
}

fn time(args: &[String]) -> Result<(), String> {
    let TimeArgs {
        file: path,
        warmup,
        iters,
        check,
    } = TimeArgs::parse(args, true)?;
    let data = read(&path)?;
    let opts = decode::DecodeOptions::default();
    let protocol = match data.as_slice() {
        [0x80, p, ..] => *p,
        _ => 0,
    };
    if check {
        let p = decode::decode(&data, &opts).map_err(|e| format!("{path}: {e}"))?;
        let again = encode::encode(&p, protocol).map_err(|e| format!("{path}: {e}"))?;
        if again != data {
            return Err(format!("{path}: encode(decode(b)) != b"));
        }
    }
    let mut out = String::new();
    for i in 0..warmup + iters {
        let t = Instant::now();
        let p = decode::decode(&data, &opts).map_err(|e| format!("{path}: {e}"))?;
        let td = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let bytes = encode::encode(&p, protocol).map_err(|e| format!("{path}: {e}"))?;
        let te = t.elapsed().as_secs_f64();
        std::hint::black_box(&bytes);
        drop((p, bytes));
        // The floor of any encoder here: the same number of bytes written
        // into a new buffer (allocation and first-touch page faults).
        let t = Instant::now();
        let copy = data.to_vec();
        let tf = t.elapsed().as_secs_f64();
        std::hint::black_box(&copy);
        drop(copy);
        if i >= warmup {
            out.push_str(&format!(
                "decode\t{td:.9}\nencode\t{te:.9}\nfloor\t{tf:.9}\n"
            ));
        }
    }
    print!("{out}");
    Ok(())
}

fn peak(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err("usage: bench_peer peak FILE".into());
    };
    let data = read(path)?;
    let before = vm_hwm_kb()?;
    let p = decode::decode(&data, &decode::DecodeOptions::default()).map_err(|e| format!("{e}"))?;
    let after = vm_hwm_kb()?;
    std::hint::black_box(&p);
    println!("peak\t{after}\t{before}");
    Ok(())
}

#[path = "../../../pickle-ops/benches/shared/data.rs"]
mod data;
use data::build_dict;

fn check_dict(args: &[String]) -> Result<(), String> {
    let [n, path] = args else {
        return Err("usage: bench_peer check-dict N FILE".into());
    };
    let n: usize = n.parse().map_err(|_| format!("bad N `{n}`"))?;
    let data = read(path)?;
    let bytes = encode::encode(&build_dict(n), 4).map_err(|e| format!("{e}"))?;
    println!("same\t{}", bytes == data);
    Ok(())
}
