//! Arrays streamed in from a file range or a reader (`insert_array_with`,
//! `insert_array_from`), with the platform's calls and with the portable
//! fallbacks (`mmpk::platform::force_portable`).

use std::io::Write;
use std::os::unix::fs::FileExt;

use mmpk::fault::{self, Fault};
use mmpk::platform::force_portable;

use crate::{create, open_ro, scan_clean, tmp};

/// Runs `t` with the platform's calls, then with the fallbacks.
fn both(t: impl Fn()) {
    t();
    force_portable(true);
    t();
    force_portable(false);
}

fn source(bytes: &[u8]) -> (tempfile::TempDir, std::fs::File) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("src");
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    let f = std::fs::File::open(&p).unwrap();
    (dir, f)
}

#[test]
fn a_file_range_becomes_an_array() {
    both(|| {
        let (_d, p) = tmp();
        let d = create(&p);
        let vals: Vec<u32> = (0..300_000).map(|i| i * 3 + 1).collect();
        let mut bytes = b"HEADER!".to_vec();
        bytes.extend(vals.iter().flat_map(|v| v.to_le_bytes()));
        let (_s, src) = source(&bytes);
        d.insert_array_with("a", "<u4", &[1000, 300], |data| {
            assert_eq!(data.len(), 1_200_000);
            data.copy_from_file(&src, 7, 0, data.len())
        })
        .unwrap();
        scan_clean(&p);
        let r = open_ro(&p);
        let a = r.array("a").unwrap();
        let v = a.view::<u32>().unwrap();
        assert_eq!(v[[999, 299]], 299_999 * 3 + 1);
        assert_eq!(v[[1, 0]], 901);
    });
}

#[test]
fn a_reader_becomes_an_array_and_a_short_one_inserts_nothing() {
    both(|| {
        let (_d, p) = tmp();
        let d = create(&p);
        let bytes: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        d.insert_array_from("b", "|u1", &[3_000_001], &bytes[..])
            .unwrap();
        assert_eq!(d.array("b").unwrap().bytes(), &bytes[..]);
        let before = scan_clean(&p);
        let e = d
            .insert_array_from("c", "|u1", &[3_000_001], &bytes[..10])
            .unwrap_err();
        assert!(e.to_string().contains("write array data"), "{e}");
        assert!(!d.contains("c").unwrap());
        assert_eq!(d.keys().unwrap(), ["b"]);
        // The dict is as before (bytes past its end are trailing bytes).
        let now = std::fs::read(&p).unwrap();
        let s = mmpk_format::scan(&now).unwrap();
        assert_eq!(
            s.entries.len(),
            mmpk_format::scan(&before).unwrap().entries.len()
        );
        // A replace that fails keeps the old value.
        assert!(d.insert_array_from("b", "|u1", &[5], &[1u8][..]).is_err());
        assert_eq!(d.array("b").unwrap().bytes(), &bytes[..]);
    });
}

#[test]
fn writes_land_anywhere_in_the_range_and_only_there() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array_with("w", "<i2", &[2, 2], |data| {
        data.write_at(6, &[4, 0])?;
        data.write_at(0, &[1, 0])?;
        let e = data.write_at(7, &[0, 0]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(data.write_at(u64::MAX, &[0]).is_err());
        Ok(())
    })
    .unwrap();
    let a = d.array("w").unwrap();
    assert_eq!(a.view::<i16>().unwrap().as_slice().unwrap(), [1, 0, 0, 4]);
    // A failing closure inserts nothing.
    let e = d
        .insert_array_with("x", "<i2", &[2], |_| Err(std::io::Error::other("no")))
        .unwrap_err();
    let source = std::error::Error::source(&e).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("no"), "{e}");
    assert!(!d.contains("x").unwrap());
    assert!(d
        .insert_array_with("y", "nonsense", &[2], |_| Ok(()))
        .is_err());
}

#[test]
fn holes_of_a_sparse_source_read_as_zeros_and_written_bytes_are_not_skipped() {
    both(|| {
        let (_d, p) = tmp();
        let d = create(&p);
        let (_s, src) = source(b"");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(_s.path().join("src"))
            .unwrap();
        let len = 256u64 << 20;
        f.set_len(len).unwrap();
        f.write_all_at(b"\x07", 100 << 20).unwrap();
        d.insert_array_with("z", "|u1", &[len as usize], |data| {
            // Bytes written first, then a copy over them: the copy's zeros
            // must land (the range is no longer known to be zeros).
            data.write_at(0, &[9; 16])?;
            data.copy_from_file(&src, 0, 0, len)
        })
        .unwrap();
        let a = d.array("z").unwrap();
        let b = a.bytes();
        assert_eq!(b[0], 0);
        assert_eq!(b[100 << 20], 7);
        drop(a);
        d.insert_array_with("s", "|u1", &[len as usize], |data| {
            data.copy_from_file(&src, 0, 0, len)
        })
        .unwrap();
        assert_eq!(d.array("s").unwrap().bytes()[100 << 20], 7);
        assert_eq!(d.array("s").unwrap().bytes()[(100 << 20) + 1], 0);
    });
}

#[test]
fn a_full_disk_during_the_copy_inserts_nothing() {
    both(|| {
        let (_d, p) = tmp();
        let d = create(&p);
        d.insert_array_from("keep", "|u1", &[3], &[1u8, 2, 3][..])
            .unwrap();
        let (_s, src) = source(&[5u8; 4096]);
        for nth in 0..3 {
            fault::plan(nth, Fault::NoSpace, false);
            let r = d.insert_array_with("new", "|u1", &[4096], |data| {
                data.copy_from_file(&src, 0, 0, 4096)
            });
            fault::clear();
            if r.is_ok() {
                break;
            }
            assert!(!d.contains("new").unwrap());
            assert_eq!(d.array("keep").unwrap().bytes(), [1, 2, 3]);
        }
    });
}
