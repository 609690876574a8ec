//! Exit code 4 (partial completion) on a disk that fills up part-way: the
//! `fault-injection` feature makes mmpk's Nth write and every later one
//! fail with ENOSPC (`MMPK_FAIL_WRITE=N`). Each test tries every N until
//! the command has done some of its work and not all, and checks that what
//! it did stays done and that the message names what is left.
//!
//! Run with `cargo test -p mmpk-cli --features fault-injection --test
//! integration full_disk` (CI does).

use std::path::Path;
use std::process::{Command, Output};

use crate::{mmpk, stderr};

fn mmpk_failing_at(n: u64, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmpk"))
        .env("MMPK_FAIL_WRITE", n.to_string())
        .args(args)
        .output()
        .expect("run mmpk")
}

fn keys(f: &str) -> Vec<String> {
    let o = mmpk(&["ls", "--json", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

fn put_zeros(f: &str, key: &str, layout: &str) {
    let o = mmpk(&["put", f, key, "--zeros", "<f8", "16", "--layout", layout]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Runs `args` (which act on the file at `f`, a copy of `base` each time)
/// with the Nth write failing, N = 0, 1, ...; returns the first run that
/// exits 4, with its N. Every other run must exit 0 (N past the command's
/// writes) or 3 (an I/O failure before any work was done).
fn first_partial(base: &Path, f: &str, args: &[&str]) -> (u64, Output) {
    for n in 0..200 {
        std::fs::copy(base, f).unwrap();
        let o = mmpk_failing_at(n, args);
        match o.status.code() {
            Some(4) => return (n, o),
            Some(3) => continue,
            Some(0) => panic!("no failing write made {args:?} partial (ran whole at N = {n})"),
            c => panic!(
                "{args:?} with write {n} failing: exit {c:?}: {}",
                stderr(&o)
            ),
        }
    }
    panic!("{args:?}: no partial completion in 200 writes");
}

#[test]
fn rm_that_fails_part_way_exits_4_and_names_the_keys_left() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.mmpk");
    let b = base.to_str().unwrap();
    for k in ["a", "b", "c"] {
        put_zeros(b, k, "v2");
    }
    let f = dir.path().join("f.mmpk");
    let fs = f.to_str().unwrap();
    let (_, o) = first_partial(&base, fs, &["rm", fs, "a", "b"]);
    let msg = stderr(&o);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains(r#"removed ["a"], not ["b"]"#), "{msg}");
    // What was removed stays removed; the rest is intact and readable.
    assert_eq!(keys(fs), ["b", "c"]);
    let v = mmpk(&["verify", fs]);
    assert!(v.status.success(), "{}", stderr(&v));
}

#[test]
fn upgrade_whose_vacuum_fails_exits_4_with_its_entries_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.mmpk");
    let b = base.to_str().unwrap();
    put_zeros(b, "old", "mmappickle1");
    put_zeros(b, "new", "v2");
    let f = dir.path().join("f.mmpk");
    let fs = f.to_str().unwrap();
    let (_, o) = first_partial(&base, fs, &["upgrade", fs]);
    let msg = stderr(&o);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("rewritten as v2"), "{msg}");
    // Both keys are there and every array is v2 now; a later vacuum
    // finishes the job.
    let o = mmpk(&["ls", "--json", fs]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let live: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["live"] == true)
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|r| r["encoding"] == "v2"), "{rows}");
    let v = mmpk(&["vacuum", fs]);
    assert!(v.status.success(), "{}", stderr(&v));
    assert_eq!(keys(fs).len(), 2);
}
