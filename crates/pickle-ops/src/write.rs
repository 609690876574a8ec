//! The op writer: the mirror of [`crate::parse`].

use crate::op::Op;

/// Appends one op to `out`, exactly as the parser reads it back.
///
/// Length-prefixed arguments take their length from the slice. A slice too
/// long for its op's length field (e.g. 256 bytes for SHORT_BINBYTES) is
/// written with a wrapped length, which the parser then rejects or misreads:
/// choose the op for the size, as [`crate::encode`] does.
pub fn write_op(op: &Op<'_>, out: &mut Vec<u8>) {
    out.push(op.opcode().byte());
    match *op {
        Op::Binbytes(s) | Op::Binunicode(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
        Op::Binstring(s) | Op::Long4(s) => {
            out.extend_from_slice(&(s.len() as i32).to_le_bytes());
            out.extend_from_slice(s);
        }
        Op::ShortBinbytes(s) | Op::ShortBinstring(s) | Op::Long1(s) | Op::ShortBinunicode(s) => {
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
        Op::Binunicode8(s) | Op::Binbytes8(s) | Op::Bytearray8(s) => {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s);
        }
        Op::Float(t)
        | Op::Int(t)
        | Op::Long(t)
        | Op::Persid(t)
        | Op::String(t)
        | Op::Unicode(t)
        | Op::Get(t)
        | Op::Put(t) => {
            out.extend_from_slice(t);
            out.push(b'\n');
        }
        Op::Global(m, n) | Op::Inst(m, n) => {
            out.extend_from_slice(m);
            out.push(b'\n');
            out.extend_from_slice(n);
            out.push(b'\n');
        }
        Op::Binfloat(v) => out.extend_from_slice(&v.to_be_bytes()),
        Op::Binint(v) | Op::Ext4(v) => out.extend_from_slice(&v.to_le_bytes()),
        Op::Binint1(v) | Op::Binget(v) | Op::Binput(v) | Op::Proto(v) | Op::Ext1(v) => out.push(v),
        Op::Binint2(v) | Op::Ext2(v) => out.extend_from_slice(&v.to_le_bytes()),
        Op::LongBinget(v) | Op::LongBinput(v) => out.extend_from_slice(&v.to_le_bytes()),
        Op::Frame(n) => out.extend_from_slice(&n.to_le_bytes()),
        Op::Mark
        | Op::EmptyTuple
        | Op::Stop
        | Op::Pop
        | Op::PopMark
        | Op::Dup
        | Op::None
        | Op::Binpersid
        | Op::Reduce
        | Op::EmptyList
        | Op::Append
        | Op::Build
        | Op::Dict
        | Op::Appends
        | Op::List
        | Op::Obj
        | Op::Setitem
        | Op::Tuple
        | Op::Setitems
        | Op::EmptyDict
        | Op::Newobj
        | Op::Tuple1
        | Op::Tuple2
        | Op::Tuple3
        | Op::Newtrue
        | Op::Newfalse
        | Op::EmptySet
        | Op::Additems
        | Op::Frozenset
        | Op::NewobjEx
        | Op::StackGlobal
        | Op::Memoize
        | Op::NextBuffer
        | Op::ReadonlyBuffer => {}
    }
}

/// Writes a sequence of ops into a new buffer.
pub fn write_ops<'a>(ops: impl IntoIterator<Item = Op<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        write_op(&op, &mut out);
    }
    out
}
