//! `put --npy` and `export`: every dtype round-trips, byte for byte.

use crate::{mmpk, stderr};

/// A `.npy` file of `descr` (Python text), C order.
pub(crate) fn npy_bytes(descr_py: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape = match shape {
        [one] => format!("({one},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': {descr_py}, 'fortran_order': False, 'shape': {shape}, }}");
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// The descr and data of a `.npy` file (a simple reader for the tests).
fn parse_npy(b: &[u8]) -> (String, Vec<u8>) {
    assert_eq!(&b[..6], b"\x93NUMPY");
    let (hlen, pre) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let h = std::str::from_utf8(&b[pre..pre + hlen]).unwrap();
    let start = h.find("'descr': ").unwrap() + 9;
    let end = h.find(", 'fortran_order'").unwrap();
    (h[start..end].to_string(), b[pre + hlen..].to_vec())
}

#[test]
fn every_dtype_round_trips_through_put_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.mmpk");
    let f = file.to_str().unwrap();
    let cases: &[(&str, usize)] = &[
        ("'|b1'", 1),
        ("'|i1'", 1),
        ("'<i2'", 2),
        ("'<i4'", 4),
        ("'<i8'", 8),
        ("'|u1'", 1),
        ("'<u2'", 2),
        ("'<u4'", 4),
        ("'<u8'", 8),
        ("'<f2'", 2),
        ("'<f4'", 4),
        ("'<f8'", 8),
        ("'<c8'", 8),
        ("'<c16'", 16),
        ("'>f8'", 8),
        ("'>i4'", 4),
        ("'|S3'", 3),
        ("'<U2'", 8),
        ("'<M8[ns]'", 8),
        ("'<m8[s]'", 8),
        ("'|V4'", 4),
    ];
    for (i, (descr, size)) in cases.iter().enumerate() {
        let shape = [2usize, 3];
        let data: Vec<u8> = (0..6 * size)
            .map(|j| {
                if descr.contains("b1") {
                    (j % 2) as u8
                } else {
                    (j * 7 + i) as u8
                }
            })
            .collect();
        let src = dir.path().join(format!("in{i}.npy"));
        std::fs::write(&src, npy_bytes(descr, &shape, &data)).unwrap();
        let key = format!("k{i}");
        let o = mmpk(&["put", f, &key, "--npy", src.to_str().unwrap()]);
        assert!(o.status.success(), "{descr}: {}", stderr(&o));
        let out = dir.path().join(format!("out{i}.npy"));
        let o = mmpk(&["export", f, &key, out.to_str().unwrap()]);
        assert!(o.status.success(), "{descr}: {}", stderr(&o));
        let (d, got) = parse_npy(&std::fs::read(&out).unwrap());
        assert_eq!(&d, descr, "{descr}");
        assert_eq!(got, data, "{descr}");
        // get prints a summary for every dtype, stats where they apply.
        let o = mmpk(&["get", f, &key]);
        assert!(o.status.success(), "{descr}: {}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.contains("(2, 3)"), "{descr}: {text}");
    }
    let o = mmpk(&["verify", f]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn fortran_order_and_the_v1_layout() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.mmpk");
    let f = f.to_str().unwrap();
    // [[1, 2, 3], [4, 5, 6]] as <i2 in Fortran order (raw path: big-endian).
    let vals: [i16; 6] = [1, 4, 2, 5, 3, 6];
    for (descr, data) in [
        (
            "'<i2'",
            vals.iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
        (
            "'>i2'",
            vals.iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<u8>>(),
        ),
    ] {
        let mut b = npy_bytes(descr, &[2, 3], &data);
        let at = b.windows(5).position(|w| w == b"False").unwrap();
        b[at..at + 5].copy_from_slice(b"True ");
        let src = dir.path().join("f.npy");
        std::fs::write(&src, &b).unwrap();
        let o = mmpk(&[
            "put",
            "--layout",
            "mmappickle1",
            f,
            "a",
            "--npy",
            src.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = mmpk(&["get", "--json", f, "a"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let b64 = v["ndarray"]["data_b64"].as_str().unwrap();
        let raw = pickle_ops::json::base64_decode(b64).unwrap();
        let got: Vec<i16> = raw
            .chunks(2)
            .map(|c| {
                if descr.starts_with("'<") {
                    i16::from_le_bytes([c[0], c[1]])
                } else {
                    i16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 6], "{descr}");
        let o = mmpk(&["get", f, "a"]);
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.contains("min          1") && text.contains("max          6"),
            "{text}"
        );
        assert!(text.contains("mean         3.5"), "{text}");
    }
    let ls = mmpk(&["ls", "--json", f]);
    let v: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(v[0]["encoding"], "v1");
}

#[test]
fn bad_npy_files_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.mmpk");
    let fs = f.to_str().unwrap();
    let bad = dir.path().join("bad.npy");
    for (content, what) in [
        (b"not an npy file".to_vec(), "not a .npy"),
        (npy_bytes("'<f4'", &[10], &[0; 8]), "truncated"),
        (npy_bytes("'|O8'", &[1], &[0; 8]), "dtype"),
        (npy_bytes("[('x', '<f4')]", &[1], &[0; 4]), "structured"),
    ] {
        std::fs::write(&bad, &content).unwrap();
        let o = mmpk(&["put", fs, "k", "--npy", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{what}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("bad.npy") && e.contains(what), "{what}: {e}");
        assert!(!f.exists(), "a failed put must not create the file");
    }
    let o = mmpk(&["put", fs, "k", "--npy", "/nonexistent/a.npy"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/a.npy"));
}

#[test]
fn export_writes_every_stored_dtype_and_shape() {
    // Hand-built v2 arrays: byte orders, U, S, M8, 0-d, empty, a 2^40
    // dimension, 6 dimensions, a structured dtype.
    let f = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/handbuilt/v2_arrays.mmpk"
    );
    let file = std::fs::read(f).unwrap();
    let ls: serde_json::Value = serde_json::from_slice(&mmpk(&["ls", "--json", f]).stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for r in ls.as_array().unwrap() {
        let key = r["key"].as_str().unwrap();
        let out = dir.path().join(format!("{key}.npy"));
        let o = mmpk(&["export", f, key, out.to_str().unwrap()]);
        assert!(o.status.success(), "{key}: {}", stderr(&o));
        let (descr, data) = parse_npy(&std::fs::read(&out).unwrap());
        let at = r["data_offset"].as_u64().unwrap() as usize;
        let n = r["nbytes"].as_u64().unwrap() as usize;
        assert_eq!(data, &file[at..at + n], "{key}");
        let want = match r["dtype"].as_str().unwrap() {
            d if d.starts_with('[') => d.to_string(),
            d => format!("'{d}'"),
        };
        assert_eq!(descr, want, "{key}");
        let o = mmpk(&["get", f, key]);
        assert!(o.status.success(), "{key}: {}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.starts_with("key "), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("kind") && l.ends_with(" array")),
            "{key}: {text}"
        );
    }
}
