//! One parsed opcode with its argument, borrowed from the input.

use crate::opcode::Opcode;

/// One pickle operation: an opcode and its argument. Arguments that are bytes
/// in the stream are borrowed from the input (zero-copy). Text arguments of
/// protocol 0 keep their raw text (without the newline) and are checked when
/// parsed; [`crate::text`] interprets them.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)] // each variant is the opcode of the same name
pub enum Op<'a> {
    Mark,
    EmptyTuple,
    Stop,
    Pop,
    PopMark,
    Dup,
    /// `BINBYTES`: u32 length + bytes.
    Binbytes(&'a [u8]),
    /// `SHORT_BINBYTES`: u8 length + bytes.
    ShortBinbytes(&'a [u8]),
    /// `FLOAT`: the float's text.
    Float(&'a [u8]),
    /// `BINFLOAT`: a big-endian double.
    Binfloat(f64),
    /// `INT`: decimal text, or `00`/`01` for False/True.
    Int(&'a [u8]),
    Binint(i32),
    Binint1(u8),
    /// `LONG`: decimal text with an optional trailing `L`.
    Long(&'a [u8]),
    Binint2(u16),
    None,
    /// `PERSID`: the id's text.
    Persid(&'a [u8]),
    Binpersid,
    Reduce,
    /// `STRING`: the quoted, escaped text, quotes included.
    String(&'a [u8]),
    Binstring(&'a [u8]),
    ShortBinstring(&'a [u8]),
    /// `UNICODE`: raw-unicode-escape text.
    Unicode(&'a [u8]),
    /// `BINUNICODE`: UTF-8 (surrogatepass) bytes.
    Binunicode(&'a [u8]),
    EmptyList,
    Append,
    Build,
    /// `GLOBAL`: module line and name line.
    Global(&'a [u8], &'a [u8]),
    Dict,
    Appends,
    /// `GET`: decimal text of the memo index.
    Get(&'a [u8]),
    Binget(u8),
    /// `INST`: module line and name line.
    Inst(&'a [u8], &'a [u8]),
    LongBinget(u32),
    List,
    Obj,
    /// `PUT`: decimal text of the memo index.
    Put(&'a [u8]),
    Binput(u8),
    LongBinput(u32),
    Setitem,
    Tuple,
    Setitems,
    EmptyDict,
    Proto(u8),
    Newobj,
    Ext1(u8),
    Ext2(u16),
    Ext4(i32),
    Tuple1,
    Tuple2,
    Tuple3,
    Newtrue,
    Newfalse,
    /// `LONG1`: little-endian two's complement bytes.
    Long1(&'a [u8]),
    /// `LONG4`: little-endian two's complement bytes.
    Long4(&'a [u8]),
    ShortBinunicode(&'a [u8]),
    Binunicode8(&'a [u8]),
    Binbytes8(&'a [u8]),
    EmptySet,
    Additems,
    Frozenset,
    NewobjEx,
    StackGlobal,
    Memoize,
    /// `FRAME`: the frame's length.
    Frame(u64),
    Bytearray8(&'a [u8]),
    NextBuffer,
    ReadonlyBuffer,
}

/// An op's argument in a uniform shape, for generic code (disassembly,
/// comparison).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg<'a> {
    /// The op has no argument.
    None,
    /// An integer argument.
    Int(i64),
    /// A float argument, as its IEEE-754 bits.
    FloatBits(u64),
    /// A byte-string argument (payload or text line).
    Bytes(&'a [u8]),
    /// Two text lines (GLOBAL, INST).
    Pair(&'a [u8], &'a [u8]),
}

impl<'a> Op<'a> {
    /// The opcode of this op.
    pub fn opcode(&self) -> Opcode {
        use Op::*;
        match self {
            Mark => Opcode::Mark,
            EmptyTuple => Opcode::EmptyTuple,
            Stop => Opcode::Stop,
            Pop => Opcode::Pop,
            PopMark => Opcode::PopMark,
            Dup => Opcode::Dup,
            Binbytes(_) => Opcode::Binbytes,
            ShortBinbytes(_) => Opcode::ShortBinbytes,
            Float(_) => Opcode::Float,
            Binfloat(_) => Opcode::Binfloat,
            Int(_) => Opcode::Int,
            Binint(_) => Opcode::Binint,
            Binint1(_) => Opcode::Binint1,
            Long(_) => Opcode::Long,
            Binint2(_) => Opcode::Binint2,
            None => Opcode::None,
            Persid(_) => Opcode::Persid,
            Binpersid => Opcode::Binpersid,
            Reduce => Opcode::Reduce,
            String(_) => Opcode::String,
            Binstring(_) => Opcode::Binstring,
            ShortBinstring(_) => Opcode::ShortBinstring,
            Unicode(_) => Opcode::Unicode,
            Binunicode(_) => Opcode::Binunicode,
            EmptyList => Opcode::EmptyList,
            Append => Opcode::Append,
            Build => Opcode::Build,
            Global(..) => Opcode::Global,
            Dict => Opcode::Dict,
            Appends => Opcode::Appends,
            Get(_) => Opcode::Get,
            Binget(_) => Opcode::Binget,
            Inst(..) => Opcode::Inst,
            LongBinget(_) => Opcode::LongBinget,
            List => Opcode::List,
            Obj => Opcode::Obj,
            Put(_) => Opcode::Put,
            Binput(_) => Opcode::Binput,
            LongBinput(_) => Opcode::LongBinput,
            Setitem => Opcode::Setitem,
            Tuple => Opcode::Tuple,
            Setitems => Opcode::Setitems,
            EmptyDict => Opcode::EmptyDict,
            Proto(_) => Opcode::Proto,
            Newobj => Opcode::Newobj,
            Ext1(_) => Opcode::Ext1,
            Ext2(_) => Opcode::Ext2,
            Ext4(_) => Opcode::Ext4,
            Tuple1 => Opcode::Tuple1,
            Tuple2 => Opcode::Tuple2,
            Tuple3 => Opcode::Tuple3,
            Newtrue => Opcode::Newtrue,
            Newfalse => Opcode::Newfalse,
            Long1(_) => Opcode::Long1,
            Long4(_) => Opcode::Long4,
            ShortBinunicode(_) => Opcode::ShortBinunicode,
            Binunicode8(_) => Opcode::Binunicode8,
            Binbytes8(_) => Opcode::Binbytes8,
            EmptySet => Opcode::EmptySet,
            Additems => Opcode::Additems,
            Frozenset => Opcode::Frozenset,
            NewobjEx => Opcode::NewobjEx,
            StackGlobal => Opcode::StackGlobal,
            Memoize => Opcode::Memoize,
            Frame(_) => Opcode::Frame,
            Bytearray8(_) => Opcode::Bytearray8,
            NextBuffer => Opcode::NextBuffer,
            ReadonlyBuffer => Opcode::ReadonlyBuffer,
        }
    }

    /// The argument in a uniform shape.
    pub fn arg(&self) -> Arg<'a> {
        use Op::*;
        match *self {
            Binbytes(b) | ShortBinbytes(b) | Float(b) | Int(b) | Long(b) | Persid(b)
            | String(b) | Binstring(b) | ShortBinstring(b) | Unicode(b) | Binunicode(b)
            | Get(b) | Put(b) | Long1(b) | Long4(b) | ShortBinunicode(b) | Binunicode8(b)
            | Binbytes8(b) | Bytearray8(b) => Arg::Bytes(b),
            Global(m, n) | Inst(m, n) => Arg::Pair(m, n),
            Binfloat(f) => Arg::FloatBits(f.to_bits()),
            Binint(i) | Ext4(i) => Arg::Int(i as i64),
            Binint1(i) | Binget(i) | Binput(i) | Proto(i) | Ext1(i) => Arg::Int(i as i64),
            Binint2(i) | Ext2(i) => Arg::Int(i as i64),
            LongBinget(i) | LongBinput(i) => Arg::Int(i as i64),
            Frame(n) => Arg::Int(n as i64),
            _ => Arg::None,
        }
    }
}

impl PartialEq for Op<'_> {
    fn eq(&self, other: &Self) -> bool {
        // FRAME lengths above i64::MAX would alias in `Arg::Int`; compare them apart.
        match (self, other) {
            (Op::Frame(a), Op::Frame(b)) => a == b,
            _ => self.opcode() == other.opcode() && self.arg() == other.arg(),
        }
    }
}
