//! A cache of byte ranges of one version of the object, bounded in bytes,
//! least recently used first out; and the coalescing of the ranges still
//! missing into few requests.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

/// Cached blocks, by start offset. Blocks never overlap.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    blocks: BTreeMap<u64, (Bytes, u64)>,
    bytes: u64,
    cap: u64,
    tick: u64,
}

impl Cache {
    /// An empty cache holding at most `cap` bytes.
    pub(crate) fn new(cap: u64) -> Cache {
        Cache {
            cap,
            ..Default::default()
        }
    }

    /// Drops everything (the object changed).
    pub(crate) fn clear(&mut self) {
        self.blocks.clear();
        self.bytes = 0;
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn held(&self) -> u64 {
        self.bytes
    }

    /// The blocks overlapping `r`, in order.
    fn overlapping(&self, r: &Range<u64>) -> impl Iterator<Item = (u64, &Bytes)> {
        let r = r.start..r.end.max(r.start);
        let first = self
            .blocks
            .range(..=r.start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(r.start);
        self.blocks
            .range(first..r.end.max(first))
            .filter(move |(&s, (b, _))| s + b.len() as u64 > r.start)
            .map(|(&s, (b, _))| (s, b))
    }

    /// `r` if one block holds all of it (zero-copy), marking it used.
    pub(crate) fn get(&mut self, r: &Range<u64>) -> Option<Bytes> {
        let (&s, (b, used)) = self.blocks.range_mut(..=r.start).next_back()?;
        let end = s + b.len() as u64;
        if r.end > end {
            return None;
        }
        self.tick += 1;
        *used = self.tick;
        Some(b.slice((r.start - s) as usize..(r.end - s) as usize))
    }

    /// The block holding `at`, from `at` to its end (zero-copy), marking
    /// it used.
    pub(crate) fn get_from(&mut self, at: u64) -> Option<Bytes> {
        let (&s, (b, used)) = self.blocks.range_mut(..=at).next_back()?;
        let end = s + b.len() as u64;
        if at >= end {
            return None;
        }
        self.tick += 1;
        *used = self.tick;
        Some(b.slice((at - s) as usize..))
    }

    /// The blocks overlapping `r` (zero-copy clones).
    pub(crate) fn pieces(&self, r: &Range<u64>) -> Vec<(u64, Bytes)> {
        self.overlapping(r).map(|(s, b)| (s, b.clone())).collect()
    }

    /// The parts of `r` that no block holds.
    pub(crate) fn missing(&self, r: &Range<u64>) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut at = r.start;
        for (s, b) in self.overlapping(r) {
            if s > at {
                out.push(at..s);
            }
            at = at.max(s + b.len() as u64);
        }
        if at < r.end {
            out.push(at..r.end);
        }
        out
    }

    /// Caches `data`, read at `start`, unless it is larger than a quarter
    /// of the cache; blocks it overlaps are replaced; the least recently
    /// used blocks go until it fits.
    pub(crate) fn insert(&mut self, start: u64, data: Bytes) {
        let len = data.len() as u64;
        if len == 0 || len > self.cap / 4 {
            return;
        }
        let r = start..start + len;
        let old: Vec<u64> = self.overlapping(&r).map(|(s, _)| s).collect();
        for s in old {
            if let Some((b, _)) = self.blocks.remove(&s) {
                self.bytes -= b.len() as u64;
            }
        }
        while self.bytes + len > self.cap {
            let Some(lru) = self
                .blocks
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(&s, _)| s)
            else {
                break;
            };
            if let Some((b, _)) = self.blocks.remove(&lru) {
                self.bytes -= b.len() as u64;
            }
        }
        self.tick += 1;
        self.bytes += len;
        self.blocks.insert(start, (data, self.tick));
    }
}

/// Sorts and merges ranges whose gap is at most `gap` bytes.
pub(crate) fn coalesce(mut ranges: Vec<Range<u64>>, gap: u64) -> Vec<Range<u64>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

/// Copies `r` out of `pieces` (start, bytes), which must cover it; `None`
/// if they do not.
pub(crate) fn assemble(r: &Range<u64>, pieces: &[(u64, Bytes)]) -> Option<Bytes> {
    // One piece holding all of it: no copy.
    for (s, b) in pieces {
        if *s <= r.start && r.end <= s + b.len() as u64 {
            return Some(b.slice((r.start - s) as usize..(r.end - s) as usize));
        }
    }
    let len = usize::try_from(r.end - r.start).ok()?;
    let mut out = BytesMut::zeroed(len);
    let mut covered: Vec<Range<u64>> = Vec::new();
    for (s, b) in pieces {
        let e = s + b.len() as u64;
        let (a, z) = (r.start.max(*s), r.end.min(e));
        if a < z {
            out[(a - r.start) as usize..(z - r.start) as usize]
                .copy_from_slice(&b[(a - s) as usize..(z - s) as usize]);
            covered.push(a..z);
        }
    }
    let merged = coalesce(covered, 0);
    (merged.len() == 1 && merged[0] == *r || len == 0).then(|| out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: usize, v: u8) -> Bytes {
        Bytes::from(vec![v; n])
    }

    #[test]
    fn hits_misses_and_eviction() {
        let mut c = Cache::new(400);
        c.insert(0, b(100, 1));
        c.insert(200, b(100, 2));
        assert_eq!(c.get(&(10..20)).unwrap(), b(10, 1));
        assert!(c.get(&(90..110)).is_none());
        assert_eq!(c.missing(&(50..250)), vec![100..200]);
        assert_eq!(c.missing(&(300..350)), vec![300..350]);
        // Too large for the cache: not kept.
        c.insert(1000, b(101, 3));
        assert!(c.get(&(1000..1001)).is_none());
        // Fill it: the least recently used block (200..300) goes first.
        c.get(&(0..1));
        c.insert(400, b(100, 4));
        c.insert(600, b(100, 5));
        c.insert(800, b(100, 6));
        assert!(c.held() <= 400);
        assert!(c.get(&(0..1)).is_some());
        assert!(c.get(&(200..201)).is_none());
        // Overlapping inserts replace.
        c.insert(50, b(100, 7));
        assert_eq!(c.get(&(0..1)), None);
        assert_eq!(c.get(&(60..61)).unwrap(), b(1, 7));
        c.clear();
        assert_eq!(c.held(), 0);
    }

    #[test]
    fn coalescing() {
        assert_eq!(
            coalesce(vec![10..20, 0..5, 25..30, 100..110, 5..6], 3),
            vec![0..6, 10..20, 25..30, 100..110]
        );
        assert_eq!(coalesce(vec![0..0, 3..4], 0), vec![3..4]);
    }

    #[test]
    fn assembling() {
        let p = vec![(0, b(10, 1)), (10, b(10, 2))];
        let a = assemble(&(5..15), &p).unwrap();
        assert_eq!(&a[..], &[1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        assert!(assemble(&(5..25), &p).is_none());
        assert_eq!(assemble(&(12..14), &p).unwrap(), b(2, 2));
    }
}
