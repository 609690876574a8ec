//! Reads pinned to an entry ([`RemoteObject::read_pinned`]) across appends
//! and rewrites, and masked arrays located without their raw bytes
//! ([`RemoteDict::masked_info`]).

use mmpk_format::array::Encoding;
use mmpk_format::dtype::Dtype;
use mmpk_format::write::{encode_masked, write_entry};
use mmpk_remote::{EntryPin, Error, MaskKind, ObjectVersion, RemoteDict, RemoteObject};

use crate::files::Builder;
use crate::quick;
use crate::server::{Mode, Server};

fn big_rows() -> Vec<u8> {
    (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

#[test]
fn pinned_reads_follow_appends_and_refuse_rewrites() {
    let s = Server::start();
    let raw = big_rows();
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u4", &[1000, 100], &raw);
    let f = b.finish();
    s.put("f", f.clone());
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    let info = d.array_info("a").unwrap();
    let pin = d.pin("a").unwrap();
    // The pin crosses a process boundary as its parts.
    let v = pin.version.clone();
    let pin = EntryPin::new(
        ObjectVersion::new(v.size, v.etag.clone(), v.last_modified_ms),
        pin.key.clone(),
        pin.offset,
        pin.len,
        pin.memo_max,
    );
    assert_eq!(pin, d.pin("a").unwrap());
    // A worker: no index read, one GET for the rows.
    let o = RemoteObject::open(&s.url("f"), quick()).unwrap();
    let rows = |o: &RemoteObject, r: std::ops::Range<u64>| {
        let at = info.data_offset + r.start * 400..info.data_offset + r.end * 400;
        o.read_pinned(&pin, &[at]).map(|mut v| v.pop().unwrap())
    };
    let (req0, _) = s.counters();
    assert_eq!(&rows(&o, 10..12).unwrap()[..], &raw[4000..4800]);
    assert_eq!(s.counters().0 - req0, 1);
    assert_eq!(o.stats().requests, 1);

    // A writer appends: the rows are still there, re-validated.
    let mut b = Builder::reopen(f.clone(), 2);
    b.ops("x", b"K\x07", true);
    let g = b.finish();
    s.put("f", g.clone());
    assert_eq!(&rows(&o, 999..1000).unwrap()[..], &raw[399_600..]);
    assert_ne!(o.version_for(&pin), pin.version);
    let (req1, _) = s.counters();
    assert_eq!(&rows(&o, 0..1).unwrap()[..], &raw[..400]);
    assert_eq!(s.counters().0 - req1, 1, "the new version is remembered");
    // The dict's own handle shares its connections.
    assert_eq!(&rows(&d.object(), 5..6).unwrap()[..], &raw[2000..2400]);

    // The key is replaced (the old entry is dead, its bytes stay).
    let mut h = g.clone();
    let e = d.entry("a").unwrap();
    h[(e.end() - 2) as usize] = 0x30;
    let mut b = Builder::reopen(h, 3);
    b.array("a", Encoding::V2, "<u1", &[1], &[1]);
    s.put("f", b.finish());
    assert_eq!(&rows(&o, 1..2).unwrap()[..], &raw[400..800]);

    // Vacuumed or replaced: another entry at its place.
    let mut b = Builder::new(4);
    b.array("zz", Encoding::V2, "<u4", &[1000, 100], &raw);
    s.put("f", b.finish());
    let err = rows(&o, 1..2).unwrap_err();
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(err.to_string().contains("rewritten"), "{err}");
    // Shrunk below the entry.
    s.put("f", f[..100].to_vec());
    assert!(matches!(rows(&o, 1..2), Err(Error::Changed { .. })));
    // A range outside the entry is refused without a request.
    let (req2, _) = s.counters();
    assert!(o.read_pinned(&pin, std::slice::from_ref(&(0..10))).is_err());
    assert_eq!(s.counters().0, req2);
}

/// The documented limit: another object whose entry has the same frame at
/// the same place (the same writer run again with other numbers) passes the
/// re-validation, and its rows are read as they are now.
#[test]
fn a_rewrite_with_the_same_frame_is_read_as_it_is_now() {
    let s = Server::start();
    let raw = big_rows();
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u4", &[1000, 100], &raw);
    s.put("f", b.finish());
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    let info = d.array_info("a").unwrap();
    let pin = d.pin("a").unwrap();
    let o = RemoteObject::open(&s.url("f"), quick()).unwrap();
    let at = info.data_offset..info.data_offset + 400;
    assert_eq!(
        &o.read_pinned(&pin, std::slice::from_ref(&at)).unwrap()[0][..],
        &raw[..400]
    );

    let other: Vec<u8> = raw.iter().map(|b| b ^ 0xff).collect();
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u4", &[1000, 100], &other);
    s.put("f", b.finish());
    let got = o.read_pinned(&pin, std::slice::from_ref(&at)).unwrap();
    assert_eq!(&got[0][..], &other[..400], "not told apart from an append");
    assert_ne!(o.version_for(&pin), pin.version);
}

#[test]
fn pinned_reads_into_buffers_follow_appends_and_refuse_rewrites() {
    let s = Server::start();
    let raw = big_rows();
    let mask: Vec<u8> = (0..100_000u32).map(|i| (i % 3 == 0) as u8).collect();
    let mut b = Builder::new(1);
    b.masked("m", "<u4", &[1000, 100], &raw, &mask);
    let f = b.finish();
    s.put("f", f.clone());
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    let info = d.masked_info("m").unwrap();
    let pin = d.pin("m").unwrap();
    let (data_at, mask_at) = (info.data.data_offset, info.mask.data_offset);
    // One GET per destination, whatever `max_request` (which splits the
    // crate's own buffered reads): the 400 KB of data and the 100 KB of
    // mask are two requests, in flight together, each written in place.
    let o = RemoteObject::open(&s.url("f"), quick().max_request(64 << 10)).unwrap();
    let read = |o: &RemoteObject, rows: std::ops::Range<usize>| {
        let mut data = vec![0xeeu8; (rows.end - rows.start) * 400];
        let mut m = vec![0xeeu8; (rows.end - rows.start) * 100];
        let mut empty = [0u8; 0];
        o.read_pinned_into(
            &pin,
            &mut [
                (data_at + rows.start as u64 * 400, &mut data[..]),
                (mask_at + rows.start as u64 * 100, &mut m[..]),
                (data_at, &mut empty[..]),
            ],
        )
        .map(|()| (data, m))
    };
    let (req0, _) = s.counters();
    let (data, m) = read(&o, 0..1000).unwrap();
    assert_eq!(data, raw);
    assert_eq!(m, mask);
    assert_eq!(s.counters().0 - req0, 2, "one GET per destination");
    // Parts given as destinations of their own are one GET each.
    let (req0, _) = s.counters();
    let mut parts = vec![0u8; 400_000];
    {
        let mut reads: Vec<(u64, &mut [u8])> = parts
            .chunks_mut(150_000)
            .enumerate()
            .map(|(i, p)| (data_at + i as u64 * 150_000, p))
            .collect();
        o.read_pinned_into(&pin, &mut reads).unwrap();
    }
    assert_eq!(parts, raw);
    assert_eq!(s.counters().0 - req0, 3, "one GET per part given");
    let (data, m) = read(&o, 10..12).unwrap();
    assert_eq!((&data[..], &m[..]), (&raw[4000..4800], &mask[1000..1200]));

    // A writer appends: re-validated, then read from the new version.
    let mut b = Builder::reopen(f.clone(), 2);
    b.ops("x", b"K\x07", true);
    s.put("f", b.finish());
    let (data, m) = read(&o, 999..1000).unwrap();
    assert_eq!((&data[..], &m[..]), (&raw[399_600..], &mask[99_900..]));
    assert_ne!(o.version_for(&pin), pin.version);
    let (req1, _) = s.counters();
    read(&o, 0..1).unwrap();
    assert_eq!(s.counters().0 - req1, 2, "the new version is remembered");

    // Rewritten: another entry at its place.
    let mut b = Builder::new(3);
    b.masked("zz", "<u4", &[1000, 100], &raw, &mask);
    s.put("f", b.finish());
    let err = read(&o, 1..2).unwrap_err();
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(err.to_string().contains("rewritten"), "{err}");

    // Ranges outside the entry, or running past its end, are refused
    // without a request; so is one whose end overflows.
    s.put("f", f.clone());
    let o = RemoteObject::open(&s.url("f"), quick()).unwrap();
    let (req2, _) = s.counters();
    let mut buf = [0u8; 10];
    for at in [0, pin.offset + pin.len - 5, u64::MAX - 3] {
        let err = o
            .read_pinned_into(&pin, &mut [(at, &mut buf[..])])
            .unwrap_err();
        assert!(matches!(err, Error::BadUrl { .. }), "{err}");
    }
    assert_eq!(s.counters().0, req2);

    // A body cut short: a typed error, not a short read.
    s.set_mode(Mode::CutBody(1000));
    let mut buf = vec![0u8; 4000];
    let err = o
        .read_pinned_into(&pin, &mut [(data_at, &mut buf[..])])
        .unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
}

#[test]
fn masked_info_locates_data_and_mask_without_reading_them() {
    let s = Server::start();
    let raw = big_rows();
    let mask: Vec<u8> = (0..100_000u32).map(|i| (i % 7 == 0) as u8).collect();
    let mut b = Builder::new(1);
    b.masked("big", "<u4", &[1000, 100], &raw, &mask).masked(
        "small",
        "<i2",
        &[2],
        &[1, 0, 2, 0],
        &[0, 1],
    );
    // A large masked array without a mask (0-d False), v1.
    let mut v = Vec::new();
    let d4 = Dtype::parse("<u4").unwrap();
    encode_masked(&mut v, Encoding::V1, &d4, &[100_000], &raw, None).unwrap();
    let mut f = b.finish();
    f.truncate(f.len() - mmpk_format::header::TERMINATOR.len());
    write_entry(&mut f, "nomask", &v, 0, true).unwrap();
    f.extend_from_slice(&mmpk_format::header::TERMINATOR);
    s.put("f", f.clone());
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    let (_, bytes0) = s.counters();
    let m = d.masked_info("big").unwrap();
    let (_, bytes1) = s.counters();
    assert!(
        bytes1 - bytes0 < 100 << 10,
        "{} bytes read",
        bytes1 - bytes0
    );
    assert_eq!(m.mask_kind, MaskKind::Elementwise);
    assert_eq!(m.data.shape, [1000, 100]);
    assert_eq!(m.data.dtype.str(), "<u4");
    assert_eq!(m.mask.shape, [1000, 100]);
    let at =
        |i: &mmpk_remote::ArrayInfo| i.data_offset as usize..(i.data_offset + i.nbytes) as usize;
    assert_eq!(&f[at(&m.data)], &raw[..]);
    assert_eq!(&f[at(&m.mask)], &mask[..]);
    // The same as the whole value says.
    let whole = d.masked("big").unwrap();
    assert_eq!(whole.mask.data, mask);

    let m = d.masked_info("small").unwrap();
    assert_eq!(m.mask_kind, MaskKind::Elementwise);
    assert_eq!(&f[at(&m.data)], &[1, 0, 2, 0]);

    let m = d.masked_info("nomask").unwrap();
    assert_eq!(m.mask_kind, MaskKind::Nomask);
    assert_eq!(m.data.encoding, Encoding::V1);
    assert!(m.mask.shape.is_empty());
    assert_eq!(&f[at(&m.data)], &raw[..]);

    assert!(matches!(
        d.masked_info("missing"),
        Err(Error::KeyNotFound { .. })
    ));
}

#[test]
fn masked_info_refuses_other_kinds() {
    let s = Server::start();
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u4", &[100_000], &big_rows())
        .array("s", Encoding::V2, "<u1", &[1], &[1])
        .ops("v", b"K\x07", true);
    s.put("f", b.finish());
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    for k in ["a", "s", "v"] {
        assert!(
            matches!(d.masked_info(k), Err(Error::WrongKind { .. })),
            "{k}"
        );
    }
}
