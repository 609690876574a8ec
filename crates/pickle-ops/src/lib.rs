//! # pickle-ops
//!
//! The lowest layer of mmpk: a complete, zero-copy codec for Python's pickle
//! format, protocols 0 to 5, that never executes anything.
//!
//! - [`opcode`]: the 68 opcodes of CPython's `pickletools`, with argument
//!   kinds and stack effects.
//! - [`parse`] / [`mod@write`]: a nom parser of one op or a stream of ops
//!   (arguments borrowed from the input) and its mirror-image writer.
//! - [`dis`]: a disassembler whose text equals `python3 -m pickletools`.
//! - [`value`], [`decode`]: a data-only object model that keeps identity
//!   (shared references, cycles) and a decoder into it, iterative and bounded
//!   on hostile input.
//! - [`encode`]: an encoder that writes the bytes CPython 3.11's
//!   `pickle.dumps(value, protocol)` writes.
//! - [`json`]: the canonical JSON form (raw and resolved) that mmpk's tools
//!   print and compare.
//! - [`repr`]: Python's `repr()` of str, bytes, bytearray, float and int,
//!   exactly as CPython prints them.
//!
//! Most users want the `mmpk` crate; this one is for tools that handle
//! arbitrary pickles safely.
//!
//! ## Values
//!
//! A decoded pickle is a [`Pickle`]: an arena of nodes that keeps identity
//! (shared references, cycles). A [`NodeId`] is eight bytes that hold a
//! scalar itself (a float, or `None`, a bool or a small int in a NaN
//! pattern) or an arena index; read any handle with [`Pickle::value`], or
//! look for containers with [`Pickle::node`].
//!
//! The canonical JSON form is specified in `docs/canonical-json.md`; where
//! CPython and that form leave room (text opcodes, frames, key merging,
//! folds, Python 2 strings, the identity of encoded values), this crate's
//! decisions are listed in `docs/design.md` ("Decisions by crate").
//!
//! ```
//! use pickle_ops::{decode, encode, Value};
//!
//! // pickle.dumps({'a': [1, 2.5]}, 4)
//! let bytes = b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00es.";
//! let pickle = decode::decode(bytes, &decode::DecodeOptions::default()).unwrap();
//! let Some(Value::Dict(items)) = pickle.node(pickle.root()) else { panic!() };
//! assert_eq!(items.len(), 1);
//! // Encoding gives CPython's bytes back.
//! assert_eq!(encode::encode(&pickle, 4).unwrap(), bytes.to_vec());
//! ```
#![forbid(unsafe_code)]

pub mod decode;
pub mod dis;
pub mod encode;
pub mod int;
#[cfg(feature = "json")]
pub mod json;
mod keys;
pub mod op;
pub mod opcode;
pub mod parse;
pub mod repr;
pub mod resolve;
mod table;
pub mod text;
pub mod value;
pub mod write;

pub use int::PyInt;
pub use op::{Arg, Op};
pub use opcode::Opcode;
pub use parse::{ops, parse_op, Ops, ParseError, ParseErrorKind};
pub use value::{NodeId, Pickle, Scalar, Value};
pub use write::{write_op, write_ops};
