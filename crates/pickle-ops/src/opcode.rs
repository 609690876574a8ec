//! The opcode table: every opcode of protocols 0-5 with its byte, protocol,
//! argument kind and stack effect, as CPython's `pickletools` describes them.

use crate::table::INFO;
pub use crate::table::{Opcode, ALL};

/// How an opcode's argument is laid out in the stream (`pickletools` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// Decimal text up to a newline; `00`/`01` mean False/True (INT, GET, PUT).
    DecimalNlShort,
    /// Decimal text with an optional trailing `L`, up to a newline (LONG).
    DecimalNlLong,
    /// A quoted, escaped string up to a newline (STRING).
    StringNl,
    /// Raw text up to a newline (PERSID).
    StringNlNoEscape,
    /// Two raw text lines (GLOBAL, INST).
    StringNlNoEscapePair,
    /// raw-unicode-escape text up to a newline (UNICODE).
    UnicodeStringNl,
    /// Float text up to a newline (FLOAT).
    FloatNl,
    /// One unsigned byte.
    Uint1,
    /// Unsigned 16-bit little-endian.
    Uint2,
    /// Signed 32-bit little-endian.
    Int4,
    /// Unsigned 32-bit little-endian.
    Uint4,
    /// Unsigned 64-bit little-endian.
    Uint8,
    /// u8 length, then that many bytes of little-endian two's complement.
    Long1,
    /// i32 length, then that many bytes of little-endian two's complement.
    Long4,
    /// u8 length, then a Python 2 string.
    String1,
    /// i32 length, then a Python 2 string.
    String4,
    /// u8 length, then bytes.
    Bytes1,
    /// u32 length, then bytes.
    Bytes4,
    /// u64 length, then bytes.
    Bytes8,
    /// u64 length, then bytes of a bytearray.
    ByteArray8,
    /// u8 length, then UTF-8 (surrogates allowed).
    UnicodeString1,
    /// u32 length, then UTF-8 (surrogates allowed).
    UnicodeString4,
    /// u64 length, then UTF-8 (surrogates allowed).
    UnicodeString8,
    /// Big-endian IEEE-754 double.
    Float8,
}

/// The kinds of stack items `pickletools` uses to describe stack effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackKind {
    /// `int`
    Int,
    /// `int_or_bool`
    IntOrBool,
    /// `bytes`
    Bytes,
    /// `bytes_or_str`
    BytesOrStr,
    /// `bytearray`
    ByteArray,
    /// `buffer`
    Buffer,
    /// `None`
    None,
    /// `bool`
    Bool,
    /// `str`
    Str,
    /// `float`
    Float,
    /// `list`
    List,
    /// `tuple`
    Tuple,
    /// `dict`
    Dict,
    /// `set`
    Set,
    /// `frozenset`
    FrozenSet,
    /// `any`
    Any,
    /// `mark`: the markobject.
    Mark,
    /// `stackslice`: everything above the topmost mark.
    StackSlice,
}

impl StackKind {
    /// The name `pickletools` prints for this kind.
    pub fn name(self) -> &'static str {
        match self {
            StackKind::Int => "int",
            StackKind::IntOrBool => "int_or_bool",
            StackKind::Bytes => "bytes",
            StackKind::BytesOrStr => "bytes_or_str",
            StackKind::ByteArray => "bytearray",
            StackKind::Buffer => "buffer",
            StackKind::None => "None",
            StackKind::Bool => "bool",
            StackKind::Str => "str",
            StackKind::Float => "float",
            StackKind::List => "list",
            StackKind::Tuple => "tuple",
            StackKind::Dict => "dict",
            StackKind::Set => "set",
            StackKind::FrozenSet => "frozenset",
            StackKind::Any => "any",
            StackKind::Mark => "mark",
            StackKind::StackSlice => "stackslice",
        }
    }
}

/// What is known about one opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpcodeInfo {
    /// The opcode.
    pub opcode: Opcode,
    /// CPython's name, e.g. `SHORT_BINUNICODE`.
    pub name: &'static str,
    /// The opcode byte.
    pub code: u8,
    /// The argument's layout, if it has one.
    pub arg: Option<ArgKind>,
    /// The protocol that introduced it.
    pub proto: u8,
    /// Stack items it consumes (topmost last).
    pub stack_before: &'static [StackKind],
    /// Stack items it produces (topmost last).
    pub stack_after: &'static [StackKind],
    /// The first line of `pickletools`' description.
    pub doc: &'static str,
}

const fn build_lookup() -> [u8; 256] {
    let mut t = [u8::MAX; 256];
    let mut i = 0;
    while i < INFO.len() {
        t[INFO[i].code as usize] = i as u8;
        i += 1;
    }
    t
}

static LOOKUP: [u8; 256] = build_lookup();

impl Opcode {
    /// The opcode for a byte, or `None` for a byte that is no opcode.
    #[inline]
    pub fn from_byte(b: u8) -> Option<Opcode> {
        match LOOKUP[b as usize] {
            u8::MAX => None,
            i => Some(INFO[i as usize].opcode),
        }
    }

    /// The opcode's byte.
    #[inline]
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// Everything known about this opcode.
    #[inline]
    pub fn info(self) -> &'static OpcodeInfo {
        &INFO[LOOKUP[self as usize] as usize]
    }

    /// CPython's name for it.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The protocol that introduced it.
    pub fn proto(self) -> u8 {
        self.info().proto
    }

    /// Its argument layout.
    pub fn arg(self) -> Option<ArgKind> {
        self.info().arg
    }

    /// Looks an opcode up by CPython's name.
    pub fn from_name(name: &str) -> Option<Opcode> {
        INFO.iter().find(|i| i.name == name).map(|i| i.opcode)
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_consistent() {
        assert_eq!(ALL.len(), 68);
        let mut seen = std::collections::HashSet::new();
        for op in ALL {
            assert!(seen.insert(op.byte()));
            assert_eq!(Opcode::from_byte(op.byte()), Some(op));
            assert_eq!(op.info().opcode, op);
            assert_eq!(Opcode::from_name(op.name()), Some(op));
            assert!(op.proto() <= 5);
        }
        let unknown = (0u8..=255)
            .filter(|b| Opcode::from_byte(*b).is_none())
            .count();
        assert_eq!(unknown, 256 - 68);
        assert_eq!(Opcode::from_byte(b'.'), Some(Opcode::Stop));
        assert_eq!(Opcode::Frame.arg(), Some(ArgKind::Uint8));
        assert_eq!(Opcode::Bytearray8.proto(), 5);
    }
}
