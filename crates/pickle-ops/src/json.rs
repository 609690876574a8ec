//! Canonical JSON (docs/canonical-json.md): printing a [`Pickle`] and building
//! one back from JSON.
//!
//! Printing is iterative (any nesting depth) and bounded: output above
//! [`JsonOptions::max_nodes`] nodes (tuples are written in full each time,
//! so a crafted pickle can expand exponentially) or an int above
//! [`JsonOptions::max_int_digits`] digits is an error, not a hang.
//!
//! Object nodes keep what later ops did to them inside their kind object:
//! `{"reduce": {"callable": .., "args": .., "listitems": [..],
//! "dictitems": [[k, v], ..], "additems": [..], "state": ..}}`, each of the
//! last four present only when something was applied.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value as J;

use crate::decode::DecodeErrorKind;
use crate::int::PyInt;
use crate::value::{Dtype, Global, NdArray, NodeId, Object, ObjectKind, Pickle, PyStr, Value};

/// Limits for printing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JsonOptions {
    /// Most nodes written (default 100 million).
    pub max_nodes: u64,
    /// Most decimal digits of one int (default 100,000).
    pub max_int_digits: usize,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            max_nodes: 100_000_000,
            max_int_digits: 100_000,
        }
    }
}

/// What went wrong while printing or reading canonical JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// Printing: the output would exceed [`JsonOptions::max_nodes`] nodes.
    TooManyNodes(u64),
    /// Printing: an int of more than [`JsonOptions::max_int_digits`]
    /// decimal digits.
    IntTooLong(usize),
    /// Printing: a structured dtype's `descr` holds a value of this kind.
    BadDescr(&'static str),
    /// The pickle has no root.
    NoRoot,
    /// Reading: the text is not JSON (serde_json's message).
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json says.
        message: String,
    },
    /// Reading: JSON that is not the canonical form; what was expected.
    Invalid(String),
    /// Reading: a `ref` to an `id` not seen before it.
    UnknownRef(u64),
    /// Reading: an `id` given to two nodes.
    DuplicateId(u64),
    /// Reading: merging equal dict keys and set members failed (an
    /// unhashable key, or more comparison work than allowed).
    Keys(DecodeErrorKind),
}

/// A canonical JSON error: what, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// What went wrong.
    pub kind: JsonErrorKind,
    /// Printing: the pickle node being printed, when one is to blame.
    pub node: Option<NodeId>,
    /// Reading: where in the JSON value, as a JSON Pointer (RFC 6901,
    /// e.g. `/dict/0/1/list/2`; empty for the root). `None` for printing
    /// and for text that is not JSON (see [`JsonErrorKind::Syntax`]).
    pub pointer: Option<String>,
}

impl JsonError {
    fn new(kind: JsonErrorKind) -> JsonError {
        JsonError {
            kind,
            node: None,
            pointer: None,
        }
    }

    fn at_node(kind: JsonErrorKind, node: NodeId) -> JsonError {
        JsonError {
            node: Some(node),
            ..JsonError::new(kind)
        }
    }

    fn invalid(what: impl Into<String>) -> JsonError {
        JsonError {
            pointer: Some(String::new()),
            ..JsonError::new(JsonErrorKind::Invalid(what.into()))
        }
    }

    /// The same error one level further down the JSON: prefixes `segment`
    /// to the pointer.
    fn under(mut self, segment: impl std::fmt::Display) -> JsonError {
        if let Some(p) = &mut self.pointer {
            let seg = segment.to_string().replace('~', "~0").replace('/', "~1");
            p.insert_str(0, &format!("/{seg}"));
        }
        self
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use JsonErrorKind as K;
        match &self.kind {
            K::TooManyNodes(n) => write!(f, "JSON output would exceed {n} nodes"),
            K::IntTooLong(n) => write!(f, "int of more than {n} digits"),
            K::BadDescr(t) => write!(f, "unexpected {t} in a dtype descr"),
            K::NoRoot => f.write_str("no root"),
            K::Syntax {
                line,
                column,
                message,
            } => write!(f, "invalid JSON at line {line} column {column}: {message}"),
            K::Invalid(what) => f.write_str(what),
            K::UnknownRef(k) => write!(f, "ref {k} before its id"),
            K::DuplicateId(k) => write!(f, "id {k} used twice"),
            K::Keys(k) => write!(f, "merging equal keys: {k:?}"),
        }?;
        if let Some(n) = self.node {
            write!(f, " (node {n:?})")?;
        }
        match self.pointer.as_deref() {
            Some("") => f.write_str(" (at the root)"),
            Some(p) => write!(f, " (at {p})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for JsonError {}

fn jerr<T>(s: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError::invalid(s))
}

// ---- strings, base64 and float.hex ---------------------------------------

/// Appends `s` to `out` as a JSON string, as the canonical form writes
/// strings: in double quotes, with `"`, `\` and the control characters
/// below U+0020 escaped (`\n`, `\r`, `\t`, else `\u00xx`); everything else,
/// non-ASCII included, as itself.
///
/// ```
/// let mut out = String::new();
/// pickle_ops::json::encode_str("a\"b\\c\n\u{1}é", &mut out);
/// assert_eq!(out, r#""a\"b\\c\n\u0001é""#);
/// ```
pub fn encode_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8], out: &mut String) {
    out.reserve(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
}

/// Decodes standard base64 (padding required when the length needs it).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, c) in s.chunks(4).enumerate() {
        let last = i == s.len() / 4 - 1;
        let pad = c.iter().rev().take_while(|&&x| x == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &x in &c[..4 - pad] {
            n = n << 6 | val(x)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Python's `float.hex()`.
pub fn float_hex(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0x0.0p+0");
    }
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mant = bits & ((1 << 52) - 1);
    let (lead, e) = if exp == 0 {
        (0, -1022)
    } else {
        (1, exp - 1023)
    };
    let es = if e >= 0 {
        format!("+{e}")
    } else {
        e.to_string()
    };
    format!("{sign}0x{lead}.{mant:013x}p{es}")
}

/// Parses Python's `float.hex()` form (and `float.fromhex` inputs of the
/// same shape), `inf`, `-inf`, `nan`.
pub fn parse_float_hex(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        lower => {
            let body = lower.strip_prefix("0x")?;
            let (m, e) = match body.split_once('p') {
                Some((m, e)) => (m, e.parse::<i64>().ok()?),
                None => (body, 0),
            };
            let (ip, fp) = m.split_once('.').unwrap_or((m, ""));
            if ip.is_empty() && fp.is_empty() {
                return None;
            }
            // Accumulate up to 64 significant bits exactly, then scale.
            let mut acc: u128 = 0;
            let mut shift: i64 = 0;
            let mut sticky = false;
            for (i, c) in ip.chars().chain(fp.chars()).enumerate() {
                let d = c.to_digit(16)? as u128;
                if acc >> 100 == 0 {
                    acc = acc << 4 | d;
                    if i >= ip.len() {
                        shift -= 4;
                    }
                } else {
                    sticky |= d != 0;
                    if i < ip.len() {
                        shift += 4;
                    }
                }
            }
            let _ = sticky;
            let exp = e.checked_add(shift)?;
            // acc * 2^exp, rounded by the conversion of a u128 to f64 and powi.
            let mut v = acc as f64;
            let mut exp = exp;
            while exp > 0 {
                let k = exp.min(1000);
                v *= 2f64.powi(k as i32);
                exp -= k;
            }
            while exp < 0 {
                let k = (-exp).min(1000);
                v /= 2f64.powi(k as i32);
                exp += k;
            }
            v
        }
    };
    Some(if neg { -v } else { v })
}

// ---- printing ------------------------------------------------------------

enum Task {
    Node(NodeId),
    Lit(&'static str),
}

fn has_identity(v: &Value) -> bool {
    v.has_identity()
}

/// Pushes, in reverse (so they pop in order), the tasks for a sequence.
fn seq(tasks: &mut Vec<Task>, ids: &[NodeId]) {
    for (i, &c) in ids.iter().enumerate().rev() {
        tasks.push(Task::Node(c));
        if i > 0 {
            tasks.push(Task::Lit(","));
        }
    }
}

fn pairs(tasks: &mut Vec<Task>, items: &[(NodeId, NodeId)]) {
    for (i, &(k, v)) in items.iter().enumerate().rev() {
        tasks.push(Task::Lit("]"));
        tasks.push(Task::Node(v));
        tasks.push(Task::Lit(","));
        tasks.push(Task::Node(k));
        tasks.push(Task::Lit("["));
        if i > 0 {
            tasks.push(Task::Lit(","));
        }
    }
}

fn py_str(s: &PyStr, out: &mut String) {
    match s.as_str() {
        Some(t) => encode_str(t, out),
        None => {
            // Only reached for the names of globals; values use str_node.
            encode_str(&String::from_utf8_lossy(s.as_bytes()), out)
        }
    }
}

fn str_node(s: &PyStr, out: &mut String) {
    match s.as_str() {
        Some(t) => {
            out.push_str("{\"str\":");
            encode_str(t, out);
            out.push('}');
        }
        None => {
            out.push_str("{\"str_surrogatepass_b64\":\"");
            base64_encode(s.as_bytes(), out);
            out.push_str("\"}");
        }
    }
}

/// The traversal both passes share: which tasks a node expands to.
fn expand(
    p: &Pickle,
    id: NodeId,
    tasks: &mut Vec<Task>,
    out: &mut String,
    opts: &JsonOptions,
) -> Result<(), JsonError> {
    match &*p.value(id) {
        Value::None => out.push_str("{\"none\":null}"),
        Value::Bool(b) => out.push_str(if *b {
            "{\"bool\":true}"
        } else {
            "{\"bool\":false}"
        }),
        Value::Int(i) => {
            let d = i.to_decimal(opts.max_int_digits).ok_or_else(|| {
                JsonError::at_node(JsonErrorKind::IntTooLong(opts.max_int_digits), id)
            })?;
            let _ = write!(out, "{{\"int\":\"{d}\"}}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{{\"float\":\"{}\"}}", float_hex(*f));
        }
        Value::Str(s) => str_node(s, out),
        Value::Bytes(b) => {
            out.push_str("{\"bytes_b64\":\"");
            base64_encode(b, out);
            out.push_str("\"}");
        }
        Value::ByteArray(b) => {
            out.push_str("\"bytearray_b64\":\"");
            base64_encode(b, out);
            out.push_str("\"}");
        }
        Value::List(v) => {
            out.push_str("\"list\":[");
            tasks.push(Task::Lit("]}"));
            seq(tasks, v);
        }
        Value::Tuple(v) => {
            out.push_str("{\"tuple\":[");
            tasks.push(Task::Lit("]}"));
            seq(tasks, v);
        }
        Value::Set(v) => {
            out.push_str("\"set\":[");
            tasks.push(Task::Lit("]}"));
            seq(tasks, v);
        }
        Value::FrozenSet(v) => {
            out.push_str("{\"frozenset\":[");
            tasks.push(Task::Lit("]}"));
            seq(tasks, v);
        }
        Value::Dict(items) => {
            out.push_str("\"dict\":[");
            tasks.push(Task::Lit("]}"));
            pairs(tasks, items);
        }
        Value::Global(g) => {
            out.push_str("{\"global\":[");
            py_str(&g.module, out);
            out.push(',');
            py_str(&g.name, out);
            out.push_str("]}");
        }
        Value::PersId(x) => {
            out.push_str("{\"persid\":");
            tasks.push(Task::Lit("}"));
            tasks.push(Task::Node(*x));
        }
        Value::Ext(c) => {
            let _ = write!(out, "{{\"ext\":{c}}}");
        }
        Value::OobBuffer { index, readonly } => {
            let _ = write!(
                out,
                "{{\"oob_buffer\":{{\"index\":{index},\"readonly\":{readonly}}}}}"
            );
        }
        Value::NdArray(a) => {
            out.push_str("{\"ndarray\":{\"dtype\":");
            match &a.dtype {
                Dtype::Str(s) => encode_str(s, out),
                Dtype::Descr(d) => {
                    descr_json(p, *d, out)?;
                }
            }
            out.push_str(",\"shape\":[");
            for (i, d) in a.shape.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{d}");
            }
            out.push_str("],\"data_b64\":\"");
            base64_encode(&a.data, out);
            out.push_str("\"}}");
        }
        Value::MaskedArray { data, mask } => {
            out.push_str("{\"masked_array\":{\"data\":");
            tasks.push(Task::Lit("}}"));
            tasks.push(Task::Node(*mask));
            tasks.push(Task::Lit(",\"mask\":"));
            tasks.push(Task::Node(*data));
        }
        Value::Object(o) => object(o, tasks, out),
    }
    Ok(())
}

/// A structured dtype's descr (a list of tuples of str / nested lists / shape
/// tuples) as plain JSON arrays.
fn descr_json(p: &Pickle, id: NodeId, out: &mut String) -> Result<(), JsonError> {
    let mut stack = vec![Some(id)];
    while let Some(t) = stack.pop() {
        let Some(id) = t else {
            out.push(']');
            continue;
        };
        if id == COMMA {
            out.push(',');
            continue;
        }
        match &*p.value(id) {
            Value::Str(s) => py_str(s, out),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::List(v) | Value::Set(v) => {
                out.push('[');
                stack.push(None);
                push_descr(&mut stack, v);
            }
            Value::Tuple(v) => {
                out.push('[');
                stack.push(None);
                push_descr(&mut stack, v);
            }
            other => {
                return Err(JsonError::at_node(
                    JsonErrorKind::BadDescr(other.kind_name()),
                    id,
                ))
            }
        }
    }
    Ok(())
}

/// Pushes a sequence's items (to pop in order) with a [`COMMA`] marker
/// before every item but the first.
fn push_descr(stack: &mut Vec<Option<NodeId>>, v: &[NodeId]) {
    for (i, &c) in v.iter().enumerate().rev() {
        stack.push(Some(c));
        if i > 0 {
            stack.push(Some(COMMA));
        }
    }
}

/// A marker id that `descr_json` prints as a comma.
const COMMA: NodeId = NodeId::INVALID;

fn object(o: &Object, tasks: &mut Vec<Task>, out: &mut String) {
    let (kind, fields): (&str, Vec<(&'static str, NodeId)>) = match o.kind {
        ObjectKind::Reduce { callable, args } => {
            ("reduce", vec![("callable", callable), ("args", args)])
        }
        ObjectKind::NewObj { cls, args } => ("newobj", vec![("cls", cls), ("args", args)]),
        ObjectKind::NewObjEx { cls, args, kwargs } => (
            "newobj_ex",
            vec![("cls", cls), ("args", args), ("kwargs", kwargs)],
        ),
        ObjectKind::Inst { cls, args } => ("inst", vec![("cls", cls), ("args", args)]),
    };
    let _ = write!(out, "\"{kind}\":{{");
    // Tasks pop in reverse: push the closing first.
    tasks.push(Task::Lit("}}"));
    if let Some(s) = o.state {
        tasks.push(Task::Node(s));
        tasks.push(Task::Lit(",\"state\":"));
    }
    if !o.additems.is_empty() {
        tasks.push(Task::Lit("]"));
        seq(tasks, &o.additems);
        tasks.push(Task::Lit(",\"additems\":["));
    }
    if !o.dictitems.is_empty() {
        tasks.push(Task::Lit("]"));
        pairs(tasks, &o.dictitems);
        tasks.push(Task::Lit(",\"dictitems\":["));
    }
    if !o.listitems.is_empty() {
        tasks.push(Task::Lit("]"));
        seq(tasks, &o.listitems);
        tasks.push(Task::Lit(",\"listitems\":["));
    }
    for (i, (name, id)) in fields.iter().enumerate().rev() {
        tasks.push(Task::Node(*id));
        tasks.push(Task::Lit(match (i, *name) {
            (0, "callable") => "\"callable\":",
            (0, _) => "\"cls\":",
            (_, "args") => ",\"args\":",
            _ => ",\"kwargs\":",
        }));
    }
}

/// Prints the canonical JSON of `root` (compact, one line).
pub fn to_json(p: &Pickle, root: NodeId, opts: &JsonOptions) -> Result<String, JsonError> {
    // Pass 1: which identity nodes are reached more than once.
    let mut seen: HashMap<NodeId, u32> = HashMap::new();
    let mut count: u64 = 0;
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        count += 1;
        if count > opts.max_nodes {
            return Err(JsonError::at_node(
                JsonErrorKind::TooManyNodes(opts.max_nodes),
                id,
            ));
        }
        let v = p.value(id);
        let v = &*v;
        if has_identity(v) {
            let n = seen.entry(id).or_insert(0);
            *n += 1;
            if *n > 1 {
                continue;
            }
        }
        let mut kids = p.children(id);
        kids.reverse();
        stack.extend(kids);
    }
    // Pass 2: print, numbering shared nodes in document order.
    let mut ids: HashMap<NodeId, u32> = HashMap::new();
    let mut out = String::new();
    let mut tasks = vec![Task::Node(root)];
    while let Some(t) = tasks.pop() {
        let id = match t {
            Task::Lit(s) => {
                out.push_str(s);
                continue;
            }
            Task::Node(id) => id,
        };
        let v = p.value(id);
        let v = &*v;
        if has_identity(v) {
            if let Some(k) = ids.get(&id) {
                let _ = write!(out, "{{\"ref\":{k}}}");
                continue;
            }
            out.push('{');
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                let k = ids.len() as u32;
                ids.insert(id, k);
                let _ = write!(out, "\"id\":{k},");
            }
        }
        expand(p, id, &mut tasks, &mut out, opts)?;
    }
    Ok(out)
}

/// Prints the canonical JSON of the root.
pub fn pickle_to_json(p: &Pickle, opts: &JsonOptions) -> Result<String, JsonError> {
    to_json(
        p,
        p.try_root().ok_or(JsonError::new(JsonErrorKind::NoRoot))?,
        opts,
    )
}

// ---- building from JSON --------------------------------------------------

struct Builder {
    p: Pickle,
    ids: HashMap<u64, NodeId>,
}

fn one_key(v: &J) -> Result<(&str, &J, Option<u64>), JsonError> {
    let J::Object(m) = v else {
        return jerr(format!("expected a node object, got {v}"));
    };
    let id = match m.get("id") {
        Some(J::Number(n)) => Some(
            n.as_u64()
                .ok_or_else(|| JsonError::invalid("bad id").under("id"))?,
        ),
        Some(_) => return Err(JsonError::invalid("bad id").under("id")),
        None => None,
    };
    let mut kinds = m.iter().filter(|(k, _)| k.as_str() != "id");
    let (Some((k, v)), None) = (kinds.next(), kinds.next()) else {
        return jerr(format!("a node needs exactly one kind key: {v}"));
    };
    Ok((k.as_str(), v, id))
}

fn as_str(v: &J) -> Result<&str, JsonError> {
    v.as_str()
        .ok_or_else(|| JsonError::invalid(format!("expected a string, got {v}")))
}

fn as_arr(v: &J) -> Result<&Vec<J>, JsonError> {
    v.as_array()
        .ok_or_else(|| JsonError::invalid(format!("expected an array, got {v}")))
}

fn b64(v: &J) -> Result<Vec<u8>, JsonError> {
    base64_decode(as_str(v)?).ok_or_else(|| JsonError::invalid(format!("bad base64: {v}")))
}

impl Builder {
    fn node(&mut self, v: &J) -> Result<NodeId, JsonError> {
        let (kind, body, id) = one_key(v)?;
        if kind == "ref" {
            let k = body
                .as_u64()
                .ok_or_else(|| JsonError::invalid("bad ref").under("ref"))?;
            return self.ids.get(&k).copied().ok_or_else(|| JsonError {
                pointer: Some("/ref".into()),
                ..JsonError::new(JsonErrorKind::UnknownRef(k))
            });
        }
        // Reserve the node first so that cycles can refer to it.
        let me = self.p.push_node(Value::None);
        if let Some(k) = id {
            if self.ids.insert(k, me).is_some() {
                return Err(JsonError {
                    pointer: Some("/id".into()),
                    ..JsonError::new(JsonErrorKind::DuplicateId(k))
                });
            }
        }
        let val = self.value(kind, body).map_err(|e| e.under(kind))?;
        // Scalars (which have no id) live in their handle: drop the
        // reserved node, which is still the last one.
        if id.is_none() {
            if let Some(h) = NodeId::inline(&val) {
                self.p.pop_last_node(me);
                return Ok(h);
            }
        }
        self.p.replace(me, val);
        Ok(me)
    }

    /// The value of a node of kind `kind` with body `body`; errors point
    /// into `body`.
    fn value(&mut self, kind: &str, body: &J) -> Result<Value, JsonError> {
        Ok(match kind {
            "none" => Value::None,
            "bool" => Value::Bool(body.as_bool().ok_or(JsonError::invalid("bad bool"))?),
            "int" => Value::Int(
                PyInt::parse_decimal(as_str(body)?.as_bytes(), usize::MAX)
                    .ok_or_else(|| JsonError::invalid(format!("bad int {body}")))?,
            ),
            "float" => Value::Float(
                parse_float_hex(as_str(body)?)
                    .ok_or_else(|| JsonError::invalid(format!("bad float {body}")))?,
            ),
            "str" => Value::Str(PyStr::from(as_str(body)?)),
            "str_surrogatepass_b64" => Value::Str(
                PyStr::from_surrogatepass(&b64(body)?)
                    .ok_or(JsonError::invalid("bad surrogatepass str"))?,
            ),
            "bytes_b64" => Value::Bytes(b64(body)?.into()),
            "bytearray_b64" => Value::ByteArray(b64(body)?),
            "list" | "tuple" | "set" | "frozenset" => {
                let items = self.nodes(body)?;
                match kind {
                    "list" => Value::List(items),
                    "tuple" => Value::Tuple(items.into()),
                    "set" => Value::Set(items),
                    _ => Value::FrozenSet(items.into()),
                }
            }
            "dict" => Value::Dict(self.pairs(body)?),
            "global" => {
                let a = as_arr(body)?;
                let [m, n] = &a[..] else {
                    return jerr("global needs [module, name]");
                };
                Value::Global(Box::new(Global::new(as_str(m)?, as_str(n)?)))
            }
            "reduce" | "newobj" | "newobj_ex" | "inst" => {
                let J::Object(m) = body else {
                    return jerr(format!("{kind} needs an object"));
                };
                let mut get = |k: &str| -> Result<NodeId, JsonError> {
                    let x = m
                        .get(k)
                        .ok_or_else(|| JsonError::invalid(format!("{kind} needs {k}")))?;
                    self.node(x).map_err(|e| e.under(k))
                };
                let okind = match kind {
                    "reduce" => {
                        let callable = get("callable")?;
                        ObjectKind::Reduce {
                            callable,
                            args: get("args")?,
                        }
                    }
                    "newobj" => {
                        let cls = get("cls")?;
                        ObjectKind::NewObj {
                            cls,
                            args: get("args")?,
                        }
                    }
                    "newobj_ex" => {
                        let cls = get("cls")?;
                        let args = get("args")?;
                        ObjectKind::NewObjEx {
                            cls,
                            args,
                            kwargs: get("kwargs")?,
                        }
                    }
                    _ => {
                        let cls = get("cls")?;
                        ObjectKind::Inst {
                            cls,
                            args: get("args")?,
                        }
                    }
                };
                let mut o = Object::new(okind);
                if let Some(x) = m.get("listitems") {
                    o.listitems = self.nodes(x).map_err(|e| e.under("listitems"))?;
                }
                if let Some(x) = m.get("dictitems") {
                    o.dictitems = self.pairs(x).map_err(|e| e.under("dictitems"))?;
                }
                if let Some(x) = m.get("additems") {
                    o.additems = self.nodes(x).map_err(|e| e.under("additems"))?;
                }
                if let Some(x) = m.get("state") {
                    o.state = Some(self.node(x).map_err(|e| e.under("state"))?);
                }
                Value::Object(Box::new(o))
            }
            "persid" => Value::PersId(self.node(body)?),
            "ext" => Value::Ext(
                body.as_i64()
                    .and_then(|c| i32::try_from(c).ok())
                    .ok_or(JsonError::invalid("bad ext"))?,
            ),
            "oob_buffer" => Value::OobBuffer {
                index: body
                    .get("index")
                    .and_then(J::as_u64)
                    .ok_or(JsonError::invalid("bad oob_buffer"))?,
                readonly: body
                    .get("readonly")
                    .and_then(J::as_bool)
                    .ok_or(JsonError::invalid("bad oob_buffer"))?,
            },
            "ndarray" => Value::NdArray(Box::new(self.ndarray(body)?)),
            "masked_array" => {
                let part = |k: &str| {
                    body.get(k)
                        .ok_or_else(|| JsonError::invalid(format!("masked_array needs {k}")))
                };
                let data = self.node(part("data")?).map_err(|e| e.under("data"))?;
                let mask = self.node(part("mask")?).map_err(|e| e.under("mask"))?;
                Value::MaskedArray { data, mask }
            }
            other => return jerr(format!("unknown node kind {other:?}")),
        })
    }

    /// The nodes of a JSON array.
    fn nodes(&mut self, body: &J) -> Result<Vec<NodeId>, JsonError> {
        as_arr(body)?
            .iter()
            .enumerate()
            .map(|(i, x)| self.node(x).map_err(|e| e.under(i)))
            .collect()
    }

    fn pairs(&mut self, body: &J) -> Result<Vec<(NodeId, NodeId)>, JsonError> {
        as_arr(body)?
            .iter()
            .enumerate()
            .map(|(i, kv)| {
                let mut item = |kv: &J| -> Result<(NodeId, NodeId), JsonError> {
                    let a = as_arr(kv)?;
                    let [k, v] = &a[..] else {
                        return jerr("a dict item needs [key, value]");
                    };
                    let k = self.node(k).map_err(|e| e.under(0))?;
                    Ok((k, self.node(v).map_err(|e| e.under(1))?))
                };
                item(kv).map_err(|e| e.under(i))
            })
            .collect()
    }

    fn ndarray(&mut self, body: &J) -> Result<NdArray, JsonError> {
        let dtype = match body.get("dtype") {
            Some(J::String(s)) => Dtype::Str(s.clone()),
            Some(d @ J::Array(_)) => Dtype::Descr(self.descr(d)?),
            _ => return jerr("ndarray needs a dtype"),
        };
        let shape = as_arr(
            body.get("shape")
                .ok_or(JsonError::invalid("ndarray needs a shape"))?,
        )?
        .iter()
        .map(|d| d.as_u64().ok_or(JsonError::invalid("bad shape")))
        .collect::<Result<_, _>>()?;
        let data = b64(body
            .get("data_b64")
            .ok_or(JsonError::invalid("ndarray needs data_b64"))?)?;
        Ok(NdArray { dtype, shape, data })
    }

    /// A descr: JSON arrays become a list of tuples (inner arrays tuples).
    fn descr(&mut self, d: &J) -> Result<NodeId, JsonError> {
        let top = as_arr(d)?;
        let mut items = Vec::new();
        for f in top {
            items.push(self.descr_item(f)?);
        }
        Ok(self.p.push(Value::List(items)))
    }

    fn descr_item(&mut self, f: &J) -> Result<NodeId, JsonError> {
        Ok(match f {
            J::String(s) => self.p.push(Value::str(s)),
            J::Number(n) => self.p.push(Value::int(
                n.as_i64().ok_or(JsonError::invalid("bad descr number"))?,
            )),
            J::Array(a) => {
                // A nested list of fields stays a list; a field is a tuple.
                let is_field = a.first().is_some_and(J::is_string);
                let items = a
                    .iter()
                    .map(|x| self.descr_item(x))
                    .collect::<Result<Vec<_>, _>>()?;
                if is_field {
                    self.p.push(Value::Tuple(items.into()))
                } else {
                    self.p.push(Value::List(items))
                }
            }
            other => return jerr(format!("bad descr item {other}")),
        })
    }
}

/// Builds a [`Pickle`] from a canonical JSON value (merging equal dict keys
/// and set members as Python would).
pub fn from_json(v: &J) -> Result<Pickle, JsonError> {
    let mut b = Builder {
        p: Pickle::new(),
        ids: HashMap::new(),
    };
    let root = b.node(v)?;
    b.p.set_root(root);
    b.p.set_small_values_shared(true);
    crate::keys::dedupe_all(&mut b.p, 50_000_000)
        .map_err(|k| JsonError::new(JsonErrorKind::Keys(k)))?;
    Ok(b.p)
}

/// Parses canonical JSON text and builds a [`Pickle`].
pub fn from_json_str(s: &str) -> Result<Pickle, JsonError> {
    let v: J = serde_json::from_str(s).map_err(|e| {
        JsonError::new(JsonErrorKind::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    })?;
    from_json(&v)
}

/// Structural comparison of two canonical JSON values (the "Comparing"
/// rule): sets and frozensets as unordered multisets, ids matched one to one.
pub fn equal(a: &J, b: &J) -> bool {
    let mut map = HashMap::new();
    eq_rec(a, b, &mut map)
}

fn eq_rec(a: &J, b: &J, ids: &mut HashMap<u64, u64>) -> bool {
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            if x.len() != y.len() {
                return false;
            }
            for (k, va) in x {
                let Some(vb) = y.get(k) else { return false };
                if k == "id" || k == "ref" {
                    let (Some(p), Some(q)) = (va.as_u64(), vb.as_u64()) else {
                        return false;
                    };
                    match ids.get(&p) {
                        Some(&r) if r != q => return false,
                        Some(_) => {}
                        None => {
                            if ids.values().any(|&r| r == q) {
                                return false;
                            }
                            ids.insert(p, q);
                        }
                    }
                    continue;
                }
                let unordered = k == "set" || k == "frozenset";
                if unordered {
                    let (Some(xa), Some(xb)) = (va.as_array(), vb.as_array()) else {
                        return false;
                    };
                    if xa.len() != xb.len() {
                        return false;
                    }
                    let mut used = vec![false; xb.len()];
                    for ea in xa {
                        let mut found = false;
                        for (j, eb) in xb.iter().enumerate() {
                            if !used[j] {
                                let mut trial = ids.clone();
                                if eq_rec(ea, eb, &mut trial) {
                                    *ids = trial;
                                    used[j] = true;
                                    found = true;
                                    break;
                                }
                            }
                        }
                        if !found {
                            return false;
                        }
                    }
                } else if !eq_rec(va, vb, ids) {
                    return false;
                }
            }
            true
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq_rec(p, q, ids))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        let enc = |s: &str| {
            let mut out = String::new();
            encode_str(s, &mut out);
            out
        };
        assert_eq!(enc(""), r#""""#);
        assert_eq!(
            enc("a\tb\rc\u{1f}\u{7f}€😀"),
            "\"a\\tb\\rc\\u001f\u{7f}€😀\""
        );
        // Every string reads back as itself, and only the characters
        // below U+0020, `"` and `\` are escaped.
        let all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        let out = enc(&all);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), all);
        // One backslash for each control character and for `"`, two for `\`.
        assert_eq!(out.matches('\\').count(), 32 + 1 + 2);
    }

    #[test]
    fn float_hex_matches_python() {
        assert_eq!(float_hex(1.5), "0x1.8000000000000p+0");
        assert_eq!(float_hex(0.0), "0x0.0p+0");
        assert_eq!(float_hex(-0.0), "-0x0.0p+0");
        assert_eq!(float_hex(5e-324), "0x0.0000000000001p-1022");
        assert_eq!(float_hex(0.1), "0x1.999999999999ap-4");
        assert_eq!(float_hex(1e308), "0x1.1ccf385ebc8a0p+1023");
        assert_eq!(float_hex(f64::NEG_INFINITY), "-inf");
        for f in [
            1.5,
            0.0,
            -0.0,
            5e-324,
            0.1,
            1e308,
            -3.25e-310,
            123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let back = parse_float_hex(&float_hex(f)).unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{f}");
        }
        assert!(parse_float_hex("nan").unwrap().is_nan());
        assert!(parse_float_hex("0xzp1").is_none());
    }

    #[test]
    fn base64_round_trip() {
        for n in 0..10 {
            let d: Vec<u8> = (0..n).map(|i: u8| i.wrapping_mul(37)).collect();
            let mut s = String::new();
            base64_encode(&d, &mut s);
            assert_eq!(base64_decode(&s).unwrap(), d);
        }
        let mut s = String::new();
        base64_encode(b"hello", &mut s);
        assert_eq!(s, "aGVsbG8=");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a=bc").is_none());
    }

    #[test]
    fn sharing_and_cycles() {
        // x = [1]; [x, x]
        let mut p = Pickle::new();
        let one = p.push(Value::int(1));
        let x = p.push(Value::List(vec![one]));
        let outer = p.push(Value::List(vec![x, x]));
        let s = to_json(&p, outer, &JsonOptions::default()).unwrap();
        assert_eq!(s, r#"{"list":[{"id":0,"list":[{"int":"1"}]},{"ref":0}]}"#);
        // a list holding itself
        let mut p = Pickle::new();
        let l = p.push(Value::List(vec![]));
        p.replace(l, Value::List(vec![l]));
        let s = to_json(&p, l, &JsonOptions::default()).unwrap();
        assert_eq!(s, r#"{"id":0,"list":[{"ref":0}]}"#);
        let back = from_json_str(&s).unwrap();
        assert_eq!(
            to_json(&back, back.root(), &JsonOptions::default()).unwrap(),
            s
        );
    }

    #[test]
    fn structured_dtypes_print_as_descr_lists() {
        let text = r#"{"ndarray":{"dtype":[["x","<f4"],["y","<i8"],["z",[["a","|b1"]]],["w","<f8",[2,3]]],"shape":[2],"data_b64":"AAAA"}}"#;
        let p = from_json_str(text).unwrap();
        assert_eq!(
            to_json(&p, p.root(), &JsonOptions::default()).unwrap(),
            text
        );
        let Some(Value::NdArray(a)) = p.node(p.root()) else {
            panic!()
        };
        assert!(matches!(a.dtype, Dtype::Descr(_)));
    }

    #[test]
    fn comparing_sets_ignores_order() {
        let a: J = serde_json::from_str(r#"{"set":[{"int":"1"},{"int":"2"}]}"#).unwrap();
        let b: J = serde_json::from_str(r#"{"set":[{"int":"2"},{"int":"1"}]}"#).unwrap();
        let c: J = serde_json::from_str(r#"{"set":[{"int":"2"},{"int":"3"}]}"#).unwrap();
        assert!(equal(&a, &b));
        assert!(!equal(&a, &c));
    }

    #[test]
    fn errors_say_what_and_where() {
        let err = |text: &str| from_json_str(text).unwrap_err();
        // Not JSON: serde's line and column.
        let e = err("{\"list\":\n[}");
        assert!(
            matches!(e.kind, JsonErrorKind::Syntax { line: 2, .. }),
            "{e:?}"
        );
        assert_eq!(e.pointer, None);
        // Not canonical: a JSON Pointer to the offending value.
        let e = err(r#"{"list":[{"int":"1"},{"dict":[[{"str":"k"},{"float":"x"}]]}]}"#);
        assert!(matches!(e.kind, JsonErrorKind::Invalid(_)), "{e:?}");
        assert_eq!(e.pointer.as_deref(), Some("/list/1/dict/0/1/float"));
        assert!(
            e.to_string().ends_with("(at /list/1/dict/0/1/float)"),
            "{e}"
        );
        let e =
            err(r#"{"reduce":{"callable":{"global":["m","f"]},"args":{"tuple":[{"nope":1}]}}}"#);
        assert_eq!(e.pointer.as_deref(), Some("/reduce/args/tuple/0/nope"));
        assert_eq!(err(r#"{"bool":1}"#).pointer.as_deref(), Some("/bool"));
        assert_eq!(err("[]").pointer.as_deref(), Some(""));
        assert_eq!(
            err(r#"{"list":[{"ref":"x"}]}"#).pointer.as_deref(),
            Some("/list/0/ref")
        );
        assert_eq!(
            err(r#"{"id":-1,"list":[]}"#).pointer.as_deref(),
            Some("/id")
        );
        // Identity errors are typed.
        let e = err(r#"{"list":[{"ref":3}]}"#);
        assert_eq!(e.kind, JsonErrorKind::UnknownRef(3));
        assert_eq!(e.pointer.as_deref(), Some("/list/0/ref"));
        let e = err(r#"{"list":[{"id":0,"list":[]},{"id":0,"list":[]}]}"#);
        assert_eq!(e.kind, JsonErrorKind::DuplicateId(0));
        assert_eq!(e.pointer.as_deref(), Some("/list/1/id"));
        // Printing: the node to blame.
        let mut p = Pickle::new();
        let big = p.push(Value::Int(
            PyInt::parse_decimal(b"1000000000000000000000000000000", 100).unwrap(),
        ));
        let l = p.push(Value::List(vec![big]));
        let opts = JsonOptions {
            max_int_digits: 5,
            ..JsonOptions::default()
        };
        let e = to_json(&p, l, &opts).unwrap_err();
        assert_eq!((e.kind, e.node), (JsonErrorKind::IntTooLong(5), Some(big)));
        let opts = JsonOptions {
            max_nodes: 1,
            ..JsonOptions::default()
        };
        let e = to_json(&p, l, &opts).unwrap_err();
        assert_eq!(e.kind, JsonErrorKind::TooManyNodes(1));
        assert_eq!(
            pickle_to_json(&Pickle::new(), &JsonOptions::default())
                .unwrap_err()
                .kind,
            JsonErrorKind::NoRoot
        );
    }
}
