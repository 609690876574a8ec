//! `mmpk get [--json] FILE KEY`: an array's summary (statistics computed
//! in parallel), a masked array's (over its unmasked elements), or any other
//! value as canonical JSON (resolved: docs/canonical-json.md rules 1-3).

use std::io::Write;

use clap::ArgMatches;
use pickle_ops::json::{base64_encode, pickle_to_json, JsonOptions};
use pickle_ops::Pickle;

use crate::dict_cmds::{open_dict, Open};
use crate::stats::{array_stats, Stats};
use crate::ui::{self, fail, human, print, shape_text};
use crate::Failure;

/// What one entry is.
enum Got {
    Array(mmpk::Array),
    Masked(mmpk::Masked),
    Value(Pickle),
}

fn load(d: &mmpk::Dict, path: &str, key: &str) -> Result<Got, Failure> {
    let at = format!("{path}: entry {key:?}");
    let not_array = |e: &mmpk::Error| {
        matches!(
            e,
            mmpk::Error::NotAnArray { .. } | mmpk::Error::UnsupportedDtype { .. }
        )
    };
    match d.array(key) {
        // A structured dtype's canonical JSON is its descr as a value: the
        // decoder's rule 3 writes that (below).
        Ok(a) if ui::dtype_descr_py(&a).starts_with('[') => {}
        Ok(a) => return Ok(Got::Array(a)),
        Err(mmpk::Error::KeyNotFound { .. }) => {
            return Err(Failure::input(format!("{path}: no entry {key:?}")))
        }
        Err(e) if not_array(&e) => {}
        Err(e) => return Err(fail(&at, &e)),
    }
    match d.masked(key) {
        Ok(m) if ui::dtype_descr_py(m.data()).starts_with('[') => {}
        Ok(m) => return Ok(Got::Masked(m)),
        Err(e) if not_array(&e) => {}
        Err(e) => return Err(fail(&at, &e)),
    }
    // Any other value (and arrays of dtypes mmpk does not map, such as
    // structured ones, which rule 3 resolves into ndarray nodes).
    let mut p = d.get_pickle(key).map_err(|e| fail(&at, &e))?;
    let budget = pickle_ops::decode::DecodeOptions::default().max_compare_work;
    pickle_ops::resolve::resolve(&mut p, budget)
        .map_err(|k| Failure::input(format!("{at}: cannot resolve the value: {k:?}")))?;
    mmpk_format::numpy::resolve_numpy(&mut p, &[]);
    Ok(Got::Value(p))
}

/// `mmpk get [--json] FILE KEY`
pub fn get(m: &ArgMatches) -> Result<(), Failure> {
    let path = m
        .get_one::<String>("file")
        .map(String::as_str)
        .unwrap_or("");
    let key = m.get_one::<String>("key").map(String::as_str).unwrap_or("");
    if crate::remote::is_url(path) {
        return crate::remote::get(path, key, m.get_flag("json"));
    }
    let d = open_dict(path, Open::Read)?;
    let got = load(&d, path, key)?;
    let at = format!("{path}: entry {key:?}");
    if m.get_flag("json") {
        return match got {
            Got::Array(a) => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                write_ndarray(&mut out, &a)
                    .and_then(|_| out.write_all(b"\n"))
                    .and_then(|_| out.flush())
                    .or_else(ignore_pipe)
            }
            Got::Masked(mk) => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                out.write_all(b"{\"masked_array\":{\"data\":")
                    .and_then(|_| write_ndarray(&mut out, mk.data()))
                    .and_then(|_| out.write_all(b",\"mask\":"))
                    .and_then(|_| write_ndarray(&mut out, mk.mask()))
                    .and_then(|_| out.write_all(b"}}\n"))
                    .and_then(|_| out.flush())
                    .or_else(ignore_pipe)
            }
            Got::Value(p) => {
                let s = pickle_to_json(&p, &JsonOptions::default()).map_err(|e| fail(&at, &e))?;
                print(&format!("{s}\n"))
            }
        };
    }
    match got {
        Got::Array(a) => {
            let s = array_stats(&a, None).map_err(|e| fail(&at, &e))?;
            print(&summary(key, "array", &a, s.as_ref(), None))
        }
        Got::Masked(mk) => {
            let mask = mk.mask_owned().map_err(|e| fail(&at, &e))?;
            let flat: Vec<bool> = mask.iter().copied().collect();
            let masked = flat.iter().filter(|&&b| b).count() as u64;
            let s = array_stats(mk.data(), Some(&flat)).map_err(|e| fail(&at, &e))?;
            print(&summary(key, "masked", mk.data(), s.as_ref(), Some(masked)))
        }
        Got::Value(p) if matches!(&*p.value(p.root()), pickle_ops::Value::NdArray(_)) => {
            // An array mmpk does not map (a structured dtype): its header.
            let pickle_ops::Value::NdArray(a) = &*p.value(p.root()) else {
                return Ok(());
            };
            let dtype = match &a.dtype {
                pickle_ops::value::Dtype::Str(s) => s.clone(),
                pickle_ops::value::Dtype::Descr(id) => {
                    let j = pickle_ops::json::to_json(&p, *id, &JsonOptions::default())
                        .map_err(|e| fail(&at, &e))?;
                    serde_json::from_str::<serde_json::Value>(&j)
                        .map(|v| crate::pyrepr::render(&v))
                        .unwrap_or(j)
                }
            };
            let shape: Vec<usize> = a.shape.iter().map(|&d| d as usize).collect();
            print(&ui::pairs(&[
                ("key", key.to_string()),
                ("kind", "array".to_string()),
                ("dtype", dtype),
                ("shape", shape_text(&shape)),
                (
                    "size",
                    format!("{} ({} bytes)", human(a.data.len() as u64), a.data.len()),
                ),
            ]))
        }
        Got::Value(p) => {
            let s = pickle_to_json(&p, &JsonOptions::default()).map_err(|e| fail(&at, &e))?;
            // A Python-like rendering for people (`--json` for the exact form).
            let text = serde_json::from_str::<serde_json::Value>(&s)
                .map(|v| crate::pyrepr::render(&v))
                .unwrap_or(s);
            print(&format!("{text}\n"))
        }
    }
}

fn ignore_pipe(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::io(format!("<stdout>: {e}")))
    }
}

/// The canonical JSON `ndarray` node of `a`, its data streamed as base64.
fn write_ndarray(out: &mut impl Write, a: &mmpk::Array) -> std::io::Result<()> {
    let (dtype, _) = ui::dtype_strs(a);
    let shape: Vec<String> = a.shape().iter().map(usize::to_string).collect();
    write!(
        out,
        "{{\"ndarray\":{{\"dtype\":{},\"shape\":[{}],\"data_b64\":\"",
        serde_json::Value::String(dtype),
        shape.join(",")
    )?;
    let mut buf = String::new();
    // Chunks of a multiple of 3 bytes concatenate into one valid base64.
    for c in a.bytes().chunks(3 << 18) {
        buf.clear();
        base64_encode(c, &mut buf);
        out.write_all(buf.as_bytes())?;
    }
    out.write_all(b"\"}}")
}

/// The human summary of an array.
fn summary(
    key: &str,
    kind: &str,
    a: &mmpk::Array,
    s: Option<&Stats>,
    masked: Option<u64>,
) -> String {
    let (dtype, name) = ui::dtype_strs(a);
    let info = a.info();
    let mut items: Vec<(&str, String)> = vec![
        ("key", key.to_string()),
        ("kind", kind.to_string()),
        (
            "dtype",
            if name != dtype {
                format!("{dtype} ({name})")
            } else {
                dtype
            },
        ),
        ("shape", shape_text(a.shape())),
        (
            "size",
            format!("{} ({} bytes)", human(info.nbytes), info.nbytes),
        ),
        (
            "data offset",
            format!(
                "{} ({})",
                info.data_offset,
                match info.encoding {
                    mmpk::Encoding::V1 => "v1",
                    _ => "v2",
                }
            ),
        ),
    ];
    if let Some(n) = masked {
        items.push(("masked", format!("{n} element(s)")));
    }
    if let Some(s) = s {
        items.push(("count", s.count.to_string()));
        if s.nan > 0 {
            items.push(("nan", s.nan.to_string()));
        }
        if let Some(t) = s.true_count {
            items.push(("true", t.to_string()));
        }
        for (k, v) in [("min", &s.min), ("max", &s.max), ("mean", &s.mean)] {
            if let Some(v) = v {
                items.push((k, v.clone()));
            }
        }
    }
    ui::pairs(&items)
}
