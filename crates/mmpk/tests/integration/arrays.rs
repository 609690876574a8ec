//! Arrays: every element type, layouts, alignment, views, errors.

use half::f16;
use mmpk::{ByteOrder, Dtype, DtypeKind, Encoding, Error, Layout, OpenOptions};
use ndarray::{arr0, arr2, Array, ArrayD, IxDyn, ShapeBuilder};
use num_complex::Complex;

use crate::{create, create_with, open, open_ro, scan_clean, tmp};

fn round_trip<T>(d: &mmpk::Dict, key: &str, a: ArrayD<T>)
where
    T: mmpk::Element + PartialEq + std::fmt::Debug,
{
    d.insert_array(key, &a).unwrap();
    let got = d.array(key).unwrap();
    assert_eq!(got.dtype(), &T::dtype());
    assert_eq!(got.view::<T>().unwrap(), a.view(), "{key}");
    assert_eq!(got.to_owned::<T>().unwrap(), a, "{key}");
}

#[test]
fn every_element_type_round_trips_zero_copy() {
    let (_d, p) = tmp();
    let d = create(&p);
    let sh = IxDyn(&[3, 4]);
    let f = |i: usize| i as f64 * 1.5 - 4.0;
    round_trip(
        &d,
        "u8",
        ArrayD::from_shape_fn(sh.clone(), |i| (i[0] * 4 + i[1]) as u8),
    );
    round_trip(
        &d,
        "u16",
        ArrayD::from_shape_fn(sh.clone(), |i| (i[0] * 1000 + i[1]) as u16),
    );
    round_trip(
        &d,
        "u32",
        ArrayD::from_shape_fn(sh.clone(), |i| (i[0] << 20) as u32 + i[1] as u32),
    );
    round_trip(
        &d,
        "u64",
        ArrayD::from_shape_fn(sh.clone(), |i| (i[0] as u64) << 40 | i[1] as u64),
    );
    round_trip(
        &d,
        "i8",
        ArrayD::from_shape_fn(sh.clone(), |i| i[0] as i8 - 5),
    );
    round_trip(
        &d,
        "i16",
        ArrayD::from_shape_fn(sh.clone(), |i| -(i[1] as i16) * 300),
    );
    round_trip(
        &d,
        "i32",
        ArrayD::from_shape_fn(sh.clone(), |i| -(i[1] as i32) << 20),
    );
    round_trip(
        &d,
        "i64",
        ArrayD::from_shape_fn(sh.clone(), |i| -(i[0] as i64) << 50),
    );
    round_trip(
        &d,
        "f32",
        ArrayD::from_shape_fn(sh.clone(), |i| f(i[0] + i[1]) as f32),
    );
    round_trip(
        &d,
        "f64",
        ArrayD::from_shape_fn(sh.clone(), |i| f(i[0] * i[1])),
    );
    round_trip(
        &d,
        "f16",
        ArrayD::from_shape_fn(sh.clone(), |i| f16::from_f64(f(i[1]))),
    );
    round_trip(
        &d,
        "c64",
        ArrayD::from_shape_fn(sh.clone(), |i| Complex::new(i[0] as f32, -(i[1] as f32))),
    );
    round_trip(
        &d,
        "c128",
        ArrayD::from_shape_fn(sh.clone(), |i| Complex::new(f(i[0]), f(i[1]))),
    );
    round_trip(
        &d,
        "bool",
        ArrayD::from_shape_fn(sh.clone(), |i| (i[0] + i[1]) % 3 == 0),
    );
    round_trip(&d, "zero_d", arr0(2.5f64).into_dyn());
    round_trip(&d, "empty", ArrayD::<i32>::zeros(IxDyn(&[0, 7])));
    round_trip(
        &d,
        "five_d",
        ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 2, 2]), |i| i[4] as u8),
    );
    // Dtype strings are numpy's.
    let descr = |k: &str| d.array(k).unwrap().dtype().str();
    assert_eq!(descr("bool"), "|b1");
    assert_eq!(descr("u8"), "|u1");
    if cfg!(target_endian = "little") {
        assert_eq!(descr("c128"), "<c16");
        assert_eq!(descr("f16"), "<f2");
    }
    // Reopened, everything is still there.
    drop(d);
    let d = open_ro(&p);
    assert_eq!(d.len().unwrap(), 17);
    assert_eq!(
        d.array("c64").unwrap().view::<Complex<f32>>().unwrap()[[2, 3]],
        Complex::new(2.0, -3.0)
    );
    scan_clean(&p);
}

#[test]
fn any_memory_layout_is_written_in_c_order() {
    let (_d, p) = tmp();
    let d = create(&p);
    let c = Array::from_shape_fn((4, 5), |(i, j)| (i * 10 + j) as i32);
    let fortran = Array::from_shape_fn((4, 5).f(), |(i, j)| (i * 10 + j) as i32);
    assert!(fortran.as_slice().is_none());
    d.insert_array("fortran", &fortran).unwrap();
    d.insert_array("transposed", &c.t()).unwrap();
    d.insert_array("strided", &c.slice(ndarray::s![..;2, 1..;2]))
        .unwrap();
    d.insert_array("reversed", &c.slice(ndarray::s![..;-1, ..]))
        .unwrap();
    for (k, want) in [
        ("fortran", c.clone().into_dyn()),
        ("transposed", c.t().to_owned().into_dyn()),
        (
            "strided",
            c.slice(ndarray::s![..;2, 1..;2]).to_owned().into_dyn(),
        ),
        (
            "reversed",
            c.slice(ndarray::s![..;-1, ..]).to_owned().into_dyn(),
        ),
    ] {
        let a = d.array(k).unwrap();
        let v = a.view::<i32>().unwrap();
        assert!(v.is_standard_layout());
        assert_eq!(v, want.view(), "{k}");
        let c_bytes: Vec<u8> = want.iter().flat_map(|x| x.to_ne_bytes()).collect();
        assert_eq!(a.bytes(), &c_bytes[..]);
    }
    // Larger than the chunk size, non-contiguous.
    let big = Array::from_shape_fn((600, 700), |(i, j)| (i * 700 + j) as u32);
    d.insert_array("big_t", &big.t()).unwrap();
    assert_eq!(
        d.array("big_t").unwrap().view::<u32>().unwrap(),
        big.t().into_dyn()
    );
}

#[test]
fn v2_data_is_aligned_and_fillers_are_deleted_entries() {
    for align in [8u64, 64, 512, 4096] {
        let (_d, p) = tmp();
        let d = create_with(&p, OpenOptions::new().align(align));
        for (i, k) in ["a", "bb", "", "a-much-longer-key", "é"].iter().enumerate() {
            let a = Array::from_elem(i + 1, i as f64);
            d.insert_array(k, &a).unwrap();
            let info = d.array(k).unwrap().info().clone();
            assert_eq!(info.data_offset % align, 0, "{align} {k}");
            assert_eq!(info.encoding, Encoding::V2);
        }
        let bytes = scan_clean(&p);
        let s = mmpk_format::scan(&bytes).unwrap();
        assert_eq!(s.live_index().len(), 5);
        for e in &s.entries {
            assert!(e.kind != mmpk_format::scan::EntryKind::Deleted);
        }
    }
}

#[test]
fn mmappickle1_layout_writes_v1_without_fillers() {
    let (_d, p) = tmp();
    let d = create_with(&p, OpenOptions::new().layout(Layout::Mmappickle1));
    d.insert_array("a", &arr2(&[[1.0f64, 2.0], [3.0, 4.0]]))
        .unwrap();
    d.insert_array("b", &ndarray::arr1(&[7u64])).unwrap();
    let a = d.array("a").unwrap();
    assert_eq!(a.info().encoding, Encoding::V1);
    assert_eq!(a.info().entry_offset, 24);
    // Raw bytes at 24 + 11 + 1 + 70 + 9 = 115: not aligned for f64.
    assert_eq!(a.info().data_offset, 115);
    match a.view::<f64>() {
        Err(Error::Misaligned {
            offset: 115,
            align: 8,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.to_owned::<f64>().unwrap(),
        arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn()
    );
    let bytes = scan_clean(&p);
    let s = mmpk_format::scan(&bytes).unwrap();
    assert_eq!(s.entries.len(), 2);
    let v = mmpk_format::array::decode_array(&bytes, s.entries[0].entry.value_span()).unwrap();
    assert_eq!(
        v.dtype,
        if cfg!(target_endian = "little") {
            "float64"
        } else {
            ">f8"
        }
    );
}

#[test]
fn raw_bytes_with_any_byte_order() {
    let (_d, p) = tmp();
    let d = create(&p);
    let vals = [1.5f64, -2.0, 1e300];
    let be: Vec<u8> = vals.iter().flat_map(|x| x.to_be_bytes()).collect();
    d.insert_bytes("be", ">f8", &[3], &be).unwrap();
    let a = d.array("be").unwrap();
    assert_eq!(a.dtype().byte_order(), ByteOrder::Big);
    if cfg!(target_endian = "little") {
        assert!(matches!(a.view::<f64>(), Err(Error::ByteOrder { .. })));
    }
    assert_eq!(a.to_owned::<f64>().unwrap().as_slice().unwrap(), vals);
    assert_eq!(a.bytes(), &be[..]);
    // Strings and datetimes: raw bytes, and datetime64 as i64.
    d.insert_bytes("s", "|S3", &[2], b"abcxyz").unwrap();
    assert_eq!(d.array("s").unwrap().bytes(), b"abcxyz");
    assert!(
        matches!(d.array("s").unwrap().dtype(), Dtype::Scalar(s) if s.kind() == DtypeKind::Bytes)
    );
    let t: Vec<u8> = [5i64, -7].iter().flat_map(|x| x.to_le_bytes()).collect();
    d.insert_bytes("t", "<M8[ns]", &[2], &t).unwrap();
    assert_eq!(
        d.array("t")
            .unwrap()
            .to_owned::<i64>()
            .unwrap()
            .as_slice()
            .unwrap(),
        [5, -7]
    );
    assert_eq!(d.array("t").unwrap().dtype().str(), "<M8[ns]");
    // Mismatched lengths and unknown dtypes.
    assert!(matches!(
        d.insert_bytes("x", "<f8", &[2], &[0; 15]),
        Err(Error::ShapeMismatch {
            expected: Some(16),
            found: 15,
            ..
        })
    ));
    for bad in ["O", "|O8", "<f3", "object", "[('x', '|O8')]"] {
        assert!(
            matches!(
                d.insert_bytes("x", bad, &[1], &[0; 8]),
                Err(Error::UnsupportedDtype { .. })
            ),
            "{bad}"
        );
    }
    assert!(!d.contains("x").unwrap());
    assert_eq!(Dtype::parse("<U5").unwrap().itemsize(), 20);
    // Structured dtypes: raw bytes in, the same dtype and bytes out; no
    // typed view.
    let rec: Vec<u8> = (0..24u8).collect();
    d.insert_bytes("rec", "[('x', '<f4'), ('y', '<i8')]", &[2], &rec)
        .unwrap();
    let r = d.array("rec").unwrap();
    assert_eq!(r.bytes(), &rec[..]);
    assert_eq!(r.dtype().itemsize(), 12);
    assert_eq!(
        r.dtype().descr().to_string(),
        "[('x', '<f4'), ('y', '<i8')]"
    );
    assert!(matches!(r.view::<f32>(), Err(Error::WrongType { .. })));
}

#[test]
fn the_mmappickle_layout_refuses_structured_dtypes() {
    let (_d, p) = tmp();
    // SAFETY: a private temporary file.
    let d = unsafe {
        OpenOptions::new()
            .create(true)
            .layout(Layout::Mmappickle1)
            .open(&p)
            .unwrap()
    };
    assert!(matches!(
        d.insert_bytes("rec", "[('x', '<f4')]", &[1], &[0; 4]),
        Err(Error::Format { .. })
    ));
    assert!(d.is_empty().unwrap());
}

#[test]
fn wrong_types_and_invalid_bools_are_typed_errors() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("f", &ndarray::arr1(&[1.0f32])).unwrap();
    let a = d.array("f").unwrap();
    match a.view::<f64>() {
        Err(Error::WrongType {
            key,
            requested: "f64",
            ..
        }) => assert_eq!(key, "f"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(a.view::<i32>(), Err(Error::WrongType { .. })));
    assert!(matches!(a.to_owned::<u32>(), Err(Error::WrongType { .. })));
    drop(a);
    d.insert_bytes("b", "|b1", &[3], &[0, 1, 2]).unwrap();
    let b = d.array("b").unwrap();
    assert!(matches!(b.view::<bool>(), Err(Error::InvalidBool { .. })));
    assert_eq!(
        b.to_owned::<bool>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [false, true, true]
    );
    assert!(matches!(b.view::<u8>(), Err(Error::WrongType { .. })));
    d.insert_pickle("v", &int_pickle(5)).unwrap();
    assert!(matches!(d.array("v"), Err(Error::NotAnArray { .. })));
}

pub fn int_pickle(v: i64) -> mmpk::Pickle {
    let mut p = mmpk::Pickle::new();
    let id = p.push(mmpk::pickle_ops::Value::int(v));
    p.set_root(id);
    p
}

#[test]
fn mutable_views_are_exclusive_and_land_in_the_file() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("m", &Array::<f64, _>::zeros((4, 4)))
        .unwrap();
    {
        let mut m = d.array_mut("m").unwrap();
        assert!(matches!(d.array_mut("m"), Err(Error::Busy { .. })));
        assert!(matches!(d.array("m"), Err(Error::Busy { .. })));
        let mut v = m.view_mut::<f64>().unwrap();
        v[[1, 2]] = 42.0;
        v.index_axis_mut(ndarray::Axis(0), 3).fill(-1.0);
        assert!(matches!(m.view_mut::<f32>(), Err(Error::WrongType { .. })));
    }
    // Shared handles coexist, and exclude a mutable one.
    let r1 = d.array("m").unwrap();
    let r2 = d.array("m").unwrap();
    assert!(matches!(d.array_mut("m"), Err(Error::Busy { .. })));
    assert_eq!(r1.view::<f64>().unwrap()[[1, 2]], 42.0);
    drop((r1, r2));
    // Another dict on the same file (another open file description) sees it.
    let other = open(&p);
    assert_eq!(
        other.array("m").unwrap().view::<f64>().unwrap()[[3, 0]],
        -1.0
    );
    // Raw bytes too.
    d.array_mut("m").unwrap().bytes_mut()[0..8].copy_from_slice(&7.0f64.to_ne_bytes());
    assert_eq!(
        other.array("m").unwrap().view::<f64>().unwrap()[[0, 0]],
        7.0
    );
    // Writes land in the file itself.
    drop((d, other));
    let bytes = std::fs::read(&p).unwrap();
    let d = open_ro(&p);
    let off = d.array("m").unwrap().info().data_offset as usize;
    assert_eq!(&bytes[off..off + 8], &7.0f64.to_ne_bytes());
}

#[test]
fn views_outlive_remaps_and_removal() {
    let (_d, p) = tmp();
    let d = create(&p);
    d.insert_array("first", &ndarray::arr1(&[1u32, 2, 3]))
        .unwrap();
    let held = d.array("first").unwrap();
    // Grow the file a lot: the dict maps it again for new entries.
    for i in 0..50 {
        d.insert_array(&format!("k{i}"), &Array::from_elem(10_000, i as u32))
            .unwrap();
        assert_eq!(
            d.array(&format!("k{i}")).unwrap().view::<u32>().unwrap()[9_999],
            i as u32
        );
    }
    d.remove("first").unwrap();
    assert!(matches!(d.array("first"), Err(Error::KeyNotFound { .. })));
    // The old handle still reads its (deleted, not vacuumed) bytes.
    assert_eq!(
        held.view::<u32>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // The dict is shared across threads; handles are Send.
    let t = std::thread::spawn(move || held.view::<u32>().unwrap().sum());
    assert_eq!(t.join().unwrap(), 6);
}

#[test]
fn masked_arrays_round_trip_aligned() {
    use mmpk::MaskKind;
    let (_d, p) = tmp();
    let d = create(&p);
    let data = arr2(&[[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let mask = arr2(&[[true, false, false], [false, true, false]]);
    d.insert_masked("m", &data, Some(&mask)).unwrap();
    d.insert_masked::<_, _, _, ndarray::OwnedRepr<bool>>("n", &data.t(), None)
        .unwrap();
    let m = d.masked("m").unwrap();
    assert_eq!(m.mask_kind(), MaskKind::Elementwise);
    assert_eq!(m.data().view::<f64>().unwrap(), data.clone().into_dyn());
    assert_eq!(m.data().info().data_offset % 64, 0);
    assert_eq!(m.mask().view::<bool>().unwrap(), mask.clone().into_dyn());
    // Both parts share one entry: a mutable view of it is refused meanwhile.
    assert!(matches!(
        d.array_mut("m"),
        Err(Error::NotAnArray { .. }) | Err(Error::Busy { .. })
    ));
    let n = d.masked("n").unwrap();
    assert_eq!(n.mask_kind(), MaskKind::Nomask);
    assert_eq!(n.data().view::<f64>().unwrap(), data.t().into_dyn());
    assert!(n.mask_owned().unwrap().iter().all(|&b| !b));
    assert!(matches!(d.masked("nope"), Err(Error::KeyNotFound { .. })));
    d.insert_array("plain", &data).unwrap();
    assert!(matches!(d.masked("plain"), Err(Error::NotAnArray { .. })));
    assert!(matches!(
        d.insert_masked("bad", &data, Some(&arr2(&[[true]]))),
        Err(Error::ShapeMismatch { .. })
    ));
    scan_clean(&p);
}

#[test]
fn two_dicts_on_one_file_share_the_borrow_rules() {
    let (_d, p) = tmp();
    let a = create(&p);
    a.insert_array("x", &ndarray::arr1(&[1u32, 2])).unwrap();
    let b = open(&p);
    let r = a.array("x").unwrap();
    assert!(matches!(b.array_mut("x"), Err(Error::Busy { .. })));
    drop(r);
    let mut w = b.array_mut("x").unwrap();
    assert!(matches!(a.array("x"), Err(Error::Busy { .. })));
    w.view_mut::<u32>().unwrap()[0] = 9;
    drop(w);
    assert_eq!(a.array("x").unwrap().view::<u32>().unwrap()[0], 9);
}
