//! From a decoded pickle (`pickle_ops`' data-only model) to Python
//! objects, without running anything the pickle names.
//!
//! The graph is built in four steps, none recursive (a million nested lists
//! build as well as a flat one):
//!
//! 1. **reach**: walk the nodes reachable from the root, refusing any
//!    global outside the allowlist ([`super::allow`]) before anything is
//!    built, and decide each node's plan: a *shell* (a mutable container:
//!    list, dict, set, `OrderedDict`, `defaultdict`, `Counter`, `deque`) or
//!    a *value* (everything else, immutable once made);
//! 2. **shells**: make every shell, empty;
//! 3. **values**: make every value, its parts first (an explicit stack);
//!    shells already exist, so a tuple may hold a list that holds the tuple,
//!    as in CPython;
//! 4. **fill**: fill the shells in the order they were made.
//!
//! Identity is the graph's: a node shared twice (a memo fetch) is one
//! Python object, cycles through mutable containers are kept. Objects that
//! read other nodes' contents (a `UUID`'s state, a `Counter`'s items, a
//! numpy array's dtype) read them from the graph, never from a Python
//! object still being filled.

use std::collections::HashMap;

use pickle_ops::value::{Global, Object, ObjectKind};
use pickle_ops::{NodeId, Pickle, PyInt, Scalar, Value};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple};

use super::allow::{self, Known};
use super::numpy;

mod objects;

/// Why a value was not built.
pub(crate) enum Failure {
    /// It needs code the allowlist does not cover (the message names it);
    /// `trusted=True` hands it to CPython's pickle.
    Unsafe(String),
    /// It is malformed: not what any Python would write for the objects it
    /// names, or refused by their constructors.
    Bad(String),
    /// A Python error while building (e.g. memory).
    Py(PyErr),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

pub(crate) type BuildResult<T> = Result<T, Failure>;

fn bad<T>(msg: impl Into<String>) -> BuildResult<T> {
    Err(Failure::Bad(msg.into()))
}

/// The mutable containers, made empty first and filled last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shell {
    List,
    Dict,
    Set,
    OrderedDict,
    DefaultDict,
    Counter,
    Deque,
    /// A numpy array of Python objects (`dtype=object`), filled element by
    /// element.
    ObjectArray,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Unreached,
    Value,
    Shell(Shell),
}

/// A global's dotted name, for messages.
pub(super) fn dotted(g: &Global) -> String {
    format!("{}.{}", g.module, g.name)
}

/// The callable (or class) node of an object.
fn callable_of(o: &Object) -> NodeId {
    match o.kind {
        ObjectKind::Reduce { callable, .. } => callable,
        ObjectKind::NewObj { cls, .. }
        | ObjectKind::NewObjEx { cls, .. }
        | ObjectKind::Inst { cls, .. } => cls,
    }
}

/// The argument tuple node of an object (REDUCE, NEWOBJ).
fn args_of(o: &Object) -> NodeId {
    match o.kind {
        ObjectKind::Reduce { args, .. }
        | ObjectKind::NewObj { args, .. }
        | ObjectKind::NewObjEx { args, .. }
        | ObjectKind::Inst { args, .. } => args,
    }
}

struct Builder<'py, 'p> {
    py: Python<'py>,
    p: &'p Pickle,
    plan: Vec<Plan>,
    /// What each object node is (allowlisted callables only).
    known: HashMap<u32, Known>,
    objs: Vec<Option<Py<PyAny>>>,
    imports: HashMap<(&'static str, &'static str), Py<PyAny>>,
    /// Masked arrays' fill values, by the masked array's node.
    fills: &'p HashMap<NodeId, NodeId>,
}

/// Builds the root of `p` as Python objects (see the module docs).
pub(crate) fn build(
    py: Python<'_>,
    p: &Pickle,
    fills: &HashMap<NodeId, NodeId>,
) -> BuildResult<Py<PyAny>> {
    let Some(root) = p.try_root() else {
        return bad("the pickle has no value");
    };
    let mut b = Builder {
        py,
        p,
        plan: vec![Plan::Unreached; p.len()],
        known: HashMap::new(),
        objs: Vec::new(),
        imports: HashMap::new(),
        fills,
    };
    b.reach(root)?;
    b.objs.resize_with(p.len(), || None);
    // The containers are all made before any is filled: with the cyclic
    // GC on, each of its passes over a large graph being built would walk
    // the (still growing) young objects again and again. It is paused
    // while building (garbage made meanwhile waits for the next pass) and
    // left as it was found (paused, if the caller had paused it).
    let gc = (p.len() > GC_PAUSE_FROM)
        .then(|| pause_gc(py))
        .transpose()?;
    let built = (|| {
        b.make_shells()?;
        b.make_values()?;
        b.fill_shells()?;
        Ok(b.get(root)?.unbind())
    })();
    if let Some(Some(gc)) = gc {
        gc.call_method0("enable")?;
    }
    built
}

/// Values of more nodes than this are built with the GC paused.
const GC_PAUSE_FROM: usize = 10_000;

/// Disables Python's cyclic GC if it is enabled; returns the `gc` module
/// to enable it again with.
fn pause_gc(py: Python<'_>) -> PyResult<Option<Bound<'_, PyModule>>> {
    let gc = py.import("gc")?;
    if !gc.call_method0("isenabled")?.is_truthy()? {
        return Ok(None);
    }
    gc.call_method0("disable")?;
    Ok(Some(gc))
}

impl<'py, 'p> Builder<'py, 'p> {
    /// Step 1: the plan of every reachable node; unsafe globals refused.
    fn reach(&mut self, root: NodeId) -> BuildResult<()> {
        let mut stack = vec![root];
        let p = self.p;
        while let Some(id) = stack.pop() {
            let Some(i) = id.index() else { continue };
            if self.plan.get(i).copied() != Some(Plan::Unreached) {
                continue;
            }
            let Some(v) = p.node(id) else {
                return bad("a reference to a value that does not exist");
            };
            let plan = match v {
                Value::None
                | Value::Bool(_)
                | Value::Int(_)
                | Value::Float(_)
                | Value::Str(_)
                | Value::Bytes(_)
                | Value::ByteArray(_) => Plan::Value,
                Value::List(items) => {
                    stack.extend_from_slice(items);
                    Plan::Shell(Shell::List)
                }
                Value::Tuple(items) | Value::FrozenSet(items) => {
                    stack.extend_from_slice(items);
                    Plan::Value
                }
                Value::Set(items) => {
                    stack.extend_from_slice(items);
                    Plan::Shell(Shell::Set)
                }
                Value::Dict(items) => {
                    stack.extend(items.iter().flat_map(|&(k, v)| [k, v]));
                    Plan::Shell(Shell::Dict)
                }
                Value::Global(g) => {
                    if !allow::allowed(g.module.as_bytes(), g.name.as_bytes()) {
                        return Err(Failure::Unsafe(dotted(g)));
                    }
                    Plan::Value
                }
                Value::Object(o) => {
                    let known = self.classify(o)?;
                    self.known.insert(i as u32, known);
                    let args = args_of(o);
                    let items = || {
                        o.listitems
                            .iter()
                            .copied()
                            .chain(o.dictitems.iter().flat_map(|&(k, v)| [k, v]))
                    };
                    match known {
                        Known::OrderedDict => {
                            stack.extend(items());
                            Plan::Shell(Shell::OrderedDict)
                        }
                        Known::DefaultDict => {
                            stack.push(args);
                            stack.extend(items());
                            Plan::Shell(Shell::DefaultDict)
                        }
                        Known::Counter => {
                            stack.push(args);
                            stack.extend(items());
                            Plan::Shell(Shell::Counter)
                        }
                        Known::Deque => {
                            stack.push(args);
                            stack.extend(items());
                            Plan::Shell(Shell::Deque)
                        }
                        // Read from the graph as literal data.
                        Known::Uuid | Known::NumpyScalar | Known::NumpyDtype => Plan::Value,
                        Known::NumpyArrayPart => {
                            if let Some(a) = self.object_array(o) {
                                let Some(Value::List(items)) = p.node(a.items) else {
                                    return bad("an object array's items are not a list");
                                };
                                stack.extend_from_slice(items);
                                self.plan[i] = Plan::Shell(Shell::ObjectArray);
                                continue;
                            }
                            if self.names_oob_buffer(o) {
                                return bad("a numpy array whose bytes are an out-of-band buffer \
                                     (protocol 5) that was not given");
                            }
                            return Err(Failure::Unsafe(format!(
                                "{} (a numpy array mmpk does not rebuild itself, such as an \
                                 array of Python objects)",
                                self.callable_name(o)
                            )));
                        }
                        _ => {
                            stack.push(args);
                            Plan::Value
                        }
                    }
                }
                Value::NdArray(_) => Plan::Value,
                Value::MaskedArray { data, mask } => {
                    stack.extend([*data, *mask]);
                    stack.extend(self.fills.get(&id));
                    Plan::Value
                }
                Value::PersId(_) => {
                    return bad("a persistent id (PERSID/BINPERSID), which needs the \
                         persistent_load of the program that wrote it")
                }
                Value::Ext(code) => {
                    return Err(Failure::Unsafe(format!(
                        "extension code {code} (a global from copyreg's extension registry)"
                    )))
                }
                Value::OobBuffer { .. } => {
                    return bad("an out-of-band buffer (protocol 5), which is not given")
                }
                other => return bad(format!("a {} value", other.kind_name())),
            };
            self.plan[i] = plan;
        }
        Ok(())
    }

    /// Whether an unfolded numpy call takes an out-of-band buffer.
    fn names_oob_buffer(&self, o: &Object) -> bool {
        match self.p.node(args_of(o)) {
            Some(Value::Tuple(args)) => args
                .iter()
                .any(|&a| matches!(self.p.node(a), Some(Value::OobBuffer { .. }))),
            _ => false,
        }
    }

    /// The name to report for an object's callable: its global, or for a
    /// call of what another call returned (`getattr(...)(...)`), the
    /// innermost global.
    fn callable_name(&self, o: &Object) -> String {
        let mut id = callable_of(o);
        // Bounded: callables precede their objects in the arena.
        for _ in 0..self.p.len().min(10_000) {
            match self.p.node(id) {
                Some(Value::Global(g)) => return dotted(g),
                Some(Value::Object(inner)) => id = callable_of(inner),
                Some(v) => return format!("a call of a {} value", v.kind_name()),
                None => break,
            }
        }
        "a call of a value that is not a global".into()
    }

    /// What an object node is; unsafe unless its callable is an
    /// allowlisted global made the way Python makes it.
    fn classify(&self, o: &Object) -> BuildResult<Known> {
        let Some(Value::Global(g)) = self.p.node(callable_of(o)) else {
            return Err(Failure::Unsafe(self.callable_name(o)));
        };
        let Some(known) = allow::callable(g.module.as_bytes(), g.name.as_bytes()) else {
            // An allowlisted type called with arguments mmpk does not
            // rebuild (`bytearray(str, 'utf-8')`, `object()`), or anything
            // else.
            return Err(Failure::Unsafe(dotted(g)));
        };
        let reduce = matches!(o.kind, ObjectKind::Reduce { .. });
        let newobj = matches!(o.kind, ObjectKind::NewObj { .. });
        let ok = match known {
            Known::Uuid => newobj,
            Known::NumpyArrayPart => true,
            _ => reduce,
        };
        if !ok {
            return bad(format!(
                "{} made by an opcode Python does not use for it",
                dotted(g)
            ));
        }
        let plain = o.listitems.is_empty() && o.dictitems.is_empty() && o.additems.is_empty();
        let fits = match known {
            Known::OrderedDict | Known::DefaultDict | Known::Counter => {
                o.listitems.is_empty() && o.additems.is_empty() && o.state.is_none()
            }
            Known::Deque => o.dictitems.is_empty() && o.additems.is_empty() && o.state.is_none(),
            Known::Uuid | Known::NumpyDtype => plain,
            Known::NumpyArrayPart => true,
            _ => plain && o.state.is_none(),
        };
        if !fits {
            return bad(format!(
                "{} with items or state Python does not write for it",
                dotted(g)
            ));
        }
        Ok(known)
    }

    /// A node's Python object: an inline scalar made now, a node's object
    /// made before.
    fn get(&self, id: NodeId) -> BuildResult<Bound<'py, PyAny>> {
        if let Some(s) = id.scalar() {
            return Ok(scalar(self.py, s)?);
        }
        match id.index().and_then(|i| self.objs.get(i)) {
            Some(Some(o)) => Ok(o.bind(self.py).clone()),
            _ => bad("a reference to a value not built (internal order)"),
        }
    }

    /// An allowlisted class or function, imported by mmpk's own name.
    fn import(&mut self, module: &'static str, name: &'static str) -> PyResult<Bound<'py, PyAny>> {
        if let Some(o) = self.imports.get(&(module, name)) {
            return Ok(o.bind(self.py).clone());
        }
        let o = self.py.import(module)?.getattr(name)?;
        self.imports.insert((module, name), o.clone().unbind());
        Ok(o)
    }

    fn tuple_items(&self, id: NodeId, what: &str) -> BuildResult<&[NodeId]> {
        match self.p.node(id) {
            Some(Value::Tuple(t)) => Ok(t),
            _ => bad(format!("{what}: arguments are not a tuple")),
        }
    }

    /// Step 2.
    fn make_shells(&mut self) -> BuildResult<()> {
        let py = self.py;
        for id in self.p.ids() {
            let i = id.index().expect("a node");
            let Plan::Shell(shell) = self.plan[i] else {
                continue;
            };
            let obj: Bound<'py, PyAny> = match shell {
                Shell::List => PyList::empty(py).into_any(),
                Shell::Dict => PyDict::new(py).into_any(),
                Shell::Set => PySet::empty(py)?.into_any(),
                Shell::OrderedDict => {
                    let o = self.object(id);
                    if !self
                        .tuple_items(args_of(o), "collections.OrderedDict")?
                        .is_empty()
                    {
                        return bad("collections.OrderedDict: arguments Python does not write");
                    }
                    self.import("collections", "OrderedDict")?.call0()?
                }
                Shell::Counter => self.import("collections", "Counter")?.call0()?,
                Shell::DefaultDict => {
                    let o = self.object(id);
                    let factory = match self.tuple_items(args_of(o), "collections.defaultdict")? {
                        [] => py.None().into_bound(py),
                        [f] => self.factory(*f)?,
                        _ => return bad("collections.defaultdict: more than one argument"),
                    };
                    self.import("collections", "defaultdict")?
                        .call1((factory,))?
                }
                Shell::ObjectArray => {
                    let o = self.object(id);
                    let a = self.object_array(o).expect("planned as an object array");
                    self.empty_object_array(&a)?
                }
                Shell::Deque => {
                    let o = self.object(id);
                    let maxlen = match self.tuple_items(args_of(o), "collections.deque")? {
                        [_, m] => {
                            if !matches!(*self.p.value(*m), Value::None | Value::Int(_)) {
                                return bad("collections.deque: maxlen is not an int or None");
                            }
                            int_or_none(py, &self.p.value(*m))?
                        }
                        [] | [_] => py.None().into_bound(py),
                        _ => return bad("collections.deque: more than two arguments"),
                    };
                    let empty = PyTuple::empty(py);
                    self.import("collections", "deque")?
                        .call1((empty, maxlen))
                        .map_err(|e| self.bad_call("collections.deque", e))?
                }
            };
            self.objs[i] = Some(obj.unbind());
        }
        Ok(())
    }

    /// A defaultdict's factory: None or an allowlisted builtin type.
    fn factory(&mut self, id: NodeId) -> BuildResult<Bound<'py, PyAny>> {
        if id.scalar() == Some(Scalar::None) {
            return Ok(self.py.None().into_bound(self.py));
        }
        match self.p.node(id) {
            Some(Value::Global(g)) => {
                match allow::value_type(g.module.as_bytes(), g.name.as_bytes()) {
                    Some((m, n)) => Ok(self.import(m, n)?),
                    None => Err(Failure::Unsafe(format!(
                        "{} (as a defaultdict's default_factory)",
                        dotted(g)
                    ))),
                }
            }
            _ => Err(Failure::Unsafe(
                "a defaultdict whose default_factory is not a builtin type".into(),
            )),
        }
    }

    fn object(&self, id: NodeId) -> &'p Object {
        match self.p.node(id) {
            Some(Value::Object(o)) => o,
            _ => unreachable!("planned as an object"),
        }
    }

    fn bad_call(&self, what: &str, e: PyErr) -> Failure {
        Failure::Bad(format!("{what}: {}", e.value(self.py)))
    }

    /// Step 3: every value, parts first, iteratively.
    fn make_values(&mut self) -> BuildResult<()> {
        let mut busy = vec![false; self.p.len()];
        let mut stack: Vec<(NodeId, bool)> = Vec::new();
        let mut deps = Vec::new();
        for start in self.p.ids() {
            let si = start.index().expect("a node");
            if self.plan[si] != Plan::Value || self.objs[si].is_some() {
                continue;
            }
            stack.push((start, false));
            while let Some((id, expanded)) = stack.pop() {
                let iu = id.index().expect("a node");
                if self.objs[iu].is_some() {
                    continue;
                }
                if expanded {
                    let o = self.make(id)?;
                    self.objs[iu] = Some(o.unbind());
                    busy[iu] = false;
                    continue;
                }
                if busy[iu] {
                    return bad("an immutable value that contains itself");
                }
                busy[iu] = true;
                stack.push((id, true));
                deps.clear();
                self.deps(id, &mut deps);
                for &d in &deps {
                    if let Some(di) = d.index() {
                        if self.plan.get(di) == Some(&Plan::Value) && self.objs[di].is_none() {
                            stack.push((d, false));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The nodes a value is made of (shells and inline scalars included;
    /// the caller skips them).
    fn deps(&self, id: NodeId, out: &mut Vec<NodeId>) {
        let i = id.index().expect("a node");
        match self.p.node(id) {
            Some(Value::Tuple(items) | Value::FrozenSet(items)) => out.extend_from_slice(items),
            Some(Value::MaskedArray { data, mask }) => {
                out.extend([*data, *mask]);
                out.extend(self.fills.get(&id));
            }
            Some(Value::Object(o)) => match self.known.get(&(i as u32)) {
                Some(Known::Uuid | Known::NumpyScalar | Known::NumpyDtype) | None => {}
                Some(_) => out.push(args_of(o)),
            },
            _ => {}
        }
    }

    /// Makes value node `i` (its parts exist).
    fn make(&mut self, id: NodeId) -> BuildResult<Bound<'py, PyAny>> {
        let py = self.py;
        let p = self.p;
        let i = id.index().expect("a node");
        Ok(match p.node(id) {
            Some(Value::None) => py.None().into_bound(py),
            Some(Value::Bool(b)) => scalar(py, Scalar::Bool(*b))?,
            Some(Value::Int(n)) => int(py, n)?,
            Some(Value::Float(f)) => scalar(py, Scalar::Float(*f))?,
            Some(Value::Str(s)) => match s.as_str() {
                Some(t) => PyString::new(py, t).into_any(),
                // Lone surrogates, as CPython's pickle carries them.
                None => PyBytes::new(py, s.as_bytes())
                    .call_method1("decode", ("utf-8", "surrogatepass"))?,
            },
            Some(Value::Bytes(b)) => PyBytes::new(py, b).into_any(),
            Some(Value::ByteArray(b)) => PyByteArray::new(py, b).into_any(),
            Some(Value::Tuple(items)) => {
                let objs = items
                    .iter()
                    .map(|&c| self.get(c))
                    .collect::<BuildResult<Vec<_>>>()?;
                PyTuple::new(py, objs)?.into_any()
            }
            Some(Value::FrozenSet(items)) => {
                let objs = items
                    .iter()
                    .map(|&c| self.get(c))
                    .collect::<BuildResult<Vec<_>>>()?;
                PyFrozenSet::new(py, objs)
                    .map_err(|e| self.bad_call("frozenset", e))?
                    .into_any()
            }
            Some(Value::Global(g)) => {
                match allow::value_type(g.module.as_bytes(), g.name.as_bytes()) {
                    Some((m, n)) => self.import(m, n)?,
                    None => return Err(Failure::Unsafe(format!("{} (as a value)", dotted(g)))),
                }
            }
            Some(Value::NdArray(a)) => numpy::ndarray(py, p, a).map_err(|e| match e {
                Failure::Py(e) => self.bad_call("numpy array", e),
                other => other,
            })?,
            Some(Value::MaskedArray { data, mask }) => {
                let (data, mask) = (self.get(*data)?, self.get(*mask)?);
                let fill = match self.fills.get(&id) {
                    Some(&f) => Some(self.get(f)?),
                    None => None,
                };
                numpy::masked(py, &data, &mask, fill.as_ref())
                    .map_err(|e| self.bad_call("masked array", e))?
            }
            Some(Value::Object(o)) => {
                let known = *self.known.get(&(i as u32)).expect("classified in reach");
                self.make_object(id, o, known)?
            }
            _ => return bad("a value of a kind mmpk does not build"),
        })
    }

    fn make_object(
        &mut self,
        id: NodeId,
        o: &Object,
        known: Known,
    ) -> BuildResult<Bound<'py, PyAny>> {
        let py = self.py;
        let p = self.p;
        let name = match p.node(callable_of(o)) {
            Some(Value::Global(g)) => dotted(g),
            _ => String::new(),
        };
        let call_with_args = |b: &mut Self, m: &'static str, n: &'static str, max: usize| {
            let args = b.tuple_items(args_of(o), &name)?;
            if args.len() > max {
                return bad(format!("{name}: more than {max} arguments"));
            }
            let args = args
                .iter()
                .map(|&c| b.get(c))
                .collect::<BuildResult<Vec<_>>>()?;
            let args = PyTuple::new(py, args)?;
            b.import(m, n)?
                .call1(args)
                .map_err(|e| b.bad_call(&name, e))
        };
        match known {
            Known::TimeDelta => call_with_args(self, "datetime", "timedelta", 3),
            Known::TimeZone => call_with_args(self, "datetime", "timezone", 2),
            Known::Decimal => call_with_args(self, "decimal", "Decimal", 1),
            Known::Complex => {
                // Only numbers: complex('...') would parse text, which
                // Python never pickles.
                for &a in self.tuple_items(args_of(o), &name)? {
                    if !matches!(
                        *p.value(a),
                        Value::Int(_) | Value::Float(_) | Value::Bool(_)
                    ) {
                        return bad(format!("{name}: an argument is not a number"));
                    }
                }
                call_with_args(self, "builtins", "complex", 2)
            }
            Known::Slice => call_with_args(self, "builtins", "slice", 3),
            Known::Range => call_with_args(self, "builtins", "range", 3),
            Known::Date | Known::Time | Known::DateTime => self.datetime(o, known, &name),
            Known::Uuid => self.uuid(o),
            Known::NumpyScalar => match mmpk_format::numpy::numpy_scalar(p, id) {
                Some(s) => numpy::scalar(py, &s).map_err(|e| self.bad_call(&name, e)),
                None => bad(format!(
                    "{name}: a numpy scalar whose dtype or size mmpk does not know"
                )),
            },
            Known::NumpyDtype => match mmpk_format::numpy::numpy_dtype(p, id) {
                Some(d) => numpy::dtype(py, &d).map_err(|e| self.bad_call(&name, e)),
                None => bad(format!("{name}: a numpy dtype mmpk does not know")),
            },
            Known::OrderedDict
            | Known::DefaultDict
            | Known::Counter
            | Known::Deque
            | Known::NumpyArrayPart => bad(format!("{name}: not a value (internal plan)")),
        }
    }

    /// Step 4: the shells' items, in creation order.
    fn fill_shells(&mut self) -> BuildResult<()> {
        let py = self.py;
        let p = self.p;
        for id in self.p.ids() {
            let i = id.index().expect("a node");
            let Plan::Shell(shell) = self.plan[i] else {
                continue;
            };
            let obj = self.objs[i]
                .as_ref()
                .expect("made in step 2")
                .bind(py)
                .clone();
            match (shell, p.node(id)) {
                (Shell::List, Some(Value::List(items))) => {
                    let l = obj.cast::<PyList>().map_err(PyErr::from)?;
                    for &c in items {
                        l.append(self.get(c)?)?;
                    }
                }
                (Shell::Dict, Some(Value::Dict(items))) => {
                    let d = obj.cast::<PyDict>().map_err(PyErr::from)?;
                    for &(key, v) in items {
                        d.set_item(self.get(key)?, self.get(v)?)
                            .map_err(|e| self.bad_call("dict", e))?;
                    }
                }
                (Shell::Set, Some(Value::Set(items))) => {
                    let s = obj.cast::<PySet>().map_err(PyErr::from)?;
                    for &c in items {
                        s.add(self.get(c)?).map_err(|e| self.bad_call("set", e))?;
                    }
                }
                (
                    Shell::OrderedDict | Shell::DefaultDict | Shell::Counter,
                    Some(Value::Object(o)),
                ) => {
                    if shell == Shell::Counter {
                        match self.tuple_items(args_of(o), "collections.Counter")? {
                            [] => {}
                            [d] => match p.node(*d) {
                                Some(Value::Dict(items)) => {
                                    for &(key, v) in items {
                                        obj.set_item(self.get(key)?, self.get(v)?)
                                            .map_err(|e| self.bad_call("collections.Counter", e))?;
                                    }
                                }
                                _ => return bad("collections.Counter: argument is not a dict"),
                            },
                            _ => return bad("collections.Counter: more than one argument"),
                        }
                    }
                    for &(key, v) in &o.dictitems {
                        obj.set_item(self.get(key)?, self.get(v)?)
                            .map_err(|e| self.bad_call("dict item", e))?;
                    }
                }
                (Shell::Deque, Some(Value::Object(o))) => {
                    let first: &[NodeId] = match self
                        .tuple_items(args_of(o), "collections.deque")?
                    {
                        [] => &[],
                        [it, ..] => match p.node(*it) {
                            Some(Value::Tuple(t)) => t,
                            Some(Value::List(l)) => l,
                            _ => return bad("collections.deque: items are not a list or tuple"),
                        },
                    };
                    let items = first
                        .iter()
                        .chain(&o.listitems)
                        .map(|&c| self.get(c))
                        .collect::<BuildResult<Vec<_>>>()?;
                    obj.call_method1("extend", (PyList::new(py, items)?,))?;
                }
                (Shell::ObjectArray, Some(Value::Object(o))) => {
                    let a = self.object_array(o).expect("planned as an object array");
                    self.fill_object_array(&a, &obj)?;
                }
                _ => return bad("a container that changed kind (internal plan)"),
            }
        }
        Ok(())
    }
}

/// An inline scalar.
fn scalar(py: Python<'_>, s: Scalar) -> PyResult<Bound<'_, PyAny>> {
    Ok(match s {
        Scalar::None => py.None().into_bound(py),
        Scalar::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
        Scalar::Int(i) => i.into_pyobject(py)?.into_any(),
        Scalar::Float(f) => f.into_pyobject(py)?.into_any(),
    })
}

/// An int of any size.
fn int<'py>(py: Python<'py>, n: &PyInt) -> PyResult<Bound<'py, PyAny>> {
    match n {
        PyInt::Small(i) => Ok(i.into_pyobject(py)?.into_any()),
        PyInt::Big(_) => {
            let kw = PyDict::new(py);
            kw.set_item("signed", true)?;
            py.get_type::<pyo3::types::PyInt>().call_method(
                "from_bytes",
                (PyBytes::new(py, &n.to_le_bytes()), "little"),
                Some(&kw),
            )
        }
    }
}

fn int_or_none<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Int(n) => int(py, n),
        _ => Ok(py.None().into_bound(py)),
    }
}
