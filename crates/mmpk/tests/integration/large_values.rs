//! Generic values of 64 KiB and more are written apart from their entry's
//! head (crates/mmpk/src/write.rs, `WRITE_PREFIX_APART_FROM`): each
//! entry, small or large, with or without memo fetches, in either layout,
//! durable (rooms) or not, is byte for byte what `mmpk_format`'s own
//! writer makes of the rewritten pickle.

use mmpk::{Layout, OpenOptions};
use mmpk_format::generic::rewrite_pickle;
use mmpk_format::header::TERMINATOR;
use mmpk_format::write::write_entry;
use proptest::prelude::*;

use crate::{create_with, tmp};

/// A protocol-4 pickle as CPython frames it (64 KiB frames at op
/// boundaries) of a list of `n` distinct 8-character strings, each
/// memoized; with `fetch`, every 5th item is followed by a fetch of the
/// first string (`BINGET 1`), which takes the rewrite's renumbering pass.
fn list_pickle(n: usize, fetch: bool) -> Vec<u8> {
    let mut ops: Vec<Vec<u8>> = vec![b"]".to_vec(), b"\x94".to_vec(), b"(".to_vec()];
    for i in 0..n {
        let mut s = b"\x8c\x08".to_vec();
        s.extend_from_slice(format!("{i:08}").as_bytes());
        ops.push(s);
        ops.push(b"\x94".to_vec());
        if fetch && i % 5 == 0 {
            ops.push(b"h\x01".to_vec());
        }
        if i % 1000 == 999 {
            ops.push(b"e(".to_vec());
        }
    }
    ops.push(b"e".to_vec());
    let mut out = b"\x80\x04".to_vec();
    let mut frame = Vec::new();
    let flush = |out: &mut Vec<u8>, frame: &mut Vec<u8>| {
        out.push(0x95);
        out.extend_from_slice(&(frame.len() as u64).to_le_bytes());
        out.append(frame);
    };
    for op in ops {
        frame.extend_from_slice(&op);
        if frame.len() >= 64 << 10 {
            flush(&mut out, &mut frame);
        }
    }
    frame.push(b'.');
    flush(&mut out, &mut frame);
    out
}

/// Inserts `pickle` under `key` and checks the new entry's bytes: exactly
/// `write_entry` of `rewrite_pickle` at the file's memo base before it.
fn insert_and_check(d: &mmpk::Dict, path: &std::path::Path, key: &str, pickle: &[u8]) {
    let before = std::fs::read(path).unwrap();
    let base = mmpk_format::scan(&before).unwrap().memo_max().max(1);
    d.insert_pickle_bytes(key, pickle).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let s = mmpk_format::scan(&bytes).unwrap();
    assert!(s.is_clean(), "{:?}", s.tail);
    let e = &s
        .entries
        .iter()
        .find(|e| e.entry.live && e.entry.key == key)
        .expect("the new entry")
        .entry;
    let v = rewrite_pickle(pickle, base).unwrap();
    let mut want = Vec::new();
    write_entry(&mut want, key, &v.ops, v.memo_max, true).unwrap();
    assert_eq!(e.memo_max, v.memo_max);
    assert!(
        bytes[e.offset..e.end()] == want[..],
        "entry {key:?} differs"
    );
    assert!(bytes.ends_with(&TERMINATOR));
}

fn dict(path: &std::path::Path, layout: Layout, durable: bool) -> mmpk::Dict {
    create_with(path, OpenOptions::new().layout(layout).durable(durable))
}

#[test]
fn large_values_are_the_entries_the_format_writer_makes() {
    for layout in [Layout::V2, Layout::Mmappickle1] {
        for durable in [false, true] {
            let (_g, p) = tmp();
            let d = dict(&p, layout, durable);
            insert_and_check(&d, &p, "small", &list_pickle(3, true));
            // 10^5 strings: ~1 MB of ops, with and without fetches.
            insert_and_check(&d, &p, "big", &list_pickle(100_000, false));
            insert_and_check(&d, &p, "shared", &list_pickle(100_000, true));
            // Small inserts after them: the second into the room the first
            // made when durable v2.
            insert_and_check(&d, &p, "after", &list_pickle(10, false));
            let len = std::fs::metadata(&p).unwrap().len();
            insert_and_check(&d, &p, "after2", &list_pickle(10, true));
            let grew = std::fs::metadata(&p).unwrap().len() > len;
            assert_eq!(grew, !(durable && layout == Layout::V2));
            // Replacing a large value by a large value.
            insert_and_check(&d, &p, "big", &list_pickle(50_000, true));
            // A fresh handle reads what was written.
            let fresh = crate::open(&p);
            let mut keys = fresh.keys().unwrap();
            keys.sort();
            assert_eq!(keys, ["after", "after2", "big", "shared", "small"]);
            assert!(fresh.get_pickle("big").is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Around the size where values are written apart (64 KiB of ops),
    /// with keys of every length class and any prior memo base.
    #[test]
    fn values_around_the_threshold_are_written_alike(
        n in 6_250usize..6_600,
        key_len in 1usize..=255,
        fetch in any::<bool>(),
        prior in 0usize..3,
        v2 in any::<bool>(),
        durable in any::<bool>(),
    ) {
        let (_g, p) = tmp();
        let layout = if v2 { Layout::V2 } else { Layout::Mmappickle1 };
        let d = dict(&p, layout, durable);
        for i in 0..prior {
            insert_and_check(&d, &p, &format!("p{i}"), &list_pickle(3, true));
        }
        insert_and_check(&d, &p, &"k".repeat(key_len), &list_pickle(n, fetch));
    }
}
