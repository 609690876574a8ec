//! Python's dict-key and set-member semantics on the arena: hashing and
//! equality of hashable values (numbers compare across bool/int/float,
//! tuples and frozensets by content, objects by identity), and the pass that
//! merges equal keys as a Python dict or set would have.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

/// A fast keyed hasher (multiply-xorshift over 8-byte words), seeded per
/// decode from std's random state so that crafted collisions cannot be
/// precomputed. Collisions only cost time: equality decides.
#[derive(Clone)]
pub(crate) struct FastState(u64);

impl Default for FastState {
    fn default() -> Self {
        FastState(std::collections::hash_map::RandomState::new().hash_one(0x6d6d706bu64) | 1)
    }
}

pub(crate) struct FastHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    #[inline]
    fn mix(&mut self, w: u64) {
        let x = (self.0 ^ w).wrapping_mul(K);
        self.0 = x ^ (x >> 29);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let r = chunks.remainder();
        let mut buf = [0u8; 8];
        buf[..r.len()].copy_from_slice(r);
        self.mix(u64::from_le_bytes(buf) ^ ((bytes.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        let x = self.0.wrapping_mul(K);
        x ^ (x >> 32)
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

use crate::decode::DecodeErrorKind;
use crate::int::PyInt;
use crate::value::{NodeId, Pickle, Value};

/// Hashes and compares keys, caching container hashes (iteratively, so
/// deep tuples cannot overflow the stack) and bounding the comparison work.
pub(crate) struct Keys<'p> {
    p: &'p Pickle,
    state: FastState,
    cache: HashMap<NodeId, u64>,
    work: u64,
    budget: u64,
    /// The members of frozensets already merged by [`dedupe`] whose node
    /// still holds the duplicates (the edits land at the end): a frozenset
    /// that is itself a member or key is hashed and compared by these.
    merged: HashMap<NodeId, Vec<NodeId>>,
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
        crate::int::negate(&mut b);
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

/// The hash of a value that is not a tuple or frozenset.
fn leaf_hash(p: &Pickle, state: &FastState, id: NodeId) -> Result<u64, DecodeErrorKind> {
    let v = p.value(id);
    let v = &*v;
    let mut h = state.build_hasher();
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

impl<'p> Keys<'p> {
    pub(crate) fn new(p: &'p Pickle, budget: u64) -> Self {
        Keys {
            p,
            state: Default::default(),
            cache: HashMap::new(),
            work: 0,
            budget,
            merged: HashMap::new(),
        }
    }

    /// Records the merged members of frozenset `id` (see [`Keys::merged`]).
    fn set_merged(&mut self, id: NodeId, members: Vec<NodeId>) {
        self.cache.remove(&id);
        self.merged.insert(id, members);
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
            match &*self.p.value(n) {
                Value::Tuple(items) | Value::FrozenSet(items) => {
                    let items = self.merged.get(&n).map_or(&items[..], |m| &m[..]);
                    if !expanded {
                        todo.push((n, true));
                        for &c in items.iter() {
                            if !self.cache.contains_key(&c)
                                && matches!(*self.p.value(c), Value::Tuple(_) | Value::FrozenSet(_))
                            {
                                todo.push((c, false));
                            }
                        }
                        continue;
                    }
                    let tuple = matches!(*self.p.value(n), Value::Tuple(_));
                    let mut acc: u64 = if tuple { 0x7475706c65 } else { 0x66726f7a656e };
                    for &c in items.iter() {
                        let h = match self.cache.get(&c) {
                            Some(&h) => h,
                            None => leaf_hash(self.p, &self.state, c)?,
                        };
                        acc = if tuple {
                            acc.rotate_left(5) ^ h.wrapping_mul(0x9e3779b97f4a7c15)
                        } else {
                            acc.wrapping_add(h.wrapping_mul(0x9e3779b97f4a7c15))
                        };
                    }
                    let mut hs = self.hasher();
                    acc.hash(&mut hs);
                    self.cache.insert(n, hs.finish());
                }
                _ => {
                    let h = leaf_hash(self.p, &self.state, n)?;
                    if n == id {
                        return Ok(h);
                    }
                }
            }
        }
        Ok(self.cache[&id])
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
            let (va, vb) = (&*va, &*vb);
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
                    // Members are unique once merged: every x must match
                    // some y.
                    let x = self.merged.get(&a).cloned().unwrap_or_else(|| x.to_vec());
                    let y = self.merged.get(&b).cloned().unwrap_or_else(|| y.to_vec());
                    if x.len() != y.len() {
                        false
                    } else {
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
                        (Value::Global(x), Value::Global(y)) => {
                            x.module == y.module && x.name == y.name
                        }
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

    /// For each position of `items`, the first position holding an equal
    /// member; `None` when all members are distinct (the common case).
    ///
    /// Hashes are computed in one sequential pass and sorted, so that equal
    /// candidates become neighbours: no random probing of a large table.
    fn groups(&mut self, items: &[NodeId]) -> Result<Option<Vec<usize>>, DecodeErrorKind> {
        let all_str = items
            .iter()
            .all(|&k| matches!(*self.p.value(k), Value::Str(_)));
        let mut hashed: Vec<(u64, u32)> = Vec::with_capacity(items.len());
        for (i, &k) in items.iter().enumerate() {
            let h = match &*self.p.value(k) {
                Value::Str(s) if all_str => self.state.hash_one(s.as_bytes()),
                _ => self.hash(k)?,
            };
            hashed.push((h, i as u32));
        }
        hashed.sort_unstable();
        let mut group: Option<Vec<usize>> = None;
        let mut run = 0;
        while run < hashed.len() {
            let mut end = run + 1;
            while end < hashed.len() && hashed[end].0 == hashed[run].0 {
                end += 1;
            }
            // Within a run of equal hashes (sorted by position), each member
            // joins the first earlier member it equals.
            for a in run + 1..end {
                let ia = hashed[a].1 as usize;
                for &(_, ib) in &hashed[run..a] {
                    let ib = ib as usize;
                    let leader = group.as_ref().map_or(ib, |g| g[ib]);
                    if leader != ib {
                        continue;
                    }
                    let equal = if all_str {
                        self.p.value(items[ia]) == self.p.value(items[ib])
                    } else {
                        self.eq(items[ib], items[ia])?
                    };
                    if equal {
                        group.get_or_insert_with(|| (0..items.len()).collect())[ia] = ib;
                        break;
                    }
                }
            }
            run = end;
        }
        Ok(group)
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
        // Frozensets first, in creation order (their members come before
        // them), so that every frozenset is merged before anything that
        // holds it is: dicts and sets get their members after they are
        // created, so they come last.
        let frozen = |id: &&NodeId| matches!(p.node(**id), Some(Value::FrozenSet(_)));
        let order = ids
            .iter()
            .filter(frozen)
            .chain(ids.iter().filter(|id| !frozen(id)));
        for &id in order {
            match &*p.value(id) {
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
                    let (items, frozen): (&[NodeId], bool) = match p.node(id) {
                        Some(Value::Set(v)) => (v, false),
                        Some(Value::FrozenSet(v)) => (v, true),
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
                        let kept: Vec<NodeId> = group
                            .iter()
                            .enumerate()
                            .filter(|(i, g)| i == *g)
                            .map(|(i, _)| items[i])
                            .collect();
                        edits.push((
                            id,
                            if frozen {
                                // Containers come after their members, so a
                                // frozenset holding this one is merged later:
                                // it must see these members.
                                keys.set_merged(id, kept.clone());
                                Value::FrozenSet(kept.into())
                            } else {
                                Value::Set(kept)
                            },
                        ));
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
        let bigi = p.push(Value::Int(
            PyInt::parse_decimal(b"1180591620717411303424", 100).unwrap(),
        ));
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

    /// A frozenset whose duplicate members are merged is compared, as a
    /// member or a key, by its merged members (CPython builds it merged).
    #[test]
    fn merged_frozensets_compare_as_merged() {
        let opts = crate::decode::DecodeOptions::default();
        // frozenset({frozenset([1, 1]), frozenset([1])})
        let p = crate::decode::decode(b"\x80\x04((K\x01K\x01\x91(K\x01\x91\x91.", &opts).unwrap();
        let Some(Value::FrozenSet(outer)) = p.node(p.root()) else {
            panic!("not a frozenset")
        };
        assert_eq!(outer.len(), 1, "CPython: frozenset({{frozenset({{1}})}})");
        // {(frozenset([1, 1]),): 'a', (frozenset([1]),): 'b'}
        let p = crate::decode::decode(
            b"\x80\x04}((K\x01K\x01\x91\x85X\x01\x00\x00\x00a(K\x01\x91\x85X\x01\x00\x00\x00bu.",
            &opts,
        )
        .unwrap();
        let Some(Value::Dict(items)) = p.node(p.root()) else {
            panic!("not a dict")
        };
        assert_eq!(items.len(), 1, "CPython: {{(frozenset({{1}}),): 'b'}}");
        assert_eq!(*p.value(items[0].1), Value::str("b"));
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
        assert_eq!(*p.value(d), Value::Dict(vec![(k1, b)]));
    }

    #[test]
    fn large_dicts_merge_duplicates_in_first_position() {
        let mut p = Pickle::new();
        let mut items = Vec::new();
        for i in 0..5000 {
            let k = p.push(Value::str(&format!("k{}", i % 4000)));
            let v = p.push(Value::int(i));
            items.push((k, v));
        }
        let d = p.push(Value::Dict(items.clone()));
        // Mixed kinds: 2, 2.0 and True/1 collapse; "2" stays apart.
        let mixed: Vec<(NodeId, NodeId)> = [
            Value::int(2),
            Value::str("2"),
            Value::Float(2.0),
            Value::Bool(true),
            Value::int(1),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let k = p.push(k);
            (k, p.push(Value::int(i as i64)))
        })
        .collect();
        let m = p.push(Value::Dict(mixed.clone()));
        dedupe_all(&mut p, 1_000_000).unwrap();
        let Some(Value::Dict(out)) = p.node(d) else {
            panic!()
        };
        assert_eq!(out.len(), 4000);
        for (j, &(k, v)) in out.iter().enumerate() {
            assert_eq!(k, items[j].0);
            let want = if j < 1000 {
                items[4000 + j].1
            } else {
                items[j].1
            };
            assert_eq!(v, want);
        }
        let Some(Value::Dict(out)) = p.node(m) else {
            panic!()
        };
        assert_eq!(
            out,
            &vec![
                (mixed[0].0, mixed[2].1),
                (mixed[1].0, mixed[1].1),
                (mixed[3].0, mixed[4].1)
            ]
        );
    }

    #[test]
    fn unhashable_keys_are_errors() {
        let mut p = Pickle::new();
        let l = p.push(Value::List(vec![]));
        let t = p.push(Value::Tuple(vec![l].into()));
        let v = p.push(Value::None);
        p.push(Value::Dict(vec![(t, v)]));
        assert_eq!(
            dedupe_all(&mut p, 1000),
            Err(DecodeErrorKind::Unhashable("list"))
        );
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
