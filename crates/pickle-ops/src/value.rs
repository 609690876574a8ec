//! The data-only object model: an arena of values addressed by [`NodeId`],
//! so that identity (shared references, cycles) is kept exactly as in the
//! stream. Nothing here refers to Python code: globals and objects are inert
//! descriptions.

use crate::int::PyInt;
use crate::text;

/// A handle to one value of a [`Pickle`]: either an index into its arena,
/// or a small scalar held in the handle itself (`None`, `bool`, `int` within
/// ±2^47, and every `float` but a few NaN payloads), so that a list of a
/// million floats costs eight bytes per item and no arena node.
///
/// Scalars have no identity in Python's pickling (they are never memoized
/// by the pickler, and canonical JSON gives them no `id`), so two equal
/// inline scalars are the same handle. Use [`Pickle::value`] to read any
/// handle, [`NodeId::scalar`] for the inline fast path, and
/// [`NodeId::index`] for the arena position of a node.
///
/// The layout is NaN-boxing: a float is its own bits (NaNs are arena nodes,
/// see [`NodeId::float`]), and NaN bit patterns with the top 16 bits
/// `0xFFFC`..=`0xFFFE` tag nodes, ints and constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u64);

const TAG_SHIFT: u32 = 48;
/// Handles whose top 16 bits are at least this are not floats.
const FIRST_TAG: u64 = 0xFFFC;
const TAG_NODE: u64 = 0xFFFC;
const TAG_INT: u64 = 0xFFFD;
const TAG_CONST: u64 = 0xFFFE;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
const INLINE_INT_MAX: i64 = (1 << 47) - 1;
const INLINE_INT_MIN: i64 = -(1 << 47);

/// A scalar held inline in a [`NodeId`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// `None`
    None,
    /// `bool`
    Bool(bool),
    /// `int` (within ±2^47)
    Int(i64),
    /// `float`
    Float(f64),
}

impl Scalar {
    /// The same value as a [`Value`].
    #[inline]
    pub fn to_value(self) -> Value {
        match self {
            Scalar::None => Value::None,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Int(PyInt::Small(i)),
            Scalar::Float(f) => Value::Float(f),
        }
    }
}

impl NodeId {
    /// The inline `None`.
    pub const NONE: NodeId = NodeId(TAG_CONST << TAG_SHIFT);
    /// The inline `False`.
    pub const FALSE: NodeId = NodeId(TAG_CONST << TAG_SHIFT | 2);
    /// The inline `True`.
    pub const TRUE: NodeId = NodeId(TAG_CONST << TAG_SHIFT | 3);
    /// Never a valid handle (a sentinel for tables and work lists).
    pub(crate) const INVALID: NodeId = NodeId(u64::MAX);

    /// The handle of arena node `i`.
    #[inline]
    pub(crate) const fn node(i: u32) -> NodeId {
        NodeId(TAG_NODE << TAG_SHIFT | i as u64)
    }

    /// The inline handle of a float, unless it is a NaN. NaNs stay nodes:
    /// in Python two NaN objects are different dict keys while one NaN
    /// object (memoized and referenced twice) is one, so NaNs need the
    /// identity that inline handles do not have.
    #[inline]
    pub fn float(f: f64) -> Option<NodeId> {
        (!f.is_nan()).then_some(NodeId(f.to_bits()))
    }

    /// The inline handle of an int within ±2^47.
    #[inline]
    pub fn int(i: i64) -> Option<NodeId> {
        (INLINE_INT_MIN..=INLINE_INT_MAX)
            .contains(&i)
            .then_some(NodeId(TAG_INT << TAG_SHIFT | (i as u64 & PAYLOAD)))
    }

    /// The inline handle of a bool.
    #[inline]
    pub fn bool(b: bool) -> NodeId {
        if b {
            NodeId::TRUE
        } else {
            NodeId::FALSE
        }
    }

    /// The inline handle of a scalar value, if it can be one.
    #[inline]
    pub fn inline(v: &Value) -> Option<NodeId> {
        match v {
            Value::None => Some(NodeId::NONE),
            Value::Bool(b) => Some(NodeId::bool(*b)),
            Value::Int(PyInt::Small(i)) => NodeId::int(*i),
            Value::Float(f) => NodeId::float(*f),
            _ => None,
        }
    }

    /// The arena index, for a node (not an inline scalar).
    #[inline]
    pub fn index(self) -> Option<usize> {
        (self.0 >> TAG_SHIFT == TAG_NODE).then_some((self.0 & 0xFFFF_FFFF) as usize)
    }

    /// Whether this handle holds its scalar inline.
    #[inline]
    pub fn is_inline(self) -> bool {
        self.0 >> TAG_SHIFT != TAG_NODE
    }

    /// The float held inline, if this handle holds one.
    #[inline]
    pub fn as_float(self) -> Option<f64> {
        (self.0 >> TAG_SHIFT < FIRST_TAG).then(|| f64::from_bits(self.0))
    }

    /// The inline scalar, if this handle holds one.
    #[inline]
    pub fn scalar(self) -> Option<Scalar> {
        let tag = self.0 >> TAG_SHIFT;
        if tag < FIRST_TAG {
            return Some(Scalar::Float(f64::from_bits(self.0)));
        }
        match tag {
            TAG_INT => Some(Scalar::Int(((self.0 << 16) as i64) >> 16)),
            TAG_CONST => Some(match self.0 & 3 {
                0 => Scalar::None,
                2 => Scalar::Bool(false),
                _ => Scalar::Bool(true),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.index(), self.scalar()) {
            (Some(i), _) => write!(f, "NodeId({i})"),
            (None, Some(s)) => write!(f, "NodeId({s:?})"),
            (None, None) => write!(f, "NodeId({:#x})", self.0),
        }
    }
}

/// A Python `str`: UTF-8 that may encode lone surrogates (Python's
/// `surrogatepass`), exactly as BINUNICODE carries it. Strings of up to 22
/// bytes are stored inline (no allocation).
#[derive(Clone)]
pub struct PyStr(Repr);

const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl PartialEq for PyStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PyStr {}

impl std::hash::Hash for PyStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialOrd for PyStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PyStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for PyStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PyStr({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl PyStr {
    /// Stores bytes (already checked) inline or on the heap.
    #[inline]
    fn store(bytes: &[u8]) -> PyStr {
        if bytes.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            PyStr(Repr::Inline(bytes.len() as u8, buf))
        } else {
            PyStr(Repr::Heap(bytes.into()))
        }
    }

    /// Wraps bytes that [`text::check_utf8_surrogatepass`] accepts.
    #[inline]
    pub fn from_surrogatepass(bytes: &[u8]) -> Option<PyStr> {
        text::check_utf8_surrogatepass(bytes).ok()?;
        Some(PyStr::store(bytes))
    }

    /// Wraps bytes already known to be valid surrogatepass UTF-8.
    pub(crate) fn from_checked(bytes: &[u8]) -> PyStr {
        PyStr::store(bytes)
    }

    /// Decodes Latin-1 bytes (every byte is one code point).
    pub fn from_latin1(bytes: &[u8]) -> PyStr {
        if bytes.is_ascii() {
            return PyStr::store(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len() * 2);
        for &b in bytes {
            text::push_cp(&mut out, b as u32);
        }
        PyStr::store(&out)
    }

    /// The UTF-8 (surrogatepass) bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(n, buf) => &buf[..*n as usize],
            Repr::Heap(b) => b,
        }
    }

    /// The text, when it holds no lone surrogates.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// The code points.
    pub fn code_points(&self) -> impl Iterator<Item = u32> + '_ {
        text::code_points(self.as_bytes())
    }

    /// Number of code points (Python's `len`).
    pub fn char_len(&self) -> usize {
        text::char_count(self.as_bytes())
    }

    /// The Latin-1 bytes, when every code point is below 256.
    pub fn to_latin1(&self) -> Option<Vec<u8>> {
        self.code_points().map(|c| u8::try_from(c).ok()).collect()
    }
}

impl From<&str> for PyStr {
    fn from(s: &str) -> PyStr {
        PyStr::store(s.as_bytes())
    }
}

impl From<String> for PyStr {
    fn from(s: String) -> PyStr {
        PyStr::store(s.as_bytes())
    }
}

impl std::fmt::Display for PyStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A global reference (`GLOBAL`, `STACK_GLOBAL`, `INST`'s class): a module
/// and a qualified name, never imported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Global {
    /// The module name as in the stream.
    pub module: PyStr,
    /// The (qualified) name as in the stream.
    pub name: PyStr,
    /// The protocol in force when it was read (the last PROTO before it, 0
    /// without one): below 3, resolving maps Python 2 names.
    pub proto: u8,
    /// For STACK_GLOBAL, the str nodes it took its names from (their
    /// identity matters when re-encoding: CPython memoizes them).
    pub name_nodes: Option<(NodeId, NodeId)>,
}

impl Global {
    /// A global with the given names, as Python 3 writes it.
    pub fn new(module: &str, name: &str) -> Global {
        Global {
            module: module.into(),
            name: name.into(),
            proto: 4,
            name_nodes: None,
        }
    }
}

/// How an object node was made.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectKind {
    /// `REDUCE`: `callable(*args)`.
    Reduce {
        /// The callable.
        callable: NodeId,
        /// Its arguments.
        args: NodeId,
    },
    /// `NEWOBJ`: `cls.__new__(cls, *args)`.
    NewObj {
        /// The class.
        cls: NodeId,
        /// The arguments (a tuple).
        args: NodeId,
    },
    /// `NEWOBJ_EX`: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx {
        /// The class.
        cls: NodeId,
        /// The arguments (a tuple).
        args: NodeId,
        /// The keyword arguments (a dict).
        kwargs: NodeId,
    },
    /// `INST` / `OBJ`: an old-style instance.
    Inst {
        /// The class.
        cls: NodeId,
        /// The arguments (a tuple node).
        args: NodeId,
    },
}

/// An object node: how it was made, and what later ops did to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// How it was made.
    pub kind: ObjectKind,
    /// Items appended (APPEND/APPENDS), in order.
    pub listitems: Vec<NodeId>,
    /// Items set (SETITEM/SETITEMS), in order.
    pub dictitems: Vec<(NodeId, NodeId)>,
    /// Items added (ADDITEMS), in order.
    pub additems: Vec<NodeId>,
    /// The BUILD argument (the last one, if BUILD ran more than once).
    pub state: Option<NodeId>,
}

impl Object {
    /// A new object with nothing applied to it yet.
    pub fn new(kind: ObjectKind) -> Object {
        Object {
            kind,
            listitems: Vec::new(),
            dictitems: Vec::new(),
            additems: Vec::new(),
            state: None,
        }
    }

    /// Whether no item op and no BUILD touched it.
    pub fn is_bare(&self) -> bool {
        self.listitems.is_empty()
            && self.dictitems.is_empty()
            && self.additems.is_empty()
            && self.state.is_none()
    }
}

/// A numpy array (recognised by the layers above, see docs/canonical-json.md rule 3).
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// numpy's `dtype.str`, or a structured dtype's `descr` as a value
    /// (a list of tuples), kept in the arena.
    pub dtype: Dtype,
    /// The shape.
    pub shape: Vec<u64>,
    /// The raw element bytes in C order, in the dtype's byte order.
    pub data: Vec<u8>,
}

/// A numpy dtype as canonical JSON prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `dtype.str`, e.g. `<f8`.
    Str(String),
    /// A structured dtype's `descr`: a node holding the list of tuples.
    Descr(NodeId),
}

/// One value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `None`
    None,
    /// `bool`
    Bool(bool),
    /// `int`
    Int(PyInt),
    /// `float`
    Float(f64),
    /// `str`
    Str(PyStr),
    /// `bytes`
    Bytes(Box<[u8]>),
    /// `bytearray`
    ByteArray(Vec<u8>),
    /// `list`
    List(Vec<NodeId>),
    /// `tuple`
    Tuple(Box<[NodeId]>),
    /// `dict`, in insertion order.
    Dict(Vec<(NodeId, NodeId)>),
    /// `set`
    Set(Vec<NodeId>),
    /// `frozenset`
    FrozenSet(Box<[NodeId]>),
    /// A global reference.
    Global(Box<Global>),
    /// An object made by REDUCE, NEWOBJ, NEWOBJ_EX, INST or OBJ.
    Object(Box<Object>),
    /// A persistent id (PERSID's text as a str node, or BINPERSID's object).
    PersId(NodeId),
    /// An extension-registry code (EXT1/2/4).
    Ext(i32),
    /// An out-of-band buffer (NEXT_BUFFER), by its index among the buffers.
    OobBuffer {
        /// Index of the buffer (0 for the first NEXT_BUFFER).
        index: u64,
        /// Whether READONLY_BUFFER was applied to it.
        readonly: bool,
    },
    /// A numpy array (resolved view only).
    NdArray(Box<NdArray>),
    /// A numpy masked array: data and mask arrays (resolved view only).
    MaskedArray {
        /// The data array node.
        data: NodeId,
        /// The mask array node.
        mask: NodeId,
    },
}

const _: () = assert!(std::mem::size_of::<Value>() <= 32);

impl Value {
    /// A short name of the kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Global(_) => "global",
            Value::Object(_) => "object",
            Value::PersId(_) => "persistent id",
            Value::Ext(_) => "extension code",
            Value::OobBuffer { .. } => "out-of-band buffer",
            Value::NdArray(_) => "ndarray",
            Value::MaskedArray { .. } => "masked array",
        }
    }

    /// Whether canonical JSON gives this kind an identity (`id`/`ref`).
    pub fn has_identity(&self) -> bool {
        matches!(
            self,
            Value::List(_)
                | Value::Dict(_)
                | Value::Set(_)
                | Value::ByteArray(_)
                | Value::Object(_)
        )
    }

    /// A str value.
    pub fn str(s: &str) -> Value {
        Value::Str(PyStr::from(s))
    }

    /// An int value.
    pub fn int(v: i64) -> Value {
        Value::Int(PyInt::Small(v))
    }
}

/// A decoded (or built) pickle: an arena of values and the root.
#[derive(Clone, Debug, Default)]
pub struct Pickle {
    nodes: Vec<Value>,
    root: Option<NodeId>,
    /// For REDUCE nodes whose argument was a 1-tuple holding a list: the
    /// list's length when REDUCE ran (lists only grow afterwards), so that
    /// resolving `set(list)` sees what CPython's call saw.
    pub(crate) reduce_list_len: std::collections::HashMap<NodeId, usize>,
    /// Built the way Python builds fresh objects (e.g. from JSON): the
    /// empty and one-character str and the empty and one-byte bytes are
    /// then shared singletons, as in CPython, whatever their nodes.
    pub(crate) small_values_shared: bool,
}

impl Pickle {
    /// An empty arena.
    pub fn new() -> Pickle {
        Pickle::default()
    }

    /// An empty arena with room for `n` nodes.
    pub fn with_capacity(n: usize) -> Pickle {
        Pickle {
            nodes: Vec::with_capacity(n),
            root: None,
            reduce_list_len: Default::default(),
            small_values_shared: false,
        }
    }

    /// Adds a value; returns its handle. `None`, `bool`, small ints and
    /// floats are held inline in the handle (no arena node).
    ///
    /// # Panics
    /// When the arena already holds 2^32 - 1 nodes.
    #[inline]
    pub fn push(&mut self, v: Value) -> NodeId {
        self.try_push(v).expect("pickle arena is full (2^32 nodes)")
    }

    /// Adds a value as an arena node even when it is a scalar (e.g. a
    /// placeholder to [`Pickle::replace`] later).
    ///
    /// # Panics
    /// When the arena already holds 2^32 - 1 nodes.
    pub fn push_node(&mut self, v: Value) -> NodeId {
        self.try_push_node(v)
            .expect("pickle arena is full (2^32 nodes)")
    }

    /// Adds a value unless the arena is full.
    #[inline]
    pub(crate) fn try_push(&mut self, v: Value) -> Option<NodeId> {
        match NodeId::inline(&v) {
            Some(id) => Some(id),
            None => self.try_push_node(v),
        }
    }

    /// Adds an arena node unless the arena is full.
    #[inline]
    pub(crate) fn try_push_node(&mut self, v: Value) -> Option<NodeId> {
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != u32::MAX)?;
        self.nodes.push(v);
        Some(NodeId::node(id))
    }

    /// The value of a handle: borrowed for an arena node, built for an
    /// inline scalar.
    ///
    /// # Panics
    /// When `id` is a node not from this arena.
    #[inline]
    pub fn value(&self, id: NodeId) -> std::borrow::Cow<'_, Value> {
        match id.index() {
            Some(i) => std::borrow::Cow::Borrowed(&self.nodes[i]),
            None => std::borrow::Cow::Owned(id.scalar().map_or(Value::None, Scalar::to_value)),
        }
    }

    /// The value of an arena node; `None` for an inline scalar (or a node
    /// out of range). Containers, strings, globals and objects are always
    /// nodes, so this is how to look for them.
    #[inline]
    pub fn node(&self, id: NodeId) -> Option<&Value> {
        self.nodes.get(id.index()?)
    }

    /// The value of a handle, if it is inline or a node in range.
    #[inline]
    pub fn get(&self, id: NodeId) -> Option<std::borrow::Cow<'_, Value>> {
        match id.index() {
            Some(i) => self.nodes.get(i).map(std::borrow::Cow::Borrowed),
            None => id.scalar().map(|s| std::borrow::Cow::Owned(s.to_value())),
        }
    }

    /// The value of an arena node, mutably.
    ///
    /// # Panics
    /// When `id` is an inline scalar or not from this arena.
    #[inline]
    pub fn value_mut(&mut self, id: NodeId) -> &mut Value {
        let i = id.index().expect("value_mut of an inline scalar");
        &mut self.nodes[i]
    }

    /// The value of an arena node, mutably, or the kind name of an inline
    /// scalar (which no op can change).
    #[inline]
    pub(crate) fn target_mut(&mut self, id: NodeId) -> Result<&mut Value, &'static str> {
        match id.index() {
            Some(i) => self.nodes.get_mut(i).ok_or("unknown node"),
            None => Err(id.scalar().map_or("None", |s| s.to_value().kind_name())),
        }
    }

    /// Removes node `id` if it is the last one (a reservation that turned
    /// out to be an inline scalar).
    pub(crate) fn pop_last_node(&mut self, id: NodeId) {
        if id.index().is_some_and(|i| i + 1 == self.nodes.len()) {
            self.nodes.pop();
        }
    }

    /// Replaces an arena node's value, keeping its identity.
    ///
    /// # Panics
    /// When `id` is an inline scalar or not from this arena.
    pub fn replace(&mut self, id: NodeId, v: Value) -> Value {
        std::mem::replace(self.value_mut(id), v)
    }

    /// The root value's id.
    ///
    /// # Panics
    /// When no root was set.
    pub fn root(&self) -> NodeId {
        self.root.expect("pickle has no root")
    }

    /// The root value's id, if set.
    pub fn try_root(&self) -> Option<NodeId> {
        self.root
    }

    /// Declares that this graph was built the way Python builds fresh
    /// objects (as [`crate::json::from_json`] does): the encoder then shares
    /// the empty and one-character str and the empty and one-byte bytes, as
    /// CPython's singletons are shared. Decoded pickles keep the stream's
    /// identities instead.
    pub fn set_small_values_shared(&mut self, shared: bool) {
        self.small_values_shared = shared;
    }

    /// Sets the root.
    pub fn set_root(&mut self, id: NodeId) {
        self.root = Some(id);
    }

    /// Number of arena nodes (inline scalars are not counted).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the arena is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All arena nodes' handles, in creation order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId::node)
    }

    /// The ids a node refers to directly, in canonical JSON order.
    pub fn children(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let Some(v) = self.node(id) else {
            return out;
        };
        match v {
            Value::List(v) | Value::Set(v) => out.extend_from_slice(v),
            Value::Tuple(v) | Value::FrozenSet(v) => out.extend_from_slice(v),
            Value::Dict(items) => items.iter().for_each(|&(k, v)| out.extend([k, v])),
            Value::PersId(p) => out.push(*p),
            Value::MaskedArray { data, mask } => out.extend([*data, *mask]),
            Value::NdArray(a) => {
                if let Dtype::Descr(d) = a.dtype {
                    out.push(d)
                }
            }
            Value::Object(o) => {
                match o.kind {
                    ObjectKind::Reduce { callable, args } => out.extend([callable, args]),
                    ObjectKind::NewObj { cls, args } | ObjectKind::Inst { cls, args } => {
                        out.extend([cls, args])
                    }
                    ObjectKind::NewObjEx { cls, args, kwargs } => out.extend([cls, args, kwargs]),
                }
                out.extend_from_slice(&o.listitems);
                o.dictitems.iter().for_each(|&(k, v)| out.extend([k, v]));
                out.extend_from_slice(&o.additems);
                out.extend(o.state);
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_inline_and_round_trip() {
        let mut p = Pickle::new();
        let cases = [
            Value::None,
            Value::Bool(false),
            Value::Bool(true),
            Value::int(0),
            Value::int(-1),
            Value::int((1 << 47) - 1),
            Value::int(-(1 << 47)),
            Value::Float(0.0),
            Value::Float(-0.0),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(f64::MIN_POSITIVE / 2.0),
            Value::Float(-1.5e300),
        ];
        for v in cases {
            let id = p.push(v.clone());
            assert!(id.is_inline(), "{v:?}");
            assert_eq!(id.index(), None);
            assert_eq!(*p.value(id), v);
            assert!(p.node(id).is_none());
            // -0.0 keeps its sign bit.
            if let Value::Float(f) = v {
                assert_eq!(id.as_float().map(f64::to_bits), Some(f.to_bits()));
            } else {
                assert_eq!(id.as_float(), None);
            }
        }
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn big_ints_and_nans_are_nodes() {
        let mut p = Pickle::new();
        let big = [
            Value::int(1 << 47),
            Value::int(-(1 << 47) - 1),
            Value::int(i64::MAX),
            Value::int(i64::MIN),
        ];
        for v in big {
            let id = p.push(v.clone());
            assert!(!id.is_inline());
            assert_eq!(*p.value(id), v);
        }
        for bits in [
            0x7FF8_0000_0000_0000u64,
            0xFFF8_0000_0000_0000,
            0xFFFC_0000_0000_0001,
            0xFFFF_FFFF_FFFF_FFFF,
        ] {
            let f = f64::from_bits(bits);
            let id = p.push(Value::Float(f));
            assert!(!id.is_inline());
            let Value::Float(g) = *p.value(id) else {
                panic!()
            };
            assert_eq!(g.to_bits(), bits);
        }
        assert_eq!(p.len(), 8);
    }

    #[test]
    fn inline_handles_cannot_be_changed() {
        let mut p = Pickle::new();
        let id = p.push(Value::int(3));
        assert_eq!(p.target_mut(id).unwrap_err(), "int");
        assert_eq!(p.target_mut(NodeId::NONE).unwrap_err(), "None");
        let n = p.push_node(Value::None);
        assert!(!n.is_inline());
        assert!(p.target_mut(n).is_ok());
    }
}
