//! The structural check of a pickle stored as a generic value
//! ([`super::rewrite_pickle`]): the ops are run on a stack of *kinds*
//! (list, dict, set, tuple, str, other plain data, or anything an object
//! call or a memo fetch may give), not of values, so nothing is built and
//! the cost is a byte per stack item.
//!
//! It refuses, with the data-only decoder's own error kinds
//! ([`DecodeErrorKind`]), what would break the file's one big pickle or
//! make CPython's `pickle.load` of it fail:
//!
//! - a stack underflow, an op that needs a MARK without one, a MARK left
//!   over, other than exactly one value at STOP;
//! - container ops on targets that cannot take them (APPEND to a tuple,
//!   SETITEM on a str, BUILD on a list, REDUCE of plain data, ...), odd
//!   SETITEMS/DICT items, unhashable dict keys and set members (lists,
//!   dicts, sets, and tuples holding one);
//! - text that is not what its op needs: non-UTF-8 `BINUNICODE` (lone
//!   surrogates are allowed, as CPython's `surrogatepass`) and `GLOBAL`
//!   names, Python 2 strings and ids that are not ASCII, malformed
//!   protocol 0 text.
//!
//! What it cannot see, it allows: an object made by REDUCE or NEWOBJ, or
//! fetched from the memo, may be anything. Memo discipline (a fetch of an
//! index never stored) is the rewriter's own check.

use pickle_ops::decode::{DecodeError, DecodeErrorKind as K};
use pickle_ops::parse::ParseErrorKind;
use pickle_ops::{text, Op, Opcode};

/// What the check knows of a stack item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Made by an object call, a global, a memo fetch, a persistent id...:
    /// anything (hashable, callable and a target, as far as the check
    /// knows).
    Any,
    Str,
    /// None, bool, int, float, bytes: hashable data.
    Plain,
    ByteArray,
    /// A tuple of hashable items (or of `Any`).
    Tuple,
    /// A tuple holding an unhashable item.
    TupleUnhashable,
    List,
    Dict,
    Set,
    FrozenSet,
}

impl Kind {
    fn hashable(self) -> bool {
        !matches!(
            self,
            Kind::ByteArray | Kind::TupleUnhashable | Kind::List | Kind::Dict | Kind::Set
        )
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Any => "object",
            Kind::Str => "str",
            Kind::Plain => "scalar",
            Kind::ByteArray => "bytearray",
            Kind::Tuple | Kind::TupleUnhashable => "tuple",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::Set => "set",
            Kind::FrozenSet => "frozenset",
        }
    }

    fn tuple_of(items: &[Kind]) -> Kind {
        if items.iter().all(|k| k.hashable()) {
            Kind::Tuple
        } else {
            Kind::TupleUnhashable
        }
    }
}

/// The check's state: the kinds on the stack and where the marks are.
#[derive(Debug, Default)]
pub(super) struct Shape {
    stack: Vec<Kind>,
    marks: Vec<usize>,
}

type Step = std::result::Result<(), K>;

impl Shape {
    /// Items above the topmost mark.
    #[inline]
    fn depth(&self) -> usize {
        self.stack.len() - self.marks.last().copied().unwrap_or(0)
    }

    #[inline]
    fn pop(&mut self) -> std::result::Result<Kind, K> {
        if self.depth() == 0 {
            return Err(K::StackUnderflow);
        }
        Ok(self.stack.pop().expect("depth checked"))
    }

    #[inline]
    fn top(&self) -> std::result::Result<Kind, K> {
        if self.depth() == 0 {
            return Err(K::StackUnderflow);
        }
        Ok(*self.stack.last().expect("depth checked"))
    }

    /// Pops the items above the topmost mark and the mark; returns where
    /// they start (they stay on the stack: the caller truncates).
    #[inline]
    fn pop_mark(&mut self) -> std::result::Result<usize, K> {
        self.marks.pop().ok_or(K::NoMark)
    }

    /// The target of an op below what it pops: there must be one above
    /// the (new) topmost mark.
    #[inline]
    fn target(&self, at: usize) -> std::result::Result<Kind, K> {
        let fence = self.marks.last().copied().unwrap_or(0);
        if at <= fence {
            return Err(K::StackUnderflow);
        }
        Ok(self.stack[at - 1])
    }

    fn hashable_keys(items: &[Kind], step: usize) -> Step {
        match items.iter().step_by(step).find(|k| !k.hashable()) {
            Some(k) => Err(K::Unhashable(k.name())),
            None => Ok(()),
        }
    }

    fn wrong(op: Opcode, found: Kind) -> K {
        K::WrongTarget {
            op,
            found: found.name(),
        }
    }

    /// Runs `op`, found at `offset`.
    #[inline(always)]
    pub(super) fn step(&mut self, offset: usize, op: &Op<'_>) -> Result<(), DecodeError> {
        self.step_inner(op)
            .map_err(|kind| DecodeError { offset, kind })
    }

    #[inline]
    fn push(&mut self, k: Kind) -> Step {
        self.stack.push(k);
        Ok(())
    }

    #[inline(always)]
    fn step_inner(&mut self, op: &Op<'_>) -> Step {
        let bad_text = |op: Opcode, why: &'static str| K::Parse(ParseErrorKind::BadText(op, why));
        match *op {
            Op::Proto(p) if p > 5 => Err(K::UnsupportedProtocol(p)),
            Op::Proto(_) => Ok(()),
            // Frames are dropped from the stored value.
            Op::Frame(_) => Ok(()),
            Op::Stop => self.finish(),
            Op::Mark => {
                self.marks.push(self.stack.len());
                Ok(())
            }
            Op::Pop => {
                // As CPython: POP right above a mark pops the mark.
                if self.depth() == 0 && !self.marks.is_empty() {
                    self.marks.pop();
                    return Ok(());
                }
                self.pop().map(drop)
            }
            Op::PopMark => {
                let at = self.pop_mark()?;
                self.stack.truncate(at);
                Ok(())
            }
            Op::Dup => {
                let t = self.top()?;
                self.push(t)
            }
            Op::None | Op::Newtrue | Op::Newfalse => self.push(Kind::Plain),
            Op::Binint(_) | Op::Binint1(_) | Op::Binint2(_) => self.push(Kind::Plain),
            Op::Long1(_) | Op::Long4(_) | Op::Binfloat(_) => self.push(Kind::Plain),
            Op::Binbytes(_) | Op::ShortBinbytes(_) | Op::Binbytes8(_) => self.push(Kind::Plain),
            Op::Bytearray8(_) => self.push(Kind::ByteArray),
            Op::Int(t) => match text::int_text(t) {
                Some(_) => self.push(Kind::Plain),
                None => Err(bad_text(Opcode::Int, "not an int")),
            },
            Op::Long(t) => match text::long_text(t) {
                Some(_) => self.push(Kind::Plain),
                None => Err(bad_text(Opcode::Long, "not an int")),
            },
            Op::Float(t) => match text::float_text(t) {
                Some(_) => self.push(Kind::Plain),
                None => Err(bad_text(Opcode::Float, "not a float")),
            },
            Op::String(t) => {
                let raw = text::string_text(t).map_err(|w| bad_text(Opcode::String, w))?;
                self.py2_string(&raw)
            }
            Op::Binstring(s) | Op::ShortBinstring(s) => self.py2_string(s),
            Op::Unicode(t) => {
                let s =
                    text::raw_unicode_escape_decode(t).map_err(|w| bad_text(Opcode::Unicode, w))?;
                text::check_utf8_surrogatepass(&s).map_err(|_| K::BadUtf8)?;
                self.push(Kind::Str)
            }
            Op::Binunicode(s) | Op::ShortBinunicode(s) | Op::Binunicode8(s) => {
                text::check_utf8_surrogatepass(s).map_err(|_| K::BadUtf8)?;
                self.push(Kind::Str)
            }
            Op::EmptyList => self.push(Kind::List),
            Op::EmptyTuple => self.push(Kind::Tuple),
            Op::EmptyDict => self.push(Kind::Dict),
            Op::EmptySet => self.push(Kind::Set),
            Op::List => {
                let at = self.pop_mark()?;
                self.stack.truncate(at);
                self.push(Kind::List)
            }
            Op::Tuple => {
                let at = self.pop_mark()?;
                let k = Kind::tuple_of(&self.stack[at..]);
                self.stack.truncate(at);
                self.push(k)
            }
            Op::Tuple1 | Op::Tuple2 | Op::Tuple3 => {
                let n = match *op {
                    Op::Tuple1 => 1,
                    Op::Tuple2 => 2,
                    _ => 3,
                };
                if self.depth() < n {
                    return Err(K::StackUnderflow);
                }
                let at = self.stack.len() - n;
                let k = Kind::tuple_of(&self.stack[at..]);
                self.stack.truncate(at);
                self.push(k)
            }
            Op::Frozenset => {
                let at = self.pop_mark()?;
                Self::hashable_keys(&self.stack[at..], 1)?;
                self.stack.truncate(at);
                self.push(Kind::FrozenSet)
            }
            Op::Dict => {
                let at = self.pop_mark()?;
                if !(self.stack.len() - at).is_multiple_of(2) {
                    return Err(K::OddItems(Opcode::Dict));
                }
                Self::hashable_keys(&self.stack[at..], 2)?;
                self.stack.truncate(at);
                self.push(Kind::Dict)
            }
            Op::Append => {
                if self.depth() < 2 {
                    return Err(K::StackUnderflow);
                }
                self.stack.pop();
                self.items_target(Opcode::Append, self.stack.len(), Kind::List)
            }
            Op::Appends => {
                let at = self.pop_mark()?;
                self.items_target(Opcode::Appends, at, Kind::List)?;
                self.stack.truncate(at);
                Ok(())
            }
            Op::Setitem => {
                if self.depth() < 3 {
                    return Err(K::StackUnderflow);
                }
                let at = self.stack.len() - 2;
                Self::hashable_keys(&self.stack[at..], 2)?;
                self.items_target(Opcode::Setitem, at, Kind::Dict)?;
                self.stack.truncate(at);
                Ok(())
            }
            Op::Setitems => {
                let at = self.pop_mark()?;
                if !(self.stack.len() - at).is_multiple_of(2) {
                    return Err(K::OddItems(Opcode::Setitems));
                }
                Self::hashable_keys(&self.stack[at..], 2)?;
                self.items_target(Opcode::Setitems, at, Kind::Dict)?;
                self.stack.truncate(at);
                Ok(())
            }
            Op::Additems => {
                let at = self.pop_mark()?;
                Self::hashable_keys(&self.stack[at..], 1)?;
                self.items_target(Opcode::Additems, at, Kind::Set)?;
                self.stack.truncate(at);
                Ok(())
            }
            // The indices are the rewriter's to check.
            Op::Get(_) | Op::Binget(_) | Op::LongBinget(_) => self.push(Kind::Any),
            Op::Put(_) | Op::Binput(_) | Op::LongBinput(_) | Op::Memoize => self.top().map(drop),
            Op::Global(m, n) => {
                if std::str::from_utf8(m).is_err() || std::str::from_utf8(n).is_err() {
                    return Err(K::BadUtf8);
                }
                self.push(Kind::Any)
            }
            Op::StackGlobal => {
                let name = self.pop()?;
                let module = self.pop()?;
                if !matches!(module, Kind::Str | Kind::Any)
                    || !matches!(name, Kind::Str | Kind::Any)
                {
                    return Err(K::StackGlobalNotStr);
                }
                self.push(Kind::Any)
            }
            Op::Reduce => {
                let args = self.pop()?;
                let callable = self.pop()?;
                if callable != Kind::Any {
                    return Err(K::NotCallable(callable.name()));
                }
                if !matches!(args, Kind::Tuple | Kind::TupleUnhashable | Kind::Any) {
                    return Err(K::BadReduceArgs(args.name()));
                }
                self.push(Kind::Any)
            }
            Op::Newobj => {
                let args = self.pop()?;
                self.pop()?;
                if !matches!(args, Kind::Tuple | Kind::TupleUnhashable | Kind::Any) {
                    return Err(K::BadNewObjArgs(Opcode::Newobj));
                }
                self.push(Kind::Any)
            }
            Op::NewobjEx => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                self.pop()?;
                if !matches!(args, Kind::Tuple | Kind::TupleUnhashable | Kind::Any)
                    || !matches!(kwargs, Kind::Dict | Kind::Any)
                {
                    return Err(K::BadNewObjArgs(Opcode::NewobjEx));
                }
                self.push(Kind::Any)
            }
            Op::Inst(m, n) => {
                if !m.is_ascii() || !n.is_ascii() {
                    return Err(K::NotAscii);
                }
                let at = self.pop_mark()?;
                self.stack.truncate(at);
                self.push(Kind::Any)
            }
            Op::Obj => {
                let at = self.pop_mark()?;
                if self.stack.len() == at {
                    return Err(K::StackUnderflow);
                }
                self.stack.truncate(at);
                self.push(Kind::Any)
            }
            Op::Build => {
                self.pop()?;
                match self.top()? {
                    Kind::Any => Ok(()),
                    other => Err(Self::wrong(Opcode::Build, other)),
                }
            }
            Op::Persid(t) => {
                if !t.is_ascii() {
                    return Err(K::NotAscii);
                }
                self.push(Kind::Any)
            }
            Op::Binpersid => {
                self.pop()?;
                self.push(Kind::Any)
            }
            Op::Ext1(c) => self.ext(i64::from(c)),
            Op::Ext2(c) => self.ext(i64::from(c)),
            Op::Ext4(c) => self.ext(i64::from(c)),
            Op::NextBuffer => self.push(Kind::Any),
            Op::ReadonlyBuffer => match self.top()? {
                Kind::Any | Kind::Plain => Ok(()),
                other => Err(Self::wrong(Opcode::ReadonlyBuffer, other)),
            },
        }
    }

    /// The item below index `at` must be `want` (or anything).
    #[inline]
    fn items_target(&self, op: Opcode, at: usize, want: Kind) -> Step {
        match self.target(at)? {
            k if k == want || k == Kind::Any => Ok(()),
            other => Err(Self::wrong(op, other)),
        }
    }

    /// Python 2 strings decode as ASCII (`pickle.loads`' default).
    fn py2_string(&mut self, raw: &[u8]) -> Step {
        if !raw.is_ascii() {
            return Err(K::NotAscii);
        }
        self.push(Kind::Str)
    }

    fn ext(&mut self, code: i64) -> Step {
        if code <= 0 {
            return Err(K::BadExtCode(code));
        }
        self.push(Kind::Any)
    }

    /// At STOP (or the end of a fragment): exactly one value, no mark.
    pub(super) fn finish(&self) -> Step {
        if self.marks.is_empty() && self.stack.len() == 1 {
            Ok(())
        } else {
            Err(K::FragmentNotOneValue(self.stack.len() + self.marks.len()))
        }
    }
}
