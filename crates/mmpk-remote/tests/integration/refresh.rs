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

/// A durable v2 writer (the `mmpk` crate) ends its entries with a room
/// and writes later inserts into it, the object's size unchanged
/// (docs/format.md section 8): a refresh re-reads from where the room
/// was, a few KiB, not the whole index again, and ends with the index a
/// fresh open reads and the local dict's keys and values.
#[test]
fn inserts_into_a_room_are_read_from_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.mmpk");
    // SAFETY: the test's own file, changed only through this dict.
    let local = unsafe {
        mmpk::OpenOptions::new()
            .create(true)
            .durable(true)
            .open(&path)
    }
    .unwrap();
    // 20 KiB arrays: read at their two ends by the index scan.
    let raw = |i: usize| -> Vec<u8> { (0..20 << 10).map(|j| (i * 31 + j) as u8).collect() };
    let insert = |i: usize| {
        let key = format!("a{}", i % 45);
        local
            .insert_bytes(&key, "|u1", &[20 << 10], &raw(i))
            .unwrap();
    };
    for i in 0..40 {
        insert(i);
    }
    let s = Server::start();
    s.put("f", std::fs::read(&path).unwrap());
    let o = || quick().readahead(4096).coalesce_gap(512);
    let mut d = RemoteDict::open(&s.url("f"), o()).unwrap();
    let (mut room_inserts, mut i) = (0, 40);
    let mut pickle = 0u8;
    while room_inserts < 6 {
        assert!(i < 80, "only {room_inserts} inserts went into a room");
        let len = std::fs::metadata(&path).unwrap().len();
        // New keys (a40 to a44), then replaces (a0, a1, ...: the old
        // entries are deleted), and a generic value now and then.
        insert(i);
        if i % 3 == 0 {
            pickle += 1;
            let p = [0x80, 4, b'K', pickle, b'.']; // PROTO 4, BININT1, STOP
            local.insert_pickle_bytes("v", &p).unwrap();
        }
        i += 1;
        let bytes = std::fs::read(&path).unwrap();
        let into_room = bytes.len() as u64 == len;
        s.put("f", bytes);
        let (_, b0) = s.counters();
        let r = d.refresh().unwrap();
        let (_, b1) = s.counters();
        let fresh = RemoteDict::open(&s.url("f"), o()).unwrap();
        let (_, b2) = s.counters();
        if into_room {
            room_inserts += 1;
            // A full rescan reads as much as the fresh open.
            let (refresh, open) = (b1 - b0, b2 - b1);
            assert!(refresh * 4 < open, "refresh {refresh} bytes, open {open}");
        }
        assert!(matches!(r, Refresh::Grew { .. }), "{r:?}");
        assert_eq!(d.entries(), fresh.entries());
        assert_eq!(d.commit_number(), local.commit_number().unwrap());
    }
    // SAFETY: as above.
    let check = unsafe { mmpk::OpenOptions::new().read_only(true).open(&path) }.unwrap();
    assert_eq!(d.keys(), check.keys().unwrap());
    for k in d.keys() {
        assert_eq!(
            d.value_bytes(&k).unwrap(),
            check.value_bytes(&k).unwrap(),
            "{k}"
        );
    }
}
