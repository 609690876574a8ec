//! `Dict.verify()`: every byte of the file's structure checked, read under
//! the lock through `mmpk_format` (the checks `mmpk verify` makes).

use mmpk_format::array::read_array;
use mmpk_format::generic::decode_value;
use mmpk_format::masked::read_masked;
use mmpk_format::scan::{scan, EntryKind, Tail};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// One problem found: where, which key, what.
struct Finding {
    offset: u64,
    key: Option<String>,
    what: String,
}

/// The findings in a file's bytes: values that do not decode (in live and
/// deleted entries alike: `pickle.load` of the whole file would fail on
/// them) and a damaged tail.
fn findings(file: &[u8]) -> Result<Vec<Finding>, mmpk_format::Error> {
    let sc = scan(file)?;
    let mut out = Vec::new();
    let opts = Default::default();
    for s in sc.entries.iter().filter(|s| s.kind != EntryKind::Filler) {
        let e = &s.entry;
        let span = e.value_span();
        if read_array(file, span.clone()).is_ok() || read_masked(file, span.clone()).is_ok() {
            continue;
        }
        if let Err(err) = decode_value(&file[span.clone()], span.start, &opts) {
            out.push(Finding {
                offset: e.value_offset as u64,
                key: Some(e.key.to_string()),
                what: format!("the value does not decode: {err}"),
            });
        }
    }
    let what = match &sc.tail {
        Tail::Clean => None,
        Tail::MissingTerminator => Some("the terminator is missing".to_string()),
        Tail::IncompleteFrame => Some("the last entry is incomplete".to_string()),
        Tail::TrailingBytes { len } => Some(format!("{len} bytes follow the terminator")),
        Tail::BrokenTerminator => Some("the terminator was half overwritten".to_string()),
        Tail::Corrupt(e) => Some(format!("corrupt entry: {e}")),
        other => Some(format!("{other:?}")),
    };
    if let Some(what) = what {
        out.push(Finding {
            offset: sc.intact_end as u64,
            key: None,
            what: format!("{what} (Dict.repair() fixes it)"),
        });
    }
    Ok(out)
}

/// `Dict.verify()`: a list of `{"offset", "key", "message"}` dicts (empty
/// for a sound file).
pub(crate) fn verify<'py>(py: Python<'py>, dict: &mmpk::Dict) -> PyResult<Bound<'py, PyList>> {
    let found = crate::dict::retry(py, || dict.with_file_bytes(findings))?;
    let found = match found {
        Ok(f) => f,
        Err(e) => vec![Finding {
            offset: 0,
            key: None,
            what: format!("the file does not scan: {e}"),
        }],
    };
    let out = PyList::empty(py);
    for f in found {
        let d = PyDict::new(py);
        d.set_item("offset", f.offset)?;
        d.set_item("key", f.key)?;
        d.set_item("message", f.what)?;
        out.append(d)?;
    }
    Ok(out)
}

/// Bytes and entries of a file by what they hold: live entries, deleted
/// (or shadowed) ones, alignment fillers, as `mmpk info` counts them.
pub(crate) struct Totals {
    pub(crate) bytes: [u64; 3],
    pub(crate) entries: [u64; 3],
}

/// The [`Totals`] of a file's bytes.
pub(crate) fn totals(file: &[u8]) -> Result<Totals, mmpk_format::Error> {
    let sc = scan(file)?;
    let latest = sc.live_index();
    let mut t = Totals {
        bytes: [0; 3],
        entries: [0; 3],
    };
    for (i, s) in sc.entries.iter().enumerate() {
        let slot = match s.kind {
            EntryKind::Filler => 2,
            EntryKind::Live if latest.get(s.entry.key) == Some(&i) => 0,
            _ => 1,
        };
        t.bytes[slot] += s.entry.len as u64;
        t.entries[slot] += 1;
    }
    Ok(t)
}

/// `{"live": .., "dead": .., "filler": ..}` of three totals.
pub(crate) fn by_kind<'py>(py: Python<'py>, v: [u64; 3]) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (name, n) in ["live", "dead", "filler"].into_iter().zip(v) {
        out.set_item(name, n)?;
    }
    Ok(out)
}
