//! Text forms: the protocol 0 argument syntaxes (decimal ints, float text,
//! quoted escaped strings, raw-unicode-escape) and Python's "UTF-8 with
//! surrogatepass" strings.

use crate::int::{PyInt, INT_MAX_STR_DIGITS};

/// The value of an `INT` op's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntText {
    /// `00` or `01`: protocol 0's spelling of False and True.
    Bool(bool),
    /// Any other decimal integer.
    Int(PyInt),
}

/// Parses `INT` text as CPython's C unpickler does: first like C `strtol`
/// with base 0 (leading white space, sign, `0x` hex, leading-zero octal),
/// accepted when it stops at the end of the line or at a NUL; a two-character
/// line worth 0 or 1 is a bool (`00`, `01`, `+1`, `-0`). Otherwise like
/// Python's `int(text, 0)` (underscores, `0o`/`0b`, surrounding white space,
/// any size up to 4300 decimal digits).
pub fn int_text(text: &[u8]) -> Option<IntText> {
    if text.is_empty() {
        return None;
    }
    if let Some((v, end)) = c_strtol(text) {
        if end == text.len() || text[end] == 0 {
            if text.len() == 2 && (v == 0 || v == 1) {
                return Some(IntText::Bool(v == 1));
            }
            return Some(IntText::Int(PyInt::Small(v)));
        }
    }
    let cstr = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    py_int(cstr, 0).map(IntText::Int)
}

/// C `strtol(s, &end, 0)` on a line: the value and where parsing stopped,
/// or `None` on overflow.
fn c_strtol(s: &[u8]) -> Option<(i64, usize)> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut radix = 10;
    if s.get(i) == Some(&b'0') {
        if matches!(s.get(i + 1), Some(b'x' | b'X'))
            && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            i += 2;
        } else {
            radix = 8;
        }
    }
    let start = i;
    let mut v: i128 = 0;
    while let Some(d) = s.get(i).and_then(|&c| (c as char).to_digit(radix)) {
        v = v * radix as i128 + d as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
        i += 1;
    }
    if i == start {
        return Some((0, 0));
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok().map(|v| (v, i))
}

/// Python's `int(text, base)` for base 0 or 10 on ASCII text.
pub fn py_int(text: &[u8], base: u32) -> Option<PyInt> {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let a = text.iter().position(|c| !ws(c))?;
    let b = text.iter().rposition(|c| !ws(c))? + 1;
    let mut t = &text[a..b];
    let neg = match t.first()? {
        b'-' => {
            t = &t[1..];
            true
        }
        b'+' => {
            t = &t[1..];
            false
        }
        _ => false,
    };
    let (radix, mut digits, prefixed) = match (base, t) {
        (0, [b'0', b'x' | b'X', rest @ ..]) => (16, rest, true),
        (0, [b'0', b'o' | b'O', rest @ ..]) => (8, rest, true),
        (0, [b'0', b'b' | b'B', rest @ ..]) => (2, rest, true),
        _ => (10, t, false),
    };
    if prefixed {
        digits = digits.strip_prefix(b"_").unwrap_or(digits);
    }
    // Underscores only between digits.
    if digits.is_empty()
        || digits[0] == b'_'
        || digits[digits.len() - 1] == b'_'
        || digits.windows(2).any(|w| w == b"__")
    {
        return None;
    }
    let clean: Vec<u8> = digits.iter().copied().filter(|&c| c != b'_').collect();
    if !clean.iter().all(|&c| (c as char).is_digit(radix)) {
        return None;
    }
    if radix == 10 {
        // Base 0 forbids leading zeros in a non-zero decimal.
        if base == 0 && clean.len() > 1 && clean[0] == b'0' && clean.iter().any(|&c| c != b'0') {
            return None;
        }
        let mut signed = Vec::with_capacity(clean.len() + 1);
        if neg {
            signed.push(b'-');
        }
        signed.extend_from_slice(&clean);
        return PyInt::parse_decimal(&signed, INT_MAX_STR_DIGITS);
    }
    // Power-of-two radix: assemble the magnitude's bits, then negate.
    let bits = match radix {
        16 => 4,
        8 => 3,
        _ => 1,
    };
    let mut mag = vec![0u8; (clean.len() * bits).div_ceil(8) + 1];
    for (k, &c) in clean.iter().rev().enumerate() {
        let d = (c as char).to_digit(radix).expect("checked");
        for bit in 0..bits {
            if d >> bit & 1 == 1 {
                let pos = k * bits + bit;
                mag[pos / 8] |= 1 << (pos % 8);
            }
        }
    }
    if neg {
        crate::int::negate(&mut mag);
    }
    Some(PyInt::from_le_bytes(&mag))
}

/// Parses `LONG` text as Python's `int(text, 10)` after dropping one
/// trailing `L` (CPython's C unpickler also accepts `0x`-style prefixes
/// here; we follow `pickle.py` and `pickletools`, which do not).
pub fn long_text(text: &[u8]) -> Option<PyInt> {
    let t = text.strip_suffix(b"L").unwrap_or(text);
    // The C unpickler reads the line as a C string: it ends at a NUL.
    let t = &t[..t.iter().position(|&b| b == 0).unwrap_or(t.len())];
    py_int(t, 10)
}

/// Parses a memo index in text form (GET/PUT), as `int(text, 10)`.
/// Negative values are returned as such so callers can name the error.
pub fn index_text(text: &[u8]) -> Option<i64> {
    match py_int(text, 10)? {
        PyInt::Small(v) => Some(v),
        PyInt::Big(_) => None,
    }
}

/// Parses `FLOAT` text as Python's `float()` does for finite numbers, `inf`,
/// `infinity` and `nan` (any case, optional sign). Overflowing literals such
/// as `1e999` are rejected, like CPython's unpickler does.
pub fn float_text(text: &[u8]) -> Option<f64> {
    // The C unpickler accepts a number that ends at a NUL.
    let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    let s = std::str::from_utf8(text).ok()?;
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if lower.len() - body.len() > 1 {
        return None;
    }
    let special = matches!(body, "inf" | "infinity" | "nan");
    if !special
        && !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b"eE+-.".contains(&b))
    {
        return None;
    }
    let v: f64 = lower.parse().ok()?;
    if v.is_infinite() && !special {
        return None;
    }
    Some(v)
}

/// Undoes a `STRING` op's quoting and escapes (`'...'` or `"..."`, with
/// Python 2 byte-string escapes), giving the raw bytes.
pub fn string_text(text: &[u8]) -> Result<Vec<u8>, &'static str> {
    let n = text.len();
    if n < 2 || text[0] != text[n - 1] || (text[0] != b'\'' && text[0] != b'"') {
        return Err("the STRING opcode argument must be quoted");
    }
    escape_decode(&text[1..n - 1])
}

/// Python's `codecs.escape_decode` (`PyBytes_DecodeEscape`).
pub fn escape_decode(s: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = s.get(i) else {
            return Err("Trailing \\ in string");
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(s.get(i)), hex(s.get(i + 1))) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => return Err("invalid \\x escape"),
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Decodes raw-unicode-escape (the `UNICODE` op): bytes are Latin-1 code
/// points, except `\uXXXX` and `\UXXXXXXXX` after an odd run of backslashes.
/// Returns the string as UTF-8 with surrogatepass.
pub fn raw_unicode_escape_decode(s: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            push_cp(&mut out, c as u32);
            i += 1;
            continue;
        }
        let run_start = i;
        while i < s.len() && s[i] == b'\\' {
            i += 1;
        }
        let run = i - run_start;
        let escaped = run % 2 == 1 && i < s.len() && (s[i] == b'u' || s[i] == b'U');
        if !escaped {
            out.extend(std::iter::repeat_n(b'\\', run));
            continue;
        }
        out.extend(std::iter::repeat_n(b'\\', run - 1));
        let count = if s[i] == b'u' { 4 } else { 8 };
        i += 1;
        let mut cp: u32 = 0;
        for _ in 0..count {
            let d = s.get(i).and_then(|b| (*b as char).to_digit(16));
            match d {
                Some(d) => cp = cp * 16 + d,
                None => {
                    return Err(if count == 4 {
                        "truncated \\uXXXX escape"
                    } else {
                        "truncated \\UXXXXXXXX escape"
                    })
                }
            }
            i += 1;
        }
        if cp > 0x10ffff {
            return Err("\\Uxxxxxxxx out of range");
        }
        push_cp(&mut out, cp);
    }
    Ok(out)
}

/// Encodes a string (UTF-8 with surrogatepass) as CPython's pickler writes
/// protocol 0 `UNICODE` text.
pub fn raw_unicode_escape_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for cp in code_points(s) {
        if cp >= 0x10000 {
            out.extend_from_slice(format!("\\U{cp:08x}").as_bytes());
        } else if cp >= 256
            || cp == b'\\' as u32
            || cp == 0
            || cp == b'\n' as u32
            || cp == b'\r' as u32
            || cp == 0x1a
        {
            out.extend_from_slice(format!("\\u{cp:04x}").as_bytes());
        } else {
            out.push(cp as u8);
        }
    }
    out
}

/// Appends one code point (surrogates allowed) as UTF-8.
pub fn push_cp(out: &mut Vec<u8>, cp: u32) {
    if cp < 0x80 {
        out.push(cp as u8);
    } else if cp < 0x800 {
        out.extend_from_slice(&[0xc0 | (cp >> 6) as u8, 0x80 | (cp & 0x3f) as u8]);
    } else if cp < 0x10000 {
        out.extend_from_slice(&[
            0xe0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0xf0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3f) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]);
    }
}

/// Checks UTF-8 that may encode surrogates (Python's `surrogatepass`).
/// Returns the offset of the first invalid byte on failure.
#[inline]
pub fn check_utf8_surrogatepass(s: &[u8]) -> Result<(), usize> {
    // ASCII (most keys and short text) needs no decoding.
    if s.is_ascii() {
        return Ok(());
    }
    check_utf8_surrogatepass_general(s)
}

/// [`check_utf8_surrogatepass`] past its ASCII fast path.
fn check_utf8_surrogatepass_general(s: &[u8]) -> Result<(), usize> {
    let Err(e) = std::str::from_utf8(s) else {
        return Ok(());
    };
    let mut i = e.valid_up_to();
    while i < s.len() {
        let b = s[i];
        let (len, min) = match b {
            0x00..=0x7f => {
                i += 1;
                continue;
            }
            0xc2..=0xdf => (2, 0x80),
            0xe0..=0xef => (3, 0x800),
            0xf0..=0xf4 => (4, 0x10000),
            _ => return Err(i),
        };
        if i + len > s.len() {
            return Err(i);
        }
        let mut cp = (b as u32) & (0x7f >> len);
        for k in 1..len {
            let c = s[i + k];
            if c & 0xc0 != 0x80 {
                return Err(i);
            }
            cp = (cp << 6) | (c & 0x3f) as u32;
        }
        if cp < min || cp > 0x10ffff {
            return Err(i);
        }
        i += len;
    }
    Ok(())
}

/// Iterates the code points of UTF-8 with surrogatepass (input already
/// checked; malformed bytes come out as U+FFFD).
pub fn code_points(s: &[u8]) -> impl Iterator<Item = u32> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *s.get(i)?;
        let len = match b {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        if i + len > s.len() {
            i = s.len();
            return Some(0xfffd);
        }
        let mut cp = if len == 1 {
            b as u32
        } else {
            (b as u32) & (0x7f >> len)
        };
        for k in 1..len {
            cp = (cp << 6) | (s[i + k] & 0x3f) as u32;
        }
        i += len;
        Some(cp)
    })
}

/// Number of code points in UTF-8 with surrogatepass.
pub fn char_count(s: &[u8]) -> usize {
    s.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(int_text(b"00"), Some(IntText::Bool(false)));
        assert_eq!(int_text(b"01"), Some(IntText::Bool(true)));
        assert_eq!(int_text(b"-5"), Some(IntText::Int(PyInt::Small(-5))));
        assert_eq!(int_text(b"1x"), None);
        assert_eq!(int_text(b"010"), Some(IntText::Int(PyInt::Small(8))));
        assert_eq!(int_text(b"-0x1f"), Some(IntText::Int(PyInt::Small(-31))));
        assert_eq!(int_text(b"08"), None);
        assert_eq!(int_text(b"0x"), None);
        assert_eq!(int_text(b"+1"), Some(IntText::Bool(true)));
        assert_eq!(int_text(b"-0"), Some(IntText::Bool(false)));
        assert_eq!(int_text(b" 5"), Some(IntText::Int(PyInt::Small(5))));
        assert_eq!(int_text(b"5 "), Some(IntText::Int(PyInt::Small(5))));
        assert_eq!(int_text(b"1_000"), Some(IntText::Int(PyInt::Small(1000))));
        assert_eq!(int_text(b"5\0x"), Some(IntText::Int(PyInt::Small(5))));
        assert_eq!(int_text(b"0b101"), Some(IntText::Int(PyInt::Small(5))));
        assert_eq!(int_text(b"0o17"), Some(IntText::Int(PyInt::Small(15))));
        assert_eq!(
            int_text(b"9223372036854775808"),
            PyInt::parse_decimal(b"9223372036854775808", 30).map(IntText::Int)
        );
        assert_eq!(int_text(b"-0x8000000000000001").map(|_| ()), Some(()));
        assert_eq!(
            py_int(b"-0x10000000000000000", 0)
                .unwrap()
                .to_decimal(100)
                .unwrap(),
            "-18446744073709551616"
        );
        assert_eq!(py_int(b"1__0", 0), None);
        assert_eq!(py_int(b"_1", 0), None);
        assert_eq!(py_int(b"0x_1f", 0), Some(PyInt::Small(31)));
        assert_eq!(long_text(b"12L"), Some(PyInt::Small(12)));
        assert_eq!(long_text(b"L"), None);
        assert_eq!(index_text(b"7"), Some(7));
    }

    #[test]
    fn floats() {
        assert_eq!(float_text(b"1.5"), Some(1.5));
        assert_eq!(float_text(b"-inf"), Some(f64::NEG_INFINITY));
        assert!(float_text(b"nan").unwrap().is_nan());
        assert_eq!(float_text(b"1e999"), None);
        assert_eq!(float_text(b"1.5 "), None);
        assert_eq!(float_text(b"0x10"), None);
        assert_eq!(float_text(b""), None);
        assert_eq!(float_text(b"--1"), None);
    }

    #[test]
    fn strings() {
        assert_eq!(string_text(b"'a\\nb\\x41\\101\\q'").unwrap(), b"a\nbAA\\q");
        assert_eq!(string_text(b"\"it's\"").unwrap(), b"it's");
        assert!(string_text(b"'abc").is_err());
        assert!(string_text(b"abc").is_err());
        assert!(string_text(b"'").is_err());
        assert!(string_text(b"'\\x4'").is_err());
        assert!(string_text(b"'\\'").is_err());
    }

    #[test]
    fn raw_unicode_escape() {
        let d = raw_unicode_escape_decode(b"a\\u00e9\\U0001f600\\\\u0041\xff").unwrap();
        assert_eq!(
            String::from_utf8(d).unwrap(),
            "a\u{e9}\u{1f600}\\\\u0041\u{ff}"
        );
        assert!(raw_unicode_escape_decode(b"\\u12").is_err());
        assert!(raw_unicode_escape_decode(b"\\U00110000").is_err());
        let s = "a\\\n\u{100}\u{1f600}\r\u{ff}".as_bytes();
        assert_eq!(
            raw_unicode_escape_encode(s),
            b"a\\u005c\\u000a\\u0100\\U0001f600\\u000d\xff".to_vec()
        );
        assert_eq!(
            raw_unicode_escape_decode(&raw_unicode_escape_encode(s)).unwrap(),
            s
        );
    }

    #[test]
    fn surrogatepass() {
        let mut lone = Vec::new();
        push_cp(&mut lone, 0xd800);
        assert_eq!(lone, b"\xed\xa0\x80");
        assert!(check_utf8_surrogatepass(&lone).is_ok());
        assert!(check_utf8_surrogatepass(b"\xc0\x80").is_err());
        assert!(check_utf8_surrogatepass(b"\xf4\x90\x80\x80").is_err());
        assert!(check_utf8_surrogatepass(b"ab\xe9").is_err());
        assert_eq!(
            code_points("h\u{e9}\u{1f600}".as_bytes()).collect::<Vec<_>>(),
            vec![0x68, 0xe9, 0x1f600]
        );
        assert_eq!(char_count("h\u{e9}\u{1f600}".as_bytes()), 3);
    }
}
