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
    let _ = mmpk_test_support::fixtures_or_skip!("");
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

/// Runs mmpk with `stdin` piped in; returns its output.
fn mmpk_piped(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new(env!("CARGO_BIN_EXE_mmpk"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = c.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Written from a thread: mmpk may stop reading early (bad input).
    let t = std::thread::spawn(move || {
        let _ = i.write_all(&data);
    });
    let o = c.wait_with_output().unwrap();
    t.join().unwrap();
    o
}

/// `.npy` bytes with `fortran_order` set.
fn fortran_npy(descr_py: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut b = npy_bytes(descr_py, shape, data);
    let at = b.windows(5).position(|w| w == b"False").unwrap();
    b[at..at + 5].copy_from_slice(b"True ");
    b
}

#[test]
fn pipes_stream_in_and_out_in_c_and_fortran_order() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.mmpk");
    let f = f.to_str().unwrap();
    // 3 x 700 x 1000 little-endian u16 (4.2 MB): element (i, j, k) is
    // i * 7 + j * 3 + k, wrapping.
    let shape = [3usize, 700, 1000];
    let val = |i: usize, j: usize, k: usize| (i * 7 + j * 3 + k) as u16;
    let mut c_order = Vec::new();
    for i in 0..3 {
        for j in 0..700 {
            for k in 0..1000 {
                c_order.extend(val(i, j, k).to_le_bytes());
            }
        }
    }
    let mut f_order = Vec::new();
    for k in 0..1000 {
        for j in 0..700 {
            for i in 0..3 {
                f_order.extend(val(i, j, k).to_le_bytes());
            }
        }
    }
    let o = mmpk_piped(
        &["put", f, "c", "--npy", "-"],
        &npy_bytes("'<u2'", &shape, &c_order),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mmpk_piped(
        &["put", f, "f", "--npy", "-"],
        &fortran_npy("'<u2'", &shape, &f_order),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The same Fortran array from a file (the tiled transposition).
    let src = dir.path().join("f.npy");
    std::fs::write(&src, fortran_npy("'<u2'", &shape, &f_order)).unwrap();
    let o = mmpk(&["put", f, "ff", "--npy", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = npy_bytes("'<u2'", &shape, &c_order);
    for key in ["c", "f", "ff"] {
        // To a pipe: the .npy on stdout, byte for byte what numpy writes
        // (version 1 header padded to 64), and nothing else.
        let o = mmpk(&["export", f, key, "-"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(o.stdout == want, "{key}");
        // To a file.
        let out = dir.path().join(format!("{key}.npy"));
        let o = mmpk(&["export", f, key, out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(std::fs::read(&out).unwrap() == want, "{key}");
    }
    // A reader that stops early (as `| head -c 100` does) is not an error.
    {
        use std::io::Read;
        use std::process::{Command, Stdio};
        let mut c = Command::new(env!("CARGO_BIN_EXE_mmpk"))
            .args(["export", f, "c", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        c.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // stdout is closed here; the rest of the 4.2 MB cannot be written.
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(&head[..], &want[..100]);
    }
    // A pipe that ends early changes nothing, whatever the order.
    for b in [
        npy_bytes("'<u2'", &shape, &c_order[..1000]),
        fortran_npy("'<u2'", &shape, &f_order[..1000]),
    ] {
        let o = mmpk_piped(&["put", f, "short", "--npy", "-"], &b);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("<stdin>: the data is truncated"),
            "{}",
            stderr(&o)
        );
    }
    let o = mmpk_piped(&["put", f, "bad", "--npy", "-"], b"not a npy");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("<stdin>: not a .npy"), "{}", stderr(&o));
    let o = mmpk(&["ls", "--json", f]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["c", "f", "ff"]);
}

/// The peak resident memory mmpk reported (`MMPK_REPORT_PEAK_RSS`), in kB.
pub(crate) fn peak_kb(args: &[&str]) -> u64 {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mmpk"))
        .args(args)
        .env("MMPK_REPORT_PEAK_RSS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    e.lines()
        .find_map(|l| l.strip_prefix("mmpk: peak resident memory: "))
        .and_then(|v| v.trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no peak memory report: {e}"))
}

#[test]
fn a_4_gib_array_streams_in_and_out_in_bounded_memory() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.mmpk");
    let f = f.to_str().unwrap();
    // A sparse 4 GiB .npy of float32 zeros, with a few values.
    let shape = [1024usize, 1024, 1024];
    let src = dir.path().join("big.npy");
    let header = npy_bytes("'<f4'", &shape, &[]);
    let h = header.len() as u64;
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::create(&src).unwrap();
        file.write_all_at(&header, 0).unwrap();
        file.set_len(h + (4 << 30)).unwrap();
        file.write_all_at(&2.5f32.to_le_bytes(), h + (3 << 30))
            .unwrap();
        file.write_all_at(&1.5f32.to_le_bytes(), h + (4 << 30) - 4)
            .unwrap();
    }
    let put = peak_kb(&["put", f, "big", "--npy", src.to_str().unwrap()]);
    let out = dir.path().join("out.npy");
    let export = peak_kb(&["export", f, "big", out.to_str().unwrap()]);
    eprintln!("peak resident memory: put {put} kB, export {export} kB");
    assert!(put < 64 << 10, "put: {put} kB");
    assert!(export < 64 << 10, "export: {export} kB");
    let o = std::fs::File::open(&out).unwrap();
    assert_eq!(o.metadata().unwrap().len(), h + (4 << 30));
    // Holes stayed holes: a few blocks, not 4 GiB.
    assert!(o.metadata().unwrap().blocks() * 512 < 64 << 20);
    let mut b = [0u8; 4];
    use std::os::unix::fs::FileExt;
    o.read_exact_at(&mut b, h + (3 << 30)).unwrap();
    assert_eq!(f32::from_le_bytes(b), 2.5);
    o.read_exact_at(&mut b, h + (4 << 30) - 4).unwrap();
    assert_eq!(f32::from_le_bytes(b), 1.5);
    o.read_exact_at(&mut b, h + (2 << 30)).unwrap();
    assert_eq!(b, [0; 4]);
}
