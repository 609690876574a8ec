//! Files written by the real mmappickle 1.0.0 (fixtures/mmappickle): every
//! one opens; its arrays read as the manifest says; and the
//! mmappickle-1.0 layout writes the same bytes for the same array
//! operations.

use std::path::PathBuf;

use mmpk::{Layout, OpenOptions, Value};
use serde_json::Value as J;

use crate::tmp;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mmappickle")
}

fn manifest() -> Vec<J> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn b64(s: &str) -> Vec<u8> {
    pickle_ops::json::base64_decode(s).expect("base64")
}

/// An `{"ndarray": ...}` node: dtype, shape, bytes.
fn ndarray_node(v: &J) -> Option<(String, Vec<usize>, Vec<u8>)> {
    let n = v.get("ndarray")?;
    let dtype = n["dtype"].as_str()?.to_string();
    let shape = n["shape"]
        .as_array()?
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    Some((dtype, shape, b64(n["data_b64"].as_str()?)))
}

#[test]
fn base64_decoder() {
    assert_eq!(b64("AQAAAQAA"), [1, 0, 0, 1, 0, 0]);
    assert_eq!(b64("YWI="), b"ab");
    assert_eq!(b64("YQ=="), b"a");
}

#[test]
fn every_file_opens_and_its_arrays_read_as_expected() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let rows = manifest();
    assert!(rows.len() >= 25);
    let mut arrays = 0;
    let mut masked = 0;
    for row in &rows {
        let file = row["file"].as_str().unwrap();
        let path = dir().join(file);
        // SAFETY: the fixtures are not written while the test runs.
        let d = unsafe { mmpk::Dict::open_read_only(&path) }.unwrap();
        let expected = row["expected"].as_object().unwrap();
        let mut keys = d.keys().unwrap();
        keys.sort();
        let mut want: Vec<String> = expected.keys().cloned().collect();
        want.sort();
        assert_eq!(keys, want, "{file}");
        assert_eq!(
            d.commit_number().unwrap() as i64,
            row["commit_number"].as_i64().unwrap()
        );
        for (key, v) in expected {
            match ndarray_node(v) {
                Some((dtype, shape, data)) => {
                    let a = d.array(key).unwrap();
                    assert_eq!(a.dtype().str(), dtype, "{file} {key}");
                    assert_eq!(a.shape(), &shape[..], "{file} {key}");
                    assert_eq!(a.bytes(), &data[..], "{file} {key}");
                    arrays += 1;
                    // Where mmappickle says the raw bytes are.
                    let e = row["entries"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .rfind(|e| e["key"] == J::String(key.clone()) && e["live"] == J::Bool(true))
                        .unwrap();
                    assert_eq!(a.info().data_offset, e["raw_offset"].as_u64().unwrap());
                    assert!(matches!(d.get(key).unwrap(), Value::Array(_)));
                    check_typed(&a, &dtype, &data);
                }
                None if v.get("masked_array").is_some() => {
                    let (dt, sh, data) = ndarray_node(&v["masked_array"]["data"]).unwrap();
                    let (_, msh, mask) = ndarray_node(&v["masked_array"]["mask"]).unwrap();
                    let m = d.masked(key).unwrap();
                    assert_eq!(m.data().dtype().str(), dt);
                    assert_eq!(m.data().shape(), &sh[..]);
                    assert_eq!(m.data().bytes(), &data[..]);
                    assert_eq!(m.mask().shape(), &msh[..]);
                    assert_eq!(m.mask().bytes(), &mask[..]);
                    assert_eq!(m.mask_owned().unwrap().shape(), &sh[..]);
                    assert!(matches!(d.get(key).unwrap(), Value::Masked(_)));
                    drop(m);
                    masked += 1;
                }
                None => {
                    // Values decode (data only).
                    d.get_pickle(key)
                        .unwrap_or_else(|e| panic!("{file} {key}: {e}"));
                    assert!(d.array(key).is_err() || v.get("masked_array").is_none());
                }
            }
        }
    }
    assert!(arrays >= 35, "{arrays}");
    assert!(masked >= 5, "{masked}");
}

/// Owned typed copies of the numeric dtypes equal the raw bytes read by hand.
fn check_typed(a: &mmpk::Array, dtype: &str, data: &[u8]) {
    macro_rules! num {
        ($t:ty) => {{
            let size = std::mem::size_of::<$t>();
            let be = dtype.starts_with('>');
            let want: Vec<$t> = data
                .chunks_exact(size)
                .map(|c| {
                    let b = c.try_into().unwrap();
                    if be {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    }
                })
                .collect();
            let got = a.to_owned::<$t>().unwrap();
            assert_eq!(got.iter().copied().collect::<Vec<_>>(), want, "{dtype}");
        }};
    }
    match &dtype[1..] {
        "i1" => num!(i8),
        "u1" => num!(u8),
        "i2" => num!(i16),
        "u2" => num!(u16),
        "i4" => num!(i32),
        "u4" => num!(u32),
        "i8" | "M8[ns]" | "m8[s]" => num!(i64),
        "u8" => num!(u64),
        "f4" => num!(f32),
        "f8" => num!(f64),
        "b1" => {
            let got = a.to_owned::<bool>().unwrap();
            assert_eq!(got.iter().map(|&b| b as u8).collect::<Vec<_>>(), data);
        }
        _ => {}
    }
}

/// One replayable operation of a manifest row.
enum Op {
    Array(String, String, Vec<usize>, Vec<u8>),
    Value(String, mmpk::Pickle),
    Stub(String, String, Vec<usize>),
    Del(String),
    Masked(String, String, Vec<usize>, Vec<u8>, Option<Vec<u8>>),
}

/// The row's operations, if mmpk can replay them all (masked arrays and
/// vacuum are not replayed).
fn replayable(row: &J) -> Option<Vec<Op>> {
    if !row["converted_from"].is_null() {
        return None;
    }
    let key = |op: &J| op["key"].as_str().map(str::to_string);
    // The n-th set wrote the n-th entry: non-array values are taken from
    // there, decoded (CPython's object identities, which canonical JSON does
    // not keep for strings, come with them).
    let bytes = std::fs::read(dir().join(row["file"].as_str()?)).ok()?;
    let scan = mmpk_format::scan(&bytes).ok()?;
    let mut sets = 0;
    row["operations"]
        .as_array()?
        .iter()
        .map(|op| match op["op"].as_str()? {
            "set" => {
                let v = &op["value"];
                let e = scan.entries.get(sets)?.entry;
                sets += 1;
                if let Some((dt, sh, data)) = ndarray_node(v) {
                    Some(Op::Array(key(op)?, dt, sh, data))
                } else if let Some(m) = v.get("masked_array") {
                    let (dt, sh, data) = ndarray_node(&m["data"])?;
                    let (_, msh, mask) = ndarray_node(&m["mask"])?;
                    let mask = if msh == sh {
                        Some(mask)
                    } else if mask == [0] {
                        None
                    } else {
                        return None;
                    };
                    Some(Op::Masked(key(op)?, dt, sh, data, mask))
                } else {
                    let value = &bytes[e.value_span()];
                    let p = mmpk_format::generic::decode_value(
                        value,
                        e.value_offset,
                        &Default::default(),
                    )
                    .ok()?;
                    Some(Op::Value(key(op)?, p))
                }
            }
            "set_stub" => {
                sets += 1;
                let shape = op["shape"]
                    .as_array()?
                    .iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect::<Option<_>>()?;
                Some(Op::Stub(key(op)?, op["dtype"].as_str()?.to_string(), shape))
            }
            "del" => Some(Op::Del(key(op)?)),
            _ => None,
        })
        .collect()
}

#[test]
fn mmappickle1_layout_writes_mmappickles_bytes() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let mut compared = Vec::new();
    for row in manifest() {
        let file = row["file"].as_str().unwrap();
        let Some(ops) = replayable(&row) else {
            continue;
        };
        let (_d, p) = tmp();
        // SAFETY: private test file.
        let d = unsafe {
            OpenOptions::new()
                .create_new(true)
                .layout(Layout::Mmappickle1)
                .open(&p)
        }
        .unwrap();
        for op in &ops {
            match op {
                Op::Array(k, dt, sh, data) => d.insert_bytes(k, dt, sh, data).unwrap(),
                Op::Value(k, v) => d.insert_pickle(k, v).unwrap(),
                Op::Stub(k, dt, sh) => d.reserve_dtype(k, dt, sh).unwrap(),
                Op::Del(k) => d.remove(k).unwrap(),
                Op::Masked(k, dt, sh, data, mask) => d
                    .insert_masked_bytes(k, dt, sh, data, mask.as_deref())
                    .unwrap(),
            }
        }
        drop(d);
        let ours = std::fs::read(&p).unwrap();
        let theirs = std::fs::read(dir().join(file)).unwrap();
        assert!(
            ours == theirs,
            "{file}: {} bytes vs {}; first difference at {:?}",
            ours.len(),
            theirs.len(),
            ours.iter().zip(&theirs).position(|(a, b)| a != b)
        );
        compared.push(file.to_string());
    }
    for must in [
        "masked.mmpk",
        "values.mmpk",
        "keys.mmpk",
        "deleted.mmpk",
        "replaced.mmpk",
        "stub.mmpk",
        "shapes.mmpk",
        "empty.mmpk",
    ] {
        assert!(
            compared.iter().any(|f| f == must),
            "{must} not compared: {compared:?}"
        );
    }
    assert!(compared.len() >= 27, "{compared:?}");
}

#[test]
fn mmappickle_files_take_new_entries() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let (_d, p) = tmp();
    std::fs::copy(dir().join("replaced.mmpk"), &p).unwrap();
    let d = crate::open(&p);
    let before = d.keys().unwrap();
    d.insert_array("new", &ndarray::arr1(&[1.0f64, 2.0]))
        .unwrap();
    d.remove("a").unwrap();
    assert_eq!(
        d.array("new")
            .unwrap()
            .view::<f64>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1.0, 2.0]
    );
    let mut want: Vec<String> = before.into_iter().filter(|k| k != "a").collect();
    want.push("new".into());
    assert_eq!(d.keys().unwrap(), want);
    crate::scan_clean(&p);
}
