//! The property of the `decode` fuzz target, also run on the inputs the
//! fuzzers found (crates/pickle-ops/tests/integration/regressions.rs
//! includes this file with `#[path]`): the decoder (raw and resolved),
//! canonical JSON and re-encoding never panic; the raw graph encodes at
//! every protocol to bytes that decode; and the resolved value, encoded at
//! protocol 4 or 5, decodes and resolves to itself.

use pickle_ops::{decode, encode, json, resolve};

/// `Err` says how `data` breaks the property.
pub fn check(data: &[u8]) -> Result<(), String> {
    let mut opts = decode::DecodeOptions::default();
    opts.max_compare_work = 100_000;
    let Ok(p) = decode::decode(data, &opts) else {
        return Ok(());
    };
    let mut jopts = json::JsonOptions::default();
    jopts.max_nodes = 100_000;
    jopts.max_int_digits = 10_000;
    let _ = json::pickle_to_json(&p, &jopts);
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
            // The stream called a value that resolving folded into plain
            // data (e.g. `set(l)(...)`): CPython could not load it either.
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
                // Out-of-band buffers are numbered by their order in the
                // stream, which unreachable ones no longer take part in.
                if !a.contains("oob_buffer") && a != &b {
                    return Err(format!("protocol {proto}: {a} != {b}"));
                }
            }
        }
    }
    Ok(())
}
