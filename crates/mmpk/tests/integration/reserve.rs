//! Reserve without RAM: sparse allocation, filled through mutable views.

use std::time::Instant;

use crate::{create, open_ro, tmp};

#[test]
fn a_100_gib_reservation_takes_milliseconds() {
    let (_d, p) = tmp();
    let d = create(&p);
    let t = Instant::now();
    // 100 GiB of f32: 25 * 2^30 elements.
    d.reserve::<f32>("huge", &[25 * 1024, 1024, 1024]).unwrap();
    let took = t.elapsed();
    eprintln!("100 GiB reservation: {took:?}");
    assert!(took.as_millis() < 500, "{took:?}");
    let len = std::fs::metadata(&p).unwrap().len();
    assert!(len > 100 << 30);
    // Sparse: almost no blocks allocated.
    use std::os::unix::fs::MetadataExt;
    assert!(std::fs::metadata(&p).unwrap().blocks() * 512 < 1 << 24);
    // Write a corner, read it back through another handle.
    {
        let mut m = d.array_mut("huge").unwrap();
        let mut v = m.view_mut::<f32>().unwrap();
        v[[25 * 1024 - 1, 1023, 1023]] = 3.5;
        v[[0, 0, 0]] = -1.0;
    }
    let r = open_ro(&p);
    let a = r.array("huge").unwrap();
    let v = a.view::<f32>().unwrap();
    assert_eq!(v[[25 * 1024 - 1, 1023, 1023]], 3.5);
    assert_eq!(v[[12, 5, 5]], 0.0);
    assert_eq!(v.shape(), [25 * 1024, 1024, 1024]);
    d.insert_array("after", &ndarray::arr1(&[1u8])).unwrap();
    assert_eq!(r.keys().unwrap(), ["huge", "after"]);
}

#[cfg(feature = "rayon")]
#[test]
fn reserved_arrays_fill_in_parallel_and_reduce_in_parallel() {
    use crate::scan_clean;
    use mmpk::{par, Error};

    let (_d, p) = tmp();
    let d = create(&p);
    d.reserve::<u32>("r", &[1000, 257]).unwrap();
    d.reserve_dtype("s", "<i8", &[10]).unwrap();
    {
        let mut m = d.array_mut("r").unwrap();
        par::fill_axis0(m.view_mut::<u32>().unwrap(), 33, |first, mut c| {
            for (i, mut row) in c.outer_iter_mut().enumerate() {
                for (j, x) in row.iter_mut().enumerate() {
                    *x = ((first + i) * 257 + j) as u32;
                }
            }
        });
    }
    let a = d.array("r").unwrap();
    let v = a.view::<u32>().unwrap();
    let n = 1000 * 257u64;
    assert_eq!(par::sum_f64(v.view()), (n * (n - 1) / 2) as f64);
    let max = par::reduce_axis0(
        v.view(),
        100,
        || 0u32,
        |c| c.iter().copied().max().unwrap_or(0),
        u32::max,
    );
    assert_eq!(max as u64, n - 1);
    assert_eq!(d.array("s").unwrap().view::<i64>().unwrap().sum(), 0);
    scan_clean(&p);
    // Wrong type for a reserve-dtype entry, and unsupported dtypes.
    assert!(matches!(
        d.reserve_dtype("x", "|O8", &[1]),
        Err(Error::UnsupportedDtype { .. })
    ));
    assert!(matches!(
        d.reserve::<u64>("x", &[usize::MAX, 2]),
        Err(Error::ShapeMismatch { expected: None, .. })
    ));
}
