//! The files of `fixtures/handbuilt/`, built byte by byte from docs/format.md by
//! `fixtures/gen/gen_handbuilt.py` (independently of our writers): fillers,
//! v2 arrays and masked arrays, duplicate keys, every torn tail, corrupt
//! bytes. Each scans and reads exactly as its manifest says.

use std::path::PathBuf;

use mmpk_format::array::{read_array, Array};
use mmpk_format::dtype::Dtype;
use mmpk_format::generic::decode_value;
use mmpk_format::masked::read_masked;
use mmpk_format::scan::{scan, EntryKind, Tail};
use pickle_ops::decode::DecodeOptions;
use pickle_ops::json::{base64_encode, equal, pickle_to_json, JsonOptions};
use serde_json::{json, Value as J};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/handbuilt")
}

fn tail_name(t: &Tail) -> &'static str {
    match t {
        Tail::Clean => "Clean",
        Tail::MissingTerminator => "MissingTerminator",
        Tail::IncompleteFrame => "IncompleteFrame",
        Tail::TrailingBytes { .. } => "TrailingBytes",
        Tail::BrokenTerminator => "BrokenTerminator",
        Tail::Corrupt(_) => "Corrupt",
        _ => "other",
    }
}

fn descr_json(d: &mmpk_format::descr::Descr) -> J {
    match d {
        mmpk_format::descr::Descr::Str(s) => J::String(s.clone()),
        mmpk_format::descr::Descr::Fields(f) => J::Array(
            f.iter()
                .map(|f| json!([f.name, descr_json(&f.format)]))
                .collect(),
        ),
    }
}

fn array_json(file: &[u8], a: &Array) -> J {
    let mut b64 = String::new();
    base64_encode(&file[a.data.clone()], &mut b64);
    let dtype = match &a.dtype {
        Dtype::Scalar(s) => J::String(s.str()),
        d => descr_json(&d.descr()),
    };
    json!({"ndarray": {"dtype": dtype, "shape": a.shape, "data_b64": b64}})
}

#[test]
fn every_handbuilt_file_scans_and_reads_as_its_manifest() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let d = dir();
    let manifest: J =
        serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap();
    let rows = manifest.as_array().unwrap();
    assert!(rows.len() >= 12);
    let mut values = 0;
    for row in rows {
        let name = row["file"].as_str().unwrap();
        let file = std::fs::read(d.join(name)).unwrap();
        let s = scan(&file);
        if row["header_ok"] == false {
            assert!(s.is_err(), "{name}: not an mmpk file, yet it scanned");
            continue;
        }
        let s = s.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tail_name(&s.tail), row["tail"], "{name}");
        assert_eq!(
            s.intact_end as u64,
            row["intact_end"].as_u64().unwrap(),
            "{name}"
        );
        let want: Vec<(u64, &str, &str)> = row["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[0].as_u64().unwrap(),
                    e[1].as_str().unwrap(),
                    e[2].as_str().unwrap(),
                )
            })
            .collect();
        let got: Vec<(u64, &str, &str)> = s
            .entries
            .iter()
            .map(|e| {
                let kind = match e.kind {
                    EntryKind::Live => "live",
                    EntryKind::Deleted => "deleted",
                    EntryKind::Filler => "filler",
                };
                (e.entry.offset as u64, e.entry.key, kind)
            })
            .collect();
        assert_eq!(got, want, "{name}");
        let index = s.live_index();
        let live = row["live"].as_object().unwrap();
        assert_eq!(index.len(), live.len(), "{name}");
        for (key, expected) in live {
            let e = &s.entries[index[key.as_str()]].entry;
            let span = e.value_span();
            let got = if let Ok(a) = read_array(&file, span.clone()) {
                array_json(&file, &a)
            } else if let Ok(m) = read_masked(&file, span.clone()) {
                json!({"masked_array": {"data": array_json(&file, &m.data), "mask": array_json(&file, &m.mask)}})
            } else {
                match decode_value(&file[span.clone()], span.start, &DecodeOptions::default()) {
                    Ok(p) => {
                        serde_json::from_str(&pickle_to_json(&p, &JsonOptions::default()).unwrap())
                            .unwrap()
                    }
                    Err(err) => json!({"error": err.to_string()}),
                }
            };
            if expected.get("error").is_some() {
                assert!(
                    got.get("error").is_some(),
                    "{name}: {key}: expected an error, got {got}"
                );
            } else {
                assert!(
                    equal(expected, &got),
                    "{name}: {key}:\n want {expected}\n got  {got}"
                );
            }
            values += 1;
        }
    }
    assert!(values >= 25, "{values} values checked");
}
