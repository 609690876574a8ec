//! Map operations: get, contains, keys, len, iteration, remove, replace,
//! commit number, changes by others, generic values, errors.

use mmpk::pickle_ops::Value as PV;
use mmpk::{Error, Value};
use ndarray::arr1;

use crate::arrays::int_pickle;
use crate::{create, open, scan_clean, tmp};

#[test]
fn map_operations() {
    let (_d, p) = tmp();
    let d = create(&p);
    assert!(d.is_empty().unwrap());
    d.insert_array("b", &arr1(&[1i16])).unwrap();
    d.insert_array("a", &arr1(&[2i16])).unwrap();
    d.insert_array("c", &arr1(&[3i16])).unwrap();
    assert_eq!(d.len().unwrap(), 3);
    assert_eq!(d.keys().unwrap(), ["b", "a", "c"]); // file order
    assert_eq!(d.iter().unwrap().collect::<Vec<_>>(), ["b", "a", "c"]);
    assert!(d.contains("a").unwrap());
    assert!(!d.contains("z").unwrap());
    let commit = d.commit_number().unwrap();
    assert_eq!(commit, 3);
    // Replace: insert the new entry, then delete the old one.
    d.insert_array("a", &arr1(&[20i16, 21])).unwrap();
    assert_eq!(d.commit_number().unwrap(), 5);
    assert_eq!(d.keys().unwrap(), ["b", "c", "a"]);
    assert_eq!(
        d.array("a")
            .unwrap()
            .view::<i16>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [20, 21]
    );
    // Remove.
    d.remove("b").unwrap();
    assert_eq!(d.commit_number().unwrap(), 6);
    assert!(!d.contains("b").unwrap());
    match d.remove("b") {
        Err(Error::KeyNotFound { key }) => assert_eq!(key, "b"),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.len().unwrap(), 2);
    let stats = d.stats().unwrap();
    assert_eq!(stats.live, 2);
    assert!(stats.clean_tail);
    let entries = d.entries().unwrap();
    assert_eq!(
        entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["c", "a"]
    );
    // The file says the same to mmpk-format.
    let bytes = scan_clean(&p);
    let s = mmpk_format::scan(&bytes).unwrap();
    let idx = s.live_index();
    assert_eq!(idx.len(), 2);
    assert_eq!(s.entries[idx["a"]].entry.offset as u64, entries[1].offset);
    assert_eq!(s.header.commit, 6);
}

#[test]
fn keys_are_checked() {
    let (_d, p) = tmp();
    let d = create(&p);
    let long = "é".repeat(128); // 256 bytes
    match d.insert_array(&long, &arr1(&[1u8])) {
        Err(Error::KeyTooLong { len: 256 }) => {}
        other => panic!("{other:?}"),
    }
    assert!(d.reserve::<u8>(&long, &[1]).is_err());
    assert!(d.insert_pickle(&long, &int_pickle(1)).is_err());
    let ok = format!("{}€", "k".repeat(252)); // 255 bytes
    d.insert_array(&ok, &arr1(&[1u8])).unwrap();
    d.insert_array("", &arr1(&[2u8])).unwrap();
    d.insert_array("clé 漢字 🔑", &arr1(&[3u8])).unwrap();
    let d = open(&p);
    assert_eq!(d.keys().unwrap(), [ok.as_str(), "", "clé 漢字 🔑"]);
    assert!(matches!(d.array("nope"), Err(Error::KeyNotFound { .. })));
    assert!(matches!(
        d.value_bytes("nope"),
        Err(Error::KeyNotFound { .. })
    ));
}

#[test]
fn changes_by_others_are_seen() {
    let (_d, p) = tmp();
    let a = create(&p);
    let b = open(&p); // another open file description: another "process"
    a.insert_array("x", &arr1(&[1u32])).unwrap();
    assert!(b.changed_by_others().unwrap());
    assert!(b.changed_by_others().unwrap()); // does not refresh
    assert_eq!(b.keys().unwrap(), ["x"]);
    assert!(!b.changed_by_others().unwrap());
    assert!(!a.changed_by_others().unwrap()); // its own writes do not count
    b.remove("x").unwrap();
    assert!(a.changed_by_others().unwrap());
    assert!(matches!(a.array("x"), Err(Error::KeyNotFound { .. })));
    assert_eq!(a.commit_number().unwrap(), b.commit_number().unwrap());
    // Interleaved inserts from both never overwrite each other.
    for i in 0..20 {
        let w = if i % 2 == 0 { &a } else { &b };
        w.insert_array(&format!("k{i}"), &arr1(&[i as u32]))
            .unwrap();
    }
    for d in [&a, &b] {
        assert_eq!(d.len().unwrap(), 20);
        for i in 0..20 {
            assert_eq!(
                d.array(&format!("k{i}")).unwrap().view::<u32>().unwrap()[0],
                i as u32
            );
        }
    }
    scan_clean(&p);
}

#[test]
fn generic_values() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_pickle("n", &int_pickle(-12345)).unwrap();
    let mut list = mmpk::Pickle::new();
    let s = list.push(PV::str("shared"));
    let l = list.push(PV::List(vec![s, s]));
    list.set_root(l);
    d.insert_pickle("l", &list).unwrap();
    d.insert_array("arr", &arr1(&[1u8, 2])).unwrap();
    let back = d.get_pickle("n").unwrap();
    assert!(matches!(&*back.value(back.root()), PV::Int(_)));
    match d.get("l").unwrap() {
        Value::Pickle(pk) => {
            let PV::List(items) = &*pk.value(pk.root()) else {
                panic!()
            };
            assert_eq!(items.len(), 2);
            assert_eq!(items[0], items[1]); // identity kept through the memo
        }
        other => panic!("{other:?}"),
    }
    match d.get("arr").unwrap() {
        Value::Array(a) => assert_eq!(
            a.view::<u8>().unwrap().iter().copied().collect::<Vec<_>>(),
            [1, 2]
        ),
        other => panic!("{other:?}"),
    }
    // The memo of the second value starts at the file's memo max.
    let bytes = scan_clean(&p);
    let s = mmpk_format::scan(&bytes).unwrap();
    assert!(s.entries[1].entry.memo_max >= 2);
    assert_eq!(
        d.value_bytes("n").unwrap(),
        &bytes[s.entries[0].entry.value_span()]
    );
    // Replacing an array by a value and back.
    d.insert_pickle("arr", &int_pickle(3)).unwrap();
    assert!(matches!(d.get("arr").unwrap(), Value::Pickle(_)));
    d.insert_array("arr", &arr1(&[9u8])).unwrap();
    assert!(matches!(d.get("arr").unwrap(), Value::Array(_)));
    assert_eq!(d.len().unwrap(), 3);
}

#[test]
fn the_whole_file_is_readable_as_bytes_for_tools() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.mmpk");
    // SAFETY: a private temporary file.
    let d = unsafe { mmpk::Dict::create(&path).unwrap() };
    d.insert_array("a", &ndarray::array![1u8, 2, 3]).unwrap();
    let (len, keys) = d
        .with_file_bytes(|b| {
            let s = mmpk_format::scan(b).unwrap();
            (b.len(), s.live_index().len())
        })
        .unwrap();
    assert_eq!(len as u64, std::fs::metadata(&path).unwrap().len());
    assert_eq!(keys, 1);
}
