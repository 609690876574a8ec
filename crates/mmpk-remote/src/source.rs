//! Reading byte ranges of one version of the object: from the cache when
//! it holds them, else with coalesced ranged GETs whose results are
//! cached.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use crate::cache::{assemble, coalesce, Cache};
use crate::error::{Error, Result};
use crate::options::Options;
use crate::transport::{ObjectVersion, Transport};

/// The transport, the cache, and how to use them.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) t: Transport,
    cache: Mutex<Cache>,
    pub(crate) readahead: u64,
    coalesce_gap: u64,
}

impl Source {
    pub(crate) fn new(t: Transport, o: &Options) -> Source {
        Source {
            t,
            cache: Mutex::new(Cache::new(o.cache_bytes)),
            readahead: o.readahead,
            coalesce_gap: o.coalesce_gap,
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the cache
        // inconsistent in a way that matters: blocks are immutable.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops every cached range (the object changed).
    pub(crate) fn clear_cache(&self) {
        self.cache().clear();
    }

    /// Caches bytes read elsewhere.
    pub(crate) fn remember(&self, start: u64, data: Bytes) {
        self.cache().insert(start, data);
    }

    /// The truncation error for `r` in an object of `size` bytes, if `r`
    /// runs past its end.
    fn check_in(&self, r: &Range<u64>, v: &ObjectVersion) -> Result<()> {
        if r.end > v.size || r.start > r.end {
            return Err(Error::Truncated {
                url: self.t.url.clone(),
                offset: r.start,
                needed: r.end.saturating_sub(r.start),
                got: v
                    .size
                    .saturating_sub(r.start)
                    .min(r.end.saturating_sub(r.start)),
            });
        }
        Ok(())
    }

    /// Reads every range of `ranges` (of version `v`): cached parts are
    /// not fetched; the missing parts of all of them are coalesced and
    /// fetched together.
    pub(crate) fn read(&self, ranges: &[Range<u64>], v: &ObjectVersion) -> Result<Vec<Bytes>> {
        for r in ranges {
            self.check_in(r, v)?;
        }
        let mut out: Vec<Option<Bytes>> = Vec::with_capacity(ranges.len());
        let mut missing = Vec::new();
        {
            let mut c = self.cache();
            for r in ranges {
                let mut hit = if r.start == r.end {
                    Some(Bytes::new())
                } else {
                    c.get(r)
                };
                if hit.is_none() {
                    let m = c.missing(r);
                    if m.is_empty() {
                        // Held by several adjacent blocks, none alone.
                        hit = assemble(r, &c.pieces(r));
                    }
                    missing.extend(m);
                }
                if hit.is_some() {
                    self.t.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                }
                out.push(hit);
            }
        }
        if missing.is_empty() {
            return Ok(out.into_iter().map(Option::unwrap_or_default).collect());
        }
        let fetch = coalesce(missing, self.coalesce_gap);
        let got = self.t.read_many(&fetch, v)?;
        let pieces: Vec<(u64, Bytes)> = fetch.iter().map(|r| r.start).zip(got).collect();
        let mut c = self.cache();
        for (s, b) in &pieces {
            c.insert(*s, b.clone());
        }
        for (r, slot) in ranges.iter().zip(out.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            // The fetched pieces are sorted and disjoint: those overlapping `r`.
            let first = pieces.partition_point(|(s, b)| s + b.len() as u64 <= r.start);
            let mut have = c.pieces(r);
            have.extend(
                pieces[first..]
                    .iter()
                    .take_while(|(s, _)| *s < r.end)
                    .cloned(),
            );
            *slot = assemble(r, &have);
            if slot.is_none() {
                // Cannot happen: the missing parts were fetched.
                return Err(Error::Truncated {
                    url: self.t.url.clone(),
                    offset: r.start,
                    needed: r.end - r.start,
                    got: 0,
                });
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Reads one range, as [`Source::read`].
    pub(crate) fn read_one(&self, r: Range<u64>, v: &ObjectVersion) -> Result<Bytes> {
        Ok(self
            .read(std::slice::from_ref(&r), v)?
            .pop()
            .unwrap_or_default())
    }

    /// Bytes from `at`, at least `len` of them (fewer only at the end of
    /// the object): a cached block when one holds them, else a fetch of
    /// `max(len, ahead)` bytes, which is cached.
    pub(crate) fn window(&self, at: u64, len: u64, ahead: u64, v: &ObjectVersion) -> Result<Bytes> {
        let end = at.saturating_add(len).min(v.size);
        if at > end {
            return Ok(Bytes::new());
        }
        if let Some(b) = self.cache_tail(at, end) {
            return Ok(b);
        }
        let fetch_end = at.saturating_add(len.max(ahead)).min(v.size);
        self.read_one(at..fetch_end, v)
    }

    /// The cached block holding `at..end`, from `at` to the block's end.
    fn cache_tail(&self, at: u64, end: u64) -> Option<Bytes> {
        let b = self.cache().get_from(at)?;
        (b.len() as u64 >= end - at).then_some(b)
    }
}
