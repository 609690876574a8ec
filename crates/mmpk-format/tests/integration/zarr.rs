//! The zarr reference generator: metadata, chunk references, edge chunks,
//! masked groups, attributes and what is skipped.

use mmpk_format::array::Encoding;
use mmpk_format::dtype::Dtype;
use mmpk_format::header::TERMINATOR;
use mmpk_format::write::encode_array;
use mmpk_format::write::encode_masked;
use mmpk_format::write::write_entry;
use mmpk_format::write::write_header;
use mmpk_format::zarr::{generate, items_from_file, zarr_dtype, ArrayLoc, Item, Options, Source};
use serde_json::Value as J;

fn loc(dtype: &str, shape: &[u64], data_offset: u64) -> ArrayLoc {
    ArrayLoc {
        dtype: Dtype::parse(dtype).unwrap(),
        shape: shape.to_vec(),
        data_offset,
    }
}

fn array(key: &str, dtype: &str, shape: &[u64], at: u64) -> Item {
    Item {
        key: key.into(),
        source: Source::Array(loc(dtype, shape, at)),
    }
}

/// Generates with a reader over `file` (zeros past its end are an error).
fn gen(items: &[Item], file: &[u8], chunk_bytes: u64) -> (J, mmpk_format::zarr::Refs) {
    let mut opts = Options::new("/data/f.mmpk");
    opts.chunk_bytes = chunk_bytes;
    let refs = generate(items, file.len() as u64, &opts, |r| {
        Ok::<_, ()>(file[r.start as usize..r.end as usize].to_vec())
    })
    .unwrap();
    let j: J = serde_json::from_str(&refs.json).unwrap();
    assert_eq!(j["version"], 1);
    (j, refs)
}

/// A metadata entry (a JSON string holding JSON), parsed.
fn meta(j: &J, key: &str) -> J {
    serde_json::from_str(j["refs"][key].as_str().unwrap_or_else(|| panic!("{key}"))).unwrap()
}

fn chunk_keys(j: &J, prefix: &str) -> Vec<String> {
    let refs = j["refs"].as_object().unwrap();
    refs.keys()
        .filter(|k| k.starts_with(prefix) && !k[prefix.len()..].starts_with('.'))
        .cloned()
        .collect()
}

#[test]
fn array_metadata_is_exact() {
    let file = vec![0u8; 10_000];
    let (j, refs) = gen(&[array("x", ">i4", &[10, 3, 2], 64)], &file, 1 << 20);
    assert_eq!(refs.arrays, ["x"]);
    let z = meta(&j, "x/.zarray");
    assert_eq!(z["shape"], serde_json::json!([10, 3, 2]));
    assert_eq!(z["chunks"], serde_json::json!([10, 3, 2]));
    assert_eq!(z["dtype"], ">i4");
    assert!(z["compressor"].is_null() && z["fill_value"].is_null() && z["filters"].is_null());
    assert_eq!(z["order"], "C");
    assert_eq!(z["zarr_format"], 2);
    assert_eq!(meta(&j, ".zgroup")["zarr_format"], 2);
    assert_eq!(
        meta(&j, "x/.zattrs")["_ARRAY_DIMENSIONS"],
        serde_json::json!(["x_dim0", "x_dim1", "x_dim2"])
    );
    assert_eq!(
        j["refs"]["x/0.0.0"],
        serde_json::json!(["/data/f.mmpk", 64, 240])
    );
    assert!(j.get("mmpk_skipped").is_none());
}

#[test]
fn chunks_cover_the_data_in_order() {
    // 1000 rows of 40 bytes, 4,000-byte chunks: 100 rows each.
    let file = vec![0u8; 100_000];
    let (j, _) = gen(&[array("a", "<f8", &[1000, 5], 128)], &file, 4000);
    assert_eq!(meta(&j, "a/.zarray")["chunks"], serde_json::json!([100, 5]));
    let keys = chunk_keys(&j, "a/");
    assert_eq!(keys.len(), 10);
    for i in 0..10u64 {
        let r = &j["refs"][format!("a/{i}.0")];
        assert_eq!(r[1], 128 + i * 4000);
        assert_eq!(r[2], 4000);
    }
}

#[test]
fn the_last_chunk_runs_on_or_is_inline() {
    // 1009 rows (prime) of 4 bytes, 400-byte chunks: 92 rows waste 3.
    let n = 1009u64;
    let mut file = vec![0u8; 64 + 4 * n as usize];
    for (i, b) in file[64..].iter_mut().enumerate() {
        *b = (i % 251) as u8 + 1;
    }
    // 20 bytes follow the data: enough for the 12 bytes of 3 rows.
    let mut roomy = file.clone();
    roomy.extend_from_slice(&[0xee; 20]);
    let (j, refs) = gen(&[array("p", "<u4", &[n], 64)], &roomy, 400);
    assert!(refs.inlined.is_empty());
    assert_eq!(meta(&j, "p/.zarray")["chunks"], serde_json::json!([92]));
    let last = &j["refs"]["p/10"];
    assert_eq!(last[1], 64 + 10 * 368);
    assert_eq!(last[2], 368);
    assert!(64 + 10 * 368 + 368 <= roomy.len() as u64);

    // Nothing follows: the last chunk is inline, its rows then zeros.
    let (j, refs) = gen(&[array("p", "<u4", &[n], 64)], &file, 400);
    assert_eq!(refs.inlined, [("p".to_string(), 4 * (n - 10 * 92))]);
    let inline = j["refs"]["p/10"].as_str().unwrap();
    let bytes = pickle_ops::json::base64_decode(inline.strip_prefix("base64:").unwrap()).unwrap();
    assert_eq!(bytes.len(), 368);
    let real = 4 * (n - 10 * 92) as usize;
    assert_eq!(bytes[..real], file[file.len() - real..]);
    assert!(bytes[real..].iter().all(|&b| b == 0));
    // Every other chunk is a range inside the file.
    for i in 0..10 {
        let r = &j["refs"][format!("p/{i}")];
        assert!(r[1].as_u64().unwrap() + r[2].as_u64().unwrap() <= file.len() as u64);
    }
}

#[test]
fn zero_d_and_empty_arrays() {
    let file = vec![0u8; 1000];
    let items = [
        array("s", "<f8", &[], 64),
        array("e", "<f4", &[0, 7], 128),
        array("f", "<f4", &[3, 0], 128),
    ];
    let (j, refs) = gen(&items, &file, 1 << 20);
    assert_eq!(refs.arrays, ["s", "e", "f"]);
    let z = meta(&j, "s/.zarray");
    assert_eq!(z["shape"], serde_json::json!([]));
    assert_eq!(z["chunks"], serde_json::json!([]));
    assert_eq!(j["refs"]["s/0"], serde_json::json!(["/data/f.mmpk", 64, 8]));
    assert_eq!(
        meta(&j, "s/.zattrs")["_ARRAY_DIMENSIONS"],
        serde_json::json!([])
    );
    assert_eq!(meta(&j, "e/.zarray")["chunks"], serde_json::json!([1, 7]));
    assert_eq!(meta(&j, "f/.zarray")["chunks"], serde_json::json!([3, 1]));
    assert!(chunk_keys(&j, "e/").is_empty() && chunk_keys(&j, "f/").is_empty());
}

#[test]
fn dtypes_zarr_reads_and_those_it_does_not() {
    for (d, z) in [
        ("|b1", "\"|b1\""),
        ("<f2", "\"<f2\""),
        (">c16", "\">c16\""),
        ("|S5", "\"|S5\""),
        (">U3", "\">U3\""),
        ("|V4", "\"|V4\""),
        ("<M8[ns]", "\"<M8[ns]\""),
        ("<m8[25s]", "\"<m8[25s]\""),
        ("<M8", "\"<M8\""),
        (
            "[('x', '<f4'), ('y', '>i8')]",
            r#"[["x","<f4"],["y",">i8"]]"#,
        ),
        (
            "{'names': ['x', 'y'], 'formats': ['<f4', '<i8'], 'offsets': [0, 8], 'itemsize': 24}",
            r#"[["x","<f4"],["","|V4"],["y","<i8"],["","|V8"]]"#,
        ),
    ] {
        assert_eq!(zarr_dtype(&Dtype::parse(d).unwrap()).unwrap(), z, "{d}");
    }
    for d in [
        "<f16",
        "<c32",
        "|S0",
        "<U0",
        "|V0",
        "[('x', '<f4', (2,))]",
        "[('x', [('a', '<i2')])]",
        "[(('title', 'x'), '<f4')]",
        "[('x', '<f16')]",
    ] {
        let why = zarr_dtype(&Dtype::parse(d).unwrap()).unwrap_err();
        assert!(why.contains("dtype"), "{d}: {why}");
    }
}

#[test]
fn masked_arrays_are_groups_and_values_attributes() {
    let file = vec![0u8; 10_000];
    let value = |json: &str| pickle_ops::json::from_json_str(json).unwrap();
    let items = [
        Item {
            key: "m".into(),
            source: Source::Masked {
                data: loc("<i2", &[4, 2], 64),
                mask: loc("|b1", &[4, 2], 200),
            },
        },
        Item {
            key: "n".into(),
            source: Source::Masked {
                data: loc("<f4", &[3], 300),
                mask: loc("|b1", &[], 400),
            },
        },
        Item {
            key: "meta".into(),
            source: Source::Value(value(
                r#"{"dict": [[{"str": "unit"}, {"str": "nm"}], [{"str": "n"}, {"int": "3"}]]}"#,
            )),
        },
        Item {
            key: "raw".into(),
            source: Source::Value(value(r#"{"bytes_b64": "AAE="}"#)),
        },
        array("bad/key", "<f4", &[1], 64),
        array(".zarray", "<f4", &[1], 64),
        array("big", "<f16", &[1], 64),
        array("past", "<f8", &[10_000], 64),
        Item {
            key: "odd".into(),
            source: Source::Skip("told so".into()),
        },
        // Its dimension names would be m's: made unique.
        array("m_dim0", "<f4", &[2], 64),
    ];
    let (j, refs) = gen(&items, &file, 1 << 20);
    assert_eq!(refs.arrays, ["m", "n", "m_dim0"]);
    assert_eq!(refs.attrs, ["meta"]);
    assert_eq!(meta(&j, "m/.zgroup")["zarr_format"], 2);
    assert_eq!(meta(&j, "m/data/.zarray")["dtype"], "<i2");
    assert_eq!(meta(&j, "m/mask/.zarray")["dtype"], "|b1");
    assert_eq!(
        j["refs"]["m/mask/0.0"],
        serde_json::json!(["/data/f.mmpk", 200, 8])
    );
    let dims = serde_json::json!(["m_dim0_", "m_dim1"]);
    assert_eq!(meta(&j, "m/data/.zattrs")["_ARRAY_DIMENSIONS"], dims);
    assert_eq!(meta(&j, "m/mask/.zattrs")["_ARRAY_DIMENSIONS"], dims);
    assert_eq!(meta(&j, "n/mask/.zarray")["shape"], serde_json::json!([]));
    assert_eq!(
        meta(&j, "m_dim0/.zattrs")["_ARRAY_DIMENSIONS"],
        serde_json::json!(["m_dim0_dim0"])
    );
    assert_eq!(
        meta(&j, ".zattrs"),
        serde_json::json!({"meta": {"unit": "nm", "n": 3}})
    );
    let skipped = j["mmpk_skipped"].as_object().unwrap();
    let keys: Vec<&str> = refs.skipped.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["raw", "bad/key", ".zarray", "big", "past", "odd"]);
    assert_eq!(skipped.len(), 6);
    assert!(skipped["past"].as_str().unwrap().contains("past the end"));
    assert_eq!(skipped["odd"], "told so");
    assert!(skipped["raw"].as_str().unwrap().contains("bytes"));
}

#[test]
fn items_of_a_whole_file_both_encodings() {
    let mut file = write_header(1).to_vec();
    let dt = Dtype::parse("<f4").unwrap();
    let raw: Vec<u8> = (0..24u8).collect();
    let mut offsets = Vec::new();
    for (key, enc) in [("v2", Encoding::V2), ("v1", Encoding::V1)] {
        let mut v = Vec::new();
        encode_array(&mut v, enc, &dt, &[2, 3], &raw).unwrap();
        let at = file.len();
        write_entry(&mut file, key, &v, 1, true).unwrap();
        offsets.push(at + file[at..].windows(24).position(|w| w == raw).unwrap());
    }
    let mut v = Vec::new();
    let mask = [1u8, 0, 0, 1, 0, 0];
    encode_masked(&mut v, Encoding::V2, &dt, &[2, 3], &raw, Some(&mask)).unwrap();
    write_entry(&mut file, "m", &v, 1, true).unwrap();
    write_entry(&mut file, "note", b"X\x02\x00\x00\x00hi\x94", 1, true).unwrap();
    write_entry(&mut file, "gone", b"K\x01", 1, false).unwrap();
    file.extend_from_slice(&TERMINATOR);
    let items = items_from_file(&file).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["v2", "v1", "m", "note"]);
    for (it, &off) in items.iter().zip(&offsets) {
        let Source::Array(a) = &it.source else {
            panic!("{:?}", it.source)
        };
        assert_eq!(
            (a.data_offset, a.shape.as_slice()),
            (off as u64, &[2u64, 3][..])
        );
    }
    let Source::Masked { data, mask: m } = &items[2].source else {
        panic!()
    };
    let d = data.data_offset as usize;
    assert_eq!(&file[d..d + 24], &raw[..]);
    let k = m.data_offset as usize;
    assert_eq!(&file[k..k + 6], &mask[..]);
    let (j, _) = gen(&items, &file, 1 << 20);
    assert_eq!(meta(&j, ".zattrs"), serde_json::json!({"note": "hi"}));
    assert_eq!(j["refs"]["v1/0.0"][1], offsets[1] as u64);
}
