//! Summary statistics of arrays (min, max, mean; NaNs counted apart),
//! computed in parallel with `mmpk::par` over a zero-copy view, or over an
//! owned, converted copy when the stored bytes cannot be viewed (other
//! byte order, or unaligned in the mmappickle-1.0 layout).

use half::f16;
use mmpk::Element;
use ndarray::{ArrayD, ArrayViewD};
use num_complex::Complex;
use rayon::prelude::*;

/// An element type the CLI computes with, from numpy's `dtype.str`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `b1`
    Bool,
    /// `i1`..`i8`
    I8,
    /// `i2`
    I16,
    /// `i4`
    I32,
    /// `i8`
    I64,
    /// `u1`
    U8,
    /// `u2`
    U16,
    /// `u4`
    U32,
    /// `u8`
    U64,
    /// `f2`
    F16,
    /// `f4`
    F32,
    /// `f8`
    F64,
    /// `c8`
    C64,
    /// `c16`
    C128,
    /// `M8[...]` / `m8[...]`: i64 counts of a unit.
    Time,
    /// Strings, void, structured: no arithmetic.
    Other,
}

impl Elem {
    /// The element type of a `dtype.str` (`<f4`, `|b1`, `>i8`, `<M8[ns]`).
    pub fn of(dtype: &str) -> Elem {
        let t = dtype.trim_start_matches(['<', '>', '|', '=']);
        match t {
            "b1" => Elem::Bool,
            "i1" => Elem::I8,
            "i2" => Elem::I16,
            "i4" => Elem::I32,
            "i8" => Elem::I64,
            "u1" => Elem::U8,
            "u2" => Elem::U16,
            "u4" => Elem::U32,
            "u8" => Elem::U64,
            "f2" => Elem::F16,
            "f4" => Elem::F32,
            "f8" => Elem::F64,
            "c8" => Elem::C64,
            "c16" => Elem::C128,
            _ if t.starts_with("M8") || t.starts_with("m8") => Elem::Time,
            _ => Elem::Other,
        }
    }
}

/// What `get` prints about an array's values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Elements looked at (unmasked ones for a masked array).
    pub count: u64,
    /// NaN elements (floats and complex), left out of min, max and mean.
    pub nan: u64,
    /// The smallest value, as text (numbers exact: integers are not
    /// rounded through f64).
    pub min: Option<String>,
    /// The largest value, as text.
    pub max: Option<String>,
    /// The mean (for complex: `re+imj`), as text.
    pub mean: Option<String>,
    /// For bool arrays: how many are true.
    pub true_count: Option<u64>,
}

/// A number the statistics run over.
trait Num: Copy + Send + Sync + 'static {
    fn f(self) -> f64;
    fn nan(self) -> bool {
        false
    }
    fn less(self, o: Self) -> bool;
    fn text(self) -> String;
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn f(self) -> f64 { self as f64 }
            fn less(self, o: Self) -> bool { self < o }
            fn text(self) -> String { self.to_string() }
        }
    )*};
}
int_num!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! float_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn f(self) -> f64 { f64::from(self) }
            fn nan(self) -> bool { self.is_nan() }
            fn less(self, o: Self) -> bool { self < o }
            fn text(self) -> String { format!("{self}") }
        }
    )*};
}
float_num!(f32, f64, f16);

impl Num for bool {
    fn f(self) -> f64 {
        f64::from(u8::from(self))
    }
    fn less(self, o: Self) -> bool {
        !self & o
    }
    fn text(self) -> String {
        if self { "True" } else { "False" }.into()
    }
}

/// Partial result of one chunk.
#[derive(Clone, Copy)]
struct Acc<T> {
    count: u64,
    nan: u64,
    min: Option<T>,
    max: Option<T>,
    sum: f64,
}

impl<T: Num> Acc<T> {
    fn new() -> Self {
        Acc {
            count: 0,
            nan: 0,
            min: None,
            max: None,
            sum: 0.0,
        }
    }
    fn push(&mut self, x: T) {
        if x.nan() {
            self.nan += 1;
            return;
        }
        self.count += 1;
        self.sum += x.f();
        if self.min.is_none_or(|m| x.less(m)) {
            self.min = Some(x);
        }
        if self.max.is_none_or(|m| m.less(x)) {
            self.max = Some(x);
        }
    }
    fn join(mut self, o: Self) -> Self {
        self.count += o.count;
        self.nan += o.nan;
        self.sum += o.sum;
        if let Some(m) = o.min {
            if self.min.is_none_or(|s| m.less(s)) {
                self.min = Some(m);
            }
        }
        if let Some(m) = o.max {
            if self.max.is_none_or(|s| s.less(m)) {
                self.max = Some(m);
            }
        }
        self
    }
    fn stats(self) -> Stats {
        Stats {
            count: self.count,
            nan: self.nan,
            min: self.min.map(Num::text),
            max: self.max.map(Num::text),
            mean: (self.count > 0).then(|| format!("{}", self.sum / self.count as f64)),
            true_count: None,
        }
    }
}

fn rows_for(view: &ArrayViewD<'_, impl Sized>) -> usize {
    let row: usize = view.shape().iter().skip(1).product::<usize>().max(1);
    (1 << 16) / row + 1
}

/// Statistics of a view, in parallel chunks of axis 0.
fn view_stats<T: Num>(view: ArrayViewD<'_, T>) -> Stats {
    let rows = rows_for(&view);
    mmpk::par::reduce_axis0(
        view,
        rows,
        Acc::new,
        |c| {
            let mut a = Acc::new();
            c.iter().for_each(|&x| a.push(x));
            a
        },
        Acc::join,
    )
    .stats()
}

/// Statistics of the elements whose mask is false (C order, both of the
/// data's length), in parallel.
fn masked_stats<T: Num>(data: &[T], mask: &[bool]) -> Stats {
    data.par_chunks(1 << 16)
        .zip(mask.par_chunks(1 << 16))
        .map(|(d, m)| {
            let mut a = Acc::new();
            d.iter()
                .zip(m)
                .filter(|(_, &m)| !m)
                .for_each(|(&x, _)| a.push(x));
            a
        })
        .reduce(Acc::new, Acc::join)
        .stats()
}

/// A zero-copy view when possible, else an owned converted copy.
fn with_view<T: Element, R>(
    a: &mmpk::Array,
    f: impl FnOnce(ArrayViewD<'_, T>) -> R,
) -> mmpk::Result<R> {
    match a.view::<T>() {
        Ok(v) => Ok(f(v)),
        Err(mmpk::Error::Misaligned { .. } | mmpk::Error::ByteOrder { .. }) => {
            let o: ArrayD<T> = a.to_owned()?;
            Ok(f(o.view()))
        }
        Err(e) => Err(e),
    }
}

fn bool_stats(v: ArrayViewD<'_, bool>, mask: Option<&[bool]>) -> Stats {
    let mut s = match mask {
        None => view_stats(v.view()),
        Some(m) => masked_stats(&v.iter().copied().collect::<Vec<_>>(), m),
    };
    let n = s.count;
    let mean: f64 = s
        .mean
        .as_deref()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0.0);
    s.true_count = Some((mean * n as f64).round() as u64);
    s
}

fn complex_stats<F>(v: ArrayViewD<'_, Complex<F>>, mask: Option<&[bool]>) -> Stats
where
    F: Copy + Send + Sync + Into<f64>,
{
    let one = |x: &Complex<F>| (x.re.into(), x.im.into());
    let fold = |(n, nan, re, im): (u64, u64, f64, f64), (a, b): (f64, f64)| {
        if a.is_nan() || b.is_nan() {
            (n, nan + 1, re, im)
        } else {
            (n + 1, nan, re + a, im + b)
        }
    };
    let add = |x: (u64, u64, f64, f64), y: (u64, u64, f64, f64)| {
        (x.0 + y.0, x.1 + y.1, x.2 + y.2, x.3 + y.3)
    };
    let zero = || (0u64, 0u64, 0.0f64, 0.0f64);
    let (n, nan, re, im) = match mask {
        None => {
            let rows = rows_for(&v);
            mmpk::par::reduce_axis0(v, rows, zero, |c| c.iter().map(one).fold(zero(), fold), add)
        }
        Some(m) => {
            let d: Vec<(f64, f64)> = v.iter().map(one).collect();
            d.par_iter()
                .zip(m.par_iter())
                .filter(|(_, &m)| !m)
                .map(|(&x, _)| fold(zero(), x))
                .reduce(zero, add)
        }
    };
    Stats {
        count: n,
        nan,
        mean: (n > 0).then(|| {
            let (r, i) = (re / n as f64, im / n as f64);
            format!("{r}{}{}j", if i < 0.0 { "" } else { "+" }, i)
        }),
        ..Stats::default()
    }
}

/// Statistics of a stored array; `mask` (the data's length, C order) keeps
/// only the unmasked elements. `None` for dtypes without arithmetic.
pub fn array_stats(a: &mmpk::Array, mask: Option<&[bool]>) -> mmpk::Result<Option<Stats>> {
    let (dtype, _) = crate::ui::dtype_strs(a);
    macro_rules! num {
        ($t:ty) => {
            with_view::<$t, _>(a, |v| match mask {
                None => view_stats(v),
                Some(m) => match v.as_slice() {
                    Some(s) => masked_stats(s, m),
                    None => masked_stats(&v.iter().copied().collect::<Vec<_>>(), m),
                },
            })
            .map(Some)
        };
    }
    match Elem::of(&dtype) {
        Elem::Bool => with_view::<bool, _>(a, |v| bool_stats(v, mask)).map(Some),
        Elem::I8 => num!(i8),
        Elem::I16 => num!(i16),
        Elem::I32 => num!(i32),
        Elem::I64 | Elem::Time => num!(i64),
        Elem::U8 => num!(u8),
        Elem::U16 => num!(u16),
        Elem::U32 => num!(u32),
        Elem::U64 => num!(u64),
        Elem::F16 => num!(f16),
        Elem::F32 => num!(f32),
        Elem::F64 => num!(f64),
        Elem::C64 => with_view::<Complex<f32>, _>(a, |v| complex_stats(v, mask)).map(Some),
        Elem::C128 => with_view::<Complex<f64>, _>(a, |v| complex_stats(v, mask)).map(Some),
        Elem::Other => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_strings_map_to_elements() {
        assert_eq!(Elem::of("<f4"), Elem::F32);
        assert_eq!(Elem::of(">i8"), Elem::I64);
        assert_eq!(Elem::of("|b1"), Elem::Bool);
        assert_eq!(Elem::of("<M8[ns]"), Elem::Time);
        assert_eq!(Elem::of("<U5"), Elem::Other);
        assert_eq!(Elem::of("<c16"), Elem::C128);
    }

    #[test]
    fn stats_skip_nans_and_masked_elements() {
        let a = ndarray::arr1(&[1.0f32, f32::NAN, -2.0, 4.0]).into_dyn();
        let s = view_stats(a.view());
        assert_eq!((s.count, s.nan), (3, 1));
        assert_eq!(s.min.as_deref(), Some("-2"));
        assert_eq!(s.max.as_deref(), Some("4"));
        assert_eq!(s.mean.as_deref(), Some("1"));
        let s = masked_stats(&[5i64, 7, 100], &[false, false, true]);
        assert_eq!(s.max.as_deref(), Some("7"));
        assert_eq!(s.mean.as_deref(), Some("6"));
        let big = ndarray::Array::from_shape_fn((300, 500), |(i, j)| (i * 500 + j) as u64);
        let s = view_stats(big.into_dyn().view());
        assert_eq!(s.max.as_deref(), Some("149999"));
        assert_eq!(s.count, 150_000);
    }
}
