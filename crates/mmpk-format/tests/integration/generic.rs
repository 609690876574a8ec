//! Generic values (docs/format.md section 7): round trips, entries decoded from
//! their bytes alone, whole files that decode as one pickle, byte identity
//! with the files mmappickle 1.0.0 wrote (`fixtures/mmappickle`), and
//! hostile input.

use std::collections::HashMap;
use std::path::PathBuf;

use mmpk_format::generic::{
    decode_entry_value, decode_value, encode_value, rebase_value, rewrite_pickle,
    standalone_pickle, write_value_entry, GenericValue, MAX_MEMO,
};
use mmpk_format::header::TERMINATOR;
use mmpk_format::scan::scan;
use mmpk_format::write::write_entry;
use mmpk_format::write::write_header;
use mmpk_format::Error;
use pickle_ops::decode::{decode, DecodeErrorKind, DecodeOptions};
use pickle_ops::json::{equal, from_json, from_json_str, pickle_to_json, to_json, JsonOptions};
use pickle_ops::{Op, Pickle};
use proptest::prelude::*;
use serde_json::{json, Value as J};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

/// The canonical JSON of a pickle's root, parsed.
fn canon(p: &Pickle) -> J {
    serde_json::from_str(&pickle_to_json(p, &JsonOptions::default()).unwrap()).unwrap()
}

/// The raw canonical JSON of what `pickle.loads(pickle.dumps(v, 4))` gives
/// for the value `p` holds (a bytearray, for instance, is a REDUCE below
/// protocol 5).
fn canon_p4(p: &Pickle) -> J {
    canon(&decode(&pickle_ops::encode::encode(p, 4).unwrap(), &opts()).unwrap())
}

/// Every op of a value fragment.
fn fragment_ops(v: &[u8]) -> Vec<Op<'_>> {
    pickle_ops::Ops::fragment(v, 0)
        .map(|r| r.unwrap().1)
        .collect()
}

/// Checks the memo ops of a rewritten value: stores numbered `base..memo_max`
/// in order, BINPUT below 256 and LONG_BINPUT above, fetches of earlier
/// stores only, nothing CPython's framing adds.
fn check_memo_layout(v: &GenericValue, base: u32) {
    let mut next = base;
    for op in fragment_ops(&v.ops) {
        match op {
            Op::Binput(i) => {
                assert_eq!(u32::from(i), next);
                next += 1;
            }
            Op::LongBinput(i) => {
                assert!(i >= 256);
                assert_eq!(i, next);
                next += 1;
            }
            Op::Binget(i) => assert!(u32::from(i) >= base && u32::from(i) < next),
            Op::LongBinget(i) => assert!(i >= 256 && i >= base && i < next),
            Op::Proto(_) | Op::Frame(_) | Op::Stop | Op::Memoize | Op::Put(_) | Op::Get(_) => {
                panic!("{op:?} left in a value")
            }
            _ => {}
        }
    }
    assert_eq!(next, v.memo_max);
}

/// Canonical JSON values covering every kind the encoder writes.
fn catalogue() -> Vec<String> {
    let mut v: Vec<String> = [
        r#"{"none": null}"#,
        r#"{"bool": true}"#,
        r#"{"bool": false}"#,
        r#"{"int": "0"}"#,
        r#"{"int": "-1"}"#,
        r#"{"int": "255"}"#,
        r#"{"int": "65536"}"#,
        r#"{"int": "-2147483649"}"#,
        r#"{"int": "123456789012345678901234567890123456789"}"#,
        r#"{"float": "0x1.8000000000000p+0"}"#,
        r#"{"float": "-0x0.0p+0"}"#,
        r#"{"float": "nan"}"#,
        r#"{"str": ""}"#,
        r#"{"str": "a"}"#,
        r#"{"str": "h\u00e9llo \u20ac \ud83d\ude00"}"#,
        r#"{"bytes_b64": ""}"#,
        r#"{"bytes_b64": "AA=="}"#,
        r#"{"bytes_b64": "AP9yYXc="}"#,
        r#"{"bytearray_b64": "AP9yYXc="}"#,
        r#"{"tuple": []}"#,
        r#"{"tuple": [{"int": "1"}, {"str": "two"}, {"tuple": [{"none": null}]}]}"#,
        r#"{"list": []}"#,
        r#"{"dict": []}"#,
        r#"{"set": [{"int": "1"}, {"str": "x"}]}"#,
        r#"{"frozenset": [{"int": "1"}, {"str": "x"}]}"#,
        r#"{"dict": [[{"str": "a"}, {"list": [{"int": "1"}, {"dict": [[{"int": "2"}, {"tuple": []}]]}]}], [{"tuple": [{"int": "1"}, {"int": "2"}]}, {"set": []}]]}"#,
        // shared references and cycles
        r#"{"list": [{"id": 0, "list": [{"int": "1"}]}, {"ref": 0}]}"#,
        r#"{"id": 0, "list": [{"ref": 0}]}"#,
        r#"{"id": 0, "dict": [[{"str": "me"}, {"ref": 0}], [{"str": "l"}, {"id": 1, "list": [{"ref": 1}, {"ref": 0}]}]]}"#,
        r#"{"id": 0, "list": [{"tuple": [{"ref": 0}, {"int": "1"}]}]}"#,
        r#"{"tuple": [{"id": 0, "list": [{"tuple": [{"ref": 0}]}]}]}"#,
        r#"{"list": [{"id": 0, "bytearray_b64": "AQI="}, {"ref": 0}]}"#,
        r#"{"list": [{"id": 0, "set": [{"int": "3"}]}, {"dict": [[{"str": "s"}, {"ref": 0}]]}]}"#,
        // objects
        r#"{"global": ["collections", "OrderedDict"]}"#,
        r#"{"reduce": {"callable": {"global": ["builtins", "complex"]}, "args": {"tuple": [{"float": "0x1.0000000000000p+0"}, {"float": "0x1.0000000000000p+1"}]}}}"#,
        r#"{"list": [{"global": ["builtins", "len"]}, {"global": ["builtins", "len"]}]}"#,
        r#"{"newobj": {"cls": {"global": ["fx", "C"]}, "args": {"tuple": []}, "state": {"dict": [[{"str": "x"}, {"int": "1"}]]}}}"#,
        r#"{"reduce": {"callable": {"global": ["collections", "OrderedDict"]}, "args": {"tuple": []}, "dictitems": [[{"str": "k"}, {"list": []}]]}}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Long payloads: past 255 bytes, and past the 64 KiB CPython writes
    // outside frames.
    v.push(json!({"str": "s".repeat(300)}).to_string());
    v.push(json!({"str": "\u{e9}".repeat(70_000)}).to_string());
    v.push(json!({"bytes_b64": "AAAA".repeat(30_000)}).to_string());
    v.push(json!({"list": [{"bytes_b64": "AAAA".repeat(30_000)}, {"str": "after"}]}).to_string());
    // Batching (1000 items per APPENDS / SETITEMS).
    let ints: Vec<J> = (0..2500).map(|i| json!({"int": i.to_string()})).collect();
    v.push(json!({ "list": ints }).to_string());
    let items: Vec<J> = (0..1500)
        .map(|i| json!([{"str": format!("k{i}")}, {"int": i.to_string()}]))
        .collect();
    v.push(json!({ "dict": items }).to_string());
    // More than 256 kept stores: LONG_BINPUT from any base.
    v.push(many_shared(300).to_string());
    v
}

/// A list of `n` shared empty lists, each present twice: `n` kept stores.
fn many_shared(n: u32) -> J {
    let mut items = Vec::new();
    for i in 0..n {
        items.push(json!({"id": i, "list": []}));
        items.push(json!({ "ref": i }));
    }
    json!({ "list": items })
}

const BASES: [u32; 14] = [
    0,
    1,
    2,
    3,
    200,
    250,
    254,
    255,
    256,
    257,
    65_535,
    65_536,
    1 << 24,
    MAX_MEMO - 1000,
];

#[test]
fn catalogue_round_trips_at_every_base() {
    for text in catalogue() {
        let p = from_json_str(&text).unwrap();
        let want = canon_p4(&p);
        let at1 = encode_value(&p, 1).unwrap();
        for base in BASES {
            let v = encode_value(&p, base).unwrap();
            check_memo_layout(&v, base);
            assert_eq!(v.memo_max - base, at1.memo_max - 1, "{text:.80}");
            // From the value's bytes alone, at any file offset.
            let back = decode_value(&v.ops, 1000, &opts()).unwrap();
            assert!(equal(&canon(&back), &want), "{text:.80} at {base}");
            // As mmappickle's reader and pickle.load of the entry see it.
            let whole = decode(&standalone_pickle(&v.ops), &opts()).unwrap();
            assert!(equal(&canon(&whole), &want), "{text:.80} at {base}");
            // Re-encoding the decoded graph gives the same bytes.
            assert_eq!(encode_value(&back, base).unwrap(), v, "{text:.80}");
            // Rebasing is rewriting at the other base.
            assert_eq!(rebase_value(&at1.ops, 0, base).unwrap(), v);
            assert_eq!(rebase_value(&v.ops, 0, 1).unwrap(), at1);
        }
    }
}

#[test]
fn rewritten_bytes_decode_like_the_original_pickle() {
    for text in catalogue() {
        let p = from_json_str(&text).unwrap();
        let original = pickle_ops::encode::encode(&p, 4).unwrap();
        let direct = decode(&original, &opts()).unwrap();
        for base in [1, 255, 256, 100_000] {
            let v = rewrite_pickle(&original, base).unwrap();
            let wrapped = decode(&standalone_pickle(&v.ops), &opts()).unwrap();
            assert!(equal(&canon(&wrapped), &canon(&direct)), "{text:.80}");
        }
    }
}

#[test]
fn stores_cross_from_binput_to_long_binput_at_256() {
    let p = from_json(&many_shared(10)).unwrap();
    for base in 245..=258u32 {
        let v = encode_value(&p, base).unwrap();
        assert_eq!(v.memo_max, base + 10);
        check_memo_layout(&v, base);
        let short = fragment_ops(&v.ops)
            .iter()
            .filter(|o| matches!(o, Op::Binput(_)))
            .count() as u32;
        assert_eq!(short, 256u32.saturating_sub(base).min(10), "{base}");
    }
    // The last index an entry can use.
    let v = encode_value(&p, MAX_MEMO - 10).unwrap();
    assert_eq!(v.memo_max, MAX_MEMO);
    assert_eq!(
        encode_value(&p, MAX_MEMO - 9),
        Err(Error::MemoMaxTooLarge {
            memo_max: MAX_MEMO + 1
        })
    );
}

/// A file of generic entries written one after another, each from the
/// scan's memo base, as mmappickle does: every entry decodes from its bytes
/// alone, and the whole file decodes as one pickle to the same dict.
#[test]
fn whole_files_decode_as_one_pickle() {
    let values = catalogue();
    let mut file = write_header(1).to_vec();
    file.extend_from_slice(&TERMINATOR);
    let mut keys = Vec::new();
    for (i, text) in values.iter().enumerate() {
        let s = scan(&file).unwrap();
        let base = s.memo_max();
        let at = s.intact_end;
        file.truncate(at);
        let key = format!("k{i}");
        let p = from_json_str(text).unwrap();
        // Some entries deleted, as the memo counts them too.
        let memo = write_value_entry(&mut file, &key, &p, base, i % 5 != 3).unwrap();
        assert!(memo >= base);
        file.extend_from_slice(&TERMINATOR);
        keys.push(key);
    }
    let s = scan(&file).unwrap();
    assert!(s.is_clean());
    assert!(s.memo_max() > 300);
    // Each entry from its own bytes.
    for (e, text) in s.entries.iter().zip(&values) {
        let p = decode_entry_value(&file, &e.entry, &opts()).unwrap();
        let want = canon_p4(&from_json_str(text).unwrap());
        assert!(equal(&canon(&p), &want), "{}", e.entry.key);
    }
    // The whole file as pickle.load sees it.
    let whole = decode(&file, &opts()).unwrap();
    let J::Object(dict) = canon(&whole) else {
        panic!()
    };
    let items = dict["dict"].as_array().unwrap();
    let live: Vec<_> = (0..values.len()).filter(|i| i % 5 != 3).collect();
    assert_eq!(items.len(), live.len());
    for (item, &i) in items.iter().zip(&live) {
        assert_eq!(item[0], json!({ "str": keys[i] }));
        let want = canon_p4(&from_json_str(&values[i]).unwrap());
        assert!(equal(&item[1], &want), "{}", keys[i]);
    }
}

// ---- mmappickle 1.0.0's files ---------------------------------------------

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mmappickle")
}

/// A manifest value, with `{"json_file": ...}` resolved.
fn manifest_value(v: &J) -> J {
    match v.get("json_file").and_then(J::as_str) {
        Some(f) => serde_json::from_slice(&std::fs::read(fixture_dir().join(f)).unwrap()).unwrap(),
        None => v.clone(),
    }
}

fn is_array(v: &J) -> bool {
    v.get("ndarray").is_some() || v.get("masked_array").is_some()
}

/// Shares equal str objects in a protocol-4 pickle, as the literals of the
/// generator script are shared in CPython (`["same"] * 3`, `"abc", "abc"`
/// in one expression, and strs that went through `pickle.load` once), which
/// canonical JSON does not record (strs have no identity there). Every
/// later occurrence of a memoized str becomes a fetch of the first one;
/// the memo indices after it shift down. Frames are dropped.
fn share_equal_strs(pickle: &[u8]) -> Vec<u8> {
    let ops: Vec<Op<'_>> = pickle_ops::ops(pickle).map(|r| r.unwrap().1).collect();
    let mut out = Vec::new();
    let mut first: HashMap<&[u8], u32> = HashMap::new();
    let mut renumber: Vec<u32> = Vec::new();
    let mut count = 0u32;
    let mut i = 0;
    while i < ops.len() {
        let op = ops[i];
        let next_is_memoize = matches!(ops.get(i + 1), Some(Op::Memoize));
        match op {
            Op::Frame(_) => {}
            Op::ShortBinunicode(s) | Op::Binunicode(s) | Op::Binunicode8(s) if next_is_memoize => {
                if let Some(&k) = first.get(s) {
                    pickle_ops::write_op(&Op::LongBinget(k), &mut out);
                    renumber.push(k);
                } else {
                    first.insert(s, count);
                    pickle_ops::write_op(&op, &mut out);
                    pickle_ops::write_op(&Op::Memoize, &mut out);
                    renumber.push(count);
                    count += 1;
                }
                i += 2;
                continue;
            }
            Op::Memoize => {
                pickle_ops::write_op(&op, &mut out);
                renumber.push(count);
                count += 1;
            }
            Op::Binget(k) => pickle_ops::write_op(&Op::LongBinget(renumber[k as usize]), &mut out),
            Op::LongBinget(k) => {
                pickle_ops::write_op(&Op::LongBinget(renumber[k as usize]), &mut out)
            }
            _ => pickle_ops::write_op(&op, &mut out),
        }
        i += 1;
    }
    out
}

/// What mmappickle 1.0.0's generic pickler writes for `value` at `base`.
fn mmappickle_value(value: &J, base: u32) -> GenericValue {
    let p = from_json(value).unwrap();
    let pickle = pickle_ops::encode::encode(&p, 4).unwrap();
    rewrite_pickle(&share_equal_strs(&pickle), base).unwrap()
}

/// One entry of a simulated mmappickle file.
struct SimEntry {
    key: String,
    memo_max: u32,
    live: bool,
    /// For generic values: what we write, and the value it holds.
    generic: Option<(GenericValue, J)>,
}

/// Replays a fixture's operations as `mmapdict.__setitem__`,
/// `__delitem__` and `vacuum` do to the entry list.
fn simulate(row: &J) -> Vec<SimEntry> {
    let mut sim: Vec<SimEntry> = Vec::new();
    let set = |sim: &mut Vec<SimEntry>, key: &str, value: Option<J>| {
        for e in sim.iter_mut() {
            if e.key == key {
                e.live = false;
            }
        }
        let base = sim.iter().map(|e| e.memo_max).max().unwrap_or(0).max(1);
        let (memo_max, generic) = match value {
            Some(v) if !is_array(&v) => {
                let g = mmappickle_value(&v, base);
                (g.memo_max, Some((g, v)))
            }
            _ => (0, None),
        };
        sim.push(SimEntry {
            key: key.to_string(),
            memo_max,
            live: true,
            generic,
        });
    };
    if let Some(conv) = row["converted_from"].as_object() {
        // Converted in the plain pickle's dict order, which is the order of
        // the entries in the file (the manifest's JSON object is not).
        let items = conv["items"].as_object().unwrap();
        for e in row["entries"].as_array().unwrap() {
            let key = e["key"].as_str().unwrap();
            set(&mut sim, key, Some(manifest_value(&items[key])));
        }
    }
    for op in row["operations"].as_array().unwrap() {
        let key = op["key"].as_str().unwrap_or_default();
        match op["op"].as_str().unwrap() {
            "set" => set(&mut sim, key, Some(manifest_value(&op["value"]))),
            "set_stub" => set(&mut sim, key, None),
            "del" => sim
                .iter_mut()
                .filter(|e| e.key == key)
                .for_each(|e| e.live = false),
            "vacuum" => sim.retain(|e| e.live),
            other => panic!("unknown operation {other}"),
        }
    }
    sim
}

#[test]
fn generic_entries_are_byte_identical_to_mmappickle() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let manifest: J = serde_json::from_slice(
        &std::fs::read(fixture_dir().join("manifest.json")).expect("fixtures/mmappickle"),
    )
    .unwrap();
    let mut compared = 0;
    let mut files = 0;
    for row in manifest.as_array().unwrap() {
        let name = row["file"].as_str().unwrap();
        let file = std::fs::read(fixture_dir().join(name)).unwrap();
        let entries = row["entries"].as_array().unwrap();
        let sim = simulate(row);
        assert_eq!(sim.len(), entries.len(), "{name}");
        let s = scan(&file).unwrap();
        assert!(s.is_clean(), "{name}");
        let mut had_generic = false;
        for ((e, m), scanned) in sim.iter().zip(entries).zip(&s.entries) {
            let ctx = format!("{name} entry {:?}", e.key);
            assert_eq!(m["key"].as_str().unwrap(), e.key, "{ctx}");
            assert_eq!(m["live"].as_bool().unwrap(), e.live, "{ctx}");
            assert_eq!(
                m["memo_max"].as_u64().unwrap(),
                u64::from(e.memo_max),
                "{ctx}"
            );
            let Some((g, value)) = &e.generic else {
                continue;
            };
            had_generic = true;
            assert_eq!(m["kind"], "value", "{ctx}");
            let off = m["value_offset"].as_u64().unwrap() as usize;
            let len = m["value_len"].as_u64().unwrap() as usize;
            assert_eq!(&file[off..off + len], &g.ops[..], "{ctx}");
            // The whole entry, frame to validity byte.
            let start = m["offset"].as_u64().unwrap() as usize;
            let end = start + 9 + m["frame_len"].as_u64().unwrap() as usize;
            let mut ours = Vec::new();
            write_entry(&mut ours, &e.key, &g.ops, g.memo_max, e.live).unwrap();
            assert_eq!(&file[start..end], &ours[..], "{ctx}");
            // Decoded from the file's bytes alone.
            let p = decode_entry_value(&file, &scanned.entry, &opts()).unwrap();
            let want = canon_p4(&from_json(value).unwrap());
            assert!(equal(&canon(&p), &want), "{ctx}");
            // Re-encoding the decoded graph (which keeps the file's sharing)
            // at the entry's base gives the file's bytes again.
            let kept = fragment_ops(&g.ops)
                .iter()
                .filter(|o| matches!(o, Op::Binput(_) | Op::LongBinput(_)))
                .count() as u32;
            assert_eq!(encode_value(&p, g.memo_max - kept).unwrap(), *g, "{ctx}");
            compared += 1;
        }
        files += usize::from(had_generic);
    }
    // values, keys, deleted, replaced, vacuumed, stub, converted
    assert_eq!(files, 7);
    assert!(compared >= 25, "{compared}");
}

#[test]
fn every_fixture_value_entry_decodes_to_its_expected_value() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let manifest: J =
        serde_json::from_slice(&std::fs::read(fixture_dir().join("manifest.json")).unwrap())
            .unwrap();
    let mut n = 0;
    for row in manifest.as_array().unwrap() {
        let file = std::fs::read(fixture_dir().join(row["file"].as_str().unwrap())).unwrap();
        let s = scan(&file).unwrap();
        let expected = row["expected"].as_object().unwrap();
        for (key, &i) in &s.live_index() {
            let want = manifest_value(&expected[*key]);
            if is_array(&want) {
                continue;
            }
            let p = decode_entry_value(&file, &s.entries[i].entry, &opts()).unwrap();
            let got = to_json(&p, p.root(), &JsonOptions::default()).unwrap();
            let got: J = serde_json::from_str(&got).unwrap();
            assert!(equal(&got, &want), "{key}: {got} != {want}");
            n += 1;
        }
    }
    assert!(n >= 20, "{n}");
}

// ---- hostile input ---------------------------------------------------------

use mmpk_test_support::rng::XorShift64Star as Rng;

#[test]
fn hostile_values_give_typed_errors() {
    let d = |v: &[u8]| decode_value(v, 50, &opts()).unwrap_err();
    let kind = |e: Error| match e {
        Error::Decode(d) => (d.offset, d.kind),
        other => panic!("{other:?}"),
    };
    assert_eq!(kind(d(b"")), (50, DecodeErrorKind::FragmentNotOneValue(0)));
    assert_eq!(
        kind(d(b"NN")),
        (52, DecodeErrorKind::FragmentNotOneValue(2))
    );
    assert_eq!(kind(d(b"(N")).0, 52);
    assert_eq!(kind(d(b"N.")), (51, DecodeErrorKind::UnexpectedStop));
    assert_eq!(kind(d(b"h\x05")), (50, DecodeErrorKind::MemoMissing(5)));
    assert_eq!(
        kind(d(b"Nr\x00\x00\x00\x80j\x00\x00\x00\x81")),
        (56, DecodeErrorKind::MemoMissing(0x8100_0000))
    );
    assert!(matches!(kind(d(b"\xff")).1, DecodeErrorKind::Parse(_)));
    assert!(matches!(
        kind(d(b"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f")).1,
        DecodeErrorKind::Parse(_)
    ));
    assert_eq!(kind(d(b"a")).1, DecodeErrorKind::StackUnderflow);
    // A huge memo index costs one slot.
    let v = decode_value(b"Nr\xff\xff\xff\xffj\xff\xff\xff\xff\x86", 0, &opts()).unwrap();
    assert!(v.len() <= 3);
}

#[test]
fn damaged_values_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut corpus = Vec::new();
    for text in catalogue().iter().take(40) {
        let p = from_json_str(text).unwrap();
        for base in [1, 255, 300] {
            corpus.push(encode_value(&p, base).unwrap().ops);
        }
    }
    let m = from_json(&many_shared(300)).unwrap();
    corpus.push(encode_value(&m, 100).unwrap().ops);
    for v in &corpus {
        for n in 0..v.len().min(300) {
            let _ = decode_value(&v[..n], 0, &opts());
            let _ = rebase_value(&v[..n], 0, 7);
        }
        for _ in 0..200 {
            let mut w = v.clone();
            let at = (rng.next() % w.len() as u64) as usize;
            w[at] = rng.next() as u8;
            if rng.next().is_multiple_of(3) {
                let at = (rng.next() % w.len() as u64) as usize;
                w[at] ^= 1 << (rng.next() % 8);
            }
            let _ = decode_value(&w, 0, &opts());
            let _ = rebase_value(&w, 0, 256);
            no_false_refusal(&w);
            let mut whole = standalone_pickle(&w);
            whole.truncate(whole.len() / 2);
            let _ = rewrite_pickle(&whole, 1);
        }
    }
    for _ in 0..3000 {
        let len = (rng.next() % 40) as usize;
        let w: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode_value(&w, 0, &opts());
        let _ = rebase_value(&w, 0, 1);
        let _ = rewrite_pickle(&w, 1);
        no_false_refusal(&w);
    }
}

/// `rewrite_pickle`'s structural check of the whole pickle of the value
/// ops `value` refuses nothing that the rewritten fragment's decoding with
/// the data-only decoder accepts (what the check replaced: it checks kinds,
/// not values, so it may let through what only the decoder sees, never the
/// reverse).
fn no_false_refusal(value: &[u8]) {
    let decoded = rebase_value(value, 0, 1).and_then(|v| decode_value(&v.ops, 0, &opts()));
    let whole = standalone_pickle(value);
    if let (Ok(_), Err(e)) = (decoded, rewrite_pickle(&whole, 1)) {
        // The one known difference, where the check is CPython's and the
        // decoder is lenient: a memo store right above a MARK (CPython's
        // unpickler refuses it as a stack underflow).
        if let Error::Decode(d) = &e {
            let store = matches!(
                pickle_ops::parse_op(&whole[d.offset..]),
                Ok((
                    Op::Memoize | Op::Binput(_) | Op::LongBinput(_) | Op::Put(_),
                    _
                ))
            );
            if store && d.kind == DecodeErrorKind::StackUnderflow {
                return;
            }
        }
        panic!("{e} for {whole:?}");
    }
}

#[test]
fn rewrite_pickle_refuses_what_would_break_the_file() {
    use DecodeErrorKind as K;
    let kind = |p: &[u8]| match rewrite_pickle(p, 1).unwrap_err() {
        Error::Decode(d) => (d.offset, d.kind),
        other => panic!("{other:?}"),
    };
    let cases: &[(&[u8], (usize, K))] = &[
        // No value, two values, a MARK left over.
        (b"\x80\x04.", (2, K::FragmentNotOneValue(0))),
        (b"\x80\x04NN.", (4, K::FragmentNotOneValue(2))),
        (b"\x80\x04(N.", (4, K::FragmentNotOneValue(2))),
        // Underflow, and ops that need a MARK.
        (b"\x80\x04a.", (2, K::StackUnderflow)),
        (b"\x80\x04Ne.", (3, K::NoMark)),
        (b"\x80\x04(Ne.", (4, K::StackUnderflow)),
        // Container ops on targets that cannot take them.
        (
            b"\x80\x04)Na.",
            (
                4,
                K::WrongTarget {
                    op: pickle_ops::Opcode::Append,
                    found: "tuple",
                },
            ),
        ),
        (
            b"\x80\x04]NNs.",
            (
                5,
                K::WrongTarget {
                    op: pickle_ops::Opcode::Setitem,
                    found: "list",
                },
            ),
        ),
        (
            b"\x80\x04}(Nu.",
            (5, K::OddItems(pickle_ops::Opcode::Setitems)),
        ),
        (b"\x80\x04}]Ns.", (5, K::Unhashable("list"))),
        (b"\x80\x04}(]\x85Nu.", (7, K::Unhashable("tuple"))),
        (b"\x80\x04\x8f(]\x90.", (5, K::Unhashable("list"))),
        (
            b"\x80\x04]Nb.",
            (
                4,
                K::WrongTarget {
                    op: pickle_ops::Opcode::Build,
                    found: "list",
                },
            ),
        ),
        (b"\x80\x04K\x01)R.", (5, K::NotCallable("scalar"))),
        (
            b"\x80\x04\x8c\x01a\x8c\x01b\x93K\x01R.",
            (11, K::BadReduceArgs("scalar")),
        ),
        (b"\x80\x04K\x01K\x02\x93.", (6, K::StackGlobalNotStr)),
        // Text that is not what its op needs.
        (b"\x80\x04\x8c\x01\xff.", (2, K::BadUtf8)),
        (b"\x80\x04U\x01\xff.", (2, K::NotAscii)),
    ];
    for (p, want) in cases {
        assert_eq!(&kind(p), want, "{p:?}");
        // So did the decoding of the fragment this check replaced.
        let frag = &p[2..p.len() - 1];
        let old = rebase_value(frag, 0, 1).and_then(|v| decode_value(&v.ops, 0, &opts()));
        assert!(old.is_err(), "{p:?}");
    }
    // CPython's unpickler refuses a memo store right above a MARK (the
    // data-only decoder lets it through).
    assert_eq!(kind(b"\x80\x04(q\x00N."), (3, K::StackUnderflow));
    // What CPython writes passes: POP of a MARK, a recursive tuple, a set,
    // lone surrogates.
    for ok in [
        b"\x80\x04(0N.".as_slice(),
        b"\x80\x04]\x94(h\x00\x85\x94e0h\x01.",
        b"\x80\x04\x8f(K\x01\x8c\x01a\x90.",
        b"\x80\x04\x8c\x03\xed\xa0\x80.",
    ] {
        rewrite_pickle(ok, 1).unwrap();
        no_false_refusal(&ok[2..ok.len() - 1]);
    }
}

// ---- properties -------------------------------------------------------------

/// Random trees of lists, tuples, dicts, strs and ints, as canonical JSON.
fn tree() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        (-300i64..300).prop_map(|i| json!({"int": i.to_string()})),
        "[a-c]{0,3}".prop_map(|s| json!({ "str": s })),
        Just(json!({"none": null})),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(|b| {
            let mut s = String::new();
            pickle_ops::json::base64_encode(&b, &mut s);
            json!({ "bytes_b64": s })
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|v| json!({ "list": v })),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "tuple": v })),
            proptest::collection::vec(("[a-e]", inner), 0..4).prop_map(|kv| {
                let items: Vec<J> = kv
                    .into_iter()
                    .map(|(k, v)| json!([{ "str": k }, v]))
                    .collect();
                json!({ "dict": items })
            }),
        ]
    })
}

/// A list of trees, some wrapped in a shared list referenced again later.
fn graph() -> impl Strategy<Value = J> {
    proptest::collection::vec((tree(), 0u8..3), 1..6).prop_map(|parts| {
        let mut items = Vec::new();
        let mut refs = Vec::new();
        for (i, (t, share)) in parts.into_iter().enumerate() {
            if share > 0 {
                items.push(json!({"id": i, "list": [t]}));
                refs.push(json!({ "ref": i }));
            } else {
                items.push(t);
            }
        }
        items.extend(refs);
        json!({ "list": items })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_graphs_round_trip(v in graph(), base in prop_oneof![0u32..600, Just(65_535u32), Just(MAX_MEMO - 5000)]) {
        let p = from_json(&v).unwrap();
        let want = canon_p4(&p);
        let g = encode_value(&p, base).unwrap();
        check_memo_layout(&g, base);
        // The traced encoder agrees with rewriting CPython's whole pickle.
        let whole = pickle_ops::encode::encode(&p, 4).unwrap();
        prop_assert_eq!(&g, &rewrite_pickle(&whole, base).unwrap());
        let back = decode_value(&g.ops, 0, &opts()).unwrap();
        prop_assert!(equal(&canon(&back), &want));
        let whole = decode(&standalone_pickle(&g.ops), &opts()).unwrap();
        prop_assert!(equal(&canon(&whole), &want));
        prop_assert_eq!(encode_value(&back, base).unwrap(), g.clone());
        prop_assert_eq!(rebase_value(&g.ops, 0, 1).unwrap(), encode_value(&p, 1).unwrap());
    }
}

// ---- live cross-check with CPython (optional) -------------------------------

/// Writes a file of every plain catalogue value (some deleted, some keys
/// replaced) and has `fixtures/gen/check_generic.py` check it with CPython:
/// `pickle.load` of the file, each entry alone, and, when `MMAPPICKLE_SRC`
/// names an unpacked mmappickle 1.0.0 sdist, byte identity with its own
/// `_pickle_dump_fix`. Needs `python3` (or `$PYTHON`):
/// `cargo test -p mmpk-format --test integration -- --ignored python_`.
#[test]
#[ignore = "needs python3"]
fn python_loads_what_we_write() {
    let values: Vec<String> = catalogue()
        .into_iter()
        .filter(|t| !t.contains("\"global\""))
        .collect();
    let mut file = write_header(1).to_vec();
    let mut base = 1;
    let mut expected = serde_json::Map::new();
    for (i, text) in values.iter().enumerate() {
        let p = from_json_str(text).unwrap();
        // Every fourth key is written twice: the first one deleted.
        let key = format!("k{}", i - i % 4 * usize::from(i % 4 == 1));
        let live = i % 7 != 5;
        let memo = write_value_entry(&mut file, &key, &p, base, live).unwrap();
        base = base.max(memo);
        if live {
            expected.insert(key, canon(&p));
        } else {
            expected.remove(&key);
        }
    }
    file.extend_from_slice(&TERMINATOR);
    // Only the latest entry of a key may be live.
    let mut latest = HashMap::new();
    for (i, e) in scan(&file).unwrap().entries.iter().enumerate() {
        latest.insert(e.entry.key.to_string(), i);
    }
    let stale: Vec<usize> = scan(&file)
        .unwrap()
        .entries
        .iter()
        .enumerate()
        .filter(|(i, e)| e.entry.live && latest[e.entry.key] != *i)
        .map(|(_, e)| e.entry.validity_offset())
        .collect();
    for at in stale {
        file[at] = mmpk_format::entry::DELETED;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("generic_cross_check.mmpk");
    let exp = dir.join("generic_cross_check.json");
    std::fs::write(&path, &file).unwrap();
    std::fs::write(&exp, J::Object(expected).to_string()).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gen/check_generic.py");
    let mut cmd = std::process::Command::new(std::env::var("PYTHON").unwrap_or("python3".into()));
    cmd.arg(script).arg(&path).arg(&exp);
    if let Ok(src) = std::env::var("MMAPPICKLE_SRC") {
        cmd.arg("--mmappickle-src").arg(src);
    }
    let out = cmd.output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
}
