//! Files built with the writers scan back to what was written.

use mmpk_format::array::V2_PREFIX_LEN;
use mmpk_format::filler::{data_offset, filler_len};
use mmpk_format::header::TERMINATOR;
use mmpk_format::scan::{scan, EntryKind};
use mmpk_format::write::write_entry;
use mmpk_format::write::write_filler;
use mmpk_format::write::write_header;
use proptest::prelude::*;

/// A small file: 'a' -> 1, 'b' -> 2 (deleted), a 40-byte filler,
/// 'a' -> 'x' (replaces the first), 'é' -> None.
pub fn small_file() -> Vec<u8> {
    let mut f = write_header(4).to_vec();
    write_entry(&mut f, "a", b"K\x01", 1, true).unwrap();
    write_entry(&mut f, "b", b"K\x02", 1, false).unwrap();
    write_filler(&mut f, 40).unwrap();
    write_entry(&mut f, "a", b"\x8c\x01x", 1, true).unwrap();
    write_entry(&mut f, "é", b"N", 1, true).unwrap();
    f.extend_from_slice(&TERMINATOR);
    f
}

/// `small_file()`'s bytes. `pickle.loads` of them (CPython 3.11.7) gives
/// `{'a': 'x', 'é': None}`, checked manually.
const SMALL: &[u8] = b"\x80\x04\x95\r\x00\x00\x00\x00\x00\x00\x00J\x01\x00\x00\x000J\x04\x00\x00\x000(\
\x95\r\x00\x00\x00\x00\x00\x00\x00\x8c\x01aK\x01J\x01\x00\x00\x000\x880\
\x95\r\x00\x00\x00\x00\x00\x00\x00\x8c\x01bK\x02J\x01\x00\x00\x00000\
\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x00C\x13\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00J\x00\x00\x00\x00000\
\x95\x0e\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x8c\x01xJ\x01\x00\x00\x000\x880\
\x95\r\x00\x00\x00\x00\x00\x00\x00\x8c\x02\xc3\xa9NJ\x01\x00\x00\x000\x880\
\x95\x02\x00\x00\x00\x00\x00\x00\x00d.";

#[test]
fn small_file_is_pinned_and_scans() {
    let f = small_file();
    assert_eq!(f, SMALL);
    let s = scan(&f).unwrap();
    assert!(s.is_clean());
    assert_eq!(s.header.commit, 4);
    let kinds: Vec<_> = s.entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EntryKind::Live,
            EntryKind::Deleted,
            EntryKind::Filler,
            EntryKind::Live,
            EntryKind::Live
        ]
    );
    let idx = s.live_index();
    assert_eq!(idx.len(), 2);
    assert_eq!(&f[s.entries[idx["a"]].entry.value_span()], b"\x8c\x01x");
    assert_eq!(&f[s.entries[idx["é"]].entry.value_span()], b"N");
}

#[test]
fn small_file_decodes_as_a_pickle() {
    use pickle_ops::value::Value;
    let p = pickle_ops::decode::decode(&small_file(), &Default::default()).unwrap();
    let Some(Value::Dict(items)) = p.node(p.root()) else {
        panic!("not a dict")
    };
    assert_eq!(items.len(), 2);
}

#[test]
fn aligned_array_data_offsets() {
    // An entry list where each array entry is preceded by its filler.
    let mut f = write_header(0).to_vec();
    for (i, align) in [8u64, 64, 4096, 64, 16].into_iter().enumerate() {
        let key = "k".repeat(i * 7);
        let fl = filler_len(f.len() as u64, key.len(), V2_PREFIX_LEN, align).unwrap();
        write_filler(&mut f, fl).unwrap();
        let entry = f.len() as u64;
        assert_eq!(
            data_offset(entry, key.len(), V2_PREFIX_LEN).unwrap() % align,
            0
        );
        write_entry(&mut f, &key, b"N", 0, true).unwrap();
    }
    f.extend_from_slice(&TERMINATOR);
    assert!(scan(&f).unwrap().is_clean());
}

proptest! {
    #[test]
    fn entries_round_trip(
        items in proptest::collection::vec(
            ("\\PC{0,40}", proptest::collection::vec(any::<u8>(), 1..40), 0u32..=i32::MAX as u32, any::<bool>()),
            0..12,
        ),
        commit in any::<i32>(),
    ) {
        let mut f = write_header(commit).to_vec();
        let mut spans = Vec::new();
        for (k, v, m, live) in &items {
            let at = f.len();
            write_entry(&mut f, k, v, *m, *live).unwrap();
            spans.push(at);
        }
        f.extend_from_slice(&TERMINATOR);
        let s = scan(&f).unwrap();
        prop_assert!(s.is_clean());
        prop_assert_eq!(s.header.commit, commit);
        prop_assert_eq!(s.entries.len(), items.len());
        for ((k, v, m, live), (e, at)) in items.iter().zip(s.entries.iter().zip(spans)) {
            prop_assert_eq!(e.entry.offset, at);
            prop_assert_eq!(e.entry.key, k.as_str());
            prop_assert_eq!(&f[e.entry.value_span()], &v[..]);
            prop_assert_eq!(e.entry.memo_max, *m);
            prop_assert_eq!(e.entry.live, *live);
        }
    }
}

/// Aligned array entries of several dtypes and shapes, each behind its
/// filler. Verified manually: the file this builds (dumped once to disk),
/// loaded with plain `pickle.loads`, gives the expected writable arrays under
/// numpy 1.23.5 (target/venv/np1) and 2.4.6 (np2) with `-W error` for the v2
/// entries; the v1 entry warns on 1.23.5 and fails on 2.4.6, as docs/format.md
/// section 5 says.
#[test]
fn aligned_arrays_of_many_dtypes() {
    use mmpk_format::array::{decode_array, Encoding};
    use mmpk_format::write::{write_array_head, write_array_tail};
    let mut f = write_header(1).to_vec();
    /// Key, encoding, dtype, shape, raw bytes.
    type Case = (
        &'static str,
        Encoding,
        &'static str,
        &'static [u64],
        Vec<u8>,
    );
    let cases: &[Case] = &[
        ("v2_i2", Encoding::V2, "<i2", &[3], vec![0, 0, 1, 0, 2, 0]),
        (
            "v2_f8_be",
            Encoding::V2,
            ">f8",
            &[1, 2],
            [1.5f64.to_be_bytes(), (-2.0f64).to_be_bytes()].concat(),
        ),
        (
            "v2_0d",
            Encoding::V2,
            "<u4",
            &[],
            7u32.to_le_bytes().to_vec(),
        ),
        ("v2_empty", Encoding::V2, "|b1", &[0, 3], vec![]),
        (
            "v2_5d",
            Encoding::V2,
            "<M8[ns]",
            &[1, 1, 1, 1, 2],
            [5i64.to_le_bytes(), 6i64.to_le_bytes()].concat(),
        ),
        (
            "v2_u",
            Encoding::V2,
            "<U2",
            &[1],
            "hé"
                .chars()
                .flat_map(|c| (c as u32).to_le_bytes())
                .collect(),
        ),
        (
            "v1_f4",
            Encoding::V1,
            "float32",
            &[2],
            [1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat(),
        ),
    ];
    for (key, enc, dtype, shape, raw) in cases {
        let fl = filler_len(f.len() as u64, key.len(), enc.prefix_len(), 64).unwrap();
        write_filler(&mut f, fl).unwrap();
        let mut v = Vec::new();
        write_array_head(&mut v, *enc, raw.len() as u64);
        v.extend_from_slice(raw);
        write_array_tail(&mut v, *enc, dtype, shape).unwrap();
        let at = f.len();
        write_entry(&mut f, key, &v, 0, true).unwrap();
        let e = mmpk_format::entry::parse_entry(&f, at).unwrap();
        let a = decode_array(&f, e.value_span()).unwrap();
        assert_eq!(a.data.start % 64, 0);
        assert_eq!(
            (a.dtype, &a.shape[..], &f[a.data]),
            (*dtype, *shape, &raw[..])
        );
    }
    f.extend_from_slice(&TERMINATOR);
    let s = scan(&f).unwrap();
    assert!(s.is_clean());
    assert_eq!(s.live_index().len(), cases.len());
}
