//! numpy dtypes of stored arrays, and the Rust element types that have
//! typed views.
//!
//! Dtypes are `mmpk_format`'s [`Dtype`] (re-exported as [`crate::Dtype`]):
//! every numpy dtype a file can hold, structured ones included, parsed from
//! and printed as numpy's `dtype.str` (`<f8`, `|b1`, `>i4`, `<U5`,
//! `<M8[ns]`), its `str(dtype)` name (`float64`, `datetime64[ns]`) or a
//! structured `descr`. Typed views exist for the [`Element`] types; any
//! other dtype is read as raw bytes ([`crate::Array::bytes`]).

use half::f16;
use num_complex::Complex;

pub use mmpk_format::dtype::{ByteOrder, Dtype, Kind, Scalar};

use crate::error::{Error, Result};

/// Parses a dtype as a caller gives it (`dtype.str`, a numpy name, or a
/// structured descr's text); [`Error::UnsupportedDtype`] otherwise (object
/// dtypes included).
pub(crate) fn parse(s: &str) -> Result<Dtype> {
    Dtype::parse(s).map_err(|_| Error::UnsupportedDtype {
        dtype: s.to_string(),
    })
}

/// The text errors show for a dtype: `dtype.str`, or a structured dtype's
/// descr.
pub(crate) fn text(d: &Dtype) -> String {
    match d {
        Dtype::Scalar(s) => s.str(),
        Dtype::Structured(_) => d.descr().to_string(),
    }
}

mod private {
    /// Seals [`super::Element`], and holds its byte casts (not public API).
    pub trait Sealed: Sized {
        /// `b` as elements: bytemuck's cast (`Pod` types), or its checked
        /// cast (`bool`: every byte 0 or 1). `None` if misaligned, of a
        /// length not a multiple of the size, or (bool) invalid.
        fn cast(b: &[u8]) -> Option<&[Self]>;
        /// The mutable counterpart of [`Sealed::cast`].
        fn cast_mut(b: &mut [u8]) -> Option<&mut [Self]>;
    }
}

/// Implements the sealed casts of a `Pod` type: bytemuck's plain cast,
/// which checks nothing per element (so a view of a 100 GiB sparse
/// reservation touches no page).
macro_rules! pod_casts {
    ($t:ty) => {
        impl private::Sealed for $t {
            fn cast(b: &[u8]) -> Option<&[Self]> {
                bytemuck::try_cast_slice(b).ok()
            }
            fn cast_mut(b: &mut [u8]) -> Option<&mut [Self]> {
                bytemuck::try_cast_slice_mut(b).ok()
            }
        }
    };
}

/// The element types with typed views: `u8`..`u64`, `i8`..`i64`, `f32`,
/// `f64`, `half::f16`, `num_complex::Complex<f32|f64>` and `bool`
/// (datetime64/timedelta64 read as `i64`).
///
/// Sealed. Every element type but `bool` is [`bytemuck::Pod`] (through the
/// `bytemuck` features of `half` and `num-complex`); `bool` is
/// [`bytemuck::NoUninit`] and [`bytemuck::CheckedBitPattern`], so views of
/// stored bytes are bytemuck's casts (alignment and length checked; every
/// byte checked to be 0 or 1 for `bool` only), never hand-written pointer
/// casts.
pub trait Element:
    Copy + Send + Sync + 'static + bytemuck::NoUninit + bytemuck::Zeroable + private::Sealed
{
    /// Scalar kind.
    const KIND: Kind;
    /// Rust name, for errors.
    const NAME: &'static str;
    /// The dtype in this machine's byte order.
    fn dtype() -> Dtype {
        let size = std::mem::size_of::<Self>() as u64;
        // Every Element's kind and size is a valid numpy dtype (a unit
        // test checks them all), so this never fails.
        let s = Scalar::new(Self::KIND, ByteOrder::native(), size).unwrap_or(Scalar::BOOL);
        Dtype::Scalar(s)
    }
    /// Reads one element from `b` (exactly its size) in `order`.
    fn read(b: &[u8], order: ByteOrder) -> Self;
}

macro_rules! prim {
    ($t:ty, $kind:expr, $name:literal) => {
        pod_casts!($t);
        impl Element for $t {
            const KIND: Kind = $kind;
            const NAME: &'static str = $name;
            fn read(b: &[u8], order: ByteOrder) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                match order {
                    ByteOrder::Big => <$t>::from_be_bytes(a),
                    _ => <$t>::from_le_bytes(a),
                }
            }
        }
    };
}

prim!(u8, Kind::UInt, "u8");
prim!(u16, Kind::UInt, "u16");
prim!(u32, Kind::UInt, "u32");
prim!(u64, Kind::UInt, "u64");
prim!(i8, Kind::Int, "i8");
prim!(i16, Kind::Int, "i16");
prim!(i32, Kind::Int, "i32");
prim!(i64, Kind::Int, "i64");
prim!(f32, Kind::Float, "f32");
prim!(f64, Kind::Float, "f64");

pod_casts!(f16);
impl Element for f16 {
    const KIND: Kind = Kind::Float;
    const NAME: &'static str = "half::f16";
    fn read(b: &[u8], order: ByteOrder) -> Self {
        f16::from_bits(u16::read(b, order))
    }
}

impl private::Sealed for bool {
    fn cast(b: &[u8]) -> Option<&[Self]> {
        bytemuck::checked::try_cast_slice(b).ok()
    }
    fn cast_mut(b: &mut [u8]) -> Option<&mut [Self]> {
        bytemuck::checked::try_cast_slice_mut(b).ok()
    }
}
impl Element for bool {
    const KIND: Kind = Kind::Bool;
    const NAME: &'static str = "bool";
    fn read(b: &[u8], _: ByteOrder) -> Self {
        b[0] != 0
    }
}

macro_rules! complex {
    ($t:ty, $name:literal) => {
        pod_casts!(Complex<$t>);
        impl Element for Complex<$t> {
            const KIND: Kind = Kind::Complex;
            const NAME: &'static str = $name;
            fn read(b: &[u8], order: ByteOrder) -> Self {
                let h = b.len() / 2;
                Complex::new(<$t>::read(&b[..h], order), <$t>::read(&b[h..], order))
            }
        }
    };
}

complex!(f32, "Complex<f32>");
complex!(f64, "Complex<f64>");

/// Whether `T` reads elements of `stored` (same kind and size; datetime and
/// timedelta read as `i64`).
pub(crate) fn matches<T: Element>(stored: &Dtype) -> bool {
    let Dtype::Scalar(s) = stored else {
        return false;
    };
    let kind = match s.kind() {
        Kind::Datetime { .. } | Kind::Timedelta { .. } => Kind::Int,
        k => k,
    };
    kind == T::KIND && s.itemsize() == std::mem::size_of::<T>() as u64
}

/// Code generic over the [`Element`] types, to run with the one that reads
/// a stored dtype ([`visit_element`]).
///
/// ```
/// use mmpk::{Element, ElementVisitor};
///
/// /// The Rust name of the element type.
/// struct Name;
/// impl ElementVisitor for Name {
///     type Output = &'static str;
///     fn visit<T: Element>(self) -> &'static str {
///         T::NAME
///     }
/// }
/// let d = mmpk::Dtype::parse(">f4").unwrap();
/// assert_eq!(mmpk::visit_element(&d, Name), Some("f32"));
/// let s = mmpk::Dtype::parse("<U3").unwrap();
/// assert_eq!(mmpk::visit_element(&s, Name), None);
/// ```
pub trait ElementVisitor {
    /// What [`ElementVisitor::visit`] returns.
    type Output;
    /// Runs with the element type `T`.
    fn visit<T: Element>(self) -> Self::Output;
}

/// Runs `v` with the [`Element`] type of `dtype`'s kind and size, whatever
/// its byte order (typed views need the native order; owned copies convert):
/// `u8`..`u64`, `i8`..`i64` (and `i64` for datetime64/timedelta64), `f16`,
/// `f32`, `f64`, `Complex<f32|f64>` and `bool`. `None` for dtypes without
/// one (strings, bytes, void, structured).
pub fn visit_element<V: ElementVisitor>(dtype: &Dtype, v: V) -> Option<V::Output> {
    let Dtype::Scalar(s) = dtype else {
        return None;
    };
    Some(match (s.kind(), s.itemsize()) {
        (Kind::Bool, 1) => v.visit::<bool>(),
        (Kind::UInt, 1) => v.visit::<u8>(),
        (Kind::UInt, 2) => v.visit::<u16>(),
        (Kind::UInt, 4) => v.visit::<u32>(),
        (Kind::UInt, 8) => v.visit::<u64>(),
        (Kind::Int, 1) => v.visit::<i8>(),
        (Kind::Int, 2) => v.visit::<i16>(),
        (Kind::Int, 4) => v.visit::<i32>(),
        (Kind::Int | Kind::Datetime { .. } | Kind::Timedelta { .. }, 8) => v.visit::<i64>(),
        (Kind::Float, 2) => v.visit::<f16>(),
        (Kind::Float, 4) => v.visit::<f32>(),
        (Kind::Float, 8) => v.visit::<f64>(),
        (Kind::Complex, 8) => v.visit::<Complex<f32>>(),
        (Kind::Complex, 16) => v.visit::<Complex<f64>>(),
        _ => return None,
    })
}

/// Whether every element of `d` is in this machine's byte order.
pub(crate) fn is_native(d: &Dtype) -> bool {
    d.is_native()
}

/// The byte order to read `d`'s elements in.
pub(crate) fn order(d: &Dtype) -> ByteOrder {
    d.byte_order()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_has_its_dtype() {
        let want = [
            (u8::dtype(), "|u1"),
            (u16::dtype(), "<u2"),
            (u32::dtype(), "<u4"),
            (u64::dtype(), "<u8"),
            (i8::dtype(), "|i1"),
            (i16::dtype(), "<i2"),
            (i32::dtype(), "<i4"),
            (i64::dtype(), "<i8"),
            (f16::dtype(), "<f2"),
            (f32::dtype(), "<f4"),
            (f64::dtype(), "<f8"),
            (<Complex<f32>>::dtype(), "<c8"),
            (<Complex<f64>>::dtype(), "<c16"),
            (bool::dtype(), "|b1"),
        ];
        for (d, s) in want {
            if cfg!(target_endian = "little") {
                assert_eq!(d.str(), s);
            }
            assert_eq!(d, parse(&d.str()).unwrap());
        }
    }

    #[test]
    fn both_spellings_parse_and_bad_ones_are_refused() {
        for (v2, v1) in [
            ("|b1", "bool"),
            ("<i2", "int16"),
            ("<M8[ns]", "datetime64[ns]"),
        ] {
            assert_eq!(parse(v2).unwrap(), parse(v1).unwrap());
        }
        assert_eq!(parse("<U5").unwrap().itemsize(), 20);
        for s in [
            "", "<", "O", "|O8", "<f3", "<i16", "<f8[ns]", "x", "<i", "<b2",
        ] {
            assert!(
                matches!(parse(s), Err(Error::UnsupportedDtype { .. })),
                "{s}"
            );
        }
        let st = parse("[('x', '<f4'), ('y', '<i8')]").unwrap();
        assert_eq!(st.itemsize(), 12);
        assert!(!matches::<f32>(&st));
    }

    #[test]
    fn visit_element_picks_the_type_that_matches() {
        struct Check;
        impl ElementVisitor for Check {
            type Output = (Kind, usize);
            fn visit<T: Element>(self) -> (Kind, usize) {
                (T::KIND, std::mem::size_of::<T>())
            }
        }
        let every = [
            "|b1", "|u1", "<u2", ">u4", "<u8", "|i1", ">i2", "<i4", "<i8", "<f2", ">f4", "<f8",
            "<c8", ">c16", "<M8[ns]", ">m8[s]",
        ];
        for s in every {
            let d = parse(s).unwrap();
            let (kind, size) = visit_element(&d, Check).unwrap();
            assert_eq!(size as u64, d.itemsize(), "{s}");
            let Dtype::Scalar(sc) = &d else { panic!() };
            let want = match sc.kind() {
                Kind::Datetime { .. } | Kind::Timedelta { .. } => Kind::Int,
                k => k,
            };
            assert_eq!(kind, want, "{s}");
        }
        for s in ["<U3", "|S4", "|V8", "[('x', '<f4')]", "<f16", "<c32"] {
            if let Ok(d) = Dtype::parse(s) {
                assert!(visit_element(&d, Check).is_none(), "{s}");
            }
        }
    }

    #[test]
    fn elements_read_both_orders() {
        assert_eq!(u32::read(&[1, 0, 0, 0], ByteOrder::Little), 1);
        assert_eq!(u32::read(&[0, 0, 0, 1], ByteOrder::Big), 1);
        assert_eq!(
            Complex::<f32>::read(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], ByteOrder::Little),
            Complex::new(1.0, 2.0)
        );
        assert_eq!(f16::read(&[0x3c, 0], ByteOrder::Big), f16::ONE);
        assert!(matches::<i64>(&parse("<M8[ns]").unwrap()));
        assert!(!matches::<u64>(&parse("<i8").unwrap()));
    }
}
