//! `mmpk put` and `mmpk export`: arrays in and out (`.npy`, canonical
//! JSON, reservations).

use std::io::Read;

use clap::ArgMatches;
use mmpk::Layout;
use pickle_ops::value::Dtype as NodeDtype;
use pickle_ops::{Pickle, Value as PV};
use serde_json::json;

use crate::dict_cmds::{open_dict, Open};
use crate::npy;
use crate::ui::{self, fail, human, print, shape_text};
use crate::Failure;

/// What `put` inserts, read and checked before the dict is opened.
enum Source {
    Npy(npy::NpySource),
    Json(Pickle),
    Zeros(String, Vec<usize>),
}

/// Parses `300,300,300` (`(5,)` also; `()` or empty for 0-d).
pub fn parse_shape(s: &str) -> Result<Vec<usize>, String> {
    let t = s
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    t.split(',')
        .enumerate()
        .filter(|(i, p)| !(p.trim().is_empty() && *i > 0))
        .map(|(_, p)| p)
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad shape {s:?}: {p:?} is not a dimension"))
        })
        .collect()
}

fn read_json(path: &str) -> Result<Pickle, Failure> {
    let mut text = String::new();
    let r = if path == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read(path).and_then(|b| {
            text = String::from_utf8(b).map_err(|_| std::io::Error::other("not UTF-8"))?;
            Ok(())
        })
    };
    let name = if path == "-" { "<stdin>" } else { path };
    r.map_err(|e| fail(name, &e))?;
    pickle_ops::json::from_json_str(&text).map_err(|e| fail(name, &e))
}

/// `mmpk put FILE KEY (--npy A.npy | --value-json JSON | --zeros DTYPE SHAPE)
/// [--layout v2|mmappickle1] [--align N]`
pub fn put(m: &ArgMatches) -> Result<(), Failure> {
    let path = m
        .get_one::<String>("file")
        .map(String::as_str)
        .unwrap_or("");
    let key = m.get_one::<String>("key").map(String::as_str).unwrap_or("");
    if key.len() > 255 {
        return Err(Failure::input(format!(
            "key of {} bytes is longer than the 255 UTF-8 bytes allowed",
            key.len()
        )));
    }
    let layout = match m.get_one::<String>("layout").map(String::as_str) {
        Some("mmappickle1") => Layout::Mmappickle1,
        Some("v2") | None => Layout::V2,
        Some(o) => {
            return Err(Failure::input(format!(
                "bad --layout {o:?}: v2 or mmappickle1"
            )))
        }
    };
    let align = *m.get_one::<u64>("align").unwrap_or(&64);
    if !(align.is_power_of_two() && (8..=4096).contains(&align)) {
        return Err(Failure::input(format!(
            "bad --align {align}: a power of two from 8 to 4096"
        )));
    }
    let source = if let Some(f) = m.get_one::<String>("npy") {
        Source::Npy(npy::open(f)?)
    } else if let Some(f) = m.get_one::<String>("value-json") {
        Source::Json(read_json(f)?)
    } else if let Some(z) = m.get_many::<String>("zeros") {
        let z: Vec<&String> = z.collect();
        let dtype = z[0].clone();
        mmpk_format::dtype::Dtype::parse(&dtype).map_err(|_| {
            Failure::input(format!(
                "bad dtype {dtype:?} (numpy's dtype.str, e.g. f4, <i8, |b1, float32)"
            ))
        })?;
        let shape = parse_shape(z[1]).map_err(Failure::input)?;
        Source::Zeros(dtype, shape)
    } else {
        return Err(Failure::input(
            "put needs one of --npy, --value-json, --zeros",
        ));
    };
    let existed = std::path::Path::new(path).exists();
    let d = open_dict(path, Open::Create(layout, align))?;
    let at = format!("{path}: entry {key:?}");
    let r = insert(&d, key, source, &at);
    if r.is_err() && !existed {
        // A file this failed command created holds nothing: remove it.
        drop(d);
        let _ = std::fs::remove_file(path);
    }
    let kind = r?;
    if m.get_flag("print-json") {
        return print(&format!(
            "{}\n",
            json!({"file": path, "key": key, "stored": kind})
        ));
    }
    print(&format!("{path}: put {key:?}: {kind}\n"))
}

fn insert(d: &mmpk::Dict, key: &str, source: Source, at: &str) -> Result<String, Failure> {
    let what = match source {
        Source::Npy(src) => {
            npy::insert(d, key, src)?;
            None
        }
        Source::Zeros(dtype, shape) => {
            d.reserve_dtype(key, &dtype, &shape)
                .map_err(|e| fail(at, &e))?;
            None
        }
        Source::Json(p) => Some(put_json(d, key, &p).map_err(|e| fail(at, &e))?),
    };
    let kind = match what {
        Some(k) => k,
        None => {
            let a = d.array(key).map_err(|e| fail(at, &e))?;
            let (dtype, _) = ui::dtype_strs(&a);
            format!(
                "array {dtype} {} {}",
                shape_text(a.shape()),
                human(a.info().nbytes)
            )
        }
    };
    Ok(kind)
}

/// Inserts a canonical JSON value: an `ndarray` node as an array entry, a
/// `masked_array` node as a masked array, anything else as a value.
fn put_json(d: &mmpk::Dict, key: &str, p: &Pickle) -> mmpk::Result<String> {
    let array = |id| match &*p.value(id) {
        PV::NdArray(a) => match &a.dtype {
            NodeDtype::Str(s) => Some((s.clone(), a.shape.clone(), a.data.clone())),
            NodeDtype::Descr(_) => None,
        },
        _ => None,
    };
    let shape = |s: &[u64]| -> mmpk::Result<Vec<usize>> {
        s.iter()
            .map(|&x| usize::try_from(x).ok())
            .collect::<Option<Vec<_>>>()
            .ok_or(mmpk::Error::ShapeMismatch {
                key: Some(key.into()),
                expected: None,
                found: 0,
            })
    };
    match &*p.value(p.root()) {
        PV::NdArray(_) => {
            if let Some((dt, sh, data)) = array(p.root()) {
                let sh = shape(&sh)?;
                d.insert_bytes(key, &dt, &sh, &data)?;
                return Ok(format!("array {dt} {}", shape_text(&sh)));
            }
        }
        PV::MaskedArray { data, mask } => {
            if let (Some((dt, sh, bytes)), Some((_, msh, mk))) = (array(*data), array(*mask)) {
                let sh = shape(&sh)?;
                let n: usize = sh.iter().product();
                let mask = if msh.len() == sh.len() {
                    Some(mk)
                } else if mk == [0] {
                    None
                } else {
                    Some(vec![1; n])
                };
                d.insert_masked_bytes(key, &dt, &sh, &bytes, mask.as_deref())?;
                return Ok(format!("masked {dt} {}", shape_text(&sh)));
            }
        }
        _ => {}
    }
    d.insert_pickle(key, p)?;
    Ok(format!("value ({})", p.value(p.root()).kind_name()))
}

/// `mmpk export FILE KEY OUT.npy`
pub fn export(m: &ArgMatches) -> Result<(), Failure> {
    let path = m
        .get_one::<String>("file")
        .map(String::as_str)
        .unwrap_or("");
    let key = m.get_one::<String>("key").map(String::as_str).unwrap_or("");
    let out = m.get_one::<String>("out").map(String::as_str).unwrap_or("");
    if crate::remote::is_url(path) {
        return crate::remote::export(path, key, out, m.get_flag("json"));
    }
    let d = open_dict(path, Open::Read)?;
    let at = format!("{path}: entry {key:?}");
    let n = match d.array(key) {
        Ok(a) => {
            let info = a.info();
            let src = std::fs::File::open(path).map_err(|e| fail(path, &e))?;
            npy::export_range(
                &ui::dtype_descr_py(&a),
                a.shape(),
                &src,
                info.data_offset,
                info.nbytes,
                out,
            )?;
            info.nbytes
        }
        Err(mmpk::Error::KeyNotFound { .. }) => {
            return Err(Failure::input(format!("{path}: no entry {key:?}")))
        }
        Err(mmpk::Error::UnsupportedDtype { .. }) => export_unmapped(&d, key, out, &at)?,
        Err(mmpk::Error::NotAnArray { .. }) => {
            let masked = d.masked(key).is_ok();
            return Err(Failure::input(format!(
                "{at} is {}, not an array: export writes arrays",
                if masked { "a masked array" } else { "a value" }
            )));
        }
        Err(e) => return Err(fail(&at, &e)),
    };
    if out == "-" {
        // Standard output holds the .npy: no summary.
        return Ok(());
    }
    if m.get_flag("json") {
        return print(&format!(
            "{}\n",
            json!({"file": path, "key": key, "out": out, "nbytes": n})
        ));
    }
    print(&format!("{path}: {key:?} -> {out} ({})\n", human(n)))
}

/// Exports an array whose dtype mmpk does not map (structured) straight
/// from the file's bytes.
fn export_unmapped(d: &mmpk::Dict, key: &str, out: &str, at: &str) -> Result<u64, Failure> {
    let e = d.entries().map_err(|e| fail(at, &e))?;
    let info = e
        .iter()
        .find(|x| x.key == key)
        .ok_or_else(|| Failure::input(format!("{at}: vanished")))?;
    let span = info.value_offset as usize..(info.value_offset + info.value_len) as usize;
    // Only the array's header is read from the map; its data is copied
    // from the file.
    let (descr, shape, data) = d
        .with_file_bytes(|bytes| -> Result<_, Failure> {
            let a =
                mmpk_format::array::read_array(bytes, span.clone()).map_err(|e| fail(at, &e))?;
            let shape: Vec<usize> = a.shape.iter().map(|&x| x as usize).collect();
            Ok((a.dtype.descr().to_string(), shape, a.data.clone()))
        })
        .map_err(|e| fail(at, &e))??;
    let src = std::fs::File::open(d.path()).map_err(|e| fail(at, &e))?;
    let n = (data.end - data.start) as u64;
    npy::export_range(&descr, &shape, &src, data.start as u64, n, out)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse() {
        assert_eq!(parse_shape("300,300,300").unwrap(), vec![300, 300, 300]);
        assert_eq!(parse_shape("(5,)").unwrap(), vec![5]);
        assert_eq!(parse_shape("").unwrap(), Vec::<usize>::new());
        assert!(parse_shape("4x5").is_err());
        assert!(parse_shape("2,x").is_err());
        assert!(parse_shape("3,-1").is_err());
        assert!(parse_shape("a").is_err());
    }
}
