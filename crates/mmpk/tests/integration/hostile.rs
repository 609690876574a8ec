//! Hostile files: every fixture (mmappickle 1.0's, the hand-built ones, and
//! files mmpk writes in both layouts with every kind of entry), cut at every
//! point, with bytes flipped and length fields overwritten. Opening
//! read-only, listing the keys and reading every key (arrays through typed
//! views and owned copies, masked arrays, generic values) gives a value or a
//! typed [`mmpk::Error`], never a panic; the heap it takes stays within a
//! small multiple of the file's size; read-write opens, inserts and
//! removes either work or fail with an error, and every entry that was
//! readable before stays readable and unchanged.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mmpk::{Dict, OpenOptions, Value};
use ndarray::arr1;

use crate::alloc::peak_of;

/// The documented bound on the heap a read of a hostile file takes: a small
/// multiple of the file's size plus a constant.
pub fn heap_bound(len: usize) -> usize {
    64 * len + (512 << 10)
}

pub use mmpk_test_support::rng::SplitMix64 as Rng;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every fixture file: `mmappickle/*.mmpk`, `handbuilt/*.mmpk` and `.pkl`.
pub fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (sub, exts) in [
        ("mmappickle", &["mmpk"][..]),
        ("handbuilt", &["mmpk", "pkl"][..]),
    ] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures().join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)))
            .collect();
        paths.sort();
        for p in paths {
            let name = format!("{sub}/{}", p.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// Files written by mmpk itself, in both layouts, with every kind of entry:
/// arrays of every element type, big-endian, 0-d, text and datetime dtypes,
/// a reservation, masked arrays, generic values, a replaced and a removed
/// key.
pub fn own_files() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (name, layout) in [
        ("v2", mmpk::Layout::V2),
        ("mmappickle1", mmpk::Layout::Mmappickle1),
    ] {
        let p = dir.path().join(name);
        let d = crate::create_with(&p, OpenOptions::new().layout(layout));
        d.insert_array("u8", &arr1(&[1u8, 2, 3])).unwrap();
        d.insert_array("f64", &ndarray::array![[1.5f64, 2.0], [3.0, -4.0]])
            .unwrap();
        d.insert_array("i16", &arr1(&[-7i16, 9])).unwrap();
        d.insert_array("b", &arr1(&[true, false])).unwrap();
        d.insert_array("c64", &arr1(&[num_complex::Complex::new(1.0f32, -1.0)]))
            .unwrap();
        d.insert_array("f16", &arr1(&[half::f16::from_f32(0.5)]))
            .unwrap();
        d.insert_bytes("be", ">i4", &[2], &[0, 0, 0, 1, 0, 0, 0, 2])
            .unwrap();
        d.insert_bytes("zero_d", "<u4", &[], &[9, 0, 0, 0]).unwrap();
        d.insert_bytes("text", "<U2", &[1], &[b'h', 0, 0, 0, b'i', 0, 0, 0])
            .unwrap();
        d.insert_bytes("when", "<M8[ns]", &[1], &7i64.to_le_bytes())
            .unwrap();
        d.reserve::<u32>("stub", &[3, 2]).unwrap();
        d.insert_masked(
            "masked",
            &arr1(&[1.0f32, 2.0, 3.0]),
            Some(&arr1(&[false, true, false])),
        )
        .unwrap();
        d.insert_pickle("int", &crate::arrays::int_pickle(-5))
            .unwrap();
        d.insert_pickle("list", &shared_list()).unwrap();
        d.insert_array("replaced", &arr1(&[1u64])).unwrap();
        d.insert_array("replaced", &arr1(&[2u64])).unwrap();
        d.insert_array("removed", &arr1(&[3u64])).unwrap();
        d.remove("removed").unwrap();
        drop(d);
        out.push((format!("own/{name}.mmpk"), std::fs::read(&p).unwrap()));
        // Bigger files, cut at sampled points: a large array, and many
        // small entries.
        let p = dir.path().join(format!("{name}-big"));
        let d = crate::create_with(&p, OpenOptions::new().layout(layout));
        d.insert_array("wide", &ndarray::Array1::from_iter(0..6000u32))
            .unwrap();
        for i in 0..40 {
            d.insert_array(&format!("k{i}"), &arr1(&[i as i16]))
                .unwrap();
            if i % 3 == 0 {
                d.insert_pickle(&format!("v{i}"), &shared_list()).unwrap();
            }
        }
        drop(d);
        out.push((format!("own/{name}-big.mmpk"), std::fs::read(&p).unwrap()));
    }
    out
}

/// `["x", "x"]` with one shared string (a memo entry).
pub fn shared_list() -> mmpk::Pickle {
    use mmpk::pickle_ops::Value as PV;
    let mut p = mmpk::Pickle::new();
    let s = p.push(PV::str("x"));
    let l = p.push(PV::List(vec![s, s]));
    p.set_root(l);
    p
}

/// Where to cut a file of `len` bytes: everywhere up to 4 KiB; beyond, 512
/// seeded points plus every point in the first and last 256 bytes.
pub fn cut_points(len: usize, seed: u64) -> Vec<usize> {
    if len <= 4096 {
        return (0..len).collect();
    }
    let mut rng = Rng(seed);
    let mut v: Vec<usize> = (0..256).chain(len - 256..len).collect();
    v.extend((0..512).map(|_| rng.index(len)));
    v.sort_unstable();
    v.dedup();
    v
}

/// Values length fields are overwritten with.
fn length_values(len: u64) -> [u64; 8] {
    [
        0,
        1,
        len.saturating_sub(1),
        len,
        len + 1,
        1 << 31,
        1 << 63,
        u64::MAX,
    ]
}

/// Seeded byte flips and length-field overwrites of `bytes`: the frame
/// lengths of every scanned entry, then fields after every byte that could
/// be a length-carrying opcode (FRAME, BINBYTES8, BINUNICODE8, BINUNICODE,
/// BINBYTES, SHORT_BINUNICODE, SHORT_BINBYTES, BININT, BININT1, BININT2,
/// LONG1), sampled, each set to 0, 1, len-1, len, len+1, 2^31, 2^63 and
/// u64::MAX (cut to the field's width).
pub fn mutations(bytes: &[u8], seed: u64, flips: usize, fields: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    if bytes.is_empty() {
        return out;
    }
    for _ in 0..flips {
        let at = rng.index(bytes.len());
        let x = (rng.next() as u8).max(1);
        let mut b = bytes.to_vec();
        b[at] ^= x;
        out.push((format!("flip {at} ^{x:#04x}"), b));
    }
    // (offset of the field, its width)
    let mut sites: Vec<(usize, usize)> = Vec::new();
    if let Ok(s) = mmpk_format::scan(bytes) {
        sites.extend(s.entries.iter().map(|e| (e.entry.offset + 1, 8)));
    }
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    for (i, &op) in bytes.iter().enumerate() {
        let width = match op {
            0x95 | 0x8e | 0x8d => 8,
            0x58 | 0x42 | 0x4a => 4,
            0x4d => 2,
            0x8c | 0x43 | 0x4b | 0x8a => 1,
            _ => continue,
        };
        if i + 1 + width <= bytes.len() {
            candidates.push((i + 1, width));
        }
    }
    for _ in 0..fields.min(candidates.len()) {
        let i = rng.index(candidates.len());
        sites.push(candidates.swap_remove(i));
    }
    for (at, width) in sites {
        let cur = {
            let mut a = [0u8; 8];
            a[..width].copy_from_slice(&bytes[at..at + width]);
            u64::from_le_bytes(a)
        };
        let mut seen = Vec::new();
        for v in length_values(cur) {
            let le = v.to_le_bytes();
            if seen.contains(&le[..width].to_vec()) || le[..width] == bytes[at..at + width] {
                continue;
            }
            seen.push(le[..width].to_vec());
            let mut b = bytes.to_vec();
            b[at..at + width].copy_from_slice(&le[..width]);
            out.push((format!("field {at}/{width} = {v:#x}"), b));
        }
    }
    out
}

/// Reads one array every way there is: a typed view and an owned copy of
/// the matching element type (and a wrong one), touching every element.
pub fn read_array(a: &mmpk::Array) {
    struct Both<'a>(&'a mmpk::Array);
    impl mmpk::ElementVisitor for Both<'_> {
        type Output = ();
        fn visit<T: mmpk::Element>(self) {
            let a = self.0;
            let n = a.shape().iter().product::<usize>();
            if let Ok(v) = a.view::<T>() {
                assert_eq!(v.len(), n);
                std::hint::black_box(v.iter().count());
            }
            if let Ok(o) = a.to_owned::<T>() {
                assert_eq!(o.len(), n);
            }
        }
    }
    std::hint::black_box(a.bytes().iter().map(|&b| b as u64).sum::<u64>());
    let _ = a.view::<u8>();
    let _ = a.to_owned::<f64>();
    mmpk::visit_element(a.dtype(), Both(a));
}

/// Lists the keys of `d` and reads every one (through [`Dict::get`], and
/// the other accessors); returns each readable key's content: dtype, shape
/// and bytes of arrays (and masks), the ops of other values.
pub fn read_all(d: &Dict) -> BTreeMap<String, Vec<u8>> {
    let mut readable = BTreeMap::new();
    let Ok(keys) = d.keys() else {
        return readable;
    };
    let _ = d.entries();
    let _ = d.stats();
    let sig = |a: &mmpk::Array| {
        let mut v = format!("{} {:?} ", a.dtype().str(), a.shape()).into_bytes();
        v.extend_from_slice(a.bytes());
        v
    };
    for k in &keys {
        let content = match d.get(k) {
            Ok(Value::Array(a)) => {
                read_array(&a);
                Some(sig(&a))
            }
            Ok(Value::Masked(m)) => {
                read_array(m.data());
                read_array(m.mask());
                let _ = m.mask_owned();
                let mut v = sig(m.data());
                v.extend(sig(m.mask()));
                Some(v)
            }
            Ok(Value::Pickle(p)) => {
                std::hint::black_box(p.root());
                None
            }
            Ok(_) | Err(_) => None,
        };
        let _ = d.get_pickle(k);
        let _ = d.masked(k);
        if let Some(v) = content.or_else(|| d.value_bytes(k).ok()) {
            readable.insert(k.clone(), v);
        }
    }
    readable
}

/// What one input did.
#[derive(Default, Debug, Clone, Copy)]
pub struct Tally {
    /// Inputs tried.
    pub inputs: u64,
    /// Inputs that opened read-only.
    pub opened: u64,
    /// Inputs whose read-write round (insert, insert, remove) all worked.
    pub written: u64,
    /// Largest heap peak over the file's size (per mille of the bound).
    pub worst_heap: usize,
}

/// Opens `bytes` (written to `path`) read-only, reads everything (heap
/// measured), then, when `rw`, opens it read-write, inserts an array and a
/// generic value, removes a key, and checks with a fresh reader that the
/// new entries read back and every entry readable before is unchanged.
/// `Err` describes a broken promise; panics are the caller's to catch.
pub fn check_bytes(path: &Path, bytes: &[u8], rw: bool, t: &mut Tally) -> Result<(), String> {
    check_with(path, bytes, rw, rw, t)
}

/// [`check_bytes`], with the maintenance round (repair, upgrade, vacuum:
/// each works or fails, and every readable entry keeps its content) when
/// `maint`.
pub fn check_with(
    path: &Path,
    bytes: &[u8],
    rw: bool,
    maint: bool,
    t: &mut Tally,
) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| e.to_string())?;
    t.inputs += 1;
    let (before, peak) = peak_of(|| {
        // SAFETY: the file is private to this test.
        let d = unsafe { Dict::open_read_only(path) }.ok()?;
        Some(read_all(&d))
    });
    let bound = heap_bound(bytes.len());
    if peak > bound {
        return Err(format!("heap peak {peak} over the bound {bound}"));
    }
    t.worst_heap = t.worst_heap.max(peak * 1000 / bound);
    let Some(before) = before else {
        return Ok(());
    };
    t.opened += 1;
    if !rw {
        return Ok(());
    }
    let removed = before.keys().next().cloned();
    let (a_ok, p_ok, r_ok) = {
        // SAFETY: as above.
        let Ok(d) = (unsafe { Dict::open(path) }) else {
            return Ok(());
        };
        let a = d.insert_array("__new_array", &arr1(&[7u16, 8, 9]));
        let p = d.insert_pickle("__new_value", &shared_list());
        let r = removed.as_ref().map(|k| d.remove(k));
        let r_ok = r.as_ref().is_some_and(|r| r.is_ok());
        if a.is_ok() && p.is_ok() && (r_ok || removed.is_none()) {
            t.written += 1;
        }
        // A failed write must leave the dict usable for reading.
        read_all(&d);
        (a.is_ok(), p.is_ok(), r_ok)
    };
    // SAFETY: as above.
    let d = unsafe { Dict::open_read_only(path) }
        .map_err(|e| format!("no longer opens after writes: {e}"))?;
    let after = read_all(&d);
    // Our two keys may already be in the file: when our insert worked they
    // hold the new values (checked below), else the old ones.
    let ours = |k: &str| (k == "__new_array" && a_ok) || (k == "__new_value" && p_ok);
    for (k, v) in &before {
        if Some(k) == removed.as_ref() || ours(k) {
            continue;
        }
        match after.get(k) {
            Some(w) if w == v => {}
            Some(_) => return Err(format!("key {k:?} changed")),
            None => return Err(format!("key {k:?} lost")),
        }
    }
    if let (Some(k), true) = (&removed, r_ok) {
        if d.contains(k).unwrap_or(false) {
            return Err(format!("removed key {k:?} still there"));
        }
    }
    // The remove (of the first key) comes after the inserts: it takes our
    // key away too if it is one of them.
    let gone = |k: &str| r_ok && removed.as_deref() == Some(k);
    for (key, ok) in [("__new_array", a_ok), ("__new_value", p_ok)] {
        if ok && !gone(key) && !d.contains(key).unwrap_or(false) {
            return Err(format!("inserted {key} missing"));
        }
    }
    if a_ok && !gone("__new_array") {
        let got = d
            .array("__new_array")
            .and_then(|a| a.to_owned::<u16>())
            .map_err(|e| format!("new array unreadable: {e}"))?;
        if got.as_slice() != Some(&[7, 8, 9][..]) {
            return Err("new array differs".into());
        }
    }
    if p_ok && !gone("__new_value") {
        let got = d
            .get_pickle("__new_value")
            .map_err(|e| format!("new value unreadable: {e}"))?;
        let mmpk::pickle_ops::Value::List(items) = &*got.value(got.root()) else {
            return Err("new value is not a list".into());
        };
        if items.len() != 2 {
            return Err("new value differs".into());
        }
    }
    drop(d);
    if maint {
        maint_round(path, &after)?;
    }
    Ok(())
}

/// Repairs, upgrades and vacuums the file at `path` (each may fail with an
/// error); every entry of `before` must keep its content, and no key appear.
fn maint_round(path: &Path, before: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    {
        // SAFETY: the file is private to this test.
        let Ok(d) = (unsafe { Dict::open(path) }) else {
            return Err("no longer opens read-write".into());
        };
        let _ = d.repair();
        let _ = d.upgrade();
        let _ = d.vacuum();
    }
    // SAFETY: as above.
    let d = unsafe { Dict::open_read_only(path) }
        .map_err(|e| format!("no longer opens after maintenance: {e}"))?;
    let after = read_all(&d);
    for (k, v) in before {
        if after.get(k) != Some(v) {
            return Err(format!("maintenance lost or changed {k:?}"));
        }
    }
    if let Some(k) = after.keys().find(|k| !before.contains_key(*k)) {
        return Err(format!("maintenance made key {k:?} appear"));
    }
    Ok(())
}

/// Runs every input through [`check_bytes`], catching panics; fails with
/// the first few broken promises (file, mutation) if any.
pub fn run(inputs: impl Iterator<Item = (String, Vec<u8>, bool, bool)>) -> Tally {
    let dir = crate::shm_tempdir();
    let path = dir.path().join("h.mmpk");
    let mut t = Tally::default();
    let mut bad = Vec::new();
    for (name, bytes, rw, maint) in inputs {
        let r = catch_unwind(AssertUnwindSafe(|| {
            check_with(&path, &bytes, rw, maint, &mut t)
        }));
        let msg = match r {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(p) => format!(
                "panic: {}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("?")
            ),
        };
        bad.push(format!("{name}: {msg}"));
        let _ = std::fs::remove_file(&path);
    }
    assert!(
        bad.is_empty(),
        "{} broken inputs, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(12)]
    );
    t
}

/// Every cut of every file in `files`; the read-write round on every
/// `rw_every`-th cut, the maintenance round on every `5 * rw_every`-th.
fn truncations(files: Vec<(String, Vec<u8>)>, rw_every: usize) -> Tally {
    let inputs = files.into_iter().flat_map(move |(name, bytes)| {
        cut_points(bytes.len(), 7).into_iter().map(move |c| {
            (
                format!("{name} cut {c}"),
                bytes[..c].to_vec(),
                c % rw_every == 0,
                c % (5 * rw_every) == 0,
            )
        })
    });
    run(inputs)
}

fn mutated(files: Vec<(String, Vec<u8>)>, seed: u64) -> Tally {
    let inputs = files
        .into_iter()
        .enumerate()
        .flat_map(move |(i, (name, bytes))| {
            // Fewer for big files: each input reads every key.
            let (flips, fields) = if bytes.len() > 4096 {
                (16, 8)
            } else {
                (48, 24)
            };
            mutations(&bytes, seed + i as u64, flips, fields)
                .into_iter()
                .enumerate()
                .map(move |(j, (m, b))| (format!("{name} {m}"), b, true, j % 4 == 0))
        });
    run(inputs)
}

fn report(what: &str, t: Tally) {
    eprintln!(
        "hostile {what}: {} inputs, {} opened, {} written; worst heap {}.{}% of the bound",
        t.inputs,
        t.opened,
        t.written,
        t.worst_heap / 10,
        t.worst_heap % 10
    );
}

#[test]
fn truncated_mmappickle_files() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let files = fixture_files()
        .into_iter()
        .filter(|(n, _)| n.starts_with("mmappickle/"))
        .collect();
    report("mmappickle cuts", truncations(files, 5));
}

#[test]
fn truncated_handbuilt_and_own_files() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let mut files: Vec<_> = fixture_files()
        .into_iter()
        .filter(|(n, _)| n.starts_with("handbuilt/"))
        .collect();
    files.extend(own_files());
    report("handbuilt and own cuts", truncations(files, 5));
}

#[test]
fn flipped_and_overwritten_fixtures() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let mut files = fixture_files();
    files.extend(own_files());
    report("flips and length fields", mutated(files, 1));
}

#[test]
fn the_unmodified_files_read_and_take_writes() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let mut files = fixture_files();
    files.extend(own_files());
    let t = run(files.into_iter().map(|(n, b)| (n, b, true, true)));
    // Only the plain pickle and the corrupt or torn files may refuse.
    assert!(t.opened + 1 >= t.inputs, "{t:?}");
    report("unmodified", t);
}
