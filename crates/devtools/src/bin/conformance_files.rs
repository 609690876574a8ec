//! Writes the files `cargo xtask conformance` hands to real Python: one
//! file per layout (v2 with 64-byte alignment fillers, and the mmappickle
//! 1.0 layout), holding an array of every dtype and shape class, masked
//! arrays with and without a mask, deleted and replaced keys, and generic
//! values (and, v2, a room at the end holding an unpublished entry); plus `manifest.json` with each file's expected live entries in
//! canonical JSON. `fixtures/gen/check_files.py` then loads them with plain
//! `pickle.load` (numpy 1.23.5 and numpy 2) and with mmappickle 1.0.0.
//!
//! Every array and masked value is also written alone into
//! `OUT_DIR/array-seeds/` (seeds for the `array` fuzz target).
//!
//! `cargo run -p mmpk-devtools --bin conformance_files -- OUT_DIR`
use std::collections::BTreeMap;
use std::process::ExitCode;

use mmpk_format::array::{Encoding, V1_PREFIX_LEN, V2_PREFIX_LEN};
use mmpk_format::dtype::{Dtype, DtypeKind};
use mmpk_format::filler::filler_len;
use mmpk_format::generic::write_value_entry;
use mmpk_format::header::TERMINATOR;
use mmpk_format::masked::{V1_MASKED_PREFIX_LEN, V2_MASKED_PREFIX_LEN};
use mmpk_format::write::encode_array;
use mmpk_format::write::encode_masked;
use mmpk_format::write::write_entry;
use mmpk_format::write::write_filler;
use mmpk_format::write::write_header;
use pickle_ops::json::{base64_encode, from_json_str};
use serde_json::{json, Value as J};

const DTYPES: &[&str] = &[
    "|b1", "|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", "<i8", ">i8", "<u8",
    ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<c8", ">c8", "<c16", ">c16", "<U5", ">U3",
    "|S3", "|S1", "<M8[ns]", ">M8[D]", "<m8[s]", "<M8[25s]",
];

const STRUCTURED: &str = "[('x', '<f4'), ('y', '>i8'), ('s', '|S2')]";

/// Deterministic element bytes that every reader keeps as they are (bools
/// are 0 or 1; text is ASCII in its code units).
fn raw(dtype: &Dtype, n: u64, seed: u64) -> Vec<u8> {
    let size = dtype.itemsize() as usize;
    let mut out = Vec::with_capacity(size * n as usize);
    for i in 0..n {
        let x = i.wrapping_mul(2654435761).wrapping_add(seed * 977);
        match dtype {
            Dtype::Scalar(s) if s.kind() == DtypeKind::Bool => out.push((x % 2) as u8),
            Dtype::Scalar(s) if s.kind() == DtypeKind::Unicode => {
                for k in 0..size / 4 {
                    let c = b'a' + ((x as usize + k) % 26) as u8;
                    let cp = if k % 3 == 2 { 0 } else { c as u32 };
                    let bytes = if s.str().starts_with('>') {
                        cp.to_be_bytes()
                    } else {
                        cp.to_le_bytes()
                    };
                    out.extend_from_slice(&bytes);
                }
            }
            Dtype::Scalar(s) if s.kind() == DtypeKind::Bytes => {
                for k in 0..size {
                    out.push(b'A' + ((x as usize + k) % 26) as u8);
                }
            }
            _ => {
                for k in 0..size {
                    // Avoid NaN payloads changing under conversions: keep the
                    // top byte of every element below 0x7f.
                    let b = (x >> (k % 8 * 8)) as u8 ^ (k as u8).wrapping_mul(31);
                    out.push(if k + 1 == size { b & 0x3f } else { b });
                }
            }
        }
    }
    if let Dtype::Scalar(s) = dtype {
        if s.str().starts_with('>') && !matches!(s.kind(), DtypeKind::Unicode) {
            // big-endian: the "top" byte is the first one
            for chunk in out.chunks_mut(size) {
                chunk.reverse();
            }
        }
    }
    out
}

fn ndarray_json(dtype: &Dtype, shape: &[u64], data: &[u8]) -> J {
    let mut b64 = String::new();
    base64_encode(data, &mut b64);
    let dt = match dtype {
        Dtype::Scalar(s) => J::String(s.str()),
        d => descr_json(&d.descr()),
    };
    json!({"ndarray": {"dtype": dt, "shape": shape, "data_b64": b64}})
}

fn descr_json(d: &mmpk_format::descr::Descr) -> J {
    match d {
        mmpk_format::descr::Descr::Str(s) => J::String(s.clone()),
        mmpk_format::descr::Descr::Fields(f) => J::Array(
            f.iter()
                .map(|f| {
                    let mut item = vec![J::String(f.name.clone()), descr_json(&f.format)];
                    if !f.shape.is_empty() {
                        item.push(json!(f.shape));
                    }
                    J::Array(item)
                })
                .collect(),
        ),
    }
}

struct Writer {
    enc: Encoding,
    align: Option<u64>,
    file: Vec<u8>,
    memo: u32,
    expected: BTreeMap<String, J>,
    kinds: BTreeMap<String, &'static str>,
    /// Every array and masked value's bytes (fuzzing seeds).
    values: Vec<Vec<u8>>,
}

impl Writer {
    fn new(enc: Encoding, align: Option<u64>) -> Writer {
        Writer {
            enc,
            align,
            file: write_header(1).to_vec(),
            memo: 1,
            expected: BTreeMap::new(),
            kinds: BTreeMap::new(),
            values: Vec::new(),
        }
    }

    fn pad(&mut self, key: &str, prefix: usize) -> Result<(), String> {
        if let Some(a) = self.align {
            let n = filler_len(self.file.len() as u64, key.len(), prefix, a)
                .map_err(|e| e.to_string())?;
            let mut f = Vec::new();
            write_filler(&mut f, n).map_err(|e| e.to_string())?;
            self.file.extend_from_slice(&f);
        }
        Ok(())
    }

    fn array(
        &mut self,
        key: &str,
        dtype: &Dtype,
        shape: &[u64],
        seed: u64,
        live: bool,
    ) -> Result<(), String> {
        let n: u64 = shape.iter().product();
        let data = raw(dtype, n, seed);
        let prefix = match self.enc {
            Encoding::V2 => V2_PREFIX_LEN,
            Encoding::V1 => V1_PREFIX_LEN,
        };
        self.pad(key, prefix)?;
        let mut v = Vec::new();
        encode_array(&mut v, self.enc, dtype, shape, &data).map_err(|e| format!("{key}: {e}"))?;
        write_entry(&mut self.file, key, &v, 0, live).map_err(|e| e.to_string())?;
        self.values.push(v);
        if live {
            self.expected
                .insert(key.into(), ndarray_json(dtype, shape, &data));
            self.kinds.insert(key.into(), "array");
        }
        Ok(())
    }

    fn masked(&mut self, key: &str, shape: &[u64], with_mask: bool) -> Result<(), String> {
        let dtype = Dtype::parse("<f8").map_err(|e| e.to_string())?;
        let n: u64 = shape.iter().product();
        let data = raw(&dtype, n, 5);
        let mask: Vec<u8> = (0..n).map(|i| (i % 3 == 1) as u8).collect();
        let (mp, ap) = match self.enc {
            Encoding::V2 => (V2_MASKED_PREFIX_LEN, V2_PREFIX_LEN),
            Encoding::V1 => (V1_MASKED_PREFIX_LEN, V1_PREFIX_LEN),
        };
        self.pad(key, mp + ap)?;
        let mut v = Vec::new();
        encode_masked(
            &mut v,
            self.enc,
            &dtype,
            shape,
            &data,
            with_mask.then_some(&mask[..]),
        )
        .map_err(|e| format!("{key}: {e}"))?;
        write_entry(&mut self.file, key, &v, 0, true).map_err(|e| e.to_string())?;
        self.values.push(v);
        let b1 = Dtype::parse("|b1").map_err(|e| e.to_string())?;
        let mask_json = if with_mask {
            ndarray_json(&b1, shape, &mask)
        } else {
            ndarray_json(&b1, &[], &[0])
        };
        self.expected.insert(
            key.into(),
            json!({"masked_array": {"data": ndarray_json(&dtype, shape, &data), "mask": mask_json}}),
        );
        self.kinds.insert(key.into(), "masked");
        Ok(())
    }

    fn value(&mut self, key: &str, canonical: &str, live: bool) -> Result<(), String> {
        let p = from_json_str(canonical).map_err(|e| format!("{key}: {e}"))?;
        let m = write_value_entry(&mut self.file, key, &p, self.memo, live)
            .map_err(|e| e.to_string())?;
        self.memo = self.memo.max(m);
        if live {
            self.expected.insert(
                key.into(),
                serde_json::from_str(canonical).map_err(|e| e.to_string())?,
            );
            self.kinds.insert(key.into(), "value");
        }
        Ok(())
    }

    /// A room, as a durable mmpk writer leaves at the end of its file: a
    /// `BINBYTES` filler of 64 KiB whose payload holds the bytes of an
    /// insert that never reached its publishing write (a live entry of key
    /// `ghost`, which no reader may see).
    fn room(&mut self) -> Result<(), String> {
        let start = self.file.len();
        write_filler(&mut self.file, 64 << 10).map_err(|e| e.to_string())?;
        let one = from_json_str(r#"{"int":"1"}"#).map_err(|e| e.to_string())?;
        let mut ghost = Vec::new();
        write_value_entry(&mut ghost, "ghost", &one, 1, true).map_err(|e| e.to_string())?;
        let at = start + 16;
        self.file[at..at + ghost.len()].copy_from_slice(&ghost);
        Ok(())
    }

    fn finish(mut self) -> Built {
        self.file.extend_from_slice(&TERMINATOR);
        Built {
            file: self.file,
            expected: self.expected,
            kinds: self.kinds,
            values: self.values,
        }
    }
}

const VALUES: &[(&str, &str)] = &[
    (
        "meta",
        r#"{"dict":[[{"str":"frame"},{"int":"12"}],[{"str":"exposure_s"},{"float":"0x1.8000000000000p-1"}],[{"str":"label"},{"str":"caf\u00e9 \u2603"}],[{"str":"ok"},{"bool":true}],[{"str":"none"},{"none":null}]]}"#,
    ),
    (
        "shared",
        r#"{"list":[{"id":0,"list":[{"int":"1"},{"int":"-99999999999999999999"}]},{"ref":0},{"tuple":[{"bytes_b64":"AAEC"},{"str":""}]}]}"#,
    ),
    (
        "nested",
        r#"{"dict":[[{"tuple":[{"int":"1"},{"int":"2"}]},{"set":[{"int":"3"}]}],[{"str":"f"},{"frozenset":[{"str":"a"}]}]]}"#,
    ),
    ("bytes", r#"{"bytearray_b64":"aGVsbG8="}"#),
];

/// A file, what it should read as, and its array values.
struct Built {
    file: Vec<u8>,
    expected: BTreeMap<String, J>,
    kinds: BTreeMap<String, &'static str>,
    values: Vec<Vec<u8>>,
}

fn build(enc: Encoding, align: Option<u64>) -> Result<Built, String> {
    let mut w = Writer::new(enc, align);
    let mut seed = 0;
    for dt in DTYPES {
        let d = Dtype::parse(dt).map_err(|e| format!("{dt}: {e}"))?;
        let name = dt.replace(['<', '>', '|', '[', ']'], "");
        let order = if dt.starts_with('>') { "be" } else { "le" };
        for (shape_name, shape) in [
            ("2x3", &[2u64, 3][..]),
            ("0d", &[][..]),
            ("empty", &[0u64, 3][..]),
            ("5d", &[1u64, 2, 1, 2, 1][..]),
        ] {
            seed += 1;
            w.array(
                &format!("{name}_{order}_{shape_name}"),
                &d,
                shape,
                seed,
                true,
            )?;
        }
    }
    if enc == Encoding::V2 {
        // The typed v1 writer refuses structured dtypes (numpy cannot parse
        // their str(dtype) back).
        let d = Dtype::parse(STRUCTURED).map_err(|e| e.to_string())?;
        w.array("structured", &d, &[4], 99, true)?;
    }
    w.masked("masked_with_mask", &[2, 3], true)?;
    w.masked("masked_nomask", &[4], false)?;
    for (k, v) in VALUES {
        w.value(k, v, true)?;
    }
    // A deleted key, and a replaced one (the later live entry wins).
    let f8 = Dtype::parse("<f8").map_err(|e| e.to_string())?;
    w.array("deleted", &f8, &[3], 1000, false)?;
    w.value("replaced", r#"{"str":"old"}"#, false)?;
    w.array("replaced", &f8, &[2], 1001, true)?;
    w.value("key \u{e9}\u{1f600}", r#"{"int":"7"}"#, true)?;
    w.value(&"k".repeat(255), r#"{"int":"255"}"#, true)?;
    if enc == Encoding::V2 {
        w.room()?;
    }
    Ok(w.finish())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: conformance_files OUT_DIR");
        return ExitCode::from(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let run = || -> Result<(), String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut manifest = Vec::new();
        for (name, enc, align) in [
            ("v2.mmpk", Encoding::V2, Some(64)),
            ("mmappickle1.mmpk", Encoding::V1, None),
        ] {
            let b = build(enc, align)?;
            std::fs::write(dir.join(name), &b.file).map_err(|e| e.to_string())?;
            let seeds = dir.join("array-seeds");
            std::fs::create_dir_all(&seeds).map_err(|e| e.to_string())?;
            for (i, v) in b.values.iter().enumerate() {
                std::fs::write(seeds.join(format!("{name}-{i}.bin")), v)
                    .map_err(|e| e.to_string())?;
            }
            manifest.push(json!({
                "file": name,
                "layout": if enc == Encoding::V2 { "v2" } else { "mmappickle1" },
                "entries": b.expected,
                "kinds": b.kinds,
            }));
        }
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("manifest.json"), text).map_err(|e| e.to_string())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance_files: {e}");
            ExitCode::FAILURE
        }
    }
}
