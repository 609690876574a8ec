//! The encoder: writes a [`Pickle`] as the bytes CPython 3.11's C pickler
//! (`pickle.dumps(value, protocol)`) writes for the same object graph.
//!
//! What it reproduces: opcode choices by size and protocol, memoization
//! (MEMOIZE at protocol 4+, BINPUT/LONG_BINPUT at 1-3, PUT at 0) including
//! the objects CPython shares implicitly (the empty and one-character str,
//! the empty and one-byte bytes, global names, the `'latin1'` constant of
//! protocol 0-2 bytes), batching by 1000 (with CPython's differences between
//! exact containers and object items), framing (64 KiB target; payloads of
//! 64 KiB and more written outside frames), recursive tuples, and protocol
//! fallbacks (bytes, bytearray, set and frozenset as REDUCE below the
//! protocol that has their opcode; Python 2 names at protocols 0-2).
//!
//! Identity is the arena's: a node reached twice is written once and then
//! fetched from the memo, exactly as CPython does for one object reached
//! twice. Graphs built from canonical JSON get fresh nodes for every value,
//! as Python objects built from it would be.
//!
//! Limits: nesting deeper than [`MAX_DEPTH`] is an error (CPython's own
//! limit is about 1000), and so is a global whose name has more than
//! [`MAX_NAME_DOTS`] dots below protocol 4; NEWOBJ_EX below protocol 4, EXT below 2, and numpy
//! nodes (encoded by the layers above) are errors.

use std::collections::HashMap;

use crate::int::PyInt;
use crate::op::Op;
use crate::opcode::Opcode;
use crate::table::{REVERSE_IMPORT_MAPPING, REVERSE_NAME_MAPPING};
use crate::text;
use crate::value::{Global, NodeId, Object, ObjectKind, Pickle, PyStr, Scalar, Value};
use crate::write::write_op;

/// Deepest nesting the encoder follows.
pub const MAX_DEPTH: usize = 3000;

/// Most dots in a global's name below protocol 4, where each is a level of
/// `getattr(parent, name)` (CPython's own recursion limit is about 1000).
pub const MAX_NAME_DOTS: usize = 256;

const FRAME_SIZE_TARGET: usize = 64 * 1024;
const FRAME_SIZE_MIN: usize = 4;
const BATCHSIZE: usize = 1000;

/// Why a value cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The protocol is not 0-5.
    BadProtocol(u8),
    /// The value needs a newer protocol than requested.
    NeedsProtocol {
        /// What it was.
        what: &'static str,
        /// The lowest protocol that can write it.
        protocol: u8,
    },
    /// A global's names are not ASCII (protocols 0-2 need ASCII).
    NonAsciiGlobal,
    /// A global whose names hold a newline cannot be written as text
    /// (protocols 0-3).
    NewlineInGlobal,
    /// A protocol 0 persistent id must be an ASCII str.
    BadPersId,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An int of more than 4300 decimal digits at protocol 0 or 1 (CPython
    /// cannot write its text either).
    IntTooLongForText,
    /// A node kind this layer does not encode.
    NotEncodable(&'static str),
    /// The pickle has no root.
    NoRoot,
}

/// An encoding error, naming the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    /// The node that could not be written, if any.
    pub node: Option<NodeId>,
    /// Why.
    pub kind: EncodeErrorKind,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use EncodeErrorKind as K;
        match &self.kind {
            K::BadProtocol(p) => write!(f, "pickle protocol must be 0-5, not {p}"),
            K::NeedsProtocol { what, protocol } => {
                write!(f, "{what} needs pickle protocol {protocol} or newer")
            }
            K::NonAsciiGlobal => {
                f.write_str("a global with non-ASCII names needs pickle protocol 3 or newer")
            }
            K::NewlineInGlobal => {
                f.write_str("a global whose names hold a newline needs pickle protocol 4 or newer")
            }
            K::BadPersId => f.write_str("protocol 0 persistent ids must be ASCII str"),
            K::TooDeep => write!(f, "value nested deeper than {MAX_DEPTH} levels"),
            K::IntTooLongForText => {
                f.write_str("an int of more than 4300 digits needs pickle protocol 2 or newer")
            }
            K::NotEncodable(what) => write!(f, "{what} values cannot be encoded by pickle-ops"),
            K::NoRoot => f.write_str("pickle has no root value"),
        }?;
        if let Some(n) = self.node {
            write!(f, " (node {n:?})")?;
        }
        Ok(())
    }
}

impl std::error::Error for EncodeError {}

type R = Result<(), EncodeError>;

/// Encodes the root of `p` as `pickle.dumps(root, protocol)` would.
pub fn encode(p: &Pickle, protocol: u8) -> Result<Vec<u8>, EncodeError> {
    let root = p.try_root().ok_or(EncodeError {
        node: None,
        kind: EncodeErrorKind::NoRoot,
    })?;
    encode_node(p, root, protocol)
}

/// Encodes one node of `p` as a whole pickle.
pub fn encode_node(p: &Pickle, root: NodeId, protocol: u8) -> Result<Vec<u8>, EncodeError> {
    if protocol > 5 {
        return Err(EncodeError {
            node: None,
            kind: EncodeErrorKind::BadProtocol(protocol),
        });
    }
    let mut e = Encoder::new(p, protocol);
    e.out.reserve(size_estimate(p));
    if protocol >= 2 {
        e.out.extend_from_slice(&[0x80, protocol]);
    }
    if protocol >= 4 {
        e.open_frame();
    }
    e.save(root)?;
    e.raw(b".");
    e.end_framing();
    Ok(e.out)
}

/// A value encoded by [`encode_fragment`]: its ops without the memo stores,
/// and where the stores and fetches are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    /// The ops of `pickle.dumps(root, 4)` without `PROTO`, `FRAME`s,
    /// `STOP` and `MEMOIZE`s.
    pub ops: Vec<u8>,
    /// Where each `MEMOIZE` was (offsets in `ops`): the `k`-th stores memo
    /// index `k`.
    pub puts: Vec<usize>,
    /// The fetches, in order: (offset in `ops`, length of the op (2 for
    /// `BINGET`, 5 for `LONG_BINGET`), memo index fetched).
    pub gets: Vec<(usize, u8, u32)>,
}

/// Encodes node `root` of `p` as the ops of CPython's
/// `pickle.dumps(root, 4)`, without `PROTO`, `FRAME`s and `STOP` (a fragment
/// that pushes one value) and without its `MEMOIZE`s, whose places are
/// listed instead, as are the fetches: a caller renumbers or drops memo ops
/// without parsing anything (as an mmpk entry's value needs, docs/format.md
/// section 7). Putting a `MEMOIZE` back at each of `puts` gives exactly the
/// ops of [`encode_node`] at protocol 4 between its framing.
pub fn encode_fragment(p: &Pickle, root: NodeId) -> Result<Fragment, EncodeError> {
    let mut e = Encoder::new(p, 4);
    e.framing = false;
    e.trace = Some(Fragment::default());
    e.out.reserve(size_estimate(p));
    e.save(root)?;
    let mut f = e.trace.take().unwrap_or_default();
    f.ops = std::mem::take(&mut e.out);
    Ok(f)
}

/// About the size of the whole arena's encoding (binary protocols), so
/// that the output grows once instead of by doubling and copying: a few
/// bytes per node plus payloads, and 9 per container item (a float's BINFLOAT;
/// item nodes are counted again on their own). Capped at 1 GiB; reserving
/// more than is written costs address space, not memory.
fn size_estimate(p: &Pickle) -> usize {
    let mut n: usize = 64;
    for id in p.ids() {
        let Some(v) = p.node(id) else { continue };
        n = n.saturating_add(match v {
            Value::Str(s) => s.as_bytes().len() + 10,
            Value::Bytes(b) => b.len() + 10,
            Value::ByteArray(b) => b.len() + 10,
            Value::List(v) | Value::Set(v) => v.len() * 9 + 8,
            Value::Tuple(v) | Value::FrozenSet(v) => v.len() * 9 + 8,
            Value::Dict(v) => v.len() * 18 + 8,
            _ => 24,
        });
    }
    n.min(1 << 30)
}

/// Memo keys: node identity, or the implicit sharing CPython has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Node(NodeId),
    /// The empty str (`u32::MAX`) or a one-character str below U+0100.
    StrSingleton(u32),
    /// The empty bytes (256) or a one-byte bytes.
    BytesSingleton(u16),
    /// A global, by its names.
    Global(PyStr, PyStr),
    /// A module name string of a global (shared by all its globals).
    GlobalModule(PyStr),
    /// A qualified name string of a global.
    GlobalName(PyStr, PyStr),
    /// The interned `'latin1'` of protocol 0-2 bytes.
    Latin1,
    /// A temporary object CPython creates while pickling (never shared).
    Fresh(u64),
}

/// Synthesised values for CPython's protocol fallbacks.
enum Syn<'a> {
    Node(NodeId),
    Global(&'static str, &'static str),
    Str(&'a [u8], Key),
    Bytes(&'a [u8], Key),
    Tuple(Vec<Syn<'a>>),
    List(&'a [NodeId]),
}

/// The pickler's memo: node keys in a vector indexed by node (the common
/// case, no hashing), the rest in a map; fresh objects are only counted.
struct Memo {
    nodes: Vec<u32>,
    other: HashMap<Key, u32>,
    len: u32,
}

impl Memo {
    #[inline]
    fn get(&self, key: &Key) -> Option<u32> {
        match key {
            Key::Node(id) => id
                .index()
                .and_then(|i| self.nodes.get(i))
                .copied()
                .filter(|&i| i != u32::MAX),
            Key::Fresh(_) => None,
            k => self.other.get(k).copied(),
        }
    }

    #[inline]
    fn insert(&mut self, key: Key) -> u32 {
        let idx = self.len;
        self.len += 1;
        match key {
            Key::Node(id) if id.index().is_some_and(|i| i < self.nodes.len()) => {
                if let Some(i) = id.index() {
                    self.nodes[i] = idx
                }
            }
            Key::Fresh(_) => {}
            k => {
                self.other.insert(k, idx);
            }
        }
        idx
    }
}

struct Encoder<'p> {
    p: &'p Pickle,
    proto: u8,
    out: Vec<u8>,
    frame_start: Option<usize>,
    framing: bool,
    memo: Memo,
    fresh: u64,
    depth: usize,
    /// Where memo ops are, when [`encode_fragment`] asks (and then no
    /// `MEMOIZE` is written).
    trace: Option<Fragment>,
}

fn err(node: NodeId, kind: EncodeErrorKind) -> EncodeError {
    EncodeError {
        node: Some(node),
        kind,
    }
}

fn str_key(id: NodeId, s: &[u8]) -> Key {
    match s.len() {
        0 => Key::StrSingleton(u32::MAX),
        1..=2 => match text::code_points(s).collect::<Vec<_>>()[..] {
            [c] if c < 256 => Key::StrSingleton(c),
            _ => Key::Node(id),
        },
        _ => Key::Node(id),
    }
}

fn bytes_key(id: NodeId, b: &[u8]) -> Key {
    match b {
        [] => Key::BytesSingleton(256),
        [x] => Key::BytesSingleton(*x as u16),
        _ => Key::Node(id),
    }
}

impl<'p> Encoder<'p> {
    fn new(p: &'p Pickle, proto: u8) -> Self {
        Encoder {
            p,
            proto,
            out: Vec::with_capacity(256),
            frame_start: None,
            framing: proto >= 4,
            memo: Memo {
                nodes: vec![u32::MAX; p.len()],
                other: HashMap::new(),
                len: 0,
            },
            fresh: 0,
            depth: 0,
            trace: None,
        }
    }

    // ---- output and framing -------------------------------------------

    fn open_frame(&mut self) {
        self.out.extend_from_slice(&[0; 9]);
        self.frame_start = Some(self.out.len());
    }

    fn close_frame(&mut self) {
        if let Some(fs) = self.frame_start.take() {
            let n = self.out.len() - fs;
            if n >= FRAME_SIZE_MIN {
                self.out[fs - 9] = Opcode::Frame.byte();
                self.out[fs - 8..fs].copy_from_slice(&(n as u64).to_le_bytes());
            } else {
                self.out.drain(fs - 9..fs);
            }
        }
    }

    /// At the start of every save: a frame that reached the target is committed.
    #[inline]
    fn boundary(&mut self) {
        if let Some(fs) = self.frame_start {
            if self.out.len() - fs >= FRAME_SIZE_TARGET {
                self.close_frame();
                self.open_frame();
            }
        }
    }

    fn end_framing(&mut self) {
        self.close_frame();
    }

    #[inline]
    fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    #[inline]
    fn op(&mut self, op: Op<'_>) {
        write_op(&op, &mut self.out);
    }

    /// A header and a payload; payloads of 64 KiB and more go outside frames.
    fn op_with_payload(&mut self, op: Op<'_>, payload_len: usize) {
        if self.framing && payload_len >= FRAME_SIZE_TARGET {
            self.close_frame();
            self.op(op);
            self.open_frame();
        } else {
            self.op(op);
        }
    }

    fn fresh_key(&mut self) -> Key {
        self.fresh += 1;
        Key::Fresh(self.fresh)
    }

    // ---- memo ---------------------------------------------------------

    fn memoize(&mut self, key: Key) {
        let idx = self.memo.insert(key);
        if let Some(t) = &mut self.trace {
            t.puts.push(self.out.len());
            return;
        }
        if self.proto >= 4 {
            self.op(Op::Memoize);
        } else if self.proto >= 1 {
            if idx < 256 {
                self.op(Op::Binput(idx as u8));
            } else {
                self.op(Op::LongBinput(idx));
            }
        } else {
            let t = idx.to_string();
            self.op(Op::Put(t.as_bytes()));
        }
    }

    fn get(&mut self, idx: u32) {
        if let Some(t) = &mut self.trace {
            t.gets
                .push((self.out.len(), if idx < 256 { 2 } else { 5 }, idx));
        }
        if self.proto >= 1 {
            if idx < 256 {
                self.op(Op::Binget(idx as u8));
            } else {
                self.op(Op::LongBinget(idx));
            }
        } else {
            let t = idx.to_string();
            self.op(Op::Get(t.as_bytes()));
        }
    }

    /// Writes a GET if `key` is memoized; returns whether it did.
    fn try_get(&mut self, key: &Key) -> bool {
        match self.memo.get(key) {
            Some(i) => {
                self.get(i);
                true
            }
            None => false,
        }
    }

    // ---- atoms --------------------------------------------------------

    fn save_int(&mut self, v: &PyInt) -> R {
        if let Some(i) = v
            .as_i64()
            .filter(|i| *i >= i32::MIN as i64 && *i <= i32::MAX as i64)
        {
            if self.proto >= 1 {
                if (0..=0xff).contains(&i) {
                    self.op(Op::Binint1(i as u8));
                } else if (0..=0xffff).contains(&i) {
                    self.op(Op::Binint2(i as u16));
                } else {
                    self.op(Op::Binint(i as i32));
                }
            } else {
                let t = i.to_string();
                self.op(Op::Int(t.as_bytes()));
            }
            return Ok(());
        }
        if self.proto >= 2 {
            let b = v.to_le_bytes();
            if b.len() < 256 {
                self.op(Op::Long1(&b));
            } else {
                self.op(Op::Long4(&b));
            }
        } else {
            // CPython writes repr(obj), which refuses more than 4300 digits.
            let Some(mut t) = v.to_decimal(crate::int::INT_MAX_STR_DIGITS) else {
                return Err(EncodeError {
                    node: None,
                    kind: EncodeErrorKind::IntTooLongForText,
                });
            };
            t.push('L');
            self.op(Op::Long(t.as_bytes()));
        }
        Ok(())
    }

    #[inline]
    fn save_float(&mut self, f: f64) {
        if self.proto >= 1 {
            let mut buf = [Opcode::Binfloat.byte(); 9];
            buf[1..].copy_from_slice(&f.to_be_bytes());
            self.out.extend_from_slice(&buf);
        } else {
            let t = crate::repr::float_repr(f);
            self.op(Op::Float(t.as_bytes()));
        }
    }

    fn save_str_bytes(&mut self, s: &[u8], key: Key) {
        if self.proto >= 1 {
            let n = s.len();
            if n <= 0xff && self.proto >= 4 {
                self.op(Op::ShortBinunicode(s));
            } else if n > 0xffff_ffff && self.proto >= 4 {
                self.op_with_payload(Op::Binunicode8(s), n);
            } else {
                self.op_with_payload(Op::Binunicode(s), n);
            }
        } else {
            let t = text::raw_unicode_escape_encode(s);
            self.op(Op::Unicode(&t));
        }
        self.memoize(key);
    }

    fn save_bytes_data(&mut self, b: &[u8], key: Key) -> R {
        if self.proto < 3 {
            if b.is_empty() {
                self.save_reduce_syn(
                    Syn::Global("builtins", "bytes"),
                    Syn::Tuple(vec![]),
                    Some(key),
                )?;
            } else {
                let latin = PyStr::from_latin1(b);
                let skey = if b.len() == 1 {
                    Key::StrSingleton(b[0] as u32)
                } else {
                    self.fresh_key()
                };
                let args = Syn::Tuple(vec![
                    Syn::Str(latin.as_bytes(), skey),
                    Syn::Str(b"latin1", Key::Latin1),
                ]);
                self.save_reduce_syn(Syn::Global("_codecs", "encode"), args, Some(key))?;
            }
            return Ok(());
        }
        let n = b.len();
        if n <= 0xff {
            self.op(Op::ShortBinbytes(b));
        } else if n > 0xffff_ffff && self.proto >= 4 {
            self.op_with_payload(Op::Binbytes8(b), n);
        } else {
            self.op_with_payload(Op::Binbytes(b), n);
        }
        self.memoize(key);
        Ok(())
    }

    // ---- globals ------------------------------------------------------

    fn save_global(&mut self, g: &Global, node: Option<NodeId>) -> R {
        // A Python 2 name read at protocol 0-2 means what CPython's loader
        // mapped it to; protocols 3+ are loaded without mapping, so write
        // the Python 3 name there.
        let mapped;
        let g = if g.proto < 3 && self.proto >= 3 {
            let mut m = g.clone();
            crate::resolve::map_global(&mut m);
            m.name_nodes = None;
            mapped = m;
            &mapped
        } else {
            g
        };
        let key = Key::Global(g.module.clone(), g.name.clone());
        if self.try_get(&key) {
            return Ok(());
        }
        let name = g.name.as_bytes();
        let dotted = name.iter().rposition(|&c| c == b'.');
        if self.proto >= 4 {
            // The stream's own name strings, while they still hold the names.
            let holds = |id: NodeId, want: &PyStr| matches!(self.p.node(id), Some(Value::Str(s)) if s == want);
            let (mkey, nkey) = match g.name_nodes {
                Some((m, n)) if holds(m, &g.module) && holds(n, &g.name) => {
                    (Key::Node(m), Key::Node(n))
                }
                _ => (
                    Key::GlobalModule(g.module.clone()),
                    Key::GlobalName(g.module.clone(), g.name.clone()),
                ),
            };
            self.save_syn(&Syn::Str(g.module.as_bytes(), mkey))?;
            self.save_syn(&Syn::Str(name, nkey))?;
            self.op(Op::StackGlobal);
        } else if let Some(dot) = dotted {
            // Nested qualname below protocol 4: getattr(parent, last).
            let parent_name = std::str::from_utf8(&name[..dot])
                .map_err(|_| err_opt(node, EncodeErrorKind::NonAsciiGlobal))?;
            let module = g
                .module
                .as_str()
                .ok_or(err_opt(node, EncodeErrorKind::NonAsciiGlobal))?;
            let parent = Global::new(module, parent_name);
            let last = &name[dot + 1..];
            let last_key = if last.len() <= 1 {
                str_key(NodeId::INVALID, last)
            } else {
                self.fresh_key()
            };
            self.boundary();
            self.save_global_syn("builtins", "getattr")?;
            self.boundary();
            // args = (parent, last): a fresh tuple of two.
            if self.proto < 2 {
                self.op(Op::Mark);
            }
            // One level of nesting per dot, as CPython recurses (each
            // level is a deep Rust frame: a stricter bound than values).
            self.depth += 1;
            if self.depth > MAX_DEPTH || name.iter().filter(|&&c| c == b'.').count() > MAX_NAME_DOTS
            {
                return Err(err_opt(node, EncodeErrorKind::TooDeep));
            }
            let saved = self.save_global(&parent, None);
            self.depth -= 1;
            saved?;
            self.save_syn(&Syn::Str(last, last_key))?;
            self.tuple_end(2, None);
            self.op(Op::Reduce);
        } else {
            let (mut module, mut name) = (g.module.as_bytes().to_vec(), name.to_vec());
            if self.proto < 3 {
                let (m, n) = (
                    String::from_utf8_lossy(&module).into_owned(),
                    String::from_utf8_lossy(&name).into_owned(),
                );
                if let Some((_, (m2, n2))) = REVERSE_NAME_MAPPING
                    .iter()
                    .find(|((a, b), _)| *a == m && *b == n)
                {
                    module = m2.as_bytes().to_vec();
                    name = n2.as_bytes().to_vec();
                } else if let Some((_, m2)) = REVERSE_IMPORT_MAPPING.iter().find(|(a, _)| *a == m) {
                    module = m2.as_bytes().to_vec();
                }
                if !module.is_ascii() || !name.is_ascii() {
                    return Err(err_opt(node, EncodeErrorKind::NonAsciiGlobal));
                }
            }
            if module.contains(&b'\n') || name.contains(&b'\n') {
                return Err(err_opt(node, EncodeErrorKind::NewlineInGlobal));
            }
            self.op(Op::Global(&module, &name));
        }
        self.memoize(key);
        Ok(())
    }

    fn save_global_syn(&mut self, module: &str, name: &str) -> R {
        self.save_global(&Global::new(module, name), None)
    }

    // ---- containers ---------------------------------------------------

    /// After a tuple's items: TUPLEn/TUPLE, or the recursive-tuple dance
    /// when saving the items memoized the tuple itself.
    fn tuple_end(&mut self, n: usize, key: Option<Key>) {
        if n <= 3 && self.proto >= 2 {
            if let Some(i) = key.as_ref().and_then(|k| self.memo.get(k)) {
                for _ in 0..n {
                    self.op(Op::Pop);
                }
                self.get(i);
                return;
            }
            self.op(match n {
                1 => Op::Tuple1,
                2 => Op::Tuple2,
                _ => Op::Tuple3,
            });
        } else {
            if let Some(i) = key.as_ref().and_then(|k| self.memo.get(k)) {
                if self.proto >= 1 {
                    self.op(Op::PopMark);
                } else {
                    for _ in 0..=n {
                        self.op(Op::Pop);
                    }
                }
                self.get(i);
                return;
            }
            self.op(Op::Tuple);
        }
        let k = key.unwrap_or_else(|| self.fresh_key());
        self.memoize(k);
    }

    fn save_tuple(&mut self, items: &[NodeId], key: Key) -> R {
        if items.is_empty() {
            if self.proto >= 1 {
                self.op(Op::EmptyTuple);
            } else {
                self.op(Op::Mark);
                self.op(Op::Tuple);
            }
            return Ok(());
        }
        if !(items.len() <= 3 && self.proto >= 2) {
            self.op(Op::Mark);
        }
        for &c in items {
            self.save(c)?;
        }
        self.tuple_end(items.len(), Some(key));
        Ok(())
    }

    /// Items of an exact list (CPython's `batch_list_exact`).
    fn list_items_exact(&mut self, items: &[NodeId]) -> R {
        if items.is_empty() {
            return Ok(());
        }
        if self.proto == 0 {
            for &c in items {
                self.save(c)?;
                self.op(Op::Append);
            }
            return Ok(());
        }
        if items.len() == 1 {
            self.save(items[0])?;
            self.op(Op::Append);
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            self.op(Op::Mark);
            self.out.reserve(chunk.len() * 9 + 1);
            for &c in chunk {
                // Floats are the bulk of numeric lists: write them here, with
                // the same frame check `save` makes first.
                if let (Some(f), true) = (c.as_float(), self.proto >= 1) {
                    self.boundary();
                    let mut buf = [Opcode::Binfloat.byte(); 9];
                    buf[1..].copy_from_slice(&f.to_be_bytes());
                    self.out.extend_from_slice(&buf);
                } else {
                    self.save(c)?;
                }
            }
            self.op(Op::Appends);
        }
        Ok(())
    }

    /// Items from an iterator (CPython's generic `batch_list`).
    fn list_items_generic(&mut self, items: &[NodeId]) -> R {
        if self.proto == 0 {
            return self.list_items_exact(items);
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                self.save(chunk[0])?;
                self.op(Op::Append);
            } else {
                self.op(Op::Mark);
                for &c in chunk {
                    self.save(c)?;
                }
                self.op(Op::Appends);
            }
        }
        Ok(())
    }

    /// Items of an exact dict (`batch_dict_exact`: an empty trailing batch
    /// when the size is a multiple of 1000).
    fn dict_items_exact(&mut self, items: &[(NodeId, NodeId)]) -> R {
        if items.is_empty() {
            return Ok(());
        }
        if self.proto == 0 {
            return self.dict_items_generic(items);
        }
        if items.len() == 1 {
            self.save(items[0].0)?;
            self.save(items[0].1)?;
            self.op(Op::Setitem);
            return Ok(());
        }
        let mut rest = items;
        loop {
            let n = rest.len().min(BATCHSIZE);
            self.op(Op::Mark);
            for &(k, v) in &rest[..n] {
                self.save(k)?;
                self.save(v)?;
            }
            self.op(Op::Setitems);
            rest = &rest[n..];
            if n < BATCHSIZE {
                return Ok(());
            }
        }
    }

    /// Items from an iterator (`batch_dict`).
    fn dict_items_generic(&mut self, items: &[(NodeId, NodeId)]) -> R {
        if self.proto == 0 {
            for &(k, v) in items {
                self.save(k)?;
                self.save(v)?;
                self.op(Op::Setitem);
            }
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                self.save(chunk[0].0)?;
                self.save(chunk[0].1)?;
                self.op(Op::Setitem);
            } else {
                self.op(Op::Mark);
                for &(k, v) in chunk {
                    self.save(k)?;
                    self.save(v)?;
                }
                self.op(Op::Setitems);
            }
        }
        Ok(())
    }

    /// ADDITEMS batches (an empty trailing batch at multiples of 1000).
    fn set_items(&mut self, id: NodeId, items: &[NodeId]) -> R {
        if items.is_empty() {
            return Ok(());
        }
        if self.proto < 4 {
            return Err(err(
                id,
                EncodeErrorKind::NeedsProtocol {
                    what: "ADDITEMS on an object",
                    protocol: 4,
                },
            ));
        }
        let mut rest = items;
        loop {
            let n = rest.len().min(BATCHSIZE);
            self.op(Op::Mark);
            for &c in &rest[..n] {
                self.save(c)?;
            }
            self.op(Op::Additems);
            rest = &rest[n..];
            if n < BATCHSIZE {
                return Ok(());
            }
        }
    }

    // ---- REDUCE -------------------------------------------------------

    fn save_syn(&mut self, s: &Syn<'_>) -> R {
        match s {
            Syn::Node(id) => self.save(*id),
            Syn::Global(m, n) => {
                self.boundary();
                self.save_global_syn(m, n)
            }
            Syn::Str(b, key) => {
                self.boundary();
                if !self.try_get(key) {
                    self.save_str_bytes(b, key.clone());
                }
                Ok(())
            }
            Syn::Bytes(b, key) => {
                self.boundary();
                if !self.try_get(key) {
                    self.save_bytes_data(b, key.clone())?;
                }
                Ok(())
            }
            Syn::Tuple(items) => {
                self.boundary();
                if items.is_empty() {
                    self.op(if self.proto >= 1 {
                        Op::EmptyTuple
                    } else {
                        Op::Mark
                    });
                    if self.proto == 0 {
                        self.op(Op::Tuple);
                    }
                    return Ok(());
                }
                if !(items.len() <= 3 && self.proto >= 2) {
                    self.op(Op::Mark);
                }
                for it in items {
                    self.save_syn(it)?;
                }
                self.tuple_end(items.len(), None);
                Ok(())
            }
            Syn::List(items) => {
                self.boundary();
                if self.proto >= 1 {
                    self.op(Op::EmptyList);
                } else {
                    self.op(Op::Mark);
                    self.op(Op::List);
                }
                let k = self.fresh_key();
                self.memoize(k);
                self.list_items_exact(items)
            }
        }
    }

    /// `save_reduce(func, args, obj=...)`: returns false when the object
    /// turned out to be memoized already (recursive), in which case CPython
    /// writes POP + GET and stops.
    fn reduce_head(
        &mut self,
        func: Syn<'_>,
        args: Syn<'_>,
        key: Option<Key>,
    ) -> Result<bool, EncodeError> {
        self.save_syn(&func)?;
        self.save_syn(&args)?;
        self.op(Op::Reduce);
        self.reduce_tail(key)
    }

    fn reduce_tail(&mut self, key: Option<Key>) -> Result<bool, EncodeError> {
        if let Some(key) = key {
            if let Some(i) = self.memo.get(&key) {
                self.op(Op::Pop);
                self.get(i);
                return Ok(false);
            }
            self.memoize(key);
        }
        Ok(true)
    }

    fn save_reduce_syn(&mut self, func: Syn<'_>, args: Syn<'_>, key: Option<Key>) -> R {
        self.reduce_head(func, args, key).map(|_| ())
    }

    fn save_object(&mut self, id: NodeId, o: &Object) -> R {
        let key = Some(Key::Node(id));
        let go_on = match o.kind {
            ObjectKind::Reduce { callable, args } => {
                self.reduce_head(Syn::Node(callable), Syn::Node(args), key)?
            }
            ObjectKind::NewObj { cls, args } => {
                if self.proto >= 2 {
                    self.save(cls)?;
                    self.save(args)?;
                    self.op(Op::Newobj);
                    self.reduce_tail(key)?
                } else {
                    // copyreg.__newobj__(cls, *args), as pickle.py writes it.
                    let Some(Value::Tuple(a)) = self.p.node(args) else {
                        return Err(err(
                            id,
                            EncodeErrorKind::NotEncodable("NEWOBJ with non-tuple arguments"),
                        ));
                    };
                    let mut items = vec![Syn::Node(cls)];
                    items.extend(a.iter().map(|&x| Syn::Node(x)));
                    self.reduce_head(Syn::Global("copyreg", "__newobj__"), Syn::Tuple(items), key)?
                }
            }
            ObjectKind::NewObjEx { cls, args, kwargs } => {
                if self.proto < 4 {
                    return Err(err(
                        id,
                        EncodeErrorKind::NeedsProtocol {
                            what: "NEWOBJ_EX",
                            protocol: 4,
                        },
                    ));
                }
                self.save(cls)?;
                self.save(args)?;
                self.save(kwargs)?;
                self.op(Op::NewobjEx);
                self.reduce_tail(key)?
            }
            ObjectKind::Inst { cls, args } => {
                let Some(Value::Tuple(a)) = self.p.node(args) else {
                    return Err(err(
                        id,
                        EncodeErrorKind::NotEncodable("INST with non-tuple arguments"),
                    ));
                };
                self.op(Op::Mark);
                let g = match self.p.node(cls) {
                    Some(Value::Global(g)) if self.proto == 0 => Some(g.clone()),
                    _ => None,
                };
                if g.is_none() {
                    self.save(cls)?;
                }
                for &x in a.iter() {
                    self.save(x)?;
                }
                match g {
                    Some(g)
                        if g.module.as_bytes().contains(&b'\n')
                            || g.name.as_bytes().contains(&b'\n') =>
                    {
                        return Err(err(id, EncodeErrorKind::NewlineInGlobal))
                    }
                    Some(g) if !g.module.as_bytes().is_ascii() || !g.name.as_bytes().is_ascii() => {
                        return Err(err(id, EncodeErrorKind::NonAsciiGlobal))
                    }
                    Some(g) => self.op(Op::Inst(g.module.as_bytes(), g.name.as_bytes())),
                    None => self.op(Op::Obj),
                }
                self.reduce_tail(key)?
            }
        };
        if !go_on {
            return Ok(());
        }
        if !o.listitems.is_empty() {
            self.list_items_generic(&o.listitems)?;
        }
        if !o.dictitems.is_empty() {
            self.dict_items_generic(&o.dictitems)?;
        }
        self.set_items(id, &o.additems)?;
        if let Some(s) = o.state {
            self.save(s)?;
            self.op(Op::Build);
        }
        Ok(())
    }

    // ---- dispatch -----------------------------------------------------

    fn save(&mut self, id: NodeId) -> R {
        self.boundary();
        let p = self.p;
        if let Some(s) = id.scalar() {
            return self.save_scalar(id, s);
        }
        let v = p.node(id).ok_or(err(
            id,
            EncodeErrorKind::NotEncodable("a node of another pickle"),
        ))?;
        match v {
            Value::None => {
                self.op(Op::None);
                return Ok(());
            }
            Value::Bool(b) => {
                if self.proto >= 2 {
                    self.op(if *b { Op::Newtrue } else { Op::Newfalse });
                } else {
                    self.op(Op::Int(if *b { b"01" } else { b"00" }));
                }
                return Ok(());
            }
            Value::Int(i) => {
                return self.save_int(i).map_err(|e| EncodeError {
                    node: Some(id),
                    ..e
                })
            }
            Value::Float(f) => {
                self.save_float(*f);
                return Ok(());
            }
            Value::PersId(pid) => {
                if self.proto >= 1 {
                    self.save(*pid)?;
                    self.op(Op::Binpersid);
                } else {
                    match p.node(*pid) {
                        Some(Value::Str(s))
                            if s.as_bytes().is_ascii() && !s.as_bytes().contains(&b'\n') =>
                        {
                            self.op(Op::Persid(s.as_bytes()))
                        }
                        _ => return Err(err(id, EncodeErrorKind::BadPersId)),
                    }
                }
                return Ok(());
            }
            Value::Ext(code) => {
                if self.proto < 2 {
                    return Err(err(
                        id,
                        EncodeErrorKind::NeedsProtocol {
                            what: "EXT",
                            protocol: 2,
                        },
                    ));
                }
                let c = *code;
                if c <= 0xff {
                    self.op(Op::Ext1(c as u8));
                } else if c <= 0xffff {
                    self.op(Op::Ext2(c as u16));
                } else {
                    self.op(Op::Ext4(c));
                }
                return Ok(());
            }
            Value::OobBuffer { readonly, .. } => {
                if self.proto < 5 {
                    return Err(err(
                        id,
                        EncodeErrorKind::NeedsProtocol {
                            what: "an out-of-band buffer",
                            protocol: 5,
                        },
                    ));
                }
                self.op(Op::NextBuffer);
                if *readonly {
                    self.op(Op::ReadonlyBuffer);
                }
                return Ok(());
            }
            Value::Global(g) => return self.save_global(g, Some(id)),
            _ => {}
        }
        let key = match v {
            Value::Str(s) if p.small_values_shared => str_key(id, s.as_bytes()),
            Value::Bytes(b) if p.small_values_shared => bytes_key(id, b),
            _ => Key::Node(id),
        };
        if self.try_get(&key) {
            return Ok(());
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(id, EncodeErrorKind::TooDeep));
        }
        let r = self.save_new(id, v, key);
        self.depth -= 1;
        r
    }

    /// `None`, `bool`, a small int or a float held inline in its handle.
    #[inline]
    fn save_scalar(&mut self, id: NodeId, s: Scalar) -> R {
        match s {
            Scalar::None => self.op(Op::None),
            Scalar::Bool(b) if self.proto >= 2 => {
                self.op(if b { Op::Newtrue } else { Op::Newfalse })
            }
            Scalar::Bool(b) => self.op(Op::Int(if b { b"01" } else { b"00" })),
            Scalar::Int(i) => {
                return self.save_int(&PyInt::Small(i)).map_err(|e| EncodeError {
                    node: Some(id),
                    ..e
                })
            }
            Scalar::Float(f) => self.save_float(f),
        }
        Ok(())
    }

    fn save_new(&mut self, id: NodeId, v: &Value, key: Key) -> R {
        match v {
            Value::Str(s) => {
                self.save_str_bytes(s.as_bytes(), key);
                Ok(())
            }
            Value::Bytes(b) => self.save_bytes_data(b, key),
            Value::ByteArray(b) => {
                if self.proto >= 5 {
                    self.op_with_payload(Op::Bytearray8(b), b.len());
                    self.memoize(key);
                    return Ok(());
                }
                let args = if b.is_empty() {
                    Syn::Tuple(vec![])
                } else {
                    // bytes(bytearray) is a fresh object even for one byte.
                    let bkey = self.fresh_key();
                    Syn::Tuple(vec![Syn::Bytes(b, bkey)])
                };
                self.save_reduce_syn(Syn::Global("builtins", "bytearray"), args, Some(key))
            }
            Value::List(items) => {
                if self.proto >= 1 {
                    self.op(Op::EmptyList);
                } else {
                    self.op(Op::Mark);
                    self.op(Op::List);
                }
                self.memoize(key);
                self.list_items_exact(items)
            }
            Value::Tuple(items) => self.save_tuple(items, key),
            Value::Dict(items) => {
                if self.proto >= 1 {
                    self.op(Op::EmptyDict);
                } else {
                    self.op(Op::Mark);
                    self.op(Op::Dict);
                }
                self.memoize(key);
                self.dict_items_exact(items)
            }
            Value::Set(items) => {
                if self.proto < 4 {
                    let args = Syn::Tuple(vec![Syn::List(items)]);
                    return self.save_reduce_syn(Syn::Global("builtins", "set"), args, Some(key));
                }
                self.op(Op::EmptySet);
                self.memoize(key);
                self.set_items(id, items)
            }
            Value::FrozenSet(items) => {
                if self.proto < 4 {
                    let args = Syn::Tuple(vec![Syn::List(items)]);
                    return self.save_reduce_syn(
                        Syn::Global("builtins", "frozenset"),
                        args,
                        Some(key),
                    );
                }
                self.op(Op::Mark);
                for &c in items.iter() {
                    self.save(c)?;
                }
                if let Some(i) = self.memo.get(&key) {
                    self.op(Op::PopMark);
                    self.get(i);
                    return Ok(());
                }
                self.op(Op::Frozenset);
                self.memoize(key);
                Ok(())
            }
            Value::Object(o) => self.save_object(id, o),
            other => Err(err(id, EncodeErrorKind::NotEncodable(other.kind_name()))),
        }
    }
}

fn err_opt(node: Option<NodeId>, kind: EncodeErrorKind) -> EncodeError {
    EncodeError { node, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: Value, proto: u8) -> Vec<u8> {
        let mut p = Pickle::new();
        let r = p.push(v);
        p.set_root(r);
        encode(&p, proto).unwrap()
    }

    #[test]
    fn atoms_match_cpython() {
        assert_eq!(enc(Value::None, 4), b"\x80\x04N.");
        assert_eq!(enc(Value::int(300), 2), b"\x80\x02M,\x01.");
        assert_eq!(enc(Value::int(-1), 1), b"J\xff\xff\xff\xff.");
        assert_eq!(enc(Value::int(5), 0), b"I5\n.");
        assert_eq!(enc(Value::int(1 << 40), 0), b"L1099511627776L\n.");
        assert_eq!(enc(Value::Bool(true), 0), b"I01\n.");
        assert_eq!(
            enc(Value::str("abc"), 4),
            b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94."
        );
        assert_eq!(
            enc(Value::str("abc"), 3),
            b"\x80\x03X\x03\x00\x00\x00abcq\x00."
        );
    }

    #[test]
    fn nested_globals_below_protocol_4_use_getattr() {
        // pickle.dumps(fxclasses.Outer.Inner, P) (found by fuzzing: the
        // MARK of protocols 0 and 1 was missing).
        let want: [&[u8]; 4] = [
            b"c__builtin__\ngetattr\np0\n(cfxclasses\nOuter\np1\nVInner\np2\ntp3\nRp4\n.",
            b"c__builtin__\ngetattr\nq\x00(cfxclasses\nOuter\nq\x01X\x05\x00\x00\x00Innerq\x02tq\x03Rq\x04.",
            b"\x80\x02c__builtin__\ngetattr\nq\x00cfxclasses\nOuter\nq\x01X\x05\x00\x00\x00Innerq\x02\x86q\x03Rq\x04.",
            b"\x80\x03cbuiltins\ngetattr\nq\x00cfxclasses\nOuter\nq\x01X\x05\x00\x00\x00Innerq\x02\x86q\x03Rq\x04.",
        ];
        for (proto, want) in want.iter().enumerate() {
            let got = enc(
                Value::Global(Box::new(Global::new("fxclasses", "Outer.Inner"))),
                proto as u8,
            );
            assert_eq!(got, want.to_vec(), "protocol {proto}");
        }
    }

    /// Every dot of a global's name below protocol 4 is a level of
    /// `getattr` nesting: too many are `TooDeep`, not a stack overflow (a
    /// fuzz finding).
    #[test]
    fn deeply_dotted_globals_are_too_deep() {
        let name = vec!["a"; 100_000].join(".");
        for proto in 0..=3u8 {
            let mut p = Pickle::new();
            let r = p.push(Value::Global(Box::new(Global::new("m", &name))));
            p.set_root(r);
            let e = encode(&p, proto).unwrap_err();
            assert_eq!(e.kind, EncodeErrorKind::TooDeep, "protocol {proto}");
        }
        // Protocol 4 names it with STACK_GLOBAL: no nesting.
        let mut p = Pickle::new();
        let r = p.push(Value::Global(Box::new(Global::new("m", &name))));
        p.set_root(r);
        assert!(encode(&p, 4).is_ok());
        // Within the limit it still encodes.
        let name = vec!["a"; MAX_NAME_DOTS + 1].join(".");
        let mut p = Pickle::new();
        let r = p.push(Value::Global(Box::new(Global::new("m", &name))));
        p.set_root(r);
        assert!(encode(&p, 2).is_ok());
    }

    #[test]
    fn bytes_below_protocol_3_share_the_latin1_constant() {
        // pickle.dumps([b'a', b'a', b'ab', b'', 'latin1'], 2) -- except the
        // last 'latin1' str, which is a separate object here.
        let mut p = Pickle::new();
        let a1 = p.push(Value::Bytes(b"a"[..].into()));
        let a2 = p.push(Value::Bytes(b"a"[..].into()));
        let ab = p.push(Value::Bytes(b"ab"[..].into()));
        let e = p.push(Value::Bytes(Box::new([])));
        let l = p.push(Value::List(vec![a1, a2, ab, e]));
        p.set_root(l);
        p.set_small_values_shared(true);
        let got = encode(&p, 2).unwrap();
        let want = b"\x80\x02]q\x00(c_codecs\nencode\nq\x01X\x01\x00\x00\x00aq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05h\x05h\x01X\x02\x00\x00\x00abq\x06h\x03\x86q\x07Rq\x08c__builtin__\nbytes\nq\t)Rq\ne.";
        assert_eq!(got, want.to_vec());
    }
}

#[cfg(test)]
mod fragment_tests {
    use super::*;

    /// `x = ['ab', 'ab']` sharing one str, in a list with another shared
    /// list: every MEMOIZE of `encode_node`, and the fetches, are reported.
    #[test]
    fn fragments_are_the_framed_ops_without_memoize() {
        let mut p = Pickle::new();
        let s = p.push(Value::str("ab"));
        let inner = p.push(Value::List(vec![s, s]));
        let f1 = p.push(Value::Float(1.5));
        let root = p.push(Value::List(vec![inner, inner, f1]));
        p.set_root(root);
        let full = encode_node(&p, root, 4).unwrap();
        // PROTO 4, one FRAME (9 bytes), ..., STOP
        let framed = &full[11..full.len() - 1];
        let f = encode_fragment(&p, root).unwrap();
        let mut rebuilt = f.ops.clone();
        for &pos in f.puts.iter().rev() {
            rebuilt.insert(pos, 0x94);
        }
        assert_eq!(rebuilt, framed);
        assert_eq!(f.puts.len(), 3); // outer list, inner list, 'ab'
        assert_eq!(f.gets.len(), 2); // 'ab' again, inner again
        for &(pos, len, index) in &f.gets {
            assert_eq!(len, 2);
            assert_eq!(f.ops[pos], b'h');
            assert_eq!(u32::from(f.ops[pos + 1]), index);
        }
    }
}
