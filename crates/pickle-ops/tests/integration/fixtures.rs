//! Every pickle CPython wrote into `fixtures/pickle` against its manifest.

use pickle_ops::decode::{self, StrEncoding};
use pickle_ops::{encode, json, resolve};
use serde_json::Value as J;

use crate::{fixtures_dir, parse_json, with_big_stack};

/// A manifest value, or the file it was stored in when large.
fn load(v: &J) -> J {
    match v.get("json_file").and_then(J::as_str) {
        Some(rel) => parse_json(
            &std::fs::read_to_string(fixtures_dir().join("pickle").join(rel)).expect("json file"),
        ),
        None => v.clone(),
    }
}

/// The row's Python 2 string encoding, when it is one we support (ASCII,
/// latin1, bytes: the ones docs/cli.md lists).
fn encoding(row: &J) -> Option<StrEncoding> {
    row["encoding"].as_str().unwrap_or("ASCII").parse().ok()
}

/// Decodes (and resolves) `data`, returning the canonical JSON (`null` for
/// the huge ones, which are only decoded and printed).
fn our_json(data: &[u8], enc: StrEncoding, raw: bool, huge: bool) -> Result<J, String> {
    let mut opts = decode::DecodeOptions::default();
    opts.encoding = enc;
    let mut p = decode::decode(data, &opts).map_err(|e| e.to_string())?;
    if !raw {
        resolve::resolve(&mut p, opts.max_compare_work).map_err(|e| format!("{e:?}"))?;
    }
    let s = json::pickle_to_json(&p, &json::JsonOptions::default()).map_err(|e| e.to_string());
    if huge {
        return Ok(J::Null);
    }
    Ok(parse_json(&s?))
}

#[test]
fn fixtures_decode_to_their_manifest_and_reencode_exactly() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    with_big_stack(|| {
        let dir = fixtures_dir().join("pickle");
        let manifest =
            parse_json(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"));
        let rows = manifest.as_array().expect("manifest is a list");
        assert!(
            rows.len() > 1000,
            "expected the full fixture set, found {} rows",
            rows.len()
        );
        let (mut decoded, mut exact, mut failures) = (0, 0, Vec::new());
        for row in rows {
            let file = row["file"].as_str().unwrap();
            let data = std::fs::read(dir.join(file)).unwrap();
            let Some(enc) = encoding(row) else { continue };
            for (key, raw) in [("raw", true), ("resolved", false)] {
                let want = &load(&row[key]);
                let huge = row["huge_json"].as_bool().unwrap_or(false);
                let got = our_json(&data, enc, raw, huge);
                if let Some(e) = want.get("error") {
                    // The reference refuses it (as CPython does): so must we.
                    if let Ok(g) = got {
                        failures.push(format!(
                            "{file}: {key}: expected an error like {e}, got {g}"
                        ));
                    }
                    continue;
                }
                match got {
                    Ok(got) if want.is_null() => {
                        // No stored JSON: huge ones must still decode.
                        if !row["huge_json"].as_bool().unwrap_or(false)
                            && row["cpython_error"].is_null()
                        {
                            failures.push(format!(
                                "{file}: {key}: manifest has no JSON but decoding succeeded: {got}"
                            ));
                        }
                    }
                    Ok(got) => {
                        if !json::equal(want, &got) {
                            failures.push(format!("{file}: {key}: expected {want}\n   got {got}"));
                        }
                    }
                    Err(e) => {
                        if !want.is_null() || row["huge_json"].as_bool().unwrap_or(false) {
                            failures.push(format!("{file}: {key}: decoding failed: {e}"));
                        }
                    }
                }
            }
            decoded += 1;
            if row["exact"].as_bool().unwrap_or(false) {
                let proto = row["protocol"].as_u64().unwrap() as u8;
                // From the canonical JSON, as a Python object would be rebuilt.
                let p = json::from_json(&load(&row["encode_from"])).unwrap();
                match encode::encode(&p, proto) {
                    Ok(bytes) if bytes == data => exact += 1,
                    Ok(bytes) => failures.push(format!("{file}: encoding differs (ours {} bytes, CPython {})\n   ours {:?}\n   want {:?}", bytes.len(), data.len(), trunc(&bytes), trunc(&data))),
                    Err(e) => failures.push(format!("{file}: encoding failed: {e}")),
                }
                // From the decoded graph, keeping the stream's identities.
                let mut opts = decode::DecodeOptions::default();
                opts.encoding = enc;
                let p = decode::decode(&data, &opts).unwrap();
                match encode::encode(&p, proto) {
                    Ok(bytes) if bytes == data => {}
                    Ok(_) => {
                        failures.push(format!("{file}: re-encoding the decoded graph differs"))
                    }
                    Err(e) => failures.push(format!("{file}: re-encoding failed: {e}")),
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} fixtures failed ({} exact encodings matched):\n{}",
            failures.len(),
            decoded,
            exact,
            failures[..failures.len().min(20)].join("\n")
        );
        assert!(exact > 500, "only {exact} exact encodings were checked");
    });
}

fn trunc(b: &[u8]) -> String {
    let s = format!("{:?}", String::from_utf8_lossy(&b[..b.len().min(200)]));
    s
}
