//! numpy dtypes: a [`Dtype`] value, parsed from and printed as numpy's
//! `dtype.str` (`<f8`, `|b1`, `<U5`, `<M8[ns]`, `|V12`), numpy's
//! `str(dtype)` name form as numpy 1.23 prints it (`float64`, `bool`,
//! `>f8`, `datetime64[ns]`, `[('x', '<f4'), ('y', '<i8')]`), and a
//! structured dtype's `descr`: [`Dtype::parse`], [`Dtype::name`] and
//! [`Dtype::descr`] are in [`crate::descr`], which builds on this module.
//!
//! Object dtypes (`|O`) are refused everywhere with
//! [`Error::ObjectDtype`]: an object array holds pointers, not data.
//!
//! Names without a byte order (`float64`, `int16`) and the `=` prefix mean
//! little-endian: files are portable and every producer of mmappickle files
//! is little-endian (see the crate docs' decisions).

use std::fmt::Write as _;

use crate::error::{bad, Error, Result};

/// numpy's limit on the number of dimensions (`NPY_MAXDIMS`), of an array
/// and of a structured field's subarray: the one limit of the workspace
/// (mmpk, mmpk-remote and numpy's own pickles).
pub const MAX_DIMS: usize = 64;

/// Largest itemsize accepted (numpy 1.x keeps itemsizes in a C `int`).
pub const MAX_ITEMSIZE: u64 = i32::MAX as u64;

/// Byte order of a dtype's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `<`
    Little,
    /// `>`
    Big,
    /// `|`: one-byte elements, bytes strings, void and structured dtypes.
    NotApplicable,
}

impl ByteOrder {
    /// This machine's byte order.
    pub fn native() -> ByteOrder {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }

    /// The character numpy prints: `<`, `>` or `|`.
    pub fn as_char(self) -> char {
        match self {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
            ByteOrder::NotApplicable => '|',
        }
    }

    /// Whether elements in this order can be read without swapping here.
    pub fn is_native(self) -> bool {
        self == ByteOrder::NotApplicable || self == ByteOrder::native()
    }
}

/// The unit of a `datetime64` / `timedelta64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// No unit (`datetime64`, `<M8`).
    Generic,
    /// `Y`
    Years,
    /// `M`
    Months,
    /// `W`
    Weeks,
    /// `D`
    Days,
    /// `h`
    Hours,
    /// `m`
    Minutes,
    /// `s`
    Seconds,
    /// `ms`
    Millis,
    /// `us`
    Micros,
    /// `ns`
    Nanos,
    /// `ps`
    Picos,
    /// `fs`
    Femtos,
    /// `as`
    Attos,
}

const UNITS: [(&str, TimeUnit); 14] = [
    ("Y", TimeUnit::Years),
    ("M", TimeUnit::Months),
    ("W", TimeUnit::Weeks),
    ("D", TimeUnit::Days),
    ("h", TimeUnit::Hours),
    ("m", TimeUnit::Minutes),
    ("s", TimeUnit::Seconds),
    ("ms", TimeUnit::Millis),
    ("us", TimeUnit::Micros),
    ("\u{3bc}s", TimeUnit::Micros),
    ("ns", TimeUnit::Nanos),
    ("ps", TimeUnit::Picos),
    ("fs", TimeUnit::Femtos),
    ("as", TimeUnit::Attos),
];

impl TimeUnit {
    /// The unit's code as numpy prints it (`""` for generic).
    pub fn code(self) -> &'static str {
        UNITS
            .iter()
            .find(|(_, u)| *u == self)
            .map_or("", |(c, _)| c)
    }
}

/// The kind of a non-structured dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtypeKind {
    /// `b1`
    Bool,
    /// `i1`, `i2`, `i4`, `i8`
    Int,
    /// `u1`, `u2`, `u4`, `u8`
    UInt,
    /// `f2`, `f4`, `f8`, `f16` (x86 long double)
    Float,
    /// `c8`, `c16`, `c32`
    Complex,
    /// `S<n>`: fixed-length bytes
    Bytes,
    /// `U<n>`: fixed-length UCS-4 text (itemsize `4 n`)
    Unicode,
    /// `V<n>`: raw bytes
    Void,
    /// `M8[unit]`
    Datetime {
        /// The unit.
        unit: TimeUnit,
        /// The unit's multiplier (`[25s]` is 25), at least 1.
        count: u32,
    },
    /// `m8[unit]`
    Timedelta {
        /// The unit.
        unit: TimeUnit,
        /// The unit's multiplier, at least 1.
        count: u32,
    },
}

impl DtypeKind {
    /// numpy's kind character (`dtype.kind`).
    pub fn as_char(self) -> char {
        match self {
            DtypeKind::Bool => 'b',
            DtypeKind::Int => 'i',
            DtypeKind::UInt => 'u',
            DtypeKind::Float => 'f',
            DtypeKind::Complex => 'c',
            DtypeKind::Bytes => 'S',
            DtypeKind::Unicode => 'U',
            DtypeKind::Void => 'V',
            DtypeKind::Datetime { .. } => 'M',
            DtypeKind::Timedelta { .. } => 'm',
        }
    }
}

/// A non-structured dtype: kind, byte order and itemsize, normalised as
/// numpy normalises them (one-byte, `S` and `V` dtypes have no byte order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    kind: DtypeKind,
    order: ByteOrder,
    itemsize: u64,
}

impl Scalar {
    /// numpy's `bool` (`|b1`).
    pub const BOOL: Scalar = Scalar {
        kind: DtypeKind::Bool,
        order: ByteOrder::NotApplicable,
        itemsize: 1,
    };

    /// A dtype of `kind`, `order` and `itemsize` bytes; the order is
    /// normalised (ignored where numpy has none). Errors name offset 0.
    pub fn new(kind: DtypeKind, order: ByteOrder, itemsize: u64) -> Result<Scalar> {
        let ok = match kind {
            DtypeKind::Bool => itemsize == 1,
            DtypeKind::Int | DtypeKind::UInt => matches!(itemsize, 1 | 2 | 4 | 8),
            DtypeKind::Float => matches!(itemsize, 2 | 4 | 8 | 16),
            DtypeKind::Complex => matches!(itemsize, 8 | 16 | 32),
            DtypeKind::Bytes | DtypeKind::Void => itemsize <= MAX_ITEMSIZE,
            DtypeKind::Unicode => itemsize.is_multiple_of(4) && itemsize <= MAX_ITEMSIZE,
            DtypeKind::Datetime { count, .. } | DtypeKind::Timedelta { count, .. } => {
                itemsize == 8 && count >= 1 && count <= i32::MAX as u32
            }
        };
        if !ok {
            return Err(bad(0, "", "an itemsize that this kind of dtype has"));
        }
        let order = if itemsize == 1 || matches!(kind, DtypeKind::Bytes | DtypeKind::Void) {
            ByteOrder::NotApplicable
        } else if order == ByteOrder::NotApplicable {
            ByteOrder::Little
        } else {
            order
        };
        Ok(Scalar {
            kind,
            order,
            itemsize,
        })
    }

    /// The kind.
    pub fn kind(&self) -> DtypeKind {
        self.kind
    }

    /// The byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// Bytes per element.
    pub fn itemsize(&self) -> u64 {
        self.itemsize
    }

    /// numpy's `dtype.alignment`.
    pub fn alignment(&self) -> u64 {
        match self.kind {
            DtypeKind::Bytes | DtypeKind::Void | DtypeKind::Bool => 1,
            DtypeKind::Unicode => 4,
            DtypeKind::Complex => self.itemsize / 2,
            _ => self.itemsize,
        }
    }

    /// numpy's `dtype.str`.
    pub fn str(&self) -> String {
        let mut s = String::new();
        s.push(self.order.as_char());
        s.push(self.kind.as_char());
        let n = if self.kind == DtypeKind::Unicode {
            self.itemsize / 4
        } else {
            self.itemsize
        };
        let _ = write!(s, "{n}");
        s.push_str(&self.unit_str());
        s
    }

    /// `[25s]`, `[ns]` or `""` (generic or not a datetime).
    fn unit_str(&self) -> String {
        match self.kind {
            DtypeKind::Datetime { unit, count } | DtypeKind::Timedelta { unit, count } => {
                if unit == TimeUnit::Generic {
                    String::new()
                } else if count == 1 {
                    format!("[{}]", unit.code())
                } else {
                    format!("[{count}{}]", unit.code())
                }
            }
            _ => String::new(),
        }
    }

    /// numpy's `str(dtype)` (numpy 1.23, little-endian machine).
    pub fn name(&self) -> String {
        let flexible = matches!(
            self.kind,
            DtypeKind::Bytes | DtypeKind::Unicode | DtypeKind::Void
        );
        if flexible || self.order == ByteOrder::Big {
            return self.str();
        }
        let bits = self.itemsize * 8;
        match self.kind {
            DtypeKind::Bool => "bool".into(),
            DtypeKind::Int => format!("int{bits}"),
            DtypeKind::UInt => format!("uint{bits}"),
            DtypeKind::Float => format!("float{bits}"),
            DtypeKind::Complex => format!("complex{bits}"),
            DtypeKind::Datetime { .. } => format!("datetime64{}", self.unit_str()),
            _ => format!("timedelta64{}", self.unit_str()),
        }
    }

    /// numpy's short construction repr (inside structured names): `'?'`,
    /// `'u1'`, `'<f4'`, `'S3'`, `'<U5'`, `'V4'`, `'<M8[ns]'`, unquoted.
    pub(crate) fn short(&self) -> String {
        let bo = match self.order {
            ByteOrder::NotApplicable => "",
            ByteOrder::Little => "<",
            ByteOrder::Big => ">",
        };
        match self.kind {
            DtypeKind::Bool => "?".into(),
            DtypeKind::Bytes | DtypeKind::Void if self.itemsize == 0 => {
                self.kind.as_char().to_string()
            }
            DtypeKind::Bytes | DtypeKind::Void => {
                format!("{}{}", self.kind.as_char(), self.itemsize)
            }
            DtypeKind::Unicode if self.itemsize == 0 => format!("{bo}U"),
            DtypeKind::Unicode => format!("{bo}U{}", self.itemsize / 4),
            DtypeKind::Datetime { .. } | DtypeKind::Timedelta { .. } => {
                format!("{bo}{}8{}", self.kind.as_char(), self.unit_str())
            }
            _ => format!("{bo}{}{}", self.kind.as_char(), self.itemsize),
        }
    }

    /// Parses a `dtype.str`, a short form (`?`, `u1`, `S3`, `M8`) or a name
    /// (`float64`, `datetime64[ns]`).
    pub fn parse(s: &str) -> Result<Scalar> {
        if matches!(s, "O" | "|O" | "<O" | ">O" | "=O" | "O8" | "|O8" | "object") {
            return Err(Error::ObjectDtype { offset: 0 });
        }
        if let Some(sc) = parse_name(s)? {
            return Ok(sc);
        }
        let (order, rest) = match s.as_bytes().first() {
            Some(b'<' | b'=') => (ByteOrder::Little, &s[1..]),
            Some(b'>' | b'!') => (ByteOrder::Big, &s[1..]),
            Some(b'|') => (ByteOrder::NotApplicable, &s[1..]),
            _ => (ByteOrder::NotApplicable, s),
        };
        let mut chars = rest.chars();
        let k = chars.next().ok_or_else(|| bad(0, s, "a dtype"))?;
        let tail = chars.as_str();
        if k == '?' && tail.is_empty() {
            return Scalar::new(DtypeKind::Bool, order, 1);
        }
        if k == 'M' || k == 'm' {
            let t = tail.strip_prefix('8').unwrap_or(tail);
            let (unit, count) = parse_unit(t).ok_or_else(|| bad(0, s, "a datetime unit"))?;
            let kind = if k == 'M' {
                DtypeKind::Datetime { unit, count }
            } else {
                DtypeKind::Timedelta { unit, count }
            };
            return Scalar::new(kind, order, 8);
        }
        let n: Option<u64> = if tail.is_empty() {
            None
        } else if tail.bytes().all(|b| b.is_ascii_digit()) && tail.len() <= 12 {
            tail.parse().ok()
        } else {
            return Err(bad(0, s, "a dtype"));
        };
        let (kind, size) = match (k, n) {
            ('b', Some(1)) => (DtypeKind::Bool, 1),
            ('i', Some(n)) => (DtypeKind::Int, n),
            ('u', Some(n)) => (DtypeKind::UInt, n),
            ('f', Some(n)) => (DtypeKind::Float, n),
            ('c', Some(n)) => (DtypeKind::Complex, n),
            ('S' | 'a', n) => (DtypeKind::Bytes, n.unwrap_or(0)),
            ('V', n) => (DtypeKind::Void, n.unwrap_or(0)),
            ('U', n) => {
                let n = n.unwrap_or(0);
                (
                    DtypeKind::Unicode,
                    n.checked_mul(4)
                        .ok_or_else(|| bad(0, s, "a smaller itemsize"))?,
                )
            }
            ('O', _) => return Err(Error::ObjectDtype { offset: 0 }),
            _ => return Err(bad(0, s, "a numpy dtype string")),
        };
        Scalar::new(kind, order, size)
            .map_err(|_| bad(0, s, "an itemsize that this kind of dtype has"))
    }
}

/// `[unit]`, `[25unit]` or nothing (generic).
fn parse_unit(t: &str) -> Option<(TimeUnit, u32)> {
    if t.is_empty() || t == "[generic]" {
        return Some((TimeUnit::Generic, 1));
    }
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
    let (num, code) = inner.split_at(digits);
    let count: u32 = if num.is_empty() {
        1
    } else if num.len() <= 10 {
        num.parse().ok()?
    } else {
        return None;
    };
    if count == 0 || count > i32::MAX as u32 {
        return None;
    }
    let unit = UNITS.iter().find(|(c, _)| *c == code)?.1;
    Some((unit, count))
}

/// The name form (`float64`, `datetime64[ns]`), if `s` is one.
fn parse_name(s: &str) -> Result<Option<Scalar>> {
    let le = ByteOrder::Little;
    let num = |stem: &str, kind: DtypeKind| -> Option<Result<Scalar>> {
        let bits: u64 = s.strip_prefix(stem)?.parse().ok()?;
        Some(
            Scalar::new(kind, le, bits / 8)
                .and_then(|d| {
                    if bits.is_multiple_of(8) {
                        Ok(d)
                    } else {
                        Err(bad(0, s, ""))
                    }
                })
                .map_err(|_| bad(0, s, "a numpy dtype name")),
        )
    };
    if s == "bool" || s == "bool_" {
        return Scalar::new(DtypeKind::Bool, le, 1).map(Some);
    }
    for (stem, kind) in [
        ("uint", DtypeKind::UInt),
        ("int", DtypeKind::Int),
        ("float", DtypeKind::Float),
        ("complex", DtypeKind::Complex),
    ] {
        if let Some(r) = num(stem, kind) {
            return r.map(Some);
        }
    }
    for (stem, dt) in [("datetime64", true), ("timedelta64", false)] {
        if let Some(t) = s.strip_prefix(stem) {
            let (unit, count) = parse_unit(t).ok_or_else(|| bad(0, s, "a datetime unit"))?;
            let kind = if dt {
                DtypeKind::Datetime { unit, count }
            } else {
                DtypeKind::Timedelta { unit, count }
            };
            return Scalar::new(kind, le, 8).map(Some);
        }
    }
    Ok(None)
}

/// One field of a structured dtype.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its title, if it has one (`descr` writes `((title, name), ...)`).
    pub title: Option<String>,
    /// Byte offset of the field inside an element.
    pub offset: u64,
    /// The field's (base) dtype.
    pub dtype: Dtype,
    /// A subarray field's shape (empty for a plain field).
    pub shape: Vec<u64>,
}

impl Field {
    /// Bytes the field takes: its dtype's itemsize times its shape's product.
    pub fn size(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(self.dtype.itemsize(), |a, &d| a.checked_mul(d))
    }
}

/// A structured dtype: fields in offset order, not overlapping.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Structured {
    fields: Vec<Field>,
    itemsize: u64,
    aligned: bool,
}

impl Structured {
    /// A structured dtype; fields must be in increasing offset order, not
    /// overlap, fit in `itemsize`, have distinct non-empty names, and
    /// contain no object dtype. `aligned` is numpy's `align=True` flag.
    pub fn new(fields: Vec<Field>, itemsize: u64, aligned: bool) -> Result<Structured> {
        let mut end = 0u64;
        let mut names = std::collections::HashSet::new();
        for f in &fields {
            if f.offset < end {
                return Err(bad(0, &f.name, "fields in offset order, not overlapping"));
            }
            if f.name.is_empty() || !names.insert(f.name.as_str()) {
                return Err(bad(0, &f.name, "distinct, non-empty field names"));
            }
            if f.shape.len() > MAX_DIMS {
                return Err(Error::TooManyDims {
                    ndim: f.shape.len(),
                });
            }
            let size = f.size().ok_or(Error::Overflow { offset: 0 })?;
            end = f
                .offset
                .checked_add(size)
                .ok_or(Error::Overflow { offset: 0 })?;
        }
        if end > itemsize || itemsize > MAX_ITEMSIZE {
            return Err(bad(0, "", "fields that fit in the itemsize"));
        }
        Ok(Structured {
            fields,
            itemsize,
            aligned,
        })
    }

    /// The fields, in offset order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Bytes per element.
    pub fn itemsize(&self) -> u64 {
        self.itemsize
    }

    /// numpy's `isalignedstruct`.
    pub fn is_aligned(&self) -> bool {
        self.aligned
    }

    /// numpy's `dtype.alignment`: the largest field alignment if aligned, else 1.
    pub fn alignment(&self) -> u64 {
        if self.aligned {
            self.fields
                .iter()
                .map(|f| f.dtype.alignment())
                .max()
                .unwrap_or(1)
        } else {
            1
        }
    }

    /// numpy's `_is_packed`: fields follow each other with no padding
    /// (beyond what `align=True` implies), so the list form describes it.
    pub(crate) fn is_packed(&self) -> bool {
        let round = |x: u64, a: u64| x.div_ceil(a.max(1)).saturating_mul(a.max(1));
        let (mut total, mut max_al) = (0u64, 1u64);
        for f in &self.fields {
            if self.aligned {
                total = round(total, f.dtype.alignment());
                max_al = max_al.max(f.dtype.alignment());
            }
            if f.offset != total {
                return false;
            }
            total = total.saturating_add(f.size().unwrap_or(u64::MAX));
        }
        if self.aligned {
            total = round(total, max_al);
        }
        total == self.itemsize
    }
}

/// A numpy dtype (never `object`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// Bool, numbers, strings, void, datetimes.
    Scalar(Scalar),
    /// A structured (record) dtype.
    Structured(Structured),
}

impl From<Scalar> for Dtype {
    fn from(s: Scalar) -> Dtype {
        Dtype::Scalar(s)
    }
}

impl Dtype {
    /// Bytes per element.
    pub fn itemsize(&self) -> u64 {
        match self {
            Dtype::Scalar(s) => s.itemsize(),
            Dtype::Structured(s) => s.itemsize(),
        }
    }

    /// numpy's `dtype.alignment`.
    pub fn alignment(&self) -> u64 {
        match self {
            Dtype::Scalar(s) => s.alignment(),
            Dtype::Structured(s) => s.alignment(),
        }
    }

    /// The byte order (`NotApplicable` for structured dtypes).
    pub fn byte_order(&self) -> ByteOrder {
        match self {
            Dtype::Scalar(s) => s.byte_order(),
            Dtype::Structured(_) => ByteOrder::NotApplicable,
        }
    }

    /// Whether every element (every field of a structured dtype) is in this
    /// machine's byte order.
    pub fn is_native(&self) -> bool {
        match self {
            Dtype::Scalar(s) => s.byte_order().is_native(),
            Dtype::Structured(s) => s.fields().iter().all(|f| f.dtype.is_native()),
        }
    }

    /// numpy's `dtype.str` (`|V<itemsize>` for a structured dtype).
    pub fn str(&self) -> String {
        match self {
            Dtype::Scalar(s) => s.str(),
            Dtype::Structured(s) => format!("|V{}", s.itemsize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, dtype.str, str(dtype), itemsize, alignment), from numpy 1.23.5
    /// (target/venv/np1).
    const TABLE: &[(&str, &str, &str, u64, u64)] = &[
        ("?", "|b1", "bool", 1, 1),
        ("|b1", "|b1", "bool", 1, 1),
        ("<i1", "|i1", "int8", 1, 1),
        ("u1", "|u1", "uint8", 1, 1),
        ("<i2", "<i2", "int16", 2, 2),
        (">i2", ">i2", ">i2", 2, 2),
        ("=u2", "<u2", "uint16", 2, 2),
        ("|i4", "<i4", "int32", 4, 4),
        (">u8", ">u8", ">u8", 8, 8),
        ("<f2", "<f2", "float16", 2, 2),
        ("<f4", "<f4", "float32", 4, 4),
        (">f8", ">f8", ">f8", 8, 8),
        ("<f16", "<f16", "float128", 16, 16),
        ("<c8", "<c8", "complex64", 8, 4),
        ("<c16", "<c16", "complex128", 16, 8),
        (">c16", ">c16", ">c16", 16, 8),
        ("<c32", "<c32", "complex256", 32, 16),
        ("<U5", "<U5", "<U5", 20, 4),
        (">U5", ">U5", ">U5", 20, 4),
        ("U", "<U0", "<U0", 0, 4),
        ("<S3", "|S3", "|S3", 3, 1),
        ("a5", "|S5", "|S5", 5, 1),
        ("V4", "|V4", "|V4", 4, 1),
        ("<M8", "<M8", "datetime64", 8, 8),
        ("<M8[ns]", "<M8[ns]", "datetime64[ns]", 8, 8),
        (">M8[ns]", ">M8[ns]", ">M8[ns]", 8, 8),
        ("<m8[s]", "<m8[s]", "timedelta64[s]", 8, 8),
        ("<M8[D]", "<M8[D]", "datetime64[D]", 8, 8),
        ("<m8[25s]", "<m8[25s]", "timedelta64[25s]", 8, 8),
        ("|M8[2ms]", "<M8[2ms]", "datetime64[2ms]", 8, 8),
    ];

    #[test]
    fn str_and_name_as_numpy_prints_them() {
        for &(input, s, name, size, align) in TABLE {
            let d = Dtype::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.str(), s, "{input}");
            assert_eq!(d.name(), name, "{input}");
            assert_eq!(d.itemsize(), size, "{input}");
            assert_eq!(d.alignment(), align, "{input}");
            assert_eq!(Dtype::parse(s).unwrap(), d, "{s}");
            assert_eq!(Dtype::parse(name).unwrap(), d, "{name}");
        }
    }

    #[test]
    fn refusals() {
        for s in ["O", "|O", "object"] {
            assert!(
                matches!(Dtype::parse(s), Err(Error::ObjectDtype { .. })),
                "{s}"
            );
        }
        for s in [
            "",
            "<",
            "<i3",
            "<f1",
            "b2",
            "<M4",
            "<M8[xs]",
            "<M8[0s]",
            "float12",
            "int7",
            "<U99999999999999",
            "x8",
            "<i8 ",
            "S-1",
        ] {
            assert!(
                matches!(Dtype::parse(s), Err(Error::BadDtype { .. })),
                "{s}: {:?}",
                Dtype::parse(s)
            );
        }
    }

    #[test]
    fn byte_orders() {
        let d = Dtype::parse(">f8").unwrap();
        assert_eq!(d.byte_order(), ByteOrder::Big);
        assert_eq!(d.is_native(), cfg!(target_endian = "big"));
        assert!(Dtype::parse("|S9").unwrap().is_native());
        assert_eq!(Dtype::parse("=f8").unwrap().byte_order(), ByteOrder::Little);
    }
}
