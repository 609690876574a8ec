//! Python integers of any size: small ones as `i64`, others as minimal
//! little-endian two's complement bytes (the LONG1/LONG4 payload form).

use std::fmt;

/// A Python `int`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PyInt {
    /// Fits in an `i64`.
    Small(i64),
    /// Does not fit in an `i64`: minimal little-endian two's complement bytes.
    Big(Box<[u8]>),
}

/// Python's limit on decimal digits when converting between `int` and `str`
/// (`sys.get_int_max_str_digits()`, 4300 by default since 3.11).
pub const INT_MAX_STR_DIGITS: usize = 4300;

impl PyInt {
    /// Decodes LONG1/LONG4 payload bytes (little-endian two's complement;
    /// empty means 0).
    pub fn from_le_bytes(b: &[u8]) -> PyInt {
        // Strip redundant sign-extension bytes.
        let neg = b.last().is_some_and(|x| x & 0x80 != 0);
        let fill = if neg { 0xff } else { 0 };
        let mut n = b.len();
        while n > 1 && b[n - 1] == fill && (b[n - 2] & 0x80 != 0) == neg {
            n -= 1;
        }
        if n == 1 && b[0] == 0 {
            n = 0;
        }
        let b = &b[..n];
        if b.len() <= 8 {
            let mut buf = [fill; 8];
            buf[..b.len()].copy_from_slice(b);
            PyInt::Small(i64::from_le_bytes(buf))
        } else {
            PyInt::Big(b.into())
        }
    }

    /// The minimal little-endian two's complement bytes, as CPython's
    /// `encode_long` writes them (0 is empty).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            PyInt::Big(b) => b.to_vec(),
            PyInt::Small(0) => Vec::new(),
            PyInt::Small(v) => {
                // CPython: nbytes = bit_length(|x|) / 8 + 1, then one
                // redundant 0xff is trimmed from negative numbers.
                let abs_bits = 64 - v.unsigned_abs().leading_zeros();
                let n = (abs_bits as usize >> 3) + 1;
                let bytes = v.to_le_bytes();
                let ext = if *v < 0 { 0xff } else { 0 };
                let mut out: Vec<u8> = (0..n).map(|i| if i < 8 { bytes[i] } else { ext }).collect();
                if *v < 0 && n > 1 && out[n - 1] == 0xff && out[n - 2] & 0x80 != 0 {
                    out.pop();
                }
                out
            }
        }
    }

    /// Whether the value is negative.
    pub fn is_negative(&self) -> bool {
        match self {
            PyInt::Small(v) => *v < 0,
            PyInt::Big(b) => b.last().is_some_and(|x| x & 0x80 != 0),
        }
    }

    /// The value as an `i64`, if it fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PyInt::Small(v) => Some(*v),
            PyInt::Big(_) => None,
        }
    }

    /// Parses optionally signed decimal digits (no other characters).
    /// Returns `None` for anything else, or for more than `max_digits` digits.
    pub fn parse_decimal(text: &[u8], max_digits: usize) -> Option<PyInt> {
        let (neg, digits) = match text.first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let significant = digits
            .iter()
            .position(|&d| d != b'0')
            .map_or(0, |p| digits.len() - p);
        if significant > max_digits {
            return None;
        }
        if digits.len() <= 18 {
            let mut v: i64 = 0;
            for &d in digits {
                v = v * 10 + (d - b'0') as i64;
            }
            return Some(PyInt::Small(if neg { -v } else { v }));
        }
        // Magnitude as base-1e9 limbs, little-endian.
        let mut limbs: Vec<u32> = Vec::with_capacity(digits.len() / 9 + 1);
        for chunk in digits.chunks(9) {
            let mut mul: u64 = 1;
            let mut add: u64 = 0;
            for &d in chunk {
                mul *= 10;
                add = add * 10 + (d - b'0') as u64;
            }
            let mut carry = add;
            for l in limbs.iter_mut() {
                let x = *l as u64 * mul + carry;
                *l = x as u32;
                carry = x >> 32;
            }
            if carry != 0 {
                limbs.push(carry as u32);
            }
        }
        Some(from_magnitude(&limbs, neg))
    }

    /// Decimal text, or `None` when it would exceed `max_digits` digits.
    pub fn to_decimal(&self, max_digits: usize) -> Option<String> {
        match self {
            PyInt::Small(v) => Some(v.to_string()),
            PyInt::Big(b) => {
                let neg = self.is_negative();
                let mut mag = magnitude_u32(b, neg);
                // Rough digit bound: 32 bits per limb ~ 9.63 digits.
                if (mag.len() as u64 * 963 / 100) as usize > max_digits.saturating_add(10) {
                    return None;
                }
                let mut chunks: Vec<u32> = Vec::new();
                while !(mag.is_empty()) {
                    let mut rem: u64 = 0;
                    for l in mag.iter_mut().rev() {
                        let x = (rem << 32) | *l as u64;
                        *l = (x / 1_000_000_000) as u32;
                        rem = x % 1_000_000_000;
                    }
                    chunks.push(rem as u32);
                    while mag.last() == Some(&0) {
                        mag.pop();
                    }
                }
                let mut s = String::with_capacity(chunks.len() * 9 + 1);
                if neg {
                    s.push('-');
                }
                let mut it = chunks.iter().rev();
                if let Some(first) = it.next() {
                    s.push_str(&first.to_string());
                }
                for c in it {
                    s.push_str(&format!("{c:09}"));
                }
                let ndigits = s.len() - neg as usize;
                (ndigits <= max_digits).then_some(s)
            }
        }
    }
}

/// Negates little-endian two's complement bytes in place (invert, add one).
pub(crate) fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for x in bytes.iter_mut() {
        *x = !*x;
        if carry {
            let (y, c) = x.overflowing_add(1);
            *x = y;
            carry = c;
        }
    }
}

/// Magnitude limbs (little-endian u32) of two's complement bytes.
fn magnitude_u32(b: &[u8], neg: bool) -> Vec<u32> {
    let mut bytes = b.to_vec();
    if neg {
        negate(&mut bytes);
    }
    let mut limbs: Vec<u32> = bytes
        .chunks(4)
        .map(|c| {
            let mut buf = [0u8; 4];
            buf[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(buf)
        })
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    limbs
}

/// Builds a `PyInt` from a magnitude (little-endian u32 limbs) and a sign.
fn from_magnitude(limbs: &[u32], neg: bool) -> PyInt {
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0);
    if neg {
        negate(&mut bytes);
    }
    PyInt::from_le_bytes(&bytes)
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_decimal(usize::MAX) {
            Some(s) => f.write_str(&s),
            None => f.write_str("<int too large>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> PyInt {
        PyInt::parse_decimal(s.as_bytes(), usize::MAX).unwrap()
    }

    #[test]
    fn le_bytes_match_cpython_encode_long() {
        // Values from pickle.encode_long.
        let cases: &[(i64, &[u8])] = &[
            (0, b""),
            (255, b"\xff\x00"),
            (32767, b"\xff\x7f"),
            (-256, b"\x00\xff"),
            (-32768, b"\x00\x80"),
            (-128, b"\x80"),
            (127, b"\x7f"),
            (-1, b"\xff"),
            (i64::MIN, b"\x00\x00\x00\x00\x00\x00\x00\x80"),
            (i64::MAX, b"\xff\xff\xff\xff\xff\xff\xff\x7f"),
        ];
        for (v, bytes) in cases {
            assert_eq!(PyInt::Small(*v).to_le_bytes(), bytes.to_vec(), "{v}");
            assert_eq!(PyInt::from_le_bytes(bytes), PyInt::Small(*v));
        }
    }

    #[test]
    fn big_decimal_round_trip() {
        for s in [
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "-340282366920938463463374607431768211456",
            "123456789012345678901234567890123456789012345678901234567890",
        ] {
            let v = dec(s);
            assert!(matches!(v, PyInt::Big(_)));
            assert_eq!(v.to_decimal(usize::MAX).unwrap(), s);
            assert_eq!(PyInt::from_le_bytes(&v.to_le_bytes()), v);
        }
        // 2**64 = 00..00 01 00 (9 bytes + sign byte)
        assert_eq!(
            dec("18446744073709551616").to_le_bytes(),
            b"\x00\x00\x00\x00\x00\x00\x00\x00\x01".to_vec()
        );
        assert_eq!(dec("-0"), PyInt::Small(0));
        assert_eq!(dec("000123"), PyInt::Small(123));
        assert!(PyInt::parse_decimal(b"12a", 100).is_none());
        assert!(PyInt::parse_decimal(b"", 100).is_none());
        assert!(PyInt::parse_decimal(b"-", 100).is_none());
        assert!(PyInt::parse_decimal(&[b'1'; 4301], INT_MAX_STR_DIGITS).is_none());
    }

    #[test]
    fn non_minimal_input_is_normalised() {
        assert_eq!(PyInt::from_le_bytes(b"\x01\x00\x00"), PyInt::Small(1));
        assert_eq!(PyInt::from_le_bytes(b"\xff\xff\xff"), PyInt::Small(-1));
        assert_eq!(PyInt::from_le_bytes(&[0u8; 20]), PyInt::Small(0));
        let mut b = vec![0u8; 9];
        b[8] = 1;
        b.extend([0, 0, 0]);
        assert_eq!(PyInt::from_le_bytes(&b).to_le_bytes(), b[..9].to_vec());
    }
}
