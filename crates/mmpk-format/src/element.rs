//! The Rust element types of typed arrays, one sealed trait shared by
//! `mmpk` (zero-copy views of mapped bytes) and `mmpk-remote` (owned
//! copies): `u8`..`u64`, `i8`..`i64`, `half::f16`, `f32`, `f64`,
//! `num_complex::Complex<f32|f64>` and `bool`; `datetime64` and
//! `timedelta64` read as `i64`.
//!
//! Every element type but `bool` is [`bytemuck::Pod`] (through the
//! `bytemuck` features of `half` and `num-complex`); `bool` is
//! [`bytemuck::CheckedBitPattern`]. Bytes become elements through
//! bytemuck's casts ([`cast_slice`], [`cast_slice_mut`]: alignment and
//! length checked, and every byte 0 or 1 for `bool` only), never
//! hand-written pointer casts.

use half::f16;
use num_complex::Complex;

use crate::dtype::{ByteOrder, Dtype, DtypeKind, Scalar};

mod private {
    /// Seals [`super::Element`], and holds its byte casts.
    pub trait Sealed: Sized {
        /// bytemuck's cast (`Pod` types) or its checked cast (`bool`).
        fn cast(b: &[u8]) -> Option<&[Self]>;
        /// The mutable counterpart of [`Sealed::cast`].
        fn cast_mut(b: &mut [u8]) -> Option<&mut [Self]>;
    }
}

/// A Rust type that array elements are read as (see the module docs).
/// Sealed: the implementations are this crate's.
pub trait Element:
    Copy + Send + Sync + 'static + bytemuck::NoUninit + bytemuck::Zeroable + private::Sealed
{
    /// The numpy kind it matches.
    const KIND: DtypeKind;
    /// The Rust name, for errors.
    const NAME: &'static str;

    /// The dtype in this machine's byte order.
    fn dtype() -> Dtype {
        let size = std::mem::size_of::<Self>() as u64;
        // Every Element's kind and size is a valid numpy dtype (a unit
        // test checks them all), so this never fails.
        let s = Scalar::new(Self::KIND, ByteOrder::native(), size).unwrap_or(Scalar::BOOL);
        Dtype::Scalar(s)
    }

    /// Reads one element from `b` (exactly its size) stored in `order`.
    fn read(b: &[u8], order: ByteOrder) -> Self;

    /// Whether this type reads the elements of `stored`: same kind and size,
    /// any byte order (`datetime64` and `timedelta64` read as `i64`).
    fn matches(stored: &Dtype) -> bool {
        let Dtype::Scalar(s) = stored else {
            return false;
        };
        let kind = match s.kind() {
            DtypeKind::Datetime { .. } | DtypeKind::Timedelta { .. } => DtypeKind::Int,
            k => k,
        };
        kind == Self::KIND && s.itemsize() == std::mem::size_of::<Self>() as u64
    }
}

/// `bytes` as elements, without copying: `None` if they are not aligned
/// for `T`, their length is not a multiple of its size, or (for `bool`)
/// a byte is neither 0 nor 1. Elements are in this machine's byte order.
pub fn cast_slice<T: Element>(bytes: &[u8]) -> Option<&[T]> {
    if bytes.is_empty() {
        return Some(&[]);
    }
    T::cast(bytes)
}

/// The mutable counterpart of [`cast_slice`].
pub fn cast_slice_mut<T: Element>(bytes: &mut [u8]) -> Option<&mut [T]> {
    if bytes.is_empty() {
        return Some(&mut []);
    }
    T::cast_mut(bytes)
}

/// The sealed casts of a `Pod` type: bytemuck's plain cast, which checks
/// nothing per element (a view of a 100 GiB sparse reservation touches no
/// page).
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

macro_rules! prim {
    ($t:ty, $kind:expr, $name:literal) => {
        pod_casts!($t);
        impl Element for $t {
            const KIND: DtypeKind = $kind;
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

prim!(u8, DtypeKind::UInt, "u8");
prim!(u16, DtypeKind::UInt, "u16");
prim!(u32, DtypeKind::UInt, "u32");
prim!(u64, DtypeKind::UInt, "u64");
prim!(i8, DtypeKind::Int, "i8");
prim!(i16, DtypeKind::Int, "i16");
prim!(i32, DtypeKind::Int, "i32");
prim!(i64, DtypeKind::Int, "i64");
prim!(f32, DtypeKind::Float, "f32");
prim!(f64, DtypeKind::Float, "f64");

pod_casts!(f16);
impl Element for f16 {
    const KIND: DtypeKind = DtypeKind::Float;
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
    const KIND: DtypeKind = DtypeKind::Bool;
    const NAME: &'static str = "bool";
    fn read(b: &[u8], _: ByteOrder) -> Self {
        b.first().is_some_and(|&x| x != 0)
    }
}

macro_rules! complex {
    ($t:ty, $name:literal) => {
        pod_casts!(Complex<$t>);
        impl Element for Complex<$t> {
            const KIND: DtypeKind = DtypeKind::Complex;
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

/// Code generic over the [`Element`] types, to run with the one that reads
/// a stored dtype ([`visit_element`]).
///
/// ```
/// use mmpk_format::dtype::Dtype;
/// use mmpk_format::element::{visit_element, Element, ElementVisitor};
///
/// /// The Rust name of the element type.
/// struct Name;
/// impl ElementVisitor for Name {
///     type Output = &'static str;
///     fn visit<T: Element>(self) -> &'static str {
///         T::NAME
///     }
/// }
/// let d = Dtype::parse(">f4").unwrap();
/// assert_eq!(visit_element(&d, Name), Some("f32"));
/// let s = Dtype::parse("<U3").unwrap();
/// assert_eq!(visit_element(&s, Name), None);
/// ```
pub trait ElementVisitor {
    /// What [`ElementVisitor::visit`] returns.
    type Output;
    /// Runs with the element type `T`.
    fn visit<T: Element>(self) -> Self::Output;
}

/// Runs `v` with the [`Element`] type of `dtype`'s kind and size, whatever
/// its byte order: `u8`..`u64`, `i8`..`i64` (and `i64` for
/// datetime64/timedelta64), `f16`, `f32`, `f64`, `Complex<f32|f64>` and
/// `bool`. `None` for dtypes without one (strings, bytes, void,
/// structured).
pub fn visit_element<V: ElementVisitor>(dtype: &Dtype, v: V) -> Option<V::Output> {
    let Dtype::Scalar(s) = dtype else {
        return None;
    };
    Some(match (s.kind(), s.itemsize()) {
        (DtypeKind::Bool, 1) => v.visit::<bool>(),
        (DtypeKind::UInt, 1) => v.visit::<u8>(),
        (DtypeKind::UInt, 2) => v.visit::<u16>(),
        (DtypeKind::UInt, 4) => v.visit::<u32>(),
        (DtypeKind::UInt, 8) => v.visit::<u64>(),
        (DtypeKind::Int, 1) => v.visit::<i8>(),
        (DtypeKind::Int, 2) => v.visit::<i16>(),
        (DtypeKind::Int, 4) => v.visit::<i32>(),
        (DtypeKind::Int | DtypeKind::Datetime { .. } | DtypeKind::Timedelta { .. }, 8) => {
            v.visit::<i64>()
        }
        (DtypeKind::Float, 2) => v.visit::<f16>(),
        (DtypeKind::Float, 4) => v.visit::<f32>(),
        (DtypeKind::Float, 8) => v.visit::<f64>(),
        (DtypeKind::Complex, 8) => v.visit::<Complex<f32>>(),
        (DtypeKind::Complex, 16) => v.visit::<Complex<f64>>(),
        _ => return None,
    })
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
            assert_eq!(d, Dtype::parse(&d.str()).unwrap());
        }
    }

    #[test]
    fn visit_element_picks_the_type_that_matches() {
        struct Check;
        impl ElementVisitor for Check {
            type Output = (DtypeKind, usize, bool);
            fn visit<T: Element>(self) -> (DtypeKind, usize, bool) {
                (T::KIND, std::mem::size_of::<T>(), false)
            }
        }
        struct Matches<'a>(&'a Dtype);
        impl ElementVisitor for Matches<'_> {
            type Output = bool;
            fn visit<T: Element>(self) -> bool {
                T::matches(self.0)
            }
        }
        let every = [
            "|b1", "|u1", "<u2", ">u4", "<u8", "|i1", ">i2", "<i4", "<i8", "<f2", ">f4", "<f8",
            "<c8", ">c16", "<M8[ns]", ">m8[s]",
        ];
        for s in every {
            let d = Dtype::parse(s).unwrap();
            let (kind, size, _) = visit_element(&d, Check).unwrap();
            assert_eq!(size as u64, d.itemsize(), "{s}");
            let Dtype::Scalar(sc) = &d else { panic!() };
            let want = match sc.kind() {
                DtypeKind::Datetime { .. } | DtypeKind::Timedelta { .. } => DtypeKind::Int,
                k => k,
            };
            assert_eq!(kind, want, "{s}");
            assert_eq!(visit_element(&d, Matches(&d)), Some(true), "{s}");
        }
        for s in ["<U3", "|S4", "|V8", "[('x', '<f4')]", "<f16", "<c32"] {
            if let Ok(d) = Dtype::parse(s) {
                assert!(visit_element(&d, Check).is_none(), "{s}");
            }
        }
        assert!(!u64::matches(&Dtype::parse("<i8").unwrap()));
        assert!(!f32::matches(&Dtype::parse("[('x', '<f4')]").unwrap()));
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
        assert!(bool::read(&[2], ByteOrder::Little));
    }

    #[test]
    fn casts_check_alignment_length_and_bools() {
        let v: Vec<u64> = vec![1, 2, 3, 4];
        let b: &[u8] = bytemuck::cast_slice(&v);
        assert_eq!(cast_slice::<u64>(b).unwrap(), &v[..]);
        assert!(cast_slice::<u64>(&b[1..25]).is_none());
        assert!(cast_slice::<u64>(&b[..31]).is_none());
        assert_eq!(cast_slice::<u32>(b).unwrap().len(), 8);
        assert_eq!(
            cast_slice::<bool>(&[0, 1, 1]).unwrap(),
            &[false, true, true]
        );
        assert!(cast_slice::<bool>(&[0, 2]).is_none());
        assert!(cast_slice::<f64>(&[]).unwrap().is_empty());
        let mut m = vec![0u16; 4];
        cast_slice_mut::<u16>(bytemuck::cast_slice_mut(&mut m)).unwrap()[2] = 7;
        assert_eq!(m[2], 7);
        assert!(cast_slice_mut::<bool>(&mut [3u8]).is_none());
    }
}
