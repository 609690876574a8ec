//! [`RemoteDict`]: an mmpk file behind a URL, read with ranged GETs.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use mmpk_format::array::{read_array, ArrayInfo};
use mmpk_format::entry::LIVE;
use mmpk_format::header::{parse_header, HEADER_LEN};
use mmpk_format::masked::{is_masked, read_masked};
use mmpk_format::scan::{EntryKind, Tail};
use mmpk_format::Error as FmtError;
use pickle_ops::Pickle;

use crate::array::{info_from_ends, locate, slice_range, Locate, OwnedArray, OwnedMasked};
use crate::error::{Error, Result};
use crate::index::{scan_from, Index, RemoteEntry};
use crate::options::Options;
use crate::pin::{entry_matches, EntryPin, RemoteObject};
use crate::source::Source;
use crate::transport::{ObjectVersion, TransferStats, Transport};

/// Longest run of ops after an array's raw bytes (dtype and shape) read.
pub(crate) const MAX_ARRAY_TAIL: u64 = 16 << 20;

/// What [`RemoteDict::refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refresh {
    /// The object is the one the index was read from.
    Unchanged,
    /// The object changed (new ETag, Last-Modified or size) but its index
    /// did not: array data was written in place, or the object was
    /// uploaded again. Cached bytes were dropped.
    DataChanged,
    /// The index was checked (every known entry is where it was; deletions
    /// were picked up) and only the new part of the object was scanned.
    Grew {
        /// Entries found after the old end of the index.
        new_entries: usize,
    },
    /// The object was rewritten (shrunk, vacuumed, replaced): the whole
    /// index was read again.
    Rescanned,
}

/// An mmpk file read over HTTP(S) or S3, without downloading it: the
/// header and the index are read once (a few ranged GETs), then every get
/// fetches only the bytes it returns. See the crate docs for the caching
/// and consistency model.
#[derive(Debug)]
pub struct RemoteDict {
    pub(crate) src: Arc<Source>,
    pub(crate) version: ObjectVersion,
    index: Index,
}

impl RemoteDict {
    /// Opens `url` (`http://host/path`, `https://...`, `s3://bucket/key`)
    /// and reads its header and index.
    pub fn open(url: &str, options: Options) -> Result<RemoteDict> {
        let t = Transport::new(url, &options)?;
        RemoteDict::open_on(Arc::new(Source::new(t, &options)))
    }

    /// Reads the header and index through `src` (shared with a
    /// [`RemoteObject`]).
    pub(crate) fn open_on(src: Arc<Source>) -> Result<RemoteDict> {
        let (first, version) = read_start(&src)?;
        src.remember(0, first.clone());
        let index = full_scan(&src, &version, first)?;
        Ok(RemoteDict {
            src,
            version,
            index,
        })
    }

    /// A handle on the same object that reads by [`EntryPin`]s, sharing
    /// this dict's connections and I/O runtime (not its cache).
    pub fn object(&self) -> RemoteObject {
        RemoteObject::on(self.src.clone())
    }

    /// The pin of `key`'s live entry in the version the index was read
    /// from: what [`RemoteObject::read_pinned`] needs to read its bytes
    /// later, from another process too.
    pub fn pin(&self, key: &str) -> Result<EntryPin> {
        Ok(EntryPin::of(self.live(key)?, &self.version))
    }

    /// The URL given to [`RemoteDict::open`].
    pub fn url(&self) -> &str {
        &self.src.t.url
    }

    /// The version of the object the index was read from.
    pub fn version(&self) -> &ObjectVersion {
        &self.version
    }

    /// The commit number of the header the index was read with.
    pub fn commit_number(&self) -> i32 {
        self.index.commit
    }

    /// How the object ends (a torn tail leaves the entries before it
    /// readable, as in a local file).
    pub fn tail(&self) -> &Tail {
        &self.index.tail
    }

    /// Offset of the terminator, when the index ends with one.
    pub fn terminator(&self) -> Option<u64> {
        self.index.terminator
    }

    /// Every entry, live, deleted and fillers, in file order.
    pub fn entries(&self) -> &[RemoteEntry] {
        &self.index.entries
    }

    /// The live entry of `key` (the latest one).
    pub fn entry(&self, key: &str) -> Option<&RemoteEntry> {
        self.index.live.get(key).map(|&i| &self.index.entries[i])
    }

    pub(crate) fn live(&self, key: &str) -> Result<&RemoteEntry> {
        self.entry(key).ok_or_else(|| Error::KeyNotFound {
            key: key.to_string(),
        })
    }

    /// The live keys, in the order of their latest entries.
    pub fn keys(&self) -> Vec<String> {
        let mut v: Vec<(usize, &String)> = self.index.live.iter().map(|(k, &i)| (i, k)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.index.live.len()
    }

    /// Whether there is no live key.
    pub fn is_empty(&self) -> bool {
        self.index.live.is_empty()
    }

    /// Whether `key` is live.
    pub fn contains(&self, key: &str) -> bool {
        self.index.live.contains_key(key)
    }

    /// Transfer counters since the dict was opened.
    pub fn stats(&self) -> TransferStats {
        self.src.t.stats()
    }

    pub(crate) fn value_of(&self, e: &RemoteEntry) -> Result<Bytes> {
        let end = e
            .value_offset
            .checked_add(e.value_len)
            .ok_or(Error::TooLarge {
                key: e.key.clone(),
                len: e.value_len,
            })?;
        if usize::try_from(e.value_len).is_err() {
            return Err(Error::TooLarge {
                key: e.key.clone(),
                len: e.value_len,
            });
        }
        self.src.read_one(e.value_offset..end, &self.version)
    }

    /// The value ops of `key`, as stored.
    pub fn value_bytes(&self, key: &str) -> Result<Bytes> {
        self.value_of(self.live(key)?)
    }

    /// The value of `key` decoded data-only (`pickle-ops`), resolved as
    /// docs/canonical-json.md says (Python 2 forms folded, and numpy's own
    /// pickles and mmpk's arrays made array nodes: rule 3). Fetches the
    /// whole value.
    pub fn get_pickle(&self, key: &str) -> Result<Pickle> {
        let e = self.live(key)?;
        let v = self.value_of(e)?;
        let fmt = |source| Error::Format {
            key: key.to_string(),
            value_offset: e.value_offset,
            source,
        };
        // Offsets in errors count from the value's start, as for arrays.
        let at = 0;
        let opts = pickle_ops::decode::DecodeOptions::default();
        let mut p = mmpk_format::generic::decode_value(&v, at, &opts).map_err(fmt)?;
        // Python 2 forms first (`_codecs.encode` bytes, ...), then numpy's.
        pickle_ops::resolve::resolve(&mut p, opts.max_compare_work).map_err(|kind| {
            fmt(FmtError::Decode(pickle_ops::decode::DecodeError {
                offset: at.saturating_add(v.len()),
                kind,
            }))
        })?;
        mmpk_format::numpy::resolve_numpy(&mut p, &[]);
        Ok(p)
    }

    /// Dtype, shape and the raw bytes' place of the array `key`, from the
    /// index read (no request for a large array; its value for a small one).
    pub fn array_info(&self, key: &str) -> Result<ArrayInfo> {
        let e = self.live(key)?;
        Ok(self.info_of(e)?.0)
    }

    /// The array's info, and its whole value when it was read for it.
    pub(crate) fn info_of(&self, e: &RemoteEntry) -> Result<(ArrayInfo, Option<Bytes>)> {
        let key = &e.key;
        let fmt = |source| Error::Format {
            key: key.clone(),
            value_offset: e.value_offset,
            source,
        };
        let wrong = |head: &[u8]| Error::WrongKind {
            key: key.clone(),
            expected: if is_masked(head) {
                "a plain array (it is a masked array: use masked)"
            } else {
                "an array (use get_pickle)"
            },
        };
        let Some((head, tail)) = &e.ends else {
            let v = self.value_of(e)?;
            return match read_array(&v, 0..v.len()) {
                Ok(a) => Ok((a.info(key, e.offset, e.value_offset), Some(v))),
                Err(FmtError::NotAnArray { offset: 0, .. }) => Err(wrong(&v)),
                Err(_) if is_masked(&v) => Err(wrong(&v)),
                Err(err) => Err(fmt(err)),
            };
        };
        let mut head = head.clone();
        let mut found = locate(&head);
        // Ops before the raw bytes beyond what the index kept: read more
        // of the value, growing fourfold, up to 16 MiB.
        let limit = e.value_len.min(MAX_ARRAY_TAIL);
        while matches!(found, Locate::NeedMore) && (head.len() as u64) < limit {
            let more = limit.min((head.len() as u64 * 4).max(64 << 10));
            head = self
                .src
                .read_one(e.value_offset..e.value_offset + more, &self.version)?;
            found = locate(&head);
        }
        let (op, data, n) = match found {
            Locate::Found { op, data, n } => (op, data as u64, n),
            Locate::NeedMore | Locate::NotArray => return Err(wrong(&head)),
        };
        if is_masked(&head) {
            return Err(wrong(&head));
        }
        let data_end = data
            .checked_add(n)
            .filter(|&d| d <= e.value_len)
            .ok_or_else(|| {
                fmt(FmtError::Truncated {
                    offset: op,
                    needed: n,
                })
            })?;
        let rest_len = e.value_len - data_end;
        let rest = if rest_len <= tail.len() as u64 {
            tail.slice(tail.len() - rest_len as usize..)
        } else if rest_len <= MAX_ARRAY_TAIL {
            let s = e.value_offset + data_end;
            self.src.read_one(s..s + rest_len, &self.version)?
        } else {
            return Err(fmt(FmtError::NotAnArray {
                offset: op,
                what: "at most 16 MiB of dtype and shape after the raw bytes",
            }));
        };
        let (encoding, dtype, shape) = info_from_ends(&head[..op], n, &rest).map_err(fmt)?;
        Ok((
            ArrayInfo::new(
                key,
                encoding,
                dtype,
                shape,
                e.offset,
                e.value_offset + data,
                n,
            ),
            None,
        ))
    }

    fn owned(&self, key: &str, r: Range<u64>, whole: Option<Bytes>) -> Result<Vec<u8>> {
        let len = r.end - r.start;
        if usize::try_from(len).is_err() {
            return Err(Error::TooLarge {
                key: key.to_string(),
                len,
            });
        }
        if let Some(v) = whole {
            // The whole value was read: the bytes are in it.
            let e = self.live(key)?;
            let s = (r.start - e.value_offset) as usize;
            if let Some(b) = v.get(s..s + len as usize) {
                return Ok(b.to_vec());
            }
        }
        let b = self.src.read_one(r, &self.version)?;
        Ok(Vec::from(b))
    }

    /// The whole array `key` (one request for a small array, requests of
    /// at most `max_request` bytes in parallel for a large one).
    pub fn array(&self, key: &str) -> Result<OwnedArray> {
        let e = self.live(key)?;
        let (info, whole) = self.info_of(e)?;
        let r = info.data_offset..info.data_offset + info.nbytes;
        let data = self.owned(key, r, whole)?;
        Ok(OwnedArray {
            encoding: info.encoding,
            dtype: info.dtype,
            shape: info.shape,
            data,
        })
    }

    /// Rows `rows` of the array `key` along its first axis: only those
    /// rows' bytes are fetched.
    pub fn array_slice(&self, key: &str, rows: Range<u64>) -> Result<OwnedArray> {
        let e = self.live(key)?;
        let (info, whole) = self.info_of(e)?;
        let (r, shape) = slice_range(key, &info, rows)?;
        let r = info.data_offset + r.start..info.data_offset + r.end;
        let data = self.owned(key, r, whole)?;
        Ok(OwnedArray {
            encoding: info.encoding,
            dtype: info.dtype,
            shape,
            data,
        })
    }

    /// Several row ranges of the array `key`, read together: the ranges
    /// the cache lacks are coalesced (gaps up to `coalesce_gap`) and
    /// fetched at once.
    pub fn array_slices(&self, key: &str, rows: &[Range<u64>]) -> Result<Vec<OwnedArray>> {
        let e = self.live(key)?;
        let (info, _) = self.info_of(e)?;
        let mut shapes = Vec::with_capacity(rows.len());
        let mut ranges = Vec::with_capacity(rows.len());
        for r in rows {
            let (b, shape) = slice_range(key, &info, r.clone())?;
            if usize::try_from(b.end - b.start).is_err() {
                return Err(Error::TooLarge {
                    key: key.to_string(),
                    len: b.end - b.start,
                });
            }
            ranges.push(info.data_offset + b.start..info.data_offset + b.end);
            shapes.push(shape);
        }
        let got = self.src.read(&ranges, &self.version)?;
        Ok(got
            .into_iter()
            .zip(shapes)
            .map(|(b, shape)| OwnedArray {
                encoding: info.encoding,
                dtype: info.dtype.clone(),
                shape,
                data: Vec::from(b),
            })
            .collect())
    }

    /// The masked array `key` (its whole value is fetched).
    pub fn masked(&self, key: &str) -> Result<OwnedMasked> {
        let e = self.live(key)?;
        let v = self.value_of(e)?;
        if !is_masked(&v) {
            return Err(Error::WrongKind {
                key: key.to_string(),
                expected: "a masked array",
            });
        }
        let m = read_masked(&v, 0..v.len()).map_err(|source| Error::Format {
            key: key.to_string(),
            value_offset: e.value_offset,
            source,
        })?;
        let arr = |a: mmpk_format::array::Array| OwnedArray {
            encoding: a.encoding,
            data: v[a.data.clone()].to_vec(),
            dtype: a.dtype,
            shape: a.shape,
        };
        Ok(OwnedMasked {
            data: arr(m.data),
            mask: arr(m.mask),
            mask_kind: m.mask_kind,
        })
    }

    /// Whether the object is no longer the version the index was read from
    /// (one HEAD request; nothing is re-read: see [`RemoteDict::refresh`]).
    pub fn changed_by_others(&self) -> Result<bool> {
        let v = self.src.t.block_on(self.src.t.head())??;
        Ok(self.version.diff(&v).is_some())
    }

    /// Looks at the object again. If it is unchanged, nothing happens. If it
    /// changed, cached bytes are dropped; when it did not shrink below the
    /// old index, the known entries are checked in place (two small ranges
    /// each, coalesced: deletions are picked up) and only the new part is
    /// scanned (from where the room was when a durable writer wrote its
    /// inserts into the room that ended the entries, docs/format.md
    /// section 8); otherwise the whole index is read again. On error the
    /// dict is left as it was.
    pub fn refresh(&mut self) -> Result<Refresh> {
        let r = self.try_refresh();
        if r.is_err() {
            // The cache may hold bytes of the new version: drop them.
            self.src.clear_cache();
        }
        r
    }

    fn try_refresh(&mut self) -> Result<Refresh> {
        let (first, v) = read_start(&self.src)?;
        if v == self.version {
            return Ok(Refresh::Unchanged);
        }
        self.src.clear_cache();
        self.src.remember(0, first.clone());
        let header = header_of(&self.src, &first)?;
        let old = &self.index;
        if v.size >= old.intact_end {
            if let Some((mut entries, from)) = self.recheck(&v)? {
                let before = entries.len();
                let scanned = scan_from(&self.src, &v, from, first, &mut entries)?;
                let new_entries = entries.len() - before;
                let index = linked(header.commit, entries, scanned);
                let same = new_entries == 0 && index.commit == old.commit && index.tail == old.tail;
                self.index = index;
                self.version = v;
                return Ok(if same {
                    Refresh::DataChanged
                } else {
                    Refresh::Grew { new_entries }
                });
            }
        }
        let index = full_scan(&self.src, &v, first)?;
        self.index = index;
        self.version = v;
        Ok(Refresh::Rescanned)
    }

    /// Checks that every known entry is still where it was, in version
    /// `v`: its frame head and key, and its tail (memo max, validity).
    /// The entries with their validity updated and where to scan on from
    /// (the old end of the index; where the room was, if inserts were
    /// written into it: it is dropped), or `None` if any other moved.
    fn recheck(&self, v: &ObjectVersion) -> Result<Option<(Vec<RemoteEntry>, u64)>> {
        let old = &self.index.entries;
        let room = self.index.room().map(|r| r.offset);
        let mut ranges = Vec::with_capacity(old.len() * 2);
        for e in old {
            ranges.push(e.offset..e.value_offset);
            ranges.push(e.end() - 8..e.end());
        }
        let got = self.src.read(&ranges, v)?;
        let mut entries = old.clone();
        let mut rewritten_room = None;
        for (i, e) in entries.iter_mut().enumerate() {
            let (head, tail) = (&got[2 * i], &got[2 * i + 1]);
            let Some(validity) = entry_matches(&e.key, e.len, e.memo_max, head, tail) else {
                if Some(e.offset) == room {
                    // The room, the last entry: written into.
                    rewritten_room = room;
                    break;
                }
                return Ok(None);
            };
            e.kind = match (validity, e.kind) {
                (LIVE, _) => EntryKind::Live,
                (mmpk_format::entry::DELETED, EntryKind::Live) => EntryKind::Deleted,
                (mmpk_format::entry::DELETED, k) => k,
                _ => return Ok(None),
            };
        }
        if let Some(at) = rewritten_room {
            entries.pop();
            return Ok(Some((entries, at)));
        }
        Ok(Some((entries, self.index.intact_end)))
    }
}

/// Reads the first `readahead` bytes and the object's version.
fn read_start(src: &Source) -> Result<(Bytes, ObjectVersion)> {
    match src.t.block_on(src.t.get(0..src.readahead, None))? {
        Ok((b, v)) => Ok((b, v)),
        Err(e @ Error::Store { .. }) => {
            // An empty object cannot answer a range (416).
            match src.t.block_on(src.t.head())? {
                Ok(v) if v.size == 0 => Err(Error::Truncated {
                    url: src.t.url.clone(),
                    offset: 0,
                    needed: HEADER_LEN as u64,
                    got: 0,
                }),
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The header in `first`, or the typed error for a truncated or foreign
/// object.
fn header_of(src: &Source, first: &[u8]) -> Result<mmpk_format::Header> {
    parse_header(first).map_err(|e| match e {
        FmtError::Truncated { .. } => Error::Truncated {
            url: src.t.url.clone(),
            offset: 0,
            needed: HEADER_LEN as u64,
            got: first.len() as u64,
        },
        e => Error::NotMmpk {
            url: src.t.url.clone(),
            source: e,
        },
    })
}

/// Reads the whole index of version `v`, whose first bytes are `first`.
fn full_scan(src: &Source, v: &ObjectVersion, first: Bytes) -> Result<Index> {
    let header = header_of(src, &first)?;
    let mut entries = Vec::new();
    let scanned = scan_from(src, v, HEADER_LEN as u64, first, &mut entries)?;
    Ok(linked(header.commit, entries, scanned))
}

/// The index of `entries`, with the `(intact_end, terminator, tail)` that
/// [`scan_from`] returned for them and the live map built.
fn linked(
    commit: i32,
    entries: Vec<RemoteEntry>,
    (intact_end, terminator, tail): (u64, Option<u64>, Tail),
) -> Index {
    let mut index = Index {
        commit,
        entries,
        live: Default::default(),
        intact_end,
        terminator,
        tail,
    };
    index.relink();
    index
}
