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
//!
//! Most users want the `mmpk` crate; this one is for tools that handle
//! arbitrary pickles safely.
//!
//! ## Decisions (where CPython and the canonical JSON leave room)
//!
//! - **Decoding follows CPython's C unpickler** (`pickle.loads`): the same
//!   stack, mark and memo rules and checks. Text forms too: `INT` is read
//!   like C `strtol` with base 0, then like `int(s, 0)` (so `I010` is 8,
//!   `I+1` is True); `FLOAT` rejects spaces and overflow; a NUL ends a text
//!   argument. Deviations, each towards refusing: `LONG` text is base 10
//!   (the C unpickler also takes `0x` there); APPEND/SETITEM/ADDITEMS/BUILD
//!   on anything but a list/dict/set or an object node, READONLY_BUFFER on a
//!   bytearray (it would be a memoryview), and REDUCE of a plain value or
//!   with plain non-tuple arguments are errors.
//! - **Frames** are transparent, as in the C unpickler: only their declared
//!   length must be present. Bytes after STOP are ignored.
//! - **Scalars live in their handles.** A [`NodeId`] is eight bytes: a
//!   float's own bits, or a tagged NaN pattern holding `None`, a bool, an int
//!   within ±2^47, or an arena index (NaN-boxing). Bigger ints, NaNs (whose
//!   identity matters for dict keys) and every other kind are arena nodes. A
//!   list of a million floats therefore costs one node and eight bytes per
//!   item. Read any handle with [`Pickle::value`] (borrowed for nodes, built
//!   for scalars) or look for containers with [`Pickle::node`].
//!   [`decode::Options::max_nodes`] counts arena nodes only.
//! - **Object nodes** record what later ops did to them: `listitems`,
//!   `dictitems`, `additems` (only when non-empty) and `state` (the last
//!   BUILD, if BUILD ran more than once). Persistent ids, extension codes and
//!   out-of-band buffers have no identity in canonical JSON.
//! - **Dicts and sets** merge equal keys as Python does (first key and
//!   position, last value; numbers compare across bool/int/float; tuples and
//!   frozensets by content; objects by identity); unhashable keys are errors.
//! - **Resolving** (rules 1 and 2 of CANONICAL_JSON.md) decides `set(list)`
//!   and `frozenset(list)` folds on what the list held when REDUCE ran (lists
//!   only grow afterwards); unhashable members leave the REDUCE unfolded;
//!   `'latin1'` and `'latin-1'` are both accepted.
//! - **Python 2 strings** decode as ASCII (the default), Latin-1, or stay
//!   bytes; other codecs are not offered.
//! - **Encoding** reproduces CPython 3.11's C pickler for the object graph
//!   given: identity is the arena's. A graph built from canonical JSON
//!   ([`json::from_json`]) is a graph of fresh Python objects, so the empty
//!   and one-character str and the empty and one-byte bytes are shared as
//!   CPython's singletons are; a decoded graph keeps the stream's identities
//!   (so re-encoding a CPython pickle gives its bytes back). NEWOBJ_EX below
//!   protocol 4 and EXT below 2 are errors; INST/OBJ objects are written the
//!   way Python 2 wrote them; nesting deeper than [`encode::MAX_DEPTH`] is an
//!   error (CPython's own limit is about 1000).
//!
//! ```
//! use pickle_ops::{decode, encode, Value};
//!
//! // pickle.dumps({'a': [1, 2.5]}, 4)
//! let bytes = b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00es.";
//! let pickle = decode::decode(bytes, &decode::Options::default()).unwrap();
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
mod repr;
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
