//! numpy's own pickles inside generic values become arrays (rule 3 of
//! docs/canonical-json.md "Raw and resolved"), without numpy and without running
//! anything.
//!
//! [`resolve_numpy`] rewrites, in a decoded [`Pickle`], every bare REDUCE
//! node that one of these builds into a [`Value::NdArray`] or a
//! [`Value::MaskedArray`] node (owned data, C order, the stored byte order
//! kept); identity is kept, so shared arrays stay shared:
//!
//! - numpy's pickles: `_reconstruct(ndarray, (0,), b'b')` with BUILD
//!   `(version, shape, dtype, is_fortran, rawdata)` (the 4-tuple without the
//!   version too), under numpy 1.x (`numpy.core.*`) and 2.x
//!   (`numpy._core.*`) names; `rawdata` as bytes, or as the latin-1 str of
//!   a Python 2 pickle;
//! - protocol 5: `_frombuffer(buffer, dtype, shape, order)` with the buffer
//!   in band (BYTEARRAY8) or out of band, when the caller supplies the
//!   buffers;
//! - mmpk's v2 `reshape(frombuffer(bytearray(raw), dtype), shape)` and
//!   mmappickle 1.0's (v1) `reshape(fromstring(raw, str(dtype)), shape)`;
//! - masked arrays: numpy's `_mareconstruct(MaskedArray, ndarray, (0,), 'b')`
//!   with BUILD `(version, shape, dtype, is_fortran, data, mask, fill_value)`,
//!   and mmpk's `MaskedArray(data, mask)` of two arrays (a 0-d mask is kept
//!   as stored).
//!
//! numpy scalars (`multiarray.scalar(dtype, bytes)`) stay REDUCE nodes in
//! the resolved view, as docs/canonical-json.md says ("nothing else is
//! folded"); [`numpy_scalar`] reads one as a dtype and its bytes. Object
//! arrays are left as they are. Anything that does not fit exactly (a size that does not match the
//! shape, an unknown dtype, items appended to the REDUCE) stays unfolded:
//! this is a reading aid, never an error.

use std::collections::HashMap;

use pickle_ops::value::{Dtype as NodeDtype, NdArray, ObjectKind};
use pickle_ops::{NodeId, Pickle, PyInt, Value};

use crate::descr::{self, Descr};
use crate::dtype::{Dtype, Scalar, MAX_DIMS};
use crate::pylit::{Lit, MAX_DEPTH};

/// What a callable is, for the folds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Callable {
    Reconstruct,
    FromBufferP5,
    FromBuffer,
    FromString,
    Reshape,
    Dtype,
    NdArray,
    MaReconstruct,
    MaskedArray,
    Scalar,
}

fn classify(module: &[u8], name: &[u8]) -> Option<Callable> {
    let core = |m: &[u8], sub: &str| {
        [b"numpy.core.".as_slice(), b"numpy._core.".as_slice()]
            .iter()
            .any(|p| {
                m.len() == p.len() + sub.len() && m.starts_with(p) && m.ends_with(sub.as_bytes())
            })
    };
    let numpy = module == b"numpy";
    Some(match name {
        b"_reconstruct" if core(module, "multiarray") => Callable::Reconstruct,
        b"_frombuffer" if core(module, "numeric") => Callable::FromBufferP5,
        b"frombuffer" if numpy || core(module, "multiarray") => Callable::FromBuffer,
        b"fromstring" if numpy || core(module, "multiarray") => Callable::FromString,
        b"reshape" if numpy || core(module, "fromnumeric") => Callable::Reshape,
        b"dtype" if numpy || core(module, "multiarray") => Callable::Dtype,
        b"ndarray" if numpy || core(module, "multiarray") => Callable::NdArray,
        b"_mareconstruct" if module == b"numpy.ma.core" || module == b"numpy.ma" => {
            Callable::MaReconstruct
        }
        b"MaskedArray" if module == b"numpy.ma.core" || module == b"numpy.ma" => {
            Callable::MaskedArray
        }
        b"scalar" if core(module, "multiarray") => Callable::Scalar,
        _ => return None,
    })
}

/// A fold: an array, or a masked array of two arrays.
#[derive(Clone, Debug)]
enum Fold {
    Array(Array),
    /// Data and mask: arrays computed here, or existing array nodes.
    Masked(Part, Part),
}

#[derive(Clone, Debug)]
enum Part {
    New(Array),
    Node(NodeId),
}

/// An array before it becomes a node: its dtype, shape and C-order bytes.
#[derive(Clone, Debug)]
struct Array {
    dtype: Dtype,
    shape: Vec<u64>,
    data: Vec<u8>,
}

/// A numpy scalar: its dtype and the bytes of its one element.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NumpyScalar {
    /// The dtype.
    pub dtype: Dtype,
    /// The element's bytes, in the dtype's byte order.
    pub data: Vec<u8>,
}

/// Reads node `id` of `p` as a numpy scalar
/// (`numpy.core.multiarray.scalar(dtype, bytes)`, numpy 1.x or 2.x names;
/// the bytes may be a latin-1 str of a Python 2 pickle, or `_codecs.encode`
/// once [`pickle_ops::resolve`] folded it). `None` if it is not one or its
/// size does not match the dtype.
pub fn numpy_scalar(p: &Pickle, id: NodeId) -> Option<NumpyScalar> {
    let r = Resolver {
        p,
        buffers: &[],
        cache: HashMap::new(),
    };
    let (Callable::Scalar, args, None) = r.reduce(id)? else {
        return None;
    };
    let [dt, raw] = args else { return None };
    let dtype = r.dtype_node(*dt, 0)?;
    let data = r.bytes(*raw)?.into_owned();
    (data.len() as u64 == dtype.itemsize()).then_some(NumpyScalar { dtype, data })
}

/// Reads node `id` of `p` as a numpy dtype: numpy's own pickle of a dtype
/// (`numpy.dtype(typestr, align, copy)` with its BUILD state, numpy 1.x or
/// 2.x; structured, datetime units and byte order included), or a plain
/// dtype spec (a `dtype.str` or a descr list). `None` if it is neither or
/// its state does not describe a dtype mmpk knows.
pub fn numpy_dtype(p: &Pickle, id: NodeId) -> Option<Dtype> {
    let r = Resolver {
        p,
        buffers: &[],
        cache: HashMap::new(),
    };
    r.dtype_node(id, 0)
}

/// Rewrites numpy arrays in `p` (see the module docs). `buffers` are the
/// out-of-band buffers of a protocol 5 pickle, in order (empty if none were
/// given: out-of-band arrays then stay unfolded). Returns how many nodes
/// became arrays or masked arrays.
pub fn resolve_numpy(p: &mut Pickle, buffers: &[&[u8]]) -> usize {
    // Only pickles that name numpy can hold arrays: skip the rest cheaply.
    let any = p.ids().any(|id| {
        matches!(p.node(id), Some(Value::Global(g))
            if classify(g.module.as_bytes(), g.name.as_bytes()).is_some())
    });
    if !any {
        return 0;
    }
    let mut r = Resolver {
        p,
        buffers,
        cache: HashMap::new(),
    };
    let ids: Vec<NodeId> = r.p.ids().collect();
    let mut folds = Vec::new();
    for id in ids {
        if let Some(f) = r.fold(id) {
            folds.push((id, f));
        }
    }
    let n = folds.len();
    for (id, f) in folds {
        let v = match f {
            Fold::Array(a) => array_value(p, a),
            Fold::Masked(d, m) => {
                let data = part_node(p, d);
                let mask = part_node(p, m);
                Value::MaskedArray { data, mask }
            }
        };
        p.replace(id, v);
    }
    n
}

fn part_node(p: &mut Pickle, part: Part) -> NodeId {
    match part {
        Part::Node(id) => id,
        Part::New(a) => {
            let v = array_value(p, a);
            p.push(v)
        }
    }
}

/// The node value of an array: `dtype.str`, or a structured dtype's descr
/// as a list of lists.
fn array_value(p: &mut Pickle, a: Array) -> Value {
    let dtype = match &a.dtype {
        Dtype::Scalar(s) => NodeDtype::Str(s.str()),
        d @ Dtype::Structured(_) => NodeDtype::Descr(descr_node(p, &d.descr())),
    };
    Value::NdArray(Box::new(NdArray {
        dtype,
        shape: a.shape,
        data: a.data,
    }))
}

/// A descr as canonical JSON shows it: `[[name, format(, shape)], ...]`,
/// `[[title, name], format]` for a titled field.
fn descr_node(p: &mut Pickle, d: &Descr) -> NodeId {
    match d {
        Descr::Str(s) => p.push(Value::str(s)),
        Descr::Fields(fields) => {
            let mut items = Vec::with_capacity(fields.len());
            for f in fields {
                let name = match &f.title {
                    Some(t) => {
                        let t = p.push(Value::str(t));
                        let n = p.push(Value::str(&f.name));
                        p.push(Value::List(vec![t, n]))
                    }
                    None => p.push(Value::str(&f.name)),
                };
                let format = descr_node(p, &f.format);
                let mut item = vec![name, format];
                if !f.shape.is_empty() {
                    let dims = f.shape.iter().map(|&d| p.push(u64_value(d))).collect();
                    item.push(p.push(Value::List(dims)));
                }
                items.push(p.push(Value::List(item)));
            }
            p.push(Value::List(items))
        }
    }
}

fn u64_value(d: u64) -> Value {
    match i64::try_from(d) {
        Ok(v) => Value::int(v),
        Err(_) => Value::Int(PyInt::from_le_bytes(&[&d.to_le_bytes()[..], &[0]].concat())),
    }
}

struct Resolver<'a, 'b> {
    p: &'a Pickle,
    buffers: &'b [&'b [u8]],
    /// Folds computed so far (None: not an array). Also guards against
    /// cycles: a node is marked None while its fold is computed.
    cache: HashMap<NodeId, Option<Fold>>,
}

impl Resolver<'_, '_> {
    fn fold(&mut self, id: NodeId) -> Option<Fold> {
        if let Some(f) = self.cache.get(&id) {
            return f.clone();
        }
        self.cache.insert(id, None);
        let f = self.compute(id);
        self.cache.insert(id, f.clone());
        f
    }

    /// The callable kind, args and BUILD state of a bare REDUCE node.
    fn reduce(&self, id: NodeId) -> Option<(Callable, &[NodeId], Option<NodeId>)> {
        let Some(Value::Object(o)) = self.p.node(id) else {
            return None;
        };
        let ObjectKind::Reduce { callable, args } = o.kind else {
            return None;
        };
        if !o.listitems.is_empty() || !o.dictitems.is_empty() || !o.additems.is_empty() {
            return None;
        }
        let c = self.callable(callable)?;
        let Some(Value::Tuple(a)) = self.p.node(args) else {
            return None;
        };
        Some((c, a, o.state))
    }

    fn callable(&self, id: NodeId) -> Option<Callable> {
        match self.p.node(id) {
            Some(Value::Global(g)) => classify(g.module.as_bytes(), g.name.as_bytes()),
            _ => None,
        }
    }

    fn compute(&mut self, id: NodeId) -> Option<Fold> {
        let (c, args, state) = self.reduce(id)?;
        let args = args.to_vec();
        match c {
            Callable::Reconstruct => self.reconstruct(&args, state?),
            Callable::FromBufferP5 if state.is_none() => self.frombuffer_p5(&args),
            Callable::FromBuffer | Callable::FromString if state.is_none() => self.flat(&args),
            Callable::Reshape if state.is_none() => self.reshape(&args),
            Callable::MaReconstruct => self.mareconstruct(&args, state?),
            Callable::MaskedArray if state.is_none() => self.masked(&args),
            _ => None,
        }
    }

    fn tuple(&self, id: NodeId) -> Option<&[NodeId]> {
        match self.p.node(id)? {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }

    fn int(&self, id: NodeId) -> Option<i64> {
        match *self.p.value(id) {
            Value::Int(PyInt::Small(i)) => Some(i),
            Value::Bool(b) => Some(b as i64),
            _ => None,
        }
    }

    fn truthy(&self, id: NodeId) -> Option<bool> {
        match *self.p.value(id) {
            Value::Bool(b) => Some(b),
            Value::Int(PyInt::Small(i)) => Some(i != 0),
            _ => None,
        }
    }

    /// A str, or bytes read as latin-1 (Python 2 pickles).
    fn text(&self, id: NodeId) -> Option<String> {
        match self.p.node(id)? {
            Value::Str(s) => s.as_str().map(str::to_string),
            Value::Bytes(b) => Some(b.iter().map(|&c| c as char).collect()),
            _ => None,
        }
    }

    /// Raw bytes: bytes, bytearray, a latin-1 str, or a supplied
    /// out-of-band buffer.
    fn bytes(&self, id: NodeId) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self.p.node(id)? {
            Value::Bytes(b) => Some(b[..].into()),
            Value::ByteArray(b) => Some(b[..].into()),
            Value::Str(s) => s.to_latin1().map(Into::into),
            Value::OobBuffer { index, .. } => usize::try_from(*index)
                .ok()
                .and_then(|i| self.buffers.get(i))
                .map(|b| (*b).into()),
            _ => None,
        }
    }

    fn shape(&self, id: NodeId) -> Option<Vec<u64>> {
        let items: &[NodeId] = match self.p.node(id)? {
            Value::Tuple(t) => t,
            Value::List(l) => l,
            _ => return None,
        };
        if items.len() > MAX_DIMS {
            return None;
        }
        items
            .iter()
            .map(|&d| self.int(d).and_then(|v| u64::try_from(v).ok()))
            .collect()
    }

    /// A dtype given as text (`dtype.str`, a name, a descr's repr) or as a
    /// descr list.
    fn dtype_spec(&self, id: NodeId) -> Option<Dtype> {
        if let Some(t) = self.text(id) {
            return Dtype::parse(&t).ok();
        }
        let lit = self.lit(id, 0)?;
        descr::dtype_from_value(&lit).ok()
    }

    /// A small literal (a descr) from the graph, bounded in depth.
    fn lit(&self, id: NodeId, depth: usize) -> Option<Lit> {
        if depth > MAX_DEPTH {
            return None;
        }
        let items = |v: &[NodeId]| -> Option<Vec<Lit>> {
            v.iter().map(|&c| self.lit(c, depth + 1)).collect()
        };
        Some(match &*self.p.value(id) {
            Value::Str(s) => Lit::Str(s.as_str()?.to_string()),
            Value::Bytes(_) => Lit::Str(self.text(id)?),
            Value::Int(PyInt::Small(i)) => Lit::Int(u64::try_from(*i).ok()?),
            Value::Bool(b) => Lit::Bool(*b),
            Value::None => Lit::None,
            Value::List(v) => Lit::List(items(v)?),
            Value::Tuple(v) => Lit::Tuple(items(v)?),
            _ => return None,
        })
    }

    /// numpy's pickled dtype: `dtype(typestr, align, copy)` + BUILD state
    /// `(version, order, subdescr, names, fields, elsize, alignment, flags
    /// [, metadata])`; or a plain dtype spec.
    fn dtype_node(&self, id: NodeId, depth: usize) -> Option<Dtype> {
        if depth > MAX_DEPTH {
            return None;
        }
        let Some((Callable::Dtype, args, state)) = self.reduce(id) else {
            return self.dtype_spec(id);
        };
        let typestr = self.text(*args.first()?)?;
        let st = self.tuple(state?)?;
        if st.len() < 8 {
            return None;
        }
        let version = self.int(st[0])?;
        let order = self.text(st[1])?;
        let (names, fields, elsize) = (st[3], st[4], self.int(st[5])?);
        if let Some(names) = self.tuple(names) {
            return self.structured(names, fields, elsize, depth);
        }
        if !matches!(*self.p.value(st[2]), Value::None) {
            return None; // a subarray dtype as a whole array's dtype
        }
        let kind = typestr.chars().next()?;
        let text = match kind {
            'U' | 'S' | 'V' => {
                let n = u64::try_from(elsize).ok()?;
                let n = if kind == 'U' { n / 4 } else { n };
                format!("{order}{kind}{n}")
            }
            'M' | 'm' => {
                if version < 4 || st.len() < 9 {
                    return None;
                }
                let meta = self.tuple(st[8])?;
                let unit = self.tuple(*meta.get(1)?)?;
                let name = self.text(*unit.first()?)?;
                let count = self.int(*unit.get(1)?)?;
                let unit = match (name.as_str(), count) {
                    ("generic", _) => String::new(),
                    (n, 1) => format!("[{n}]"),
                    (n, c) => format!("[{c}{n}]"),
                };
                format!("{order}{typestr}{unit}")
            }
            _ => format!("{order}{typestr}"),
        };
        let text = match text.strip_prefix('=') {
            Some(rest) => format!("<{rest}"),
            None => text,
        };
        Scalar::parse(&text).ok().map(Dtype::Scalar)
    }

    /// A field's dtype: a dtype, or a subarray dtype (`dtype(('<f8', (2,
    /// 3)))`, pickled as `dtype('V48')` whose BUILD state's third item is
    /// `(base, shape)`) as its base dtype and shape; the subarray's size
    /// must be the base's times the shape's.
    fn field_dtype(&self, id: NodeId, depth: usize) -> Option<(Dtype, Vec<u64>)> {
        if depth > MAX_DEPTH {
            return None;
        }
        let sub = match self.reduce(id) {
            Some((Callable::Dtype, _, Some(state))) => {
                let st = self.tuple(state)?;
                match st.get(2).map(|&s| self.p.value(s)) {
                    Some(v) if !matches!(*v, Value::None) => Some((st[2], st.get(5).copied()?)),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((sub, elsize)) = sub else {
            return Some((self.dtype_node(id, depth)?, Vec::new()));
        };
        let [base, shape] = self.tuple(sub)? else {
            return None;
        };
        let base = self.dtype_node(*base, depth + 1)?;
        let shape = match self.tuple(*shape) {
            Some(dims) => dims
                .iter()
                .map(|&d| u64::try_from(self.int(d)?).ok())
                .collect::<Option<Vec<u64>>>()?,
            None => vec![u64::try_from(self.int(*shape)?).ok()?],
        };
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return None;
        }
        let count = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        let size = base.itemsize().checked_mul(count)?;
        (u64::try_from(self.int(elsize)?).ok()? == size).then_some((base, shape))
    }

    /// A structured dtype from its names and fields dict
    /// (`name -> (dtype, offset[, title])`), gaps as padding.
    fn structured(
        &self,
        names: &[NodeId],
        fields: NodeId,
        elsize: i64,
        depth: usize,
    ) -> Option<Dtype> {
        let Some(Value::Dict(fd)) = self.p.node(fields) else {
            return None;
        };
        let mut out = Vec::with_capacity(names.len());
        let mut pos = 0u64;
        let pad = |n: u64| descr::DescrField {
            name: String::new(),
            title: None,
            format: Descr::Str(format!("|V{n}")),
            shape: Vec::new(),
        };
        for &name in names {
            let name_text = self.text(name)?;
            let info = fd
                .iter()
                .find(|(k, _)| self.text(*k).as_deref() == Some(name_text.as_str()))?
                .1;
            let info = self.tuple(info)?;
            let (sub, shape) = self.field_dtype(*info.first()?, depth + 1)?;
            let off = u64::try_from(self.int(*info.get(1)?)?).ok()?;
            if off < pos {
                return None;
            }
            if off > pos {
                out.push(pad(off - pos));
            }
            out.push(descr::DescrField {
                name: name_text,
                // `(dtype, offset, title)` for a titled field.
                title: info.get(2).and_then(|&t| self.text(t)),
                format: sub.descr(),
                shape: shape.clone(),
            });
            let count = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
            pos = off.checked_add(sub.itemsize().checked_mul(count)?)?;
        }
        let elsize = u64::try_from(elsize).ok()?;
        if elsize < pos {
            return None;
        }
        if elsize > pos {
            out.push(pad(elsize - pos));
        }
        Descr::Fields(out).to_dtype().ok()
    }

    fn array(&self, dtype: Dtype, shape: Vec<u64>, data: &[u8], fortran: bool) -> Option<Array> {
        if shape.len() > MAX_DIMS {
            return None;
        }
        let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        let len = n.checked_mul(dtype.itemsize())?;
        if len != data.len() as u64 {
            return None;
        }
        let data = if fortran {
            c_order(data, &shape, dtype.itemsize() as usize)
        } else {
            data.to_vec()
        };
        Some(Array { dtype, shape, data })
    }

    fn reconstruct(&self, args: &[NodeId], state: NodeId) -> Option<Fold> {
        let [cls, _, _] = args else { return None };
        if self.callable(*cls) != Some(Callable::NdArray) {
            return None;
        }
        let st = self.tuple(state)?;
        let st = match st.len() {
            5 => &st[1..],
            4 => st,
            _ => return None,
        };
        let shape = self.shape(st[0])?;
        let dtype = self.dtype_node(st[1], 0)?;
        let fortran = self.truthy(st[2])?;
        let raw = self.bytes(st[3])?;
        self.array(dtype, shape, &raw, fortran).map(Fold::Array)
    }

    fn frombuffer_p5(&self, args: &[NodeId]) -> Option<Fold> {
        let [buf, dt, shape, order] = args else {
            return None;
        };
        let dtype = self.dtype_node(*dt, 0)?;
        let fortran = match self.text(*order)?.as_str() {
            "C" => false,
            "F" => true,
            _ => return None,
        };
        let shape = self.shape(*shape)?;
        let raw = self.bytes(*buf)?;
        self.array(dtype, shape, &raw, fortran).map(Fold::Array)
    }

    /// `frombuffer(buf, dtype)` / `fromstring(raw, dtype)`: a 1-d array.
    fn flat(&self, args: &[NodeId]) -> Option<Fold> {
        let [buf, dt] = args else { return None };
        let dtype = self.dtype_spec(*dt)?;
        let raw = self.bytes(*buf)?;
        let size = dtype.itemsize();
        if size == 0 || !(raw.len() as u64).is_multiple_of(size) {
            return None;
        }
        let n = raw.len() as u64 / size;
        self.array(dtype, vec![n], &raw, false).map(Fold::Array)
    }

    fn reshape(&mut self, args: &[NodeId]) -> Option<Fold> {
        let [inner, shape] = args else { return None };
        let shape = self.shape(*shape)?;
        let Some(Fold::Array(mut a)) = self.fold(*inner) else {
            return None;
        };
        let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        if a.shape.len() != 1 || a.shape[0] != n {
            return None;
        }
        a.shape = shape;
        Some(Fold::Array(a))
    }

    fn mareconstruct(&self, args: &[NodeId], state: NodeId) -> Option<Fold> {
        let [cls, base, _, _] = args else { return None };
        if self.callable(*cls) != Some(Callable::MaskedArray)
            || self.callable(*base) != Some(Callable::NdArray)
        {
            return None;
        }
        let st = self.tuple(state)?;
        let [_version, shape, dt, fortran, data, mask, _fill] = st else {
            return None;
        };
        let shape = self.shape(*shape)?;
        let dtype = self.dtype_node(*dt, 0)?;
        let fortran = self.truthy(*fortran)?;
        let mdtype = mask_dtype(&dtype)?;
        let data = self.array(dtype, shape.clone(), &self.bytes(*data)?, fortran)?;
        let mask = self.array(mdtype, shape, &self.bytes(*mask)?, fortran)?;
        Some(Fold::Masked(Part::New(data), Part::New(mask)))
    }

    /// mmpk's `MaskedArray(data, mask)`: both must be arrays.
    fn masked(&mut self, args: &[NodeId]) -> Option<Fold> {
        let [data, mask] = args else { return None };
        let is_array = |r: &mut Self, id: NodeId| {
            matches!(r.p.node(id), Some(Value::NdArray(_)))
                || matches!(r.fold(id), Some(Fold::Array(_)))
        };
        if !is_array(self, *data) || !is_array(self, *mask) {
            return None;
        }
        Some(Fold::Masked(Part::Node(*data), Part::Node(*mask)))
    }
}

/// The mask's dtype: bool, or a structured dtype of bools with the same
/// field names.
fn mask_dtype(d: &Dtype) -> Option<Dtype> {
    let b = Scalar::parse("|b1").ok()?;
    match d {
        Dtype::Scalar(_) => Some(Dtype::Scalar(b)),
        Dtype::Structured(s) => {
            let fields = s
                .fields()
                .iter()
                .map(|f| descr::DescrField {
                    name: f.name.clone(),
                    title: None,
                    format: Descr::Str("|b1".into()),
                    shape: Vec::new(),
                })
                .collect();
            Descr::Fields(fields).to_dtype().ok()
        }
    }
}

/// Element bytes stored in Fortran order, rewritten in C order.
fn c_order(data: &[u8], shape: &[u64], itemsize: usize) -> Vec<u8> {
    let n: usize = shape.iter().map(|&d| d as usize).product();
    if shape.len() <= 1 || n == 0 || itemsize == 0 {
        return data.to_vec();
    }
    // Fortran strides (in elements) of each axis.
    let mut fstride = Vec::with_capacity(shape.len());
    let mut s = 1usize;
    for &d in shape {
        fstride.push(s);
        s *= d as usize;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; shape.len()];
    let mut off = 0usize; // Fortran element offset of idx
    for _ in 0..n {
        out.extend_from_slice(&data[off * itemsize..(off + 1) * itemsize]);
        // Advance the C-order index (last axis fastest).
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            off += fstride[k];
            if idx[k] < shape[k] as usize {
                break;
            }
            off -= fstride[k] * idx[k];
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_bytes_become_c_order() {
        // a 2x3 array [[0,1,2],[3,4,5]] stored in Fortran order: 0 3 1 4 2 5
        let f = [0u8, 3, 1, 4, 2, 5];
        assert_eq!(c_order(&f, &[2, 3], 1), vec![0, 1, 2, 3, 4, 5]);
        // 2x2x2 with 2-byte items
        let shape = [2u64, 2, 2];
        let mut fdata = Vec::new();
        // element (i,j,k) has value 4i+2j+k; Fortran order: i fastest
        for k in 0..2u16 {
            for j in 0..2u16 {
                for i in 0..2u16 {
                    fdata.extend_from_slice(&(4 * i + 2 * j + k).to_le_bytes());
                }
            }
        }
        let c = c_order(&fdata, &shape, 2);
        let vals: Vec<u16> = c
            .chunks(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(vals, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn names_are_classified_for_both_numpy_majors() {
        assert_eq!(
            classify(b"numpy.core.multiarray", b"_reconstruct"),
            Some(Callable::Reconstruct)
        );
        assert_eq!(
            classify(b"numpy._core.multiarray", b"_reconstruct"),
            Some(Callable::Reconstruct)
        );
        assert_eq!(classify(b"numpy.coreX.multiarray", b"_reconstruct"), None);
        assert_eq!(
            classify(b"numpy", b"frombuffer"),
            Some(Callable::FromBuffer)
        );
        assert_eq!(
            classify(b"numpy.ma", b"MaskedArray"),
            Some(Callable::MaskedArray)
        );
        assert_eq!(classify(b"os", b"system"), None);
    }
}
