//! Python literals as numpy prints dtypes: [`Lit`], a parser
//! ([`parse_literal`]) with limits on size and nesting, and the text of a
//! shape ([`shape_text`]). Python's `repr` of a str is
//! `pickle_ops::repr::str_repr`.

use crate::error::{bad, Error, Result};

/// Deepest nesting of lists/tuples/dicts accepted in a literal (a dtype's
/// name or `descr`).
pub const MAX_DEPTH: usize = 32;

/// Most values (strings, ints, containers) a literal may hold.
pub const MAX_NODES: usize = 1 << 16;

/// A small Python literal: what a descr or a dtype name is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lit {
    /// `str`
    Str(String),
    /// non-negative `int`
    Int(u64),
    /// `True`/`False`
    Bool(bool),
    /// `None`
    None,
    /// A dotted name (`numpy.record`).
    Name(String),
    /// `list`
    List(Vec<Lit>),
    /// `tuple`
    Tuple(Vec<Lit>),
    /// `dict`, in order.
    Dict(Vec<(Lit, Lit)>),
}

/// A shape as Python prints the tuple (and numpy the shape): `(2, 3)`,
/// `(5,)`, `()`.
pub fn shape_text<T: std::fmt::Display>(shape: &[T]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(T::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

// ------------------------------------------------- Python literal text

/// Parses a Python literal as `str(dtype)` prints one: str (either quote,
/// with escapes), non-negative int, `True`, `False`, `None`, dotted names,
/// lists, tuples and dicts.
pub fn parse_literal(s: &str) -> Result<Lit> {
    let mut p = LitParser {
        s: s.as_bytes(),
        text: s,
        i: 0,
        nodes: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(bad(0, s, "the end of the dtype"));
    }
    Ok(v)
}

struct LitParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    nodes: usize,
}

impl LitParser<'_> {
    fn err(&self, what: &'static str) -> Error {
        bad(0, self.text, what)
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(self.err("a smaller dtype"));
        }
        self.ws();
        let c = *self.s.get(self.i).ok_or_else(|| self.err("a value"))?;
        match c {
            b'[' | b'(' | b'{' => {
                self.i += 1;
                let close = match c {
                    b'[' => b']',
                    b'(' => b')',
                    _ => b'}',
                };
                let mut items = Vec::new();
                let mut pairs = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    let v = self.value(depth + 1)?;
                    if c == b'{' {
                        if !self.eat(b':') {
                            return Err(self.err("':' in a dict"));
                        }
                        pairs.push((v, self.value(depth + 1)?));
                    } else {
                        items.push(v);
                    }
                    trailing_comma = self.eat(b',');
                    if !trailing_comma {
                        if self.eat(close) {
                            break;
                        }
                        return Err(self.err("',' or a closing bracket"));
                    }
                }
                Ok(match c {
                    b'[' => Lit::List(items),
                    b'{' => Lit::Dict(pairs),
                    // `(x)` is x; `(x,)` is a 1-tuple.
                    _ if items.len() == 1 && !trailing_comma => items.remove(0),
                    _ => Lit::Tuple(items),
                })
            }
            b'\'' | b'"' => self.string(c).map(Lit::Str),
            b'0'..=b'9' => {
                let st = self.i;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                let t = self.text.get(st..self.i).unwrap_or("");
                t.parse()
                    .map(Lit::Int)
                    .map_err(|_| self.err("an int below 2^64"))
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let st = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
                {
                    self.i += 1;
                }
                Ok(match self.text.get(st..self.i).unwrap_or("") {
                    "True" => Lit::Bool(true),
                    "False" => Lit::Bool(false),
                    "None" => Lit::None,
                    n => Lit::Name(n.to_string()),
                })
            }
            _ => Err(self.err("a Python literal")),
        }
    }

    fn string(&mut self, q: u8) -> Result<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = self.text.get(self.i..).ok_or_else(|| self.err("UTF-8"))?;
            let mut it = rest.chars();
            let c = it.next().ok_or_else(|| self.err("the end of a string"))?;
            self.i += c.len_utf8();
            if c as u32 == u32::from(q) {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = it.next().ok_or_else(|| self.err("an escape"))?;
            self.i += e.len_utf8();
            let hex = |p: &mut Self, n: usize| -> Result<char> {
                let h = p
                    .text
                    .get(p.i..p.i + n)
                    .ok_or_else(|| p.err("hex digits"))?;
                p.i += n;
                u32::from_str_radix(h, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| p.err("a character escape"))
            };
            match e {
                '\\' | '\'' | '"' => out.push(e),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'x' => out.push(hex(self, 2)?),
                'u' => out.push(hex(self, 4)?),
                'U' => out.push(hex(self, 8)?),
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
        }
    }
}
