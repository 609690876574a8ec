//! Several processes on one file: concurrent writers lose nothing, and a
//! writer killed with SIGKILL at random moments never damages what it had
//! reported complete. Children are this test binary, re-run on
//! `processes::child` with `MMPK_CHILD` set.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use ndarray::Array1;

use crate::{create, open, open_ro, tmp};

/// Value stored under key number `i` of writer `w`.
fn value(w: u64, i: u64) -> Array1<u64> {
    // Some entries are large, so kills often land mid-write.
    let n = if i.is_multiple_of(5) {
        40_000
    } else {
        (i % 13 + 1) as usize
    };
    Array1::from_elem(n, w * 1_000_000 + i)
}

/// The child: `MMPK_CHILD=path,writer,count` inserts `count` keys
/// `w{writer}-{i}` (replacing each odd one once), printing `done i` after
/// each insert returned. Does nothing when the variable is not set.
#[test]
fn child() {
    let Ok(spec) = std::env::var("MMPK_CHILD") else {
        return;
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let (path, w, count) = (
        parts[0],
        parts[1].parse::<u64>().unwrap(),
        parts[2].parse::<u64>().unwrap(),
    );
    let start = parts.get(3).map_or(0, |s| s.parse::<u64>().unwrap());
    let d = open(std::path::Path::new(path));
    let mut out = std::io::stdout().lock();
    for i in start..start + count {
        let key = format!("w{w}-{i}");
        if i % 2 == 1 {
            d.insert_array(&key, &Array1::from_elem(3, 0u64)).unwrap();
        }
        d.insert_array(&key, &value(w, i)).unwrap();
        writeln!(out, "done {i}").unwrap();
        out.flush().unwrap();
    }
}

fn spawn(spec: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "processes::child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("MMPK_CHILD", spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn check(d: &mmpk::Dict, w: u64, i: u64) {
    let key = format!("w{w}-{i}");
    let a = d.array(&key).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(a.view::<u64>().unwrap(), value(w, i).into_dyn(), "{key}");
}

#[test]
fn concurrent_writer_processes_lose_nothing() {
    let (_d, p) = tmp();
    drop(create(&p));
    let kids: Vec<_> = (0..4)
        .map(|w| spawn(&format!("{},{w},40", p.display())))
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout)
                .unwrap()
                .matches("done")
                .count(),
            40
        );
    }
    let d = open_ro(&p);
    assert_eq!(d.len().unwrap(), 160);
    for w in 0..4 {
        for i in 0..40 {
            check(&d, w, i);
        }
    }
    crate::scan_clean(&p);
}

#[test]
fn writers_killed_at_random_moments_leave_every_reported_entry() {
    let kills: u64 = std::env::var("MMPK_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (_d, p) = tmp();
    drop(create(&p));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64; // seeded
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut reported: Vec<u64> = Vec::new();
    let mut start = 0u64;
    for round in 0..kills {
        let mut kid = spawn(&format!("{},0,1000000,{start}", p.display()));
        let stdout = kid.stdout.take().unwrap();
        let wait = Duration::from_micros(next() % 30_000);
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("done ").and_then(|n| n.parse::<u64>().ok()))
                .collect::<Vec<u64>>()
        });
        std::thread::sleep(wait);
        kid.kill().unwrap(); // SIGKILL
        kid.wait().unwrap();
        let done = reader.join().unwrap();
        reported.extend(&done);
        start = reported.last().map_or(start, |&l| l + 1).max(start) + 1;
        // The file opens and holds everything reported so far.
        let d = open(&p);
        for &i in reported.iter().rev().take(20) {
            check(&d, 0, i);
        }
        if round % 50 == 0 {
            for &i in &reported {
                check(&d, 0, i);
            }
        }
    }
    // At the end, everything, and a repair leaves a clean file.
    let d = open(&p);
    for &i in &reported {
        check(&d, 0, i);
    }
    d.repair().unwrap();
    crate::scan_clean(&p);
    assert!(!reported.is_empty());
}
