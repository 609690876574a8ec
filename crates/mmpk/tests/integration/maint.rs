//! Vacuum: only live entries stay, fillers are recomputed, data is intact.

use mmpk::{Error, Layout, OpenOptions};
use mmpk_format::scan::EntryKind;
use ndarray::{arr1, Array1};

use crate::arrays::int_pickle;
use crate::{create, create_with, open, open_ro, scan_clean, tmp};

#[test]
fn vacuum_keeps_live_entries_and_reclaims_the_rest() {
    for align in [8u64, 64, 4096] {
        let (_d, p) = tmp();
        let d = create_with(&p, OpenOptions::new().align(align));
        for i in 0..20 {
            d.insert_array(&format!("k{i}"), &Array1::from_elem(i + 1, i as f64))
                .unwrap();
        }
        d.insert_pickle("v", &int_pickle(77)).unwrap();
        for i in (0..20).step_by(2) {
            d.remove(&format!("k{i}")).unwrap();
        }
        d.insert_array("k1", &arr1(&[-1.0f64, -2.0])).unwrap();
        d.reserve::<u8>("sparse", &[1 << 28]).unwrap();
        d.array_mut("sparse").unwrap().view_mut::<u8>().unwrap()[[12345]] = 9;
        let keys = d.keys().unwrap();
        let before = std::fs::metadata(&p).unwrap().len();
        let r = d.vacuum().unwrap();
        assert_eq!(r.before, before);
        assert_eq!(r.live, keys.len() as u64);
        assert!(r.dropped >= 11);
        assert_eq!(d.keys().unwrap(), keys);
        assert_eq!(
            d.array("k1")
                .unwrap()
                .view::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [-1.0, -2.0]
        );
        for i in (3..20).step_by(2) {
            let a = d.array(&format!("k{i}")).unwrap();
            assert_eq!(a.info().data_offset % align, 0);
            assert_eq!(a.view::<f64>().unwrap().len(), i + 1);
        }
        let s = d.array("sparse").unwrap();
        assert_eq!(s.view::<u8>().unwrap()[[12345]], 9);
        assert_eq!(s.info().data_offset % align, 0);
        drop(s);
        // The file: only live entries and fillers; still sparse.
        let bytes = scan_clean(&p);
        let scan = mmpk_format::scan(&bytes).unwrap();
        assert!(scan.entries.iter().all(|e| e.kind != EntryKind::Deleted));
        assert_eq!(scan.live_index().len(), keys.len());
        use std::os::unix::fs::MetadataExt;
        assert!(std::fs::metadata(&p).unwrap().blocks() * 512 < 1 << 24);
        // It keeps working, and reopens.
        d.insert_array("after", &arr1(&[5u8])).unwrap();
        d.remove("v").unwrap();
        let again = open_ro(&p);
        assert_eq!(again.len().unwrap(), keys.len());
        assert!(again.contains("after").unwrap());
        // No temporary file is left behind.
        let n = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(n, 1);
    }
}

#[test]
fn vacuum_refuses_while_views_live_and_on_read_only() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("a", &arr1(&[1u32])).unwrap();
    let a = d.array("a").unwrap();
    assert!(matches!(d.vacuum(), Err(Error::ViewsAlive { .. })));
    drop(a);
    let m = d.array_mut("a").unwrap();
    assert!(matches!(d.vacuum(), Err(Error::ViewsAlive { .. })));
    drop(m);
    d.vacuum().unwrap();
    assert!(matches!(open_ro(&p).vacuum(), Err(Error::ReadOnly { .. })));
}

#[test]
fn vacuum_of_an_mmappickle_file() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let (_d, p) = tmp();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/mmappickle/replaced.mmpk");
    std::fs::copy(src, &p).unwrap();
    // SAFETY: private test file.
    let d = unsafe { OpenOptions::new().layout(Layout::Mmappickle1).open(&p) }.unwrap();
    let keys = d.keys().unwrap();
    let vals: Vec<Vec<u8>> = keys.iter().map(|k| d.value_bytes(k).unwrap()).collect();
    d.vacuum().unwrap();
    assert_eq!(d.keys().unwrap(), keys);
    for (k, v) in keys.iter().zip(&vals) {
        assert_eq!(&d.value_bytes(k).unwrap(), v);
    }
    let bytes = scan_clean(&p);
    assert!(mmpk_format::scan(&bytes)
        .unwrap()
        .entries
        .iter()
        .all(|e| e.kind == EntryKind::Live));
    drop(open(&p));
}

#[test]
fn upgrade_rewrites_v1_entries_as_v2() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    for name in [
        "shapes.mmpk",
        "masked.mmpk",
        "dtype_be_f8.mmpk",
        "converted.mmpk",
        "values.mmpk",
    ] {
        let (_d, p) = tmp();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/mmappickle")
            .join(name);
        std::fs::copy(src, &p).unwrap();
        let d = open(&p);
        let keys = d.keys().unwrap();
        let before: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| match d.get(k).unwrap() {
                mmpk::Value::Array(a) => a.bytes().to_vec(),
                mmpk::Value::Masked(m) => [m.data().bytes(), m.mask().bytes()].concat(),
                _ => d.value_bytes(k).unwrap(),
            })
            .collect();
        let up = d.upgrade().unwrap();
        let mut sorted = d.keys().unwrap();
        sorted.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(sorted, want, "{name}");
        for (k, b) in keys.iter().zip(&before) {
            let after = match d.get(k).unwrap() {
                mmpk::Value::Array(a) => {
                    assert_eq!(a.info().encoding, mmpk::Encoding::V2, "{name} {k}");
                    assert_eq!(a.info().data_offset % 64, 0);
                    a.bytes().to_vec()
                }
                mmpk::Value::Masked(m) => {
                    assert_eq!(m.data().info().encoding, mmpk::Encoding::V2, "{name} {k}");
                    [m.data().bytes(), m.mask().bytes()].concat()
                }
                _ => {
                    assert!(!up.contains(k));
                    d.value_bytes(k).unwrap()
                }
            };
            assert_eq!(&after, b, "{name} {k}");
        }
        assert!(d.upgrade().unwrap().is_empty());
        scan_clean(&p);
        // After a vacuum no v1 array is left anywhere in the file, deleted
        // entries included (numpy 2.3+ cannot load the v1 encoding).
        d.vacuum().unwrap();
        let bytes = scan_clean(&p);
        for e in mmpk_format::scan(&bytes).unwrap().entries {
            let v = &bytes[e.entry.value_span()];
            if let Ok(a) = mmpk_format::array::decode_array(v, 0..v.len()) {
                assert_eq!(a.encoding, mmpk::Encoding::V2, "{name}");
            }
            assert!(!mmpk_format::masked::is_masked(v) || !v.starts_with(b"\x8c\x0dnumpy.ma.core"));
        }
    }
}

#[test]
fn a_dict_notices_its_file_was_vacuumed_by_another() {
    let (_d, p) = tmp();
    let a = create(&p);
    a.insert_array("x", &arr1(&[1u8])).unwrap();
    // Something to reclaim (a compact file is left as it is).
    a.insert_array("y", &arr1(&[2u8])).unwrap();
    a.remove("y").unwrap();
    let b = open(&p);
    b.vacuum().unwrap();
    assert!(a.changed_by_others().unwrap());
    match a.keys() {
        Err(Error::Changed { what, .. }) => assert!(what.contains("replaced")),
        other => panic!("{other:?}"),
    }
    // Reopening works.
    assert_eq!(open(&p).keys().unwrap(), ["x"]);
    std::fs::remove_file(&p).unwrap();
    assert!(matches!(b.len(), Err(Error::Changed { .. })));
}

/// `upgrade` racing a writer that keeps replacing the same keys with new
/// v1 arrays (another handle on the file, as another process would be):
/// every rewrite replaces exactly the entry upgrade read, so the writer's
/// last value of each key survives, never an older copy made by upgrade.
#[test]
fn upgrade_never_overwrites_a_newer_value() {
    let (_d, p) = tmp();
    let writer = create_with(&p, OpenOptions::new().layout(Layout::Mmappickle1));
    let keys: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
    for k in &keys {
        writer.insert_array(k, &Array1::<i64>::zeros(8)).unwrap();
    }
    let upgrader = open(&p);
    const ROUNDS: i64 = 300;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let upgraded = std::thread::scope(|t| {
        let up = t.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += upgrader.upgrade().unwrap().len();
            }
            n
        });
        for round in 1..=ROUNDS {
            for k in &keys {
                writer
                    .insert_array(k, &Array1::from_elem(8, round))
                    .unwrap();
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        up.join().unwrap()
    });
    assert!(upgraded > 0);
    upgrader.upgrade().unwrap();
    for k in &keys {
        let a = upgrader.array(k).unwrap();
        assert_eq!(a.info().encoding, mmpk::Encoding::V2, "{k}");
        assert_eq!(
            a.to_owned::<i64>().unwrap(),
            Array1::from_elem(8, ROUNDS).into_dyn(),
            "{k}"
        );
    }
    scan_clean(&p);
}

/// Failure atomicity of upgrade, with seeded damaged files: six v1 arrays,
/// one byte of the fifth one's dtype string overwritten. Either every
/// entry still reads (the byte made another valid dtype, or an entry that
/// is no longer a v1 array) and upgrade rewrites what it can, or upgrade
/// fails naming the entry and the file is byte for byte as it was (before,
/// the first four were rewritten and the key order moved).
#[test]
fn upgrade_of_a_damaged_file_changes_nothing_or_everything_it_can() {
    let mut refused = 0;
    let mut rng = mmpk_test_support::rng::SplitMix64(0xd7);
    for case in 0..24 {
        let (_d, p) = tmp();
        let d = create_with(&p, OpenOptions::new().layout(Layout::Mmappickle1));
        for i in 0..6 {
            d.insert_array(&format!("k{i}"), &Array1::from_elem(5, i))
                .unwrap();
        }
        let fifth = d.entries().unwrap()[4].clone();
        drop(d);
        let mut bytes = std::fs::read(&p).unwrap();
        let value = fifth.value_offset as usize..(fifth.value_offset + fifth.value_len) as usize;
        let at = value.start
            + bytes[value.clone()]
                .windows(5)
                .position(|w| w == b"int32")
                .expect("the dtype string");
        let i = at + rng.index(5);
        let junk = [b'X', b'q', b'9', 0, b'>', b'|', 0xff, b'f'];
        bytes[i] = junk[case % junk.len()];
        std::fs::write(&p, &bytes).unwrap();
        let d = open(&p);
        match d.upgrade() {
            Err(e) => {
                refused += 1;
                assert!(!matches!(e, Error::Incomplete { .. }), "{case}: {e}");
                assert_eq!(std::fs::read(&p).unwrap(), bytes, "{case}: {e}");
            }
            Ok(keys) => {
                // Every other entry was rewritten; the fifth is whatever
                // it reads as, unchanged unless it is still a v1 array.
                for k in ["k0", "k1", "k2", "k3", "k5"] {
                    assert!(keys.iter().any(|x| x == k), "{case}: {keys:?}");
                }
            }
        }
    }
    assert!(refused > 0, "no damaged case was refused");
}

/// A failure while upgrade writes (a full disk at the third rewrite) says
/// which entries it rewrote: `Error::Incomplete`, those entries new, the
/// others as before.
#[test]
fn an_upgrade_stopped_by_a_full_disk_names_what_it_changed() {
    let (_d, p) = tmp();
    let d = create_with(&p, OpenOptions::new().layout(Layout::Mmappickle1));
    for i in 0..4 {
        d.insert_array(&format!("k{i}"), &Array1::from_elem(5, i as i64))
            .unwrap();
    }
    drop(d);
    let d = open(&p);
    // Count the writes of one rewrite, then fail the third one's first.
    mmpk::fault::clear();
    let copy = tmp();
    std::fs::copy(&p, &copy.1).unwrap();
    let probe = open(&copy.1);
    mmpk::fault::clear();
    probe.upgrade().unwrap();
    let per_key = mmpk::fault::writes() / 4;
    mmpk::fault::plan(2 * per_key, mmpk::fault::Fault::NoSpace, true);
    let e = d.upgrade().unwrap_err();
    mmpk::fault::clear();
    match &e {
        Error::Incomplete { op, done, .. } => {
            assert_eq!(*op, "upgrade");
            assert_eq!(done, &["k0", "k1"], "{e}");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("\"k0\", \"k1\""), "{e}");
    let ro = open_ro(&p);
    for i in 0..4 {
        let a = ro.array(&format!("k{i}")).unwrap();
        assert_eq!(
            a.to_owned::<i64>().unwrap(),
            Array1::from_elem(5, i as i64).into_dyn()
        );
        let v2 = a.info().encoding == mmpk::Encoding::V2;
        assert_eq!(v2, i < 2, "k{i}");
    }
}
