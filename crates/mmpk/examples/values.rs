//! Generic values: anything Python's pickle can hold, next to the arrays.
//!
//! What it teaches:
//! - building a value with `pickle_ops`' data-only model (`Pickle`, `Value`)
//!   or from canonical JSON (`pickle_ops::json::from_json_str`), and storing
//!   it with `Dict::insert_pickle` (byte-identical to what mmappickle 1.0
//!   writes for the same value);
//! - reading it back with `Dict::get_pickle` (decoding never runs code:
//!   `GLOBAL`/`REDUCE` stay inert nodes) and printing canonical JSON;
//! - `Dict::get`, which returns whichever an entry holds: an array, a masked
//!   array or a value.
//!
//! ```text
//! cargo run -p mmpk --example values -- [FILE]
//! ```
//!
//! Without FILE it works in a temporary directory.

use std::error::Error;

use mmpk::ndarray::array;
use mmpk::pickle_ops::json::{from_json_str, pickle_to_json, JsonOptions};
use mmpk::pickle_ops::repr::str_repr;
use mmpk::pickle_ops::{Pickle, Value};
use mmpk::Dict;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(p) => p.into(),
        None => dir.path().join("values.mmpk"),
    };
    let _ = std::fs::remove_file(&path);
    // SAFETY: a file of this program's own.
    let dict = unsafe { Dict::create(&path)? };

    // {'sensor': 'cam0', 'exposure_ms': 12.5, 'tags': ['night', 'test']}
    // built node by node.
    let mut p = Pickle::new();
    let (sensor, cam0) = (p.push(Value::str("sensor")), p.push(Value::str("cam0")));
    let (exposure, ms) = (
        p.push(Value::str("exposure_ms")),
        p.push(Value::Float(12.5)),
    );
    let night = p.push(Value::str("night"));
    let test = p.push(Value::str("test"));
    let (tags, list) = (
        p.push(Value::str("tags")),
        p.push(Value::List(vec![night, test])),
    );
    let root = p.push(Value::Dict(vec![
        (sensor, cam0),
        (exposure, ms),
        (tags, list),
    ]));
    p.set_root(root);
    dict.insert_pickle("meta", &p)?;

    // The same kind of value from canonical JSON (docs/canonical-json.md).
    let run = from_json_str(r#"{"tuple":[{"int":"7"},{"str":"ok"},{"none":null}]}"#)?;
    dict.insert_pickle("run", &run)?;
    dict.insert_array("image", &array![[1u8, 2], [3, 4]])?;

    // Read them back: canonical JSON is the form mmpk's tools print.
    let meta = dict.get_pickle("meta")?;
    let json = pickle_to_json(&meta, &JsonOptions::default())?;
    println!("meta = {json}");
    let Value::Dict(items) = &*meta.value(meta.root()) else {
        return Err("meta is not a dict".into());
    };
    for (k, v) in items {
        let key = match &*meta.value(*k) {
            Value::Str(s) => str_repr(s.as_str().unwrap_or("?")),
            other => other.kind_name().to_string(),
        };
        println!("  {key}: a {}", meta.value(*v).kind_name());
    }
    assert_eq!(
        pickle_to_json(&dict.get_pickle("run")?, &JsonOptions::default())?,
        r#"{"tuple":[{"int":"7"},{"str":"ok"},{"none":null}]}"#
    );

    // Dict::get: whatever each entry holds.
    for key in dict.keys()? {
        let what = match dict.get(&key)? {
            mmpk::Value::Array(a) => format!("an array {:?} of {}", a.shape(), a.dtype().str()),
            mmpk::Value::Masked(m) => format!("a masked array {:?}", m.data().shape()),
            mmpk::Value::Pickle(p) => format!("a {}", p.value(p.root()).kind_name()),
            _ => "something newer than this example".to_string(),
        };
        println!("{key}: {what}");
    }
    Ok(())
}
