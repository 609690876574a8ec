//! Opening: create, read-write, read-only, options, unrecognised files.

use mmpk::{Dict, Error, Layout, OpenOptions};

use crate::{create, create_with, open, open_ro, tmp};

#[test]
fn create_then_open_both_ways() {
    let (_d, p) = tmp();
    let d = create(&p);
    assert!(d.is_empty().unwrap());
    assert_eq!(d.commit_number().unwrap(), 0);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        mmpk_format::write::empty_file(0)
    );
    d.insert_array("a", &ndarray::arr1(&[1u8, 2, 3])).unwrap();
    drop(d);
    let rw = open(&p);
    assert_eq!(rw.keys().unwrap(), ["a"]);
    assert!(!rw.is_read_only());
    let ro = open_ro(&p);
    assert!(ro.is_read_only());
    assert_eq!(
        ro.array("a")
            .unwrap()
            .view::<u8>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn create_new_refuses_an_existing_file_and_create_opens_it() {
    let (_d, p) = tmp();
    create(&p)
        .insert_array("x", &ndarray::arr1(&[1i32]))
        .unwrap();
    // SAFETY: private test file.
    let e = unsafe { Dict::create(&p) }.unwrap_err();
    assert!(matches!(e, Error::Io { op: "open", .. }), "{e}");
    // SAFETY: private test file.
    let d = unsafe { OpenOptions::new().create(true).open(&p) }.unwrap();
    assert_eq!(d.keys().unwrap(), ["x"]);
    // create(true) on a missing file, and on an empty one.
    let (_d2, q) = tmp();
    // SAFETY: private test file.
    let d = unsafe { OpenOptions::new().create(true).open(&q) }.unwrap();
    assert!(d.is_empty().unwrap());
    let (_d3, r) = tmp();
    std::fs::write(&r, b"").unwrap();
    // SAFETY: private test file.
    let d = unsafe { OpenOptions::new().create(true).open(&r) }.unwrap();
    assert_eq!(d.len().unwrap(), 0);
}

#[test]
fn missing_files_are_io_errors() {
    let (_d, p) = tmp();
    // SAFETY: private test path.
    let e = unsafe { Dict::open(&p) }.unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    // SAFETY: private test path.
    assert!(unsafe { Dict::open_read_only(&p) }.is_err());
    assert!(!p.exists());
}

#[test]
fn create_finishes_a_creation_that_was_cut_inside_the_header() {
    let (_d, p) = tmp();
    for commit in [0, 1, 7, -1] {
        let full = mmpk_format::write::empty_file(commit);
        for len in 1..24 {
            let stub = &full[..len];
            std::fs::write(&p, stub).unwrap();
            // Opening without create refuses it and leaves it alone.
            for ro in [false, true] {
                // SAFETY: private test file.
                let e = unsafe { OpenOptions::new().read_only(ro).open(&p) }.unwrap_err();
                assert!(matches!(e, Error::NotMmpk { .. }), "{len}: {e:?}");
                assert_eq!(std::fs::read(&p).unwrap(), stub);
            }
            // Creating finishes it: an empty dict that takes entries.
            // SAFETY: private test file.
            let d = unsafe { OpenOptions::new().create(true).open(&p) }.unwrap();
            assert!(d.is_empty().unwrap(), "{len}");
            assert_eq!(
                std::fs::read(&p).unwrap(),
                mmpk_format::write::empty_file(0)
            );
            d.insert_array("a", &ndarray::arr1(&[len as u8])).unwrap();
            assert_eq!(open_ro(&p).keys().unwrap(), ["a"]);
        }
    }
}

/// Found by the crash-state checker (`power.rs`): a power cut can leave a
/// new file's size on the disk without its bytes, which read as zeros; such
/// a file (at most an empty dict's 35 bytes, all zero) never held an entry,
/// and `create` finishes it. A longer file of zeros is still refused.
#[test]
fn create_finishes_a_creation_whose_bytes_never_reached_the_disk() {
    let (_d, p) = tmp();
    for len in [1, 23, 24, 35] {
        std::fs::write(&p, vec![0u8; len]).unwrap();
        // SAFETY: private test file.
        let e = unsafe { OpenOptions::new().open(&p) }.unwrap_err();
        assert!(matches!(e, Error::NotMmpk { .. }), "{len}: {e:?}");
        // SAFETY: private test file.
        let d = unsafe { OpenOptions::new().create(true).open(&p) }.unwrap();
        assert!(d.is_empty().unwrap(), "{len}");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            mmpk_format::write::empty_file(0)
        );
    }
    std::fs::write(&p, vec![0u8; 36]).unwrap();
    // SAFETY: private test file.
    let e = unsafe { OpenOptions::new().create(true).open(&p) }.unwrap_err();
    assert!(matches!(e, Error::NotMmpk { .. }), "{e:?}");
    assert_eq!(std::fs::read(&p).unwrap(), vec![0u8; 36]);
}

#[test]
fn unrecognised_files_are_refused_and_unchanged() {
    let (_d, p) = tmp();
    let cases: Vec<(Vec<u8>, bool)> = vec![
        (b"hello world, not a pickle at all".to_vec(), false),
        (b"\x80\x04}\x94.".to_vec(), true), // pickle.dumps({}, 4)
        (Vec::new(), false),                // empty, without create
        // Almost a creation stub: one byte differs (a pickle's opening
        // bytes, so the error hints at conversion).
        (
            {
                let mut h = mmpk_format::write::empty_file(0)[..20].to_vec();
                h[3] = 0x0e;
                h
            },
            true,
        ),
        (
            {
                let mut h = mmpk_format::write::empty_file(0);
                h[12] = 2; // format version 2
                h
            },
            false,
        ),
    ];
    for (bytes, plain) in cases {
        std::fs::write(&p, &bytes).unwrap();
        for ro in [false, true] {
            // SAFETY: private test file.
            let e = unsafe { OpenOptions::new().read_only(ro).open(&p) }.unwrap_err();
            match &e {
                Error::NotMmpk { plain_pickle, .. } => assert_eq!(*plain_pickle, plain),
                other => panic!("{other:?}"),
            }
            assert!(std::error::Error::source(&e).is_some());
            assert!(e.to_string().contains("unchanged"));
        }
        // A create option must not write to a non-empty unrecognised file.
        // SAFETY: private test file.
        let r = unsafe { OpenOptions::new().create(true).open(&p) };
        assert_eq!(r.is_err(), !bytes.is_empty());
        if !bytes.is_empty() {
            assert_eq!(std::fs::read(&p).unwrap(), bytes);
        }
    }
}

#[test]
fn alignment_option_is_checked() {
    let (_d, p) = tmp();
    for a in [0u64, 1, 4, 24, 8192] {
        // SAFETY: private test file.
        let e = unsafe { OpenOptions::new().create(true).align(a).open(&p) }.unwrap_err();
        assert!(matches!(e, Error::BadOption { .. }), "{a}");
    }
    assert!(!p.exists());
    for a in [8u64, 16, 4096] {
        let (_d, q) = tmp();
        let d = create_with(&q, OpenOptions::new().align(a));
        d.insert_array("k", &ndarray::arr1(&[1.0f64, 2.0])).unwrap();
        assert_eq!(d.array("k").unwrap().info().data_offset % a, 0);
    }
}

#[test]
fn durable_and_layout_options() {
    let (_d, p) = tmp();
    let d = create_with(
        &p,
        OpenOptions::new().durable(true).layout(Layout::Mmappickle1),
    );
    assert_eq!(d.layout(), Layout::Mmappickle1);
    d.insert_array("a", &ndarray::arr1(&[1.5f64])).unwrap();
    d.remove("a").unwrap();
    assert_eq!(d.commit_number().unwrap(), 2);
}

#[test]
fn read_only_refuses_every_write() {
    let (_d, p) = tmp();
    create(&p)
        .insert_array("a", &ndarray::arr1(&[1u16]))
        .unwrap();
    let before = std::fs::read(&p).unwrap();
    let ro = open_ro(&p);
    let a = ndarray::arr1(&[2u16]);
    let errs = [
        ro.insert_array("b", &a).unwrap_err(),
        ro.insert_bytes("b", "<u2", &[1], &[0, 0]).unwrap_err(),
        ro.reserve::<u8>("b", &[4]).unwrap_err(),
        ro.remove("a").unwrap_err(),
        ro.array_mut("a").unwrap_err(),
        ro.repair().unwrap_err(),
        ro.insert_pickle("b", &mmpk::Pickle::new()).unwrap_err(),
    ];
    for e in errs {
        assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
    }
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

/// A file with more than a thousand entries and 64 MiB or more after them
/// (here a sparse reservation, then more entries) is scanned with the
/// second, prefaulting thread: every key is found, in order.
#[test]
fn a_large_file_of_many_entries_opens_whole() {
    let (_d, p) = tmp();
    let d = create(&p);
    let mut want = Vec::new();
    for i in 0..1100 {
        d.insert_array(&format!("a{i}"), &ndarray::arr1(&[i as u32]))
            .unwrap();
        want.push(format!("a{i}"));
    }
    d.reserve::<u8>("big", &[80 << 20]).unwrap();
    want.push("big".into());
    for i in 0..50 {
        d.insert_array(&format!("z{i}"), &ndarray::arr1(&[i as u64]))
            .unwrap();
        want.push(format!("z{i}"));
    }
    drop(d);
    let d = open_ro(&p);
    assert_eq!(d.keys().unwrap(), want);
    assert_eq!(d.array("a1099").unwrap().view::<u32>().unwrap()[[0]], 1099);
    assert_eq!(d.array("z49").unwrap().view::<u64>().unwrap()[[0]], 49);
    assert_eq!(d.array("big").unwrap().shape(), [80 << 20]);
}
