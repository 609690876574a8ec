//! The crash-state checker's record against the kernel's view: every
//! command that writes a dict or an output file runs once under `strace`, with the tool
//! (built with the `crash-record` feature) recording its file changes
//! (`MMPK_RECORD`); the writes, kernel copies, length changes,
//! preallocations, syncs, renames and creating opens of the record and of
//! strace must be the same,
//! in the same order. A file change the recorder does not see (one made
//! around mmpk's I/O seam, by the library or the tool itself) fails it.
//!
//! Run by `cargo xtask crash-states` (which installs strace if missing):
//! `cargo test -p mmpk-cli --features crash-record --test integration strace`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mmpk::record::{parse_text, Event};

/// A command to check: its setup commands (run plainly) and the command.
struct Case {
    name: &'static str,
    setup: Vec<Vec<String>>,
    run: Vec<String>,
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A `.npy` file of `n` little-endian f8 values.
fn npy(path: &Path, n: usize, shape: &str) {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for i in 0..n {
        b.extend_from_slice(&(i as f64 + 0.25).to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

fn cases(durable: bool) -> Vec<Case> {
    let d = |mut v: Vec<String>| {
        if durable {
            v.insert(1, "--durable".into());
        }
        v
    };
    let put_json = |k: &str| args(&["put", "d.mmpk", k, "--value-json", "v.json"]);
    let base = vec![
        put_json("a"),
        args(&["put", "d.mmpk", "big", "--npy", "big.npy"]),
        put_json("b"),
    ];
    let mut outputs = vec![
        // The tool's own output files (no --durable: they are not synced).
        Case {
            name: "export (a .npy)",
            setup: base.clone(),
            run: args(&["export", "d.mmpk", "big", "out.npy"]),
        },
        Case {
            name: "pickle-encode -o",
            setup: vec![],
            run: args(&[
                "pickle-encode",
                "--protocol",
                "4",
                "-o",
                "out.pkl",
                "v.json",
            ]),
        },
        Case {
            name: "zarr-refs -o",
            setup: base.clone(),
            run: args(&["zarr-refs", "-o", "refs.json", "d.mmpk"]),
        },
    ];
    if durable {
        outputs.clear();
    }
    let mut cases = vec![
        Case {
            name: "put (creates the file)",
            setup: vec![],
            run: d(put_json("k")),
        },
        Case {
            name: "put --npy (1 MiB: preallocated)",
            setup: base.clone(),
            run: d(args(&["put", "d.mmpk", "n", "--npy", "huge.npy"])),
        },
        Case {
            name: "put --zeros",
            setup: base.clone(),
            run: d(args(&["put", "d.mmpk", "z", "--zeros", "f4", "300,30"])),
        },
        Case {
            name: "put (replace)",
            setup: base.clone(),
            run: d(args(&["put", "d.mmpk", "big", "--npy", "big.npy"])),
        },
        Case {
            name: "rm",
            setup: base.clone(),
            run: d(args(&["rm", "d.mmpk", "a", "b"])),
        },
        Case {
            name: "vacuum",
            setup: [base.clone(), vec![args(&["rm", "d.mmpk", "a"])]].concat(),
            run: d(args(&["vacuum", "d.mmpk"])),
        },
        Case {
            name: "repair",
            setup: base.clone(),
            run: d(args(&["repair", "d.mmpk"])),
        },
        Case {
            name: "convert",
            setup: vec![],
            run: d(args(&["convert", "in.pkl", "out.mmpk"])),
        },
        Case {
            name: "upgrade",
            setup: vec![args(&[
                "put",
                "d.mmpk",
                "old",
                "--npy",
                "big.npy",
                "--layout",
                "mmappickle1",
            ])],
            run: d(args(&["upgrade", "d.mmpk"])),
        },
    ];
    cases.append(&mut outputs);
    cases
}

/// One file change, as both sides can tell it: the syscall, the file
/// (relative to the test directory) and its numbers.
fn normal(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| p.to_string_lossy().into_owned())
}

fn from_record(dir: &Path, events: &[Event]) -> Vec<String> {
    let mut names: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut out = Vec::new();
    let name = |names: &HashMap<(u64, u64), PathBuf>, f: &(u64, u64)| {
        names
            .get(f)
            .map(|p| normal(dir, p))
            .unwrap_or_else(|| format!("?{f:?}"))
    };
    for e in events {
        match e {
            Event::Open { path, file, create } => {
                names.insert(*file, path.clone());
                if *create {
                    out.push(format!("create {}", normal(dir, path)));
                }
            }
            Event::Write { file, offset, data } => out.push(format!(
                "pwrite {} {offset} {}",
                name(&names, file),
                data.len()
            )),
            Event::SetLen { file, len } => {
                out.push(format!("ftruncate {} {len}", name(&names, file)))
            }
            Event::Preallocate { file, offset, len } => {
                out.push(format!("fallocate {} {offset} {len}", name(&names, file)))
            }
            Event::Sync {
                file, data_only, ..
            } => out.push(format!(
                "{} {}",
                if *data_only { "fdatasync" } else { "fsync" },
                name(&names, file)
            )),
            Event::Msync { .. } => out.push("msync".into()),
            Event::Rename { from, to } => {
                out.push(format!("rename {} {}", normal(dir, from), normal(dir, to)));
                let moved: Vec<_> = names
                    .iter()
                    .filter(|(_, p)| *p == from)
                    .map(|(k, _)| *k)
                    .collect();
                for k in moved {
                    names.insert(k, to.clone());
                }
            }
            Event::SyncDir { path, .. } => out.push(format!("fsync-dir {}", normal(dir, path))),
            Event::Copy { file, .. } => {
                let line = format!("copy {}", name(&names, file));
                // One copy may take several kernel calls: one line.
                if out.last() != Some(&line) {
                    out.push(line);
                }
            }
            Event::MapStore { .. } | Event::Mark(_) => {}
        }
    }
    out
}

/// The numbers after the last string argument of an strace line's
/// arguments.
fn numbers(args: &str) -> Vec<u64> {
    let tail = args.rsplit('"').next().unwrap_or(args);
    tail.split([',', ' ', ')'])
        .filter_map(|w| w.trim().parse().ok())
        .collect()
}

/// The path strace shows for the fd argument (`3</dir/file>`).
fn fd_path(args: &str) -> Option<PathBuf> {
    let a = args.find('<')?;
    let b = args[a..].find('>')? + a;
    Some(PathBuf::from(&args[a + 1..b]))
}

fn quoted(args: &str) -> Vec<String> {
    args.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn from_strace(dir: &Path, text: &str) -> Vec<String> {
    // Join `<unfinished ...>` with its `<... resumed>` line, per thread.
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
        } else if rest.starts_with("<...") {
            let tail = rest.split_once("resumed>").map_or("", |x| x.1);
            lines.push(pending.remove(pid).unwrap_or_default() + tail);
        } else {
            lines.push(rest.to_string());
        }
    }
    let inside = |p: &Path| p.starts_with(dir);
    let mut out = Vec::new();
    for l in lines {
        let Some((call, rest)) = l.split_once('(') else {
            continue;
        };
        let Some((args, result)) = rest.rsplit_once(" = ") else {
            continue;
        };
        if result.trim_start().starts_with('-') {
            continue; // failed: changed nothing
        }
        let args = args.trim_end().trim_end_matches(')');
        match call {
            "pwrite64" | "write" | "ftruncate" | "fallocate" | "fsync" | "fdatasync" => {
                let Some(p) = fd_path(args).filter(|p| inside(p)) else {
                    continue;
                };
                let n = numbers(args);
                let f = normal(dir, &p);
                out.push(match call {
                    "pwrite64" => format!("pwrite {f} {} {}", n[n.len() - 1], n[n.len() - 2]),
                    "write" => format!("write {f} {}", n[n.len() - 1]),
                    "ftruncate" => format!("ftruncate {f} {}", n[n.len() - 1]),
                    "fallocate" => format!("fallocate {f} {} {}", n[n.len() - 2], n[n.len() - 1]),
                    "fsync" if p == dir => "fsync-dir ".to_string(),
                    _ => format!("{call} {f}"),
                });
            }
            "msync" => out.push("msync".into()),
            "copy_file_range" => {
                // copy_file_range(SRC<path>, [off], DST<path>, [off], len, 0)
                let dst = args.split(", ").nth(2).and_then(fd_path);
                if let Some(p) = dst.filter(|p| inside(p)) {
                    let line = format!("copy {}", normal(dir, &p));
                    if out.last() != Some(&line) {
                        out.push(line);
                    }
                }
            }
            "rename" | "renameat" | "renameat2" => {
                let q = quoted(args);
                let abs = |s: &str| {
                    let p = Path::new(s);
                    if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        dir.join(p)
                    }
                };
                if q.len() == 2 && inside(&abs(&q[0])) {
                    out.push(format!(
                        "rename {} {}",
                        normal(dir, &abs(&q[0])),
                        normal(dir, &abs(&q[1]))
                    ));
                }
            }
            "openat" if args.contains("O_CREAT") => {
                if let Some(p) = fd_path(result).filter(|p| inside(p)) {
                    out.push(format!("create {}", normal(dir, &p)));
                }
            }
            _ => {}
        }
    }
    out
}

fn strace_works() -> bool {
    Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn recorded_file_changes_match_strace_for_every_writing_command() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    if !strace_works() {
        eprintln!("strace is missing or not permitted here: skipped (cargo xtask crash-states installs it)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_mmpk");
    let mut checked = 0;
    for durable in [false, true] {
        for case in cases(durable) {
            let tmp = tempfile::tempdir().unwrap();
            let dir = std::fs::canonicalize(tmp.path()).unwrap().join("w");
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("v.json"), r#"{"list":[{"int":"1"},{"str":"x"}]}"#).unwrap();
            npy(&dir.join("big.npy"), 700, "(700,)");
            npy(&dir.join("huge.npy"), 1 << 17, "(131072,)");
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../fixtures/handbuilt/plain_pickle.pkl"),
                dir.join("in.pkl"),
            )
            .unwrap();
            for s in &case.setup {
                let o = Command::new(bin)
                    .args(s)
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}: setup {s:?}: {o:?}", case.name);
            }
            if case.name == "repair" {
                // A torn tail to cut.
                let p = dir.join("d.mmpk");
                let mut b = std::fs::read(&p).unwrap();
                b.extend_from_slice(&[0x8c, 1, b'z', b'K', 5]);
                std::fs::write(&p, b).unwrap();
            }
            let rec = tmp.path().join("record.txt");
            let trace = tmp.path().join("trace.txt");
            let o = Command::new("strace")
                .args(["-f", "-y", "-qq", "-s", "0", "-o"])
                .arg(&trace)
                .args([
                    "-e",
                    "trace=write,pwrite64,ftruncate,fallocate,fsync,fdatasync,msync,rename,renameat,renameat2,openat,copy_file_range",
                ])
                .arg(bin)
                .args(&case.run)
                .env("MMPK_RECORD", &rec)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}: {o:?}", case.name);
            let events = parse_text(&std::fs::read_to_string(&rec).unwrap()).unwrap();
            let recorded = from_record(&dir, &events);
            let traced = from_strace(&dir, &std::fs::read_to_string(&trace).unwrap());
            assert!(!recorded.is_empty(), "{}: nothing recorded", case.name);
            assert_eq!(
                recorded, traced,
                "{} (durable {durable}): the record differs from strace",
                case.name
            );
            if durable {
                assert!(
                    recorded.iter().any(|e| e.contains("sync")),
                    "{}: no sync with --durable",
                    case.name
                );
            }
            eprintln!(
                "{} (durable {durable}): {} file changes agree",
                case.name,
                recorded.len()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 21);
}
