//! Structured dtypes in their three spellings: numpy's `descr` (a list of
//! tuples, which the v2 encoding pickles), the `str(dtype)` text that the
//! v1 encoding writes (`[('x', '<f4'), ('y', '<i8')]`, or numpy's dict form
//! `{'names': [...], 'formats': [...], 'offsets': [...], 'itemsize': n}`),
//! and [`Dtype`].
//!
//! Both are read through one small data-only value ([`Lit`]) with limits on
//! size and nesting, so hostile input costs at most linear time.

use pickle_ops::{write_op, Op};

use crate::dtype::{Dtype, DtypeKind, Field, Scalar, Structured, MAX_DIMS};
use crate::error::{bad, Error, Result};
use crate::pickled::{write_shape, write_str};
use crate::pylit::{parse_literal, shape_text, Lit, MAX_DEPTH};
use pickle_ops::repr::str_repr;

/// The spellings of a dtype that go through a `descr` or a Python literal.
impl Dtype {
    /// Parses numpy's `dtype.str`, the short forms, or numpy's `str(dtype)`
    /// name form, structured names included
    /// (`[('x', '<f4'), ('y', '<i8', (2,))]`, `{'names': [...], ...}`).
    /// Errors name offset 0; decoders replace it with the string's offset.
    pub fn parse(s: &str) -> Result<Dtype> {
        let t = s.trim_start();
        if t.starts_with('[') || t.starts_with('{') || t.starts_with('(') {
            let lit = parse_literal(s)?;
            return dtype_from_value(&lit);
        }
        Scalar::parse(s).map(Dtype::Scalar)
    }

    /// numpy's `str(dtype)` as numpy 1.23 prints it on a little-endian
    /// machine: what the v1 encoding writes.
    pub fn name(&self) -> String {
        match self {
            Dtype::Scalar(s) => s.name(),
            Dtype::Structured(s) => struct_str(s, true),
        }
    }

    /// The dtype's `descr` (a string for non-structured dtypes).
    pub fn descr(&self) -> Descr {
        descr_of(self)
    }
}

/// numpy's `dtype.descr`: a type string, or a list of fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Descr {
    /// A `dtype.str` such as `<f8`.
    Str(String),
    /// A structured dtype's fields, padding included (`('', '|V4')`).
    Fields(Vec<DescrField>),
}

/// One item of a descr list: `(name, format)` or `(name, format, shape)`;
/// `((title, name), ...)` when the field has a title.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DescrField {
    /// The name (`''` for padding).
    pub name: String,
    /// The title, if any.
    pub title: Option<String>,
    /// The field's format.
    pub format: Descr,
    /// A subarray field's shape (empty: no shape item).
    pub shape: Vec<u64>,
}

// ---------------------------------------------------------------- descr

/// numpy's `_array_descr`: fields in order, gaps and the tail as padding.
pub(crate) fn descr_of(d: &Dtype) -> Descr {
    match d {
        Dtype::Scalar(s) => Descr::Str(s.str()),
        Dtype::Structured(s) => {
            let mut out = Vec::new();
            let mut offset = 0u64;
            let pad = |n: u64| DescrField {
                name: String::new(),
                title: None,
                format: Descr::Str(format!("|V{n}")),
                shape: Vec::new(),
            };
            for f in s.fields() {
                if f.offset > offset {
                    out.push(pad(f.offset - offset));
                }
                out.push(DescrField {
                    name: f.name.clone(),
                    title: f.title.clone(),
                    format: descr_of(&f.dtype),
                    shape: f.shape.clone(),
                });
                offset = f.offset.saturating_add(f.size().unwrap_or(0));
            }
            if s.itemsize() > offset {
                out.push(pad(s.itemsize() - offset));
            }
            Descr::Fields(out)
        }
    }
}

impl Descr {
    /// The dtype this descr describes (numpy's `descr_to_dtype`: unnamed
    /// void items are padding).
    pub fn to_dtype(&self) -> Result<Dtype> {
        dtype_from_lit(&self.to_lit(), 0, false)
    }

    /// The descr as a literal (a str, or a list of tuples).
    pub fn to_lit(&self) -> Lit {
        match self {
            Descr::Str(s) => Lit::Str(s.clone()),
            Descr::Fields(items) => Lit::List(
                items
                    .iter()
                    .map(|it| {
                        let name = match &it.title {
                            Some(t) => {
                                Lit::Tuple(vec![Lit::Str(t.clone()), Lit::Str(it.name.clone())])
                            }
                            None => Lit::Str(it.name.clone()),
                        };
                        let mut t = vec![name, it.format.to_lit()];
                        if !it.shape.is_empty() {
                            t.push(Lit::Tuple(it.shape.iter().map(|&d| Lit::Int(d)).collect()));
                        }
                        Lit::Tuple(t)
                    })
                    .collect(),
            ),
        }
    }

    /// Appends the descr as CPython pickles it (protocol 4), without memo
    /// ops: a list of tuples of str (and a shape tuple).
    pub fn write_ops(&self, out: &mut Vec<u8>) {
        match self {
            Descr::Str(s) => write_str(out, s),
            Descr::Fields(items) => {
                write_op(&Op::EmptyList, out);
                // CPython's _batch_appends: batches of 1000, APPEND for one.
                for chunk in items.chunks(1000) {
                    if chunk.len() > 1 {
                        write_op(&Op::Mark, out);
                    }
                    for it in chunk {
                        it.write_ops(out);
                    }
                    write_op(
                        if chunk.len() > 1 {
                            &Op::Appends
                        } else {
                            &Op::Append
                        },
                        out,
                    );
                }
            }
        }
    }
}

/// Python's `repr` of the descr, as numpy prints `dtype.descr`.
impl std::fmt::Display for Descr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Descr::Str(s) => f.write_str(&str_repr(s)),
            Descr::Fields(items) => {
                f.write_str("[")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str("(")?;
                    match &it.title {
                        Some(t) => write!(f, "({}, {})", str_repr(t), str_repr(&it.name))?,
                        None => f.write_str(&str_repr(&it.name))?,
                    }
                    write!(f, ", {}", it.format)?;
                    if !it.shape.is_empty() {
                        write!(f, ", {}", shape_text(&it.shape))?;
                    }
                    f.write_str(")")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl DescrField {
    fn write_ops(&self, out: &mut Vec<u8>) {
        match &self.title {
            Some(t) => {
                write_str(out, t);
                write_str(out, &self.name);
                write_op(&Op::Tuple2, out);
            }
            None => write_str(out, &self.name),
        }
        self.format.write_ops(out);
        if self.shape.is_empty() {
            write_op(&Op::Tuple2, out);
        } else {
            write_shape(out, &self.shape);
            write_op(&Op::Tuple3, out);
        }
    }
}

/// The name and title of a descr item `(name, format[, shape])` or
/// `((title, name), format[, shape])`.
fn field_name(t: &[Lit]) -> Result<(String, Option<String>)> {
    let no = |what| bad(0, "", what);
    match t.first() {
        Some(Lit::Str(n)) => Ok((n.clone(), None)),
        Some(Lit::Tuple(nt)) => match nt.as_slice() {
            [Lit::Str(title), Lit::Str(n)] => Ok((n.clone(), Some(title.clone()))),
            _ => Err(no("a (title, name) pair")),
        },
        _ => Err(no("a field name")),
    }
}

/// A literal as a descr (a `str` or a list of field tuples).
pub fn descr_from_lit(v: &Lit) -> Result<Descr> {
    let no = |what| bad(0, "", what);
    match v {
        Lit::Str(s) => Ok(Descr::Str(s.clone())),
        Lit::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                let Lit::Tuple(t) = it else {
                    return Err(no("a descr item (a tuple)"));
                };
                let (name, title) = field_name(t)?;
                let format = descr_from_lit(t.get(1).ok_or_else(|| no("a field format"))?)?;
                let shape = match t.get(2) {
                    None => Vec::new(),
                    Some(s) => shape_from_lit(s)?,
                };
                if t.len() > 3 {
                    return Err(no("a descr item of 2 or 3 items"));
                }
                out.push(DescrField {
                    name,
                    title,
                    format,
                    shape,
                });
            }
            Ok(Descr::Fields(out))
        }
        _ => Err(no("a descr (a str or a list)")),
    }
}

fn shape_from_lit(v: &Lit) -> Result<Vec<u64>> {
    match v {
        Lit::Int(n) => Ok(vec![*n]),
        Lit::Tuple(items) if items.len() <= MAX_DIMS => items
            .iter()
            .map(|i| match i {
                Lit::Int(n) => Ok(*n),
                _ => Err(bad(0, "", "a shape of ints")),
            })
            .collect(),
        _ => Err(bad(0, "", "a shape tuple")),
    }
}

// ---------------------------------------------------------- str(dtype)

/// numpy's `_struct_str`: the list form when packed (and not an aligned
/// struct printed with its flag), otherwise the dict form.
pub(crate) fn struct_str(s: &Structured, include_align: bool) -> String {
    if !(include_align && s.is_aligned()) && s.is_packed() {
        let items: Vec<String> = s
            .fields()
            .iter()
            .map(|f| {
                let mut it = String::from("(");
                match &f.title {
                    Some(t) => it.push_str(&format!("({}, {}), ", str_repr(t), str_repr(&f.name))),
                    None => it.push_str(&format!("{}, ", str_repr(&f.name))),
                }
                it.push_str(&short_repr(&f.dtype));
                if !f.shape.is_empty() {
                    it.push_str(", ");
                    it.push_str(&shape_text(&f.shape));
                }
                it.push(')');
                it
            })
            .collect();
        return format!("[{}]", items.join(", "));
    }
    let f = s.fields();
    let join = |v: Vec<String>| v.join(", ");
    let mut r = format!(
        "{{'names': [{}], 'formats': [{}], 'offsets': [{}]",
        join(f.iter().map(|f| str_repr(&f.name)).collect()),
        join(
            f.iter()
                .map(|f| if f.shape.is_empty() {
                    short_repr(&f.dtype)
                } else {
                    format!("({}, {})", short_repr(&f.dtype), shape_text(&f.shape))
                })
                .collect()
        ),
        join(f.iter().map(|f| f.offset.to_string()).collect()),
    );
    if f.iter().any(|f| f.title.is_some()) {
        r.push_str(&format!(
            ", 'titles': [{}]",
            join(
                f.iter()
                    .map(|f| f.title.as_deref().map_or("None".into(), str_repr))
                    .collect()
            )
        ));
    }
    r.push_str(&format!(", 'itemsize': {}", s.itemsize()));
    if include_align && s.is_aligned() {
        r.push_str(", 'aligned': True");
    }
    r.push('}');
    r
}

/// numpy's `_construction_repr(short=True)`.
fn short_repr(d: &Dtype) -> String {
    match d {
        Dtype::Scalar(s) => format!("'{}'", s.short()),
        Dtype::Structured(s) => struct_str(s, false),
    }
}

// ------------------------------------------------- literal -> dtype

/// The dtype a literal describes: a type string, a descr list, numpy's
/// dict form, `(base, shape)` (only as a field format), or
/// `(numpy.record, x)` (read as `x`).
pub fn dtype_from_value(v: &Lit) -> Result<Dtype> {
    dtype_from_lit(v, 0, false)
}

/// `align` is numpy's `align=True`, which an aligned dict passes on to the
/// structured dtypes among its formats.
fn dtype_from_lit(v: &Lit, depth: usize, align: bool) -> Result<Dtype> {
    if depth > MAX_DEPTH {
        return Err(bad(0, "", "a dtype nested at most 32 deep"));
    }
    match v {
        Lit::Str(s) => Scalar::parse(s).map(Dtype::Scalar),
        Lit::List(items) if align => {
            // numpy's _convert_from_list(align=True): aligned offsets.
            let mut names = Vec::new();
            let mut formats = Vec::new();
            let mut titles = Vec::new();
            for it in items {
                let Lit::Tuple(t) = it else {
                    return Err(bad(0, "", "a descr item (a tuple)"));
                };
                let (name, title) = match t.first() {
                    Some(Lit::Tuple(nt)) if nt.len() == 2 => (nt[1].clone(), nt[0].clone()),
                    Some(n) => (n.clone(), Lit::None),
                    None => return Err(bad(0, "", "a field name")),
                };
                names.push(name);
                titles.push(title);
                formats.push(match t.as_slice() {
                    [_, f] => f.clone(),
                    [_, f, shape] => Lit::Tuple(vec![f.clone(), shape.clone()]),
                    _ => return Err(bad(0, "", "a descr item of 2 or 3 items")),
                });
            }
            let key = |k: &str| Lit::Str(k.to_string());
            let dict = vec![
                (key("names"), Lit::List(names)),
                (key("formats"), Lit::List(formats)),
                (key("titles"), Lit::List(titles)),
                (key("aligned"), Lit::Bool(true)),
            ];
            dict_dtype(&dict, depth)
        }
        Lit::List(items) => list_dtype(items, depth),
        Lit::Tuple(t) => match t.as_slice() {
            [Lit::Name(_), inner] => dtype_from_lit(inner, depth + 1, align),
            _ => Err(bad(0, "", "a dtype (a subarray is only a field's format)")),
        },
        Lit::Dict(items) => dict_dtype(items, depth),
        _ => Err(bad(0, "", "a dtype")),
    }
}

/// A list of field tuples, packed (formats may be any dtype literal,
/// numpy's dict form included); unnamed void items are padding.
fn list_dtype(items: &[Lit], depth: usize) -> Result<Dtype> {
    let no = |what| bad(0, "", what);
    let mut fields = Vec::with_capacity(items.len());
    let mut offset = 0u64;
    for it in items {
        let Lit::Tuple(t) = it else {
            return Err(no("a descr item (a tuple)"));
        };
        let (name, title) = field_name(t)?;
        let format = t.get(1).ok_or_else(|| no("a field format"))?;
        let dtype = dtype_from_lit(format, depth + 1, false)?;
        let shape = match t.get(2) {
            None => Vec::new(),
            Some(s) => shape_from_lit(s)?,
        };
        if t.len() > 3 {
            return Err(no("a descr item of 2 or 3 items"));
        }
        let is_pad = name.is_empty()
            && title.is_none()
            && shape.is_empty()
            && matches!(&dtype, Dtype::Scalar(s) if s.kind() == DtypeKind::Void);
        let f = Field {
            name,
            title,
            offset,
            dtype,
            shape,
        };
        let size = f.size().ok_or(Error::Overflow { offset: 0 })?;
        offset = offset
            .checked_add(size)
            .ok_or(Error::Overflow { offset: 0 })?;
        if !is_pad {
            fields.push(f);
        }
    }
    Structured::new(fields, offset, false).map(Dtype::Structured)
}

/// numpy's dict form.
fn dict_dtype(items: &[(Lit, Lit)], depth: usize) -> Result<Dtype> {
    let get = |k: &str| {
        items
            .iter()
            .find(|(key, _)| matches!(key, Lit::Str(s) if s == k))
            .map(|(_, v)| v)
    };
    let list = |k: &str| -> Result<Option<&Vec<Lit>>> {
        match get(k) {
            None => Ok(None),
            Some(Lit::List(l) | Lit::Tuple(l)) => Ok(Some(l)),
            Some(_) => Err(bad(0, "", "a list in a dtype dict")),
        }
    };
    let names = list("names")?.ok_or_else(|| bad(0, "", "'names' in a dtype dict"))?;
    let formats = list("formats")?.ok_or_else(|| bad(0, "", "'formats' in a dtype dict"))?;
    let offsets = list("offsets")?;
    let titles = list("titles")?;
    let aligned = matches!(get("aligned"), Some(Lit::Bool(true)));
    if formats.len() != names.len()
        || offsets.is_some_and(|o| o.len() != names.len())
        || titles.is_some_and(|t| t.len() != names.len())
    {
        return Err(bad(
            0,
            "",
            "names, formats, offsets and titles of one length",
        ));
    }
    let mut fields = Vec::with_capacity(names.len());
    let (mut end, mut max_al) = (0u64, 1u64);
    for (i, (n, f)) in names.iter().zip(formats).enumerate() {
        let Lit::Str(name) = n else {
            return Err(bad(0, "", "str field names"));
        };
        let (dtype, shape) = match f {
            Lit::Tuple(t) if matches!(t.as_slice(), [_, Lit::Int(_) | Lit::Tuple(_)]) => (
                dtype_from_lit(&t[0], depth + 1, aligned)?,
                shape_from_lit(&t[1])?,
            ),
            _ => (dtype_from_lit(f, depth + 1, aligned)?, Vec::new()),
        };
        let title = match titles.and_then(|t| t.get(i)) {
            None | Some(Lit::None) => None,
            Some(Lit::Str(t)) => Some(t.clone()),
            Some(_) => return Err(bad(0, "", "str titles")),
        };
        let al = dtype.alignment().max(1);
        max_al = max_al.max(al);
        let offset = match offsets.and_then(|o| o.get(i)) {
            Some(Lit::Int(o)) => *o,
            Some(_) => return Err(bad(0, "", "int offsets")),
            None if aligned => end
                .div_ceil(al)
                .checked_mul(al)
                .ok_or(Error::Overflow { offset: 0 })?,
            None => end,
        };
        let field = Field {
            name: name.clone(),
            title,
            offset,
            dtype,
            shape,
        };
        let size = field.size().ok_or(Error::Overflow { offset: 0 })?;
        end = offset
            .checked_add(size)
            .ok_or(Error::Overflow { offset: 0 })?;
        fields.push(field);
    }
    let itemsize = match get("itemsize") {
        Some(Lit::Int(n)) => *n,
        Some(_) => return Err(bad(0, "", "an int itemsize")),
        None if aligned => end
            .div_ceil(max_al)
            .checked_mul(max_al)
            .ok_or(Error::Overflow { offset: 0 })?,
        None => end,
    };
    Structured::new(fields, itemsize, aligned).map(Dtype::Structured)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `str(dtype)` of structured dtypes, from numpy 1.23.5 (target/venv/np1).
    const NAMES: &[(&str, u64, u64)] = &[
        ("[('x', '<f4'), ('y', '<i8')]", 12, 1),
        ("[('x', '>f4'), ('y', '<i8', (2, 3))]", 52, 1),
        ("[('a', [('b', 'u1'), ('c', '<U2')])]", 9, 1),
        ("[(('title', 'x'), '<f4')]", 4, 1),
        ("{'names': ['x', 'y'], 'formats': ['<f4', '<i8'], 'offsets': [0, 8], 'itemsize': 16}", 16, 1),
        ("{'names': ['x', 'y'], 'formats': ['<f4', '<i8'], 'offsets': [0, 8], 'itemsize': 16, 'aligned': True}", 16, 8),
        ("{'names': ['x'], 'formats': ['u1'], 'offsets': [0], 'itemsize': 4}", 4, 1),
        ("[('b', '?'), ('s', 'S3'), ('v', 'V2'), ('t', '<M8[ns]'), ('z', '>c16', (2,))]", 46, 1),
    ];

    #[test]
    fn struct_names_round_trip() {
        for &(name, size, align) in NAMES {
            let d = Dtype::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(d.name(), name);
            assert_eq!(d.itemsize(), size, "{name}");
            assert_eq!(d.alignment(), align, "{name}");
            assert_eq!(d.str(), format!("|V{size}"));
            // descr -> ops -> back.
            let descr = d.descr();
            let back = descr.to_dtype().unwrap();
            assert_eq!(back.descr(), descr);
            assert_eq!(back.itemsize(), size);
        }
    }

    #[test]
    fn record_types_read_as_their_fields() {
        let plain = Dtype::parse("[('x', '<f4'), ('y', '<i8')]").unwrap();
        let rec = Dtype::parse("(numpy.record, [('x', '<f4'), ('y', '<i8')])").unwrap();
        assert_eq!(rec, plain);
    }

    #[test]
    fn descr_has_numpy_padding() {
        let d = Dtype::parse(NAMES[4].0).unwrap();
        let lit = parse_literal("[('x', '<f4'), ('', '|V4'), ('y', '<i8')]").unwrap();
        assert_eq!(d.descr(), descr_from_lit(&lit).unwrap());
        assert_eq!(descr_from_lit(&lit).unwrap().to_dtype().unwrap(), {
            let Dtype::Structured(s) = d else { panic!() };
            Dtype::Structured(Structured::new(s.fields().to_vec(), 16, false).unwrap())
        });
    }

    #[test]
    fn descr_ops_are_cpythons() {
        // pickle.dumps([('x', '<f4'), ('y', '<i8')], 4) without PROTO, FRAME,
        // MEMOIZE and STOP (CPython 3.11.7).
        let d = Dtype::parse("[('x', '<f4'), ('y', '<i8')]").unwrap();
        let mut v = Vec::new();
        d.descr().write_ops(&mut v);
        assert_eq!(v, b"](\x8c\x01x\x8c\x03<f4\x86\x8c\x01y\x8c\x03<i8\x86e");
        let d = Dtype::parse("[('y', '<i8', (2, 3))]").unwrap();
        let mut v = Vec::new();
        d.descr().write_ops(&mut v);
        assert_eq!(v, b"]\x8c\x01y\x8c\x03<i8K\x02K\x03\x86\x87a");
    }

    #[test]
    fn str_repr_like_python() {
        assert_eq!(str_repr("x"), "'x'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(str_repr("é\n\u{7}"), "'é\\n\\x07'");
        let lit = parse_literal("'a\\'\"b\\x41\\u20ac'").unwrap();
        assert_eq!(lit, Lit::Str("a'\"bA€".into()));
    }

    #[test]
    fn hostile_literals_are_errors() {
        let deep = "[".repeat(100_000);
        assert!(parse_literal(&deep).is_err());
        for s in [
            "[",
            "[('x',",
            "{'names': ['x']}",
            "[('x', 'O')]",
            "[('x', '<f4'), ('x', '<f4')]",
            "[('x', '<f4', (99999999999, 99999999999))]",
            "{'names': ['x', 'y'], 'formats': ['<f4', '<i8'], 'offsets': [4, 0], 'itemsize': 16}",
            "(1, 2)",
            "'\\x4'",
        ] {
            assert!(Dtype::parse(s).is_err(), "{s}");
        }
    }
}
