//! Crash states: every prefix of an insert's writes leaves a file that opens
//! with every earlier entry, and the next insert or a repair cleans it.

use mmpk::{Error, RepairReport};
use mmpk_format::scan::Tail;
use ndarray::arr1;

use crate::{create, open, open_ro, scan_clean, tmp};

/// The file after `a`, and after `a` then `b` were inserted.
fn before_after() -> (Vec<u8>, Vec<u8>) {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("a", &arr1(&[1u32, 2])).unwrap();
    let before = std::fs::read(&p).unwrap();
    d.insert_array("b", &arr1(&[3u64; 9])).unwrap();
    (before, std::fs::read(&p).unwrap())
}

#[test]
fn every_intermediate_state_opens_with_earlier_entries() {
    let (before, after) = before_after();
    let t = before.len() - 11; // old terminator
                               // The writer's order: tail (with new terminator), data, body, commit,
                               // frame head. Simulate a kill after each step.
    let mut states = Vec::new();
    let mut f = before.clone();
    f.resize(after.len(), 0);
    let tail_start = after.len() - 11 - 20;
    f[tail_start..].copy_from_slice(&after[tail_start..]);
    states.push(f.clone());
    f[t + 9..tail_start].copy_from_slice(&after[t + 9..tail_start]);
    states.push(f.clone());
    f[18..22].copy_from_slice(&after[18..22]);
    states.push(f.clone());
    f[t..t + 9].copy_from_slice(&after[t..t + 9]);
    assert_eq!(f, after);
    // Also a plain truncation anywhere in the new bytes.
    let torn = states.len();
    for cut in [t + 3, t + 15] {
        states.push(after[..cut].to_vec());
    }
    for (i, s) in states.iter().enumerate() {
        let (_d, p) = tmp();
        std::fs::write(&p, s).unwrap();
        let ro = open_ro(&p);
        assert_eq!(ro.keys().unwrap(), ["a"], "state {i}");
        assert_eq!(
            ro.array("a")
                .unwrap()
                .view::<u32>()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(!ro.stats().unwrap().clean_tail);
        // The next insert writes over the torn tail.
        let d = open(&p);
        d.insert_array("c", &arr1(&[5i8])).unwrap();
        assert_eq!(d.keys().unwrap(), ["a", "c"], "state {i}");
        scan_clean(&p);
        // Or a repair cuts it.
        std::fs::write(&p, s).unwrap();
        let d = open(&p);
        let r: RepairReport = d.repair().unwrap();
        assert!(r.changed);
        assert_ne!(r.tail, Tail::Clean);
        let bytes = scan_clean(&p);
        if i < torn {
            assert_eq!(r.intact_end as usize, t);
            assert_eq!(bytes, before_with_commit(&before, &bytes));
        }
        assert_eq!(d.keys().unwrap(), ["a"]);
        assert!(!d.repair().unwrap().changed);
    }
}

/// `before` with the commit number of `now` (a repair bumps it).
fn before_with_commit(before: &[u8], now: &[u8]) -> Vec<u8> {
    let mut b = before.to_vec();
    b[18..22].copy_from_slice(&now[18..22]);
    b
}

#[test]
fn a_corrupt_frame_blocks_writes_until_repair() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("a", &arr1(&[1u8])).unwrap();
    d.insert_array("b", &arr1(&[2u8])).unwrap();
    let off = d.entries().unwrap()[1].offset as usize;
    drop(d);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[off + 9] = 0x00; // the key opcode of "b"
    std::fs::write(&p, &bytes).unwrap();
    let d = open(&p);
    assert_eq!(d.keys().unwrap(), ["a"]);
    match d.insert_array("c", &arr1(&[3u8])) {
        Err(e @ Error::Corrupt { .. }) => assert!(std::error::Error::source(&e).is_some()),
        other => panic!("{other:?}"),
    }
    let r = d.repair().unwrap();
    assert!(matches!(r.tail, Tail::Corrupt(_)));
    assert!(r.dropped > 0);
    d.insert_array("c", &arr1(&[3u8])).unwrap();
    assert_eq!(d.keys().unwrap(), ["a", "c"]);
    scan_clean(&p);
}

#[test]
fn a_file_rewritten_behind_our_back_is_rescanned_or_reported() {
    let (_d, p) = tmp();
    let d = create(&p);
    for i in 0..5 {
        d.insert_array(&format!("k{i}"), &arr1(&[i as u16]))
            .unwrap();
    }
    // Someone replaces the file's content with a shorter dict.
    let (_d2, q) = tmp();
    let other = create(&q);
    other.insert_array("z", &arr1(&[9u16])).unwrap();
    drop(other);
    std::fs::write(&p, std::fs::read(&q).unwrap()).unwrap();
    assert!(d.changed_by_others().unwrap());
    assert_eq!(d.keys().unwrap(), ["z"]);
    // Or with something that is not mmpk at all.
    std::fs::write(&p, b"garbage that is long enough to have a header").unwrap();
    assert!(matches!(d.keys(), Err(Error::Changed { offset: 0, .. })));
    std::fs::write(&p, b"short").unwrap();
    assert!(matches!(d.len(), Err(Error::Changed { .. })));
}

#[test]
fn a_reservation_over_a_torn_tail_reads_zeros() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("a", &arr1(&[1u8])).unwrap();
    drop(d);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend(std::iter::repeat_n(0xAB, 5000)); // garbage after the terminator
    std::fs::write(&p, &bytes).unwrap();
    let d = open(&p);
    d.reserve::<u8>("r", &[4000]).unwrap();
    assert!(d
        .array("r")
        .unwrap()
        .view::<u8>()
        .unwrap()
        .iter()
        .all(|&b| b == 0));
    assert_eq!(d.keys().unwrap(), ["a", "r"]);
    scan_clean(&p);
}
