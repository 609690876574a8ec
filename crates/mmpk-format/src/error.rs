//! The crate's one error type. Every variant that comes from input bytes
//! names the byte offset (from the start of the file) where it was found.

use std::fmt;

/// Everything that can go wrong reading or writing the mmpk layout.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the `needed` bytes that start at `offset`.
    Truncated {
        /// Where the missing structure starts.
        offset: usize,
        /// How many bytes it needs from `offset`.
        needed: u64,
    },
    /// A byte of the header differs from the fixed header.
    BadHeader {
        /// Offset of the differing byte.
        offset: usize,
        /// The byte the format requires there.
        expected: u8,
        /// The byte found.
        found: u8,
    },
    /// The header's format version is not 1.
    UnsupportedVersion {
        /// The version found (at byte 12).
        found: i32,
    },
    /// A structure of an entry frame is not what docs/format.md section 3 says.
    BadEntry {
        /// Offset of the offending byte.
        offset: usize,
        /// What was expected there.
        what: &'static str,
    },
    /// An entry's key is not UTF-8.
    KeyNotUtf8 {
        /// Offset of the key's first byte.
        offset: usize,
    },
    /// A key longer than 255 UTF-8 bytes was given to a writer.
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// A value given to a writer is empty (a value pushes one object).
    EmptyValue,
    /// A memo max above `i32::MAX` was given to a writer.
    MemoMaxTooLarge {
        /// The value given.
        memo_max: u32,
    },
    /// An alignment that is not a power of two in `8..=4096`.
    BadAlignment {
        /// The alignment given.
        align: u64,
    },
    /// A filler length that no filler entry has (0 or at least 20 bytes).
    BadFillerLen {
        /// The length given.
        len: u64,
    },
    /// A pickle op could not be parsed (its offset is in the inner error).
    Op(pickle_ops::ParseError),
    /// A value is not an array in either encoding of docs/format.md section 5.
    NotAnArray {
        /// Offset of the first op that does not fit.
        offset: usize,
        /// What was expected there.
        what: &'static str,
    },
    /// A dtype string longer than 255 bytes was given to a writer.
    DtypeTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A shape of more than 64 dimensions (numpy's limit).
    TooManyDims {
        /// The number of dimensions.
        ndim: usize,
    },
    /// An offset or length does not fit in this platform's integers.
    Overflow {
        /// Offset of the structure whose arithmetic overflowed.
        offset: usize,
    },
    /// A dtype string, name or descr that is not a numpy dtype this crate
    /// stores (see [`crate::dtype`]).
    BadDtype {
        /// Offset of the op holding it (0 when parsed from a string alone).
        offset: usize,
        /// The offending text (at most 200 bytes of it; may be empty).
        dtype: String,
        /// What was expected.
        what: &'static str,
    },
    /// An object dtype (`|O`): object arrays hold pointers, not data, and
    /// are refused.
    ObjectDtype {
        /// Offset of the op holding the dtype (0 when parsed alone).
        offset: usize,
    },
    /// An array's raw bytes are not `prod(shape) * itemsize` long.
    SizeMismatch {
        /// Offset of the raw-bytes op.
        offset: usize,
        /// `prod(shape) * itemsize`.
        expected: u64,
        /// The length found (or given).
        found: u64,
    },
    /// A masked array's mask is not a bool array of the data's shape (or 0-d).
    BadMask {
        /// Offset of the mask's first op.
        offset: usize,
        /// What was expected.
        what: &'static str,
    },
    /// A generic value could not be encoded (docs/format.md section 7).
    Encode(pickle_ops::encode::EncodeError),
    /// A generic value's ops could not be decoded (offsets in the inner
    /// error count from the start of the file, or of the given ops).
    Decode(pickle_ops::decode::DecodeError),
    /// A memo fetch (GET, BINGET, LONG_BINGET) of an index that no earlier
    /// op of the same value stored.
    MemoGetWithoutPut {
        /// Offset of the fetch.
        offset: usize,
        /// The index fetched (negative for a malformed text GET).
        index: i64,
    },
    /// A text PUT with a negative index.
    NegativeMemoPut {
        /// Offset of the PUT.
        offset: usize,
    },
    /// A PROTO above 4 in a value to be stored in a protocol-4 file.
    UnsupportedProtocol {
        /// Offset of the PROTO op.
        offset: usize,
        /// Its argument.
        protocol: u8,
    },
    /// A STOP inside an entry's value ops.
    StopInValue {
        /// Offset of the STOP.
        offset: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { offset, needed } => write!(
                f,
                "at byte {offset}: input ends before the {needed} bytes needed here"
            ),
            Error::BadHeader {
                offset,
                expected,
                found,
            } => write!(
                f,
                "at byte {offset}: not an mmpk header (expected 0x{expected:02x}, found 0x{found:02x})"
            ),
            Error::UnsupportedVersion { found } => {
                write!(f, "at byte 12: unsupported format version {found} (expected 1)")
            }
            Error::BadEntry { offset, what } => write!(f, "at byte {offset}: bad entry: expected {what}"),
            Error::KeyNotUtf8 { offset } => write!(f, "at byte {offset}: entry key is not UTF-8"),
            Error::KeyTooLong { len } => {
                write!(f, "key of {len} bytes is longer than the 255 bytes allowed")
            }
            Error::EmptyValue => write!(f, "an entry's value must be at least one op"),
            Error::MemoMaxTooLarge { memo_max } => {
                write!(f, "memo max {memo_max} does not fit in a BININT")
            }
            Error::BadAlignment { align } => {
                write!(f, "alignment {align} is not a power of two from 8 to 4096")
            }
            Error::BadFillerLen { len } => {
                write!(f, "no filler entry is {len} bytes long (0 or at least 20)")
            }
            Error::Op(e) => write!(f, "{e}"),
            Error::NotAnArray { offset, what } => {
                write!(f, "at byte {offset}: not an array value: expected {what}")
            }
            Error::DtypeTooLong { len } => {
                write!(f, "dtype string of {len} bytes is longer than 255")
            }
            Error::TooManyDims { ndim } => {
                write!(f, "shape of {ndim} dimensions (numpy allows 64)")
            }
            Error::Overflow { offset } => {
                write!(f, "at byte {offset}: offset arithmetic overflows")
            }
            Error::BadDtype {
                offset,
                dtype,
                what,
            } => write!(f, "at byte {offset}: bad dtype {dtype:?}: expected {what}"),
            Error::ObjectDtype { offset } => write!(
                f,
                "at byte {offset}: object arrays are refused (they hold pointers, not data)"
            ),
            Error::SizeMismatch {
                offset,
                expected,
                found,
            } => write!(
                f,
                "at byte {offset}: array data is {found} bytes, shape and dtype need {expected}"
            ),
            Error::BadMask { offset, what } => {
                write!(f, "at byte {offset}: bad mask: expected {what}")
            }
            Error::Encode(e) => write!(f, "cannot encode value: {e}"),
            Error::Decode(e) => write!(f, "{e}"),
            Error::MemoGetWithoutPut { offset, index } => write!(
                f,
                "at byte {offset}: memo index {index} is fetched but not stored by this value"
            ),
            Error::NegativeMemoPut { offset } => {
                write!(f, "at byte {offset}: negative PUT argument")
            }
            Error::UnsupportedProtocol { offset, protocol } => write!(
                f,
                "at byte {offset}: protocol {protocol} pickle in a protocol 4 file"
            ),
            Error::StopInValue { offset } => {
                write!(f, "at byte {offset}: STOP inside an entry's value ops")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Op(e) => Some(e),
            Error::Encode(e) => Some(e),
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<pickle_ops::ParseError> for Error {
    fn from(e: pickle_ops::ParseError) -> Self {
        Error::Op(e)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A [`Error::BadDtype`] at `offset`.
pub(crate) fn bad(offset: usize, text: &str, what: &'static str) -> Error {
    let mut t = text.to_string();
    if t.len() > 200 {
        let mut cut = 200;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
    }
    Error::BadDtype {
        offset,
        dtype: t,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_offsets() {
        let e = Error::BadHeader {
            offset: 17,
            expected: 0x4a,
            found: 0,
        };
        assert_eq!(
            e.to_string(),
            "at byte 17: not an mmpk header (expected 0x4a, found 0x00)"
        );
        assert!(Error::Truncated {
            offset: 5,
            needed: 9
        }
        .to_string()
        .starts_with("at byte 5:"));
    }
}
