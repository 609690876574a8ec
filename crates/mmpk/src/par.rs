//! rayon helpers for the numerical code mmpk exists for: chunked parallel
//! reductions over a (mapped) array along axis 0, and parallel fills of a
//! reserved array. They work on any ndarray view, mapped or not.

use ndarray::{ArrayBase, ArrayViewD, ArrayViewMutD, Axis, Data, Dimension};
use rayon::prelude::*;

use crate::{Dict, Element, Error, Result};

/// Inserts many arrays, copying their data in parallel: every entry is
/// first reserved (one after the other, under the lock; fast), then all the
/// data is written at once through mutable views, in parallel.
///
/// Unlike [`Dict::insert_array`], an entry is visible (as zeros) from its
/// reservation until its data lands: readers that must not see that should
/// wait for this call to return. A key inserted twice in `items` keeps the
/// last array.
///
/// Durable mode ([`crate::OpenOptions::durable`]): every reservation is
/// durable as it is made, and one [`Dict::flush`] at the end makes all the
/// data durable before the call returns; a power cut before then leaves
/// each key old, or new with its bytes zeros or partly written. On an
/// error, the keys reserved before it stay, their data possibly unwritten.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// // SAFETY: a private temporary file.
/// let d = unsafe { mmpk::Dict::create(dir.path().join("m.mmpk"))? };
/// let a = ndarray::Array2::<f32>::ones((100, 100));
/// let b = ndarray::Array2::<f32>::zeros((10, 3));
/// mmpk::par::insert_many(&d, &[("a", a.view()), ("b", b.view())])?;
/// assert_eq!(d.array("a")?.view::<f32>()?.sum(), 10_000.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn insert_many<T, S, D>(dict: &Dict, items: &[(&str, ArrayBase<S, D>)]) -> Result<()>
where
    T: Element,
    S: Data<Elem = T> + Sync,
    D: Dimension,
{
    for (key, a) in items {
        dict.reserve::<T>(key, a.shape())?;
    }
    let last: std::collections::HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, i))
        .collect();
    let last: Vec<usize> = last.into_values().collect();
    // The workers' stores belong to this thread's record (crash-state
    // recording).
    #[cfg(feature = "crash-record")]
    let session = crate::record::session();
    last.par_iter().try_for_each(|&i| {
        #[cfg(feature = "crash-record")]
        let _joined = crate::record::join(&session);
        let (key, a) = &items[i];
        let mut m = dict.array_mut(key)?;
        match m.view_mut::<T>() {
            Ok(mut v) => {
                v.assign(&a.view().into_dyn());
                Ok(())
            }
            Err(Error::Misaligned { .. }) => {
                // The mmappickle-1.0 layout does not align: copy bytes.
                let size = std::mem::size_of::<T>();
                let bytes = m.bytes_mut();
                for (dst, x) in bytes.chunks_exact_mut(size).zip(a.iter()) {
                    dst.copy_from_slice(bytemuck::bytes_of(x));
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    })?;
    if dict.shared.durable {
        // The data went through maps: one barrier for all of it.
        dict.flush()?;
    }
    Ok(())
}

/// Splits `view` along axis 0 into chunks of `rows` rows (the last may be
/// shorter), maps each chunk with `map` in parallel and combines the
/// results with `reduce`, starting from `identity()` in each task. A 0-d
/// array is one chunk. `rows` of 0 is taken as 1.
///
/// ```
/// let a = ndarray::Array::from_shape_fn((1000, 3), |(i, j)| (i * 3 + j) as f64).into_dyn();
/// let sum = mmpk::par::reduce_axis0(a.view(), 64, || 0.0, |c| c.sum(), |x, y| x + y);
/// assert_eq!(sum, (0..3000).sum::<usize>() as f64);
/// ```
pub fn reduce_axis0<T, R, I, M, F>(
    view: ArrayViewD<'_, T>,
    rows: usize,
    identity: I,
    map: M,
    reduce: F,
) -> R
where
    T: Sync,
    R: Send,
    I: Fn() -> R + Sync + Send,
    M: Fn(ArrayViewD<'_, T>) -> R + Sync + Send,
    F: Fn(R, R) -> R + Sync + Send,
{
    if view.ndim() == 0 {
        return reduce(identity(), map(view));
    }
    view.axis_chunks_iter(Axis(0), rows.max(1))
        .into_par_iter()
        .map(map)
        .reduce(identity, reduce)
}

/// Fills `view` in parallel, `rows` rows of axis 0 at a time: `fill(first,
/// chunk)` gets the index of the chunk's first row. A 0-d array is one
/// chunk (first row 0). Use it on [`crate::ArrayMut::view_mut`] of a
/// reserved array.
///
/// ```
/// let mut a = ndarray::Array2::<u32>::zeros((100, 4)).into_dyn();
/// mmpk::par::fill_axis0(a.view_mut(), 7, |first, mut c| {
///     for (i, mut row) in c.outer_iter_mut().enumerate() {
///         row.fill((first + i) as u32);
///     }
/// });
/// assert_eq!(a[[99, 3]], 99);
/// ```
pub fn fill_axis0<T, F>(mut view: ArrayViewMutD<'_, T>, rows: usize, fill: F)
where
    T: Send + Sync,
    F: Fn(usize, ArrayViewMutD<'_, T>) + Sync + Send,
{
    if view.ndim() == 0 {
        fill(0, view);
        return;
    }
    let rows = rows.max(1);
    view.axis_chunks_iter_mut(Axis(0), rows)
        .into_par_iter()
        .enumerate()
        .for_each(|(i, c)| fill(i * rows, c));
}

/// Sums any array of numbers as `f64` in parallel chunks of axis 0, with a
/// 16-lane accumulator per chunk that the compiler vectorises.
pub fn sum_f64<T>(view: ArrayViewD<'_, T>) -> f64
where
    T: Copy + Into<f64> + Sync,
{
    let row_len = view.shape().iter().skip(1).product::<usize>().max(1);
    let rows = (1 << 16) / row_len + 1;
    reduce_axis0(view, rows, || 0.0, lanes_sum, |a, b| a + b)
}

fn lanes_sum<T: Copy + Into<f64>>(c: ArrayViewD<'_, T>) -> f64 {
    match c.as_slice() {
        Some(s) => {
            let mut acc = [0.0f64; 16];
            let mut chunks = s.chunks_exact(16);
            for ch in &mut chunks {
                for (a, &x) in acc.iter_mut().zip(ch) {
                    *a += x.into();
                }
            }
            let rest: f64 = chunks.remainder().iter().map(|&x| x.into()).sum();
            acc.iter().sum::<f64>() + rest
        }
        None => c.iter().map(|&x| x.into()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_many_in_both_layouts() {
        for layout in [crate::Layout::V2, crate::Layout::Mmappickle1] {
            let dir = tempfile::tempdir().unwrap();
            let d = crate::dict::test_dict(&dir.path().join("p.mmpk"), layout);
            let arrays: Vec<_> = (0..20)
                .map(|i| ndarray::Array::from_shape_fn((i + 1, 3), |(r, c)| (r * 3 + c + i) as f64))
                .collect();
            let keys: Vec<String> = (0..20).map(|i| format!("k{}", i % 15)).collect();
            let items: Vec<_> = keys
                .iter()
                .zip(&arrays)
                .map(|(k, a)| (k.as_str(), a.view()))
                .collect();
            insert_many(&d, &items).unwrap();
            assert_eq!(d.len().unwrap(), 15);
            for i in 5..20 {
                let got = d.array(&keys[i]).unwrap().to_owned::<f64>().unwrap();
                assert_eq!(got, arrays[i].clone().into_dyn(), "{layout:?} {i}");
            }
        }
    }

    #[test]
    fn zero_d_and_empty() {
        let a = ndarray::arr0(5.0f32).into_dyn();
        assert_eq!(sum_f64(a.view()), 5.0);
        let e = ndarray::Array2::<f32>::zeros((0, 3)).into_dyn();
        assert_eq!(sum_f64(e.view()), 0.0);
        let mut z = ndarray::arr0(1u8).into_dyn();
        fill_axis0(z.view_mut(), 0, |_, mut c| c.fill(9));
        assert_eq!(z[[]], 9);
    }

    #[test]
    fn strided_views_sum() {
        let a = ndarray::Array::from_shape_fn((50, 7), |(i, j)| (i + j) as i32);
        let t = a.t().to_owned().into_dyn();
        let v = a.slice(ndarray::s![.., 1..5]).into_dyn();
        assert_eq!(sum_f64(t.view()), a.iter().map(|&x| x as f64).sum::<f64>());
        assert_eq!(
            sum_f64(v),
            a.slice(ndarray::s![.., 1..5])
                .iter()
                .map(|&x| x as f64)
                .sum::<f64>()
        );
    }
}
