//! Converting a plain pickled dict into an mmpk file in place.

use mmpk::{Error, OpenOptions, Value};

use crate::fixtures::b64;
use crate::tmp;

fn numpy_fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/numpy")
        .join(name);
    let b = std::fs::read(p).unwrap();
    // Drop PROTO (and the first FRAME) and STOP: the ops of one value.
    let start = if b[2] == 0x95 { 11 } else { 2 };
    b[start..b.len() - 1].to_vec()
}

fn key(out: &mut Vec<u8>, k: &str) {
    out.push(0x8c);
    out.push(k.len() as u8);
    out.extend_from_slice(k.as_bytes());
}

/// `pickle.dumps({'arr': <np2 2x3 f8>, 'be': <np1 >f8 at protocol 2>,
/// 'masked': <np2 masked array at protocol 2>, 'n': 5}, 4)`, assembled from
/// the fixtures' own pickles (the first uses MEMOIZE from 0; the others
/// number their memo explicitly).
pub fn plain_dict() -> Vec<u8> {
    let mut p = vec![0x80, 4, b'}', b'('];
    key(&mut p, "arr");
    p.extend(numpy_fixture("np2/shape_2x3.p4.pkl"));
    key(&mut p, "be");
    p.extend(numpy_fixture("np1/dt_f8be.p2.pkl"));
    key(&mut p, "masked");
    p.extend(numpy_fixture("np2/masked_with_mask.p2.pkl"));
    key(&mut p, "n");
    p.extend_from_slice(b"K\x05");
    p.extend_from_slice(b"u.");
    p
}

#[test]
fn a_plain_pickled_dict_converts_in_place() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let (_d, p) = tmp();
    std::fs::write(&p, plain_dict()).unwrap();
    // Opening it is refused and changes nothing.
    // SAFETY: private test file.
    match unsafe { mmpk::Dict::open(&p) } {
        Err(Error::NotMmpk {
            plain_pickle: true, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // SAFETY: private test file.
    let d = unsafe { OpenOptions::new().convert(&p) }.unwrap();
    assert_eq!(d.keys().unwrap(), ["arr", "be", "masked", "n"]);
    let arr = d.array("arr").unwrap();
    assert_eq!(arr.dtype().str(), "<f8");
    assert_eq!(arr.shape(), &[2, 3]);
    assert_eq!(
        arr.bytes(),
        b64("AAAAAAAAAAAAAAAAAADwPwAAAAAAAABAAAAAAAAACEAAAAAAAAAQQAAAAAAAABRA")
    );
    assert_eq!(arr.info().data_offset % 64, 0);
    let be = d.array("be").unwrap();
    assert_eq!(be.dtype().str(), ">f8");
    assert_eq!(
        be.bytes(),
        b64("wAQAAAAAAAC/9AAAAAAAAAAAAAAAAAAAP/QAAAAAAABABAAAAAAAAEAOAAAAAAAA")
    );
    match d.get("masked").unwrap() {
        Value::Masked(m) => {
            assert_eq!(m.data().bytes(), b64("AAAAAAAAgD8AAABAAABAQAAAgEA="));
            assert_eq!(m.mask().bytes(), b64("AAEAAQA="));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(d.get("n").unwrap(), Value::Pickle(_)));
    crate::scan_clean(&p);
    // Converting an mmpk file just opens it.
    // SAFETY: private test file.
    let again = unsafe { OpenOptions::new().convert(&p) }.unwrap();
    assert_eq!(again.len().unwrap(), 4);
    assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
}

#[test]
fn what_is_not_a_pickled_dict_is_left_alone() {
    let (_d, p) = tmp();
    for bytes in [
        b"\x80\x04]\x94.".to_vec(),         // a list
        b"\x80\x04}(K\x01K\x02u.".to_vec(), // an int key
        b"not a pickle".to_vec(),
        b"\x80\x04}(\x8c\x01a".to_vec(), // truncated
    ] {
        std::fs::write(&p, &bytes).unwrap();
        // SAFETY: private test file.
        let e = unsafe { OpenOptions::new().convert(&p) }.unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
