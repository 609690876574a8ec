//! numpy dtypes as stored in array entries, and the Rust element types that
//! have typed views.
//!
//! A stored dtype is a string: numpy's `dtype.str` (`<f8`, `|b1`, `>i4`,
//! `<U5`, `<M8[ns]`) in the v2 encoding, `str(dtype)` (`float64`, `bool`,
//! `>f8`, `<U5`, `datetime64[ns]`) in the v1 encoding. [`DType::parse`]
//! accepts both.

use std::fmt;

use half::f16;
use num_complex::Complex;

use crate::error::{Error, Result};

/// What kind of scalar a dtype holds (numpy's `dtype.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeKind {
    /// `b`: bool, one byte, 0 or 1.
    Bool,
    /// `i`: signed integer.
    Int,
    /// `u`: unsigned integer.
    UInt,
    /// `f`: IEEE float.
    Float,
    /// `c`: complex of two floats.
    Complex,
    /// `S`: fixed-length bytes.
    Bytes,
    /// `U`: fixed-length UCS-4 text.
    Unicode,
    /// `M`: datetime64 (an `i64` count of `unit`).
    Datetime,
    /// `m`: timedelta64 (an `i64` count of `unit`).
    Timedelta,
    /// `V`: raw bytes.
    Void,
}

/// Byte order of a stored dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `<`
    Little,
    /// `>`
    Big,
    /// `|`: one-byte or byte-string types, where order does not apply.
    NotApplicable,
}

impl ByteOrder {
    /// This machine's byte order.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "little") {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
}

/// A numpy dtype (the non-structured ones).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DType {
    kind: TypeKind,
    itemsize: usize,
    order: ByteOrder,
    /// `datetime64`/`timedelta64` unit (`ns`, `s`, `25us`, ...), or empty.
    unit: String,
}

impl DType {
    /// The dtype of a scalar kind and size in this machine's byte order.
    pub fn native(kind: TypeKind, itemsize: usize) -> DType {
        let order = if itemsize == 1 || matches!(kind, TypeKind::Bytes | TypeKind::Void) {
            ByteOrder::NotApplicable
        } else {
            ByteOrder::NATIVE
        };
        DType {
            kind,
            itemsize,
            order,
            unit: String::new(),
        }
    }

    /// Parses numpy's `dtype.str` (`<f8`) or `str(dtype)` (`float64`).
    pub fn parse(s: &str) -> Result<DType> {
        let bad = || Error::UnsupportedDtype {
            dtype: s.to_string(),
        };
        if let Some(d) = parse_name(s) {
            return Ok(d);
        }
        let mut chars = s.chars();
        let (order, rest) = match chars.next() {
            Some('<') => (Some(ByteOrder::Little), chars.as_str()),
            Some('>') => (Some(ByteOrder::Big), chars.as_str()),
            Some('|') => (Some(ByteOrder::NotApplicable), chars.as_str()),
            Some('=') => (None, chars.as_str()),
            _ => (None, s),
        };
        let code = rest.chars().next().ok_or_else(bad)?;
        let after = &rest[code.len_utf8()..];
        let (digits, unit) = match after.find('[') {
            Some(i) if after.ends_with(']') => (&after[..i], &after[i + 1..after.len() - 1]),
            Some(_) => return Err(bad()),
            None => (after, ""),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
            return Err(bad());
        }
        let n: usize = digits.parse().map_err(|_| bad())?;
        let (kind, itemsize) = match (code, n) {
            ('b', 1) => (TypeKind::Bool, 1),
            ('i', 1 | 2 | 4 | 8) => (TypeKind::Int, n),
            ('u', 1 | 2 | 4 | 8) => (TypeKind::UInt, n),
            ('f', 2 | 4 | 8) => (TypeKind::Float, n),
            ('c', 8 | 16) => (TypeKind::Complex, n),
            ('S', _) => (TypeKind::Bytes, n),
            ('U', _) => (TypeKind::Unicode, n.checked_mul(4).ok_or_else(bad)?),
            ('M', 8) => (TypeKind::Datetime, 8),
            ('m', 8) => (TypeKind::Timedelta, 8),
            ('V', _) => (TypeKind::Void, n),
            _ => return Err(bad()),
        };
        let has_unit = matches!(kind, TypeKind::Datetime | TypeKind::Timedelta);
        if !has_unit && !unit.is_empty() {
            return Err(bad());
        }
        let mut d = DType::native(kind, itemsize);
        if let Some(o) = order {
            if d.order != ByteOrder::NotApplicable {
                d.order = if o == ByteOrder::NotApplicable {
                    return Err(bad());
                } else {
                    o
                };
            }
        }
        d.unit = unit.to_string();
        Ok(d)
    }

    /// The scalar kind.
    pub fn kind(&self) -> TypeKind {
        self.kind
    }

    /// Bytes per element.
    pub fn itemsize(&self) -> usize {
        self.itemsize
    }

    /// The stored byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// Whether elements can be read as they are on this machine.
    pub fn is_native(&self) -> bool {
        self.order != ByteOrder::NATIVE.swapped()
    }

    /// numpy's `dtype.str`: what the v2 encoding stores (`<f8`, `|b1`).
    pub fn descr(&self) -> String {
        let o = match self.order {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
            ByteOrder::NotApplicable => '|',
        };
        let (c, n) = match self.kind {
            TypeKind::Bool => ('b', 1),
            TypeKind::Int => ('i', self.itemsize),
            TypeKind::UInt => ('u', self.itemsize),
            TypeKind::Float => ('f', self.itemsize),
            TypeKind::Complex => ('c', self.itemsize),
            TypeKind::Bytes => ('S', self.itemsize),
            TypeKind::Unicode => ('U', self.itemsize / 4),
            TypeKind::Datetime => ('M', 8),
            TypeKind::Timedelta => ('m', 8),
            TypeKind::Void => ('V', self.itemsize),
        };
        if self.unit.is_empty() {
            format!("{o}{c}{n}")
        } else {
            format!("{o}{c}{n}[{}]", self.unit)
        }
    }

    /// numpy's `str(dtype)`: what the v1 (mmappickle 1.0) encoding stores
    /// (`float64`, `bool`, `>f8`, `<U5`, `datetime64[ns]`).
    pub fn v1_name(&self) -> String {
        if !self.is_native() {
            return self.descr();
        }
        let bits = self.itemsize * 8;
        match self.kind {
            TypeKind::Bool => "bool".into(),
            TypeKind::Int => format!("int{bits}"),
            TypeKind::UInt => format!("uint{bits}"),
            TypeKind::Float => format!("float{bits}"),
            TypeKind::Complex => format!("complex{bits}"),
            TypeKind::Datetime | TypeKind::Timedelta => {
                let base = if self.kind == TypeKind::Datetime {
                    "datetime64"
                } else {
                    "timedelta64"
                };
                if self.unit.is_empty() {
                    base.into()
                } else {
                    format!("{base}[{}]", self.unit)
                }
            }
            TypeKind::Bytes | TypeKind::Unicode | TypeKind::Void => self.descr(),
        }
    }
}

impl ByteOrder {
    fn swapped(self) -> ByteOrder {
        match self {
            ByteOrder::Little => ByteOrder::Big,
            ByteOrder::Big => ByteOrder::Little,
            ByteOrder::NotApplicable => ByteOrder::NotApplicable,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.descr())
    }
}

/// numpy's `str(dtype)` names in native order (and the bare `datetime64`
/// and `timedelta64` forms with a unit).
fn parse_name(s: &str) -> Option<DType> {
    let (kind, n) = match s {
        "bool" => (TypeKind::Bool, 1),
        "int8" => (TypeKind::Int, 1),
        "int16" => (TypeKind::Int, 2),
        "int32" => (TypeKind::Int, 4),
        "int64" => (TypeKind::Int, 8),
        "uint8" => (TypeKind::UInt, 1),
        "uint16" => (TypeKind::UInt, 2),
        "uint32" => (TypeKind::UInt, 4),
        "uint64" => (TypeKind::UInt, 8),
        "float16" => (TypeKind::Float, 2),
        "float32" => (TypeKind::Float, 4),
        "float64" => (TypeKind::Float, 8),
        "complex64" => (TypeKind::Complex, 8),
        "complex128" => (TypeKind::Complex, 16),
        _ => {
            for (base, kind) in [
                ("datetime64", TypeKind::Datetime),
                ("timedelta64", TypeKind::Timedelta),
            ] {
                if let Some(rest) = s.strip_prefix(base) {
                    let unit = if rest.is_empty() {
                        ""
                    } else {
                        rest.strip_prefix('[')?.strip_suffix(']')?
                    };
                    let mut d = DType::native(kind, 8);
                    d.unit = unit.to_string();
                    return Some(d);
                }
            }
            return None;
        }
    };
    Some(DType::native(kind, n))
}

mod private {
    pub trait Sealed {}
}

/// A Rust element type with a numpy dtype: `u8`..`u64`, `i8`..`i64`,
/// `f32`, `f64`, [`half::f16`], `Complex<f32>`, `Complex<f64>` and `bool`.
/// Sealed: every implementor is plain old data of the dtype's size (bool
/// excepted: only the bytes 0 and 1 are valid, which views check).
pub trait Element: Copy + Send + Sync + 'static + private::Sealed {
    /// Scalar kind.
    const KIND: TypeKind;
    /// Rust name, for errors.
    const NAME: &'static str;
    /// The dtype in native order.
    fn dtype() -> DType {
        DType::native(Self::KIND, std::mem::size_of::<Self>())
    }
    /// Reads one element from `b` (exactly its size) in `order`.
    fn read(b: &[u8], order: ByteOrder) -> Self;
}

macro_rules! prim {
    ($t:ty, $kind:expr, $name:literal) => {
        impl private::Sealed for $t {}
        impl Element for $t {
            const KIND: TypeKind = $kind;
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

prim!(u8, TypeKind::UInt, "u8");
prim!(u16, TypeKind::UInt, "u16");
prim!(u32, TypeKind::UInt, "u32");
prim!(u64, TypeKind::UInt, "u64");
prim!(i8, TypeKind::Int, "i8");
prim!(i16, TypeKind::Int, "i16");
prim!(i32, TypeKind::Int, "i32");
prim!(i64, TypeKind::Int, "i64");
prim!(f32, TypeKind::Float, "f32");
prim!(f64, TypeKind::Float, "f64");

impl private::Sealed for f16 {}
impl Element for f16 {
    const KIND: TypeKind = TypeKind::Float;
    const NAME: &'static str = "half::f16";
    fn read(b: &[u8], order: ByteOrder) -> Self {
        f16::from_bits(u16::read(b, order))
    }
}

impl private::Sealed for bool {}
impl Element for bool {
    const KIND: TypeKind = TypeKind::Bool;
    const NAME: &'static str = "bool";
    fn read(b: &[u8], _: ByteOrder) -> Self {
        b[0] != 0
    }
}

macro_rules! complex {
    ($t:ty, $name:literal) => {
        impl private::Sealed for Complex<$t> {}
        impl Element for Complex<$t> {
            const KIND: TypeKind = TypeKind::Complex;
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
pub(crate) fn matches<T: Element>(stored: &DType) -> bool {
    let kind = match stored.kind {
        TypeKind::Datetime | TypeKind::Timedelta => TypeKind::Int,
        k => k,
    };
    kind == T::KIND && stored.itemsize == std::mem::size_of::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse() {
        for (v2, v1) in [
            ("|b1", "bool"),
            ("|i1", "int8"),
            ("<i2", "int16"),
            ("<i8", "int64"),
            ("|u1", "uint8"),
            ("<u4", "uint32"),
            ("<f2", "float16"),
            ("<f8", "float64"),
            ("<c8", "complex64"),
            ("<c16", "complex128"),
            ("<M8[ns]", "datetime64[ns]"),
            ("<m8[s]", "timedelta64[s]"),
            (">f8", ">f8"),
            (">i4", ">i4"),
            ("<U5", "<U5"),
            ("|S3", "|S3"),
        ] {
            if cfg!(target_endian = "big") {
                continue;
            }
            let a = DType::parse(v2).unwrap();
            let b = DType::parse(v1).unwrap();
            assert_eq!(a, b, "{v2} {v1}");
            assert_eq!(a.descr(), v2);
            assert_eq!(a.v1_name(), v1);
        }
        assert_eq!(DType::parse("<U5").unwrap().itemsize(), 20);
        assert!(!DType::parse(">f8").unwrap().is_native() || cfg!(target_endian = "big"));
    }

    #[test]
    fn bad_dtypes_are_refused() {
        for s in [
            "", "<", "O", "|O8", "<f3", "<i16", "float128", "<f8[ns]", "|f8", "<M8[ns", "x", "<i",
            "<b2",
        ] {
            assert!(
                matches!(DType::parse(s), Err(Error::UnsupportedDtype { .. })),
                "{s}"
            );
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
        assert!(matches::<i64>(&DType::parse("<M8[ns]").unwrap()));
        assert!(!matches::<u64>(&DType::parse("<i8").unwrap()));
        assert_eq!(<Complex<f64>>::dtype().descr(), "<c16");
        assert_eq!(bool::dtype().descr(), "|b1");
    }
}
