//! Generic values (docs/format.md section 7): any value that is not an array is
//! stored as CPython's `pickle.dumps(value, 4)`, rewritten at the op level
//! so that an entry's value is a self-contained fragment of the file's one
//! big pickle:
//!
//! - `PROTO`, `FRAME` and `STOP` are dropped (the file has its own);
//! - memo stores (`MEMOIZE`, `PUT`, `BINPUT`, `LONG_BINPUT`) whose index no
//!   memo fetch (`GET`, `BINGET`, `LONG_BINGET`) names are dropped;
//! - the kept stores are renumbered in order of appearance from the file's
//!   memo base ([`crate::Scan::memo_max`]: the highest `memo_max` of all
//!   entries, live or deleted, and at least 1), written as `BINPUT`
//!   (index < 256) or `LONG_BINPUT`, and the fetches follow as `BINGET` or
//!   `LONG_BINGET`;
//! - every other op is copied byte for byte;
//! - the entry's `memo_max` is the next free index: the base plus the
//!   number of kept stores (so the base itself when nothing is kept).
//!
//! This is what mmappickle 1.0.0's `_pickle_dump_fix` does, so an entry
//! written here is byte-identical to mmappickle's for the same value and
//! the same file (checked against its files in `fixtures/mmappickle`).
//!
//! Decoding needs only the entry's bytes: [`decode_value`] runs
//! `pickle-ops`' data-only decoder over the fragment, whatever memo indices
//! it uses, and refuses a fetch of an index the fragment did not store.
//!
//! ```
//! use mmpk_format::generic::{decode_value, encode_value, rewrite_pickle};
//! use pickle_ops::decode::DecodeOptions;
//!
//! // pickle.dumps(['ab', 'ab'], 4) with one shared str
//! let p = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x02ab\x94h\x01e.";
//! let v = rewrite_pickle(p, 300)?;
//! // EMPTY_LIST MARK SHORT_BINUNICODE 'ab' LONG_BINPUT 300 LONG_BINGET 300 APPENDS
//! assert_eq!(v.ops, b"](\x8c\x02abr\x2c\x01\x00\x00j\x2c\x01\x00\x00e");
//! assert_eq!(v.memo_max, 301);
//!
//! let back = decode_value(&v.ops, 0, &DecodeOptions::default())?;
//! assert_eq!(encode_value(&back, 300)?, v);
//! # Ok::<(), mmpk_format::Error>(())
//! ```

use std::collections::{HashMap, HashSet};

use pickle_ops::decode::{decode_fragment, DecodeOptions};
use pickle_ops::encode::encode_fragment;
use pickle_ops::{text, NodeId, Op, Pickle};

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::write::write_entry;

mod shape;

/// The pickle protocol generic values are encoded with (the file's).
pub const PROTOCOL: u8 = 4;

/// Highest `memo_max` an entry can record (its `BININT` is an `i32`).
pub const MAX_MEMO: u32 = i32::MAX as u32;

/// A generic value's ops, rewritten for one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenericValue {
    /// The value's ops: a fragment that pushes one object, without
    /// `PROTO`, `FRAME` or `STOP`.
    pub ops: Vec<u8>,
    /// The next free memo index after this value (the entry's `memo_max`).
    pub memo_max: u32,
}

impl GenericValue {
    /// Appends this value as one entry (docs/format.md section 3) to `out`.
    pub fn write_entry(&self, out: &mut Vec<u8>, key: &str, live: bool) -> Result<()> {
        write_entry(out, key, &self.ops, self.memo_max, live)
    }
}

/// Encodes the root of `p` as CPython's `pickle.dumps(root, 4)` and
/// rewrites it for an entry whose memo starts at `memo_base` (for a file,
/// [`crate::Scan::memo_max`]). Arrays are written by [`crate::array`]:
/// numpy nodes here are an [`Error::Encode`].
pub fn encode_value(p: &Pickle, memo_base: u32) -> Result<GenericValue> {
    let root = p
        .try_root()
        .ok_or(Error::Encode(pickle_ops::encode::EncodeError {
            node: None,
            kind: pickle_ops::encode::EncodeErrorKind::NoRoot,
        }))?;
    encode_node_value(p, root, memo_base)
}

/// Encodes node `node` of `p` as CPython's `pickle.dumps(node, 4)` and
/// rewrites it for an entry whose memo starts at `memo_base`.
///
/// The encoder lists its memo ops as it writes them
/// ([`pickle_ops::encode::encode_fragment`]), so the rewrite copies the
/// bytes between them without parsing anything; the result is the same as
/// [`rewrite_pickle`] of `pickle.dumps(node, 4)`.
pub fn encode_node_value(p: &Pickle, node: NodeId, memo_base: u32) -> Result<GenericValue> {
    if memo_base > MAX_MEMO {
        return Err(Error::MemoMaxTooLarge {
            memo_max: memo_base,
        });
    }
    let f = encode_fragment(p, node).map_err(Error::Encode)?;
    if f.gets.is_empty() {
        // Nothing shared: no memo op is kept (the common case; no copy).
        return Ok(GenericValue {
            ops: f.ops,
            memo_max: memo_base,
        });
    }
    let mut fetched = vec![false; f.puts.len()];
    for &(_, _, i) in &f.gets {
        if let Some(x) = fetched.get_mut(i as usize) {
            *x = true;
        }
    }
    // The stores that are kept (fetched somewhere), in order.
    let kept: Vec<u32> = (0..f.puts.len() as u32)
        .filter(|&k| fetched[k as usize])
        .collect();
    let mut ki = 0;
    let mut gi = 0;
    let mut renumber = vec![u32::MAX; f.puts.len()];
    let mut out = Vec::with_capacity(f.ops.len() + 5 * (kept.len() + f.gets.len()));
    let mut next = memo_base;
    let mut at = 0;
    // Merge the kept stores and the fetches by position (a store comes
    // before a fetch at the same position: it belongs to the op before).
    while ki < kept.len() || gi < f.gets.len() {
        let store_pos = kept.get(ki).map(|&k| f.puts[k as usize]);
        let get = f.gets.get(gi).copied();
        let take_store = match (store_pos, get) {
            (Some(s), Some((g, _, _))) => s <= g,
            (Some(_), None) => true,
            _ => false,
        };
        if take_store {
            let k = kept[ki] as usize;
            let pos = f.puts[k];
            out.extend_from_slice(&f.ops[at..pos]);
            at = pos;
            if next >= MAX_MEMO {
                return Err(Error::MemoMaxTooLarge {
                    memo_max: next.saturating_add(1),
                });
            }
            renumber[k] = next;
            let put = match u8::try_from(next) {
                Ok(b) => Op::Binput(b),
                Err(_) => Op::LongBinput(next),
            };
            pickle_ops::write_op(&put, &mut out);
            next += 1;
            ki += 1;
        } else if let Some((pos, len, index)) = get {
            out.extend_from_slice(&f.ops[at..pos]);
            at = pos + len as usize;
            let new = renumber
                .get(index as usize)
                .copied()
                .filter(|&n| n != u32::MAX)
                .ok_or(Error::MemoGetWithoutPut {
                    offset: pos,
                    index: i64::from(index),
                })?;
            let op = match u8::try_from(new) {
                Ok(b) => Op::Binget(b),
                Err(_) => Op::LongBinget(new),
            };
            pickle_ops::write_op(&op, &mut out);
            gi += 1;
        }
    }
    let ops = f.ops;
    out.extend_from_slice(&ops[at..]);
    Ok(GenericValue {
        ops: out,
        memo_max: next,
    })
}

/// Encodes the root of `p` and appends it as one entry to `out` (the
/// mmappickle 1.0 writer's steps for a non-array value). Returns the
/// entry's `memo_max`, the file's memo base for the next entry if larger.
pub fn write_value_entry(
    out: &mut Vec<u8>,
    key: &str,
    p: &Pickle,
    memo_base: u32,
    live: bool,
) -> Result<u32> {
    if key.len() > crate::entry::MAX_KEY_LEN {
        return Err(Error::KeyTooLong { len: key.len() });
    }
    let v = encode_value(p, memo_base)?;
    v.write_entry(out, key, live)?;
    Ok(v.memo_max)
}

/// Rewrites a whole pickle (through its `STOP`; bytes after it are
/// ignored) as docs/format.md section 7 says, numbering the kept memo stores
/// from `memo_base`. Error offsets count from the start of `pickle`.
///
/// Any valid pickle of protocol 4 or less is accepted; CPython's protocol-4
/// output is what docs/format.md prescribes, and only for it is the result
/// guaranteed to be what mmappickle 1.0.0 writes.
///
/// The ops are checked for their structure on the way, without building
/// the value (the cost of a byte per stack item): bytes that are not
/// exactly one value (a stack underflow, a MARK left over, a second value),
/// or that CPython's `pickle.load` of the file would fail on for their
/// shape (APPEND to a tuple, an unhashable dict key, odd SETITEMS, text
/// that is not UTF-8 or ASCII where it must be, ...), are an
/// [`Error::Decode`] with the data-only decoder's error kinds, as
/// [`decode_value`] would give for them.
pub fn rewrite_pickle(pickle: &[u8], memo_base: u32) -> Result<GenericValue> {
    rewrite(pickle, 0, memo_base, Mode::Pickle)
}

/// Renumbers the memo of an entry's value ops (a fragment, such as
/// [`Entry::value_span`] of a file, found at `offset`) from `memo_base`,
/// with the same rules as [`rewrite_pickle`]: used to copy a generic entry
/// into another file, whose memo base differs. A `STOP` in the fragment is
/// an error; error offsets count from `offset`.
pub fn rebase_value(value: &[u8], offset: usize, memo_base: u32) -> Result<GenericValue> {
    rewrite(value, offset, memo_base, Mode::Fragment)
}

/// Decodes an entry's value ops (`value`, found at byte `offset` of the
/// file; error offsets count from there) into a raw [`Pickle`] with
/// `pickle-ops`' data-only decoder. The fragment must push exactly one
/// value, and may fetch only memo indices it stored itself.
pub fn decode_value(value: &[u8], offset: usize, opts: &DecodeOptions) -> Result<Pickle> {
    decode_fragment(value, offset, opts).map_err(Error::Decode)
}

/// Decodes the value of `entry`, an entry of `file` (from
/// [`crate::entry::parse_entry`] or [`crate::scan()`]), as [`decode_value`].
pub fn decode_entry_value(file: &[u8], entry: &Entry<'_>, opts: &DecodeOptions) -> Result<Pickle> {
    let end = entry
        .value_offset
        .checked_add(entry.value_len)
        .ok_or(Error::Overflow {
            offset: entry.value_offset,
        })?;
    let value = file.get(entry.value_offset..end).ok_or(Error::Truncated {
        offset: entry.value_offset,
        needed: entry.value_len as u64,
    })?;
    decode_value(value, entry.value_offset, opts)
}

/// Wraps value ops as a standalone pickle, `PROTO 4 <value> STOP`: what
/// mmappickle 1.0.0's reader hands to `pickle.loads`.
pub fn standalone_pickle(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len().saturating_add(3));
    out.extend_from_slice(&[0x80, PROTOCOL]);
    out.extend_from_slice(value);
    out.push(b'.');
    out
}

/// Renumbers an entry's value ops (found at `offset` of the file; error
/// offsets count from there) into a standalone pickle for CPython's
/// `pickle.loads`, `PROTO 4 <value> STOP`: the inverse of
/// [`rewrite_pickle`]. An entry's memo indices start at the file's running
/// maximum (up to [`MAX_MEMO`]), and CPython's unpickler sizes its memo
/// table by the largest index, so a value would cost gigabytes (or fail)
/// if merely wrapped with [`standalone_pickle`]; here the kept stores are
/// numbered from 0, so the memo holds exactly as many slots as the value
/// stores. Unfetched stores are dropped, fetches of indices the value did
/// not store are an [`Error::MemoGetWithoutPut`], a `STOP` inside the value
/// an [`Error::StopInValue`].
pub fn standalone_value(value: &[u8], offset: usize) -> Result<Vec<u8>> {
    let v = rewrite(value, offset, 0, Mode::Fragment)?;
    Ok(standalone_pickle(&v.ops))
}

/// What the rewriter is given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A whole pickle: `STOP` ends it.
    Pickle,
    /// An entry's value ops: `STOP` is an error.
    Fragment,
}

/// A memo op, classified.
enum Memo {
    /// A store of this (old) index; `MEMOIZE` has already been resolved.
    Put(u64),
    /// A fetch of this (old) index.
    Get(u64),
}

/// A set of memo indices, dense below `bits.len() * 64`, sparse above.
struct IndexSet {
    bits: Vec<u64>,
    sparse: HashSet<u64>,
}

impl IndexSet {
    fn new(dense_limit: usize) -> IndexSet {
        IndexSet {
            bits: vec![0; dense_limit.div_ceil(64)],
            sparse: HashSet::new(),
        }
    }

    fn insert(&mut self, i: u64) {
        match usize::try_from(i / 64)
            .ok()
            .and_then(|w| self.bits.get_mut(w))
        {
            Some(word) => *word |= 1 << (i % 64),
            None => {
                self.sparse.insert(i);
            }
        }
    }

    fn contains(&self, i: u64) -> bool {
        match usize::try_from(i / 64).ok().and_then(|w| self.bits.get(w)) {
            Some(word) => word & (1 << (i % 64)) != 0,
            None => !self.sparse.is_empty() && self.sparse.contains(&i),
        }
    }
}

/// The distinct memo indices stored so far, for `MEMOIZE` (which stores at
/// the memo's size, as CPython's unpickler does). `0..next` are all
/// present; `extra` holds the others, all above `next`.
#[derive(Default)]
struct Stored {
    next: u64,
    extra: HashSet<u64>,
}

impl Stored {
    #[inline]
    fn insert(&mut self, i: u64) {
        if i < self.next {
            return;
        }
        if i == self.next {
            self.next += 1;
            while !self.extra.is_empty() && self.extra.remove(&self.next) {
                self.next += 1;
            }
        } else {
            self.extra.insert(i);
        }
    }

    #[inline]
    fn len(&self) -> u64 {
        self.next + self.extra.len() as u64
    }
}

/// Old memo index -> new one, dense below `dense.len()`, sparse above.
struct Renumber {
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
}

const UNSET: u32 = u32::MAX;

impl Renumber {
    fn new(dense_limit: usize) -> Renumber {
        Renumber {
            dense: vec![UNSET; dense_limit],
            sparse: HashMap::new(),
        }
    }

    fn set(&mut self, old: u64, new: u32) {
        match usize::try_from(old)
            .ok()
            .and_then(|i| self.dense.get_mut(i))
        {
            Some(slot) => *slot = new,
            None => {
                self.sparse.insert(old, new);
            }
        }
    }

    fn get(&self, old: u64) -> Option<u32> {
        match usize::try_from(old).ok().and_then(|i| self.dense.get(i)) {
            Some(&UNSET) => None,
            Some(&v) => Some(v),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get(&old).copied(),
        }
    }
}

/// Classifies a memo op (`stored` resolves `MEMOIZE`'s implicit index).
/// `None` for every other op.
#[inline(always)]
fn memo_op(op: &Op<'_>, offset: usize, stored: &Stored) -> Result<Option<Memo>> {
    let index = |t: &[u8]| text::index_text(t).unwrap_or(-1);
    Ok(Some(match *op {
        Op::Memoize => Memo::Put(stored.len()),
        Op::Binput(i) => Memo::Put(u64::from(i)),
        Op::LongBinput(i) => Memo::Put(u64::from(i)),
        Op::Put(t) => {
            let i = index(t);
            Memo::Put(u64::try_from(i).map_err(|_| Error::NegativeMemoPut { offset })?)
        }
        Op::Binget(i) => Memo::Get(u64::from(i)),
        Op::LongBinget(i) => Memo::Get(u64::from(i)),
        Op::Get(t) => {
            let i = index(t);
            Memo::Get(u64::try_from(i).map_err(|_| Error::MemoGetWithoutPut { offset, index: i })?)
        }
        _ => return Ok(None),
    }))
}

/// What a pass of the rewriter does with each op: `start` and `end` are
/// indices into its input.
trait Visit<'a> {
    fn op(&mut self, start: usize, op: Op<'a>, end: usize) -> Result<()>;
}

/// Runs `v` over the ops of `input` (found at `base` of the file), through
/// `STOP` for a whole pickle, to the end of the input for a fragment;
/// returns where the walk ended. A parse error ends it with its file
/// offset.
///
/// Ops are parsed with [`pickle_ops::parse::parse_op_with`], `v` inlined
/// into each opcode's branch of its fast path: one dispatch per op.
#[inline(always)]
fn walk<'a>(input: &'a [u8], base: usize, mode: Mode, v: &mut impl Visit<'a>) -> Result<usize> {
    let mut pos = 0;
    loop {
        if mode == Mode::Fragment && pos >= input.len() {
            return Ok(pos);
        }
        let rest = input.get(pos..).unwrap_or_default();
        let (end, stop) =
            pickle_ops::parse::parse_op_with(rest, At { v, pos }).map_err(|mut e| {
                e.offset = base.saturating_add(pos);
                Error::Op(e)
            })??;
        pos = end;
        if stop && mode == Mode::Pickle {
            return Ok(pos);
        }
    }
}

/// A visit of the op at `pos`: `v` inlined into each branch of
/// `parse_op_with`'s fast path.
struct At<'v, V> {
    v: &'v mut V,
    pos: usize,
}

impl<'a, V: Visit<'a>> pickle_ops::parse::OpVisit<'a> for At<'_, V> {
    type Output = Result<(usize, bool)>;

    #[inline(always)]
    fn visit(self, op: Op<'a>, n: usize) -> Self::Output {
        let stop = matches!(op, Op::Stop);
        let end = self.pos + n;
        self.v.op(self.pos, op, end).map(|()| (end, stop))
    }
}

/// Pass 1: checks the ops, counts the stores, notes every fetched index
/// and, until the first fetch, writes the output with every memo store
/// dropped.
struct Check<'a> {
    input: &'a [u8],
    base: usize,
    mode: Mode,
    /// The structural check, for a whole pickle (a value to store).
    shape: Option<shape::Shape>,
    stores: usize,
    fetched: Vec<u64>,
    stored: Stored,
    /// The output without any memo store, while nothing is fetched.
    out: Vec<u8>,
    /// Where the pending run of copied ops starts.
    run: usize,
}

impl<'a> Visit<'a> for Check<'a> {
    #[inline(always)]
    fn op(&mut self, start: usize, op: Op<'a>, end: usize) -> Result<()> {
        let offset = self.base.saturating_add(start);
        match op {
            Op::Proto(p) if p > PROTOCOL => {
                return Err(Error::UnsupportedProtocol {
                    offset,
                    protocol: p,
                })
            }
            Op::Stop if self.mode == Mode::Fragment => return Err(Error::StopInValue { offset }),
            _ => {}
        }
        if let Some(shape) = self.shape.as_mut() {
            shape.step(offset, &op).map_err(Error::Decode)?;
        }
        match memo_op(&op, offset, &self.stored)? {
            Some(Memo::Put(i)) => {
                self.stores += 1;
                self.stored.insert(i);
            }
            Some(Memo::Get(i)) => self.fetched.push(i),
            None if !matches!(op, Op::Proto(_) | Op::Frame(_) | Op::Stop) => return Ok(()),
            None => {}
        }
        // A dropped op (for now: every memo op, the framing).
        if self.fetched.is_empty() {
            self.out.extend_from_slice(&self.input[self.run..start]);
        }
        self.run = end;
        Ok(())
    }
}

/// Pass 2 (only for a value that fetches): copies runs of other ops as
/// they are, writes the renumbered memo ops with `pickle-ops`' writer,
/// drops the rest.
struct Renumbering<'a> {
    input: &'a [u8],
    base: usize,
    fetched: IndexSet,
    renumber: Renumber,
    stored: Stored,
    next: u32,
    out: Vec<u8>,
    run: usize,
}

impl<'a> Visit<'a> for Renumbering<'a> {
    #[inline(always)]
    fn op(&mut self, start: usize, op: Op<'a>, end: usize) -> Result<()> {
        let offset = self.base.saturating_add(start);
        let memo = memo_op(&op, offset, &self.stored)?;
        if memo.is_none() && !matches!(op, Op::Proto(_) | Op::Frame(_) | Op::Stop) {
            return Ok(());
        }
        self.out.extend_from_slice(&self.input[self.run..start]);
        self.run = end;
        match memo {
            Some(Memo::Put(i)) => {
                self.stored.insert(i);
                if self.fetched.contains(i) {
                    let next = self.next;
                    if next >= MAX_MEMO {
                        return Err(Error::MemoMaxTooLarge {
                            memo_max: next.saturating_add(1),
                        });
                    }
                    self.renumber.set(i, next);
                    let put = match u8::try_from(next) {
                        Ok(b) => Op::Binput(b),
                        Err(_) => Op::LongBinput(next),
                    };
                    pickle_ops::write_op(&put, &mut self.out);
                    self.next += 1;
                }
            }
            Some(Memo::Get(i)) => {
                let new = self.renumber.get(i).ok_or(Error::MemoGetWithoutPut {
                    offset,
                    index: i64::try_from(i).unwrap_or(i64::MAX),
                })?;
                let get = match u8::try_from(new) {
                    Ok(b) => Op::Binget(b),
                    Err(_) => Op::LongBinget(new),
                };
                pickle_ops::write_op(&get, &mut self.out);
            }
            // PROTO, FRAME, STOP: dropped.
            None => {}
        }
        Ok(())
    }
}

/// The rewrite of `input` (found at `base` of the file: offsets in errors
/// count from there).
///
/// Pass 1 ([`Check`]) already writes the output with every memo store
/// dropped while nothing is fetched: for a value that fetches nothing (no
/// shared or recursive object, the common case) that is the result, one
/// pass over the ops. A value that fetches takes pass 2
/// ([`Renumbering`]), which keeps the fetched stores and renumbers them.
fn rewrite(input: &[u8], base: usize, memo_base: u32, mode: Mode) -> Result<GenericValue> {
    if memo_base > MAX_MEMO {
        return Err(Error::MemoMaxTooLarge {
            memo_max: memo_base,
        });
    }
    let mut check = Check {
        input,
        base,
        mode,
        shape: (mode == Mode::Pickle).then(shape::Shape::default),
        stores: 0,
        fetched: Vec::new(),
        stored: Stored::default(),
        out: Vec::with_capacity(input.len()),
        run: 0,
    };
    let last = walk(input, base, mode, &mut check)?;
    let Check {
        stores,
        fetched: fetched_list,
        mut out,
        run,
        ..
    } = check;
    if fetched_list.is_empty() {
        // After STOP, bytes are ignored.
        out.extend_from_slice(&input[run..last]);
        return Ok(GenericValue {
            ops: out,
            memo_max: memo_base,
        });
    }
    drop(out);
    // Dense tables cover the fetched indices MEMOIZE can reach; explicit
    // indices may be anything, so those above go to the sparse side.
    let dense = fetched_list
        .iter()
        .max()
        .and_then(|&m| usize::try_from(m).ok())
        .map_or(0, |m| m.saturating_add(1))
        .min(stores);
    let mut fetched = IndexSet::new(dense);
    for &i in &fetched_list {
        fetched.insert(i);
    }
    drop(fetched_list);
    let mut pass2 = Renumbering {
        input,
        base,
        fetched,
        renumber: Renumber::new(dense),
        stored: Stored::default(),
        next: memo_base,
        out: Vec::with_capacity(input.len()),
        run: 0,
    };
    let last = walk(input, base, mode, &mut pass2)?;
    let mut out = pass2.out;
    out.extend_from_slice(&input[pass2.run..last]);
    Ok(GenericValue {
        ops: out,
        memo_max: pass2.next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps([x, x], 4)` with `x = 'ab'`.
    const SHARED: &[u8] =
        b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x02ab\x94h\x01e.";

    #[test]
    fn unused_stores_and_framing_are_dropped() {
        // pickle.dumps([[1], [2]], 4): three MEMOIZE, no GET.
        let p = b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94K\x01a]\x94K\x02ae.";
        for base in [0, 1, 7, 255, 256, MAX_MEMO] {
            let v = rewrite_pickle(p, base).unwrap();
            assert_eq!(v.ops, b"](]K\x01a]K\x02ae");
            assert_eq!(v.memo_max, base);
        }
    }

    #[test]
    fn kept_stores_are_numbered_from_the_base() {
        let v = rewrite_pickle(SHARED, 1).unwrap();
        assert_eq!(v.ops, b"](\x8c\x02abq\x01h\x01e");
        assert_eq!(v.memo_max, 2);
        let v = rewrite_pickle(SHARED, 255).unwrap();
        assert_eq!(v.ops, b"](\x8c\x02abq\xffh\xffe");
        assert_eq!(v.memo_max, 256);
        let v = rewrite_pickle(SHARED, 256).unwrap();
        assert_eq!(v.ops, b"](\x8c\x02abr\x00\x01\x00\x00j\x00\x01\x00\x00e");
        assert_eq!(v.memo_max, 257);
        // A dict holding itself: its own store is kept (index 0 -> base).
        let d = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x02me\x94h\x00s.";
        let v = rewrite_pickle(d, 9).unwrap();
        assert_eq!(v.ops, b"}q\x09\x8c\x02meh\x09s");
        assert_eq!(v.memo_max, 10);
    }

    #[test]
    fn older_protocols_and_text_memo_ops() {
        // pickle.dumps([x, x], 0) and (.., 2)
        let v = rewrite_pickle(b"(lp0\nVab\np1\nag1\na.", 3).unwrap();
        assert_eq!(v.ops, b"(lVab\nq\x03ah\x03a");
        assert_eq!(v.memo_max, 4);
        let v = rewrite_pickle(b"\x80\x02]q\x00(X\x02\x00\x00\x00abq\x01h\x01e.", 3).unwrap();
        assert_eq!(v.ops, b"](X\x02\x00\x00\x00abq\x03h\x03e");
        // A store of an index stored twice: fetches follow the latest store.
        let v = rewrite_pickle(b"(Nq\x05Nq\x05h\x05t.", 1).unwrap();
        assert_eq!(v.ops, b"(Nq\x01Nq\x02h\x02t");
        // MEMOIZE stores at the memo's size (distinct indices so far).
        let v = rewrite_pickle(b"(Nq\x00Nq\x00N\x94h\x01t.", 1).unwrap();
        assert_eq!(v.ops, b"(NNNq\x01h\x01t");
    }

    #[test]
    fn bad_memo_use_is_a_typed_error() {
        assert_eq!(
            rewrite_pickle(b"\x80\x04h\x00.", 1),
            Err(Error::MemoGetWithoutPut {
                offset: 2,
                index: 0
            })
        );
        assert_eq!(
            rewrite_pickle(b"Ng-1\n.", 1),
            Err(Error::MemoGetWithoutPut {
                offset: 1,
                index: -1
            })
        );
        assert_eq!(
            rewrite_pickle(b"Np-1\n.", 1),
            Err(Error::NegativeMemoPut { offset: 1 })
        );
        assert_eq!(
            rewrite_pickle(b"\x80\x05N.", 1),
            Err(Error::UnsupportedProtocol {
                offset: 0,
                protocol: 5
            })
        );
        let e = rewrite_pickle(b"\x80\x04h\x00.", 1).unwrap_err();
        assert!(e.to_string().starts_with("at byte 2: memo index 0"), "{e}");
        let e = decode_value(b"", 7, &DecodeOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with("at byte 7:"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(matches!(rewrite_pickle(b"N", 1), Err(Error::Op(_))));
        assert!(matches!(rewrite_pickle(b"\xff", 1), Err(Error::Op(_))));
        assert_eq!(
            rewrite_pickle(b"N.", MAX_MEMO + 1),
            Err(Error::MemoMaxTooLarge {
                memo_max: MAX_MEMO + 1
            })
        );
        assert_eq!(
            rewrite_pickle(SHARED, MAX_MEMO),
            Err(Error::MemoMaxTooLarge {
                memo_max: MAX_MEMO + 1
            })
        );
        assert_eq!(
            rewrite_pickle(SHARED, MAX_MEMO - 1).unwrap().memo_max,
            MAX_MEMO
        );
        assert_eq!(
            rebase_value(b"N.", 40, 1),
            Err(Error::StopInValue { offset: 41 })
        );
    }

    #[test]
    fn rebasing_a_value_is_rewriting_at_the_new_base() {
        let at1 = rewrite_pickle(SHARED, 1).unwrap();
        for base in [1, 2, 255, 256, 70000] {
            assert_eq!(
                rebase_value(&at1.ops, 0, base).unwrap(),
                rewrite_pickle(SHARED, base).unwrap()
            );
        }
    }

    #[test]
    fn values_decode_from_their_bytes_alone() {
        let v = rewrite_pickle(SHARED, 70000).unwrap();
        let p = decode_value(&v.ops, 0, &DecodeOptions::default()).unwrap();
        assert_eq!(encode_value(&p, 70000).unwrap(), v);
        let whole =
            pickle_ops::decode::decode(&standalone_pickle(&v.ops), &DecodeOptions::default());
        assert_eq!(
            pickle_ops::encode::encode(&whole.unwrap(), 4).unwrap(),
            SHARED
        );
        // A fetch of another entry's store is an error, at the file offset.
        let e = decode_value(b"h\x01", 100, &DecodeOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Decode(ref d) if d.offset == 100), "{e}");
        assert!(decode_value(b"", 0, &DecodeOptions::default()).is_err());
        assert!(decode_value(b"NN", 0, &DecodeOptions::default()).is_err());
        assert!(decode_value(b"N.", 0, &DecodeOptions::default()).is_err());
    }

    #[test]
    fn standalone_values_number_their_memo_from_zero() {
        for base in [1, 255, 256, 70000, MAX_MEMO - 1] {
            let v = rewrite_pickle(SHARED, base).unwrap();
            let whole = standalone_value(&v.ops, 0).unwrap();
            // PROTO 4, the value with its one kept store as index 0, STOP.
            assert_eq!(whole, b"\x80\x04](\x8c\x02abq\x00h\x00e.");
            let p = pickle_ops::decode::decode(&whole, &DecodeOptions::default()).unwrap();
            assert_eq!(pickle_ops::encode::encode(&p, 4).unwrap(), SHARED);
        }
        // Nothing shared: no memo op at all.
        assert_eq!(
            standalone_value(b"](K\x01e", 0).unwrap(),
            b"\x80\x04](K\x01e."
        );
        // Bad values are typed errors at their file offsets.
        assert_eq!(
            standalone_value(b"Nh\x05", 30),
            Err(Error::MemoGetWithoutPut {
                offset: 31,
                index: 5
            })
        );
        assert_eq!(
            standalone_value(b"N.", 40),
            Err(Error::StopInValue { offset: 41 })
        );
        assert!(matches!(standalone_value(b"\xff", 0), Err(Error::Op(_))));
    }

    #[test]
    fn sparse_memo_indices_decode() {
        // NONE BINPUT 33 POP NONE BINPUT 34 POP BINGET 33: pickle.loads of
        // it wrapped gives None. pickle-ops' decoder alone reports index 33
        // missing (its dense memo table grows over the sparse entry).
        let v = b"Nq\x21\x30Nq\x22\x30h\x21";
        let p = decode_value(v, 0, &DecodeOptions::default()).unwrap();
        assert_eq!(pickle_ops::encode::encode(&p, 4).unwrap(), b"\x80\x04N.");
        // A genuinely missing index is still an error, at its offset.
        let e = decode_value(b"Nq\x21\x30Nq\x22\x30h\x23", 10, &DecodeOptions::default());
        assert!(
            matches!(e, Err(Error::Decode(ref d)) if d.offset == 18),
            "{e:?}"
        );
    }

    #[test]
    fn entries_are_written_and_decoded() {
        let p = pickle_ops::decode::decode(SHARED, &DecodeOptions::default()).unwrap();
        let mut file = vec![0u8; 5];
        let memo = write_value_entry(&mut file, "k", &p, 1, true).unwrap();
        assert_eq!(memo, 2);
        let e = crate::entry::parse_entry(&file, 5).unwrap();
        assert_eq!(e.memo_max, 2);
        assert_eq!(&file[e.value_span()], b"](\x8c\x02abq\x01h\x01e");
        let back = decode_entry_value(&file, &e, &DecodeOptions::default()).unwrap();
        assert_eq!(pickle_ops::encode::encode(&back, 4).unwrap(), SHARED);
        let bad = Entry {
            value_len: usize::MAX,
            ..e
        };
        assert!(decode_entry_value(&file, &bad, &DecodeOptions::default()).is_err());
        let bad = Entry {
            value_len: 100,
            ..e
        };
        assert!(decode_entry_value(&file, &bad, &DecodeOptions::default()).is_err());
        assert_eq!(
            write_value_entry(&mut file, &"x".repeat(256), &p, 1, true),
            Err(Error::KeyTooLong { len: 256 })
        );
        assert!(matches!(
            encode_value(&Pickle::new(), 1),
            Err(Error::Encode(_))
        ));
    }
}
