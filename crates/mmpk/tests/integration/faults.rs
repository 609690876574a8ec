//! Fault injection: a full disk (`ENOSPC`) and short writes at every write
//! of insert, replace, masked and generic inserts, remove, repair, vacuum,
//! convert and upgrade (`mmpk::fault`, the `fault-injection` feature), and
//! a real 1 MiB tmpfs filled up. After each injected failure the error
//! reaches the caller, the file still opens and scans (clean, or with a
//! torn tail that repair cuts), every earlier entry is intact and equal,
//! the dict that saw the failure keeps working, and no temporary file is
//! left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmpk::fault::{self, Fault};
use mmpk::{Dict, Layout, OpenOptions, Value};
use ndarray::arr1;

/// What a key holds, comparably: dtype, shape and bytes of arrays (and
/// masks), the ops of generic values (`None` for generic values when
/// `generic` is false).
fn snapshot(d: &Dict, generic: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for k in d.keys().unwrap() {
        let arr = |a: &mmpk::Array| format!("{} {:?} {:?}", a.dtype().str(), a.shape(), a.bytes());
        let s = match d.get(&k).unwrap() {
            Value::Array(a) => arr(&a),
            Value::Masked(x) => format!("masked {} / {}", arr(x.data()), arr(x.mask())),
            _ if generic => format!("{:?}", d.value_bytes(&k).unwrap()),
            _ => "generic".into(),
        };
        m.insert(k, s);
    }
    m
}

/// Expected outcomes of an operation on the snapshot: before, after.
struct Case {
    name: &'static str,
    layout: Layout,
    /// Builds the starting file at the path.
    setup: fn(&Path),
    /// The operation.
    op: fn(&Path, &Dict) -> mmpk::Result<()>,
    /// Whether generic values keep their bytes through the operation.
    generic: bool,
    /// Open with `durable(true)` (fsyncs are writes that can fail too).
    durable: bool,
}

fn base(p: &Path, layout: Layout) {
    let d = crate::create_with(p, OpenOptions::new().layout(layout));
    d.insert_array("a", &arr1(&[1u32, 2, 3])).unwrap();
    d.insert_array("b", &ndarray::array![[1.5f64, 2.5], [3.5, 4.5]])
        .unwrap();
    d.insert_bytes("big", ">i4", &[2], &[0, 0, 0, 1, 0, 0, 0, 2])
        .unwrap();
    d.insert_masked("m", &arr1(&[1.0f32, 2.0]), Some(&arr1(&[true, false])))
        .unwrap();
    d.insert_pickle("v", &crate::hostile::shared_list())
        .unwrap();
    d.insert_array("gone", &arr1(&[9u8; 100])).unwrap();
    d.remove("gone").unwrap();
}

fn base_v2(p: &Path) {
    base(p, Layout::V2)
}

fn base_v1(p: &Path) {
    base(p, Layout::Mmappickle1)
}

/// An mmpk file whose header version is 2: not an mmpk file, but still a
/// plain pickled dict (of arrays, a masked array and a list), to convert.
fn plain_pickle(p: &Path) {
    base_v2(p);
    let mut b = std::fs::read(p).unwrap();
    b[12] = 2;
    std::fs::write(p, b).unwrap();
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (layout, setup) in [
        (Layout::V2, base_v2 as fn(&Path)),
        (Layout::Mmappickle1, base_v1),
    ] {
        v.extend([
            Case {
                name: "insert",
                layout,
                setup,
                op: |_, d| d.insert_array("new", &arr1(&[5i64; 40])),
                generic: true,
                durable: false,
            },
            Case {
                name: "replace",
                layout,
                setup,
                op: |_, d| d.insert_array("a", &arr1(&[7u32, 8])),
                generic: true,
                durable: false,
            },
            Case {
                name: "insert masked",
                layout,
                setup,
                op: |_, d| d.insert_masked("m2", &arr1(&[1u16]), Some(&arr1(&[true]))),
                generic: true,
                durable: false,
            },
            Case {
                name: "insert value",
                layout,
                setup,
                op: |_, d| d.insert_pickle("v", &crate::arrays::int_pickle(3)),
                generic: true,
                durable: false,
            },
            Case {
                name: "remove",
                layout,
                setup,
                op: |_, d| d.remove("b"),
                generic: true,
                durable: false,
            },
            Case {
                name: "vacuum",
                layout,
                setup,
                op: |_, d| d.vacuum().map(|_| ()),
                generic: true,
                durable: false,
            },
        ]);
    }
    for (name, op) in [
        (
            "replace",
            (|_, d| d.insert_array("a", &arr1(&[7u32, 8]))) as fn(&Path, &Dict) -> _,
        ),
        ("remove", |_, d| d.remove("b")),
    ] {
        v.push(Case {
            name,
            layout: Layout::V2,
            setup: base_v2,
            op,
            generic: true,
            durable: true,
        });
    }
    v.push(Case {
        name: "upgrade",
        layout: Layout::V2,
        setup: base_v1,
        op: |_, d| d.upgrade().map(|_| ()),
        generic: true,
        durable: false,
    });
    v.push(Case {
        name: "repair",
        layout: Layout::V2,
        setup: |p| {
            base_v2(p);
            let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
            std::io::Write::write_all(&mut f, &[0x95, 1, 2, 3]).unwrap();
        },
        op: |_, d| d.repair().map(|_| ()),
        generic: true,
        durable: false,
    });
    v.push(Case {
        name: "convert",
        layout: Layout::V2,
        setup: plain_pickle,
        // SAFETY: private test file.
        op: |p, _| unsafe { OpenOptions::new().convert(p) }.map(|_| ()),
        generic: false,
        durable: false,
    });
    v
}

/// The keys whose value the operation may change (or drop, or add).
fn touched(name: &str) -> &'static [&'static str] {
    match name {
        "insert" => &["new"],
        "replace" => &["a"],
        "insert masked" => &["m2"],
        "insert value" => &["v"],
        "remove" => &["b"],
        _ => &[],
    }
}

fn open_with(p: &Path, case: &Case) -> Dict {
    // SAFETY: private test file.
    unsafe {
        OpenOptions::new()
            .layout(case.layout)
            .durable(case.durable)
            .open(p)
    }
    .unwrap()
}

/// Runs `case` with a fault at every write; returns the faults survived.
fn run_case(case: &Case) -> u64 {
    let dir = crate::shm_tempdir();
    let p = dir.path().join("t.mmpk");
    let fresh = |p: &Path| {
        let _ = std::fs::remove_file(p);
        (case.setup)(p);
    };
    // The states before and after, and the writes the operation makes.
    fresh(&p);
    let converting = case.name == "convert";
    let before = if converting {
        None
    } else {
        Some(snapshot(&crate::open_ro(&p), case.generic))
    };
    let scratch = scratch_dict(dir.path());
    let d = (!converting).then(|| open_with(&p, case));
    fault::clear();
    (case.op)(&p, d.as_ref().unwrap_or(&scratch)).unwrap();
    let writes = fault::writes();
    drop(d);
    let after = snapshot(&crate::open_ro(&p), case.generic);
    assert!(writes > 0, "{}", case.name);

    let mut survived = 0;
    for nth in 0..writes {
        for (fault, sticky) in [
            (Fault::NoSpace, false),
            (Fault::NoSpace, true),
            (Fault::Short(1), false),
            (Fault::Short(5), true),
        ] {
            let what = format!(
                "{} ({:?}) write {nth} {fault:?} sticky {sticky}",
                case.name, case.layout
            );
            fresh(&p);
            let original = std::fs::read(&p).unwrap();
            let d = (!converting).then(|| open_with(&p, case));
            let dref = d.as_ref().unwrap_or(&scratch);
            fault::plan(nth, fault, sticky);
            let r = (case.op)(&p, dref);
            let injected = fault::injected();
            fault::clear();
            assert!(injected > 0, "{what}: no fault injected");
            // The file opens and scans (a torn tail at worst).
            let bytes = std::fs::read(&p).unwrap();
            if converting {
                let now = std::fs::read(&p).unwrap();
                match &r {
                    // Not converted: the original is untouched.
                    Err(_) => assert_eq!(now, original, "{what}"),
                    Ok(()) => {
                        let got = snapshot(&crate::open_ro(&p), false);
                        assert_eq!(got, after, "{what}");
                    }
                }
            } else {
                let s = mmpk_format::scan(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
                let ro = crate::open_ro(&p);
                let got = snapshot(&ro, case.generic);
                check_state(
                    &what,
                    &got,
                    before.as_ref().unwrap(),
                    &after,
                    touched(case.name),
                    r.is_ok(),
                );
                if !s.is_clean() {
                    // Repairable: repair cuts the torn tail, keeping everything.
                    let q = dir.path().join("repaired.mmpk");
                    std::fs::write(&q, &bytes).unwrap();
                    let rd = crate::open(&q);
                    rd.repair().unwrap();
                    assert_eq!(snapshot(&rd, case.generic), got, "{what}: repair");
                    crate::scan_clean(&q);
                    let _ = std::fs::remove_file(&q);
                }
            }
            // A multi-entry operation stopped part-way says what it changed
            // (`Error::Incomplete`) around the I/O error.
            let r = match r {
                Err(mmpk::Error::Incomplete { source, done, .. }) => {
                    assert!(!done.is_empty(), "{what}");
                    Err(*source)
                }
                r => r,
            };
            match r {
                Err(mmpk::Error::Io { ref source, .. }) => {
                    assert_eq!(source.raw_os_error(), Some(28), "{what}: {r:?}")
                }
                Err(e) => panic!("{what}: not an I/O error: {e}"),
                // Every fault is reported, a failed directory fsync after
                // vacuum's rename included (the dict then works on the new
                // file, but the rename may not survive a power cut).
                Ok(()) => panic!("{what}: the fault was swallowed"),
            }
            // The dict that saw the failure keeps working, and agrees with a
            // fresh reader.
            if let Some(d) = &d {
                let reopened = d
                    .keys()
                    .and_then(|_| d.insert_array("later", &arr1(&[1u8])));
                match reopened {
                    Ok(()) => {
                        let mine = snapshot(d, case.generic);
                        assert_eq!(mine, snapshot(&crate::open_ro(&p), case.generic), "{what}");
                        assert!(mine.contains_key("later"), "{what}");
                    }
                    // A vacuum whose rename landed leaves the old dict on the
                    // unlinked file: it says so.
                    Err(mmpk::Error::Changed { .. }) if case.name == "vacuum" => {}
                    Err(e) => panic!("{what}: the dict no longer works: {e}"),
                }
            }
            // No temporary file left behind.
            let names: Vec<PathBuf> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|x| x.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect();
            assert!(names.is_empty(), "{what}: left {names:?}");
            survived += 1;
        }
    }
    survived
}

/// A dict the convert case does not use (its operation opens the path).
fn scratch_dict(dir: &Path) -> Dict {
    let p = dir.join("scratch.mmpk");
    let _ = std::fs::remove_file(&p);
    crate::create(&p)
}

/// Every key is as before or (for a finished operation) as after; keys the
/// operation does not touch are exactly as before.
fn check_state(
    what: &str,
    got: &BTreeMap<String, String>,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    touched: &[&str],
    ok: bool,
) {
    if ok {
        assert_eq!(got, after, "{what}");
        return;
    }
    for (k, v) in before {
        if touched.contains(&k.as_str()) {
            let g = got.get(k);
            assert!(g == Some(v) || g == after.get(k), "{what}: key {k}: {g:?}");
        } else {
            assert_eq!(got.get(k), Some(v), "{what}: key {k}");
        }
    }
    for (k, v) in got {
        if !before.contains_key(k) {
            assert_eq!(after.get(k), Some(v), "{what}: key {k} appeared");
        }
    }
}

#[test]
fn every_write_of_every_operation_fails_cleanly() {
    let mut total = 0;
    let mut lines = Vec::new();
    for case in cases() {
        let n = run_case(&case);
        lines.push(format!(
            "{} ({:?}{}): {n}",
            case.name,
            case.layout,
            if case.durable { ", durable" } else { "" }
        ));
        total += n;
    }
    eprintln!("faults survived: {total}\n  {}", lines.join("\n  "));
}

/// A real full disk: a 1 MiB tmpfs (skipped, with a note, where mounting
/// is not permitted) filled with arrays until `ENOSPC`; every array inserted
/// before stays readable, a vacuum that cannot fit fails cleanly, and
/// removing entries and vacuuming then frees room for more.
#[test]
fn a_real_full_tmpfs() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("note: a_real_full_tmpfs skipped: mounting a tmpfs is not permitted here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(mnt.clone());
    let p = mnt.join("full.mmpk");
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![1u8; 300 << 10]).unwrap();
    let d = crate::create(&p);
    let mut n = 0u32;
    let err = loop {
        match d.insert_array(&format!("k{n}"), &ndarray::Array1::from_elem(30_000, n)) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000);
    };
    assert!(
        matches!(&err, mmpk::Error::Io { source, .. } if source.raw_os_error() == Some(28)),
        "{err}"
    );
    assert!(n > 3);
    let check = |d: &Dict, keys: &mut dyn Iterator<Item = u32>| {
        for i in keys {
            let a = d.array(&format!("k{i}")).unwrap();
            assert!(a.view::<u32>().unwrap().iter().all(|&x| x == i));
        }
    };
    check(&crate::open_ro(&p), &mut (0..n));
    check(&d, &mut (0..n));
    // A vacuum needs a second copy: no room.
    assert!(d.vacuum().is_err());
    let leftovers = std::fs::read_dir(&mnt).unwrap().count();
    assert_eq!(leftovers, 2);
    // Removing entries frees nothing until a vacuum, which needs room for
    // the live entries' copy: still no room, still intact.
    for i in 0..n - 1 {
        d.remove(&format!("k{i}")).unwrap();
    }
    assert!(d.vacuum().is_err());
    check(&crate::open_ro(&p), &mut (n - 1..n));
    // Room made elsewhere: the vacuum fits and reclaims.
    std::fs::remove_file(&ballast).unwrap();
    d.vacuum().unwrap();
    check(&d, &mut (n - 1..n));
    d.insert_array("after", &ndarray::Array1::from_elem(30_000, 5u32))
        .unwrap();
    check(&crate::open_ro(&p), &mut (n - 1..n));
}

/// Creating a file on a full disk fails with the error. A creation cut
/// short leaves a prefix of an empty dict; as for any non-empty file that
/// is not an mmpk file, opening it (even with `create`) refuses and leaves
/// it unchanged (`open::unrecognised_files_are_refused_and_unchanged`):
/// removing it and creating again works.
#[test]
fn an_unfinished_creation_is_refused_then_redone() {
    for fault in [
        Fault::NoSpace,
        Fault::Short(1),
        Fault::Short(20),
        Fault::Short(30),
    ] {
        let dir = crate::shm_tempdir();
        let p = dir.path().join("c.mmpk");
        fault::plan(0, fault, false);
        // SAFETY: private test file.
        let r = unsafe { OpenOptions::new().create(true).open(&p) };
        fault::clear();
        assert!(matches!(r, Err(mmpk::Error::Io { .. })), "{fault:?}: {r:?}");
        let torn = std::fs::read(&p).unwrap();
        if !torn.is_empty() && torn.len() < 24 {
            // A creation cut inside the header: creating again finishes it.
            // SAFETY: as above.
            let again = unsafe { OpenOptions::new().create(true).open(&p) };
            assert!(again.is_ok_and(|d| d.is_empty().unwrap()), "{fault:?}");
            assert_eq!(
                std::fs::read(&p).unwrap(),
                mmpk_format::write::empty_file(0)
            );
        }
        if !torn.is_empty() {
            std::fs::remove_file(&p).unwrap();
        }
        // SAFETY: as above.
        let d = unsafe { OpenOptions::new().create(true).open(&p) }.unwrap();
        d.insert_array("a", &arr1(&[1u8])).unwrap();
        assert_eq!(crate::open_ro(&p).keys().unwrap(), ["a"]);
        crate::scan_clean(&p);
    }
}
