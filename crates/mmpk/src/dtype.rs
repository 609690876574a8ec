//! numpy dtypes of stored arrays, and the Rust element types that have
//! typed views.
//!
//! Dtypes are `mmpk_format`'s [`Dtype`] (re-exported as [`crate::Dtype`]):
//! every numpy dtype a file can hold, structured ones included, parsed from
//! and printed as numpy's `dtype.str` (`<f8`, `|b1`, `>i4`, `<U5`,
//! `<M8[ns]`), its `str(dtype)` name (`float64`, `datetime64[ns]`) or a
//! structured `descr`. Typed views exist for the [`Element`] types; any
//! other dtype is read as raw bytes ([`crate::Array::bytes`]).

pub use mmpk_format::dtype::{ByteOrder, Dtype, DtypeKind};
pub use mmpk_format::element::{visit_element, Element, ElementVisitor};

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

/// Whether `T` reads elements of `stored` (same kind and size; datetime and
/// timedelta read as `i64`).
pub(crate) fn matches<T: Element>(stored: &Dtype) -> bool {
    T::matches(stored)
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
    fn matches_reads_datetimes_as_i64() {
        assert!(matches::<i64>(&parse("<M8[ns]").unwrap()));
        assert!(!matches::<u64>(&parse("<i8").unwrap()));
    }
}
