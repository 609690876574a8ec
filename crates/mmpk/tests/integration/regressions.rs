//! Minimised inputs that once broke a promise (`tests/regressions/`), and
//! small hand-made hostile files, each run through the hostile-file check.

use std::path::PathBuf;

use crate::hostile::{check_bytes, Tally};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// An empty dict whose one entry's frame length is `len`.
fn frame_len(len: u64) -> Vec<u8> {
    let mut b = mmpk_format::write::empty_file(0);
    let t = b.len() - 11;
    let entry = [0x8c, 1, b'k', 0x4b, 5, 0x4a, 0, 0, 0, 0, 0x30, 0x88, 0x30];
    let mut e = vec![0x95];
    e.extend_from_slice(&len.to_le_bytes());
    e.extend_from_slice(&entry);
    b.splice(t..t, e);
    b
}

#[test]
fn regression_inputs_keep_their_promises() {
    let dir = crate::shm_tempdir();
    let p = dir.path().join("r.mmpk");
    let mut t = Tally::default();
    let mut all = inputs();
    for len in [0, 1, 12, 14, 1 << 31, 1 << 63, u64::MAX] {
        all.push((format!("frame length {len}"), frame_len(len)));
    }
    for (name, bytes) in all {
        check_bytes(&p, &bytes, true, &mut t).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // The well-formed one (length 13) opens and reads.
    check_bytes(&p, &frame_len(13), true, &mut t).unwrap();
    assert!(t.opened >= 1);
}
