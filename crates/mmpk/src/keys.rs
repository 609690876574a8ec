//! The table of live keys: the key bytes in one arena, and a hash table
//! from each key's hash to its entries, so that opening a file with a
//! million keys makes a few large allocations, not a million small ones.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use crate::index::Loc;

/// The hash of the key map: a folded multiply (as foldhash and ahash do)
/// keyed by per-process random seeds, several times faster than std's
/// SipHash on short keys (opening a file hashes every key). Keys come from
/// files, so the seeds are secret and random: crafted collisions need them.
#[derive(Clone, Debug)]
pub(crate) struct KeyHash {
    k0: u64,
    k1: u64,
}

impl Default for KeyHash {
    fn default() -> Self {
        use std::hash::BuildHasher;
        static SEEDS: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
        let &(k0, k1) = SEEDS.get_or_init(|| {
            let r = std::collections::hash_map::RandomState::new();
            (r.hash_one(0x5eed_u64), r.hash_one(0xfeed_u64) | 1)
        });
        KeyHash { k0, k1 }
    }
}

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            acc: self.k0,
            k1: self.k1,
        }
    }
}

/// The hasher of [`KeyHash`].
pub(crate) struct KeyHasher {
    acc: u64,
    k1: u64,
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        self.acc = fold(self.acc ^ bytes.len() as u64, self.k1 ^ K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.acc = fold(self.acc ^ u64::from_le_bytes(w), self.k1 ^ K);
        }
        let r = chunks.remainder();
        if !r.is_empty() {
            let mut w = [0u8; 8];
            w[..r.len()].copy_from_slice(r);
            self.acc = fold(self.acc ^ u64::from_le_bytes(w), self.k1 ^ K);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.acc ^ self.k1, 0x2d35_8dcc_aa6c_78a5)
    }
}

/// A `BuildHasher` for keys that already are hashes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// The hasher of [`IdHash`]: `write_u64` passes its value through.
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = fold(self.0 ^ u64::from(b), 0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// No item.
const NONE: u32 = u32::MAX;

/// One key: where its bytes are in the arena, its entry, and the next item
/// whose key has the same hash.
#[derive(Clone, Copy, Debug)]
struct Item {
    start: usize,
    len: u32,
    next: u32,
    live: bool,
    loc: Loc,
}

/// A map from key to [`Loc`], like `HashMap<String, Loc>`, laid out for
/// building fast: key bytes in one arena, items in one vector (in insertion
/// order; removed ones stay as tombstones until the index is rebuilt), and
/// a compact table from key hash to the first item of its chain.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    arena: String,
    items: Vec<Item>,
    table: HashMap<u64, u32, IdHash>,
    len: usize,
    hash: KeyHash,
    /// Hashes of the items pushed by [`Keys::bulk_push`] and not yet in the
    /// table.
    pending: Vec<u64>,
}

impl Keys {
    fn key(&self, i: &Item) -> &str {
        &self.arena[i.start..i.start + i.len as usize]
    }

    /// The index of `key`'s item and of the item before it in its chain.
    fn find(&self, h: u64, key: &str) -> Option<(u32, u32)> {
        let mut prev = NONE;
        let mut at = *self.table.get(&h)?;
        while at != NONE {
            let i = &self.items[at as usize];
            if self.key(i) == key {
                return Some((at, prev));
            }
            prev = at;
            at = i.next;
        }
        None
    }

    /// Takes item `at` (whose predecessor is `prev`) out of its chain.
    fn unlink(&mut self, h: u64, at: u32, prev: u32) {
        let next = self.items[at as usize].next;
        if prev == NONE {
            if next == NONE {
                self.table.remove(&h);
            } else {
                self.table.insert(h, next);
            }
        } else {
            self.items[prev as usize].next = next;
        }
        self.items[at as usize].live = false;
        self.len -= 1;
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The entry of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Loc> {
        let (at, _) = self.find(self.hash.hash_one(key), key)?;
        Some(&self.items[at as usize].loc)
    }

    /// Whether `key` is in.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets the entry of `key`; returns the one it replaces.
    pub(crate) fn insert(&mut self, key: &str, loc: Loc) -> Option<Loc> {
        use std::collections::hash_map::Entry;
        let h = self.hash.hash_one(key);
        let at = u32::try_from(self.items.len()).expect("fewer than 2^32 keys");
        let next = match self.table.entry(h) {
            Entry::Vacant(v) => {
                v.insert(at);
                NONE
            }
            Entry::Occupied(mut o) => {
                let mut i = *o.get();
                while i != NONE {
                    let item = &mut self.items[i as usize];
                    let start = item.start;
                    if &self.arena[start..start + item.len as usize] == key {
                        return Some(std::mem::replace(&mut item.loc, loc));
                    }
                    i = item.next;
                }
                o.insert(at)
            }
        };
        self.items.push(Item {
            start: self.arena.len(),
            len: key.len() as u32,
            next,
            live: true,
            loc,
        });
        self.arena.push_str(key);
        self.len += 1;
        None
    }

    /// Appends `key` (a scan's next live entry) without indexing it yet:
    /// the key is copied and hashed while its bytes are in cache, and
    /// [`Keys::end_bulk`] builds the table once at the end.
    pub(crate) fn bulk_push(&mut self, key: &str, loc: Loc) {
        self.pending.push(self.hash.hash_one(key));
        self.items.push(Item {
            start: self.arena.len(),
            len: key.len() as u32,
            next: NONE,
            live: true,
            loc,
        });
        self.arena.push_str(key);
        self.len += 1;
    }

    /// Indexes the items of [`Keys::bulk_push`], in order (a later entry of
    /// a key wins); returns the entries they replaced.
    pub(crate) fn end_bulk(&mut self) -> Vec<(String, Loc)> {
        use std::collections::hash_map::Entry;
        let pending = std::mem::take(&mut self.pending);
        let first = self.items.len() - pending.len();
        self.table.reserve(pending.len());
        let mut replaced = Vec::new();
        for (n, h) in pending.into_iter().enumerate() {
            let at = first + n;
            match self.table.entry(h) {
                Entry::Vacant(v) => {
                    v.insert(at as u32);
                }
                Entry::Occupied(mut o) => {
                    let new = self.items[at];
                    let key = &self.arena[new.start..new.start + new.len as usize];
                    let mut i = *o.get();
                    let mut same = None;
                    while i != NONE {
                        let it = &self.items[i as usize];
                        if &self.arena[it.start..it.start + it.len as usize] == key {
                            same = Some(i);
                            break;
                        }
                        i = it.next;
                    }
                    match same {
                        Some(old) => {
                            // The later entry wins; its item becomes a tombstone.
                            let prev =
                                std::mem::replace(&mut self.items[old as usize].loc, new.loc);
                            replaced.push((key.to_string(), prev));
                            self.items[at].live = false;
                            self.len -= 1;
                        }
                        None => {
                            self.items[at].next = o.insert(at as u32);
                        }
                    }
                }
            }
        }
        replaced
    }

    /// Removes `key`; returns its entry.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Loc> {
        let h = self.hash.hash_one(key);
        let (at, prev) = self.find(h, key)?;
        self.unlink(h, at, prev);
        Some(self.items[at as usize].loc)
    }

    /// Keeps the keys for which `f` says yes.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&str, &Loc) -> bool) {
        for at in 0..self.items.len() {
            let i = self.items[at];
            if !i.live || f(self.key(&i), &i.loc) {
                continue;
            }
            let key = self.key(&i).to_string();
            let h = self.hash.hash_one(&key);
            if let Some((found, prev)) = self.find(h, &key) {
                self.unlink(h, found, prev);
            }
        }
    }

    /// Every key and its entry, in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Loc)> + '_ {
        self.items
            .iter()
            .filter(|i| i.live)
            .map(|i| (self.key(i), i.loc))
    }

    /// Empties the table, returning what it held.
    pub(crate) fn take_all(&mut self) -> Vec<(String, Loc)> {
        let all = self.iter().map(|(k, l)| (k.to_string(), l)).collect();
        *self = Keys::default();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(n: u64) -> Loc {
        Loc {
            offset: n,
            len: 1,
            value_offset: n,
            value_len: 1,
        }
    }

    #[test]
    fn key_hashes_spread() {
        use std::hash::BuildHasher;
        let h = KeyHash::default();
        for prefix in ["k", "key-", "a/very/long/prefix/of/a/path/", ""] {
            // Low bits pick the bucket, the top 7 bits the control byte:
            // both must look uniform (chi-square over 4096 and 128 cells,
            // bounds about 8 standard deviations above the mean).
            let mut low = vec![0u32; 1 << 12];
            let mut top = vec![0u32; 128];
            let n = 1u32 << 16;
            for i in 0..n {
                let x = h.hash_one(format!("{prefix}{i}"));
                low[(x & 0xfff) as usize] += 1;
                top[(x >> 57) as usize] += 1;
            }
            let chi = |cells: &[u32]| {
                let e = f64::from(n) / cells.len() as f64;
                cells
                    .iter()
                    .map(|&c| (f64::from(c) - e).powi(2) / e)
                    .sum::<f64>()
            };
            assert!(chi(&low) < 4095.0 + 8.0 * 90.5, "{prefix}: {}", chi(&low));
            assert!(chi(&top) < 127.0 + 8.0 * 16.0, "{prefix}: {}", chi(&top));
        }
        assert_ne!(h.hash_one("a"), h.hash_one("a\0"));
        assert_eq!(h.hash_one("abc"), KeyHash::default().hash_one("abc"));
    }

    #[test]
    fn behaves_as_a_hashmap() {
        let mut k = Keys::default();
        let mut m = std::collections::HashMap::new();
        let mut rng = 7u64;
        for step in 0..20_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let key = format!("k{}", rng % 500);
            match rng % 4 {
                0 | 1 => assert_eq!(k.insert(&key, loc(step)), m.insert(key.clone(), loc(step))),
                2 => assert_eq!(k.remove(&key), m.remove(&key)),
                _ => {
                    let keep = |s: &str, l: &Loc| !(s.len() + l.offset as usize).is_multiple_of(3);
                    if step % 97 == 0 {
                        k.retain(keep);
                        m.retain(|s, l| keep(s, l));
                    }
                }
            }
            assert_eq!(k.get(&key), m.get(&key));
            assert_eq!(k.len(), m.len());
        }
        let mut a: Vec<_> = k.iter().map(|(s, l)| (s.to_string(), l)).collect();
        let mut b: Vec<_> = m.into_iter().collect();
        a.sort_by(|x, y| x.0.cmp(&y.0));
        b.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(a, b);
        assert_eq!(k.take_all().len(), a.len());
        assert_eq!(k.len(), 0);
    }

    #[test]
    fn bulk_pushes_index_like_inserts() {
        let mut bulk = Keys::default();
        let mut one = Keys::default();
        bulk.insert("z", loc(0));
        one.insert("z", loc(0));
        let mut replaced_one = Vec::new();
        for n in 1..3000u64 {
            let key = format!("k{}", n % 1700);
            bulk.bulk_push(&key, loc(n));
            if let Some(old) = one.insert(&key, loc(n)) {
                replaced_one.push((key, old));
            }
        }
        bulk.bulk_push("z", loc(9999));
        replaced_one.push(("z".into(), one.insert("z", loc(9999)).unwrap()));
        let replaced = bulk.end_bulk();
        assert_eq!(replaced.len(), replaced_one.len());
        assert_eq!(bulk.len(), one.len());
        for n in 0..1700 {
            let key = format!("k{n}");
            assert_eq!(bulk.get(&key), one.get(&key));
        }
        assert_eq!(bulk.get("z").unwrap().offset, 9999);
        assert_eq!(bulk.remove("z").unwrap().offset, 9999);
        assert_eq!(bulk.iter().count(), 1700);
    }

    #[test]
    fn colliding_hashes_share_a_chain() {
        // Zero seeds and keys that differ only after a shared hash would
        // be needed for a real collision; instead, link three items under
        // one hash by hand and use the chain operations on them.
        let mut k = Keys::default();
        for (n, key) in ["a", "b", "c"].iter().enumerate() {
            k.insert(key, loc(n as u64));
        }
        let h = k.hash.hash_one("a");
        let (hb, hc) = (k.hash.hash_one("b"), k.hash.hash_one("c"));
        k.table.remove(&hb);
        k.table.remove(&hc);
        // a -> b -> c under h.
        k.items[0].next = 1;
        k.items[1].next = 2;
        k.items[2].next = NONE;
        assert_eq!(k.find(h, "c"), Some((2, 1)));
        k.unlink(h, 1, 0); // b
        assert_eq!(k.find(h, "c"), Some((2, 0)));
        assert_eq!(k.find(h, "b"), None);
        k.unlink(h, 0, NONE); // a: c becomes the head
        assert_eq!(k.table.get(&h), Some(&2));
        k.unlink(h, 2, NONE);
        assert!(k.table.is_empty());
        assert_eq!(k.len(), 0);
        assert_eq!(k.iter().count(), 0);
    }
}
