//! `Dict::zarr_refs`: every array's bytes, reassembled from its chunk
//! references (ranges of the file, inline chunks) and cut to the array's
//! size, are the array's bytes; in both layouts, the last entry of a file
//! included.

use mmpk::zarr::Options;
use mmpk::{Layout, OpenOptions};
use mmpk_test_support::rng::SplitMix64;
use serde_json::Value as J;

use crate::{create_with, tmp};

/// The bytes chunks `prefix/0...`, `prefix/1...` reference, in order.
fn reassemble(j: &J, file: &[u8], path: &str, count: usize, suffix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let key = if suffix == "0d" {
            format!("{path}/0")
        } else {
            format!("{path}/{i}{suffix}")
        };
        match &j["refs"][&key] {
            J::Array(r) => {
                let (s, n) = (
                    r[1].as_u64().unwrap() as usize,
                    r[2].as_u64().unwrap() as usize,
                );
                assert!(s + n <= file.len(), "{key}: {s}+{n} past {}", file.len());
                out.extend_from_slice(&file[s..s + n]);
            }
            J::String(b) => out.extend(
                pickle_ops::json::base64_decode(b.strip_prefix("base64:").unwrap()).unwrap(),
            ),
            other => panic!("{key}: {other}"),
        }
    }
    out
}

fn meta(j: &J, key: &str) -> J {
    serde_json::from_str(j["refs"][key].as_str().unwrap()).unwrap()
}

/// Checks the array at `path` against `raw`.
fn check(j: &J, file: &[u8], path: &str, raw: &[u8]) {
    let z = meta(j, &format!("{path}/.zarray"));
    let shape: Vec<u64> = z["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let chunks: Vec<u64> = z["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let (count, suffix) = if shape.is_empty() {
        (1, "0d".to_string())
    } else if raw.is_empty() {
        (0, String::new())
    } else {
        (
            shape[0].div_ceil(chunks[0]) as usize,
            ".0".repeat(shape.len() - 1),
        )
    };
    let got = reassemble(j, file, path, count, &suffix);
    assert!(got.len() >= raw.len(), "{path}");
    if !shape.is_empty() && count > 0 {
        let per_chunk = got.len() / count;
        let row = raw.len() / shape[0] as usize;
        assert_eq!(
            per_chunk,
            chunks[0] as usize * row,
            "{path}: every chunk is full"
        );
    }
    assert_eq!(&got[..raw.len()], raw, "{path}");
}

#[test]
fn chunks_reassemble_to_the_arrays() {
    let mut rng = SplitMix64(14);
    for layout in [Layout::V2, Layout::Mmappickle1] {
        for round in 0..20 {
            let (_dir, path) = tmp();
            let d = create_with(&path, OpenOptions::new().layout(layout));
            let mut arrays = Vec::new();
            for k in 0..1 + rng.next() % 4 {
                let ndim = (rng.next() % 4) as usize;
                let shape: Vec<usize> = (0..ndim)
                    .map(|i| (rng.next() % if i == 0 { 3000 } else { 9 }) as usize)
                    .collect();
                let (dtype, size) =
                    [("<f8", 8), (">i2", 2), ("|u1", 1), ("<c8", 8)][(rng.next() % 4) as usize];
                let n: usize = shape.iter().product::<usize>() * size;
                let raw: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                let key = format!("a{k}");
                d.insert_bytes(&key, dtype, &shape, &raw).unwrap();
                arrays.push((key, raw));
            }
            if round % 3 == 0 {
                d.insert_pickle(
                    "after",
                    &pickle_ops::json::from_json_str(r#"{"int": "7"}"#).unwrap(),
                )
                .unwrap();
            }
            let mut opts = Options::new(path.to_string_lossy());
            opts.chunk_bytes = 1 + rng.next() % 5000;
            let refs = d.zarr_refs(&opts).unwrap();
            let file = std::fs::read(&path).unwrap();
            let j: J = serde_json::from_str(&refs.json).unwrap();
            assert!(refs.skipped.is_empty(), "{:?}", refs.skipped);
            for (key, raw) in &arrays {
                check(&j, &file, key, raw);
            }
        }
    }
}

#[test]
fn masked_arrays_and_the_last_entry() {
    let (_dir, path) = tmp();
    let d = create_with(&path, &mut OpenOptions::new());
    let data: Vec<u8> = (0..1009u32 * 4).map(|i| (i % 253) as u8).collect();
    let mask: Vec<u8> = (0..1009u32).map(|i| (i % 3 == 0) as u8).collect();
    d.insert_masked_bytes("nomask", "<i2", &[3], &[1, 0, 2, 0, 3, 0], None)
        .unwrap();
    d.insert_masked_bytes("m", "<f4", &[1009], &data, Some(&mask))
        .unwrap();
    // The last entry: 1009 (prime) rows of 100 bytes, 40,000-byte chunks:
    // no exact chunking, and the best (5 chunks of 202 rows) runs 100 bytes
    // past the data, more than follow it in the file.
    let last: Vec<u8> = (0..100_900u32).map(|i| (i % 249) as u8).collect();
    d.insert_bytes("last", "|u1", &[1009, 100], &last).unwrap();
    let mut opts = Options::new("f.mmpk");
    opts.chunk_bytes = 400;
    let refs = d.zarr_refs(&opts).unwrap();
    let file = std::fs::read(&path).unwrap();
    let j: J = serde_json::from_str(&refs.json).unwrap();
    check(&j, &file, "m/data", &data);
    check(&j, &file, "m/mask", &mask);
    check(&j, &file, "nomask/data", &[1, 0, 2, 0, 3, 0]);
    check(&j, &file, "nomask/mask", &[0]);
    assert!(refs.inlined.is_empty(), "{:?}", refs.inlined);
    opts.chunk_bytes = 40_000;
    let refs = d.zarr_refs(&opts).unwrap();
    let j: J = serde_json::from_str(&refs.json).unwrap();
    assert_eq!(refs.inlined, [("last".to_string(), (1009 - 4 * 202) * 100)]);
    assert_eq!(
        meta(&j, "last/.zarray")["chunks"],
        serde_json::json!([202, 100])
    );
    check(&j, &file, "last", &last);
    check(&j, &file, "m/data", &data);
}
