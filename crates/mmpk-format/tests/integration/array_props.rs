//! Property tests of array values: encode -> decode round trips for random
//! dtypes (structured ones included) and shapes in both encodings, and
//! hostile inputs (truncations, flipped bytes, huge lengths, deep or
//! exploding dtypes) give typed errors, never panics.

use mmpk_format::array::{decode_array, nbytes, read_array, Encoding};
use mmpk_format::dtype::{ByteOrder, Dtype, DtypeKind, Field, Scalar, Structured, TimeUnit};
use mmpk_format::masked::read_masked;
use mmpk_format::write::encode_masked;
use mmpk_format::write::{encode_array, write_array_head, write_array_tail};
use mmpk_format::Error;
use proptest::prelude::*;

fn order() -> impl Strategy<Value = ByteOrder> {
    prop_oneof![
        Just(ByteOrder::Little),
        Just(ByteOrder::Big),
        Just(ByteOrder::NotApplicable)
    ]
}

fn unit() -> impl Strategy<Value = TimeUnit> {
    prop::sample::select(vec![
        TimeUnit::Generic,
        TimeUnit::Years,
        TimeUnit::Months,
        TimeUnit::Weeks,
        TimeUnit::Days,
        TimeUnit::Hours,
        TimeUnit::Minutes,
        TimeUnit::Seconds,
        TimeUnit::Millis,
        TimeUnit::Micros,
        TimeUnit::Nanos,
        TimeUnit::Picos,
        TimeUnit::Femtos,
        TimeUnit::Attos,
    ])
}

fn scalar() -> impl Strategy<Value = Scalar> {
    let fixed = (
        prop::sample::select(vec![
            (DtypeKind::Bool, 1u64),
            (DtypeKind::Int, 1),
            (DtypeKind::Int, 2),
            (DtypeKind::Int, 4),
            (DtypeKind::Int, 8),
            (DtypeKind::UInt, 1),
            (DtypeKind::UInt, 2),
            (DtypeKind::UInt, 4),
            (DtypeKind::UInt, 8),
            (DtypeKind::Float, 2),
            (DtypeKind::Float, 4),
            (DtypeKind::Float, 8),
            (DtypeKind::Float, 16),
            (DtypeKind::Complex, 8),
            (DtypeKind::Complex, 16),
            (DtypeKind::Complex, 32),
        ]),
        order(),
    )
        .prop_map(|((k, n), o)| Scalar::new(k, o, n).unwrap());
    let flexible = (0u64..12, 0..3, order()).prop_map(|(n, k, o)| match k {
        0 => Scalar::new(DtypeKind::Bytes, o, n).unwrap(),
        1 => Scalar::new(DtypeKind::Unicode, o, 4 * n).unwrap(),
        _ => Scalar::new(DtypeKind::Void, o, n).unwrap(),
    });
    let time = (unit(), 1u32..30, any::<bool>(), order()).prop_map(|(unit, c, dt, o)| {
        let count = if unit == TimeUnit::Generic { 1 } else { c };
        let kind = if dt {
            DtypeKind::Datetime { unit, count }
        } else {
            DtypeKind::Timedelta { unit, count }
        };
        Scalar::new(kind, o, 8).unwrap()
    });
    prop_oneof![4 => fixed, 2 => flexible, 1 => time]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        Just("it's \"q\" \\".to_string()),
    ]
}

/// Unaligned structured dtypes, fields at increasing offsets with gaps.
fn structured(depth: u32) -> BoxedStrategy<Structured> {
    let field_dtype = if depth == 0 {
        scalar().prop_map(Dtype::Scalar).boxed()
    } else {
        prop_oneof![
            3 => scalar().prop_map(Dtype::Scalar),
            1 => structured(depth - 1).prop_map(Dtype::Structured),
        ]
        .boxed()
    };
    let field = (
        name(),
        prop::option::weighted(0.2, "[A-Z]{1,4}"),
        0u64..4,
        field_dtype,
        prop::collection::vec(1u64..4, 0..3),
    );
    (prop::collection::vec(field, 1..5), 0u64..5)
        .prop_map(|(fs, tail)| {
            let mut fields: Vec<Field> = Vec::new();
            let mut end = 0;
            for (i, (n, title, gap, dtype, shape)) in fs.into_iter().enumerate() {
                let f = Field {
                    name: format!("{n}{i}"),
                    title,
                    offset: end + gap,
                    dtype,
                    shape,
                };
                end = f.offset + f.size().unwrap();
                fields.push(f);
            }
            Structured::new(fields, end + tail, false).unwrap()
        })
        .boxed()
}

/// numpy's align=True layout of scalar fields.
fn aligned() -> impl Strategy<Value = Structured> {
    prop::collection::vec(scalar(), 1..5).prop_map(|ds| {
        let (mut end, mut max) = (0u64, 1u64);
        let mut fields = Vec::new();
        for (i, d) in ds.into_iter().enumerate() {
            let a = d.alignment().max(1);
            max = max.max(a);
            let offset = end.div_ceil(a) * a;
            end = offset + d.itemsize();
            fields.push(Field {
                name: format!("f{i}"),
                title: None,
                offset,
                dtype: Dtype::Scalar(d),
                shape: vec![],
            });
        }
        Structured::new(fields, end.div_ceil(max) * max, true).unwrap()
    })
}

fn dtype() -> impl Strategy<Value = Dtype> {
    prop_oneof![
        4 => scalar().prop_map(Dtype::Scalar),
        2 => structured(2).prop_map(Dtype::Structured),
        1 => aligned().prop_map(Dtype::Structured),
    ]
}

fn shape() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        4 => prop::collection::vec(0u64..5, 0..5),
        1 => prop::collection::vec(1u64..2, 0..65),
        1 => (prop::collection::vec(0u64..1 << 40, 1..4)).prop_map(|mut s| {
            s.push(0);
            s
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(d in dtype(), shape in shape(), seed in any::<u8>(), pre in 0usize..9) {
        let Some(n) = nbytes(&d, &shape) else {
            let r = encode_array(&mut Vec::new(), Encoding::V2, &d, &shape, &[]);
            let overflow = matches!(r, Err(Error::Overflow { .. }));
            prop_assert!(overflow, "{:?}", r);
            return Ok(());
        };
        if n > 1 << 16 {
            return Ok(());
        }
        let raw: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        for enc in [Encoding::V2, Encoding::V1] {
            if enc == Encoding::V1 && matches!(d, Dtype::Structured(_)) {
                let r = encode_array(&mut Vec::new(), enc, &d, &shape, &raw);
                let refused = matches!(r, Err(Error::BadDtype { .. }));
                prop_assert!(refused, "{:?}", r);
                // The untyped writer still writes mmappickle's bytes, and
                // mmpk reads them back (offsets, titles, aligned flag kept).
                if d.name().len() > 255 {
                    continue;
                }
                let mut v = Vec::new();
                write_array_head(&mut v, enc, n);
                v.extend_from_slice(&raw);
                write_array_tail(&mut v, enc, &d.name(), &shape).unwrap();
                let a = read_array(&v, 0..v.len()).unwrap();
                prop_assert_eq!(&a.dtype, &d);
                continue;
            }
            let mut v = vec![0x55; pre];
            let span = encode_array(&mut v, enc, &d, &shape, &raw).unwrap();
            prop_assert_eq!(span.start, pre + enc.data_offset());
            let a = read_array(&v, pre..v.len()).unwrap();
            prop_assert_eq!(a.encoding, enc);
            prop_assert_eq!(&a.shape, &shape);
            prop_assert_eq!(a.data.clone(), span.clone());
            prop_assert_eq!(&v[a.data.clone()], &raw[..]);
            prop_assert_eq!(a.dtype.itemsize(), d.itemsize());
            prop_assert_eq!(a.dtype.descr(), d.descr());
            if matches!(d, Dtype::Scalar(_)) {
                prop_assert_eq!(&a.dtype, &d);
            }
            if let Dtype::Scalar(s) = &d {
                let u = decode_array(&v, pre..v.len()).unwrap();
                let written = if enc == Encoding::V2 { s.str() } else { s.name() };
                prop_assert_eq!(u.dtype, written.as_str());
            }
            // Every truncation is an error.
            for cut in [pre, pre + 1, span.start - 1, span.end, v.len() - 1] {
                prop_assert!(read_array(&v, pre..cut.max(pre)).is_err());
            }
        }
    }

    #[test]
    fn flipped_bytes_never_panic(d in dtype(), shape in shape(), flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4), masked in any::<bool>()) {
        let n = nbytes(&d, &shape).unwrap_or(u64::MAX);
        if n > 256 {
            return Ok(());
        }
        for enc in [Encoding::V2, Encoding::V1] {
            let mut v = Vec::new();
            if masked {
                let _ = encode_masked(&mut v, enc, &d, &shape, &vec![0; n as usize], None);
            } else {
                let _ = encode_array(&mut v, enc, &d, &shape, &vec![0; n as usize]);
            }
            if v.is_empty() {
                continue;
            }
            for (i, bit) in &flips {
                let i = i.index(v.len());
                v[i] ^= 1 << bit;
            }
            if let Ok(a) = read_array(&v, 0..v.len()) {
                prop_assert!(a.data.end <= v.len());
                prop_assert_eq!(Some(a.nbytes()), nbytes(&a.dtype, &a.shape));
            }
            if let Ok(m) = read_masked(&v, 0..v.len()) {
                prop_assert!(m.mask.data.end <= v.len());
            }
            let _ = decode_array(&v, 0..v.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(v in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = read_array(&v, 0..v.len());
        let _ = read_masked(&v, 0..v.len());
        let _ = decode_array(&v, 0..v.len());
    }
}

fn f8() -> Dtype {
    Dtype::parse("<f8").unwrap()
}

#[test]
fn huge_lengths_are_typed_errors() {
    // A BINBYTES8 claiming 2^63 bytes.
    let mut v = Vec::new();
    write_array_head(&mut v, Encoding::V2, 1 << 63);
    v.extend_from_slice(&[0; 64]);
    assert!(matches!(read_array(&v, 0..v.len()), Err(Error::Op(_))));
    // Dimensions whose product overflows, and a too-big 0-size shape.
    for shape in [vec![1u64 << 32, 1 << 32], vec![u64::MAX], vec![1 << 63, 0]] {
        let mut v = Vec::new();
        write_array_head(&mut v, Encoding::V1, 0);
        write_array_tail(&mut v, Encoding::V1, "float64", &shape).unwrap();
        assert_eq!(
            read_array(&v, 0..v.len()),
            Err(Error::Overflow {
                offset: Encoding::V1.prefix_len()
            }),
            "{shape:?}"
        );
    }
    // 65 dimensions.
    let mut v = Vec::new();
    write_array_head(&mut v, Encoding::V2, 8);
    v.extend_from_slice(&[0; 8]);
    write_array_tail(&mut v, Encoding::V2, "<f8", &[1; 64]).unwrap();
    let s = v.iter().rposition(|&b| b == b't').unwrap();
    v.splice(s..s, *b"K\x01");
    assert!(matches!(
        read_array(&v, 0..v.len()),
        Err(Error::TooManyDims { ndim: 65 })
    ));
    // Data of the wrong length.
    let mut v = Vec::new();
    write_array_head(&mut v, Encoding::V2, 7);
    v.extend_from_slice(&[0; 7]);
    write_array_tail(&mut v, Encoding::V2, "<f8", &[1]).unwrap();
    assert_eq!(
        read_array(&v, 0..v.len()),
        Err(Error::SizeMismatch {
            offset: Encoding::V2.prefix_len(),
            expected: 8,
            found: 7
        })
    );
    assert!(matches!(
        encode_array(&mut Vec::new(), Encoding::V2, &f8(), &[2], &[0; 15]),
        Err(Error::SizeMismatch {
            expected: 16,
            found: 15,
            ..
        })
    ));
    // A bad dtype string names its op.
    let mut v = Vec::new();
    write_array_head(&mut v, Encoding::V2, 0);
    write_array_tail(&mut v, Encoding::V2, "<f3", &[0]).unwrap();
    let at = Encoding::V2.data_offset() + 2;
    assert!(
        matches!(read_array(&v, 0..v.len()), Err(Error::BadDtype { offset, .. }) if offset == at)
    );
}

/// A v2 value whose dtype is the given ops.
fn with_dtype_ops(ops: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    write_array_head(&mut v, Encoding::V2, 0);
    v.extend_from_slice(b"\x85R");
    v.extend_from_slice(ops);
    v.extend_from_slice(b"\x86RK\x00\x85\x86R");
    v
}

#[test]
fn hostile_descr_ops() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    // 100 000 nested lists: refused by depth, no stack overflow.
    let mut ops = b"]".repeat(100_000);
    ops.extend_from_slice(&b"a".repeat(99_999));
    let v = with_dtype_ops(&ops);
    assert!(matches!(
        read_array(&v, 0..v.len()),
        Err(Error::NotAnArray { .. })
    ));
    // A memo bomb: a list appended to itself through BINGET, doubling.
    let mut ops = b"](\x8c\x01x\x8c\x03<f4\x86e".to_vec();
    for i in 0..60u8 {
        ops.extend_from_slice(&[b'q', i, b'(', b'h', i, b'h', i, b'l']);
    }
    let v = with_dtype_ops(&ops);
    assert!(matches!(
        read_array(&v, 0..v.len()),
        Err(Error::NotAnArray { .. })
    ));
    // A memo get of something stored outside the dtype.
    let v = with_dtype_ops(b"h\x00");
    assert!(read_array(&v, 0..v.len()).is_err());
    // A descr with memo ops, as CPython's protocol-2 pickler writes it
    // (fixtures/numpy/np*/mmpk_v2_struct_2.pkl), and with a BINGET.
    let v =
        with_dtype_ops(b"]q\x00(X\x01\x00\x00\x00xq\x01X\x03\x00\x00\x00<f4q\x02\x86q\x03h\x03e");
    let err = read_array(&v, 0..v.len()).unwrap_err();
    assert!(matches!(err, Error::BadDtype { .. }), "{err}");
    let v = with_dtype_ops(b"]q\x00(X\x01\x00\x00\x00xq\x01X\x03\x00\x00\x00<f4q\x02\x86q\x03X\x01\x00\x00\x00yh\x02\x86e");
    let a = read_array(&v, 0..v.len()).unwrap();
    assert_eq!(
        a.dtype,
        Dtype::parse("[('x', '<f4'), ('y', '<f4')]").unwrap()
    );
    assert_eq!(a.shape, [0]);
    // A dtype string followed by memo stores (CPython's MEMOIZE).
    let v = with_dtype_ops(b"\x8c\x03<f8\x94q\x09");
    let a = read_array(&v, 0..v.len()).unwrap();
    assert_eq!(a.dtype, Dtype::parse("<f8").unwrap());
    assert_eq!(decode_array(&v, 0..v.len()).unwrap().dtype, "<f8");
    // Not a descr at all.
    for ops in [&b"N"[..], b"K\x01", b"]K\x01a", b"(\x8c\x01x", b"\x86"] {
        let v = with_dtype_ops(ops);
        assert!(read_array(&v, 0..v.len()).is_err(), "{ops:?}");
    }
}
