//! The data-only object model: an arena of values addressed by [`NodeId`],
//! so that identity (shared references, cycles) is kept exactly as in the
//! stream. Nothing here refers to Python code: globals and objects are inert
//! descriptions.

use crate::int::PyInt;
use crate::text;

/// The index of a value in a [`Pickle`]'s arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The arena index.
    pub fn index(self) -> usize {
        self.0 as usize
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

/// A numpy array (recognised by the layers above, see CANONICAL_JSON.md rule 3).
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

    /// Adds a value; returns its id.
    ///
    /// # Panics
    /// When the arena already holds 2^32 - 1 nodes.
    #[inline]
    pub fn push(&mut self, v: Value) -> NodeId {
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != u32::MAX)
            .expect("pickle arena is full (2^32 nodes)");
        self.nodes.push(v);
        NodeId(id)
    }

    /// Adds a value unless the arena is full.
    #[inline]
    pub(crate) fn try_push(&mut self, v: Value) -> Option<NodeId> {
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != u32::MAX)?;
        self.nodes.push(v);
        Some(NodeId(id))
    }

    /// The value of a node.
    ///
    /// # Panics
    /// When `id` is not from this arena.
    #[inline]
    pub fn value(&self, id: NodeId) -> &Value {
        &self.nodes[id.index()]
    }

    /// The value of a node, if `id` is in range.
    #[inline]
    pub fn get(&self, id: NodeId) -> Option<&Value> {
        self.nodes.get(id.index())
    }

    /// The value of a node, mutably.
    ///
    /// # Panics
    /// When `id` is not from this arena.
    #[inline]
    pub fn value_mut(&mut self, id: NodeId) -> &mut Value {
        &mut self.nodes[id.index()]
    }

    /// Replaces a node's value, keeping its identity.
    pub fn replace(&mut self, id: NodeId, v: Value) -> Value {
        std::mem::replace(&mut self.nodes[id.index()], v)
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

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the arena is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All node ids, in creation order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// The ids a node refers to directly, in canonical JSON order.
    pub fn children(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        match self.value(id) {
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
