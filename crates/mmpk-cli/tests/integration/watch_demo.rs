//! `mmpk demo` (checked with `mmpk verify`) and `mmpk watch` against
//! concurrent writer processes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{mmpk, stderr};

#[test]
fn demo_writes_a_file_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = mmpk(&["demo", "--frames", "4", "--size", "32", "--bands", "8", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("pickle.load"), "{text}");
    assert!(
        text.contains("MiB/s") || text.contains("GiB/s") || text.contains("KiB/s"),
        "{text}"
    );
    let f = dir.path().join("timelapse.mmpk");
    let f = f.to_str().unwrap();
    let v = mmpk(&["verify", f]);
    assert!(v.status.success(), "{}", stderr(&v));
    let ls: serde_json::Value = serde_json::from_slice(&mmpk(&["ls", "--json", f]).stdout).unwrap();
    let rows = ls.as_array().unwrap();
    assert_eq!(rows.iter().filter(|r| r["kind"] == "array").count(), 5);
    assert_eq!(rows.iter().filter(|r| r["kind"] == "masked").count(), 1);
    assert!(rows
        .iter()
        .any(|r| r["key"] == "band_mean_stack" && r["shape"] == serde_json::json!([4, 32, 32])));
    // Run again (replaces its own file) with --json.
    let o = mmpk(&[
        "demo", "--json", "--frames", "2", "--size", "8", "--bands", "4", d,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["frames"], 2);
    assert_eq!(j["bands"].as_array().unwrap().len(), 4);
    // Sizes it cannot run are refused up front.
    let o = mmpk(&["demo", "--size", "100000", d]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1);
    // It never replaces a file it did not write.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("timelapse.mmpk"), b"precious").unwrap();
    let o = mmpk(&[
        "demo",
        "--frames",
        "1",
        "--size",
        "4",
        "--bands",
        "2",
        other.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read(other.path().join("timelapse.mmpk")).unwrap(),
        b"precious"
    );
}

/// Spawns `mmpk watch FILE`; lines arrive on the channel.
fn spawn_watch(f: &str) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut w = Command::new(env!("CARGO_BIN_EXE_mmpk"))
        .args(["watch", "--interval", "5", f])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = w.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (w, rx)
}

/// Collects lines until `done` says so or `limit` passes.
fn collect(
    rx: &mpsc::Receiver<String>,
    limit: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut lines = Vec::new();
    while !done(&lines) && Instant::now() < end {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    lines
}

#[test]
fn watch_follows_put_and_rm_from_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("w.mmpk").to_string_lossy().into_owned();
    assert!(mmpk(&["put", &f, "first", "--zeros", "u2", "3"])
        .status
        .success());
    let (mut w, rx) = spawn_watch(&f);
    // The watcher has listed what is there before the writer starts.
    let first = collect(&rx, Duration::from_secs(30), |l| !l.is_empty());
    assert_eq!(first, ["= first  array  <u2  (3,)"]);
    let writer = {
        let f = f.clone();
        std::thread::spawn(move || {
            for i in 0..20 {
                let o = mmpk(&["put", &f, &format!("k{i}"), "--zeros", "f4", "2,3"]);
                assert!(o.status.success(), "{}", stderr(&o));
            }
            assert!(mmpk(&["rm", &f, "k3", "k7"]).status.success());
            assert!(mmpk(&["put", &f, "k5", "--zeros", "i8", "4"])
                .status
                .success());
        })
    };
    let lines = collect(&rx, Duration::from_secs(60), |l| {
        l.iter().any(|x| x.starts_with("- k7")) && l.iter().any(|x| x.starts_with("~ k5"))
    });
    writer.join().unwrap();
    let _ = w.kill();
    let _ = w.wait();
    for i in 0..20 {
        let want = format!("+ k{i}  array  <f4  (2, 3)");
        assert!(lines.contains(&want), "{want} not in {lines:?}");
    }
    assert!(lines.contains(&"- k3".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"~ k5  array  <i8  (4,)".to_string()),
        "{lines:?}"
    );
}

#[test]
fn watch_keeps_up_with_a_fast_writer() {
    // The demo captures 400 frames at 1000 frames per second (2000 entries
    // per second with their metadata) while `watch` follows the file.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let f = dir
        .path()
        .join("timelapse.mmpk")
        .to_string_lossy()
        .into_owned();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_mmpk"))
        .args([
            "demo", "--frames", "400", "--size", "2", "--bands", "2", "--fps", "1000", &d,
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !(mmpk(&["ls", &f]).status.success()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the demo never created its file"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let (mut w, rx) = spawn_watch(&f);
    let lines = collect(&rx, Duration::from_secs(60), |l| {
        l.iter().any(|x| x.contains("band_mean_stack"))
    });
    assert!(demo.wait().unwrap().success());
    let _ = w.kill();
    let _ = w.wait();
    for t in 0..400 {
        let frame = format!("frame_{t:04}  array  <f4  (2, 2, 2)");
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with(&frame) && (l.starts_with('+') || l.starts_with('='))),
            "{frame} not in the watch output ({} lines)",
            lines.len()
        );
        let meta = format!("frame_{t:04}.meta  value");
        assert!(lines.iter().any(|l| l.ends_with(&meta)), "{meta} missing");
    }
}

#[test]
fn watch_json_lines_and_a_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("w.mmpk").to_string_lossy().into_owned();
    assert!(mmpk(&["put", &f, "a", "--zeros", "<c8", "2,2"])
        .status
        .success());
    let v = dir.path().join("v.json");
    std::fs::write(&v, r#"{"str":"hello"}"#).unwrap();
    assert!(mmpk(&["put", &f, "v", "--json", v.to_str().unwrap()])
        .status
        .success());
    let o = mmpk(&["watch", "--json", "--for", "0.2", &f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"event": "present", "key": "a", "kind": "array", "dtype": "<c8", "shape": [2, 2]}),
            serde_json::json!({"event": "present", "key": "v", "kind": "value", "dtype": null, "shape": null}),
        ]
    );
}
