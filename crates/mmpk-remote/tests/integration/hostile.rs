//! The remote index read agrees with the local scan on many entries and on
//! damaged files, and never panics on what the server sends.

use mmpk_format::array::Encoding;
use mmpk_format::scan::scan;
use mmpk_remote::{Options, RemoteDict};

use crate::files::{sparse_file, Builder};
use crate::quick;
use crate::server::Server;

/// Small entries around large ones, more than one read-ahead of them.
fn mixed() -> Vec<u8> {
    let (big, _) = sparse_file(&[("big1", "<f8", &[3000, 10])]);
    let mut b = Builder::reopen(big, 5);
    for i in 0..3000u32 {
        let key = format!("k{i}");
        if i % 3 == 0 {
            b.array(&key, Encoding::V2, "<u2", &[2], &i.to_le_bytes());
        } else {
            b.ops(&key, b"K\x07", i % 7 != 0);
        }
    }
    // Then another large array (its entry's bytes, from a file of its
    // own) and a last small entry.
    let (other, _) = sparse_file(&[("big2", "<u1", &[300_000])]);
    b.bytes.extend_from_slice(&other[24..other.len() - 11]);
    b.ops("last", b"N", true);
    b.finish()
}

/// Local and remote indexes of `f` agree (keys, offsets, kinds, tail).
fn agree(s: &Server, f: &[u8], name: &str, opts: Options) {
    s.put(name, f.to_vec());
    let local = scan(f);
    let remote = RemoteDict::open(&s.url(name), opts);
    match (local, remote) {
        (Ok(l), Ok(r)) => {
            let le: Vec<_> = l
                .entries
                .iter()
                .map(|e| {
                    (
                        e.entry.key.to_string(),
                        e.entry.offset as u64,
                        e.entry.len as u64,
                        e.kind,
                    )
                })
                .collect();
            let re: Vec<_> = r
                .entries()
                .iter()
                .map(|e| (e.key.clone(), e.offset, e.len, e.kind))
                .collect();
            assert_eq!(le, re, "{name}");
            assert_eq!(&l.tail, r.tail(), "{name}");
            // Live values read or fail with a typed error.
            let keys = r.keys();
            for k in keys.iter().take(40).chain(keys.iter().rev().take(5)) {
                let _ = r.get_pickle(k);
                let _ = r.array(k);
            }
        }
        (Err(_), Err(_)) => {}
        (l, r) => panic!(
            "{name}: local {:?}, remote {:?}",
            l.map(|_| ()),
            r.map(|_| ())
        ),
    }
}

#[test]
fn many_small_entries_around_large_ones() {
    let s = Server::start();
    let f = mixed();
    agree(&s, &f, "mixed", Options::new());
    let (req0, bytes0) = s.counters();
    let d = RemoteDict::open(&s.url("mixed"), Options::new()).unwrap();
    assert!(d.contains("last") && d.contains("big2") && d.contains("k2999"));
    let (req, bytes) = (s.counters().0 - req0, s.counters().1 - bytes0);
    // Small entries cost one request per read-ahead; large ones, a peek.
    let small = f.len() as u64 - (3000 * 10 * 8) - 300_000;
    assert!(
        bytes < small + (64 << 10) * 3,
        "{bytes} bytes for {small} of entries"
    );
    assert!(req <= small / (64 << 10) + 6, "{req} requests");
    assert_eq!(d.array("k2997").unwrap().data, 2997u32.to_le_bytes());
}

#[test]
fn damaged_files_read_as_the_local_scan_reads_them() {
    let s = Server::start();
    let f = mixed();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Single-byte changes, mostly in the frame heads and tails the scan
    // reads, and truncations.
    let heads: Vec<usize> = scan(&f)
        .unwrap()
        .entries
        .iter()
        .flat_map(|e| {
            let (a, z) = (e.entry.offset, e.entry.end());
            [
                a,
                a + 1,
                a + 8,
                a + 9,
                a + 10,
                a + 11,
                z - 8,
                z - 4,
                z - 3,
                z - 2,
                z - 1,
            ]
        })
        .collect();
    for i in 0..150 {
        let mut g = f.clone();
        let at = if i % 3 == 0 {
            (next() % g.len() as u64) as usize
        } else {
            heads[(next() % heads.len() as u64) as usize]
        };
        g[at] = (next() & 0xff) as u8;
        agree(&s, &g, &format!("m{i}"), quick().readahead(4096));
    }
    for i in 0..40 {
        let cut = (next() % f.len() as u64) as usize;
        agree(&s, &f[..cut], &format!("t{i}"), quick());
    }
}
