//! Rule 3 (numpy arrays in generic values) against the numpy fixtures:
//! pickles written by real numpy 1.23.5 and 2.x at protocols 2-5, each with
//! its expected resolved canonical JSON (`fixtures/numpy/manifest.json`).

use std::path::PathBuf;

use mmpk_format::numpy::{numpy_scalar, resolve_numpy};
use pickle_ops::decode::{decode, DecodeOptions};
use pickle_ops::json::{equal, from_json, pickle_to_json, JsonOptions};
use pickle_ops::{encode, resolve, Value};
use serde_json::Value as J;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/numpy")
}

/// Decodes, resolves rules 1-3, and prints canonical JSON.
fn resolved(data: &[u8], buffers: &[&[u8]]) -> J {
    let opts = DecodeOptions::default();
    let mut p = decode(data, &opts).expect("decode");
    resolve::resolve(&mut p, opts.max_compare_work).expect("resolve");
    resolve_numpy(&mut p, buffers);
    serde_json::from_str(&pickle_to_json(&p, &JsonOptions::default()).expect("json"))
        .expect("parse")
}

#[test]
fn every_numpy_fixture_resolves_to_its_manifest() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let dir = fixtures();
    let manifest: J =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let items = manifest.as_array().expect("a list");
    assert!(items.len() > 400, "{} fixtures", items.len());
    let (mut arrays, mut masked, mut failures) = (0, 0, Vec::new());
    for it in items {
        let file = it["file"].as_str().expect("file");
        let data = std::fs::read(dir.join(file)).expect(file);
        let got = resolved(&data, &[]);
        if !equal(&it["resolved"], &got) {
            failures.push(format!(
                "{file}: resolved\n want {}\n got  {got}",
                it["resolved"]
            ));
            continue;
        }
        let bufs: Vec<Vec<u8>> = it["oob_buffers"]
            .as_array()
            .expect("list")
            .iter()
            .map(|b| std::fs::read(dir.join(b.as_str().expect("name"))).expect("buffer"))
            .collect();
        if !bufs.is_empty() {
            let refs: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
            let got = resolved(&data, &refs);
            if !equal(&it["resolved_with_buffers"], &got) {
                failures.push(format!(
                    "{file}: with buffers\n want {}\n got  {got}",
                    it["resolved_with_buffers"]
                ));
                continue;
            }
        }
        let text = got.to_string();
        arrays += text.contains("\"ndarray\"") as usize;
        masked += text.contains("\"masked_array\"") as usize;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Scalars stay reduce nodes; everything else folded.
    assert!(
        arrays >= 380 && masked >= 20,
        "{arrays} arrays, {masked} masked"
    );
}

#[test]
fn folded_arrays_keep_identity_and_pickles_without_numpy_are_untouched() {
    // [a, a] where a is mmpk's v2 encoding of a 3-element uint8 array
    let v2 = r#"{"reduce":{"callable":{"global":["numpy","reshape"]},"args":{"tuple":[
        {"reduce":{"callable":{"global":["numpy","frombuffer"]},"args":{"tuple":[
            {"reduce":{"callable":{"global":["builtins","bytearray"]},"args":{"tuple":[{"bytes_b64":"AQID"}]}}},
            {"str":"|u1"}]}}},
        {"tuple":[{"int":"3"}]}]}}}"#;
    let doc = format!(
        r#"{{"list":[{{"id":0,{}}},{{"ref":0}}]}}"#,
        &v2[1..v2.len() - 1]
    );
    let j: J = serde_json::from_str(&doc).expect("json");
    let p0 = from_json(&j).expect("from_json");
    let bytes = encode::encode(&p0, 4).expect("encode");
    let got = resolved(&bytes, &[]);
    let want: J = serde_json::from_str(
        r#"{"list":[{"ndarray":{"dtype":"|u1","shape":[3],"data_b64":"AQID"}},{"ndarray":{"dtype":"|u1","shape":[3],"data_b64":"AQID"}}]}"#,
    )
    .expect("json");
    assert!(equal(&want, &got), "{got}");
    // The two list items are one node.
    let opts = DecodeOptions::default();
    let mut p = decode(&bytes, &opts).expect("decode");
    resolve::resolve(&mut p, opts.max_compare_work).expect("resolve");
    assert_eq!(resolve_numpy(&mut p, &[]), 2, "frombuffer and reshape");
    let Some(Value::List(items)) = p.node(p.root()) else {
        panic!()
    };
    assert_eq!(items[0], items[1]);
    // No numpy global: nothing changes.
    let mut q = decode(b"\x80\x04]\x94(K\x01K\x02e.", &opts).expect("decode");
    assert_eq!(resolve_numpy(&mut q, &[]), 0);
}

#[test]
fn arrays_whose_sizes_do_not_match_stay_unfolded() {
    // frombuffer of 3 bytes as <f8 (not a whole number of items), and a
    // reshape to 4 elements of a 3-element array.
    for doc in [
        r#"{"reduce":{"callable":{"global":["numpy","frombuffer"]},"args":{"tuple":[{"bytes_b64":"AQID"},{"str":"<f8"}]}}}"#,
        r#"{"reduce":{"callable":{"global":["numpy","reshape"]},"args":{"tuple":[
            {"reduce":{"callable":{"global":["numpy","frombuffer"]},"args":{"tuple":[{"bytes_b64":"AQID"},{"str":"|u1"}]}}},
            {"tuple":[{"int":"4"}]}]}}}"#,
        r#"{"reduce":{"callable":{"global":["numpy","frombuffer"]},"args":{"tuple":[{"bytes_b64":"AQID"},{"str":"|O"}]}}}"#,
    ] {
        let j: J = serde_json::from_str(doc).expect("json");
        let bytes = encode::encode(&from_json(&j).expect("from_json"), 4).expect("encode");
        let got = resolved(&bytes, &[]);
        assert!(
            !got.to_string().contains("ndarray\":{\"dtype\":\"<f8"),
            "{got}"
        );
        assert!(got.get("reduce").is_some(), "{got}");
    }
}

#[test]
fn numpy_scalars_read_as_dtype_and_bytes() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let dir = fixtures();
    let manifest: J =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let mut seen = 0;
    for it in manifest.as_array().expect("list") {
        if it["kind"] != "scalar" {
            continue;
        }
        let file = it["file"].as_str().expect("file");
        let data = std::fs::read(dir.join(file)).expect(file);
        let opts = DecodeOptions::default();
        let mut p = decode(&data, &opts).expect("decode");
        resolve::resolve(&mut p, opts.max_compare_work).expect("resolve");
        let s = numpy_scalar(&p, p.root()).unwrap_or_else(|| panic!("{file}"));
        let (want_dtype, want) = match it["name"].as_str() {
            Some("scalar_f8") => ("<f8", 1.5f64.to_le_bytes().to_vec()),
            Some("scalar_i4") => ("<i4", 7i32.to_le_bytes().to_vec()),
            other => panic!("unknown scalar fixture {other:?}"),
        };
        assert_eq!(s.dtype.str(), want_dtype, "{file}");
        assert_eq!(s.data, want, "{file}");
        seen += 1;
    }
    assert_eq!(seen, 16);
}

/// numpy's own pickle of an array's dtype (the BUILD state's dtype node of
/// `_reconstruct`) reads as the dtype the manifest gives, for both numpy
/// majors; structured dtypes read as their descr.
#[test]
fn numpy_dtypes_read_from_numpys_own_pickles() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    use mmpk_format::numpy::numpy_dtype;
    use pickle_ops::value::ObjectKind;
    let dir = fixtures();
    let manifest: J =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let (mut scalars, mut structured) = (0, 0);
    for it in manifest.as_array().expect("list") {
        if it["kind"] != "ndarray" || it["out_of_band"] == true || it["protocol"] == 5 {
            continue;
        }
        let file = it["file"].as_str().expect("file");
        if !file.contains(".p") || file.contains("mmpk_") {
            continue;
        }
        let data = std::fs::read(dir.join(file)).expect(file);
        let opts = DecodeOptions::default();
        let mut p = decode(&data, &opts).expect("decode");
        resolve::resolve(&mut p, opts.max_compare_work).expect("resolve");
        let Some(Value::Object(o)) = p.node(p.root()) else {
            continue;
        };
        let (ObjectKind::Reduce { .. }, Some(state)) = (&o.kind, o.state) else {
            continue;
        };
        let Some(Value::Tuple(st)) = p.node(state) else {
            panic!("{file}")
        };
        let dt = numpy_dtype(&p, st[st.len() - 3]).unwrap_or_else(|| panic!("{file}"));
        let want = &it["resolved"]["ndarray"]["dtype"];
        match want.as_str() {
            Some(s) => {
                assert_eq!(dt.str(), s, "{file}");
                scalars += 1;
            }
            None => {
                assert!(
                    matches!(dt, mmpk_format::dtype::Dtype::Structured(_)),
                    "{file}"
                );
                structured += 1;
            }
        }
    }
    assert!(scalars >= 100 && structured >= 4, "{scalars} {structured}");
    // Not a dtype: None, never a panic.
    let p = decode(b"\x80\x04K\x01.", &DecodeOptions::default()).unwrap();
    assert!(numpy_dtype(&p, p.root()).is_none());
}
