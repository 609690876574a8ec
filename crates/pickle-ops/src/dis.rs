//! A disassembler whose text equals `python3 -m pickletools FILE`
//! (CPython 3.11's `pickletools.dis`) line for line.
//!
//! ```
//! use pickle_ops::dis::{dis, DisOptions};
//!
//! // pickle.dumps([1, 'a'], 2)
//! let mut out = String::new();
//! dis(b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01e.", &mut out, &DisOptions::default()).unwrap();
//! assert_eq!(out, "    \
//!     0: \\x80 PROTO      2
//!     2: ]    EMPTY_LIST
//!     3: q    BINPUT     0
//!     5: (    MARK
//!     6: K        BININT1    1
//!     8: X        BINUNICODE 'a'
//!    14: q        BINPUT     1
//!    16: e        APPENDS    (MARK at 5)
//!    17: .    STOP
//! highest protocol among opcodes = 2
//! ");
//! ```
//!
//! Like `pickletools.dis`, it emulates the unpickler's stack and memo with
//! placeholder objects to indent MARK blocks and to check the pickle:
//! stack underflow, a missing MARK, memo keys used before being stored or
//! stored twice, and a non-empty stack after STOP are errors. Errors come
//! back as a [`DisError`] instead of a traceback; the text written to `out`
//! before it is exactly what Python prints to stdout before raising, which
//! in two cases (see below) ends with a partial line `"%5d: "`.
//!
//! # Reading the ops
//!
//! The op arguments are read as `pickletools`' own readers read them, not
//! with [`crate::parse`]: the two disagree on purpose in places (the parser
//! follows the unpickler, `pickletools` is laxer or stricter), and the text
//! must be `pickletools`'. In particular:
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
//! [`DisError::python_exception`].
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
        DisOptions { indentlevel: 4, annotate: 0 }
    }
}

/// Why a disassembly stopped: the exception `pickletools` would raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisError {
    offset: Option<usize>,
    exception: Option<&'static str>,
    message: String,
}

impl DisError {
    fn new(offset: usize, exception: &'static str, message: impl Into<String>) -> DisError {
        DisError { offset: Some(offset), exception: Some(exception), message: message.into() }
    }

    fn value(offset: usize, message: impl Into<String>) -> DisError {
        DisError::new(offset, "ValueError", message)
    }

    fn output() -> DisError {
        DisError { offset: None, exception: None, message: "error writing the disassembly".into() }
    }

    /// Byte offset of the op that failed; for "pickle exhausted before
    /// seeing STOP", the length of the input. `None` for an output error.
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }

    /// The message, as Python's exception carries it (e.g. `"at position
    /// 3, opcode b'\xff' unknown"`, `"memo key 1 has never been stored
    /// into"`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The Python exception type `pickletools` raises for this error
    /// (`"ValueError"`, `"UnicodeDecodeError"` or `"IndexError"`); `None`
    /// when writing to the output failed.
    pub fn python_exception(&self) -> Option<&'static str> {
        self.exception
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
pub fn dis<W: fmt::Write + ?Sized>(data: &[u8], out: &mut W, opts: &DisOptions) -> Result<(), DisError> {
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
                    format!("at position {pos}, opcode {} unknown", repr::bytes_repr(&[code])),
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
            let code_repr = repr::str_repr(&[code as u32]);
            let code_repr = &code_repr[1..code_repr.len() - 1];
            let mut line = format!("{code_repr:<4} {}{}", indentchunk.repeat(self.markstack.len()), info.name);

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
                            None => return Err(DisError::new(pos, "IndexError", "list index out of range")),
                        }
                    }
                    numtopop = before.iter().position(|k| *k == StackKind::Mark).unwrap_or(0);
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
                    let (key, key_repr) = if opcode == Opcode::Memoize {
                        let idx = self.memo.len();
                        markmsg = Some(format!("(as {idx})"));
                        // `"memo key %r already defined" % arg` with arg None.
                        (PyInt::Small(idx as i64), "None".to_string())
                    } else {
                        let arg = arg.as_ref().expect("memo ops have an argument");
                        (arg.memo_key(), arg.repr().map_err(|e| e.at(pos))?)
                    };
                    if self.memo.contains_key(&key) {
                        errormsg = Some(format!("memo key {key_repr} already defined"));
                    } else {
                        match self.stack.last() {
                            None => errormsg = Some("stack is empty -- can't store into memo".into()),
                            Some(StackKind::Mark) => errormsg = Some("can't store markobject in the memo".into()),
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
                            errormsg = Some(format!("memo key {key_repr} has never been stored into"));
                        }
                    }
                }
                _ => {}
            }

            if arg.is_some() || markmsg.is_some() {
                // Make a mild effort to align arguments.
                line.extend(std::iter::repeat_n(' ', 10usize.saturating_sub(info.name.len())));
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
                    format!("tries to pop {numtopop} items from stack with only {} items", self.stack.len()),
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
            return Err(DisError::value(stop, format!("stack not empty after STOP: [{}]", names.join(", "))));
        }
        Ok(())
    }
}

/// A Python exception raised while reading or printing an argument; the
/// op's offset is added by the caller.
#[derive(Debug)]
struct PyErr {
    exception: &'static str,
    message: String,
}

impl PyErr {
    fn value(message: impl Into<String>) -> PyErr {
        PyErr { exception: "ValueError", message: message.into() }
    }

    fn unicode(message: String) -> PyErr {
        PyErr { exception: "UnicodeDecodeError", message }
    }

    fn at(self, offset: usize) -> DisError {
        DisError::new(offset, self.exception, self.message)
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
        b.try_into().map_err(|_| PyErr::value(format!("not enough data in stream to read {what}")))
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
        self.readline().ok_or_else(|| PyErr::value(format!("no newline found when trying to read {what}")))
    }

    /// The count and payload of a counted argument, with pickletools'
    /// messages (`what` is the descriptor's name, e.g. `bytes4`).
    fn counted(&mut self, n: u64, what: &str) -> Result<&'a [u8], PyErr> {
        let data = self.read(n);
        if data.len() as u64 == n {
            Ok(data)
        } else {
            Err(PyErr::value(format!("expected {n} bytes in a {what}, but only {} remain", data.len())))
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
            ArgValue::Str(cps) => repr::str_repr(cps),
            ArgValue::Latin1(b) => repr::str_repr(&b.iter().map(|&c| c as u32).collect::<Vec<_>>()),
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
        K::Uint2 => ArgValue::Int(PyInt::Small(u16::from_le_bytes(s.read_fixed("uint2")?) as i64)),
        K::Int4 => ArgValue::Int(PyInt::Small(i32::from_le_bytes(s.read_fixed("int4")?) as i64)),
        K::Uint4 => ArgValue::Int(PyInt::Small(u32::from_le_bytes(s.read_fixed("uint4")?) as i64)),
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
                    if t.last() != Some(&q) || t.len() < 1 {
                        return Err(PyErr::value(format!(
                            "strinq quote {} not found at both ends of {}",
                            repr::bytes_repr(&[q]),
                            repr::bytes_repr(t)
                        )));
                    }
                    // A lone quote both starts and ends the text: ''.
                    inner = Some(if t.len() >= 2 { &t[1..t.len() - 1] } else { &t[..0] });
                    break;
                }
            }
            let Some(inner) = inner else {
                return Err(PyErr::value(format!("no string quotes around {}", repr::bytes_repr(t))));
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
        return Err(PyErr::value(format!("{what} byte count > sys.maxsize: {n}")));
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
    let invalid = || PyErr::value(format!("could not convert string to float: {}", repr::bytes_repr(b)));
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
    let start = t.iter().position(|&c| !is_py_space(c)).ok_or_else(invalid)?;
    let end = t.iter().rposition(|&c| !is_py_space(c)).map_or(start, |e| e + 1);
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
            std::str::from_utf8(body).ok().and_then(|s| s.parse::<f64>().ok()).ok_or_else(invalid)?
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
            PyErr::value(format!("invalid \\x escape at position {}", bad_x_escape(b)))
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
        let (count, why) =
            if b[i] == b'u' { (4, "truncated \\uXXXX escape") } else { (8, "truncated \\UXXXXXXXX escape") };
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
            let ok2 = |c: u8| cont(c) && !(lead == 0xe0 && c < 0xa0) && !(lead == 0xed && c >= 0xa0);
            if rest.len() >= 2 && !ok2(rest[1]) {
                (start + 1, "invalid continuation byte")
            } else if rest.len() < 3 {
                (b.len(), "unexpected end of data")
            } else {
                (start + 2, "invalid continuation byte")
            }
        }
        0xf0..=0xf4 => {
            let ok2 = |c: u8| cont(c) && !(lead == 0xf0 && c < 0x90) && !(lead == 0xf4 && c >= 0x90);
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
        format!("'utf-8' codec can't decode bytes in position {start}-{}: {reason}", end - 1)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8]) -> (String, Result<(), DisError>) {
        dis_to_string(data, &DisOptions::default())
    }

    fn ok(data: &[u8]) -> String {
        let (text, r) = run(data);
        r.unwrap_or_else(|e| panic!("{e}\n{text}"));
        text
    }

    fn err(data: &[u8]) -> (String, DisError) {
        let (text, r) = run(data);
        (text, r.unwrap_err())
    }

    #[test]
    fn protocol_0_with_memo() {
        // pickle.dumps({'a': [1, 2.5, None, True]}, 0), from CPython 3.11.
        let data = b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naNaI01\nas.";
        let want = "    0: (    MARK
    1: d        DICT       (MARK at 0)
    2: p    PUT        0
    5: V    UNICODE    'a'
    8: p    PUT        1
   11: (    MARK
   12: l        LIST       (MARK at 11)
   13: p    PUT        2
   16: I    INT        1
   19: a    APPEND
   20: F    FLOAT      2.5
   25: a    APPEND
   26: N    NONE
   27: a    APPEND
   28: I    INT        True
   32: a    APPEND
   33: s    SETITEM
   34: .    STOP
highest protocol among opcodes = 0
";
        assert_eq!(ok(data), want);
    }

    #[test]
    fn protocol_4_frame_memoize_and_strings() {
        // pickle.dumps(("it's", b'\x00"', bytearray(b'x'), 'caf\u00e9', 1 << 70, -1.5e-7), 4)
        let data = b"\x80\x04\x95H\x00\x00\x00\x00\x00\x00\x00(\x8c\x04it's\x94C\x02\x00\"\x94\x8c\x08builtins\x94\x8c\tbytearray\x94\x93\x94C\x01x\x94\x85\x94R\x94\x8c\x05caf\xc3\xa9\x94\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@G\xbe\x84+\xcc\xf6\xb9\x84\xfft\x94.";
        let want = "    0: \\x80 PROTO      4
    2: \\x95 FRAME      72
   11: (    MARK
   12: \\x8c     SHORT_BINUNICODE \"it's\"
   18: \\x94     MEMOIZE    (as 0)
   19: C        SHORT_BINBYTES b'\\x00\"'
   23: \\x94     MEMOIZE    (as 1)
   24: \\x8c     SHORT_BINUNICODE 'builtins'
   34: \\x94     MEMOIZE    (as 2)
   35: \\x8c     SHORT_BINUNICODE 'bytearray'
   46: \\x94     MEMOIZE    (as 3)
   47: \\x93     STACK_GLOBAL
   48: \\x94     MEMOIZE    (as 4)
   49: C        SHORT_BINBYTES b'x'
   52: \\x94     MEMOIZE    (as 5)
   53: \\x85     TUPLE1
   54: \\x94     MEMOIZE    (as 6)
   55: R        REDUCE
   56: \\x94     MEMOIZE    (as 7)
   57: \\x8c     SHORT_BINUNICODE 'caf\u{e9}'
   64: \\x94     MEMOIZE    (as 8)
   65: \\x8a     LONG1      1180591620717411303424
   76: G        BINFLOAT   -1.5e-07
   85: t        TUPLE      (MARK at 11)
   86: \\x94     MEMOIZE    (as 9)
   87: .    STOP
highest protocol among opcodes = 4
";
        assert_eq!(ok(data), want);
    }

    #[test]
    fn protocol_5_bytearray8_and_annotations() {
        // pickle.dumps(bytearray(b"it's"), 5), printed with annotate=30.
        let data = b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x96\x04\x00\x00\x00\x00\x00\x00\x00it's\x94.";
        let (text, r) = dis_to_string(data, &DisOptions { indentlevel: 4, annotate: 30 });
        r.unwrap();
        let want = "    0: \\x80 PROTO      5              Protocol version indicator.
    2: \\x95 FRAME      16             Indicate the beginning of a new frame.
   11: \\x96 BYTEARRAY8 bytearray(b\"it\\'s\") Push a Python bytearray object.
   24: \\x94 MEMOIZE    (as 0)            Store the stack top into the memo.  The stack is not popped.
   25: .    STOP                          Stop the unpickling machine.
highest protocol among opcodes = 5
";
        assert_eq!(text, want);
    }

    #[test]
    fn indentlevel_and_nested_marks() {
        let (text, r) = dis_to_string(b"((K\x01tt.", &DisOptions { indentlevel: 1, annotate: 0 });
        r.unwrap();
        assert_eq!(
            text,
            "    0: (    MARK
    1: (     MARK
    2: K       BININT1    1
    4: t      TUPLE      (MARK at 1)
    5: t     TUPLE      (MARK at 0)
    6: .    STOP
highest protocol among opcodes = 1
"
        );
    }

    #[test]
    fn text_arguments_read_like_pickletools() {
        let text = ok(b"(I 1_0 \nI00\nL-12L\nF 1_0.5\nF1e999\nS'a\\x41\\n'\nS'\nS\"it's\"\nc__main__\nA\\x42\nV\\u00e9\\\\u0041\nl.");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "    1: I        INT        10");
        assert_eq!(lines[2], "    8: I        INT        False");
        assert_eq!(lines[3], "   12: L        LONG       -12");
        assert_eq!(lines[4], "   18: F        FLOAT      10.5");
        assert_eq!(lines[5], "   26: F        FLOAT      inf");
        assert_eq!(lines[6], "   33: S        STRING     'aA\\n'");
        assert_eq!(lines[7], "   43: S        STRING     ''");
        assert_eq!(lines[8], "   46: S        STRING     \"it's\"");
        assert_eq!(lines[9], "   54: c        GLOBAL     '__main__ AB'");
        assert_eq!(lines[10], "   70: V        UNICODE    '\u{e9}\\\\\\\\u0041'");
        assert_eq!(lines[11], "   85: l        LIST       (MARK at 0)");
    }

    #[test]
    fn reader_errors() {
        for (data, offset, exc, msg, printed) in [
            (&b"N"[..], 1, "ValueError", "pickle exhausted before seeing STOP", "    0: N    NONE\n"),
            (b"", 0, "ValueError", "pickle exhausted before seeing STOP", ""),
            (b"N\xff", 1, "ValueError", "at position 1, opcode b'\\xff' unknown", "    0: N    NONE\n"),
            (b"K", 0, "ValueError", "not enough data in stream to read uint1", ""),
            (b"J\x01\x02", 0, "ValueError", "not enough data in stream to read int4", ""),
            (b"I12", 0, "ValueError", "no newline found when trying to read stringnl", ""),
            (b"Vab", 0, "ValueError", "no newline found when trying to read unicodestringnl", ""),
            (b"Ix\n", 0, "ValueError", "invalid literal for int() with base 10: b'x'", ""),
            (b"F1_\n", 0, "ValueError", "could not convert string to float: b'1_'", ""),
            (b"S'ab\n", 0, "ValueError", "strinq quote b\"'\" not found at both ends of b\"'ab\"", ""),
            (b"Sab\n", 0, "ValueError", "no string quotes around b'ab'", ""),
            (b"S'a\\x4g'\n", 0, "ValueError", "invalid \\x escape at position 1", ""),
            (b"S'a\\'\n", 0, "ValueError", "Trailing \\ in string", ""),
            (b"S'\\xe9'\n", 0, "UnicodeDecodeError", "'ascii' codec can't decode byte 0xe9 in position 0: ordinal not in range(128)", ""),
            (b"cos\n\xe9\n", 0, "UnicodeDecodeError", "'ascii' codec can't decode byte 0xe9 in position 0: ordinal not in range(128)", ""),
            (b"Vab\\u12g4\n", 0, "UnicodeDecodeError", "'rawunicodeescape' codec can't decode bytes in position 2-5: truncated \\uXXXX escape", ""),
            (b"V\\U00110000\n", 0, "UnicodeDecodeError", "'rawunicodeescape' codec can't decode bytes in position 0-9: \\Uxxxxxxxx out of range", ""),
            (b"\x8c\x02a\xff", 0, "UnicodeDecodeError", "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte", ""),
            (b"\x8c\x03a\xe2\x82", 0, "UnicodeDecodeError", "'utf-8' codec can't decode bytes in position 1-2: unexpected end of data", ""),
            (b"\x8c\x03a\xed\xa0", 0, "UnicodeDecodeError", "'utf-8' codec can't decode byte 0xed in position 1: invalid continuation byte", ""),
            (b"X\x05\x00\x00\x00a\xf0\x90\x80x", 0, "UnicodeDecodeError", "'utf-8' codec can't decode bytes in position 1-3: invalid continuation byte", ""),
            (b"T\xff\xff\xff\xff", 0, "ValueError", "string4 byte count < 0: -1", ""),
            (b"U\x05abc", 0, "ValueError", "expected 5 bytes in a string1, but only 3 remain", ""),
            (b"B\x05\x00\x00\x00abc", 0, "ValueError", "expected 5 bytes in a bytes4, but only 3 remain", ""),
            (b"\x8e\x00\x00\x00\x00\x00\x00\x00\x80", 0, "ValueError", "bytes8 byte count > sys.maxsize: 9223372036854775808", ""),
            (b"\x8a\x03ab", 0, "ValueError", "not enough data in stream to read long1", ""),
            (b"\x8b\xff\xff\xff\xff", 0, "ValueError", "long4 byte count < 0: -1", ""),
            (b"G\x00", 0, "ValueError", "not enough data in stream to read float8", ""),
        ] {
            let (text, e) = err(data);
            assert_eq!((e.offset(), e.python_exception(), e.message()), (Some(offset), Some(exc), msg), "{data:?}");
            assert_eq!(text, printed, "{data:?}");
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn digit_limits() {
        let mut data = b"I".to_vec();
        data.extend(std::iter::repeat_n(b'0', 4300));
        data.extend(b"1\n.");
        let e = err(&data).1;
        assert_eq!(
            e.message(),
            "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; use sys.set_int_max_str_digits() to increase the limit"
        );
        // A LONG4 of 4302 decimal digits reads fine but cannot be printed:
        // Python has already printed the offset.
        let mut data = b"N\x8b\xe0\x06\x00\x00".to_vec();
        data.extend(std::iter::repeat_n(0x7f, 0x6e0));
        data.push(b'.');
        let (text, e) = err(&data);
        assert_eq!(text, "    0: N    NONE\n    1: ");
        assert_eq!(e.message(), repr::INT_REPR_TOO_LARGE);
    }

    #[test]
    fn stack_and_memo_errors() {
        for (data, msg, printed) in [
            (&b"N."[..], None, "    0: N    NONE\n    1: .    STOP\nhighest protocol among opcodes = 0\n"),
            (b"NN.", Some("stack not empty after STOP: [None]"), "    0: N    NONE\n    1: N    NONE\n    2: .    STOP\nhighest protocol among opcodes = 0\n"),
            (b"(N.", Some("stack not empty after STOP: [mark]"), "    0: (    MARK\n    1: N        NONE\n    2: .        STOP\nhighest protocol among opcodes = 0\n"),
            (b"a", Some("tries to pop 2 items from stack with only 0 items"), "    0: a    APPEND\n"),
            (b"t", Some("no MARK exists on stack"), "    0: t    TUPLE      no MARK exists on stack\n"),
            (b"h\x01", Some("memo key 1 has never been stored into"), "    0: h    BINGET     1\n"),
            (b"p0\n", Some("stack is empty -- can't store into memo"), "    0: p    PUT        0\n"),
            (b"(p0\n", Some("can't store markobject in the memo"), "    0: (    MARK\n    1: p        PUT        0\n"),
            (b"Np1\nNp01\n", Some("memo key True already defined"), "    0: N    NONE\n    1: p    PUT        1\n    4: N    NONE\n    5: p    PUT        True\n"),
            (b"Nr\x01\x00\x00\x00N\x94", Some("memo key None already defined"), "    0: N    NONE\n    1: r    LONG_BINPUT 1\n    6: N    NONE\n    7: \\x94 MEMOIZE    (as 1)\n"),
        ] {
            let (text, r) = run(data);
            assert_eq!(r.as_ref().err().map(DisError::message), msg, "{data:?}");
            assert_eq!(text, printed, "{data:?}");
        }
        // POP of a MARK pops the mark; GET pushes what was stored.
        assert_eq!(
            ok(b"(0]q\x00h\x000."),
            "    0: (    MARK
    1: 0        POP        (MARK at 0)
    2: ]    EMPTY_LIST
    3: q    BINPUT     0
    5: h    BINGET     0
    7: 0    POP
    8: .    STOP
highest protocol among opcodes = 1
"
        );
        let (_, r) = run(b"]q\x00h\x00h\x00.");
        assert_eq!(r.unwrap_err().message(), "stack not empty after STOP: [list, list]");
        // A DUP of the mark leaves a MARK with no markobject: IndexError
        // after the offset is printed.
        let (text, r) = run(b"(2e");
        let e = r.unwrap_err();
        assert_eq!(text, "    0: (    MARK\n    1: 2        DUP\n    2: ");
        assert_eq!((e.python_exception(), e.message()), (Some("IndexError"), "list index out of range"));
    }

    #[test]
    fn python_int_and_float_parsing() {
        assert_eq!(py_int(b" \t-0_1 ").unwrap(), PyInt::Small(-1));
        assert_eq!(py_int(b"+007").unwrap(), PyInt::Small(7));
        for bad in [&b"1__0"[..], b"_1", b"1_", b"- 1", b"1\x00", b"", b"\x1c1", b"0x10", b"1 2"] {
            assert!(py_int(bad).is_err(), "{bad:?}");
        }
        assert_eq!(py_int(&[b'x'; 300]).unwrap_err().message.len(), "invalid literal for int() with base 10: ".len() + 200);
        for (t, v) in [(&b"1_000.5"[..], 1000.5), (b"1.", 1.0), (b".5", 0.5), (b"+.5e-3", 0.0005), (b"1_0e1_0", 1e11), (b"-Infinity", f64::NEG_INFINITY), (b"1e99999", f64::INFINITY), (b" 1.5\x0b", 1.5)] {
            assert_eq!(py_float(t).unwrap(), v, "{t:?}");
        }
        assert!(py_float(b"-nan").unwrap().is_nan());
        for bad in [&b"1_e5"[..], b"1e_5", b"_1.0", b"1.0_", b"1._5", b"1_.5", b"nan_", b".", b"e5", b"1e", b"1e+", b"in f", b"infinit", b"0x1p3", b"1\x00", b"", b"  "] {
            assert!(py_float(bad).is_err(), "{bad:?}");
        }
    }
}
