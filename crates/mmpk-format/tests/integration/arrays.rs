//! Array and masked-array entries of the fixtures written by real Python:
//! `fixtures/mmappickle/*.mmpk` (mmappickle 1.0.0, numpy 1.23.5) read to
//! their manifest, and re-encoding the manifest's operations in the v1
//! layout gives the same entry bytes; `fixtures/numpy/np*/mmpk_v*` read to
//! numpy's own description of the array.

use std::path::{Path, PathBuf};

use mmpk_format::array::{read_array, Array, Encoding};
use mmpk_format::descr::descr_from_lit;
use mmpk_format::dtype::Dtype;
use mmpk_format::masked::{is_masked, read_masked, MaskKind};
use mmpk_format::pylit::Lit;
use mmpk_format::scan::scan;
use mmpk_format::write::encode_array;
use mmpk_format::write::encode_masked;
use mmpk_format::write::write_entry;
use mmpk_format::Error;
use serde_json::Value as J;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn b64(s: &str) -> Vec<u8> {
    pickle_ops::json::base64_decode(s).expect("base64")
}

/// A canonical-JSON descr (`[["x", "<f4"], ...]`) or dtype string.
fn json_dtype(j: &J) -> Dtype {
    fn lit(j: &J) -> Lit {
        match j {
            J::String(s) => Lit::Str(s.clone()),
            J::Number(n) => Lit::Int(n.as_u64().unwrap()),
            J::Array(items) if items.first().is_some_and(J::is_string) => {
                Lit::Tuple(items.iter().map(lit).collect())
            }
            J::Array(items) => Lit::List(items.iter().map(lit).collect()),
            _ => panic!("{j}"),
        }
    }
    match j {
        J::String(s) => Dtype::parse(s).unwrap(),
        _ => descr_from_lit(&lit(j)).unwrap().to_dtype().unwrap(),
    }
}

/// An `ndarray` node: dtype, shape, bytes.
fn ndarray(j: &J) -> (Dtype, Vec<u64>, Vec<u8>) {
    let a = &j["ndarray"];
    let shape = a["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    (
        json_dtype(&a["dtype"]),
        shape,
        b64(a["data_b64"].as_str().unwrap()),
    )
}

fn check_array(file: &[u8], a: &Array, node: &J) {
    let (dtype, shape, data) = ndarray(node);
    assert_eq!(a.dtype, dtype);
    assert_eq!(a.shape, shape);
    assert_eq!(&file[a.data.clone()], &data[..]);
}

/// The manifest's description of one array (`raw_offset`, `nbytes`,
/// `dtype_str`, `shape`).
fn check_layout(a: &Array, e: &J) {
    assert_eq!(a.encoding, Encoding::V1);
    assert_eq!(a.data.start as u64, e["raw_offset"].as_u64().unwrap());
    assert_eq!(a.nbytes(), e["nbytes"].as_u64().unwrap());
    assert_eq!(a.dtype.name(), e["dtype_str"].as_str().unwrap());
    let shape: Vec<u64> = e["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(a.shape, shape);
}

/// The v1 value bytes of an `ndarray` or `masked_array` node (None for
/// other values).
fn encode_v1(node: &J) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    if node.get("ndarray").is_some() {
        let (dtype, shape, data) = ndarray(node);
        encode_array(&mut v, Encoding::V1, &dtype, &shape, &data).unwrap();
    } else if let Some(m) = node.get("masked_array") {
        let (dtype, shape, data) = ndarray(&m["data"]);
        let (mdt, mshape, mdata) = ndarray(&m["mask"]);
        assert_eq!(mdt, Dtype::parse("bool").unwrap());
        if mshape.is_empty() && !shape.is_empty() {
            assert_eq!(mdata, [0]);
            encode_masked(&mut v, Encoding::V1, &dtype, &shape, &data, None).unwrap();
        } else {
            encode_masked(&mut v, Encoding::V1, &dtype, &shape, &data, Some(&mdata)).unwrap();
        }
    } else {
        return None;
    }
    Some(v)
}

#[test]
fn mmappickle_fixtures_read_to_their_manifest() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let dir = fixtures().join("mmappickle");
    let manifest: J =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let (mut arrays, mut masked, mut identical) = (0, 0, 0);
    for row in manifest.as_array().unwrap() {
        let name = row["file"].as_str().unwrap();
        let file = std::fs::read(dir.join(name)).unwrap();
        let s = scan(&file).unwrap();
        let entries = row["entries"].as_array().unwrap();
        assert_eq!(s.entries.len(), entries.len(), "{name}");
        let live = s.live_index();
        // Which operation wrote each entry (when the file is not vacuumed).
        let ops: Vec<&J> = row["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| matches!(o["op"].as_str(), Some("set" | "set_stub")))
            .collect();
        let replayable = row["converted_from"].is_null()
            && !row["operations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["op"] == "vacuum");
        for (i, (sc, e)) in s.entries.iter().zip(entries).enumerate() {
            let span = sc.entry.value_span();
            let key = e["key"].as_str().unwrap();
            let latest = live.get(key) == Some(&i);
            let expected = latest.then(|| &row["expected"][key]);
            let at = format!("{name} entry {i} ({key})");
            match e["kind"].as_str().unwrap() {
                "array" => {
                    arrays += 1;
                    let a = read_array(&file, span.clone()).unwrap_or_else(|e| panic!("{at}: {e}"));
                    check_layout(&a, e);
                    if let Some(x) = expected {
                        check_array(&file, &a, x);
                    }
                }
                "masked" => {
                    masked += 1;
                    assert!(is_masked(&file[span.clone()]), "{at}");
                    let m =
                        read_masked(&file, span.clone()).unwrap_or_else(|e| panic!("{at}: {e}"));
                    check_layout(&m.data, &e["data"]);
                    check_layout(&m.mask, &e["mask"]);
                    if let Some(x) = expected {
                        check_array(&file, &m.data, &x["masked_array"]["data"]);
                        check_array(&file, &m.mask, &x["masked_array"]["mask"]);
                        let zero_d = m.mask.shape.is_empty() && !m.data.shape.is_empty();
                        let want = if zero_d {
                            MaskKind::Nomask
                        } else {
                            MaskKind::Elementwise
                        };
                        assert_eq!(m.mask_kind, want, "{at}");
                    }
                }
                _ => {
                    assert!(read_array(&file, span.clone()).is_err(), "{at}");
                    assert!(read_masked(&file, span.clone()).is_err(), "{at}");
                    assert!(!is_masked(&file[span.clone()]), "{at}");
                }
            }
            // Byte identity: the v1 layout of the same operation.
            let node = if replayable {
                let op = ops[i];
                if op["op"] == "set_stub" {
                    let dtype = Dtype::parse(op["dtype"].as_str().unwrap()).unwrap();
                    let shape: Vec<u64> = op["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap())
                        .collect();
                    let n = mmpk_format::array::nbytes(&dtype, &shape).unwrap() as usize;
                    let mut v = Vec::new();
                    encode_array(&mut v, Encoding::V1, &dtype, &shape, &vec![0; n]).unwrap();
                    Some(v)
                } else {
                    assert_eq!(op["key"].as_str().unwrap(), key, "{at}");
                    encode_v1(&op["value"])
                }
            } else {
                expected.and_then(encode_v1)
            };
            if let Some(value) = node {
                let mut out = Vec::new();
                write_entry(&mut out, key, &value, 0, e["live"].as_bool().unwrap()).unwrap();
                let start = sc.entry.offset;
                assert_eq!(out, &file[start..start + out.len()], "{at}");
                assert_eq!(start + out.len(), sc.entry.end(), "{at}");
                identical += 1;
            }
        }
    }
    // 20 dtypes + 10 shapes + keys, deleted, replaced x2, vacuumed, stub,
    // converted; masked: 4 + converted.
    assert_eq!((arrays, masked), (37, 5));
    assert_eq!(identical, 42);
}

#[test]
fn numpy_fixtures_of_both_encodings() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let dir = fixtures().join("numpy");
    let manifest: J =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut n = 0;
    for row in manifest.as_array().unwrap() {
        let name = row["file"].as_str().unwrap();
        let enc = if name.contains("/mmpk_v1_") {
            Encoding::V1
        } else if name.contains("/mmpk_v2_") {
            Encoding::V2
        } else {
            continue;
        };
        let file = std::fs::read(dir.join(name)).unwrap();
        // A standalone pickle: PROTO 4 ... STOP.
        assert_eq!(&file[..2], b"\x80\x04");
        assert_eq!(file.last(), Some(&b'.'));
        let a = read_array(&file, 2..file.len() - 1).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.encoding, enc);
        check_array(&file, &a, &row["resolved"]);
        // Our encoding of the same array reads back the same.
        let (dtype, shape, data) = ndarray(&row["resolved"]);
        let mut v = Vec::new();
        let span = encode_array(&mut v, enc, &dtype, &shape, &data).unwrap();
        assert_eq!(span.start, enc.data_offset());
        let b = read_array(&v, 0..v.len()).unwrap();
        assert_eq!((b.dtype, b.shape), (a.dtype, a.shape));
        n += 1;
    }
    assert_eq!(n, 2 * 15);
}

#[test]
fn object_arrays_are_refused() {
    let mut v = Vec::new();
    mmpk_format::write::write_array_head(&mut v, Encoding::V2, 8);
    v.extend_from_slice(&[0; 8]);
    mmpk_format::write::write_array_tail(&mut v, Encoding::V2, "|O", &[1]).unwrap();
    let at = Encoding::V2.data_offset() + 8 + 2;
    assert_eq!(
        read_array(&v, 0..v.len()),
        Err(Error::ObjectDtype { offset: at })
    );
    assert!(matches!(
        Dtype::parse("[('a', 'O')]"),
        Err(Error::ObjectDtype { .. })
    ));
}

#[test]
fn damaged_fixture_values_give_typed_errors() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let dir = fixtures().join("mmappickle");
    let mut checked = 0;
    for name in [
        "masked.mmpk",
        "shapes.mmpk",
        "dtype_le_U5.mmpk",
        "converted.mmpk",
    ] {
        let file = std::fs::read(dir.join(name)).unwrap();
        let s = scan(&file).unwrap();
        for e in &s.entries {
            let span = e.entry.value_span();
            let masked = is_masked(&file[span.clone()]);
            let read = |f: &[u8], span: std::ops::Range<usize>| {
                if masked {
                    read_masked(f, span).map(|m| m.data)
                } else {
                    read_array(f, span)
                }
            };
            let Ok(good) = read(&file, span.clone()) else {
                continue;
            };
            // Every truncation of the value is an error.
            for end in span.start..span.end {
                assert!(read(&file, span.start..end).is_err(), "{name} {end}");
            }
            // Every flipped byte: an error, or a value that is consistent.
            for i in span.clone() {
                for bit in [0x01, 0x80, 0xff] {
                    let mut f = file.clone();
                    f[i] ^= bit;
                    if let Ok(a) = read(&f, span.clone()) {
                        assert!(a.data.end <= span.end);
                        assert_eq!(
                            Some(a.nbytes()),
                            mmpk_format::array::nbytes(&a.dtype, &a.shape)
                        );
                        if i >= good.data.start && i < good.data.end {
                            // A flip inside the raw bytes changes only them.
                            assert_eq!((&a.dtype, &a.shape), (&good.dtype, &good.shape));
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 5_000, "{checked}");
}
