//! A streaming cursor over a value's ops, for the array and masked-array
//! decoders: one op of look-ahead, memo ops skipped where the layout has
//! none, and a data-only reader for the dtype (a string, or a descr list
//! built from lists, tuples, strings and ints, memo ops included).

use std::collections::HashMap;
use std::ops::Range;

use pickle_ops::{Op, Ops};

use crate::dtype::MAX_DIMS;
use crate::error::{Error, Result};
use crate::pickled::long1_to_u64;
use crate::pylit::{Lit, MAX_DEPTH, MAX_NODES};

/// A dtype as written: a string, or a literal (a descr list).
#[derive(Clone, Debug)]
pub(crate) enum RawDtype<'a> {
    Str(&'a str),
    Lit(Lit),
}

pub(crate) struct Cursor<'a> {
    ops: Ops<'a>,
    peeked: Option<(usize, Op<'a>)>,
    /// End of the value (offset of a missing op).
    pub end: usize,
    /// Memo indices stored so far (values known only inside a dtype).
    memo: HashMap<u32, Option<(Lit, usize)>>,
}

fn is_memo(op: &Op<'_>) -> bool {
    matches!(op, Op::Memoize | Op::Binput(_) | Op::LongBinput(_))
}

impl<'a> Cursor<'a> {
    /// A cursor over `file[span]`; offsets are the file's.
    pub fn new(file: &'a [u8], span: Range<usize>) -> Result<Cursor<'a>> {
        let start = span.start;
        let end = span.end;
        let value = file.get(span).ok_or(Error::Truncated {
            offset: start,
            needed: end.saturating_sub(start) as u64,
        })?;
        Ok(Cursor {
            ops: Ops::fragment(value, start),
            peeked: None,
            end,
            memo: HashMap::new(),
        })
    }

    /// The next op, memo ops included.
    fn peek_any(&mut self) -> Result<Option<(usize, Op<'a>)>> {
        if self.peeked.is_none() {
            self.peeked = self.ops.next().transpose()?;
        }
        Ok(self.peeked)
    }

    fn take_any(&mut self) -> Result<Option<(usize, Op<'a>)>> {
        let p = self.peek_any()?;
        self.peeked = None;
        Ok(p)
    }

    /// Records a memo op's index (its value unknown: outside a dtype).
    fn note_memo(&mut self, op: &Op<'_>, value: Option<(Lit, usize)>) {
        let idx = match *op {
            Op::Memoize => u32::try_from(self.memo.len()).unwrap_or(u32::MAX),
            Op::Binput(i) => u32::from(i),
            Op::LongBinput(i) => i,
            _ => return,
        };
        self.memo.insert(idx, value);
    }

    /// The next op that is not a memo op, without consuming it.
    pub fn peek(&mut self) -> Result<Option<(usize, Op<'a>)>> {
        while let Some((_, op)) = self.peek_any()? {
            if !is_memo(&op) {
                break;
            }
            self.note_memo(&op, None);
            self.peeked = None;
        }
        self.peek_any()
    }

    /// The next op that is not a memo op.
    pub fn next(&mut self, what: &'static str) -> Result<(usize, Op<'a>)> {
        self.peek()?;
        self.take_any()?.ok_or(Error::NotAnArray {
            offset: self.end,
            what,
        })
    }

    /// The next op, which must satisfy `ok`.
    pub fn op(&mut self, ok: impl Fn(&Op<'a>) -> bool, what: &'static str) -> Result<usize> {
        let (at, o) = self.next(what)?;
        if ok(&o) {
            Ok(at)
        } else {
            Err(Error::NotAnArray { offset: at, what })
        }
    }

    /// A `SHORT_BINUNICODE`/`BINUNICODE` equal to `want`.
    pub fn string(&mut self, want: &str, what: &'static str) -> Result<usize> {
        let w = want.as_bytes();
        self.op(
            |o| matches!(o, Op::ShortBinunicode(s) | Op::Binunicode(s) if *s == w),
            what,
        )
    }

    /// `module name STACK_GLOBAL`.
    pub fn global(&mut self, module: &str, name: &str) -> Result<usize> {
        let at = self.string(module, "the module of a global")?;
        self.string(name, "the name of a global")?;
        self.op(|o| matches!(o, Op::StackGlobal), "STACK_GLOBAL")?;
        Ok(at)
    }

    /// The string of the next non-memo op, if it is a unicode op.
    pub fn peek_str(&mut self) -> Result<Option<&'a [u8]>> {
        Ok(match self.peek()? {
            Some((_, Op::ShortBinunicode(s) | Op::Binunicode(s) | Op::Binunicode8(s))) => Some(s),
            _ => None,
        })
    }

    /// Whether the value has no more (non-memo) ops.
    pub fn at_end(&mut self) -> Result<Option<usize>> {
        Ok(self.peek()?.map(|(at, _)| at))
    }

    /// The raw bytes: `BINBYTES8`, `BINBYTES` or `SHORT_BINBYTES`; returns
    /// the op's offset and the payload's span.
    pub fn raw_bytes(&mut self) -> Result<(usize, Range<usize>)> {
        let what = "BINBYTES8, BINBYTES or SHORT_BINBYTES";
        let (at, raw) = self.next(what)?;
        let (head, bytes) = match raw {
            Op::Binbytes8(b) => (9, b),
            Op::Binbytes(b) => (5, b),
            Op::ShortBinbytes(b) => (2, b),
            _ => return Err(Error::NotAnArray { offset: at, what }),
        };
        let start = at.checked_add(head).ok_or(Error::Overflow { offset: at })?;
        let end = start
            .checked_add(bytes.len())
            .ok_or(Error::Overflow { offset: at })?;
        Ok((at, start..end))
    }

    /// A tuple of non-negative ints, in any of CPython's forms.
    pub fn shape(&mut self) -> Result<Vec<u64>> {
        let (at, first) = self.next("the shape tuple")?;
        let marked = match first {
            Op::EmptyTuple => return Ok(Vec::new()),
            Op::Mark => true,
            _ => {
                self.peeked = Some((at, first));
                false
            }
        };
        let mut dims = Vec::new();
        loop {
            let what = "a dimension or the end of the shape";
            let (op_at, o) = self.next(what)?;
            let bad = |what| Error::NotAnArray {
                offset: op_at,
                what,
            };
            let dim = match o {
                Op::Binint1(v) => u64::from(v),
                Op::Binint2(v) => u64::from(v),
                Op::Binint(v) => u64::try_from(v).map_err(|_| bad("a non-negative dimension"))?,
                Op::Long1(b) => long1_to_u64(b).ok_or(bad("a dimension below 2^64"))?,
                Op::Tuple if marked => break,
                Op::Tuple1 | Op::Tuple2 | Op::Tuple3 if !marked => {
                    let n = match o {
                        Op::Tuple1 => 1,
                        Op::Tuple2 => 2,
                        _ => 3,
                    };
                    if dims.len() != n {
                        return Err(bad("a TUPLEn matching the number of dimensions"));
                    }
                    break;
                }
                _ => return Err(bad("a dimension (BININT1, BININT2, BININT, LONG1)")),
            };
            if dims.len() == MAX_DIMS {
                return Err(Error::TooManyDims {
                    ndim: dims.len() + 1,
                });
            }
            dims.push(dim);
        }
        Ok(dims)
    }

    /// The dtype: ops up to the `TUPLE2` that pairs it with the array data.
    pub fn dtype(&mut self) -> Result<(usize, RawDtype<'a>)> {
        let (start, first) = match self.peek()? {
            Some(p) => p,
            None => {
                return Err(Error::NotAnArray {
                    offset: self.end,
                    what: "the dtype",
                })
            }
        };
        if let Op::ShortBinunicode(s) | Op::Binunicode(s) | Op::Binunicode8(s) = first {
            self.take_any()?;
            let text = std::str::from_utf8(s).map_err(|_| Error::NotAnArray {
                offset: start,
                what: "a UTF-8 dtype string",
            })?;
            let lit = Lit::Str(text.to_string());
            // Memo stores of the string itself.
            while let Some((_, op)) = self.peek_any()? {
                if !is_memo(&op) {
                    break;
                }
                self.note_memo(&op, Some((lit.clone(), 0)));
                self.peeked = None;
            }
            if matches!(self.peek_any()?, Some((_, Op::Tuple2))) {
                return Ok((start, RawDtype::Str(text)));
            }
            // Not a lone string: go on with the general reader.
            let mut stack = vec![(lit, 1usize, 0usize)];
            return self.dtype_lit(start, &mut stack);
        }
        self.dtype_lit(start, &mut Vec::new())
    }

    /// The general dtype reader: a small stack machine over data ops.
    fn dtype_lit(
        &mut self,
        start: usize,
        stack: &mut Vec<(Lit, usize, usize)>,
    ) -> Result<(usize, RawDtype<'a>)> {
        let mut marks: Vec<usize> = Vec::new();
        let mut budget = stack.len();
        loop {
            let Some((at, op)) = self.peek_any()? else {
                return Err(Error::NotAnArray {
                    offset: self.end,
                    what: "the end of the dtype",
                });
            };
            if stack.len() == 1 && marks.is_empty() && matches!(op, Op::Tuple2) {
                let (lit, _, _) = stack.pop().ok_or(Error::Overflow { offset: at })?;
                return Ok((start, RawDtype::Lit(lit)));
            }
            self.peeked = None;
            let bad = |what| Error::NotAnArray { offset: at, what };
            let leaf = |l: Lit| (l, 1usize, 0usize);
            let item = match op {
                Op::ShortBinunicode(s) | Op::Binunicode(s) | Op::Binunicode8(s) => {
                    Some(leaf(Lit::Str(utf8(s, at)?)))
                }
                Op::Binint1(v) => Some(leaf(Lit::Int(v.into()))),
                Op::Binint2(v) => Some(leaf(Lit::Int(v.into()))),
                Op::Binint(v) => Some(leaf(Lit::Int(
                    u64::try_from(v).map_err(|_| bad("a non-negative int"))?,
                ))),
                Op::Long1(b) => Some(leaf(Lit::Int(
                    long1_to_u64(b).ok_or(bad("an int below 2^64"))?,
                ))),
                Op::EmptyList => Some(leaf(Lit::List(Vec::new()))),
                Op::EmptyTuple => Some(leaf(Lit::Tuple(Vec::new()))),
                Op::Mark => {
                    marks.push(stack.len());
                    None
                }
                Op::Append | Op::Appends => {
                    let from = if matches!(op, Op::Append) {
                        stack.len().checked_sub(1).ok_or(bad("an item to append"))?
                    } else {
                        marks.pop().ok_or(bad("a MARK before APPENDS"))?
                    };
                    if from == 0 || from > stack.len() {
                        return Err(bad("a list to append to"));
                    }
                    let items: Vec<_> = stack.drain(from..).collect();
                    let (list, n, d) = stack.last_mut().ok_or(bad("a list"))?;
                    let Lit::List(l) = list else {
                        return Err(bad("a list to append to"));
                    };
                    for (v, vn, vd) in items {
                        *n += vn;
                        *d = (*d).max(vd + 1);
                        l.push(v);
                    }
                    if *d > MAX_DEPTH {
                        return Err(bad("a dtype nested at most 32 deep"));
                    }
                    None
                }
                Op::List | Op::Tuple | Op::Tuple1 | Op::Tuple2 | Op::Tuple3 => {
                    let from = match op {
                        Op::List | Op::Tuple => marks.pop().ok_or(bad("a MARK"))?,
                        Op::Tuple1 => stack.len().checked_sub(1).ok_or(bad("1 item"))?,
                        Op::Tuple2 => stack.len().checked_sub(2).ok_or(bad("2 items"))?,
                        _ => stack.len().checked_sub(3).ok_or(bad("3 items"))?,
                    };
                    if marks.last().is_some_and(|&m| m > from) || from > stack.len() {
                        return Err(bad("items above the last MARK"));
                    }
                    let (mut n, mut d) = (1usize, 0usize);
                    let items: Vec<Lit> = stack
                        .drain(from..)
                        .map(|(v, vn, vd)| {
                            n += vn;
                            d = d.max(vd + 1);
                            v
                        })
                        .collect();
                    if d > MAX_DEPTH {
                        return Err(bad("a dtype nested at most 32 deep"));
                    }
                    let lit = if matches!(op, Op::List) {
                        Lit::List(items)
                    } else {
                        Lit::Tuple(items)
                    };
                    Some((lit, n, d))
                }
                Op::Memoize | Op::Binput(_) | Op::LongBinput(_) => {
                    let top = stack.last().map(|(l, n, d)| (l.clone(), *n, *d));
                    if let Some((_, n, _)) = &top {
                        budget = budget.saturating_add(*n);
                    }
                    self.note_memo(&op, top.map(|(l, _, d)| (l, d)));
                    None
                }
                Op::Binget(_) | Op::LongBinget(_) => {
                    let idx = match op {
                        Op::Binget(i) => u32::from(i),
                        Op::LongBinget(i) => i,
                        _ => 0,
                    };
                    let Some(Some((lit, d))) = self.memo.get(&idx) else {
                        return Err(bad("a memo index stored inside the dtype"));
                    };
                    let n = count_nodes(lit);
                    Some((lit.clone(), n, *d))
                }
                _ => return Err(bad("a dtype (str or descr list) op")),
            };
            if let Some(it) = item {
                budget = budget.saturating_add(it.1);
                stack.push(it);
            }
            if budget > MAX_NODES || stack.len() > MAX_NODES {
                return Err(Error::NotAnArray {
                    offset: at,
                    what: "a smaller dtype",
                });
            }
        }
    }
}

fn utf8(s: &[u8], at: usize) -> Result<String> {
    std::str::from_utf8(s)
        .map(str::to_string)
        .map_err(|_| Error::NotAnArray {
            offset: at,
            what: "UTF-8 text in a dtype",
        })
}

/// Nodes of a literal (bounded by [`MAX_NODES`] through the budget).
fn count_nodes(l: &Lit) -> usize {
    match l {
        Lit::List(v) | Lit::Tuple(v) => 1 + v.iter().map(count_nodes).sum::<usize>(),
        Lit::Dict(v) => {
            1 + v
                .iter()
                .map(|(a, b)| count_nodes(a) + count_nodes(b))
                .sum::<usize>()
        }
        _ => 1,
    }
}
