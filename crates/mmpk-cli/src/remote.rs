//! `ls`, `info`, `get` and `export` of files on HTTP(S) servers and S3
//! (`http://...`, `https://...`, `s3://bucket/key`), through `mmpk-remote`:
//! the index comes from a few ranged GETs, and only the bytes a command
//! needs are fetched. S3 endpoint, region and credentials come from the
//! usual `AWS_*` environment variables.

use mmpk_format::array::Encoding;
use mmpk_format::dtype::{Dtype, DtypeKind};
use mmpk_format::scan::EntryKind;
use mmpk_remote::{Options, OwnedArray, RemoteDict};
use pickle_ops::json::{base64_encode, pickle_to_json, JsonOptions};
use serde_json::json;

use crate::inspect::{self, ArrayCols, Content, Row};
use crate::ui::{self, fail, human, print, shape_text};
use crate::Failure;

pub use crate::ui::is_url;

/// The exit code an `mmpk_remote::Error` calls for (see [`ui::class`]);
/// `None` for other errors.
pub fn class(e: &(dyn std::error::Error + 'static)) -> Option<u8> {
    use crate::exit::{INPUT, IO};
    use mmpk_remote::Error as R;
    Some(match e.downcast_ref::<R>()? {
        R::Unreachable { .. }
        | R::PermissionDenied { .. }
        | R::NoRangeSupport { .. }
        | R::Changed { .. }
        | R::Truncated { .. }
        | R::InAsyncContext
        | R::Store { .. } => IO,
        _ => INPUT,
    })
}

fn open(url: &str) -> Result<RemoteDict, Failure> {
    // http:// URLs are plain HTTP; for s3:// the endpoint's scheme is
    // allowed by AWS_ALLOW_HTTP (Options' default), not overridden here.
    let o = Options::new();
    let o = if url.starts_with("http://") {
        o.allow_http(true)
    } else {
        o
    };
    RemoteDict::open(url, o).map_err(|e| fail(url, &e))
}

fn dtype_text(d: &Dtype) -> String {
    match d {
        Dtype::Scalar(s) => s.str(),
        _ => d.descr().to_string(),
    }
}

/// The rows of `ls` for a remote file: live arrays described from the index
/// (no request for their data); masked arrays by kind only; dead entries
/// are listed (with `--all`) as values, undescribed, since describing them
/// would fetch them.
fn rows(d: &RemoteDict, all: bool) -> Vec<Row> {
    let mut latest = std::collections::HashMap::new();
    for (i, e) in d.entries().iter().enumerate() {
        if e.is_live() {
            latest.insert(e.key.as_str(), i);
        }
    }
    let mut out = Vec::new();
    for (i, e) in d.entries().iter().enumerate() {
        let live = e.is_live() && latest.get(e.key.as_str()) == Some(&i);
        if !all && !live {
            continue;
        }
        let (kind, array) = if e.kind == EntryKind::Filler {
            (Content::Filler, None)
        } else if !live {
            (Content::Value, None)
        } else {
            match d.array_info(&e.key) {
                Ok(a) => (
                    Content::Array,
                    Some(ArrayCols {
                        dtype: dtype_text(&a.dtype),
                        shape: a.shape.clone(),
                        data_offset: a.data_offset,
                        nbytes: a.nbytes,
                        aligned: a.data_offset % a.dtype.alignment().max(1) == 0,
                        encoding: match a.encoding {
                            Encoding::V1 => "v1",
                            Encoding::V2 => "v2",
                        },
                    }),
                ),
                Err(mmpk_remote::Error::WrongKind { expected, .. })
                    if expected.contains("masked") =>
                {
                    (Content::Masked, None)
                }
                Err(_) => (Content::Value, None),
            }
        };
        out.push(Row {
            key: e.key.clone(),
            live,
            kind,
            offset: e.offset,
            len: e.len,
            array,
        });
    }
    out
}

/// `mmpk ls [--all] [--json] URL`
pub fn ls(url: &str, all: bool, json_out: bool) -> Result<(), Failure> {
    let d = open(url)?;
    let rows = rows(&d, all);
    if json_out {
        print(&format!("{}\n", inspect::rows_json(&rows)))
    } else {
        print(&inspect::rows_table(&rows, all))
    }
}

/// `mmpk info [--json] URL`
pub fn info(url: &str, json_out: bool) -> Result<(), Failure> {
    let d = open(url)?;
    let mut counts = [0u64; 3];
    let mut bytes = [0u64; 3];
    for r in rows(&d, true) {
        let slot = match (r.kind, r.live) {
            (Content::Filler, _) => 2,
            (_, true) => 0,
            (_, false) => 1,
        };
        counts[slot] += 1;
        bytes[slot] += r.len;
    }
    let size = d.version().size;
    let tail = inspect::tail_text(d.tail());
    let t = d.stats();
    if json_out {
        let v = json!({
            "file": url,
            "version": 1,
            "commit": d.commit_number(),
            "file_size": size,
            "bytes": {"live": bytes[0], "dead": bytes[1], "filler": bytes[2]},
            "entries": {"live": counts[0], "dead": counts[1], "filler": counts[2]},
            "tail": tail,
            "transferred": {"requests": t.requests, "bytes": t.bytes},
        });
        return print(&format!("{v}\n"));
    }
    print(&ui::pairs(&[
        ("file", url.to_string()),
        ("format version", "1".to_string()),
        ("commit number", d.commit_number().to_string()),
        ("file size", format!("{} ({size} bytes)", human(size))),
        (
            "entries",
            format!(
                "{} live, {} dead, {} fillers",
                counts[0], counts[1], counts[2]
            ),
        ),
        (
            "bytes",
            format!(
                "{} live, {} dead, {} fillers",
                human(bytes[0]),
                human(bytes[1]),
                human(bytes[2])
            ),
        ),
        ("tail", tail),
        (
            "transferred",
            format!("{} in {} requests", human(t.bytes), t.requests),
        ),
    ]))
}

fn ndarray_json(a: &OwnedArray) -> String {
    let dtype = match &a.dtype {
        Dtype::Scalar(s) => serde_json::Value::String(s.str()),
        d => serde_json::from_str(&descr_json(d)).unwrap_or(serde_json::Value::Null),
    };
    let mut b64 = String::new();
    base64_encode(&a.data, &mut b64);
    // Canonical JSON's key order (serde_json's map would sort them).
    format!(
        "{{\"ndarray\":{{\"dtype\":{dtype},\"shape\":{},\"data_b64\":\"{b64}\"}}}}",
        json!(a.shape)
    )
}

fn descr_json(d: &Dtype) -> String {
    fn walk(d: &mmpk_format::descr::Descr) -> serde_json::Value {
        match d {
            mmpk_format::descr::Descr::Str(s) => json!(s),
            mmpk_format::descr::Descr::Fields(f) => serde_json::Value::Array(
                f.iter()
                    .map(|f| {
                        let mut v = vec![json!(f.name), walk(&f.format)];
                        if !f.shape.is_empty() {
                            v.push(json!(f.shape));
                        }
                        serde_json::Value::Array(v)
                    })
                    .collect(),
            ),
        }
    }
    walk(&d.descr()).to_string()
}

/// min, max and mean of a numeric array (as `f64`), `None` for other kinds
/// or an empty array.
fn stats(a: &OwnedArray) -> Option<(f64, f64, f64)> {
    let Dtype::Scalar(s) = &a.dtype else {
        return None;
    };
    let v: Vec<f64> = match (s.kind(), s.itemsize()) {
        (DtypeKind::Float, 4) => a.to_vec::<f32>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::Float, 8) => a.to_vec::<f64>().ok()?,
        (DtypeKind::Int, 1) => a.to_vec::<i8>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::Int, 2) => a.to_vec::<i16>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::Int, 4) => a.to_vec::<i32>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::Int, 8) => a
            .to_vec::<i64>()
            .ok()?
            .into_iter()
            .map(|x| x as f64)
            .collect(),
        (DtypeKind::UInt, 1) => a.to_vec::<u8>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::UInt, 2) => a.to_vec::<u16>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::UInt, 4) => a.to_vec::<u32>().ok()?.into_iter().map(f64::from).collect(),
        (DtypeKind::UInt, 8) => a
            .to_vec::<u64>()
            .ok()?
            .into_iter()
            .map(|x| x as f64)
            .collect(),
        _ => return None,
    };
    if v.is_empty() {
        return None;
    }
    let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for x in &v {
        lo = lo.min(*x);
        hi = hi.max(*x);
        sum += x;
    }
    Some((lo, hi, sum / v.len() as f64))
}

fn summary(key: &str, kind: &str, a: &OwnedArray) -> String {
    let shape: Vec<usize> = a.shape.iter().map(|&d| d as usize).collect();
    let mut items = vec![
        ("key", key.to_string()),
        ("kind", kind.to_string()),
        ("dtype", dtype_text(&a.dtype)),
        ("shape", shape_text(&shape)),
        (
            "size",
            format!("{} ({} bytes)", human(a.data.len() as u64), a.data.len()),
        ),
    ];
    if let Some((lo, hi, mean)) = stats(a) {
        items.push(("min", format!("{lo}")));
        items.push(("max", format!("{hi}")));
        items.push(("mean", format!("{mean}")));
    }
    ui::pairs(&items)
}

/// `mmpk get [--json] URL KEY`
pub fn get(url: &str, key: &str, json_out: bool) -> Result<(), Failure> {
    let d = open(url)?;
    let at = format!("{url}: entry {key:?}");
    if !d.contains(key) {
        return Err(Failure::input(format!("{url}: no entry {key:?}")));
    }
    match d.array_info(key) {
        Ok(_) => {
            let a = d.array(key).map_err(|e| fail(&at, &e))?;
            if json_out {
                print(&format!("{}\n", ndarray_json(&a)))
            } else {
                print(&summary(key, "array", &a))
            }
        }
        Err(mmpk_remote::Error::WrongKind { expected, .. }) if expected.contains("masked") => {
            let m = d.masked(key).map_err(|e| fail(&at, &e))?;
            if json_out {
                print(&format!(
                    "{{\"masked_array\":{{\"data\":{},\"mask\":{}}}}}\n",
                    ndarray_json(&m.data),
                    ndarray_json(&m.mask)
                ))
            } else {
                print(&summary(key, "masked", &m.data))
            }
        }
        Err(_) => {
            let p = d.get_pickle(key).map_err(|e| fail(&at, &e))?;
            let s = pickle_to_json(&p, &JsonOptions::default()).map_err(|e| fail(&at, &e))?;
            if json_out {
                print(&format!("{s}\n"))
            } else {
                let text = serde_json::from_str::<serde_json::Value>(&s)
                    .map(|v| crate::pyrepr::render(&v))
                    .unwrap_or(s);
                print(&format!("{text}\n"))
            }
        }
    }
}

/// Bytes of a remote array `export` fetches at a time: over a quarter of
/// mmpk-remote's default cache (64 MiB), so pieces are not kept in it, and
/// memory stays bounded whatever the array's size.
const EXPORT_PIECE: u64 = 20 << 20;

/// `mmpk export URL KEY OUT.npy`
pub fn export(url: &str, key: &str, out: &str, json_out: bool) -> Result<(), Failure> {
    let d = open(url)?;
    let at = format!("{url}: entry {key:?}");
    if !d.contains(key) {
        return Err(Failure::input(format!("{url}: no entry {key:?}")));
    }
    let info = d.array_info(key).map_err(|e| fail(&at, &e))?;
    let shape: Vec<usize> = info.shape.iter().map(|&x| x as usize).collect();
    let n = info.nbytes;
    let name = if out == "-" { "<stdout>" } else { out };
    // Rows along the first axis, at most EXPORT_PIECE bytes a request (one
    // row if a row is larger): never the whole array in memory.
    crate::npy::export_with(&info.dtype.descr().to_string(), &shape, out, |w| {
        let Some(rows) = info.rows().filter(|&r| r > 0) else {
            let a = d.array(key).map_err(|e| fail(&at, &e))?;
            return w.write_all(&a.data).map_err(|e| fail(name, &e));
        };
        let per = (EXPORT_PIECE / info.row_bytes().max(1)).max(1);
        let mut r = 0;
        while r < rows {
            let end = (r + per).min(rows);
            let s = d.array_slice(key, r..end).map_err(|e| fail(&at, &e))?;
            w.write_all(&s.data).map_err(|e| fail(name, &e))?;
            r = end;
        }
        Ok(())
    })?;
    if out == "-" {
        return Ok(());
    }
    if json_out {
        let v = json!({"file": url, "key": key, "out": out, "nbytes": n});
        return print(&format!("{v}\n"));
    }
    print(&format!("{url}: {key:?} -> {out} ({})\n", human(n)))
}

/// `mmpk zarr-refs URL`: from the index (no array data is fetched).
pub fn zarr_refs(url: &str, opts: &mmpk::zarr::Options) -> Result<mmpk::zarr::Refs, Failure> {
    let d = open(url)?;
    d.zarr_refs(opts).map_err(|e| fail(url, &e))
}
