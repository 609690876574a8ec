//! Dicts opened from an open file (`OpenOptions::open_file`): unlinked
//! temporary files, vacuum and conversion in place (checked byte for byte
//! against the rename-based vacuum and conversion of the same content), a
//! vacuum killed at each of its writes, and the commit number setter.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use mmpk::fault::{self, Fault};
use mmpk::{Dict, Error, Layout, OpenOptions, Value};
use ndarray::{arr1, Array2};

use crate::tmp;

/// A read-write handle on `p`.
fn handle(p: &Path) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap()
}

fn open_file(f: File, opts: &mut OpenOptions) -> mmpk::Result<Dict> {
    // SAFETY: the test's own private file.
    unsafe { opts.open_file(f, "<test file>") }
}

fn read_all(f: &File) -> Vec<u8> {
    let mut v = vec![0u8; f.metadata().unwrap().len() as usize];
    f.read_exact_at(&mut v, 0).unwrap();
    v
}

/// Every key's content, comparably (arrays by dtype, shape and bytes).
fn snapshot(d: &Dict) -> BTreeMap<String, String> {
    let arr = |a: &mmpk::Array| format!("{} {:?} {:?}", a.dtype().str(), a.shape(), a.bytes());
    d.keys()
        .unwrap()
        .into_iter()
        .map(|k| {
            let s = match d.get(&k).unwrap() {
                Value::Array(a) => arr(&a),
                Value::Masked(m) => format!("masked {} / {}", arr(m.data()), arr(m.mask())),
                _ => format!("{:?}", d.value_bytes(&k).unwrap()),
            };
            (k, s)
        })
        .collect()
}

/// Fills `d` with arrays of several sizes and alignments, a masked array,
/// a reserved array and values, then removes and replaces some, so that a
/// vacuum moves entries by different distances (some by less than their
/// own length).
fn fill(d: &Dict) {
    d.insert_array("small", &arr1(&[1u8, 2, 3])).unwrap();
    d.insert_pickle("v1", &crate::hostile::shared_list())
        .unwrap();
    let big = Array2::from_shape_fn((700, 800), |(i, j)| (i * 800 + j) as u32);
    d.insert_array("big", &big).unwrap(); // 2.2 MB: chunked moves
    d.insert_array("gone1", &arr1(&[9u16; 3000])).unwrap();
    d.insert_masked(
        "m",
        &arr1(&[1.0f32, 2.0, 3.0]),
        Some(&arr1(&[true, false, true])),
    )
    .unwrap();
    d.insert_array("gone2", &arr1(&[7i64; 10])).unwrap();
    d.reserve::<f64>("reserved", &[64, 64]).unwrap();
    d.insert_bytes("be", ">i4", &[2], &[0, 0, 0, 1, 0, 0, 0, 2])
        .unwrap();
    d.insert_array("small", &arr1(&[4u8, 5])).unwrap(); // replaces: the old one is dead
    d.remove("gone1").unwrap();
    d.remove("gone2").unwrap();
}

/// Arrays one after another, nothing removed: vacuumed in the v2 layout,
/// a file written in mmappickle 1.0's layout grows, every entry moving
/// towards the end by more than the one before (fillers are added), some
/// over their successor's bytes.
fn fill_consecutive(d: &Dict) {
    d.insert_array("a", &arr1(&[1u8, 2, 3])).unwrap();
    d.insert_array("b", &arr1(&[3.5f64; 5])).unwrap();
    d.insert_array("c", &arr1(&[7u16; 9])).unwrap();
    let big = Array2::from_shape_fn((600, 700), |(i, j)| (i * 700 + j) as u32);
    d.insert_array("d", &big).unwrap();
    d.insert_array("e", &arr1(&[1i32; 3])).unwrap();
}

/// Two identical files at `a` and `b`, written with `layout` by `fill`.
fn twin_files(a: &Path, b: &Path, layout: Layout, fill: fn(&Dict)) {
    let d = crate::create_with(a, OpenOptions::new().layout(layout));
    fill(&d);
    drop(d);
    std::fs::copy(a, b).unwrap();
}

#[test]
fn an_unlinked_file_works_as_a_dict() {
    let f = tempfile::tempfile().unwrap();
    let again = f.try_clone().unwrap();
    let d = open_file(f, OpenOptions::new().create(true)).unwrap();
    assert!(d.is_opened_from_file());
    assert_eq!(d.path(), Path::new("<test file>"));
    fill(&d);
    let want = snapshot(&d);
    drop(d);
    let d = open_file(again, &mut OpenOptions::new()).unwrap();
    assert_eq!(snapshot(&d), want);
    assert_eq!(
        d.keys().unwrap(),
        ["v1", "big", "m", "reserved", "be", "small"]
    );
}

#[test]
fn open_file_refuses_create_new_and_non_mmpk_files() {
    let f = tempfile::tempfile().unwrap();
    let r = open_file(f.try_clone().unwrap(), OpenOptions::new().create_new(true));
    assert!(matches!(r, Err(Error::BadOption { .. })), "{r:?}");
    // Empty, without create: not an mmpk file, and left empty.
    let r = open_file(f.try_clone().unwrap(), &mut OpenOptions::new());
    assert!(matches!(r, Err(Error::NotMmpk { .. })), "{r:?}");
    f.write_all_at(b"not a pickle", 0).unwrap();
    let r = open_file(f.try_clone().unwrap(), OpenOptions::new().create(true));
    assert!(matches!(r, Err(Error::NotMmpk { .. })), "{r:?}");
    assert_eq!(read_all(&f), b"not a pickle");
}

/// In-place vacuum gives the same bytes as the rename-based one, on the
/// caller's own handle (same inode), for both layouts, and for a v1 file
/// vacuumed in the v2 layout (entries move towards the end: fillers are
/// added).
#[test]
fn vacuum_in_place_equals_vacuum_by_rename() {
    for (written, vacuumed, fill) in [
        (Layout::V2, Layout::V2, fill as fn(&Dict)),
        (Layout::Mmappickle1, Layout::Mmappickle1, fill),
        (Layout::Mmappickle1, Layout::V2, fill),
        (Layout::Mmappickle1, Layout::V2, fill_consecutive),
    ] {
        let (_d, a) = tmp();
        let b = a.with_file_name("b.mmpk");
        twin_files(&a, &b, written, fill);
        let by_path = crate::open_with_layout(&a, vacuumed);
        let before = snapshot(&by_path);
        by_path.vacuum().unwrap();
        drop(by_path);

        let f = handle(&b);
        let ino = f.metadata().unwrap().ino();
        let old_len = f.metadata().unwrap().len();
        let d = open_file(f.try_clone().unwrap(), OpenOptions::new().layout(vacuumed)).unwrap();
        let commit = d.commit_number().unwrap();
        let r = d.vacuum().unwrap();
        assert_eq!(r.before, old_len);
        assert_eq!(
            r.after,
            f.metadata().unwrap().len(),
            "the caller's handle sees the cut"
        );
        assert_eq!(f.metadata().unwrap().ino(), ino);
        assert_eq!(d.commit_number().unwrap(), commit.wrapping_add(1));
        assert_eq!(snapshot(&d), before, "{written:?} -> {vacuumed:?}");
        let got = read_all(&f);
        assert_eq!(
            got,
            std::fs::read(&a).unwrap(),
            "{written:?} -> {vacuumed:?}"
        );
        let scan = mmpk_format::scan(&got).unwrap();
        assert!(scan.is_clean());
        if vacuumed == Layout::V2 {
            // Every array's data is aligned in the vacuumed file.
            for k in d.keys().unwrap() {
                if let Ok(a) = d.array(&k) {
                    assert_eq!(a.info().data_offset % 64, 0, "{k}");
                }
            }
        }
        if written == Layout::V2 || vacuumed == Layout::Mmappickle1 {
            assert!(r.after < old_len);
        }
        // The dict keeps working after the vacuum.
        d.insert_array("after", &arr1(&[1i16])).unwrap();
        assert_eq!(d.array("after").unwrap().view::<i16>().unwrap()[0], 1);
    }
}

#[test]
fn vacuum_in_place_is_refused_while_views_live() {
    let f = tempfile::tempfile().unwrap();
    let d = open_file(f, OpenOptions::new().create(true)).unwrap();
    fill(&d);
    let a = d.array("big").unwrap();
    assert!(matches!(d.vacuum(), Err(Error::ViewsAlive { .. })));
    drop(a);
    d.vacuum().unwrap();
}

/// A compact file is left as it is, commit number included (by path and
/// in place); a dead entry is reclaimed even where a filler of its size
/// would take its place.
#[test]
fn a_compact_file_is_not_rewritten() {
    let (_d, p) = tmp();
    let d = crate::create(&p);
    d.insert_pickle("a", &crate::arrays::int_pickle(1)).unwrap();
    d.insert_array("b", &arr1(&[1.0f64; 10])).unwrap();
    d.set_commit_number(143).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let r = d.vacuum().unwrap();
    assert_eq!((r.before, r.after, r.dropped), (r.before, r.before, 0));
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
    assert_eq!(d.commit_number().unwrap(), 143);
    drop(d);

    let d = open_file(handle(&p), &mut OpenOptions::new()).unwrap();
    d.vacuum().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
    d.remove("a").unwrap();
    d.set_commit_number(0).unwrap();
    d.vacuum().unwrap();
    assert_ne!(d.commit_number().unwrap(), 0);
    assert_eq!(d.keys().unwrap(), ["b"]);
}

#[test]
fn the_commit_number_can_be_set() {
    let (_d, p) = tmp();
    let d = crate::create(&p);
    assert_eq!(d.commit_number().unwrap(), 0);
    for n in [32, 465468, -5, i32::MAX] {
        d.set_commit_number(n).unwrap();
        assert_eq!(d.commit_number().unwrap(), n);
        assert_eq!(crate::open_ro(&p).commit_number().unwrap(), n);
    }
    d.insert_array("a", &arr1(&[1u8])).unwrap();
    assert_eq!(d.commit_number().unwrap(), i32::MIN, "bumps wrap");
    // The header stays an mmpk header that plain pickle readers accept.
    assert!(mmpk_format::scan(&std::fs::read(&p).unwrap())
        .unwrap()
        .is_clean());
    let ro = crate::open_ro(&p);
    assert!(matches!(
        ro.set_commit_number(1),
        Err(Error::ReadOnly { .. })
    ));
}

/// A plain pickled dict in an unlinked file converts in place, to the same
/// bytes as the rename-based conversion; an mmpk file is just opened, and
/// anything else is refused unchanged.
#[test]
fn convert_in_place_equals_convert_by_rename() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let plain = crate::convert::plain_dict();
    let (_d, p) = tmp();
    std::fs::write(&p, &plain).unwrap();
    // SAFETY: private test file.
    let by_path = unsafe { OpenOptions::new().convert(&p) }.unwrap();
    let want = snapshot(&by_path);
    drop(by_path);

    let f = tempfile::tempfile().unwrap();
    f.write_all_at(&plain, 0).unwrap();
    let keep = f.try_clone().unwrap();
    // SAFETY: private test file.
    let d = unsafe { OpenOptions::new().convert_file(f, "<tmp>") }.unwrap();
    assert!(d.is_opened_from_file());
    assert_eq!(snapshot(&d), want);
    assert_eq!(read_all(&keep), std::fs::read(&p).unwrap());
    d.insert_array("more", &arr1(&[3u8])).unwrap();
    drop(d);
    // Converting an mmpk file opens it.
    // SAFETY: as above.
    let d = unsafe { OpenOptions::new().convert_file(keep.try_clone().unwrap(), "<tmp>") }.unwrap();
    assert_eq!(d.keys().unwrap(), ["arr", "be", "masked", "n", "more"]);
    drop(d);

    for bad in [&b"\x80\x04X\x03\x00\x00\x00abc\x94."[..], b"junk", b""] {
        let f = tempfile::tempfile().unwrap();
        f.write_all_at(bad, 0).unwrap();
        // SAFETY: as above.
        let r = unsafe { OpenOptions::new().convert_file(f.try_clone().unwrap(), "<tmp>") };
        assert!(matches!(r, Err(Error::Unsupported { .. })), "{r:?}");
        assert_eq!(read_all(&f), bad);
    }
    let f = tempfile::tempfile().unwrap();
    f.write_all_at(&plain, 0).unwrap();
    // SAFETY: as above.
    let r = unsafe {
        OpenOptions::new()
            .read_only(true)
            .convert_file(f.try_clone().unwrap(), "<tmp>")
    };
    assert!(matches!(r, Err(Error::ReadOnly { .. })), "{r:?}");
    assert_eq!(read_all(&f), plain);
}

/// The documented crash model of an in-place vacuum: the process is
/// "killed" at each of the vacuum's writes in turn (that write and every
/// later one fail, as when a process dies between two system calls). The
/// file then opens (repair first, when the scan finds a damaged tail), and
/// every key it holds has its value of before the vacuum: keys may be
/// lost, none holds a wrong value.
#[test]
fn a_vacuum_killed_at_each_write_loses_keys_but_never_changes_values() {
    for (written, vacuumed, fill) in [
        (Layout::V2, Layout::V2, fill as fn(&Dict)),
        (Layout::Mmappickle1, Layout::V2, fill),
        (Layout::Mmappickle1, Layout::V2, fill_consecutive),
    ] {
        let (_d, p) = tmp();
        let d = crate::create_with(&p, OpenOptions::new().layout(written));
        fill(&d);
        let want = snapshot(&d);
        drop(d);
        let pristine = std::fs::read(&p).unwrap();
        let mut lost_some = false;
        for nth in 0.. {
            std::fs::write(&p, &pristine).unwrap();
            let d = open_file(handle(&p), OpenOptions::new().layout(vacuumed)).unwrap();
            fault::plan(nth, Fault::NoSpace, true);
            let r = d.vacuum();
            fault::clear();
            drop(d);
            if r.is_ok() {
                assert!(nth > 3, "the vacuum made writes");
                break;
            }
            assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
            let d = open_file(handle(&p), OpenOptions::new().layout(vacuumed))
                .expect("the header is written last: the file stays an mmpk file");
            if d.stats().unwrap().clean_tail {
                // A scan that ends cleanly can still hold a moved entry
                // twice (the same bytes): the later one wins.
            } else {
                d.repair().unwrap();
            }
            let got = snapshot(&d);
            for (k, v) in &got {
                assert_eq!(Some(v), want.get(k), "killed at write {nth}: {k}");
            }
            lost_some |= got.len() < want.len();
            // The repaired file takes writes again.
            d.insert_array("after", &arr1(&[1u8])).unwrap();
        }
        assert!(
            lost_some,
            "the model says keys can be lost: some kill shows it"
        );
    }
}
