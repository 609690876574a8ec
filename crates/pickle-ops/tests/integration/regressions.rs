//! Inputs the fuzzers found (`fuzz/`), kept as regression tests: each runs
//! the decode target's property. Every one of them once broke it.

use pickle_ops::{decode, encode, json, resolve};

/// The property of `fuzz/fuzz_targets/decode.rs`.
fn check(data: &[u8]) -> Result<(), String> {
    let mut opts = decode::DecodeOptions::default();
    opts.max_compare_work = 100_000;
    let Ok(p) = decode::decode(data, &opts) else {
        return Ok(());
    };
    let mut jopts = json::JsonOptions::default();
    jopts.max_nodes = 100_000;
    jopts.max_int_digits = 10_000;
    let mut resolved = p.clone();
    if resolve::resolve(&mut resolved, 100_000).is_err() {
        return Ok(());
    }
    let want = json::pickle_to_json(&resolved, &jopts);
    for proto in 0..=5u8 {
        if let Ok(bytes) = encode::encode(&p, proto) {
            decode::decode(&bytes, &opts)
                .map_err(|e| format!("protocol {proto}: our encoding does not decode: {e}"))?;
        }
    }
    for proto in [4u8, 5] {
        let Ok(bytes) = encode::encode(&resolved, proto) else {
            continue;
        };
        let mut again = match decode::decode(&bytes, &opts) {
            Ok(p) => p,
            Err(e)
                if matches!(
                    e.kind,
                    decode::DecodeErrorKind::NotCallable(_)
                        | decode::DecodeErrorKind::BadReduceArgs(_)
                ) =>
            {
                continue
            }
            Err(e) => {
                return Err(format!(
                    "protocol {proto}: resolved encoding does not decode: {e}"
                ))
            }
        };
        if resolve::resolve(&mut again, 100_000).is_ok() {
            if let (Ok(a), Ok(b)) = (&want, json::pickle_to_json(&again, &jopts)) {
                if !a.contains("oob_buffer") && a != &b {
                    return Err(format!("protocol {proto}: {a} != {b}"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = check(&data) {
            panic!("{}: {e}", path.display());
        }
        n += 1;
    }
    assert!(n >= 5, "only {n} regression inputs");
}
