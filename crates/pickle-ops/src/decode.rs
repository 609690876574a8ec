//! The data-only decoder: runs the unpickling machine over parsed ops into a
//! [`Pickle`] arena without importing or calling anything.
//!
//! Semantics follow CPython's C unpickler (`_pickle.c`): the same stack and
//! mark rules, memo rules, and checks, so a stream `pickle.loads` rejects is
//! rejected here too (with a typed error and the op's byte offset), except
//! where running code would be needed: globals, REDUCE, NEWOBJ(_EX),
//! INST/OBJ, BUILD, PERSID, EXT and out-of-band buffers become inert nodes.
//!
//! Resource bounds hold on any input: the machine is iterative (no
//! recursion, so 1,000,000 nested lists decode), every op creates at most one
//! node, memo references are ids (a "memo bomb" costs memory linear in its
//! size), and no length from the input is allocated before the bytes are
//! known to be there.

use crate::int::PyInt;
use crate::keys;
use crate::op::Op;
use crate::opcode::Opcode;
use crate::parse::{parse_op, ParseError, ParseErrorKind};
use crate::text::{self, IntText};
use crate::value::{Global, NodeId, Object, ObjectKind, Pickle, PyStr, Value};

/// How Python 2 strings (STRING, BINSTRING, SHORT_BINSTRING) decode, as
/// `pickle.loads(..., encoding=...)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StrEncoding {
    /// ASCII (the default of `pickle.loads`): other bytes are an error.
    #[default]
    Ascii,
    /// Latin-1: every byte is one code point.
    Latin1,
    /// Keep them as `bytes`.
    Bytes,
}

impl std::str::FromStr for StrEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ascii" => Ok(StrEncoding::Ascii),
            "latin1" | "latin-1" | "iso-8859-1" => Ok(StrEncoding::Latin1),
            "bytes" => Ok(StrEncoding::Bytes),
            _ => Err(format!(
                "unknown encoding {s:?} (expected ASCII, latin1 or bytes)"
            )),
        }
    }
}

/// Decoder options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// How Python 2 strings decode.
    pub encoding: StrEncoding,
    /// At most this many arena nodes (0 means no limit beyond the input's
    /// size, which already bounds them: one node per op at most). Scalars
    /// held inline in their handle ([`crate::NodeId`]) are not counted.
    pub max_nodes: usize,
    /// Work budget for comparing dict keys and set members (units: element
    /// comparisons); bounds time on crafted inputs.
    pub max_compare_work: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            encoding: StrEncoding::Ascii,
            max_nodes: 0,
            max_compare_work: 50_000_000,
        }
    }
}

/// What went wrong while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The op could not be parsed.
    Parse(ParseErrorKind),
    /// An op needed more stack items than there are (above the current mark).
    StackUnderflow,
    /// An op needed a MARK and there is none.
    NoMark,
    /// GET of a memo index never stored.
    MemoMissing(u64),
    /// PUT with a negative index.
    NegativePut,
    /// A BINUNICODE-family or GLOBAL argument is not valid UTF-8.
    BadUtf8,
    /// A Python 2 string is not ASCII (with the default encoding), or a
    /// protocol 0 persistent id is not ASCII.
    NotAscii,
    /// An op was applied to a value that does not support it, e.g. APPEND to a tuple.
    WrongTarget {
        /// The op.
        op: Opcode,
        /// What it was applied to.
        found: &'static str,
    },
    /// SETITEMS or DICT with an odd number of items.
    OddItems(Opcode),
    /// STACK_GLOBAL with something other than two str.
    StackGlobalNotStr,
    /// NEWOBJ/NEWOBJ_EX arguments are not a tuple (or kwargs not a dict).
    BadNewObjArgs(Opcode),
    /// REDUCE of a plain value (which cannot be callable).
    NotCallable(&'static str),
    /// REDUCE with arguments that cannot be a tuple.
    BadReduceArgs(&'static str),
    /// EXT with a code <= 0.
    BadExtCode(i64),
    /// PROTO above 5.
    UnsupportedProtocol(u8),
    /// A FRAME longer than the rest of the input.
    FrameTooLong(u64),
    /// An unhashable value used as a dict key or set member.
    Unhashable(&'static str),
    /// Comparing keys exceeded the work budget.
    TooComplex,
    /// More nodes than [`DecodeOptions::max_nodes`] (or 2^32).
    TooManyNodes,
    /// A STOP inside a fragment of value ops.
    UnexpectedStop,
    /// The value ops of a fragment left other than exactly one value.
    FragmentNotOneValue(usize),
}

/// A decoding error at a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset of the op where it happened.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl From<ParseError> for DecodeError {
    fn from(e: ParseError) -> Self {
        DecodeError {
            offset: e.offset,
            kind: DecodeErrorKind::Parse(e.kind),
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DecodeErrorKind as K;
        if let K::Parse(kind) = self.kind {
            return ParseError {
                offset: self.offset,
                kind,
            }
            .fmt(f);
        }
        write!(f, "at byte {}: ", self.offset)?;
        match &self.kind {
            K::Parse(_) => Ok(()),
            K::StackUnderflow => f.write_str("unpickling stack underflow"),
            K::NoMark => f.write_str("could not find MARK"),
            K::MemoMissing(i) => write!(f, "Memo value not found at index {i}"),
            K::NegativePut => f.write_str("negative PUT argument"),
            K::BadUtf8 => f.write_str("invalid UTF-8 in a string argument"),
            K::NotAscii => {
                f.write_str("non-ASCII bytes in a Python 2 string (use encoding latin1 or bytes)")
            }
            K::WrongTarget { op, found } => write!(f, "{op} cannot be applied to a {found}"),
            K::OddItems(op) => write!(f, "odd number of items for {op}"),
            K::StackGlobalNotStr => f.write_str("STACK_GLOBAL requires str"),
            K::BadNewObjArgs(op) => {
                write!(f, "{op} expected an argument tuple (and a kwargs dict)")
            }
            K::NotCallable(t) => write!(f, "REDUCE callable is a {t}, which is not callable"),
            K::BadReduceArgs(t) => write!(f, "REDUCE argument must be a tuple, not a {t}"),
            K::BadExtCode(c) => write!(f, "EXT specifies code <= 0 ({c})"),
            K::UnsupportedProtocol(p) => write!(f, "unsupported pickle protocol: {p}"),
            K::FrameTooLong(n) => write!(f, "FRAME of {n} bytes runs past the end of the input"),
            K::Unhashable(t) => {
                write!(f, "unhashable type: '{t}' used as a dict key or set member")
            }
            K::TooComplex => f.write_str("comparing dict keys exceeded the work budget"),
            K::TooManyNodes => f.write_str("too many values"),
            K::UnexpectedStop => f.write_str("STOP inside an entry's value ops"),
            K::FragmentNotOneValue(n) => write!(f, "value ops left {n} values instead of one"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one pickle (through its STOP). Bytes after STOP are ignored, as
/// `pickle.loads` does.
pub fn decode(data: &[u8], opts: &DecodeOptions) -> Result<Pickle, DecodeError> {
    let mut m = Machine::new(opts, data.len() / 16 + 16);
    match m.run(data, 0, true)? {
        Some(root) => m.finish(root, data.len()),
        // `run` reports a missing STOP as a parse error, so this is unreachable
        // in practice; keep it a typed error all the same.
        None => Err(DecodeError {
            offset: data.len(),
            kind: DecodeErrorKind::Parse(ParseErrorKind::NoStop),
        }),
    }
}

/// Decodes a fragment of value ops (no PROTO/STOP needed) that must push
/// exactly one value, such as one entry's value in an mmpk file. `base` is
/// the fragment's offset in the file (for error offsets).
pub fn decode_fragment(
    data: &[u8],
    base: usize,
    opts: &DecodeOptions,
) -> Result<Pickle, DecodeError> {
    let mut m = Machine::new(opts, data.len() / 16 + 16);
    let end = base + data.len();
    m.run(data, base, false)?;
    if m.stack.len() != 1 || !m.marks.is_empty() {
        return Err(DecodeError {
            offset: end,
            kind: DecodeErrorKind::FragmentNotOneValue(m.stack.len()),
        });
    }
    let root = m.stack[0];
    m.finish(root, end)
}

/// The memo: dense while indices are compact, sparse otherwise, so that a
/// LONG_BINPUT of 2^32-1 costs one entry, not 16 GiB.
#[derive(Default)]
struct Memo {
    dense: Vec<NodeId>,
    sparse: std::collections::HashMap<u64, NodeId>,
    count: u64,
}

const EMPTY: NodeId = NodeId::INVALID;

impl Memo {
    fn get(&self, i: u64) -> Option<NodeId> {
        match self.dense.get(i as usize) {
            Some(&v) if v != EMPTY => Some(v),
            // Indices stored sparsely before the dense table grew past them
            // stay in the map.
            _ => self.sparse.get(&i).copied(),
        }
    }

    fn put(&mut self, i: u64, v: NodeId) {
        let len = self.dense.len() as u64;
        if i < len {
            if self.dense[i as usize] == EMPTY && self.sparse.remove(&i).is_none() {
                self.count += 1;
            }
            self.dense[i as usize] = v;
            return;
        }
        if i <= 2 * (self.count + 16) && i < u32::MAX as u64 && !self.sparse.contains_key(&i) {
            self.dense.resize(i as usize + 1, EMPTY);
            self.dense[i as usize] = v;
            self.count += 1;
            return;
        }
        if self.sparse.insert(i, v).is_none() {
            self.count += 1;
        }
    }
}

/// Appends items to the list or object at `target` (APPEND, APPENDS).
fn extend_list(
    pickle: &mut Pickle,
    op: Opcode,
    target: NodeId,
    items: impl IntoIterator<Item = NodeId>,
) -> Result<(), DecodeErrorKind> {
    match pickle
        .target_mut(target)
        .map_err(|found| DecodeErrorKind::WrongTarget { op, found })?
    {
        Value::List(l) => l.extend(items),
        Value::Object(o) => o.listitems.extend(items),
        other => {
            return Err(DecodeErrorKind::WrongTarget {
                op,
                found: other.kind_name(),
            })
        }
    }
    Ok(())
}

/// The unpickling machine.
pub(crate) struct Machine<'o> {
    pickle: Pickle,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: Memo,
    proto: u8,
    buffers: u64,
    opts: &'o DecodeOptions,
    /// Dicts, sets and frozensets made so far: the nodes whose members may
    /// need merging at the end.
    containers: Vec<NodeId>,
}

type Step = Result<Option<NodeId>, DecodeError>;

impl<'o> Machine<'o> {
    fn new(opts: &'o DecodeOptions, cap: usize) -> Self {
        Machine {
            pickle: Pickle::with_capacity(cap),
            stack: Vec::with_capacity(64),
            marks: Vec::new(),
            memo: Memo::default(),
            proto: 0,
            buffers: 0,
            opts,
            containers: Vec::new(),
        }
    }

    fn finish(mut self, root: NodeId, end: usize) -> Result<Pickle, DecodeError> {
        keys::dedupe(
            &mut self.pickle,
            &self.containers,
            self.opts.max_compare_work,
        )
        .map_err(|kind| DecodeError { offset: end, kind })?;
        self.pickle.set_root(root);
        Ok(self.pickle)
    }

    #[inline]
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    #[inline]
    fn new_node(&mut self, v: Value) -> Result<NodeId, DecodeErrorKind> {
        if self.opts.max_nodes != 0 && self.pickle.len() >= self.opts.max_nodes {
            return Err(DecodeErrorKind::TooManyNodes);
        }
        self.pickle.try_push(v).ok_or(DecodeErrorKind::TooManyNodes)
    }

    #[inline]
    fn push(&mut self, v: Value) -> Result<(), DecodeErrorKind> {
        let id = self.new_node(v)?;
        self.stack.push(id);
        Ok(())
    }

    fn push_container(&mut self, v: Value) -> Result<(), DecodeErrorKind> {
        self.push(v)?;
        self.containers
            .push(*self.stack.last().expect("just pushed"));
        Ok(())
    }

    #[inline]
    fn pop(&mut self) -> Result<NodeId, DecodeErrorKind> {
        if self.stack.len() <= self.fence() {
            return Err(DecodeErrorKind::StackUnderflow);
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    #[inline]
    fn top(&self) -> Result<NodeId, DecodeErrorKind> {
        if self.stack.len() <= self.fence() {
            return Err(DecodeErrorKind::StackUnderflow);
        }
        Ok(*self.stack.last().expect("checked above"))
    }

    /// Pops the topmost mark; returns the stack position it marked.
    fn pop_mark(&mut self) -> Result<usize, DecodeErrorKind> {
        self.marks.pop().ok_or(DecodeErrorKind::NoMark)
    }

    /// Pops the topmost mark and everything above it.
    fn pop_marked(&mut self) -> Result<Vec<NodeId>, DecodeErrorKind> {
        let m = self.pop_mark()?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn py2_string(&self, raw: &[u8]) -> Result<Value, DecodeErrorKind> {
        match self.opts.encoding {
            StrEncoding::Bytes => Ok(Value::Bytes(raw.into())),
            StrEncoding::Latin1 => Ok(Value::Str(PyStr::from_latin1(raw))),
            StrEncoding::Ascii if raw.is_ascii() => Ok(Value::Str(PyStr::from_checked(raw))),
            StrEncoding::Ascii => Err(DecodeErrorKind::NotAscii),
        }
    }

    fn unicode(raw: &[u8]) -> Result<Value, DecodeErrorKind> {
        PyStr::from_surrogatepass(raw)
            .map(Value::Str)
            .ok_or(DecodeErrorKind::BadUtf8)
    }

    fn global(&mut self, module: &[u8], name: &[u8]) -> Result<NodeId, DecodeErrorKind> {
        let module = std::str::from_utf8(module).map_err(|_| DecodeErrorKind::BadUtf8)?;
        let name = std::str::from_utf8(name).map_err(|_| DecodeErrorKind::BadUtf8)?;
        self.new_node(Value::Global(Box::new(Global {
            module: module.into(),
            name: name.into(),
            proto: self.proto,
            name_nodes: None,
        })))
    }

    fn object(&mut self, kind: ObjectKind) -> Result<(), DecodeErrorKind> {
        self.push(Value::Object(Box::new(Object::new(kind))))
    }

    fn is_tuple(&self, id: NodeId) -> bool {
        matches!(self.pickle.node(id), Some(Value::Tuple(_)))
    }

    /// Appends items to the list or object at `target`.
    fn set_items(
        &mut self,
        op: Opcode,
        target: NodeId,
        items: Vec<NodeId>,
    ) -> Result<(), DecodeErrorKind> {
        if !items.len().is_multiple_of(2) {
            return Err(DecodeErrorKind::OddItems(op));
        }
        let pairs = items.chunks_exact(2).map(|c| (c[0], c[1]));
        match self
            .pickle
            .target_mut(target)
            .map_err(|found| DecodeErrorKind::WrongTarget { op, found })?
        {
            Value::Dict(d) => {
                d.extend(pairs);
                Ok(())
            }
            Value::Object(o) => {
                o.dictitems.extend(pairs);
                Ok(())
            }
            other => Err(DecodeErrorKind::WrongTarget {
                op,
                found: other.kind_name(),
            }),
        }
    }

    fn memo_index(&self, i: u64) -> Result<NodeId, DecodeErrorKind> {
        self.memo.get(i).ok_or(DecodeErrorKind::MemoMissing(i))
    }

    fn memo_put(&mut self, i: u64) -> Result<(), DecodeErrorKind> {
        let top = self.top()?;
        self.memo.put(i, top);
        Ok(())
    }

    /// Runs the ops of `data` (at offset `base` of the whole input): through
    /// STOP, returning its value, when `whole`; else to the end of `data`,
    /// where a STOP is an error ([`DecodeErrorKind::UnexpectedStop`]).
    ///
    /// The ops that make up numeric data (BINFLOAT, BININT1/2, BININT) are
    /// read here directly, with the same effect as parsing them and calling
    /// [`Machine::step`]; everything else goes through the parser.
    fn run(&mut self, data: &[u8], base: usize, whole: bool) -> Step {
        let end = base + data.len();
        let mut pos = 0;
        loop {
            let rest = &data[pos.min(data.len())..];
            let scalar = match rest {
                [b'G', a, b, c, d, e, f, g, h, ..] => {
                    let v = f64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h]);
                    NodeId::float(v).map(|id| (id, 9))
                }
                [b'K', a, ..] => NodeId::int(*a as i64).map(|id| (id, 2)),
                [b'M', a, b, ..] => {
                    NodeId::int(u16::from_le_bytes([*a, *b]) as i64).map(|id| (id, 3))
                }
                [b'J', a, b, c, d, ..] => {
                    NodeId::int(i32::from_le_bytes([*a, *b, *c, *d]) as i64).map(|id| (id, 5))
                }
                _ => None,
            };
            if let Some((id, n)) = scalar {
                self.stack.push(id);
                pos += n;
                continue;
            }
            if rest.is_empty() && !whole {
                return Ok(None);
            }
            let (op, n) = parse_op(rest).map_err(|mut e| {
                e.offset = base + pos;
                DecodeError::from(e)
            })?;
            let off = base + pos;
            pos += n;
            if let Some(v) = self.step(off, op, end)? {
                if whole {
                    return Ok(Some(v));
                }
                return Err(DecodeError {
                    offset: off,
                    kind: DecodeErrorKind::UnexpectedStop,
                });
            }
        }
    }

    /// Runs one op. Returns the result at STOP. `end` is the offset where
    /// the input ends (to check FRAME lengths).
    pub(crate) fn step(&mut self, off: usize, op: Op<'_>, end: usize) -> Step {
        self.step_inner(off, op, end)
            .map_err(|kind| DecodeError { offset: off, kind })
    }

    #[inline]
    fn step_inner(
        &mut self,
        off: usize,
        op: Op<'_>,
        end: usize,
    ) -> Result<Option<NodeId>, DecodeErrorKind> {
        use DecodeErrorKind as K;
        match op {
            Op::Proto(p) => {
                if p > 5 {
                    return Err(K::UnsupportedProtocol(p));
                }
                self.proto = p;
            }
            Op::Frame(n) => {
                let rest = end.saturating_sub(off + 9) as u64;
                if n > rest {
                    return Err(K::FrameTooLong(n));
                }
            }
            Op::Stop => return Ok(Some(self.pop()?)),
            Op::Mark => self.marks.push(self.stack.len()),
            Op::Pop => {
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop()?;
                }
            }
            Op::PopMark => {
                self.pop_marked()?;
            }
            Op::Dup => {
                let t = self.top()?;
                self.stack.push(t);
            }
            Op::None => self.push(Value::None)?,
            Op::Newtrue => self.push(Value::Bool(true))?,
            Op::Newfalse => self.push(Value::Bool(false))?,
            Op::Int(t) => match text::int_text(t) {
                Some(IntText::Bool(b)) => self.push(Value::Bool(b))?,
                Some(IntText::Int(i)) => self.push(Value::Int(i))?,
                None => return Err(K::Parse(ParseErrorKind::BadText(Opcode::Int, "not an int"))),
            },
            Op::Binint(v) => self.push(Value::Int(PyInt::Small(v as i64)))?,
            Op::Binint1(v) => self.push(Value::Int(PyInt::Small(v as i64)))?,
            Op::Binint2(v) => self.push(Value::Int(PyInt::Small(v as i64)))?,
            Op::Long(t) => {
                let i = text::long_text(t).ok_or(K::Parse(ParseErrorKind::BadText(
                    Opcode::Long,
                    "not an int",
                )))?;
                self.push(Value::Int(i))?
            }
            Op::Long1(b) | Op::Long4(b) => self.push(Value::Int(PyInt::from_le_bytes(b)))?,
            Op::Float(t) => {
                let v = text::float_text(t).ok_or(K::Parse(ParseErrorKind::BadText(
                    Opcode::Float,
                    "not a float",
                )))?;
                self.push(Value::Float(v))?
            }
            Op::Binfloat(v) => self.push(Value::Float(v))?,
            Op::String(t) => {
                let raw = text::string_text(t)
                    .map_err(|w| K::Parse(ParseErrorKind::BadText(Opcode::String, w)))?;
                let v = self.py2_string(&raw)?;
                self.push(v)?
            }
            Op::Binstring(s) | Op::ShortBinstring(s) => {
                let v = self.py2_string(s)?;
                self.push(v)?
            }
            Op::Binbytes(s) | Op::ShortBinbytes(s) | Op::Binbytes8(s) => {
                self.push(Value::Bytes(s.into()))?
            }
            Op::Bytearray8(s) => self.push(Value::ByteArray(s.to_vec()))?,
            Op::Unicode(t) => {
                let s = text::raw_unicode_escape_decode(t)
                    .map_err(|w| K::Parse(ParseErrorKind::BadText(Opcode::Unicode, w)))?;
                self.push(Value::Str(PyStr::from_checked(&s)))?
            }
            Op::Binunicode(s) | Op::ShortBinunicode(s) | Op::Binunicode8(s) => {
                self.push(Self::unicode(s)?)?
            }
            Op::EmptyList => self.push(Value::List(Vec::new()))?,
            Op::EmptyTuple => self.push(Value::Tuple(Box::new([])))?,
            Op::EmptyDict => self.push_container(Value::Dict(Vec::new()))?,
            Op::EmptySet => self.push_container(Value::Set(Vec::new()))?,
            Op::List => {
                let items = self.pop_marked()?;
                self.push(Value::List(items))?
            }
            Op::Tuple => {
                let items = self.pop_marked()?;
                self.push(Value::Tuple(items.into()))?
            }
            Op::Tuple1 | Op::Tuple2 | Op::Tuple3 => {
                let n = match op {
                    Op::Tuple1 => 1,
                    Op::Tuple2 => 2,
                    _ => 3,
                };
                if self.stack.len() < self.fence() + n {
                    return Err(K::StackUnderflow);
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Value::Tuple(items.into()))?
            }
            Op::Frozenset => {
                let items = self.pop_marked()?;
                self.push_container(Value::FrozenSet(items.into()))?
            }
            Op::Dict => {
                let items = self.pop_marked()?;
                if items.len() % 2 != 0 {
                    return Err(K::OddItems(Opcode::Dict));
                }
                let pairs = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                self.push_container(Value::Dict(pairs))?
            }
            Op::Append => {
                if self.stack.len() < self.fence() + 2 {
                    return Err(K::StackUnderflow);
                }
                let v = self.stack.pop().expect("checked");
                let target = *self.stack.last().expect("checked");
                extend_list(&mut self.pickle, Opcode::Append, target, [v])?;
            }
            Op::Appends => {
                let m = self.pop_mark()?.min(self.stack.len());
                let target = *self.stack[..m].last().ok_or(K::StackUnderflow)?;
                extend_list(
                    &mut self.pickle,
                    Opcode::Appends,
                    target,
                    self.stack.drain(m..),
                )?;
            }
            Op::Setitem => {
                if self.stack.len() < self.fence() + 3 {
                    return Err(K::StackUnderflow);
                }
                let v = self.stack.pop().expect("checked");
                let k = self.stack.pop().expect("checked");
                let target = *self.stack.last().expect("checked");
                self.set_items(Opcode::Setitem, target, vec![k, v])?;
            }
            Op::Setitems => {
                let items = self.pop_marked()?;
                let target = *self.stack.last().ok_or(K::StackUnderflow)?;
                self.set_items(Opcode::Setitems, target, items)?;
            }
            Op::Additems => {
                let items = self.pop_marked()?;
                let target = *self.stack.last().ok_or(K::StackUnderflow)?;
                match self.pickle.target_mut(target).map_err(|found| {
                    DecodeErrorKind::WrongTarget {
                        op: Opcode::Additems,
                        found,
                    }
                })? {
                    Value::Set(s) => s.extend(items),
                    Value::Object(o) => o.additems.extend(items),
                    other => {
                        return Err(K::WrongTarget {
                            op: Opcode::Additems,
                            found: other.kind_name(),
                        })
                    }
                }
            }
            Op::Get(t) => {
                let i = text::index_text(t).ok_or(K::Parse(ParseErrorKind::BadText(
                    Opcode::Get,
                    "not a memo index",
                )))?;
                let v = if i < 0 {
                    Err(K::MemoMissing(i as u64))
                } else {
                    self.memo_index(i as u64)
                }?;
                self.stack.push(v);
            }
            Op::Binget(i) => {
                let v = self.memo_index(i as u64)?;
                self.stack.push(v);
            }
            Op::LongBinget(i) => {
                let v = self.memo_index(i as u64)?;
                self.stack.push(v);
            }
            Op::Put(t) => {
                let i = text::index_text(t).ok_or(K::Parse(ParseErrorKind::BadText(
                    Opcode::Put,
                    "not a memo index",
                )))?;
                if i < 0 {
                    return Err(K::NegativePut);
                }
                self.memo_put(i as u64)?;
            }
            Op::Binput(i) => self.memo_put(i as u64)?,
            Op::LongBinput(i) => self.memo_put(i as u64)?,
            Op::Memoize => {
                let i = self.memo.count;
                self.memo_put(i)?;
            }
            Op::Global(m, n) => {
                let g = self.global(m, n)?;
                self.stack.push(g);
            }
            Op::StackGlobal => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(Value::Str(m)), Some(Value::Str(n))) =
                    (self.pickle.node(module), self.pickle.node(name))
                else {
                    return Err(K::StackGlobalNotStr);
                };
                let g = Global {
                    module: m.clone(),
                    name: n.clone(),
                    proto: self.proto,
                    name_nodes: Some((module, name)),
                };
                self.push(Value::Global(Box::new(g)))?;
            }
            Op::Reduce => {
                let args = self.pop()?;
                let callable = self.pop()?;
                // Plain data is never callable, and only a tuple is an
                // argument list: CPython's call would fail.
                let cv = self.pickle.value(callable);
                if !matches!(
                    *cv,
                    Value::Global(_) | Value::Object(_) | Value::PersId(_) | Value::Ext(_)
                ) {
                    return Err(K::NotCallable(cv.kind_name()));
                }
                let av = self.pickle.value(args);
                if !matches!(
                    *av,
                    Value::Tuple(_)
                        | Value::Object(_)
                        | Value::PersId(_)
                        | Value::Ext(_)
                        | Value::Global(_)
                ) {
                    return Err(K::BadReduceArgs(av.kind_name()));
                }
                let list_len = match self.pickle.node(args) {
                    Some(Value::Tuple(t)) if t.len() == 1 => match self.pickle.node(t[0]) {
                        Some(Value::List(l)) => Some(l.len()),
                        _ => None,
                    },
                    _ => None,
                };
                self.object(ObjectKind::Reduce { callable, args })?;
                if let Some(n) = list_len {
                    let id = *self.stack.last().expect("just pushed");
                    self.pickle.reduce_list_len.insert(id, n);
                }
            }
            Op::Newobj => {
                let args = self.pop()?;
                let cls = self.pop()?;
                if !self.is_tuple(args) {
                    return Err(K::BadNewObjArgs(Opcode::Newobj));
                }
                self.object(ObjectKind::NewObj { cls, args })?;
            }
            Op::NewobjEx => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                if !self.is_tuple(args) || !matches!(self.pickle.node(kwargs), Some(Value::Dict(_)))
                {
                    return Err(K::BadNewObjArgs(Opcode::NewobjEx));
                }
                self.object(ObjectKind::NewObjEx { cls, args, kwargs })?;
            }
            Op::Inst(m, n) => {
                // CPython decodes INST's names as ASCII (GLOBAL's as UTF-8).
                if !m.is_ascii() || !n.is_ascii() {
                    return Err(K::NotAscii);
                }
                let items = self.pop_marked()?;
                let cls = self.global(m, n)?;
                let args = self.new_node(Value::Tuple(items.into()))?;
                self.object(ObjectKind::Inst { cls, args })?;
            }
            Op::Obj => {
                let mut items = self.pop_marked()?;
                if items.is_empty() {
                    return Err(K::StackUnderflow);
                }
                let cls = items.remove(0);
                let args = self.new_node(Value::Tuple(items.into()))?;
                self.object(ObjectKind::Inst { cls, args })?;
            }
            Op::Build => {
                let state = self.pop()?;
                let target = self.top()?;
                match self.pickle.target_mut(target).map_err(|found| {
                    DecodeErrorKind::WrongTarget {
                        op: Opcode::Build,
                        found,
                    }
                })? {
                    Value::Object(o) => o.state = Some(state),
                    other => {
                        return Err(K::WrongTarget {
                            op: Opcode::Build,
                            found: other.kind_name(),
                        })
                    }
                }
            }
            Op::Persid(t) => {
                if !t.is_ascii() {
                    return Err(K::NotAscii);
                }
                let s = self.new_node(Value::Str(PyStr::from_checked(t)))?;
                self.push(Value::PersId(s))?;
            }
            Op::Binpersid => {
                let p = self.pop()?;
                self.push(Value::PersId(p))?;
            }
            Op::Ext1(c) => self.ext(c as i64)?,
            Op::Ext2(c) => self.ext(c as i64)?,
            Op::Ext4(c) => self.ext(c as i64)?,
            Op::NextBuffer => {
                let index = self.buffers;
                self.buffers += 1;
                self.push(Value::OobBuffer {
                    index,
                    readonly: false,
                })?;
            }
            Op::ReadonlyBuffer => {
                let t = self.top()?;
                match self
                    .pickle
                    .target_mut(t)
                    .map_err(|found| DecodeErrorKind::WrongTarget {
                        op: Opcode::ReadonlyBuffer,
                        found,
                    })? {
                    Value::OobBuffer { readonly, .. } => *readonly = true,
                    // Read-only already. (A bytearray would become a
                    // memoryview, which has no data-only form: refused.)
                    Value::Bytes(_) => {}
                    other => {
                        return Err(K::WrongTarget {
                            op: Opcode::ReadonlyBuffer,
                            found: other.kind_name(),
                        })
                    }
                }
            }
        }
        Ok(None)
    }

    fn ext(&mut self, code: i64) -> Result<(), DecodeErrorKind> {
        if code <= 0 {
            return Err(DecodeErrorKind::BadExtCode(code));
        }
        self.push(Value::Ext(code as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_indices_stored_sparsely_stay_reachable() {
        // The first PUT above the dense range goes to the map; later PUTs
        // grow the dense table past it; GET must still find it (found by
        // the mmpk-format generic-value tests).
        let p = decode(b"\x80\x04Nq!0Nq\"0h!.", &DecodeOptions::default()).unwrap();
        assert_eq!(*p.value(p.root()), Value::None);
        let mut data = b"\x80\x04]q(".to_vec();
        for i in (0..100u8).filter(|&i| i != 40) {
            data.extend_from_slice(&[b'K', i, b'q', i, b'0']);
        }
        data.extend_from_slice(b"0h(.");
        // (The list is at 40; ints fill 0..100 around it.)
        let p = decode(&data, &DecodeOptions::default()).unwrap();
        assert!(matches!(p.node(p.root()), Some(Value::List(_))));
        // Overwriting a sparse index through the dense table keeps one entry.
        let p = decode(b"\x80\x04]q(]q\x00]q(h(.", &DecodeOptions::default()).unwrap();
        assert!(matches!(p.node(p.root()), Some(Value::List(_))));
    }

    #[test]
    fn nan_keys_keep_python_identity() {
        // {nan: 1, nan: 2} with two NaN objects keeps both keys; a memoized
        // NaN used twice is one key (pickle.loads agrees).
        let two = b"\x80\x04}\x94(G\x7f\xf8\x00\x00\x00\x00\x00\x00K\x01G\x7f\xf8\x00\x00\x00\x00\x00\x00K\x02u.";
        let p = decode(two, &DecodeOptions::default()).unwrap();
        let Some(Value::Dict(items)) = p.node(p.root()) else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        let one = b"\x80\x04}\x94(G\x7f\xf8\x00\x00\x00\x00\x00\x00\x94K\x01h\x01K\x02u.";
        let p = decode(one, &DecodeOptions::default()).unwrap();
        let Some(Value::Dict(items)) = p.node(p.root()) else {
            panic!()
        };
        assert_eq!(items.len(), 1);
        assert_eq!(*p.value(items[0].1), Value::int(2));
    }

    #[test]
    fn fast_path_scalars_match_the_parser() {
        // BINFLOAT, BININT1, BININT2, BININT read directly; truncated ones
        // still give the parser's error at the right offset.
        let data = b"\x80\x04(G?\xf0\x00\x00\x00\x00\x00\x00K\x07M\x00\x01J\xff\xff\xff\xffl.";
        let p = decode(data, &DecodeOptions::default()).unwrap();
        let Some(Value::List(items)) = p.node(p.root()) else {
            panic!()
        };
        let got: Vec<Value> = items.iter().map(|&i| p.value(i).into_owned()).collect();
        assert_eq!(
            got,
            [
                Value::Float(1.0),
                Value::int(7),
                Value::int(256),
                Value::int(-1)
            ]
        );
        let e = decode(b"\x80\x04(G?\xf0\x00", &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(matches!(
            e.kind,
            DecodeErrorKind::Parse(ParseErrorKind::Truncated(_))
        ));
        let e = decode_fragment(b"K\x01.", 100, &DecodeOptions::default()).unwrap_err();
        assert_eq!((e.offset, e.kind), (102, DecodeErrorKind::UnexpectedStop));
        let e = decode_fragment(b"K\x01K\x02", 100, &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::FragmentNotOneValue(2));
    }

    #[test]
    fn fragments_decode_one_value_with_file_offsets() {
        // An mmpk entry's value: a list memoized at index 7 and fetched again.
        let ops = b"]q\x07K\x01ah\x07a";
        let p = decode_fragment(ops, 1000, &DecodeOptions::default()).unwrap();
        let Some(Value::List(items)) = p.node(p.root()) else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], p.root());
        let e = decode_fragment(b"K\x01.", 50, &DecodeOptions::default()).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                offset: 52,
                kind: DecodeErrorKind::UnexpectedStop
            }
        );
        let e = decode_fragment(b"K\x01K\x02", 50, &DecodeOptions::default()).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                offset: 54,
                kind: DecodeErrorKind::FragmentNotOneValue(2)
            }
        );
        let e = decode_fragment(b"h\x03", 10, &DecodeOptions::default()).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                offset: 10,
                kind: DecodeErrorKind::MemoMissing(3)
            }
        );
        let e = decode_fragment(b"K", 10, &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.offset, 10);
    }

    #[test]
    fn marks_and_pops_follow_the_c_unpickler() {
        // POP of a mark pops the mark: ( 0 N .  -> None
        let p = decode(b"(0N.", &DecodeOptions::default()).unwrap();
        assert_eq!(*p.value(p.root()), Value::None);
        // Taking items from below the current mark is an underflow.
        let e = decode(b"N(\x85.", &DecodeOptions::default()).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                offset: 2,
                kind: DecodeErrorKind::StackUnderflow
            }
        );
        let e = decode(b"N(t0.", &DecodeOptions::default()).unwrap();
        assert_eq!(*e.value(e.root()), Value::None);
        let e = decode(b"(.", &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::StackUnderflow);
        let e = decode(b"N\x80\x06.", &DecodeOptions::default()).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                offset: 1,
                kind: DecodeErrorKind::UnsupportedProtocol(6)
            }
        );
        // The limit on nodes holds.
        let opts = DecodeOptions {
            max_nodes: 2,
            ..DecodeOptions::default()
        };
        let e = decode(b"(]]]l.", &opts).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TooManyNodes);
        // Inline scalars (None, bool, small int, float) are not nodes.
        let p = decode(b"(NNNl.", &opts).unwrap();
        assert_eq!(p.len(), 1);
    }
}
