//! Inspecting any pickle safely: disassemble it, decode it into the
//! data-only model, print its canonical JSON, and re-encode it.
//!
//! What it teaches:
//! - `pickle_ops::dis` prints exactly what `python3 -m pickletools` prints;
//! - `pickle_ops::decode::decode` never runs code: globals and `REDUCE`
//!   calls stay inert nodes, and hostile input gives a typed error with a
//!   byte offset, never a panic or an unbounded allocation;
//! - `pickle_ops::json` prints the canonical JSON form (and reads it back);
//! - `pickle_ops::encode::encode` writes what CPython's `pickle.dumps`
//!   writes for the same object graph.
//!
//! ```text
//! cargo run -p pickle-ops --example inspect_pickle -- [FILE.pkl]
//! python3 -c "import pickle,sys; sys.stdout.buffer.write(pickle.dumps({'a': [1, 2.5]}, 4))" > a.pkl
//! ```
//!
//! Without FILE it inspects a built-in pickle (`pickle.dumps({'a': [1,
//! 2.5], 'f': collections.OrderedDict()}, 4)`), then shows the error a
//! truncated copy gives.

use std::error::Error;

use pickle_ops::decode::{decode, DecodeOptions};
use pickle_ops::dis::{dis_to_string, DisOptions};
use pickle_ops::encode::encode;
use pickle_ops::json::{from_json_str, pickle_to_json, JsonOptions};
use pickle_ops::value::ObjectKind;
use pickle_ops::{Pickle, Value};

/// `pickle.dumps({'a': [1, 2.5], 'f': collections.OrderedDict()}, 4)`.
const SAMPLE: &[u8] = b"\x80\x04\x95=\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00e\x8c\x01f\x94\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94u.";

fn show(bytes: &[u8]) -> Result<(), Box<dyn Error>> {
    // 1. The disassembly, as pickletools prints it (text up to an error).
    let (text, outcome) = dis_to_string(bytes, &DisOptions::default());
    print!("{text}");
    if let Err(e) = outcome {
        println!("pickletools would raise {:?}: {e}", e.kind);
    }

    // 2. Decode: data only. Errors say what and where.
    let pickle = match decode(bytes, &DecodeOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            println!("decode error ({:?}): {e}", e.kind);
            return Ok(());
        }
    };
    describe(&pickle);

    // 3. Canonical JSON, and back.
    let json = pickle_to_json(&pickle, &JsonOptions::default())?;
    println!("canonical JSON: {json}");
    let again = from_json_str(&json)?;
    assert_eq!(pickle_to_json(&again, &JsonOptions::default())?, json);

    // 4. Re-encode at the protocol of the input: CPython's bytes.
    let protocol = match bytes {
        [0x80, p, ..] => *p,
        _ => 0,
    };
    let out = encode(&pickle, protocol)?;
    println!(
        "re-encoded at protocol {protocol}: {} bytes, {}",
        out.len(),
        if out == bytes {
            "identical to the input"
        } else {
            "different from the input (another pickler wrote it)"
        }
    );
    Ok(())
}

/// What the root is, one level deep.
fn describe(p: &Pickle) {
    let root = p.value(p.root());
    println!("root: a {}", root.kind_name());
    if let Value::Dict(items) = &*root {
        for (k, v) in items {
            let v = p.value(*v);
            let what = match &*v {
                Value::Object(o) => match o.kind {
                    ObjectKind::Reduce { callable, .. } => match &*p.value(callable) {
                        Value::Global(g) => format!(
                            "a call of {}.{} (recorded, never run)",
                            String::from_utf8_lossy(g.module.as_bytes()),
                            String::from_utf8_lossy(g.name.as_bytes())
                        ),
                        other => format!("a call of a {} (recorded, never run)", other.kind_name()),
                    },
                    _ => "an object (recorded, never built)".to_string(),
                },
                other => format!("a {}", other.kind_name()),
            };
            let key = match &*p.value(*k) {
                Value::Str(s) => pickle_ops::repr::str_repr(s.as_str().unwrap_or("?")),
                other => other.kind_name().to_string(),
            };
            println!("  {key} -> {what}");
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    match std::env::args().nth(1) {
        Some(path) => show(&std::fs::read(path)?),
        None => {
            show(SAMPLE)?;
            println!("\n-- the same pickle cut short:");
            show(&SAMPLE[..30])
        }
    }
}
