//! Python's `repr()` of the values a pickle's op arguments carry: `str`,
//! `bytes`, `bytearray`, `float` and `int`, byte for byte as CPython 3.11
//! prints them (`str.isprintable`'s Unicode tables included). The
//! disassembler's text is built from them, and the other crates print
//! Python values with them: this is the workspace's one Python `repr`.
//!
//! ```
//! use pickle_ops::repr::{bytes_repr, float_repr, str_repr};
//!
//! assert_eq!(str_repr("it's\n"), "\"it's\\n\"");
//! assert_eq!(bytes_repr(b"a\x00"), "b'a\\x00'");
//! assert_eq!(float_repr(1e16), "1e+16");
//! ```

use std::fmt::Write as _;

use crate::int::{PyInt, INT_MAX_STR_DIGITS};
use crate::table::NON_PRINTABLE;

/// The message of the `ValueError` Python raises for `repr()` of an int with
/// more than 4300 decimal digits.
pub(crate) const INT_REPR_TOO_LARGE: &str =
    "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit";

/// Whether `str.isprintable()` holds for the one-character string `cp`.
pub(crate) fn is_printable(cp: u32) -> bool {
    // NON_PRINTABLE is sorted and disjoint: find the last range starting at
    // or before `cp`.
    let i = NON_PRINTABLE.partition_point(|&(lo, _)| lo <= cp);
    i == 0 || NON_PRINTABLE[i - 1].1 < cp
}

/// Python's `repr(str)`.
pub fn str_repr(s: &str) -> String {
    str_repr_iter(|| s.chars().map(u32::from))
}

/// Python's `repr(str)` of a string given as code points (lone surrogates
/// allowed).
pub(crate) fn str_repr_code_points(cps: &[u32]) -> String {
    str_repr_iter(|| cps.iter().copied())
}

/// Python's `repr(str)` of a string in UTF-8 that may encode surrogates
/// (already checked, as [`crate::text::check_utf8_surrogatepass`] does).
pub(crate) fn str_repr_utf8(s: &[u8]) -> String {
    str_repr_iter(|| crate::text::code_points(s))
}

/// `repr(str)` over a re-startable code point sequence (quote choice needs
/// a first pass, as in CPython's `unicode_repr`).
fn str_repr_iter<I: Iterator<Item = u32>>(cps: impl Fn() -> I) -> String {
    let (mut squote, mut dquote, mut n) = (false, false, 0usize);
    for c in cps() {
        squote |= c == '\'' as u32;
        dquote |= c == '"' as u32;
        n += 1;
    }
    // Single quotes unless the text has single quotes and no double quotes.
    let quote = if squote && !dquote { '"' } else { '\'' };
    let mut out = String::with_capacity(n + 2);
    out.push(quote);
    for c in cps() {
        match c {
            0x5c => out.push_str("\\\\"),
            0x09 => out.push_str("\\t"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            _ if c == quote as u32 => {
                out.push('\\');
                out.push(quote);
            }
            0x00..=0x1f | 0x7f => {
                let _ = write!(out, "\\x{c:02x}");
            }
            0x20..=0x7e => out.push(c as u8 as char),
            _ if is_printable(c) => match char::from_u32(c) {
                Some(ch) => out.push(ch),
                // Surrogates are never printable; unreachable in practice.
                None => {
                    let _ = write!(out, "\\u{c:04x}");
                }
            },
            0x80..=0xff => {
                let _ = write!(out, "\\x{c:02x}");
            }
            0x100..=0xffff => {
                let _ = write!(out, "\\u{c:04x}");
            }
            _ => {
                let _ = write!(out, "\\U{c:08x}");
            }
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)`: `b'...'`.
pub fn bytes_repr(b: &[u8]) -> String {
    let squote = b.contains(&b'\'');
    let dquote = b.contains(&b'"');
    let quote = if squote && !dquote { b'"' } else { b'\'' };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    push_bytes_body(&mut out, b, quote, quote);
    out
}

/// Python's `repr(bytearray)`: `bytearray(b'...')`. Unlike `bytes`, a single
/// quote is always escaped, even inside double quotes.
pub fn bytearray_repr(b: &[u8]) -> String {
    let squote = b.contains(&b'\'');
    let dquote = b.contains(&b'"');
    let quote = if squote && !dquote { b'"' } else { b'\'' };
    let mut out = String::with_capacity(b.len() + 13);
    out.push_str("bytearray(b");
    push_bytes_body(&mut out, b, quote, b'\'');
    out.push(')');
    out
}

/// Appends `quote`, the escaped bytes (escaping `escaped_quote`), `quote`.
fn push_bytes_body(out: &mut String, b: &[u8], quote: u8, escaped_quote: u8) {
    out.push(quote as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if c == escaped_quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(quote as char);
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed
/// notation when the decimal exponent is in `-4..16`, else as `de±XX`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (digits, exp) = shortest_digits(x.abs());
    let ndigits = digits.len() as i32;
    // Position of the decimal point relative to the digits.
    let decpt = exp + 1;
    let mut out = String::with_capacity(24);
    if x.is_sign_negative() {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if ndigits > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-decpt) as usize));
        out.push_str(&digits);
    } else if decpt >= ndigits {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (decpt - ndigits) as usize));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
    out
}

/// The shortest decimal digits that round-trip to `x` (finite, positive or
/// zero) and the decimal exponent of the first digit, chosen as CPython's
/// `dtoa` mode 0 chooses: among the shortest strings, the one nearest to
/// `x`, and on an exact tie the one with an even last digit.
fn shortest_digits(x: f64) -> (String, i32) {
    // Rust's `{:e}` gives shortest round-trip digits ("d.ddde-5"), but on a
    // tie between two shortest strings it may pick the other one.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp output has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let mut digits: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
    let n = digits.len();
    let last = digits[n - 1];
    // A neighbour ending in 0 or carrying would be shorter, and so would
    // have been found; only same-length neighbours can compete.
    for up in [false, true] {
        let other = match (up, last) {
            (false, b'2'..=b'9') => last - 1,
            (true, b'0'..=b'8') => last + 1,
            _ => continue,
        };
        let mut alt = digits.clone();
        alt[n - 1] = other;
        let alt_text = format!(
            "0.{}e{}",
            std::str::from_utf8(&alt).expect("ASCII digits"),
            exp + 1
        );
        if alt_text.parse::<f64>() != Ok(x) {
            continue;
        }
        // Both round-trip: compare `x` with their midpoint exactly.
        let low = if up { &digits } else { &alt };
        let mut mid = low.clone();
        mid.push(b'5');
        let order = cmp_exact(x, &mid, exp);
        let alt_wins = match order {
            std::cmp::Ordering::Equal => other % 2 == 0,
            std::cmp::Ordering::Less => !up,
            std::cmp::Ordering::Greater => up,
        };
        if alt_wins {
            digits = alt;
        }
        break;
    }
    (String::from_utf8(digits).expect("ASCII digits"), exp)
}

/// Compares `x` (finite, positive) with the decimal `0.d1d2d3... * 10^(exp+1)`
/// (digits `d`, first digit's exponent `exp`), exactly.
fn cmp_exact(x: f64, d: &[u8], exp: i32) -> std::cmp::Ordering {
    // `x` correctly rounded to 40 digits compares with `d` (at most 18
    // digits, so on that grid) as `x` does, unless it equals `d`; then the
    // full expansion decides: 767 digits after the point hold any double's
    // exact decimal expansion.
    let rounded = cmp_digits(x, 40, d, exp);
    if rounded.is_ne() {
        return rounded;
    }
    cmp_digits(x, 767, d, exp)
}

/// Compares `x` correctly rounded to `precision` digits after the first
/// with the decimal given by digits `d` and first digit's exponent `exp`.
fn cmp_digits(x: f64, precision: usize, d: &[u8], exp: i32) -> std::cmp::Ordering {
    let sci = format!("{x:.precision$e}");
    let (mantissa, xexp) = sci
        .split_once('e')
        .expect("LowerExp output has an exponent");
    let xexp: i32 = xexp.parse().expect("LowerExp exponent is an integer");
    if xexp != exp {
        return xexp.cmp(&exp);
    }
    let xd: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
    let len = xd.len().max(d.len());
    let at = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(b'0');
    (0..len)
        .map(|i| at(&xd, i).cmp(&at(d, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Python's `repr(int)`; an error (Python's `ValueError` message) for more
/// than 4300 decimal digits.
pub fn int_repr(v: &PyInt) -> Result<String, &'static str> {
    v.to_decimal(INT_MAX_STR_DIGITS).ok_or(INT_REPR_TOO_LARGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_reprs_match_python() {
        // (code points, repr(s)) from CPython 3.11.7.
        let cases: &[(&[u32], &str)] = &[
            (&[], "''"),
            (&[97], "'a'"),
            (&[105, 116, 39, 115], "\"it's\""),
            (&[115, 97, 121, 32, 34, 104, 105, 34], "'say \"hi\"'"),
            (
                &[98, 111, 116, 104, 32, 39, 32, 97, 110, 100, 32, 34],
                "'both \\' and \"'",
            ),
            (
                &[98, 97, 99, 107, 92, 115, 108, 97, 115, 104],
                "'back\\\\slash'",
            ),
            (&[9, 10, 13, 0, 31, 127], "'\\t\\n\\r\\x00\\x1f\\x7f'"),
            (
                &[128, 133, 159, 160, 161, 173, 233, 255],
                "'\\x80\\x85\\x9f\\xa0\u{a1}\\xad\u{e9}\u{ff}'",
            ),
            (
                &[256, 888, 8203, 8232, 12288, 65279, 65535, 55296, 57343],
                "'\u{100}\\u0378\\u200b\\u2028\\u3000\\ufeff\\uffff\\ud800\\udfff'",
            ),
            (
                &[128512, 917505, 1114111, 130047, 131072],
                "'\u{1f600}\\U000e0001\\U0010ffff\\U0001fbff\u{20000}'",
            ),
            (
                &[99, 97, 102, 233, 32, 20013, 25991],
                "'caf\u{e9} \u{4e2d}\u{6587}'",
            ),
            (&[32, 126], "' ~'"),
            (&[39, 34, 39], "'\\'\"\\''"),
        ];
        for (cps, want) in cases {
            assert_eq!(str_repr_code_points(cps), *want, "{cps:?}");
            let mut utf8 = Vec::new();
            for &c in *cps {
                crate::text::push_cp(&mut utf8, c);
            }
            assert_eq!(str_repr_utf8(&utf8), *want, "{cps:?}");
        }
    }

    #[test]
    fn printable_table_edges() {
        for (cp, want) in [
            (0x20, true),
            (0x7e, true),
            (0x7f, false),
            (0xa0, false),
            (0xa1, true),
            (0xad, false),
            (0xd7ff, false),
            (0xd800, false),
            (0xffff, false),
            (0x1f600, true),
            (0x10ffff, false),
        ] {
            assert_eq!(is_printable(cp), want, "{cp:#x}");
        }
    }

    #[test]
    fn bytes_reprs_match_python() {
        // (bytes, repr(bytes), repr(bytearray)) from CPython 3.11.7.
        let cases: &[(&[u8], &str, &str)] = &[
            (b"", "b''", "bytearray(b'')"),
            (b"abc", "b'abc'", "bytearray(b'abc')"),
            (b"it's", "b\"it's\"", "bytearray(b\"it\\'s\")"),
            (b"a\"b", "b'a\"b'", "bytearray(b'a\"b')"),
            (b"a\"b'c", "b'a\"b\\'c'", "bytearray(b'a\"b\\'c')"),
            (
                b"\x00\x09\x0a\x0d\\\x7f\x80\xff ~",
                "b'\\x00\\t\\n\\r\\\\\\x7f\\x80\\xff ~'",
                "bytearray(b'\\x00\\t\\n\\r\\\\\\x7f\\x80\\xff ~')",
            ),
            (
                b"\x00\x07\x0e\x15\x1c#*18?FMT[bipw~\x85\x8c\x93\x9a\xa1\xa8\xaf\xb6\xbd\xc4\xcb\xd2\xd9\xe0\xe7\xee\xf5\xfc",
                "b'\\x00\\x07\\x0e\\x15\\x1c#*18?FMT[bipw~\\x85\\x8c\\x93\\x9a\\xa1\\xa8\\xaf\\xb6\\xbd\\xc4\\xcb\\xd2\\xd9\\xe0\\xe7\\xee\\xf5\\xfc'",
                "bytearray(b'\\x00\\x07\\x0e\\x15\\x1c#*18?FMT[bipw~\\x85\\x8c\\x93\\x9a\\xa1\\xa8\\xaf\\xb6\\xbd\\xc4\\xcb\\xd2\\xd9\\xe0\\xe7\\xee\\xf5\\xfc')",
            ),
        ];
        for (b, want, want_ba) in cases {
            assert_eq!(bytes_repr(b), *want);
            assert_eq!(bytearray_repr(b), *want_ba);
        }
    }

    #[test]
    fn float_reprs_match_python() {
        // (IEEE-754 bits, repr(float)) from CPython 3.11.7.
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0.0"),
            (0x8000000000000000, "-0.0"),
            (0x3ff0000000000000, "1.0"),
            (0xbff0000000000000, "-1.0"),
            (0x3fb999999999999a, "0.1"),
            (0x3fe0000000000000, "0.5"),
            (0x3ff8000000000000, "1.5"),
            (0x4004000000000000, "2.5"),
            (0x4341c37937e08000, "1e+16"),
            (0x430c6bf526340000, "1000000000000000.0"),
            (0x4341c37937e07fff, "9999999999999998.0"),
            (0x3ee4f8b588e368f1, "1e-05"),
            (0x3f1a36e2eb1c432d, "0.0001"),
            (0x3f202e4b6ce5dc68, "0.00012345"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x0010000000000000, "2.2250738585072014e-308"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0x419d6f3454000000, "123456789.0"),
            (0x43118b54f22aeb00, "1234567890123456.0"),
            (0x4345ee2a2eb5a5c4, "1.2345678901234568e+16"),
            (0x3fd3333333333334, "0.30000000000000004"),
            (0x3fd5555555555555, "0.3333333333333333"),
            (0x3fe5555555555555, "0.6666666666666666"),
            (0x4059000000000000, "100.0"),
            (0x4480f0cf064dd592, "1e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x3e7ad7f29abcaf48, "1e-07"),
            (0x405edd2f1a9fbe77, "123.456"),
            (0xbe4a8310bc7a31bf, "-1.23456e-08"),
            (0x400921f9f01b866e, "3.14159"),
            (0x54b249ad2594c37d, "1e+100"),
            (0x4376345785d8a000, "1e+17"),
            (0x4011666666666666, "4.35"),
            (0x3fd3333333333333, "0.3"),
            (0x4340000000000000, "9007199254740992.0"),
            (0x4340000000000001, "9007199254740994.0"),
            (0x43e0000000000000, "9.223372036854776e+18"),
            (0x000012688b70e62b, "1e-310"),
            (0x44dfe185ca57c517, "6.02214076e+23"),
            (0x41b1de784a000000, "299792458.0"),
            (0x3f201f31f46ed246, "0.000123"),
            (0x3ff0000000000001, "1.0000000000000002"),
            (0x3fefffffffffffff, "0.9999999999999999"),
            (0x7ff0000000000000, "inf"),
            (0xfff0000000000000, "-inf"),
            (0x7ff8000000000000, "nan"),
            (0xfff8000000000000, "nan"),
            (0x7ff0000000000001, "nan"),
            (0xf2a74de452e6b438, "-1.989032661366619e+244"),
            (0x6513270e269e0d37, "7.761117632285041e+178"),
            (0x0c5c7fd0a6a3a450, "3.980498358697587e-249"),
            (0xd23f0824128b2f33, "-1.5432835417340557e+88"),
            (0x1818e811892f902b, "1.3647584518757569e-192"),
            (0x9531985d5d9dc9f8, "-1.3701135617873088e-206"),
            (0xe8e25d940ed90475, "-1.7160537630466207e+197"),
            (0x36f675cc81e74ef5, "6.294675241195386e-44"),
            (0x1600a35a099950d8, "1.0613447212142254e-202"),
            (0x6b0d549b6f03675a, "4.708325160387546e+207"),
            (0x3d9c172411e20b8f, "6.387016158513563e-12"),
            (0x8d116ece1738f7d9, "-9.973130378568733e-246"),
            (0x0f21ddb66cad4a26, "8.779753225680271e-236"),
            (0x90c192cfd3ac94af, "-5.795503248498993e-228"),
            (0xf28c105d1fb17c23, "-5.988180159386011e+243"),
            (0xa170b33839263059, "-1.306052388527796e-147"),
            (0x953f48f1a09f76b5, "-2.436117699484841e-206"),
            (0x0fd630f1f29d0da9, "2.233386999150174e-232"),
            (0x95e60af593bd04cf, "-3.51527970626667e-203"),
            (0x0cb1e29c658cda14, "1.5987381841032883e-247"),
            (0x3898d190f9ebdacc, "4.6678633181812096e-36"),
            (0x8e81973e0becd7b0, "-8.441872792105456e-239"),
            (0x2217beaddbc496cb, "1.9015657400796622e-144"),
            (0x6b4cb2424a23d596, "7.370437700706684e+208"),
            (0xae97ba94d0eda82f, "-3.0536383926309363e-84"),
            (0x301850c5a38fd547, "5.249822308814304e-77"),
            (0xb64ce4228c38fb29, "-3.953625698224792e-47"),
            (0x907a70c31012f037, "-2.72491267476498e-229"),
            (0x7f15052434b9b5df, "1.441484839555994e+304"),
            (0xc6f877186d76b07e, "-7.939416668807721e+33"),
            (0x3f98e2774cbd87ad, "0.024301399287089676"),
            (0xc7a2ea20b2f14c94, "-1.2570882301712172e+37"),
            (0x4cdd2055930d6eaf, "1.8721667527122837e+62"),
            (0x3f13af93f0105fb7, "7.509556236617766e-05"),
            (0xbf6a31c1107af847, "-0.0031975527561760894"),
            (0x427b771a8f8d45e9, "1887397542100.3694"),
            (0x3bbc0a6852310540, "5.9378395164318876e-21"),
            (0x47605e6d2a112a11, "6.799355610250829e+35"),
            (0xc403f45fcda92d01, "-4.601214457437645e+19"),
            (0x3ed3641be1ac2772, "4.623186692817809e-06"),
            (0x43c46b1122ff5176, "2.942577090553376e+18"),
            (0x3ea59aa02f4113e1, "6.438495732194297e-07"),
            (0x3f820c88fd3e6ee9, "0.008812971332921875"),
            (0xbc5e9dfc6d925435, "-6.639032421869109e-18"),
            (0x401311ae9879e4db, "4.767267591895883"),
            (0xc202edddf811120c, "-10162519810.133812"),
            (0x4415c77d89996bfd, "1.0043910560639295e+20"),
            (0xbf5bc1717131be34, "-0.0016940696557660286"),
            (0x3fd763781e25a761, "0.36544611877490324"),
            (0x3cd07dd33f752a7c, "9.154624079279823e-16"),
            (0x3e1e9f62e41818f3, "1.7824700746451132e-09"),
            (0x40719e6666666666, "281.9"),
            (0x407a2f3333333333, "418.95"),
            (0x408dc8c88f861a61, "953.09793"),
            (0x40885fc1847f5621, "779.969491"),
            (0x4083d00000000000, "634.0"),
            (0x4059984b5dcc63f1, "102.3796"),
            (0x4039803a2163fdd6, "25.500887"),
            // Exact ties between two shortest strings go to the even digit
            // (Rust's own `{:e}` picks the odd one for the first two).
            (0x431f09b3ab7a16b1, "2184097889682860.2"),
            (0x431ac4445035155d, "1883536769238359.2"),
            (0x4310000000000003, "1125899906842624.8"),
            (0x4310000000000005, "1125899906842625.2"),
            (0x0000000000000003, "1.5e-323"),
            (0x0000000000000002, "1e-323"),
        ];
        for &(bits, want) in cases {
            assert_eq!(float_repr(f64::from_bits(bits)), want, "{bits:#018x}");
        }
    }

    #[test]
    fn int_reprs_and_the_digit_limit() {
        let dec = |s: &str| PyInt::parse_decimal(s.as_bytes(), usize::MAX).unwrap();
        assert_eq!(int_repr(&PyInt::Small(-42)).unwrap(), "-42");
        // 2**100 and -(2**100), from CPython.
        assert_eq!(
            int_repr(&dec("1267650600228229401496703205376")).unwrap(),
            "1267650600228229401496703205376"
        );
        assert_eq!(
            int_repr(&PyInt::from_le_bytes(&[
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0
            ]))
            .unwrap(),
            "-1267650600228229401496703205376"
        );
        // 4300 digits are fine, 4301 are not (sign not counted).
        let max = format!("-{}", "9".repeat(4300));
        assert_eq!(int_repr(&dec(&max)).unwrap(), max);
        let over = format!("1{}", "0".repeat(4300));
        assert_eq!(int_repr(&dec(&over)), Err(INT_REPR_TOO_LARGE));
    }
}
