//! How CPython pickles the small values of the layout (a str, a tuple of
//! non-negative ints), and reading a `LONG1` int back: shared by the
//! descr, array and cursor modules.

use pickle_ops::{write_op, Op};

/// A str as CPython writes it at protocol 4.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.len() < 256 {
        write_op(&Op::ShortBinunicode(b), out);
    } else if u32::try_from(b.len()).is_ok() {
        write_op(&Op::Binunicode(b), out);
    } else {
        write_op(&Op::Binunicode8(b), out);
    }
}

/// Appends a tuple of non-negative ints the way CPython's pickler does
/// (protocol 2+), without memo ops.
pub(crate) fn write_shape(out: &mut Vec<u8>, shape: &[u64]) {
    if shape.is_empty() {
        write_op(&Op::EmptyTuple, out);
        return;
    }
    let mark = shape.len() > 3;
    if mark {
        write_op(&Op::Mark, out);
    }
    for &d in shape {
        if d < 1 << 8 {
            write_op(&Op::Binint1(d as u8), out);
        } else if d < 1 << 16 {
            write_op(&Op::Binint2(d as u16), out);
        } else if d < 1 << 31 {
            write_op(&Op::Binint(d as i32), out);
        } else {
            // Minimal two's complement, little-endian.
            let mut b = d.to_le_bytes().to_vec();
            while b.last() == Some(&0) {
                b.pop();
            }
            if b.last().is_some_and(|&x| x & 0x80 != 0) {
                b.push(0);
            }
            write_op(&Op::Long1(&b), out);
        }
    }
    write_op(
        &match shape.len() {
            1 => Op::Tuple1,
            2 => Op::Tuple2,
            3 => Op::Tuple3,
            _ => Op::Tuple,
        },
        out,
    );
}

/// A LONG1 argument (two's complement, little-endian) as a `u64`, if it is
/// non-negative and fits.
pub(crate) fn long1_to_u64(b: &[u8]) -> Option<u64> {
    if b.last().is_some_and(|&x| x & 0x80 != 0) {
        return None;
    }
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        if x != 0 {
            if i >= 8 {
                return None;
            }
            v |= u64::from(x) << (8 * i);
        }
    }
    Some(v)
}
