//! Python's dict-key and set-member semantics on the arena: hashing and
//! equality of hashable values (numbers compare across bool/int/float,
//! tuples and frozensets by content, objects by identity), and the pass that
//! merges equal keys as a Python dict or set would have.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::decode::DecodeErrorKind;
use crate::int::PyInt;
use crate::value::{NodeId, Pickle, Value};

/// Hashes and compares keys, caching container hashes (iteratively, so
/// deep tuples cannot overflow the stack) and bounding the comparison work.
pub(crate) struct Keys<'p> {
    p: &'p Pickle,
    state: std::collections::hash_map::RandomState,
    cache: HashMap<NodeId, u64>,
    work: u64,
    budget: u64,
}

/// A number reduced to a canonical form for hashing and comparison.
#[derive(PartialEq)]
enum Num {
    Int(PyInt),
    Float(f64),
}

/// The exact integer value of an integral float.
fn float_to_int(f: f64) -> Option<PyInt> {
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    if f.abs() < 9.0e18 {
        return Some(PyInt::Small(f as i64));
    }
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
    // value = mant * 2^exp, exp > 0 here.
    let shift = exp as usize;
    let mut bytes = vec![0u8; shift / 8 + 9];
    let m = (mant as u128) << (shift % 8);
    for (i, b) in m.to_le_bytes().iter().enumerate().take(9) {
        bytes[shift / 8 + i] = *b;
    }
    bytes.push(0);
    let mut v = PyInt::from_le_bytes(&bytes);
    if f < 0.0 {
        // Negate the two's complement bytes.
        let mut b = v.to_le_bytes();
        b.push(0);
        let mut carry = true;
        for x in b.iter_mut() {
            *x = !*x;
            if carry {
                let (y, c) = x.overflowing_add(1);
                *x = y;
                carry = c;
            }
        }
        v = PyInt::from_le_bytes(&b);
    }
    Some(v)
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(PyInt::Small(*b as i64))),
        Value::Int(i) => Some(Num::Int(i.clone())),
        Value::Float(f) => Some(match float_to_int(*f) {
            Some(i) => Num::Int(i),
            None => Num::Float(*f),
        }),
        _ => None,
    }
}

impl<'p> Keys<'p> {
    pub(crate) fn new(p: &'p Pickle, budget: u64) -> Self {
        Keys { p, state: Default::default(), cache: HashMap::new(), work: 0, budget }
    }

    fn hasher(&self) -> impl Hasher {
        self.state.build_hasher()
    }

    /// The hash of a hashable value, or the kind of the unhashable part.
    pub(crate) fn hash(&mut self, id: NodeId) -> Result<u64, DecodeErrorKind> {
        if let Some(&h) = self.cache.get(&id) {
            return Ok(h);
        }
        // Post-order over tuples/frozensets without recursion.
        let mut todo = vec![(id, false)];
        while let Some((n, expanded)) = todo.pop() {
            if self.cache.contains_key(&n) {
                continue;
            }
            match self.p.value(n) {
                Value::Tuple(items) | Value::FrozenSet(items) => {
                    if !expanded {
                        todo.push((n, true));
                        for &c in items.iter() {
                            if !self.cache.contains_key(&c) && matches!(self.p.value(c), Value::Tuple(_) | Value::FrozenSet(_)) {
                                todo.push((c, false));
                            }
                        }
                        continue;
                    }
                    let tuple = matches!(self.p.value(n), Value::Tuple(_));
                    let mut acc: u64 = if tuple { 0x7475706c65 } else { 0x66726f7a656e };
                    for &c in items.iter() {
                        let h = match self.cache.get(&c) {
                            Some(&h) => h,
                            None => self.leaf_hash(c)?,
                        };
                        acc = if tuple { acc.rotate_left(5) ^ h.wrapping_mul(0x9e3779b97f4a7c15) } else { acc.wrapping_add(h.wrapping_mul(0x9e3779b97f4a7c15)) };
                    }
                    let mut hs = self.hasher();
                    acc.hash(&mut hs);
                    self.cache.insert(n, hs.finish());
                }
                _ => {
                    let h = self.leaf_hash(n)?;
                    if n == id {
                        return Ok(h);
                    }
                }
            }
        }
        Ok(self.cache[&id])
    }

    fn leaf_hash(&self, id: NodeId) -> Result<u64, DecodeErrorKind> {
        let v = self.p.value(id);
        let mut h = self.hasher();
        if let Some(n) = num(v) {
            match n {
                Num::Int(PyInt::Small(i)) => (0u8, i).hash(&mut h),
                Num::Int(PyInt::Big(b)) => (1u8, b).hash(&mut h),
                Num::Float(f) => (2u8, if f.is_nan() { 0 } else { f.to_bits() }).hash(&mut h),
            }
            return Ok(h.finish());
        }
        match v {
            Value::None => 3u8.hash(&mut h),
            Value::Str(s) => (4u8, s.as_bytes()).hash(&mut h),
            Value::Bytes(b) => (5u8, &b[..]).hash(&mut h),
            Value::Global(g) => (6u8, g.module.as_bytes(), g.name.as_bytes()).hash(&mut h),
            Value::Ext(c) => (7u8, c).hash(&mut h),
            Value::Object(_) | Value::PersId(_) | Value::OobBuffer { .. } => (8u8, id).hash(&mut h),
            other => return Err(DecodeErrorKind::Unhashable(other.kind_name())),
        }
        Ok(h.finish())
    }

    /// Python equality of two hashable values.
    pub(crate) fn eq(&mut self, a: NodeId, b: NodeId) -> Result<bool, DecodeErrorKind> {
        let mut todo = vec![(a, b)];
        while let Some((a, b)) = todo.pop() {
            self.work += 1;
            if self.work > self.budget {
                return Err(DecodeErrorKind::TooComplex);
            }
            if a == b {
                continue;
            }
            let (va, vb) = (self.p.value(a), self.p.value(b));
            let same = match (va, vb) {
                (Value::Tuple(x), Value::Tuple(y)) => {
                    if x.len() != y.len() {
                        false
                    } else {
                        todo.extend(x.iter().copied().zip(y.iter().copied()));
                        true
                    }
                }
                (Value::FrozenSet(x), Value::FrozenSet(y)) => {
                    if x.len() != y.len() {
                        false
                    } else {
                        // Members are already unique: every x must match some y.
                        let (x, y) = (x.to_vec(), y.to_vec());
                        let mut all = true;
                        for &xi in &x {
                            let hx = self.hash(xi)?;
                            let mut found = false;
                            for &yi in &y {
                                if self.hash(yi)? == hx && self.eq(xi, yi)? {
                                    found = true;
                                    break;
                                }
                            }
                            if !found {
                                all = false;
                                break;
                            }
                        }
                        all
                    }
                }
                _ => match (num(va), num(vb)) {
                    (Some(x), Some(y)) => x == y,
                    (None, None) => match (va, vb) {
                        (Value::None, Value::None) => true,
                        (Value::Str(x), Value::Str(y)) => x == y,
                        (Value::Bytes(x), Value::Bytes(y)) => x == y,
                        (Value::Global(x), Value::Global(y)) => x.module == y.module && x.name == y.name,
                        (Value::Ext(x), Value::Ext(y)) => x == y,
                        _ => false,
                    },
                    _ => false,
                },
            };
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Positions of the unique members of `items` (first occurrence of each
    /// equal group) and, for each position, the index of the group it joins.
    fn groups(&mut self, items: &[NodeId]) -> Result<Option<Vec<usize>>, DecodeErrorKind> {
        let mut first: HashMap<u64, Vec<usize>> = HashMap::with_capacity(items.len());
        let mut group = Vec::with_capacity(items.len());
        let mut dup = false;
        for (i, &k) in items.iter().enumerate() {
            let h = self.hash(k)?;
            let slot = first.entry(h).or_default();
            let mut g = None;
            for &j in slot.iter() {
                if self.eq(items[j], k)? {
                    g = Some(j);
                    break;
                }
            }
            match g {
                Some(j) => {
                    dup = true;
                    group.push(j);
                }
                None => {
                    slot.push(i);
                    group.push(i);
                }
            }
        }
        Ok(dup.then_some(group))
    }
}

/// Merges equal dict keys (first key and position, last value) and equal set
/// and frozenset members (first kept), as Python builds them; errors on
/// unhashable keys, as Python does.
pub(crate) fn dedupe_all(p: &mut Pickle, budget: u64) -> Result<(), DecodeErrorKind> {
    let ids: Vec<NodeId> = p.ids().collect();
    dedupe(p, &ids, budget)
}

/// [`dedupe_all`] for the given nodes only.
pub(crate) fn dedupe(p: &mut Pickle, ids: &[NodeId], budget: u64) -> Result<(), DecodeErrorKind> {
    let mut edits: Vec<(NodeId, Value)> = Vec::new();
    {
        let mut keys = Keys::new(p, budget);
        for &id in ids {
            match p.value(id) {
                Value::Dict(items) => {
                    let ks: Vec<NodeId> = items.iter().map(|&(k, _)| k).collect();
                    if ks.len() == 1 {
                        keys.hash(ks[0])?;
                    }
                    if ks.len() < 2 {
                        continue;
                    }
                    if let Some(group) = keys.groups(&ks)? {
                        let mut out: Vec<(NodeId, NodeId)> = Vec::new();
                        let mut pos: HashMap<usize, usize> = HashMap::new();
                        for (i, &g) in group.iter().enumerate() {
                            if g == i {
                                pos.insert(i, out.len());
                                out.push(items[i]);
                            } else {
                                out[pos[&g]].1 = items[i].1;
                            }
                        }
                        edits.push((id, Value::Dict(out)));
                    }
                }
                Value::Set(_) | Value::FrozenSet(_) => {
                    let (items, frozen): (&[NodeId], bool) = match p.value(id) {
                        Value::Set(v) => (v, false),
                        Value::FrozenSet(v) => (v, true),
                        _ => unreachable!("matched above"),
                    };
                    if items.is_empty() {
                        continue;
                    }
                    if items.len() == 1 {
                        keys.hash(items[0])?;
                        continue;
                    }
                    if let Some(group) = keys.groups(items)? {
                        let kept: Vec<NodeId> = group.iter().enumerate().filter(|(i, g)| i == *g).map(|(i, _)| items[i]).collect();
                        edits.push((id, if frozen { Value::FrozenSet(kept.into()) } else { Value::Set(kept) }));
                    }
                }
                _ => {}
            }
        }
    }
    for (id, v) in edits {
        p.replace(id, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_types() {
        let mut p = Pickle::new();
        let one = p.push(Value::int(1));
        let t = p.push(Value::Bool(true));
        let f = p.push(Value::Float(1.0));
        let half = p.push(Value::Float(0.5));
        let big = p.push(Value::Float(2f64.powi(70)));
        let bigi = p.push(Value::Int(PyInt::parse_decimal(b"1180591620717411303424", 100).unwrap()));
        let mut k = Keys::new(&p, 1000);
        assert!(k.eq(one, t).unwrap());
        assert!(k.eq(one, f).unwrap());
        assert_eq!(k.hash(one).unwrap(), k.hash(f).unwrap());
        assert!(!k.eq(one, half).unwrap());
        assert!(k.eq(big, bigi).unwrap());
        assert_eq!(k.hash(big).unwrap(), k.hash(bigi).unwrap());
        let negbig = float_to_int(-(2f64.powi(70))).unwrap();
        assert_eq!(negbig.to_decimal(100).unwrap(), "-1180591620717411303424");
    }

    #[test]
    fn dict_keeps_first_key_last_value() {
        let mut p = Pickle::new();
        let k1 = p.push(Value::int(1));
        let a = p.push(Value::str("a"));
        let k2 = p.push(Value::Bool(true));
        let b = p.push(Value::str("b"));
        let d = p.push(Value::Dict(vec![(k1, a), (k2, b)]));
        dedupe_all(&mut p, 1000).unwrap();
        assert_eq!(p.value(d), &Value::Dict(vec![(k1, b)]));
    }

    #[test]
    fn unhashable_keys_are_errors() {
        let mut p = Pickle::new();
        let l = p.push(Value::List(vec![]));
        let t = p.push(Value::Tuple(vec![l].into()));
        let v = p.push(Value::None);
        p.push(Value::Dict(vec![(t, v)]));
        assert_eq!(dedupe_all(&mut p, 1000), Err(DecodeErrorKind::Unhashable("list")));
    }

    #[test]
    fn deep_tuples_hash_without_recursion() {
        let mut p = Pickle::new();
        let mut t = p.push(Value::Tuple(Box::new([])));
        for _ in 0..200_000 {
            t = p.push(Value::Tuple(vec![t].into()));
        }
        let v = p.push(Value::None);
        p.push(Value::Set(vec![t, v]));
        dedupe_all(&mut p, 10_000_000).unwrap();
    }
}

