//! Reads against the in-process server: values, arrays, slices, and how
//! many requests and bytes they cost.

use mmpk_format::array::Encoding;
use mmpk_format::scan::{scan, EntryKind, Tail};
use mmpk_remote::{MaskKind, Options, RemoteDict};
use pickle_ops::Value;

use crate::files::{sparse_file, Builder, LIST_PICKLE};
use crate::quick;
use crate::server::Server;

fn small_file() -> Vec<u8> {
    let f64s: Vec<u8> = [1.0f64, 2.5, -3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let be: Vec<u8> = [1i32, -2, 3].iter().flat_map(|x| x.to_be_bytes()).collect();
    let mut b = Builder::new(7);
    b.array("a", Encoding::V2, "<f8", &[3, 2], &f64s)
        .array("old", Encoding::V1, ">i4", &[3], &be)
        .ops("n", b"K\x05", true)
        .pickle("list", LIST_PICKLE, true)
        .ops("gone", b"K\x01", false)
        .ops("", b"N", false)
        .masked("m", "<i2", &[2], &[1, 0, 2, 0], &[0, 1])
        .ops("n", b"K\x06", true);
    b.finish()
}

#[test]
fn small_file_reads_like_a_local_one() {
    let s = Server::start();
    let f = small_file();
    s.put("f.mmpk", f.clone());
    let d = RemoteDict::open(&s.url("f.mmpk"), quick()).unwrap();
    assert_eq!(d.commit_number(), 7);
    assert_eq!(d.tail(), &Tail::Clean);
    assert_eq!(d.keys(), ["a", "old", "list", "m", "n"]);
    assert_eq!(d.len(), 5);
    assert!(d.contains("n") && !d.contains("gone"));
    // Same index as a local scan.
    let local = scan(&f).unwrap();
    let kinds: Vec<EntryKind> = local.entries.iter().map(|e| e.kind).collect();
    let remote: Vec<EntryKind> = d.entries().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, remote);
    for (l, r) in local.entries.iter().zip(d.entries()) {
        assert_eq!(
            (l.entry.offset as u64, l.entry.key),
            (r.offset, r.key.as_str())
        );
        assert_eq!(
            l.entry.value_span(),
            r.value_offset as usize..(r.value_offset + r.value_len) as usize
        );
    }
    assert_eq!(d.terminator(), Some(f.len() as u64 - 11));
    // The whole file fits the first read: one request.
    assert_eq!(d.stats().requests, 1);

    let a = d.array("a").unwrap();
    assert_eq!(a.shape, [3, 2]);
    assert_eq!(a.to_vec::<f64>().unwrap(), [1.0, 2.5, -3.0, 4.0, 5.0, 6.0]);
    let s1 = d.array_slice("a", 1..3).unwrap();
    assert_eq!(s1.shape, [2, 2]);
    assert_eq!(s1.to_vec::<f64>().unwrap(), [-3.0, 4.0, 5.0, 6.0]);
    let nd = s1.to_ndarray::<f64>().unwrap();
    assert_eq!(nd[[1, 0]], 5.0);
    assert_eq!(d.array_slice("a", 3..3).unwrap().shape, [0, 2]);
    let old = d.array("old").unwrap();
    assert_eq!(old.encoding, Encoding::V1);
    assert_eq!(old.to_vec::<i32>().unwrap(), [1, -2, 3]);
    let info = d.array_info("a").unwrap();
    assert_eq!(
        (info.nbytes, info.row_bytes(), info.rows()),
        (48, 16, Some(3))
    );
    assert_eq!(&f[info.data_offset as usize..][..8], &1.0f64.to_le_bytes());

    assert_eq!(&d.value_bytes("n").unwrap()[..], b"K\x06");
    let p = d.get_pickle("n").unwrap();
    assert_eq!(*p.value(p.root()), Value::Int(pickle_ops::PyInt::Small(6)));
    let p = d.get_pickle("list").unwrap();
    let Value::List(items) = &*p.value(p.root()) else {
        panic!("not a list")
    };
    assert_eq!(items.len(), 5);
    // Arrays resolve as numpy rule 3 says.
    let p = d.get_pickle("a").unwrap();
    assert!(matches!(&*p.value(p.root()), Value::NdArray(_)));

    let m = d.masked("m").unwrap();
    assert_eq!(m.mask_kind, MaskKind::Elementwise);
    assert_eq!(m.data.to_vec::<i16>().unwrap(), [1, 2]);
    assert_eq!(m.mask.to_vec::<bool>().unwrap(), [false, true]);
    // Everything came from the cached first read.
    assert_eq!(d.stats().requests, 1);
    assert!(d.stats().cache_hits > 5);
}

#[test]
fn a_1_mib_slice_of_a_1_gib_array_moves_1_mib() {
    let s = Server::start();
    // 1 GiB of f32: 262144 rows of 1024; the file is allocated zeroed.
    let (mut f, offs) = sparse_file(&[("small", "<u1", &[4]), ("cube", "<f4", &[262_144, 1024])]);
    let row = 4096u64;
    let (r0, r1) = (100_000u64, 100_256u64); // 256 rows = 1 MiB
    for r in [r0, r1 - 1] {
        let at = (offs[1] + r * row) as usize;
        f[at..at + 4].copy_from_slice(&(r as f32).to_le_bytes());
    }
    s.put("big.mmpk", f);
    let d = RemoteDict::open(&s.url("big.mmpk"), Options::new()).unwrap();
    let (req0, bytes0) = s.counters();
    assert_eq!(d.keys(), ["small", "cube"]);
    assert!(req0 <= 3, "index read took {req0} requests");
    assert!(bytes0 < 80 << 10, "index read moved {bytes0} bytes");
    let sl = d.array_slice("cube", r0..r1).unwrap();
    let (req1, bytes1) = s.counters();
    assert_eq!(sl.shape, [256, 1024]);
    let v = sl.to_vec::<f32>().unwrap();
    assert_eq!(v[0], r0 as f32);
    assert_eq!(v[255 * 1024], (r1 - 1) as f32);
    assert_eq!(req1 - req0, 1);
    assert!(bytes1 - bytes0 <= (1 << 20) + (1 << 20) / 10);
    // Again: from the cache.
    assert_eq!(d.array_slice("cube", r0 + 1..r1 - 1).unwrap().shape[0], 254);
    assert_eq!(s.counters().0, req1);
    // The 4-byte array came with the first read.
    assert_eq!(d.array("small").unwrap().data, [0; 4]);
    assert_eq!(s.counters().0, req1);
}

#[test]
fn the_index_of_big_arrays_costs_a_few_kib() {
    let s = Server::start();
    let shape: &[u64] = &[4096, 4096];
    let (f, _) = sparse_file(&[
        ("x", "<f8", shape),
        ("y", "<i2", shape),
        ("z", "|u1", shape),
    ]);
    let total = f.len();
    s.put("f.mmpk", f);
    let d = RemoteDict::open(&s.url("f.mmpk"), Options::new().readahead(4096)).unwrap();
    let (req, bytes) = s.counters();
    assert_eq!(d.keys(), ["x", "y", "z"]);
    assert_eq!(d.tail(), &Tail::Clean);
    assert!(req <= 1 + 3 * 2, "{req} requests");
    assert!(bytes < 24 << 10, "{bytes} bytes of {total}");
    // The dtype and shape are known without another request.
    let i = d.array_info("y").unwrap();
    assert_eq!((i.dtype.str().as_str(), i.shape.as_slice()), ("<i2", shape));
    assert_eq!(s.counters().0, req);
}

#[test]
fn ranges_are_coalesced_and_split() {
    let s = Server::start();
    let (f, offs) = sparse_file(&[("a", "<u1", &[8 << 20])]);
    s.put("f.mmpk", f.clone());
    let opts = Options::new().max_request(1 << 20).concurrency(3);
    let d = RemoteDict::open(&s.url("f.mmpk"), opts).unwrap();
    let (req0, _) = s.counters();
    let a = d.array("a").unwrap();
    assert_eq!(a.data.len(), 8 << 20);
    assert_eq!(&a.data[..], &f[offs[0] as usize..][..8 << 20]);
    // Eight requests of 1 MiB (less what the first read already had).
    let n = s.counters().0 - req0;
    assert!((8..=9).contains(&n), "{n} requests");
}

#[test]
fn near_slices_are_read_together() {
    let s = Server::start();
    let (f, _) = sparse_file(&[("a", "<u4", &[1 << 20, 16])]);
    s.put("f.mmpk", f);
    let d = RemoteDict::open(&s.url("f.mmpk"), Options::new().cache_bytes(0)).unwrap();
    let (req0, bytes0) = s.counters();
    // 64-byte rows: 100..200 and 300..400 are 6400 bytes apart: one GET.
    let v = d
        .array_slices("a", &[100..200, 300..400, 200_000..200_010])
        .unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(
        (v[0].shape[0], v[1].shape[0], v[2].shape[0]),
        (100, 100, 10)
    );
    let (req1, bytes1) = s.counters();
    assert_eq!(req1 - req0, 2);
    assert_eq!(bytes1 - bytes0, 300 * 64 + 10 * 64);
    assert!(matches!(
        d.array_slices("a", &[0..1, 5..(1 << 21)]),
        Err(mmpk_remote::Error::BadSlice { .. })
    ));
}

#[test]
fn real_mmappickle_files_read_remotely() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mmappickle");
    let s = Server::start();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "mmpk") {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).unwrap();
        s.put(&name, bytes.clone());
        let d = RemoteDict::open(&s.url(&name), quick()).unwrap();
        let local = scan(&bytes).unwrap();
        let mut want: Vec<(usize, &str)> = local
            .live_index()
            .into_iter()
            .map(|(k, i)| (i, k))
            .collect();
        want.sort();
        let want: Vec<&str> = want.into_iter().map(|(_, k)| k).collect();
        assert_eq!(d.keys(), want, "{name}");
        for k in d.keys() {
            // Every value decodes as the local bytes do.
            let e = d.entry(&k).unwrap();
            let span = e.value_offset as usize..(e.value_offset + e.value_len) as usize;
            let local_value = mmpk_format::generic::decode_value(
                &bytes[span.clone()],
                span.start,
                &Default::default(),
            );
            assert_eq!(d.get_pickle(&k).is_ok(), local_value.is_ok(), "{name} {k}");
            if let Ok(a) = mmpk_format::array::read_array(&bytes, span) {
                let r = d.array(&k).unwrap();
                assert_eq!((&r.dtype, &r.shape), (&a.dtype, &a.shape), "{name} {k}");
                assert_eq!(&r.data[..], &bytes[a.data], "{name} {k}");
            }
        }
        n += 1;
    }
    assert!(n >= 20, "{n} fixtures");
}

#[test]
fn a_remote_dict_is_shared_across_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<RemoteDict>();
    let s = Server::start();
    let (f, _) = sparse_file(&[("a", "<u2", &[1 << 20])]);
    s.put("f.mmpk", f);
    let d = RemoteDict::open(&s.url("f.mmpk"), quick()).unwrap();
    std::thread::scope(|sc| {
        for t in 0..4u64 {
            let d = &d;
            sc.spawn(move || {
                let r = d.array_slice("a", t * 1000..t * 1000 + 500).unwrap();
                assert_eq!(r.data.len(), 1000);
            });
        }
    });
}

#[test]
fn arrays_with_long_prefixes_and_structured_dtypes_read_remotely() {
    use mmpk_format::array::read_array;
    use mmpk_format::dtype::Dtype;
    use mmpk_format::write::{array_tail, write_array_head};
    let s = Server::start();
    let mut b = Builder::new(1);
    // A v2 array whose prefix has 700 memo stores before its raw bytes
    // (beyond the 1 KiB of value the index read keeps).
    let n = 1u64 << 20;
    let mut v = Vec::new();
    write_array_head(&mut v, Encoding::V2, n);
    let at = v.iter().position(|&b| b == 0x93).unwrap() + 1;
    let memo: Vec<u8> = std::iter::repeat_n([b'q', 1], 700).flatten().collect();
    v.splice(at..at, memo);
    let raw: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    v.extend_from_slice(&raw);
    let d = Dtype::parse("<u2").unwrap();
    v.extend_from_slice(&array_tail(Encoding::V2, &d, &[n / 2]).unwrap());
    assert!(read_array(&v, 0..v.len()).is_ok());
    mmpk_format::write::write_entry(&mut b.bytes, "memo", &v, 0, true).unwrap();
    // A large structured array (its dtype is a descr list).
    let sd = Dtype::parse("[('x', '<f4'), ('y', '<i8', (2,))]").unwrap();
    let rows = 40_000u64;
    let raw2: Vec<u8> = (0..rows * 20).map(|i| (i % 7) as u8).collect();
    let mut w = Vec::new();
    mmpk_format::write::encode_array(&mut w, Encoding::V2, &sd, &[rows], &raw2).unwrap();
    mmpk_format::write::write_entry(&mut b.bytes, "rec", &w, 0, true).unwrap();
    s.put("f", b.finish());
    let r = RemoteDict::open(&s.url("f"), quick()).unwrap();
    let a = r.array("memo").unwrap();
    assert_eq!((a.shape.as_slice(), a.data == raw), (&[n / 2][..], true));
    let sl = r.array_slice("rec", 10..12).unwrap();
    assert_eq!(sl.dtype, sd);
    assert_eq!(sl.data, raw2[200..240]);
}

/// A small array right after a large one: its value is read partly from
/// the window cached after the large entry's tail, partly fetched.
#[test]
fn a_small_array_after_a_large_one() {
    let s = Server::start();
    let big: Vec<u8> = (0..296_000u32).map(|i| i as u8).collect();
    let small: Vec<u8> = (0..12_108u32).map(|i| (i % 7) as u8).collect();
    let mut b = Builder::new(1);
    b.array("big", Encoding::V2, "<f8", &[1000, 37], &big)
        .array("small", Encoding::V2, "<f4", &[1009, 3], &small)
        .array("next", Encoding::V2, "<u1", &[3], &[1, 2, 3]);
    s.put("f.mmpk", b.finish());
    let d = RemoteDict::open(&s.url("f.mmpk"), quick()).unwrap();
    assert_eq!(d.array("small").unwrap().data, small);
    assert_eq!(d.array("next").unwrap().data, [1, 2, 3]);
    assert_eq!(d.array("big").unwrap().data, big);
}
