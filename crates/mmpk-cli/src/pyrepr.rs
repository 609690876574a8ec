//! A Python-like rendering of canonical JSON for people (`mmpk get` of a
//! value): `{'index': 0, 'time_s': 0.5}`. Kinds without a literal form
//! (globals, reduce, ...) print as their canonical JSON.

use pickle_ops::repr::{bytes_repr, float_repr, str_repr};
use serde_json::Value as J;

/// Most characters printed before `...`.
const MAX: usize = 4000;

/// The value as Python would print it, as far as it can be said.
pub fn render(v: &J) -> String {
    let mut out = String::new();
    go(v, &mut out);
    if out.len() > MAX {
        let mut cut = MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn seq(items: &[J], open: &str, close: &str, out: &mut String) {
    out.push_str(open);
    for (i, x) in items.iter().enumerate() {
        if out.len() > MAX {
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        go(x, out);
    }
    if open == "(" && items.len() == 1 {
        out.push(',');
    }
    out.push_str(close);
}

fn go(v: &J, out: &mut String) {
    let Some(obj) = v.as_object() else {
        out.push_str(&v.to_string());
        return;
    };
    let (kind, body) = match obj.iter().find(|(k, _)| k.as_str() != "id") {
        Some(x) => x,
        None => {
            out.push_str(&v.to_string());
            return;
        }
    };
    match (kind.as_str(), body) {
        ("none", _) => out.push_str("None"),
        ("bool", J::Bool(b)) => out.push_str(if *b { "True" } else { "False" }),
        ("int", J::String(s)) => out.push_str(s),
        ("float", J::String(s)) => match pickle_ops::json::parse_float_hex(s) {
            Some(x) => out.push_str(&float_repr(x)),
            None => out.push_str(s),
        },
        ("str", J::String(s)) => out.push_str(&str_repr(s)),
        ("list", J::Array(a)) => seq(a, "[", "]", out),
        ("tuple", J::Array(a)) => seq(a, "(", ")", out),
        ("set" | "frozenset", J::Array(a)) if !a.is_empty() => seq(a, "{", "}", out),
        ("dict", J::Array(items)) => {
            out.push('{');
            for (i, kv) in items.iter().enumerate() {
                if out.len() > MAX {
                    break;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some([k, v]) = kv.as_array().map(Vec::as_slice) {
                    go(k, out);
                    out.push_str(": ");
                    go(v, out);
                }
            }
            out.push('}');
        }
        ("bytes_b64", J::String(b)) => match pickle_ops::json::base64_decode(b) {
            Some(bytes) => out.push_str(&bytes_repr(&bytes)),
            None => out.push_str(&v.to_string()),
        },
        ("ref", n) => out.push_str(&format!("<ref {n}>")),
        ("ndarray", a) => out.push_str(&format!(
            "array(dtype={}, shape={})",
            a["dtype"], a["shape"]
        )),
        _ => out.push_str(&v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_python_would() {
        let v: J = serde_json::from_str(
            r#"{"dict":[[{"str":"a"},{"list":[{"int":"1"},{"float":"0x1.8000000000000p+0"},{"none":null}]}],
                        [{"str":"t"},{"tuple":[{"bool":true}]}]]}"#,
        )
        .unwrap();
        assert_eq!(render(&v), "{'a': [1, 1.5, None], 't': (True,)}");
        let g: J = serde_json::from_str(r#"{"global":["m","f"]}"#).unwrap();
        assert_eq!(render(&g), r#"{"global":["m","f"]}"#);
        let b: J = serde_json::from_str(r#"{"bytes_b64":"AAFh"}"#).unwrap();
        assert_eq!(render(&b), r"b'\x00\x01a'");
    }
}
