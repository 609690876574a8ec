//! A disassembler whose text equals `python3 -m pickletools FILE`
//! (CPython 3.11's `pickletools.dis`) line for line.
//!
//! ```
//! use pickle_ops::dis::{dis, DisOptions};
//!
//! // pickle.dumps([1, 'a'], 2)
//! let mut out = String::new();
//! dis(b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01e.", &mut out, &DisOptions::default()).unwrap();
//! assert_eq!(
//!     out,
//!     concat!(
//!         "    0: \\x80 PROTO      2\n",
//!         "    2: ]    EMPTY_LIST\n",
//!         "    3: q    BINPUT     0\n",
//!         "    5: (    MARK\n",
//!         "    6: K        BININT1    1\n",
//!         "    8: X        BINUNICODE 'a'\n",
//!         "   14: q        BINPUT     1\n",
//!         "   16: e        APPENDS    (MARK at 5)\n",
//!         "   17: .    STOP\n",
//!         "highest protocol among opcodes = 2\n",
//!     )
//! );
//! ```
//!
//! Like `pickletools.dis`, it emulates the unpickler's stack and memo with
//! placeholder objects to indent MARK blocks and to check the pickle:
//! stack underflow, a missing MARK, memo keys used before being stored or
//! stored twice, and a non-empty stack after STOP are errors. Errors come
//! back as a [`DisError`] instead of a traceback; the text written to `out`
//! before it is exactly what Python prints to stdout before raising. Like
//! Python's, it can end with a partial line, the offset `"%5d: "` alone,
//! when the op's line cannot be built: an int argument over 4300 digits
//! (`LONG4`), or a MARK whose markobject is gone from the emulated stack (a
//! `DUP` or an `APPEND` took it; Python's `IndexError`).
//!
//! The text grows quadratically with the MARK nesting depth (indentation),
//! as Python's does; to cap it, pass a writer that fails past a limit: the
//! disassembly then stops with an error whose
//! kind is [`DisErrorKind::Output`].
//!
//! # Reading the ops
//!
//! The op arguments are read as `pickletools`' own readers read them, not
//! with [`crate::parse`]: the parser follows the unpickler, and
//! `pickletools` is laxer in places (it prints `INT` text ` 1_0 ` as `10`,
//! `FLOAT` text `1e999` as `inf`, a `STRING` of a lone quote as `''`, where
//! the parser rejects them) and stricter in others (non-ASCII `GLOBAL` text
//! is an error). The text must be `pickletools`', so:
//!
//! - `INT`, `LONG`, `GET`, `PUT` text goes through Python's `int()`: ASCII
//!   whitespace around it and single underscores between digits are
//!   accepted, `00`/`01` are `False`/`True` (also as memo keys, where `True`
//!   is the key `1`), and more than 4300 digits (leading zeros included)
//!   are an error.
//! - `FLOAT` text goes through Python's `float()`: whitespace, underscores,
//!   `inf`/`infinity`/`nan` in any case, and overflow to `inf` (`1e999`).
//! - `STRING` only needs a quote at both ends (a lone `'` is the empty
//!   string); `STRING`, `PERSID`, `GLOBAL` and `INST` text is unescaped with
//!   `codecs.escape_decode` and must then be ASCII.
//! - `UNICODE` is raw-unicode-escape; `BINUNICODE*` are UTF-8 with
//!   surrogates allowed; `SHORT_BINSTRING`/`BINSTRING` are Latin-1.
//! - Counted arguments only need their bytes to be present.
//!
//! Error messages are Python's (`ValueError`, `UnicodeDecodeError` with
//! CPython's positions and reasons, `IndexError`); see
//! [`DisErrorKind`].
//!
//! # Remaining differences from `python3 -m pickletools`
//!
//! - A counted argument claiming far more bytes than the file has makes
//!   Python try to allocate them first; for very large counts (about 2^40
//!   and up, depending on the machine) it fails with `MemoryError` or
//!   `OverflowError: byte string is too large` instead of the `ValueError`
//!   "expected N bytes in a bytes8, but only M remain" reported here. The
//!   text printed before the error is the same.
//! - One call disassembles one pickle with a fresh memo (the command's
//!   behaviour for a single file); the `--memo` sharing across several
//!   files, and the `--preamble` lines, are the caller's business.

use std::collections::HashMap;
use std::fmt;

use crate::int::{PyInt, INT_MAX_STR_DIGITS};
use crate::opcode::{ArgKind, Opcode, StackKind};
use crate::repr;
use crate::text;

/// Options of [`dis`], as `pickletools.dis` takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DisOptions {
    /// Blanks by which to indent each MARK level (default 4).
    pub indentlevel: usize,
    /// If nonzero, annotate each line with the first line of the opcode's
    /// description, starting around this column (`python3 -m pickletools
    /// -a` uses 30). Default 0: no annotations.
    pub annotate: usize,
}

impl Default for DisOptions {
    fn default() -> Self {
        DisOptions {
            indentlevel: 4,
            annotate: 0,
        }
    }
}

/// Which exception `pickletools` raises (or that the output failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisErrorKind {
    /// `ValueError`: a malformed or inconsistent pickle.
    ValueError,
    /// `UnicodeDecodeError`: an argument that is not valid text.
    UnicodeDecodeError,
    /// `IndexError`: a MARK whose markobject is gone from the stack.
    IndexError,
    /// Writing to the output failed (no Python counterpart).
    Output,
}

impl DisErrorKind {
    /// The Python exception type's name (`"ValueError"`, ...); `None` for
    /// [`DisErrorKind::Output`].
    pub fn python_exception(self) -> Option<&'static str> {
        match self {
            DisErrorKind::ValueError => Some("ValueError"),
            DisErrorKind::UnicodeDecodeError => Some("UnicodeDecodeError"),
            DisErrorKind::IndexError => Some("IndexError"),
            DisErrorKind::Output => None,
        }
    }
}

/// Why a disassembly stopped, at a byte offset: the exception
/// `pickletools` would raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisError {
    /// Byte offset of the op that failed; for "pickle exhausted before
    /// seeing STOP", the length of the input. `None` for an output error.
    pub offset: Option<usize>,
    /// Which exception.
    pub kind: DisErrorKind,
    /// The message, as Python's exception carries it (e.g. `"at position
    /// 3, opcode b'\xff' unknown"`, `"memo key 1 has never been stored
    /// into"`).
    pub message: String,
}

impl DisError {
    fn new(offset: usize, kind: DisErrorKind, message: impl Into<String>) -> DisError {
        DisError {
            offset: Some(offset),
            kind,
            message: message.into(),
        }
    }

    fn value(offset: usize, message: impl Into<String>) -> DisError {
        DisError::new(offset, DisErrorKind::ValueError, message)
    }

    fn output() -> DisError {
        DisError {
            offset: None,
            kind: DisErrorKind::Output,
            message: "error writing the disassembly".into(),
        }
    }
}

impl fmt::Display for DisError {
    /// The message alone (Python's `str(exception)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DisError {}

impl From<fmt::Error> for DisError {
    fn from(_: fmt::Error) -> DisError {
        DisError::output()
    }
}

/// Disassembles the pickle at the start of `data` (through its first STOP)
/// into `out`, exactly as `pickletools.dis(data, out, None, indentlevel,
/// annotate)` prints it.
///
/// On error, `out` holds what Python prints before raising and the error
/// says what it raises.
pub fn dis<W: fmt::Write + ?Sized>(
    data: &[u8],
    out: &mut W,
    opts: &DisOptions,
) -> Result<(), DisError> {
    Dis::new(opts).run(data, out)
}

/// [`dis`] into a new string: the text (complete or up to the error) and
/// the outcome.
pub fn dis_to_string(data: &[u8], opts: &DisOptions) -> (String, Result<(), DisError>) {
    let mut out = String::new();
    let r = dis(data, &mut out, opts);
    (out, r)
}

/// The disassembler's state (`pickletools.dis`' locals).
struct Dis<'o> {
    opts: &'o DisOptions,
    /// Crude emulation of the unpickler's stack.
    stack: Vec<StackKind>,
    /// Crude emulation of the unpickler's memo (`True`/`False` keys are 1/0).
    memo: HashMap<PyInt, StackKind>,
    /// Offsets of the MARK ops whose marks are still open.
    markstack: Vec<usize>,
    maxproto: i32,
    annocol: usize,
}

impl<'o> Dis<'o> {
    fn new(opts: &'o DisOptions) -> Self {
        Dis {
            opts,
            stack: Vec::new(),
            memo: HashMap::new(),
            markstack: Vec::new(),
            maxproto: -1,
            annocol: opts.annotate,
        }
    }

    fn run<W: fmt::Write + ?Sized>(mut self, data: &[u8], out: &mut W) -> Result<(), DisError> {
        let mut s = Stream { data, pos: 0 };
        let indentchunk = " ".repeat(self.opts.indentlevel);
        loop {
            let pos = s.pos;
            let Some(&code) = data.get(pos) else {
                return Err(DisError::value(pos, "pickle exhausted before seeing STOP"));
            };
            s.pos += 1;
            let Some(opcode) = Opcode::from_byte(code) else {
                return Err(DisError::value(
                    pos,
                    format!(
                        "at position {pos}, opcode {} unknown",
                        repr::bytes_repr(&[code])
                    ),
                ));
            };
            let info = opcode.info();
            let arg = match info.arg {
                None => None,
                Some(kind) => Some(read_arg(&mut s, kind).map_err(|e| e.at(pos))?),
            };

            // Python prints the offset before it builds the line, so the
            // errors raised while building it leave "%5d: " behind.
            write!(out, "{pos:5}: ")?;
            let code_repr = repr::str_repr_code_points(&[code as u32]);
            let code_repr = &code_repr[1..code_repr.len() - 1];
            let mut line = format!(
                "{code_repr:<4} {}{}",
                indentchunk.repeat(self.markstack.len()),
                info.name
            );

            self.maxproto = self.maxproto.max(info.proto as i32);
            let before = info.stack_before;
            let mut after = info.stack_after;
            let mut numtopop = before.len();

            // See whether a MARK should be popped.
            let mut markmsg: Option<String> = None;
            let mut errormsg: Option<String> = None;
            let takes_mark = before.contains(&StackKind::Mark)
                || (opcode == Opcode::Pop && self.stack.last() == Some(&StackKind::Mark));
            if takes_mark {
                if let Some(markpos) = self.markstack.pop() {
                    markmsg = Some(format!("(MARK at {markpos})"));
                    // Pop everything at and after the topmost markobject
                    // (an IndexError in Python when there is none, which a
                    // DUP of the mark can bring about).
                    loop {
                        match self.stack.pop() {
                            Some(StackKind::Mark) => break,
                            Some(_) => {}
                            None => {
                                return Err(DisError::new(
                                    pos,
                                    DisErrorKind::IndexError,
                                    "list index out of range",
                                ))
                            }
                        }
                    }
                    numtopop = before
                        .iter()
                        .position(|k| *k == StackKind::Mark)
                        .unwrap_or(0);
                } else {
                    let msg = "no MARK exists on stack".to_string();
                    markmsg = Some(msg.clone());
                    errormsg = Some(msg);
                }
            }

            // Check for correct memo usage.
            let memo_get_kind: StackKind;
            match opcode {
                Opcode::Put | Opcode::Binput | Opcode::LongBinput | Opcode::Memoize => {
                    let key = match &arg {
                        Some(arg) => arg.memo_key(),
                        None => {
                            let idx = self.memo.len();
                            markmsg = Some(format!("(as {idx})"));
                            PyInt::Small(idx as i64)
                        }
                    };
                    if self.memo.contains_key(&key) {
                        // `"memo key %r already defined" % arg`: None for MEMOIZE.
                        let key_repr = match &arg {
                            Some(arg) => arg.repr().map_err(|e| e.at(pos))?,
                            None => "None".to_string(),
                        };
                        errormsg = Some(format!("memo key {key_repr} already defined"));
                    } else {
                        match self.stack.last() {
                            None => {
                                errormsg = Some("stack is empty -- can't store into memo".into())
                            }
                            Some(StackKind::Mark) => {
                                errormsg = Some("can't store markobject in the memo".into())
                            }
                            Some(&top) => {
                                self.memo.insert(key, top);
                            }
                        }
                    }
                }
                Opcode::Get | Opcode::Binget | Opcode::LongBinget => {
                    let arg = arg.as_ref().expect("memo ops have an argument");
                    match self.memo.get(&arg.memo_key()) {
                        Some(&kind) => {
                            memo_get_kind = kind;
                            after = std::slice::from_ref(&memo_get_kind);
                        }
                        None => {
                            let key_repr = arg.repr().map_err(|e| e.at(pos))?;
                            errormsg =
                                Some(format!("memo key {key_repr} has never been stored into"));
                        }
                    }
                }
                _ => {}
            }

            if arg.is_some() || markmsg.is_some() {
                // Make a mild effort to align arguments.
                line.extend(std::iter::repeat_n(
                    ' ',
                    10usize.saturating_sub(info.name.len()),
                ));
                if let Some(arg) = &arg {
                    line.push(' ');
                    line.push_str(&arg.repr().map_err(|e| e.at(pos))?);
                }
                if let Some(m) = &markmsg {
                    line.push(' ');
                    line.push_str(m);
                }
            }
            if self.opts.annotate != 0 {
                let len = line.chars().count();
                line.extend(std::iter::repeat_n(' ', self.annocol.saturating_sub(len)));
                // Make a mild effort to align annotations.
                self.annocol = len.max(self.annocol);
                if self.annocol > 50 {
                    self.annocol = self.opts.annotate;
                }
                line.push(' ');
                line.push_str(info.doc);
            }
            out.write_str(&line)?;
            out.write_char('\n')?;

            if let Some(msg) = errormsg {
                // Complaints wait until the offending op is printed.
                return Err(DisError::value(pos, msg));
            }

            // Emulate the stack effects.
            if self.stack.len() < numtopop {
                return Err(DisError::value(
                    pos,
                    format!(
                        "tries to pop {numtopop} items from stack with only {} items",
                        self.stack.len()
                    ),
                ));
            }
            self.stack.truncate(self.stack.len() - numtopop);
            if after.contains(&StackKind::Mark) {
                self.markstack.push(pos);
            }
            self.stack.extend_from_slice(after);

            if opcode == Opcode::Stop {
                break;
            }
        }
        writeln!(out, "highest protocol among opcodes = {}", self.maxproto)?;
        if !self.stack.is_empty() {
            let names: Vec<&str> = self.stack.iter().map(|k| k.name()).collect();
            let stop = s.pos - 1;
            return Err(DisError::value(
                stop,
                format!("stack not empty after STOP: [{}]", names.join(", ")),
            ));
        }
        Ok(())
    }
}

/// A Python exception raised while reading or printing an argument; the
/// op's offset is added by the caller.
#[derive(Debug)]
struct PyErr {
    kind: DisErrorKind,
    message: String,
}

impl PyErr {
    fn value(message: impl Into<String>) -> PyErr {
        PyErr {
            kind: DisErrorKind::ValueError,
            message: message.into(),
        }
    }

    fn unicode(message: String) -> PyErr {
        PyErr {
            kind: DisErrorKind::UnicodeDecodeError,
            message,
        }
    }

    fn at(self, offset: usize) -> DisError {
        DisError::new(offset, self.kind, self.message)
    }
}

/// The input as Python's file object reads it: short reads at the end.
struct Stream<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Stream<'a> {
    /// `f.read(n)`: up to `n` bytes.
    fn read(&mut self, n: u64) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        let n = usize::try_from(n).map_or(rest.len(), |n| n.min(rest.len()));
        self.pos += n;
        &rest[..n]
    }

    /// `f.read(N)` of a fixed-size field, or pickletools' "not enough data"
    /// error.
    fn read_fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], PyErr> {
        let b = self.read(N as u64);
        b.try_into()
            .map_err(|_| PyErr::value(format!("not enough data in stream to read {what}")))
    }

    /// `f.readline()` without its newline, or `None` when the input ends
    /// before a newline.
    fn readline(&mut self) -> Option<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Some(&rest[..i])
            }
            None => {
                self.pos = self.data.len();
                None
            }
        }
    }

    /// `read_stringnl(f, decode=False, stripquotes=False)`.
    fn line(&mut self, what: &str) -> Result<&'a [u8], PyErr> {
        self.readline()
            .ok_or_else(|| PyErr::value(format!("no newline found when trying to read {what}")))
    }

    /// The count and payload of a counted argument, with pickletools'
    /// messages (`what` is the descriptor's name, e.g. `bytes4`).
    fn counted(&mut self, n: u64, what: &str) -> Result<&'a [u8], PyErr> {
        let data = self.read(n);
        if data.len() as u64 == n {
            Ok(data)
        } else {
            Err(PyErr::value(format!(
                "expected {n} bytes in a {what}, but only {} remain",
                data.len()
            )))
        }
    }
}

/// A decoded argument, as the pickletools reader returns it.
#[derive(Debug)]
enum ArgValue<'a> {
    Int(PyInt),
    Bool(bool),
    Float(f64),
    /// A `str` of code points.
    Str(Vec<u32>),
    /// A `str` from Latin-1 bytes.
    Latin1(&'a [u8]),
    /// A `str` from UTF-8 (surrogatepass) bytes, already checked.
    Utf8(&'a [u8]),
    Bytes(&'a [u8]),
    ByteArray(&'a [u8]),
}

impl ArgValue<'_> {
    /// Python's `repr()` of the argument.
    fn repr(&self) -> Result<String, PyErr> {
        Ok(match self {
            ArgValue::Int(v) => repr::int_repr(v).map_err(PyErr::value)?,
            ArgValue::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            ArgValue::Float(x) => repr::float_repr(*x),
            ArgValue::Str(cps) => repr::str_repr_code_points(cps),
            ArgValue::Latin1(b) => {
                repr::str_repr_code_points(&b.iter().map(|&c| c as u32).collect::<Vec<_>>())
            }
            ArgValue::Utf8(b) => repr::str_repr_utf8(b),
            ArgValue::Bytes(b) => repr::bytes_repr(b),
            ArgValue::ByteArray(b) => repr::bytearray_repr(b),
        })
    }

    /// The argument as a memo key (GET/PUT args are ints or bools).
    fn memo_key(&self) -> PyInt {
        match self {
            ArgValue::Int(v) => v.clone(),
            ArgValue::Bool(b) => PyInt::Small(*b as i64),
            // Memo ops only have int arguments.
            _ => PyInt::Small(-1),
        }
    }
}

/// Unsigned little-endian bytes as an int.
fn uint_le(b: &[u8]) -> PyInt {
    let mut v = b.to_vec();
    v.push(0);
    PyInt::from_le_bytes(&v)
}

/// Reads one argument as pickletools' `ArgumentDescriptor.reader` does.
fn read_arg<'a>(s: &mut Stream<'a>, kind: ArgKind) -> Result<ArgValue<'a>, PyErr> {
    use ArgKind as K;
    Ok(match kind {
        K::Uint1 => ArgValue::Int(PyInt::Small(s.read_fixed::<1>("uint1")?[0] as i64)),
        K::Uint2 => ArgValue::Int(PyInt::Small(
            u16::from_le_bytes(s.read_fixed("uint2")?) as i64
        )),
        K::Int4 => ArgValue::Int(PyInt::Small(
            i32::from_le_bytes(s.read_fixed("int4")?) as i64
        )),
        K::Uint4 => ArgValue::Int(PyInt::Small(
            u32::from_le_bytes(s.read_fixed("uint4")?) as i64
        )),
        K::Uint8 => ArgValue::Int(uint_le(&s.read_fixed::<8>("uint8")?)),
        K::Float8 => ArgValue::Float(f64::from_be_bytes(s.read_fixed("float8")?)),
        K::DecimalNlShort => {
            let t = s.line("stringnl")?;
            match t {
                b"00" => ArgValue::Bool(false),
                b"01" => ArgValue::Bool(true),
                _ => ArgValue::Int(py_int(t)?),
            }
        }
        K::DecimalNlLong => {
            let t = s.line("stringnl")?;
            ArgValue::Int(py_int(t.strip_suffix(b"L").unwrap_or(t))?)
        }
        K::FloatNl => ArgValue::Float(py_float(s.line("stringnl")?)?),
        K::StringNl => {
            let t = s.line("stringnl")?;
            let mut inner = None;
            for q in [b'"', b'\''] {
                if t.first() == Some(&q) {
                    if t.last() != Some(&q) {
                        return Err(PyErr::value(format!(
                            "strinq quote {} not found at both ends of {}",
                            repr::bytes_repr(&[q]),
                            repr::bytes_repr(t)
                        )));
                    }
                    // A lone quote both starts and ends the text: ''.
                    inner = Some(if t.len() >= 2 {
                        &t[1..t.len() - 1]
                    } else {
                        &t[..0]
                    });
                    break;
                }
            }
            let Some(inner) = inner else {
                return Err(PyErr::value(format!(
                    "no string quotes around {}",
                    repr::bytes_repr(t)
                )));
            };
            ArgValue::Str(escape_decode_ascii(inner)?)
        }
        K::StringNlNoEscape => ArgValue::Str(escape_decode_ascii(s.line("stringnl")?)?),
        K::StringNlNoEscapePair => {
            let mut a = escape_decode_ascii(s.line("stringnl")?)?;
            let b = escape_decode_ascii(s.line("stringnl")?)?;
            a.push(' ' as u32);
            a.extend(b);
            ArgValue::Str(a)
        }
        K::UnicodeStringNl => ArgValue::Str(raw_unicode_escape_decode(s.line("unicodestringnl")?)?),
        K::Long1 => {
            let n = s.read_fixed::<1>("uint1")?[0];
            let data = s.read(n as u64);
            if data.len() != n as usize {
                return Err(PyErr::value("not enough data in stream to read long1"));
            }
            ArgValue::Int(PyInt::from_le_bytes(data))
        }
        K::Long4 => {
            let n = i32::from_le_bytes(s.read_fixed("int4")?);
            if n < 0 {
                return Err(PyErr::value(format!("long4 byte count < 0: {n}")));
            }
            let data = s.read(n as u64);
            if data.len() != n as usize {
                return Err(PyErr::value("not enough data in stream to read long4"));
            }
            ArgValue::Int(PyInt::from_le_bytes(data))
        }
        K::String1 => {
            let n = s.read_fixed::<1>("uint1")?[0];
            ArgValue::Latin1(s.counted(n as u64, "string1")?)
        }
        K::String4 => {
            let n = i32::from_le_bytes(s.read_fixed("int4")?);
            if n < 0 {
                return Err(PyErr::value(format!("string4 byte count < 0: {n}")));
            }
            ArgValue::Latin1(s.counted(n as u64, "string4")?)
        }
        K::Bytes1 => {
            let n = s.read_fixed::<1>("uint1")?[0];
            ArgValue::Bytes(s.counted(n as u64, "bytes1")?)
        }
        K::Bytes4 => {
            let n = u32::from_le_bytes(s.read_fixed("uint4")?);
            ArgValue::Bytes(s.counted(n as u64, "bytes4")?)
        }
        K::Bytes8 => ArgValue::Bytes(read_counted8(s, "bytes8")?),
        K::ByteArray8 => ArgValue::ByteArray(read_counted8(s, "bytearray8")?),
        K::UnicodeString1 => {
            let n = s.read_fixed::<1>("uint1")?[0];
            ArgValue::Utf8(check_utf8(s.counted(n as u64, "unicodestring1")?)?)
        }
        K::UnicodeString4 => {
            let n = u32::from_le_bytes(s.read_fixed("uint4")?);
            ArgValue::Utf8(check_utf8(s.counted(n as u64, "unicodestring4")?)?)
        }
        K::UnicodeString8 => ArgValue::Utf8(check_utf8(read_counted8(s, "unicodestring8")?)?),
    })
}

/// A u64 count (at most `sys.maxsize`) and its payload.
fn read_counted8<'a>(s: &mut Stream<'a>, what: &str) -> Result<&'a [u8], PyErr> {
    let n = u64::from_le_bytes(s.read_fixed("uint8")?);
    if n > i64::MAX as u64 {
        return Err(PyErr::value(format!(
            "{what} byte count > sys.maxsize: {n}"
        )));
    }
    s.counted(n, what)
}

/// `Py_ISSPACE` on a byte.
fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Python's `int(b)` for bytes, base 10.
fn py_int(b: &[u8]) -> Result<PyInt, PyErr> {
    let invalid = || {
        // "%.200R": the repr cut to 200 characters (it is ASCII).
        let mut r = repr::bytes_repr(b);
        r.truncate(200);
        PyErr::value(format!("invalid literal for int() with base 10: {r}"))
    };
    let mut i = 0;
    while i < b.len() && is_py_space(b[i]) {
        i += 1;
    }
    let neg = match b.get(i) {
        Some(b'+') => {
            i += 1;
            false
        }
        Some(b'-') => {
            i += 1;
            true
        }
        _ => false,
    };
    if b.get(i) == Some(&b'_') {
        return Err(invalid());
    }
    let mut digits = Vec::new();
    let mut prev = 0u8;
    while let Some(&c) = b.get(i) {
        if c == b'_' {
            if prev == b'_' {
                return Err(invalid());
            }
        } else if c.is_ascii_digit() {
            digits.push(c);
        } else {
            break;
        }
        prev = c;
        i += 1;
    }
    if prev == b'_' {
        return Err(invalid());
    }
    if digits.len() > INT_MAX_STR_DIGITS {
        return Err(PyErr::value(format!(
            "Exceeds the limit ({INT_MAX_STR_DIGITS} digits) for integer string conversion: value has {} digits; use sys.set_int_max_str_digits() to increase the limit",
            digits.len()
        )));
    }
    if digits.is_empty() {
        return Err(invalid());
    }
    while i < b.len() && is_py_space(b[i]) {
        i += 1;
    }
    if i != b.len() {
        return Err(invalid());
    }
    if neg {
        digits.insert(0, b'-');
    }
    PyInt::parse_decimal(&digits, usize::MAX).ok_or_else(invalid)
}

/// Python's `float(b)` for bytes.
fn py_float(b: &[u8]) -> Result<f64, PyErr> {
    let invalid = || {
        PyErr::value(format!(
            "could not convert string to float: {}",
            repr::bytes_repr(b)
        ))
    };
    // Underscores only between digits, then dropped.
    let mut t = Vec::with_capacity(b.len());
    let mut prev = 0u8;
    for &c in b {
        if c == b'_' {
            if !prev.is_ascii_digit() {
                return Err(invalid());
            }
        } else {
            if prev == b'_' && !c.is_ascii_digit() {
                return Err(invalid());
            }
            t.push(c);
        }
        prev = c;
    }
    if prev == b'_' {
        return Err(invalid());
    }
    let start = t
        .iter()
        .position(|&c| !is_py_space(c))
        .ok_or_else(invalid)?;
    let end = t
        .iter()
        .rposition(|&c| !is_py_space(c))
        .map_or(start, |e| e + 1);
    let t = &t[start..end];
    let (neg, body) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_slice() {
        b"inf" | b"infinity" => f64::INFINITY,
        b"nan" => f64::NAN,
        _ => {
            if !is_decimal_float(body) {
                return Err(invalid());
            }
            // The grammar is checked: this is ASCII Rust parses the same way.
            std::str::from_utf8(body)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(invalid)?
        }
    };
    Ok(if neg { -v } else { v })
}

/// `digits [. digits] | . digits`, then an optional `e[sign]digits`.
fn is_decimal_float(b: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let mut n = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `codecs.escape_decode(b)[0].decode("ascii")`, as code points.
fn escape_decode_ascii(b: &[u8]) -> Result<Vec<u32>, PyErr> {
    let decoded = text::escape_decode(b).map_err(|why| {
        if why.starts_with("Trailing") {
            PyErr::value("Trailing \\ in string")
        } else {
            PyErr::value(format!(
                "invalid \\x escape at position {}",
                bad_x_escape(b)
            ))
        }
    })?;
    if let Some(i) = decoded.iter().position(|&c| c >= 0x80) {
        return Err(PyErr::unicode(format!(
            "'ascii' codec can't decode byte 0x{:02x} in position {i}: ordinal not in range(128)",
            decoded[i]
        )));
    }
    Ok(decoded.iter().map(|&c| c as u32).collect())
}

/// Offset of the backslash of the first malformed `\x` escape (given that
/// `escape_decode` failed on one).
fn bad_x_escape(b: &[u8]) -> usize {
    let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'x') if hex(i + 2) && hex(i + 3) => i += 4,
            Some(b'x') | None => return i,
            Some(b'0'..=b'7') => {
                i += 2;
                for _ in 0..2 {
                    if matches!(b.get(i), Some(b'0'..=b'7')) {
                        i += 1;
                    }
                }
            }
            Some(_) => i += 2,
        }
    }
    b.len()
}

/// `str(b, 'raw-unicode-escape')` with CPython's error positions.
fn raw_unicode_escape_decode(b: &[u8]) -> Result<Vec<u32>, PyErr> {
    let err = |start: usize, end: usize, why: &str| {
        PyErr::unicode(format!(
            "'rawunicodeescape' codec can't decode bytes in position {start}-{}: {why}",
            end - 1
        ))
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i] as u32);
            i += 1;
            continue;
        }
        // \u escapes only follow an odd number of backslashes.
        let run_start = i;
        while i < b.len() && b[i] == b'\\' {
            i += 1;
        }
        let run = i - run_start;
        let escape = run % 2 == 1 && matches!(b.get(i), Some(b'u' | b'U'));
        let kept = if escape { run - 1 } else { run };
        out.extend(std::iter::repeat_n('\\' as u32, kept));
        if !escape {
            continue;
        }
        let start = i - 1;
        let (count, why) = if b[i] == b'u' {
            (4, "truncated \\uXXXX escape")
        } else {
            (8, "truncated \\UXXXXXXXX escape")
        };
        i += 1;
        let mut cp: u32 = 0;
        for _ in 0..count {
            match b.get(i).and_then(|c| (*c as char).to_digit(16)) {
                Some(d) => cp = (cp << 4) | d,
                None => return Err(err(start, i.min(b.len()), why)),
            }
            i += 1;
        }
        if cp > 0x10ffff {
            return Err(err(start, i, "\\Uxxxxxxxx out of range"));
        }
        out.push(cp);
    }
    Ok(out)
}

/// `str(b, 'utf-8', 'surrogatepass')`'s check, with CPython's message.
fn check_utf8(b: &[u8]) -> Result<&[u8], PyErr> {
    let Err(start) = text::check_utf8_surrogatepass(b) else {
        return Ok(b);
    };
    // CPython's strict decoder reports (start, end, reason); surrogatepass
    // then re-raises it unless the bytes encode a surrogate, which the
    // check above already accepted.
    let rest = &b[start..];
    let lead = rest[0];
    let cont = |c: u8| c & 0xc0 == 0x80;
    let (end, reason) = match lead {
        0xc2..=0xdf => {
            if rest.len() < 2 {
                (b.len(), "unexpected end of data")
            } else {
                (start + 1, "invalid continuation byte")
            }
        }
        0xe0..=0xef => {
            let ok2 =
                |c: u8| cont(c) && !(lead == 0xe0 && c < 0xa0) && !(lead == 0xed && c >= 0xa0);
            if rest.len() >= 2 && !ok2(rest[1]) {
                (start + 1, "invalid continuation byte")
            } else if rest.len() < 3 {
                (b.len(), "unexpected end of data")
            } else {
                (start + 2, "invalid continuation byte")
            }
        }
        0xf0..=0xf4 => {
            let ok2 =
                |c: u8| cont(c) && !(lead == 0xf0 && c < 0x90) && !(lead == 0xf4 && c >= 0x90);
            if rest.len() >= 2 && !ok2(rest[1]) {
                (start + 1, "invalid continuation byte")
            } else if rest.len() >= 3 && !cont(rest[2]) {
                (start + 2, "invalid continuation byte")
            } else if rest.len() < 4 {
                (b.len(), "unexpected end of data")
            } else {
                (start + 3, "invalid continuation byte")
            }
        }
        _ => (start + 1, "invalid start byte"),
    };
    Err(PyErr::unicode(if end == start + 1 {
        format!("'utf-8' codec can't decode byte 0x{lead:02x} in position {start}: {reason}")
    } else {
        format!(
            "'utf-8' codec can't decode bytes in position {start}-{}: {reason}",
            end - 1
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One disassembly and what CPython printed and raised.
    struct Case {
        data: &'static [u8],
        indentlevel: usize,
        annotate: usize,
        /// stdout, line by line (the last one may be partial).
        text: &'static [&'static str],
        /// `"ExceptionType: message"`.
        error: Option<&'static str>,
    }

    // Generated with CPython 3.11.7: pickletools.dis(io.BytesIO(data), out, None, indentlevel, annotate).
    const CASES: &[Case] = &[
        // pickle.dumps({'a': [1, 2.5, None, True]}, 0)
        Case {
            data: b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naNaI01\nas.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: d        DICT       (MARK at 0)\n",
                "    2: p    PUT        0\n",
                "    5: V    UNICODE    'a'\n",
                "    8: p    PUT        1\n",
                "   11: (    MARK\n",
                "   12: l        LIST       (MARK at 11)\n",
                "   13: p    PUT        2\n",
                "   16: I    INT        1\n",
                "   19: a    APPEND\n",
                "   20: F    FLOAT      2.5\n",
                "   25: a    APPEND\n",
                "   26: N    NONE\n",
                "   27: a    APPEND\n",
                "   28: I    INT        True\n",
                "   32: a    APPEND\n",
                "   33: s    SETITEM\n",
                "   34: .    STOP\n",
                "highest protocol among opcodes = 0\n",
            ],
            error: None,
        },
        // pickle.dumps(("it's", b'\x00"', 'caf\xe9', 1 << 70, -1.5e-7, [lst, lst]), 1)
        Case {
            data: b"(X\x04\x00\x00\x00it'sq\x00c_codecs\nencode\nq\x01(X\x02\x00\x00\x00\x00\"q\x02X\x06\x00\x00\x00latin1q\x03tq\x04Rq\x05X\x05\x00\x00\x00caf\xc3\xa9q\x06L1180591620717411303424L\nG\xbe\x84!\xf5\xf4\x0d\x83v]q\x07(]q\x08K\x01ah\x08etq\x09.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: X        BINUNICODE \"it's\"\n",
                "   10: q        BINPUT     0\n",
                "   12: c        GLOBAL     '_codecs encode'\n",
                "   28: q        BINPUT     1\n",
                "   30: (        MARK\n",
                "   31: X            BINUNICODE '\\x00\"'\n",
                "   38: q            BINPUT     2\n",
                "   40: X            BINUNICODE 'latin1'\n",
                "   51: q            BINPUT     3\n",
                "   53: t            TUPLE      (MARK at 30)\n",
                "   54: q        BINPUT     4\n",
                "   56: R        REDUCE\n",
                "   57: q        BINPUT     5\n",
                "   59: X        BINUNICODE 'caf\u{e9}'\n",
                "   69: q        BINPUT     6\n",
                "   71: L        LONG       1180591620717411303424\n",
                "   96: G        BINFLOAT   -1.5e-07\n",
                "  105: ]        EMPTY_LIST\n",
                "  106: q        BINPUT     7\n",
                "  108: (        MARK\n",
                "  109: ]            EMPTY_LIST\n",
                "  110: q            BINPUT     8\n",
                "  112: K            BININT1    1\n",
                "  114: a            APPEND\n",
                "  115: h            BINGET     8\n",
                "  117: e            APPENDS    (MARK at 108)\n",
                "  118: t        TUPLE      (MARK at 0)\n",
                "  119: q    BINPUT     9\n",
                "  121: .    STOP\n",
                "highest protocol among opcodes = 1\n",
            ],
            error: None,
        },
        // pickle.dumps(("it's", b'\x00"', 'caf\xe9', 1 << 70, -1.5e-7, [lst, lst]), 2)
        Case {
            data: b"\x80\x02(X\x04\x00\x00\x00it'sq\x00c_codecs\nencode\nq\x01X\x02\x00\x00\x00\x00\"q\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05X\x05\x00\x00\x00caf\xc3\xa9q\x06\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@G\xbe\x84!\xf5\xf4\x0d\x83v]q\x07(]q\x08K\x01ah\x08etq\x09.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: \\x80 PROTO      2\n",
                "    2: (    MARK\n",
                "    3: X        BINUNICODE \"it's\"\n",
                "   12: q        BINPUT     0\n",
                "   14: c        GLOBAL     '_codecs encode'\n",
                "   30: q        BINPUT     1\n",
                "   32: X        BINUNICODE '\\x00\"'\n",
                "   39: q        BINPUT     2\n",
                "   41: X        BINUNICODE 'latin1'\n",
                "   52: q        BINPUT     3\n",
                "   54: \\x86     TUPLE2\n",
                "   55: q        BINPUT     4\n",
                "   57: R        REDUCE\n",
                "   58: q        BINPUT     5\n",
                "   60: X        BINUNICODE 'caf\u{e9}'\n",
                "   70: q        BINPUT     6\n",
                "   72: \\x8a     LONG1      1180591620717411303424\n",
                "   83: G        BINFLOAT   -1.5e-07\n",
                "   92: ]        EMPTY_LIST\n",
                "   93: q        BINPUT     7\n",
                "   95: (        MARK\n",
                "   96: ]            EMPTY_LIST\n",
                "   97: q            BINPUT     8\n",
                "   99: K            BININT1    1\n",
                "  101: a            APPEND\n",
                "  102: h            BINGET     8\n",
                "  104: e            APPENDS    (MARK at 95)\n",
                "  105: t        TUPLE      (MARK at 2)\n",
                "  106: q    BINPUT     9\n",
                "  108: .    STOP\n",
                "highest protocol among opcodes = 2\n",
            ],
            error: None,
        },
        // pickle.dumps((b'\xff', {1: frozenset({2})}, 1e16), 3)
        Case {
            data: b"\x80\x03C\x01\xffq\x00}q\x01K\x01cbuiltins\nfrozenset\nq\x02]q\x03K\x02a\x85q\x04Rq\x05sGCA\xc3y7\xe0\x80\x00\x87q\x06.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: \\x80 PROTO      3\n",
                "    2: C    SHORT_BINBYTES b'\\xff'\n",
                "    5: q    BINPUT     0\n",
                "    7: }    EMPTY_DICT\n",
                "    8: q    BINPUT     1\n",
                "   10: K    BININT1    1\n",
                "   12: c    GLOBAL     'builtins frozenset'\n",
                "   32: q    BINPUT     2\n",
                "   34: ]    EMPTY_LIST\n",
                "   35: q    BINPUT     3\n",
                "   37: K    BININT1    2\n",
                "   39: a    APPEND\n",
                "   40: \\x85 TUPLE1\n",
                "   41: q    BINPUT     4\n",
                "   43: R    REDUCE\n",
                "   44: q    BINPUT     5\n",
                "   46: s    SETITEM\n",
                "   47: G    BINFLOAT   1e+16\n",
                "   56: \\x87 TUPLE3\n",
                "   57: q    BINPUT     6\n",
                "   59: .    STOP\n",
                "highest protocol among opcodes = 3\n",
            ],
            error: None,
        },
        // pickle.dumps(("it's", b'\x00"', bytearray(b'x'), 'caf\xe9', 1 << 70, {3}, mod.Obj()), 4)
        Case {
            data: b"\x80\x04\x95e\x00\x00\x00\x00\x00\x00\x00(\x8c\x04it's\x94C\x02\x00\"\x94\x8c\x08builtins\x94\x8c\x09bytearray\x94\x93\x94C\x01x\x94\x85\x94R\x94\x8c\x05caf\xc3\xa9\x94\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@\x8f\x94(K\x03\x90\x8c\x03mod\x94\x8c\x03Obj\x94\x93\x94)\x81\x94}\x94\x8c\x01a\x94K\x01sbt\x94.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: \\x80 PROTO      4\n",
                "    2: \\x95 FRAME      101\n",
                "   11: (    MARK\n",
                "   12: \\x8c     SHORT_BINUNICODE \"it's\"\n",
                "   18: \\x94     MEMOIZE    (as 0)\n",
                "   19: C        SHORT_BINBYTES b'\\x00\"'\n",
                "   23: \\x94     MEMOIZE    (as 1)\n",
                "   24: \\x8c     SHORT_BINUNICODE 'builtins'\n",
                "   34: \\x94     MEMOIZE    (as 2)\n",
                "   35: \\x8c     SHORT_BINUNICODE 'bytearray'\n",
                "   46: \\x94     MEMOIZE    (as 3)\n",
                "   47: \\x93     STACK_GLOBAL\n",
                "   48: \\x94     MEMOIZE    (as 4)\n",
                "   49: C        SHORT_BINBYTES b'x'\n",
                "   52: \\x94     MEMOIZE    (as 5)\n",
                "   53: \\x85     TUPLE1\n",
                "   54: \\x94     MEMOIZE    (as 6)\n",
                "   55: R        REDUCE\n",
                "   56: \\x94     MEMOIZE    (as 7)\n",
                "   57: \\x8c     SHORT_BINUNICODE 'caf\u{e9}'\n",
                "   64: \\x94     MEMOIZE    (as 8)\n",
                "   65: \\x8a     LONG1      1180591620717411303424\n",
                "   76: \\x8f     EMPTY_SET\n",
                "   77: \\x94     MEMOIZE    (as 9)\n",
                "   78: (        MARK\n",
                "   79: K            BININT1    3\n",
                "   81: \\x90         ADDITEMS   (MARK at 78)\n",
                "   82: \\x8c     SHORT_BINUNICODE 'mod'\n",
                "   87: \\x94     MEMOIZE    (as 10)\n",
                "   88: \\x8c     SHORT_BINUNICODE 'Obj'\n",
                "   93: \\x94     MEMOIZE    (as 11)\n",
                "   94: \\x93     STACK_GLOBAL\n",
                "   95: \\x94     MEMOIZE    (as 12)\n",
                "   96: )        EMPTY_TUPLE\n",
                "   97: \\x81     NEWOBJ\n",
                "   98: \\x94     MEMOIZE    (as 13)\n",
                "   99: }        EMPTY_DICT\n",
                "  100: \\x94     MEMOIZE    (as 14)\n",
                "  101: \\x8c     SHORT_BINUNICODE 'a'\n",
                "  104: \\x94     MEMOIZE    (as 15)\n",
                "  105: K        BININT1    1\n",
                "  107: s        SETITEM\n",
                "  108: b        BUILD\n",
                "  109: t        TUPLE      (MARK at 11)\n",
                "  110: \\x94 MEMOIZE    (as 16)\n",
                "  111: .    STOP\n",
                "highest protocol among opcodes = 4\n",
            ],
            error: None,
        },
        // pickle.dumps(bytearray(b"it's"), 5), annotated (-a)
        Case {
            data: b"\x80\x05\x95\x0f\x00\x00\x00\x00\x00\x00\x00\x96\x04\x00\x00\x00\x00\x00\x00\x00it's\x94.",
            indentlevel: 4,
            annotate: 30,
            text: &[
                "    0: \\x80 PROTO      5              Protocol version indicator.\n",
                "    2: \\x95 FRAME      15             Indicate the beginning of a new frame.\n",
                "   11: \\x96 BYTEARRAY8 bytearray(b\"it\\'s\") Push a Python bytearray object.\n",
                "   24: \\x94 MEMOIZE    (as 0)              Store the stack top into the memo.  The stack is not popped.\n",
                "   25: .    STOP                           Stop the unpickling machine.\n",
                "highest protocol among opcodes = 5\n",
            ],
            error: None,
        },
        // pickle.dumps([(1, [2]), {'k': (None,)}], 2), annotated (-a)
        Case {
            data: b"\x80\x02]q\x00(K\x01]q\x01K\x02a\x86q\x02}q\x03X\x01\x00\x00\x00kq\x04N\x85q\x05se.",
            indentlevel: 4,
            annotate: 30,
            text: &[
                "    0: \\x80 PROTO      2              Protocol version indicator.\n",
                "    2: ]    EMPTY_LIST                Push an empty list.\n",
                "    3: q    BINPUT     0              Store the stack top into the memo.  The stack is not popped.\n",
                "    5: (    MARK                      Push markobject onto the stack.\n",
                "    6: K        BININT1    1          Push a one-byte unsigned integer.\n",
                "    8: ]        EMPTY_LIST            Push an empty list.\n",
                "    9: q        BINPUT     1          Store the stack top into the memo.  The stack is not popped.\n",
                "   11: K        BININT1    2          Push a one-byte unsigned integer.\n",
                "   13: a        APPEND                Append an object to a list.\n",
                "   14: \\x86     TUPLE2                Build a two-tuple out of the top two items on the stack.\n",
                "   15: q        BINPUT     2          Store the stack top into the memo.  The stack is not popped.\n",
                "   17: }        EMPTY_DICT            Push an empty dict.\n",
                "   18: q        BINPUT     3          Store the stack top into the memo.  The stack is not popped.\n",
                "   20: X        BINUNICODE 'k'        Push a Python Unicode string object.\n",
                "   26: q        BINPUT     4          Store the stack top into the memo.  The stack is not popped.\n",
                "   28: N        NONE                  Push None on the stack.\n",
                "   29: \\x85     TUPLE1                Build a one-tuple out of the topmost item on the stack.\n",
                "   30: q        BINPUT     5          Store the stack top into the memo.  The stack is not popped.\n",
                "   32: s        SETITEM               Add a key+value pair to an existing dict.\n",
                "   33: e        APPENDS    (MARK at 5) Extend a list by a slice of stack objects.\n",
                "   34: .    STOP                       Stop the unpickling machine.\n",
                "highest protocol among opcodes = 2\n",
            ],
            error: None,
        },
        // nested marks, indentlevel 1
        Case {
            data: b"((K\x01tt.",
            indentlevel: 1,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: (     MARK\n",
                "    2: K      BININT1    1\n",
                "    4: t      TUPLE      (MARK at 1)\n",
                "    5: t     TUPLE      (MARK at 0)\n",
                "    6: .    STOP\n",
                "highest protocol among opcodes = 1\n",
            ],
            error: None,
        },
        // nested marks, indentlevel 0
        Case {
            data: b"((K\x01tt.",
            indentlevel: 0,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: (    MARK\n",
                "    2: K    BININT1    1\n",
                "    4: t    TUPLE      (MARK at 1)\n",
                "    5: t    TUPLE      (MARK at 0)\n",
                "    6: .    STOP\n",
                "highest protocol among opcodes = 1\n",
            ],
            error: None,
        },
        // protocol 0 text arguments as pickletools reads them
        Case {
            data: b"(I 1_0 \nI00\nL-12L\nF 1_0.5\nF1e999\nS'a\\x41\\n'\nS'\nS\"it's\"\nc__main__\nA\\x42\nV\\u00e9\\\\u0041\nPid\nl.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: I        INT        10\n",
                "    8: I        INT        False\n",
                "   12: L        LONG       -12\n",
                "   18: F        FLOAT      10.5\n",
                "   26: F        FLOAT      inf\n",
                "   33: S        STRING     'aA\\n'\n",
                "   44: S        STRING     ''\n",
                "   47: S        STRING     \"it's\"\n",
                "   55: c        GLOBAL     '__main__ AB'\n",
                "   71: V        UNICODE    '\u{e9}\\\\\\\\u0041'\n",
                "   86: P        PERSID     'id'\n",
                "   90: l        LIST       (MARK at 0)\n",
                "   91: .    STOP\n",
                "highest protocol among opcodes = 0\n",
            ],
            error: None,
        },
        // INST, OBJ, BUILD
        Case {
            data: b"(imod\nObj\np0\n(dp1\nS'a'\np2\nI1\nsb(cmod\nObj\no.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: i        INST       'mod Obj' (MARK at 0)\n",
                "   10: p    PUT        0\n",
                "   13: (    MARK\n",
                "   14: d        DICT       (MARK at 13)\n",
                "   15: p    PUT        1\n",
                "   18: S    STRING     'a'\n",
                "   23: p    PUT        2\n",
                "   26: I    INT        1\n",
                "   29: s    SETITEM\n",
                "   30: b    BUILD\n",
                "   31: (    MARK\n",
                "   32: c        GLOBAL     'mod Obj'\n",
                "   41: o        OBJ        (MARK at 31)\n",
                "   42: .    STOP\n",
                "highest protocol among opcodes = 1\n",
            ],
            error: Some("ValueError: stack not empty after STOP: [any]"),
        },
        // printable and escaped text
        Case {
            data: b"\x8c\x0b\xc3\xa9\xe2\x80\x8b\xf0\x9f\x98\x80\xed\xa0\x80U\x03\xa0\xad\xffX\x01\x00\x00\x00'0\x88.",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'utf-8' codec can't decode byte 0xed in position 9: invalid continuation byte"),
        },
        // LONG1 and LONG4 edge values
        Case {
            data: b"\x8a\x00\x8a\x01\xff\x8a\x02\x00\x80\x8b\x00\x00\x00\x00\x8b\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80e.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: \\x8a LONG1      0\n",
                "    2: \\x8a LONG1      -1\n",
                "    5: \\x8a LONG1      -32768\n",
                "    9: \\x8b LONG4      0\n",
                "   14: \\x8b LONG4      -2361183241434822606848\n",
                "   28: e    APPENDS    no MARK exists on stack\n",
            ],
            error: Some("ValueError: no MARK exists on stack"),
        },
        // FRAME, EXT*, buffers, persistent ids
        Case {
            data: b"\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\xff\x82\x01\x83\x01\x02\x84\xff\xff\xff\xff\x97\x98Q\x81\x92\x90.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: \\x80 PROTO      5\n",
                "    2: \\x95 FRAME      18446744073709551615\n",
                "   11: \\x82 EXT1       1\n",
                "   13: \\x83 EXT2       513\n",
                "   16: \\x84 EXT4       -1\n",
                "   21: \\x97 NEXT_BUFFER\n",
                "   22: \\x98 READONLY_BUFFER\n",
                "   23: Q    BINPERSID\n",
                "   24: \\x81 NEWOBJ\n",
                "   25: \\x92 NEWOBJ_EX\n",
                "   26: \\x90 ADDITEMS   no MARK exists on stack\n",
            ],
            error: Some("ValueError: no MARK exists on stack"),
        },
        // POP of a MARK pops the mark; GET pushes what was stored
        Case {
            data: b"(0]q\x00h\x000.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: 0        POP        (MARK at 0)\n",
                "    2: ]    EMPTY_LIST\n",
                "    3: q    BINPUT     0\n",
                "    5: h    BINGET     0\n",
                "    7: 0    POP\n",
                "    8: .    STOP\n",
                "highest protocol among opcodes = 1\n",
            ],
            error: None,
        },
        // empty input
        Case {
            data: b"",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: pickle exhausted before seeing STOP"),
        },
        // no STOP
        Case {
            data: b"N",
            indentlevel: 4,
            annotate: 0,
            text: &["    0: N    NONE\n"],
            error: Some("ValueError: pickle exhausted before seeing STOP"),
        },
        // unknown opcode
        Case {
            data: b"N\xff",
            indentlevel: 4,
            annotate: 0,
            text: &["    0: N    NONE\n"],
            error: Some("ValueError: at position 1, opcode b'\\xff' unknown"),
        },
        // stack not empty
        Case {
            data: b"]q\x00h\x00h\x00.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: ]    EMPTY_LIST\n",
                "    1: q    BINPUT     0\n",
                "    3: h    BINGET     0\n",
                "    5: h    BINGET     0\n",
                "    7: .    STOP\n",
                "highest protocol among opcodes = 1\n",
            ],
            error: Some("ValueError: stack not empty after STOP: [list, list]"),
        },
        // a mark left on the stack
        Case {
            data: b"(N.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: N        NONE\n",
                "    2: .        STOP\n",
                "highest protocol among opcodes = 0\n",
            ],
            error: Some("ValueError: stack not empty after STOP: [mark]"),
        },
        // stack underflow
        Case {
            data: b"a",
            indentlevel: 4,
            annotate: 0,
            text: &["    0: a    APPEND\n"],
            error: Some("ValueError: tries to pop 2 items from stack with only 0 items"),
        },
        // no MARK
        Case {
            data: b"(tt",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: t        TUPLE      (MARK at 0)\n",
                "    2: t    TUPLE      no MARK exists on stack\n",
            ],
            error: Some("ValueError: no MARK exists on stack"),
        },
        // GET before PUT
        Case {
            data: b"h\x01",
            indentlevel: 4,
            annotate: 0,
            text: &["    0: h    BINGET     1\n"],
            error: Some("ValueError: memo key 1 has never been stored into"),
        },
        // PUT on an empty stack
        Case {
            data: b"p0\n",
            indentlevel: 4,
            annotate: 0,
            text: &["    0: p    PUT        0\n"],
            error: Some("ValueError: stack is empty -- can't store into memo"),
        },
        // PUT of a MARK
        Case {
            data: b"(p0\n",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: p        PUT        0\n",
            ],
            error: Some("ValueError: can't store markobject in the memo"),
        },
        // PUT 01 is True, the key 1
        Case {
            data: b"Np1\nNp01\n",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: N    NONE\n",
                "    1: p    PUT        1\n",
                "    4: N    NONE\n",
                "    5: p    PUT        True\n",
            ],
            error: Some("ValueError: memo key True already defined"),
        },
        // MEMOIZE onto an existing key
        Case {
            data: b"Nr\x01\x00\x00\x00N\x94",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: N    NONE\n",
                "    1: r    LONG_BINPUT 1\n",
                "    6: N    NONE\n",
                "    7: \\x94 MEMOIZE    (as 1)\n",
            ],
            error: Some("ValueError: memo key None already defined"),
        },
        // GET 00 finds key 0
        Case {
            data: b"Np0\ng00\n0.",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: N    NONE\n",
                "    1: p    PUT        0\n",
                "    4: g    GET        False\n",
                "    8: 0    POP\n",
                "    9: .    STOP\n",
                "highest protocol among opcodes = 0\n",
            ],
            error: None,
        },
        // DUP of a MARK: IndexError after the offset
        Case {
            data: b"(2e",
            indentlevel: 4,
            annotate: 0,
            text: &[
                "    0: (    MARK\n",
                "    1: 2        DUP\n",
                "    2: ",
            ],
            error: Some("IndexError: list index out of range"),
        },
        // truncated uint1
        Case {
            data: b"K",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: not enough data in stream to read uint1"),
        },
        // truncated int4
        Case {
            data: b"J\x01\x02",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: not enough data in stream to read int4"),
        },
        // no newline
        Case {
            data: b"I12",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: no newline found when trying to read stringnl"),
        },
        // no newline (unicode)
        Case {
            data: b"Vab",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: no newline found when trying to read unicodestringnl"),
        },
        // bad int
        Case {
            data: b"Ix\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: invalid literal for int() with base 10: b'x'"),
        },
        // bad float
        Case {
            data: b"F1_\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: could not convert string to float: b'1_'"),
        },
        // one quote
        Case {
            data: b"S'ab\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: strinq quote b\"'\" not found at both ends of b\"'ab\""),
        },
        // no quotes
        Case {
            data: b"Sab\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: no string quotes around b'ab'"),
        },
        // bad \x escape
        Case {
            data: b"S'a\\x4g'\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: invalid \\x escape at position 1"),
        },
        // trailing backslash
        Case {
            data: b"S'a\\'\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: Trailing \\ in string"),
        },
        // non-ASCII STRING
        Case {
            data: b"S'\\xe9'\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'ascii' codec can't decode byte 0xe9 in position 0: ordinal not in range(128)"),
        },
        // non-ASCII GLOBAL
        Case {
            data: b"cos\n\xe9\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'ascii' codec can't decode byte 0xe9 in position 0: ordinal not in range(128)"),
        },
        // truncated \u
        Case {
            data: b"Vab\\u12g4\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'rawunicodeescape' codec can't decode bytes in position 2-5: truncated \\uXXXX escape"),
        },
        // \U out of range
        Case {
            data: b"V\\U00110000\n",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'rawunicodeescape' codec can't decode bytes in position 0-9: \\Uxxxxxxxx out of range"),
        },
        // invalid start byte
        Case {
            data: b"\x8c\x02a\xff",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 1: invalid start byte"),
        },
        // unexpected end of data
        Case {
            data: b"\x8c\x03a\xe2\x82",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'utf-8' codec can't decode bytes in position 1-2: unexpected end of data"),
        },
        // truncated surrogate
        Case {
            data: b"\x8c\x03a\xed\xa0",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'utf-8' codec can't decode byte 0xed in position 1: invalid continuation byte"),
        },
        // invalid continuation byte
        Case {
            data: b"X\x05\x00\x00\x00a\xf0\x90\x80x",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("UnicodeDecodeError: 'utf-8' codec can't decode bytes in position 1-3: invalid continuation byte"),
        },
        // negative string4 count
        Case {
            data: b"T\xff\xff\xff\xff",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: string4 byte count < 0: -1"),
        },
        // short string1
        Case {
            data: b"U\x05abc",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: expected 5 bytes in a string1, but only 3 remain"),
        },
        // short bytes4
        Case {
            data: b"B\x05\x00\x00\x00abc",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: expected 5 bytes in a bytes4, but only 3 remain"),
        },
        // bytes8 count over sys.maxsize
        Case {
            data: b"\x8e\x00\x00\x00\x00\x00\x00\x00\x80",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: bytes8 byte count > sys.maxsize: 9223372036854775808"),
        },
        // short long1
        Case {
            data: b"\x8a\x03ab",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: not enough data in stream to read long1"),
        },
        // negative long4 count
        Case {
            data: b"\x8b\xff\xff\xff\xff",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: long4 byte count < 0: -1"),
        },
        // short float8
        Case {
            data: b"G\x00",
            indentlevel: 4,
            annotate: 0,
            text: &[],
            error: Some("ValueError: not enough data in stream to read float8"),
        },
    ];

    #[test]
    fn output_and_errors_match_pickletools() {
        for case in CASES {
            let opts = DisOptions {
                indentlevel: case.indentlevel,
                annotate: case.annotate,
            };
            let (text, r) = dis_to_string(case.data, &opts);
            assert_eq!(text, case.text.concat(), "{:?}", case.data);
            let err = r
                .err()
                .map(|e| format!("{}: {e}", e.kind.python_exception().unwrap()));
            assert_eq!(err.as_deref(), case.error, "{:?}", case.data);
        }
    }

    #[test]
    fn error_offsets() {
        let offset = |data: &[u8]| {
            dis_to_string(data, &DisOptions::default())
                .1
                .unwrap_err()
                .offset
        };
        assert_eq!(offset(b""), Some(0));
        assert_eq!(offset(b"NN"), Some(2));
        assert_eq!(offset(b"N\xff"), Some(1));
        assert_eq!(offset(b"NU\x05abc"), Some(1));
        assert_eq!(offset(b"N]t"), Some(2));
        assert_eq!(offset(b"NN."), Some(2));
        assert_eq!(DisError::output().offset, None);
        assert_eq!(DisError::output().kind.python_exception(), None);
    }

    #[test]
    fn output_errors_stop_the_disassembly() {
        /// Accepts `left` bytes, then fails.
        struct Capped {
            left: usize,
        }
        impl fmt::Write for Capped {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.left = self.left.checked_sub(s.len()).ok_or(fmt::Error)?;
                Ok(())
            }
        }
        let e = dis(b"((((N.", &mut Capped { left: 40 }, &DisOptions::default()).unwrap_err();
        assert_eq!(e, DisError::output());
    }

    #[test]
    fn int_digit_limits() {
        // INT text over 4300 digits (leading zeros count) fails to read.
        let mut data = b"I".to_vec();
        data.extend(std::iter::repeat_n(b'0', 4300));
        data.extend(b"1\n.");
        let (text, r) = dis_to_string(&data, &DisOptions::default());
        assert_eq!(text, "");
        assert_eq!(
            r.unwrap_err().message,
            "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; use sys.set_int_max_str_digits() to increase the limit"
        );
        // A LONG4 of 4335 digits reads fine but cannot be printed, and
        // Python has already printed the offset.
        let mut data = b"N\x8b\x08\x07\x00\x00".to_vec();
        data.extend(std::iter::repeat_n(0x7f, 1800));
        data.push(b'.');
        let (text, r) = dis_to_string(&data, &DisOptions::default());
        assert_eq!(text, "    0: N    NONE\n    1: ");
        let e = r.unwrap_err();
        assert_eq!(
            (e.kind.python_exception(), e.message.as_str()),
            (Some("ValueError"), repr::INT_REPR_TOO_LARGE)
        );
    }

    #[test]
    fn python_int_and_float_parsing() {
        // Expectations from CPython's int(bytes) and float(bytes).
        assert_eq!(py_int(b" \t-0_1 ").unwrap(), PyInt::Small(-1));
        assert_eq!(py_int(b"+007").unwrap(), PyInt::Small(7));
        assert_eq!(py_int(b"\x0c1\x0b").unwrap(), PyInt::Small(1));
        for bad in [
            &b"1__0"[..],
            b"_1",
            b"+_1",
            b"1_",
            b"- 1",
            b"--1",
            b"1\x00",
            b"",
            b"\x1c1",
            b"0x10",
            b"1 2",
            b"\xa01",
        ] {
            assert!(py_int(bad).is_err(), "{bad:?}");
        }
        // The literal's repr is cut to 200 characters.
        let e = py_int(&[b'x'; 300]).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "invalid literal for int() with base 10: b'{}",
                "x".repeat(198)
            )
        );
        // Digits are counted before trailing junk is noticed.
        let mut t = vec![b'1'; 5000];
        t.push(b'x');
        assert!(py_int(&t)
            .unwrap_err()
            .message
            .contains("value has 5000 digits"));
        for (t, v) in [
            (&b"1_000.5"[..], 1000.5),
            (b"1.", 1.0),
            (b".5", 0.5),
            (b"+.5e-3", 0.0005),
            (b"1_0e1_0", 1e11),
            (b"-Infinity", f64::NEG_INFINITY),
            (b"infINITY", f64::INFINITY),
            (b"1e99999", f64::INFINITY),
            (b"-1e-99999", -0.0),
            (b" 1.5\x0b", 1.5),
            (b"00.5", 0.5),
            (b"1e0005", 1e5),
        ] {
            let got = py_float(t).unwrap();
            assert_eq!(
                (got, got.is_sign_negative()),
                (v, v.is_sign_negative()),
                "{t:?}"
            );
        }
        assert!(py_float(b"-nan").unwrap().is_nan());
        for bad in [
            &b"1_e5"[..],
            b"1e_5",
            b"_1.0",
            b"1.0_",
            b"1._5",
            b"1_.5",
            b"nan_",
            b".",
            b"e5",
            b"1e",
            b"1e+",
            b"in f",
            b"infinit",
            b"0x1p3",
            b"1\x00",
            b"1_0\x00",
            b"",
            b"  ",
            b"\x1c1",
        ] {
            assert!(py_float(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            py_float(b"x").unwrap_err().message,
            "could not convert string to float: b'x'"
        );
    }
}
