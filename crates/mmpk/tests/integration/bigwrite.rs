//! A large array's data copied into the file through a writable map by
//! several threads (docs/design.md, "Writing a large array"): the file is
//! byte for byte the one plain writes make, at every size around the
//! parts' boundaries and at unaligned offsets; a refused preallocation
//! writes plainly; a reader in another process sees the entry only once it
//! is complete. `mmpk::platform::force_mapped_copy` makes small arrays take
//! the path.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use mmpk::platform::{force_mapped_copy, force_portable};
use mmpk::record::{self, Event};
use mmpk::{Dict, Layout, OpenOptions};

use crate::{create_with, open_ro, scan_clean, tmp};

/// The part size the forced copies use: parts end at 64 KiB boundaries.
const PART: usize = 64 << 10;

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed) % 32) as u8
        })
        .map(|b| b.wrapping_add(seed) | 1)
        .collect()
}

/// Inserts arrays of every size in `sizes` (as `u1`) into a new dict of
/// `layout`, each after a small entry that moves the next one's offset;
/// returns the file and the record.
fn write_all(path: &Path, layout: Layout, sizes: &[usize], mapped: bool) -> (Vec<u8>, Vec<Event>) {
    let d = create_with(path, OpenOptions::new().layout(layout));
    record::start();
    if mapped {
        force_mapped_copy(Some(PART));
    }
    for (i, &n) in sizes.iter().enumerate() {
        d.insert_bytes(
            &format!("pad{i}"),
            "|u1",
            &[i % 7 + 1],
            &pattern(i % 7 + 1, 99),
        )
        .unwrap();
        d.insert_bytes(&format!("k{i}"), "|u1", &[n], &pattern(n, i as u8))
            .unwrap();
    }
    force_mapped_copy(None);
    let ev = record::take();
    drop(d);
    (scan_clean(path), ev)
}

fn map_stores(ev: &[Event]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::MapStore { .. }))
        .count()
}

/// The most bytes one pwrite of the record wrote.
fn largest_write(ev: &[Event]) -> usize {
    ev.iter()
        .filter_map(|e| match e {
            Event::Write { data, .. } => Some(data.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn mapped_copies_leave_the_bytes_plain_writes_leave() {
    let sizes = [
        0,
        1,
        4095,
        PART - 1,
        PART,
        PART + 1,
        2 * PART - 3,
        3 * PART,
        3 * PART + 5,
        5 * PART + 4097,
    ];
    for layout in [Layout::V2, Layout::Mmappickle1] {
        let (_d1, p1) = tmp();
        let (_d2, p2) = tmp();
        let (plain, plain_ev) = write_all(&p1, layout, &sizes, false);
        let (mapped, ev) = write_all(&p2, layout, &sizes, true);
        assert_eq!(plain, mapped, "{layout:?}");
        assert_eq!(map_stores(&plain_ev), 0);
        // Every array but the empty one went (at least in part) through
        // the map; the largest one also in part by a write of its first
        // bytes, side by side.
        let d = open_ro(&p2);
        for (i, &n) in sizes.iter().enumerate() {
            let info = d.array(&format!("k{i}")).unwrap().info().clone();
            let data = info.data_offset..info.data_offset + info.nbytes;
            let stored = ev.iter().any(|e| {
                matches!(e, Event::MapStore { offset, data: b, .. }
                    if data.contains(offset) && data.contains(&(offset + b.len() as u64 - 1)))
            });
            assert_eq!(stored, n > 0, "{layout:?} k{i}");
            let written = ev.iter().any(|e| {
                matches!(e, Event::Write { offset, data: b, .. }
                    if *offset == info.data_offset && b.len() < n && !b.is_empty())
            });
            if n == sizes[sizes.len() - 1] {
                assert!(written, "{layout:?}: no write beside the map");
            }
        }
        assert!(largest_write(&ev) < sizes[sizes.len() - 1], "{layout:?}");
        // The mmappickle 1.0 layout leaves data at odd offsets.
        if layout == Layout::Mmappickle1 {
            let a = d.array("k3").unwrap();
            assert_ne!(a.info().data_offset % 8, 0);
        }
        let d = open_ro(&p2);
        for (i, &n) in sizes.iter().enumerate() {
            assert_eq!(
                d.array(&format!("k{i}")).unwrap().bytes(),
                pattern(n, i as u8)
            );
        }
    }
}

#[test]
fn a_refused_preallocation_means_a_plain_write() {
    let (_d, p) = tmp();
    let d = create_with(&p, &mut OpenOptions::new());
    force_portable(true);
    force_mapped_copy(Some(PART));
    record::start();
    let data = pattern(3 * PART + 11, 5);
    let r = d.insert_bytes("a", "|u1", &[data.len()], &data);
    let ev = record::take();
    force_mapped_copy(None);
    force_portable(false);
    r.unwrap();
    assert_eq!(map_stores(&ev), 0);
    assert!(!ev.iter().any(|e| matches!(e, Event::Preallocate { .. })));
    assert_eq!(largest_write(&ev), data.len());
    assert_eq!(d.array("a").unwrap().bytes(), data);
    scan_clean(&p);
}

/// Without the switch: a 72 MiB array takes the mapped path only where
/// the rule of docs/design.md allows it (several CPUs, one of them idle,
/// ext4/XFS/tmpfs), and reads back equal either way; a replace, a masked array and an ndarray
/// too.
#[test]
fn a_large_array_is_mapped_where_the_rule_holds() {
    let (_d, p) = tmp();
    let d = create_with(&p, &mut OpenOptions::new());
    let n = 72 << 20;
    let a = ndarray::Array1::from_shape_fn(n / 8, |i| i as u64 * 3 + 1);
    let f = std::fs::File::open(&p).unwrap();
    let applies = mmpk::platform::preallocation_backs_maps(&f)
        && std::thread::available_parallelism().is_ok_and(|c| c.get() > 1);
    record::start();
    d.insert_array("big", &a).unwrap();
    let ev = record::take();
    // (Where the rule holds, a CPU busy with other work at that moment
    // still means one write.)
    let mapped = map_stores(&ev) > 0;
    assert!(applies || !mapped, "mapped where the rule does not hold");
    assert_eq!(largest_write(&ev) >= n, !mapped);
    let got = d.array("big").unwrap();
    assert_eq!(got.view::<u64>().unwrap(), a.view().into_dyn());
    drop(got);
    // A replace of it, by another handle, then a masked array.
    let other = crate::open(&p);
    let b = a.mapv(|x| x ^ 0xff);
    other.insert_array("big", &b).unwrap();
    let mask = ndarray::Array1::from_shape_fn(n / 8, |i| i % 3 == 0);
    other.insert_masked("m", &b, Some(&mask)).unwrap();
    drop(other);
    let ro = open_ro(&p);
    assert_eq!(
        ro.array("big").unwrap().view::<u64>().unwrap(),
        b.view().into_dyn()
    );
    let m = ro.masked("m").unwrap();
    assert_eq!(m.data().view::<u64>().unwrap(), b.view().into_dyn());
    assert_eq!(m.mask_owned().unwrap(), mask.into_dyn());
    scan_clean(&p);
}

/// The writer child: `MMPK_BIGWRITE_CHILD=path,count` inserts `count`
/// arrays of 6 MiB through the mapped copy (parts of 1 MiB), printing
/// `done i` after each. Does nothing when the variable is not set.
#[test]
fn writer_child() {
    let Ok(spec) = std::env::var("MMPK_BIGWRITE_CHILD") else {
        return;
    };
    let (path, count) = spec.split_once(',').unwrap();
    let d = crate::open(Path::new(path));
    force_mapped_copy(Some(1 << 20));
    let mut out = std::io::stdout().lock();
    for i in 0..count.parse::<u8>().unwrap() {
        let a = ndarray::Array1::from_elem(6 << 20, i + 1);
        d.insert_array(&format!("k{i}"), &a).unwrap();
        writeln!(out, "done {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_reader_sees_a_mapped_insert_only_once_it_is_complete() {
    let (_d, p) = tmp();
    drop(create_with(&p, &mut OpenOptions::new()));
    let count = 8u8;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "bigwrite::writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("MMPK_BIGWRITE_CHILD", format!("{},{count}", p.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ro: Dict = open_ro(&p);
    let mut seen = std::collections::BTreeSet::new();
    let mut checks = 0;
    while seen.len() < usize::from(count) {
        for k in ro.keys().unwrap() {
            let i: u8 = k[1..].parse().unwrap();
            let a = ro.array(&k).unwrap();
            let b = a.bytes();
            assert_eq!(b.len(), 6 << 20);
            // Every byte written, at every moment it is visible.
            assert!(b.iter().all(|&x| x == i + 1), "{k} visible before complete");
            seen.insert(k);
            checks += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        if child.try_wait().unwrap().is_some() && ro.len().unwrap() < usize::from(count) {
            // The child ended: read what is there once more.
            assert_eq!(ro.len().unwrap(), usize::from(count), "the writer failed");
        }
    }
    let out = BufReader::new(child.stdout.take().unwrap());
    let done = out
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with("done"))
        .count();
    assert!(child.wait().unwrap().success());
    assert_eq!(done, usize::from(count));
    assert!(checks >= usize::from(count));
    scan_clean(&p);
}
