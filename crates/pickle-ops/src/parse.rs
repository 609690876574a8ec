//! The op parser (nom): one op at a time, or an iterator over a stream with
//! byte offsets. Arguments are borrowed from the input; lengths are checked
//! against the bytes actually present before anything is sliced, so a
//! claimed length of 2^62 is an error, never an allocation.

use nom::bytes::complete::take;
use nom::number::complete::{be_f64, le_i32, le_u16, le_u32, le_u64, le_u8};
use nom::{IResult, Parser};

use crate::op::Op;
use crate::opcode::Opcode;
use crate::text;

/// What went wrong while parsing an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A byte that is no opcode.
    UnknownOpcode(u8),
    /// The input ended inside this op's argument.
    Truncated(Opcode),
    /// The input ended before a STOP op.
    NoStop,
    /// A text argument had no terminating newline.
    MissingNewline(Opcode),
    /// A text argument is malformed (the text says how).
    BadText(Opcode, &'static str),
    /// A signed length field was negative.
    NegativeLength(Opcode),
}

/// A parse error at a byte offset of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Offset of the op that failed (of the missing byte for [`ParseErrorKind::NoStop`]).
    pub offset: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ParseErrorKind::UnknownOpcode(b) => {
                write!(f, "at byte {}: unknown opcode 0x{b:02x}", self.offset)
            }
            ParseErrorKind::Truncated(op) => write!(
                f,
                "at byte {}: {op} argument runs past the end of the input",
                self.offset
            ),
            ParseErrorKind::NoStop => write!(
                f,
                "at byte {}: pickle exhausted before seeing STOP",
                self.offset
            ),
            ParseErrorKind::MissingNewline(op) => write!(
                f,
                "at byte {}: {op} argument has no terminating newline",
                self.offset
            ),
            ParseErrorKind::BadText(op, why) => {
                write!(f, "at byte {}: bad {op} argument: {why}", self.offset)
            }
            ParseErrorKind::NegativeLength(op) => {
                write!(f, "at byte {}: {op} has a negative byte count", self.offset)
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// nom's error carrier: the kind is decided where we know it.
#[derive(Debug)]
struct PErr(ParseErrorKind);

impl<'a> nom::error::ParseError<&'a [u8]> for PErr {
    fn from_error_kind(_: &'a [u8], _: nom::error::ErrorKind) -> Self {
        PErr(ParseErrorKind::NoStop)
    }
    fn append(_: &'a [u8], _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type R<'a, T> = IResult<&'a [u8], T, PErr>;

fn fail<T>(kind: ParseErrorKind) -> R<'static, T> {
    Err(nom::Err::Error(PErr(kind)))
}

/// Maps any nom failure inside an argument to "truncated".
fn arg<'a, T>(op: Opcode, r: R<'a, T>) -> R<'a, T> {
    r.map_err(|e| e.map(|_| PErr(ParseErrorKind::Truncated(op))))
}

fn sized(op: Opcode, input: &[u8], n: u64) -> R<'_, &[u8]> {
    match usize::try_from(n) {
        Ok(n) if n <= input.len() => arg(op, take(n).parse(input)),
        _ => fail(ParseErrorKind::Truncated(op)),
    }
}

fn line(op: Opcode, input: &[u8]) -> R<'_, &[u8]> {
    match memchr(b'\n', input) {
        Some(i) => Ok((&input[i + 1..], &input[..i])),
        None => fail(ParseErrorKind::MissingNewline(op)),
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn checked<'a>(
    op: Opcode,
    r: R<'a, &'a [u8]>,
    ok: impl Fn(&[u8]) -> bool,
    why: &'static str,
) -> R<'a, &'a [u8]> {
    let (rest, t) = r?;
    if ok(t) {
        Ok((rest, t))
    } else {
        fail(ParseErrorKind::BadText(op, why))
    }
}

#[inline]
fn one_op(input: &[u8]) -> R<'_, Op<'_>> {
    let Some((&b, i)) = input.split_first() else {
        return fail(ParseErrorKind::NoStop);
    };
    let Some(opc) = Opcode::from_byte(b) else {
        return fail(ParseErrorKind::UnknownOpcode(b));
    };
    use Opcode as O;
    let o = opc;
    let (rest, op) = match opc {
        O::Mark => (i, Op::Mark),
        O::EmptyTuple => (i, Op::EmptyTuple),
        O::Stop => (i, Op::Stop),
        O::Pop => (i, Op::Pop),
        O::PopMark => (i, Op::PopMark),
        O::Dup => (i, Op::Dup),
        O::Binbytes => {
            let (i, n) = arg(o, le_u32(i))?;
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::Binbytes(s))
        }
        O::ShortBinbytes => {
            let (i, n) = arg(o, le_u8(i))?;
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::ShortBinbytes(s))
        }
        O::Float => {
            let (i, t) = checked(
                o,
                line(o, i),
                |t| text::float_text(t).is_some(),
                "not a float",
            )?;
            (i, Op::Float(t))
        }
        O::Binfloat => {
            let (i, v) = arg(o, be_f64(i))?;
            (i, Op::Binfloat(v))
        }
        O::Int => {
            let (i, t) = checked(o, line(o, i), |t| text::int_text(t).is_some(), "not an int")?;
            (i, Op::Int(t))
        }
        O::Binint => {
            let (i, v) = arg(o, le_i32(i))?;
            (i, Op::Binint(v))
        }
        O::Binint1 => {
            let (i, v) = arg(o, le_u8(i))?;
            (i, Op::Binint1(v))
        }
        O::Long => {
            let (i, t) = checked(
                o,
                line(o, i),
                |t| text::long_text(t).is_some(),
                "not an int",
            )?;
            (i, Op::Long(t))
        }
        O::Binint2 => {
            let (i, v) = arg(o, le_u16(i))?;
            (i, Op::Binint2(v))
        }
        O::None => (i, Op::None),
        O::Persid => {
            let (i, t) = line(o, i)?;
            (i, Op::Persid(t))
        }
        O::Binpersid => (i, Op::Binpersid),
        O::Reduce => (i, Op::Reduce),
        O::String => {
            let (i, t) = line(o, i)?;
            if let Err(why) = text::string_text(t) {
                return fail(ParseErrorKind::BadText(o, why));
            }
            (i, Op::String(t))
        }
        O::Binstring => {
            let (i, n) = arg(o, le_i32(i))?;
            if n < 0 {
                return fail(ParseErrorKind::NegativeLength(o));
            }
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::Binstring(s))
        }
        O::ShortBinstring => {
            let (i, n) = arg(o, le_u8(i))?;
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::ShortBinstring(s))
        }
        O::Unicode => {
            let (i, t) = line(o, i)?;
            if let Err(why) = text::raw_unicode_escape_decode(t) {
                return fail(ParseErrorKind::BadText(o, why));
            }
            (i, Op::Unicode(t))
        }
        O::Binunicode => {
            let (i, n) = arg(o, le_u32(i))?;
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::Binunicode(s))
        }
        O::EmptyList => (i, Op::EmptyList),
        O::Append => (i, Op::Append),
        O::Build => (i, Op::Build),
        O::Global | O::Inst => {
            let (i, m) = line(o, i)?;
            let (i, n) = line(o, i)?;
            (
                i,
                if o == O::Global {
                    Op::Global(m, n)
                } else {
                    Op::Inst(m, n)
                },
            )
        }
        O::Dict => (i, Op::Dict),
        O::Appends => (i, Op::Appends),
        O::Get | O::Put => {
            let (i, t) = checked(
                o,
                line(o, i),
                |t| text::index_text(t).is_some(),
                "not a memo index",
            )?;
            (i, if o == O::Get { Op::Get(t) } else { Op::Put(t) })
        }
        O::Binget => {
            let (i, v) = arg(o, le_u8(i))?;
            (i, Op::Binget(v))
        }
        O::LongBinget => {
            let (i, v) = arg(o, le_u32(i))?;
            (i, Op::LongBinget(v))
        }
        O::List => (i, Op::List),
        O::Obj => (i, Op::Obj),
        O::Binput => {
            let (i, v) = arg(o, le_u8(i))?;
            (i, Op::Binput(v))
        }
        O::LongBinput => {
            let (i, v) = arg(o, le_u32(i))?;
            (i, Op::LongBinput(v))
        }
        O::Setitem => (i, Op::Setitem),
        O::Tuple => (i, Op::Tuple),
        O::Setitems => (i, Op::Setitems),
        O::EmptyDict => (i, Op::EmptyDict),
        O::Proto => {
            let (i, v) = arg(o, le_u8(i))?;
            (i, Op::Proto(v))
        }
        O::Newobj => (i, Op::Newobj),
        O::Ext1 => {
            let (i, v) = arg(o, le_u8(i))?;
            (i, Op::Ext1(v))
        }
        O::Ext2 => {
            let (i, v) = arg(o, le_u16(i))?;
            (i, Op::Ext2(v))
        }
        O::Ext4 => {
            let (i, v) = arg(o, le_i32(i))?;
            (i, Op::Ext4(v))
        }
        O::Tuple1 => (i, Op::Tuple1),
        O::Tuple2 => (i, Op::Tuple2),
        O::Tuple3 => (i, Op::Tuple3),
        O::Newtrue => (i, Op::Newtrue),
        O::Newfalse => (i, Op::Newfalse),
        O::Long1 => {
            let (i, n) = arg(o, le_u8(i))?;
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::Long1(s))
        }
        O::Long4 => {
            let (i, n) = arg(o, le_i32(i))?;
            if n < 0 {
                return fail(ParseErrorKind::NegativeLength(o));
            }
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::Long4(s))
        }
        O::ShortBinunicode => {
            let (i, n) = arg(o, le_u8(i))?;
            let (i, s) = sized(o, i, n as u64)?;
            (i, Op::ShortBinunicode(s))
        }
        O::Binunicode8 => {
            let (i, n) = arg(o, le_u64(i))?;
            let (i, s) = sized(o, i, n)?;
            (i, Op::Binunicode8(s))
        }
        O::Binbytes8 => {
            let (i, n) = arg(o, le_u64(i))?;
            let (i, s) = sized(o, i, n)?;
            (i, Op::Binbytes8(s))
        }
        O::EmptySet => (i, Op::EmptySet),
        O::Additems => (i, Op::Additems),
        O::Frozenset => (i, Op::Frozenset),
        O::NewobjEx => (i, Op::NewobjEx),
        O::StackGlobal => (i, Op::StackGlobal),
        O::Memoize => (i, Op::Memoize),
        O::Frame => {
            let (i, n) = arg(o, le_u64(i))?;
            (i, Op::Frame(n))
        }
        O::Bytearray8 => {
            let (i, n) = arg(o, le_u64(i))?;
            let (i, s) = sized(o, i, n)?;
            (i, Op::Bytearray8(s))
        }
        O::NextBuffer => (i, Op::NextBuffer),
        O::ReadonlyBuffer => (i, Op::ReadonlyBuffer),
    };
    Ok((rest, op))
}

/// `N` bytes of `input` from `at`, if present.
#[inline(always)]
fn fixed<const N: usize>(input: &[u8], at: usize) -> Option<[u8; N]> {
    input.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// `input[at..at + n]`, if present.
#[inline(always)]
fn payload(input: &[u8], at: usize, n: usize) -> Option<(&[u8], usize)> {
    let end = at.checked_add(n)?;
    Some((input.get(at..end)?, end))
}

/// What [`parse_op_with`] hands each parsed op to: any
/// `FnOnce(Op, usize) -> R` closure, or a type of the caller's whose
/// [`OpVisit::visit`] is marked `#[inline(always)]` (a closure's body
/// cannot be, and a large one is not inlined into every branch).
pub trait OpVisit<'a> {
    /// What the visit returns.
    type Output;
    /// Takes the op and the number of bytes it took.
    fn visit(self, op: Op<'a>, len: usize) -> Self::Output;
}

impl<'a, R, F: FnOnce(Op<'a>, usize) -> R> OpVisit<'a> for F {
    type Output = R;
    #[inline(always)]
    fn visit(self, op: Op<'a>, len: usize) -> R {
        self(op, len)
    }
}

/// Parses one op at the start of `input` and returns `f.visit(op, len)`,
/// `len` being the bytes it took: the same as `f` applied to
/// [`parse_op`]'s result.
///
/// The binary opcodes CPython's pickler writes for builtin data (and its
/// memo and framing ops) are decoded by a hand-written fast path that
/// calls `f` in each opcode's own branch. Inlined there, `f` sees the
/// opcode as a constant, so a caller that matches on the op again (a
/// checker, a rewriter) does one dispatch per op, not two, and the op is
/// never stored as a value in between. Every other opcode, and every
/// input the fast path does not fully accept (a truncated argument), goes
/// to the general parser, which says what is wrong: both paths give the
/// same result for every input.
///
/// A closure's parameter types are not inferred through [`OpVisit`]:
/// name them, or pass a function.
///
/// ```
/// use pickle_ops::parse::parse_op_with;
/// use pickle_ops::Op;
///
/// fn is_memo_store(op: Op<'_>, _len: usize) -> bool {
///     matches!(op, Op::Memoize | Op::Binput(_) | Op::LongBinput(_) | Op::Put(_))
/// }
/// assert_eq!(parse_op_with(b"\x94", is_memo_store), Ok(true));
/// assert_eq!(parse_op_with(b"K\x05", |_: Op<'_>, len: usize| len), Ok(2));
/// assert!(parse_op_with(b"J\x01", is_memo_store).is_err());
/// ```
#[inline(always)]
pub fn parse_op_with<'a, V: OpVisit<'a>>(input: &'a [u8], f: V) -> Result<V::Output, ParseError> {
    macro_rules! op {
        ($op:expr, $len:expr) => {
            return Ok(f.visit($op, $len))
        };
    }
    // Length-prefixed payloads: the op and its end, when all present.
    macro_rules! sized {
        ($variant:ident, $at:expr, $len:expr) => {
            if let Some((s, end)) = $len.and_then(|n| payload(input, $at, n)) {
                op!(Op::$variant(s), end)
            }
        };
    }
    let byte1 = input.get(1).copied();
    let u8_len = byte1.map(usize::from);
    let u32_len = fixed::<4>(input, 1).map(|a| u32::from_le_bytes(a) as usize);
    let u64_len = || fixed::<8>(input, 1).and_then(|a| usize::try_from(u64::from_le_bytes(a)).ok());
    match input.first().copied() {
        Some(b'(') => op!(Op::Mark, 1),
        Some(b')') => op!(Op::EmptyTuple, 1),
        Some(b'.') => op!(Op::Stop, 1),
        Some(b'0') => op!(Op::Pop, 1),
        Some(b'N') => op!(Op::None, 1),
        Some(b'R') => op!(Op::Reduce, 1),
        Some(b']') => op!(Op::EmptyList, 1),
        Some(b'a') => op!(Op::Append, 1),
        Some(b'b') => op!(Op::Build, 1),
        Some(b'e') => op!(Op::Appends, 1),
        Some(b's') => op!(Op::Setitem, 1),
        Some(b't') => op!(Op::Tuple, 1),
        Some(b'u') => op!(Op::Setitems, 1),
        Some(b'}') => op!(Op::EmptyDict, 1),
        Some(0x81) => op!(Op::Newobj, 1),
        Some(0x85) => op!(Op::Tuple1, 1),
        Some(0x86) => op!(Op::Tuple2, 1),
        Some(0x87) => op!(Op::Tuple3, 1),
        Some(0x88) => op!(Op::Newtrue, 1),
        Some(0x89) => op!(Op::Newfalse, 1),
        Some(0x8f) => op!(Op::EmptySet, 1),
        Some(0x90) => op!(Op::Additems, 1),
        Some(0x91) => op!(Op::Frozenset, 1),
        Some(0x93) => op!(Op::StackGlobal, 1),
        Some(0x94) => op!(Op::Memoize, 1),
        Some(b'K') => {
            if let Some(v) = byte1 {
                op!(Op::Binint1(v), 2)
            }
        }
        Some(b'h') => {
            if let Some(v) = byte1 {
                op!(Op::Binget(v), 2)
            }
        }
        Some(b'q') => {
            if let Some(v) = byte1 {
                op!(Op::Binput(v), 2)
            }
        }
        Some(0x80) => {
            if let Some(v) = byte1 {
                op!(Op::Proto(v), 2)
            }
        }
        Some(b'M') => {
            if let Some(a) = fixed(input, 1) {
                op!(Op::Binint2(u16::from_le_bytes(a)), 3)
            }
        }
        Some(b'J') => {
            if let Some(a) = fixed(input, 1) {
                op!(Op::Binint(i32::from_le_bytes(a)), 5)
            }
        }
        Some(b'j') => {
            if let Some(a) = fixed(input, 1) {
                op!(Op::LongBinget(u32::from_le_bytes(a)), 5)
            }
        }
        Some(b'r') => {
            if let Some(a) = fixed(input, 1) {
                op!(Op::LongBinput(u32::from_le_bytes(a)), 5)
            }
        }
        Some(b'G') => {
            if let Some(a) = fixed(input, 1) {
                op!(Op::Binfloat(f64::from_be_bytes(a)), 9)
            }
        }
        Some(0x95) => {
            if let Some(a) = fixed(input, 1) {
                op!(Op::Frame(u64::from_le_bytes(a)), 9)
            }
        }
        Some(0x8c) => sized!(ShortBinunicode, 2, u8_len),
        Some(b'X') => sized!(Binunicode, 5, u32_len),
        Some(0x8d) => sized!(Binunicode8, 9, u64_len()),
        Some(b'C') => sized!(ShortBinbytes, 2, u8_len),
        Some(b'B') => sized!(Binbytes, 5, u32_len),
        Some(0x8e) => sized!(Binbytes8, 9, u64_len()),
        Some(0x8a) => sized!(Long1, 2, u8_len),
        _ => {}
    }
    let (op, len) = parse_op_general(input)?;
    Ok(f.visit(op, len))
}

/// Parses one op at the start of `input`; returns it and the bytes it took.
///
/// The binary opcodes CPython writes for builtin data are decoded by a
/// hand-written fast path ([`parse_op_with`]); the rest (and every error)
/// by the general parser. Both give the same result for any input.
#[inline]
pub fn parse_op(input: &[u8]) -> Result<(Op<'_>, usize), ParseError> {
    parse_op_with(input, |op, len| (op, len))
}

/// [`parse_op`] without its fast path.
#[inline(never)]
fn parse_op_general(input: &[u8]) -> Result<(Op<'_>, usize), ParseError> {
    match one_op(input) {
        Ok((rest, op)) => Ok((op, input.len() - rest.len())),
        Err(nom::Err::Error(PErr(kind)) | nom::Err::Failure(PErr(kind))) => {
            Err(ParseError { offset: 0, kind })
        }
        Err(nom::Err::Incomplete(_)) => Err(ParseError {
            offset: 0,
            kind: ParseErrorKind::NoStop,
        }),
    }
}

/// An iterator over the ops of a stream, with their byte offsets.
///
/// It stops after STOP (like `pickletools.genops`), or after the first
/// error, which it yields. Offsets count from `base` (0 for [`ops`]).
#[derive(Clone, Debug)]
pub struct Ops<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
    done: bool,
    stop_at_stop: bool,
}

/// Iterates the ops of one pickle in `input`, through its STOP.
pub fn ops(input: &[u8]) -> Ops<'_> {
    Ops {
        input,
        pos: 0,
        base: 0,
        done: false,
        stop_at_stop: true,
    }
}

impl<'a> Ops<'a> {
    /// Iterates every op of `input` without stopping at STOP; the end of the
    /// input ends the iteration without error (used for op fragments, such
    /// as an entry's value inside an mmpk file). Offsets count from `base`.
    pub fn fragment(input: &'a [u8], base: usize) -> Ops<'a> {
        Ops {
            input,
            pos: 0,
            base,
            done: false,
            stop_at_stop: false,
        }
    }

    /// Offset (from the base) of the next op.
    pub fn position(&self) -> usize {
        self.base + self.pos
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<(usize, Op<'a>), ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.pos;
        if !self.stop_at_stop && at >= self.input.len() {
            self.done = true;
            return None;
        }
        match parse_op(&self.input[at..]) {
            Ok((op, n)) => {
                self.pos += n;
                if self.stop_at_stop && matches!(op, Op::Stop) {
                    self.done = true;
                }
                Some(Ok((self.base + at, op)))
            }
            Err(mut e) => {
                self.done = true;
                e.offset = self.base + at;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_protocol_4_pickle() {
        // pickle.dumps({'a': [1, 2.5]}, 4)
        let data = b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00es.";
        let got: Vec<_> = ops(data).map(|r| r.unwrap()).collect();
        assert_eq!(got[0], (0, Op::Proto(4)));
        assert_eq!(got[1], (2, Op::Frame(23)));
        assert_eq!(got[4], (13, Op::ShortBinunicode(b"a")));
        assert_eq!(got[8], (19, Op::Mark));
        assert_eq!(got[9], (20, Op::Binint1(1)));
        assert_eq!(got[10], (22, Op::Binfloat(2.5)));
        assert_eq!(got.last().unwrap().1, Op::Stop);
    }

    #[test]
    fn huge_claimed_length_is_an_error_not_an_allocation() {
        let mut data = vec![0x8e];
        data.extend_from_slice(&(1u64 << 62).to_le_bytes());
        data.extend_from_slice(b"abc");
        let e = ops(&data).next().unwrap().unwrap_err();
        assert_eq!(
            e,
            ParseError {
                offset: 0,
                kind: ParseErrorKind::Truncated(Opcode::Binbytes8)
            }
        );
    }

    #[test]
    fn errors_name_offsets() {
        let e = ops(b"N\xff").nth(1).unwrap().unwrap_err();
        assert_eq!(
            e,
            ParseError {
                offset: 1,
                kind: ParseErrorKind::UnknownOpcode(0xff)
            }
        );
        let e = ops(b"NN").nth(2).unwrap().unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NoStop);
        assert_eq!(e.offset, 2);
        let e = ops(b"I12").next().unwrap().unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingNewline(Opcode::Int));
        let e = ops(b"Iab\n").next().unwrap().unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::BadText(Opcode::Int, _)));
        let e = ops(b"T\xff\xff\xff\xff").next().unwrap().unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NegativeLength(Opcode::Binstring));
        let e = ops(b"J\x01\x02").next().unwrap().unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Truncated(Opcode::Binint));
        assert!(ops(b"").next().unwrap().is_err());
    }

    #[test]
    fn text_forms() {
        let data = b"(S'a\\nb'\nV\\u00e9\nI01\nL5L\nF1.5\ncos\nsep\np0\ng0\nt.";
        let got: Vec<_> = ops(data).map(|r| r.unwrap().1).collect();
        assert_eq!(got[1], Op::String(b"'a\\nb'"));
        assert_eq!(got[2], Op::Unicode(b"\\u00e9"));
        assert_eq!(got[3], Op::Int(b"01"));
        assert_eq!(got[4], Op::Long(b"5L"));
        assert_eq!(got[5], Op::Float(b"1.5"));
        assert_eq!(got[6], Op::Global(b"os", b"sep"));
        assert_eq!(got[7], Op::Put(b"0"));
        assert_eq!(got[8], Op::Get(b"0"));
    }

    fn summary(op: Op<'_>, len: usize) -> (Opcode, crate::Arg<'_>, usize) {
        (op.opcode(), op.arg(), len)
    }

    /// Both paths of [`parse_op`] agree on `input`: what the fast path
    /// accepts, the general parser parses the same; the rest is the
    /// general parser's.
    fn same_as_general(input: &[u8]) {
        let general = parse_op_general(input);
        assert_eq!(parse_op(input), general, "{input:02x?}");
        let with = parse_op_with(input, summary);
        let general = general.map(|(op, len)| (op.opcode(), op.arg(), len));
        assert_eq!(with, general, "{input:02x?}");
    }

    /// Every opcode byte (and every other byte) with a length field of
    /// `len` in its width, followed by `tail`: complete, truncated and
    /// oversized arguments alike.
    fn with_length(first: u8, len: u64, tail: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for width in [0usize, 1, 2, 4, 8] {
            let mut v = vec![first];
            v.extend_from_slice(&len.to_le_bytes()[..width]);
            v.extend_from_slice(tail);
            out.push(v);
        }
        out
    }

    #[test]
    fn fast_path_equals_the_general_parser_on_every_opcode() {
        let tail: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for first in 0..=255u8 {
            for len in [0, 1, 3, 7, 8, 30, 39, 40, 41, 255, 1 << 32, u64::MAX] {
                for v in with_length(first, len, &tail) {
                    for cut in 0..=v.len() {
                        same_as_general(&v[..cut]);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 4000, ..Default::default()
        })]

        #[test]
        fn fast_path_equals_the_general_parser(
            first in proptest::prelude::any::<u8>(),
            len in 0u64..48,
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            for v in with_length(first, len, &tail) {
                same_as_general(&v);
            }
        }
    }

    #[test]
    fn fragments_end_without_stop() {
        let v: Vec<_> = Ops::fragment(b"NN0", 100).map(|r| r.unwrap().0).collect();
        assert_eq!(v, vec![100, 101, 102]);
    }
}
