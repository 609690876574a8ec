//! Stored values as zarr attributes: the values JSON expresses.

use std::fmt::Write as _;

use pickle_ops::json::encode_str;
use pickle_ops::{NodeId, Pickle, PyInt, Value};

use crate::dtype::{ByteOrder, Dtype, DtypeKind};
use crate::numpy::numpy_scalar;

/// Deepest nesting of lists and dicts written as an attribute.
pub const MAX_ATTR_DEPTH: usize = 64;

/// Largest attribute written, in bytes of JSON.
pub const MAX_ATTR_BYTES: usize = 1 << 20;

/// The value at `root` of `p` as JSON text, or why JSON cannot express it.
///
/// `None`, `bool`, `int` (any size up to Python's 4,300 digits), finite
/// `float`, `str`, `list`, `tuple` (a JSON array: JSON has no tuple),
/// `dict` with `str` keys, and numpy scalars of bool, integer and
/// `float32`/`float64` dtypes (as numbers) are written; anything else
/// (bytes, sets, non-finite floats, other objects, strings with lone
/// surrogates, dicts with other keys) makes the whole value inexpressible.
pub fn attr_json(p: &Pickle, root: NodeId) -> Result<String, String> {
    let mut out = String::new();
    write_node(p, root, 0, &mut out)?;
    Ok(out)
}

fn write_node(p: &Pickle, id: NodeId, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > MAX_ATTR_DEPTH {
        return Err(format!("nested deeper than {MAX_ATTR_DEPTH} levels"));
    }
    if out.len() > MAX_ATTR_BYTES {
        return Err(format!("larger than {MAX_ATTR_BYTES} bytes of JSON"));
    }
    let v = p.get(id).ok_or("a dangling node")?;
    match &*v {
        Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => write_int(i, out)?,
        Value::Float(f) => write_float(*f, out)?,
        Value::Str(s) => {
            let s = s.as_str().ok_or("a str with lone surrogates")?;
            encode_str(s, out);
        }
        Value::List(items) => write_seq(p, items, depth, out)?,
        Value::Tuple(items) => write_seq(p, items, depth, out)?,
        Value::Dict(items) => {
            out.push('{');
            for (i, &(k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = p.get(k).ok_or("a dangling node")?;
                let Value::Str(key) = &*key else {
                    return Err(format!("a dict key of type {}", key.kind_name()));
                };
                encode_str(key.as_str().ok_or("a str with lone surrogates")?, out);
                out.push(':');
                write_node(p, v, depth + 1, out)?;
            }
            out.push('}');
        }
        other => {
            if let Some(s) = numpy_scalar(p, id) {
                return write_scalar(&s.dtype, &s.data, out);
            }
            return Err(format!("a value of type {}", other.kind_name()));
        }
    }
    Ok(())
}

fn write_seq(p: &Pickle, items: &[NodeId], depth: usize, out: &mut String) -> Result<(), String> {
    out.push('[');
    for (i, &it) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_node(p, it, depth + 1, out)?;
    }
    out.push(']');
    Ok(())
}

fn write_int(i: &PyInt, out: &mut String) -> Result<(), String> {
    let s = i
        .to_decimal(pickle_ops::int::INT_MAX_STR_DIGITS)
        .ok_or("an int of more than 4300 digits")?;
    out.push_str(&s);
    Ok(())
}

fn write_float(f: f64, out: &mut String) -> Result<(), String> {
    if !f.is_finite() {
        return Err(format!("a non-finite float ({f})"));
    }
    // `{:?}` is the shortest text that reads back as the same f64, always
    // with a `.` or an exponent (`1.0`, `1e300`, `-0.0`): valid JSON.
    let _ = write!(out, "{f:?}");
    Ok(())
}

/// A numpy scalar of bool, integer or float32/float64 dtype, as a number.
fn write_scalar(dtype: &Dtype, data: &[u8], out: &mut String) -> Result<(), String> {
    let Dtype::Scalar(s) = dtype else {
        return Err("a numpy scalar of a structured dtype".into());
    };
    let mut b = data.to_vec();
    if s.byte_order() == ByteOrder::Big {
        b.reverse();
    }
    let n = b.len();
    let le8 = |signed: bool| -> [u8; 8] {
        let fill = if signed && b.last().is_some_and(|x| x & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut a = [fill; 8];
        a[..n].copy_from_slice(&b[..n]);
        a
    };
    match (s.kind(), n) {
        (DtypeKind::Bool, 1) => out.push_str(if b[0] != 0 { "true" } else { "false" }),
        (DtypeKind::Int, 1 | 2 | 4 | 8) => {
            let _ = write!(out, "{}", i64::from_le_bytes(le8(true)));
        }
        (DtypeKind::UInt, 1 | 2 | 4 | 8) => {
            let _ = write!(out, "{}", u64::from_le_bytes(le8(false)));
        }
        (DtypeKind::Float, 4) => {
            let f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if !f.is_finite() {
                return Err(format!("a non-finite float ({f})"));
            }
            // The float32's own shortest text: numpy prints it so.
            let _ = write!(out, "{f:?}");
        }
        (DtypeKind::Float, 8) => write_float(f64::from_le_bytes(le8(false)), out)?,
        _ => return Err(format!("a numpy scalar of dtype {}", s.str())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(s: &str) -> Result<String, String> {
        let p = pickle_ops::json::from_json_str(s).unwrap();
        attr_json(&p, p.root())
    }

    #[test]
    fn plain_values() {
        assert_eq!(json_of(r#"{"none": null}"#).unwrap(), "null");
        let list = r#"{"list": [{"int": "1"}, {"float": "0x1.4000000000000p+1"},
            {"str": "a\"b\n"}, {"bool": true}, {"int": "-99999999999999999999"}]}"#;
        assert_eq!(
            json_of(list).unwrap(),
            r#"[1,2.5,"a\"b\n",true,-99999999999999999999]"#
        );
        let dict = r#"{"dict": [[{"str": "k"}, {"tuple": [{"int": "1"}, {"int": "2"}]}]]}"#;
        assert_eq!(json_of(dict).unwrap(), r#"{"k":[1,2]}"#);
        assert_eq!(
            json_of(r#"{"float": "0x1.0p+100"}"#).unwrap(),
            "1.2676506002282294e30"
        );
    }

    #[test]
    fn refusals() {
        for s in [
            r#"{"bytes_b64": "AAE="}"#,
            r#"{"dict": [[{"int": "1"}, {"int": "2"}]]}"#,
            r#"{"set": [{"int": "1"}]}"#,
            r#"{"float": "nan"}"#,
            r#"{"list": [{"float": "inf"}]}"#,
            r#"{"global": ["os", "system"]}"#,
        ] {
            assert!(json_of(s).is_err(), "{s}");
        }
        // Deep nesting is refused, not a stack overflow.
        let mut p = Pickle::new();
        let mut id = p.push(Value::List(Vec::new()));
        for _ in 0..100_000 {
            id = p.push(Value::List(vec![id]));
        }
        assert!(attr_json(&p, id).unwrap_err().contains("deeper"));
        // A list holding itself, and shared lists that double at each level.
        let me = p.push_node(Value::List(Vec::new()));
        p.replace(me, Value::List(vec![me]));
        assert!(attr_json(&p, me).is_err());
        let mut id = p.push(Value::Str("x".repeat(100).into()));
        for _ in 0..60 {
            id = p.push(Value::List(vec![id, id]));
        }
        assert!(attr_json(&p, id).unwrap_err().contains("bytes"));
    }
}
