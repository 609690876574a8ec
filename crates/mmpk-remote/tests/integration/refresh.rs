//! Following a file that changes: the commit number, appended entries,
//! deletions, data written in place, rewrites.

use mmpk_format::array::Encoding;
use mmpk_remote::{Refresh, RemoteDict};

use crate::files::{sparse_file, Builder};
use crate::quick;
use crate::server::Server;

#[test]
fn growing_file_is_followed_incrementally() {
    let s = Server::start();
    let (f, _) = sparse_file(&[("big", "<f4", &[1 << 20])]);
    s.put("f", f.clone());
    let mut d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    assert_eq!(d.refresh().unwrap(), Refresh::Unchanged);
    assert!(!d.changed_by_others().unwrap());
    // Two inserts by a writer, commit 2.
    let mut b = Builder::reopen(f, 2);
    b.ops("x", b"K\x07", true)
        .array("y", Encoding::V2, "<u1", &[3], &[9, 8, 7]);
    let g = b.finish();
    s.put("f", g.clone());
    assert!(d.changed_by_others().unwrap());
    assert!(d.get_pickle("big").is_err(), "changed: must not answer");
    let (req0, bytes0) = s.counters();
    assert_eq!(d.refresh().unwrap(), Refresh::Grew { new_entries: 2 });
    let (req1, bytes1) = s.counters();
    assert!(req1 - req0 <= 3, "{} requests", req1 - req0);
    assert!(bytes1 - bytes0 < 100 << 10, "{} bytes", bytes1 - bytes0);
    assert_eq!(d.commit_number(), 2);
    assert_eq!(d.keys(), ["big", "x", "y"]);
    assert_eq!(d.array("y").unwrap().data, [9, 8, 7]);

    // A deletion flips one byte in place, commit 3.
    let mut h = g.clone();
    let e = d.entry("x").unwrap();
    h[(e.end() - 2) as usize] = 0x30;
    mmpk_format::write::write_commit(&mut h, 3).unwrap();
    s.put("f", h.clone());
    assert_eq!(d.refresh().unwrap(), Refresh::Grew { new_entries: 0 });
    assert_eq!(d.keys(), ["big", "y"]);

    // Array data written in place: same index, new bytes.
    let mut k = h.clone();
    let at = d.array_info("y").unwrap().data_offset as usize;
    k[at] = 42;
    s.put("f", k);
    assert_eq!(d.refresh().unwrap(), Refresh::DataChanged);
    assert_eq!(d.array("y").unwrap().data, [42, 8, 7]);

    // A rewrite (vacuum): smaller, entries moved.
    let mut b = Builder::new(4);
    b.ops("only", b"K\x01", true);
    s.put("f", b.finish());
    assert_eq!(d.refresh().unwrap(), Refresh::Rescanned);
    assert_eq!(d.keys(), ["only"]);
    assert_eq!(d.commit_number(), 4);
}

#[test]
fn a_rewrite_of_the_same_size_is_rescanned() {
    let s = Server::start();
    let mut b = Builder::new(1);
    b.ops("aa", b"K\x01", true).ops("bb", b"K\x02", true);
    s.put("f", b.finish());
    let mut d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    let mut b = Builder::new(2);
    b.ops("c", b"K\x01", true).ops("ddd", b"K\x02", true);
    s.put("f", b.finish());
    assert_eq!(d.refresh().unwrap(), Refresh::Rescanned);
    assert_eq!(d.keys(), ["c", "ddd"]);
}
