//! What `ls`, `info` and `verify` say about a file: pure functions over the
//! file's bytes (the command glue maps the file read-only through `mmpk`).

use mmpk_format::array::{read_array, Array, Encoding};
use mmpk_format::entry::Entry;
use mmpk_format::generic::decode_value;
use mmpk_format::masked::read_masked;
use mmpk_format::pylit::shape_text;
use mmpk_format::scan::{scan, EntryKind, Scan, Tail};
use pickle_ops::decode::DecodeOptions;

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// An array value (v1 or v2).
    Array,
    /// A masked array.
    Masked,
    /// Any other value.
    Value,
    /// An alignment filler.
    Filler,
}

impl Content {
    fn name(self) -> &'static str {
        match self {
            Content::Array => "array",
            Content::Masked => "masked",
            Content::Value => "value",
            Content::Filler => "filler",
        }
    }
}

/// One row of `mmpk ls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The key.
    pub key: String,
    /// Live (its validity byte says so and no later entry shadows it).
    pub live: bool,
    /// What it holds.
    pub kind: Content,
    /// Offset of the entry's frame.
    pub offset: u64,
    /// Length of the entry.
    pub len: u64,
    /// For arrays (and a masked array's data): the dtype, shape, first raw
    /// byte, raw length, whether that byte is aligned for the element type,
    /// and the encoding.
    pub array: Option<ArrayCols>,
}

/// The array columns of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayCols {
    /// numpy's `dtype.str` (or the descr of a structured dtype).
    pub dtype: String,
    /// The shape.
    pub shape: Vec<u64>,
    /// Offset of the first raw byte in the file.
    pub data_offset: u64,
    /// Raw bytes.
    pub nbytes: u64,
    /// Whether `data_offset` is a multiple of the element's alignment (so
    /// that a zero-copy typed view is possible).
    pub aligned: bool,
    /// `v1` or `v2`.
    pub encoding: &'static str,
}

fn cols(a: &Array) -> ArrayCols {
    let dtype = match &a.dtype {
        mmpk_format::dtype::Dtype::Scalar(s) => s.str(),
        d => d.descr().to_string(),
    };
    ArrayCols {
        dtype,
        shape: a.shape.clone(),
        data_offset: a.data.start as u64,
        nbytes: a.data.len() as u64,
        aligned: (a.data.start as u64).is_multiple_of(a.dtype.alignment().max(1)),
        encoding: match a.encoding {
            Encoding::V1 => "v1",
            Encoding::V2 => "v2",
        },
    }
}

fn classify(file: &[u8], s: &mmpk_format::scan::Scanned<'_>) -> (Content, Option<ArrayCols>) {
    if s.kind == EntryKind::Filler {
        return (Content::Filler, None);
    }
    let span = s.entry.value_span();
    if let Ok(a) = read_array(file, span.clone()) {
        return (Content::Array, Some(cols(&a)));
    }
    if let Ok(m) = read_masked(file, span) {
        return (Content::Masked, Some(cols(&m.data)));
    }
    (Content::Value, None)
}

/// The rows of `ls`: live entries only, or every entry (`all`), in file order.
pub fn rows(file: &[u8], sc: &Scan<'_>, all: bool) -> Vec<Row> {
    let latest = sc.live_index();
    sc.entries
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let live = s.kind == EntryKind::Live && latest.get(s.entry.key) == Some(&i);
            if !all && !live {
                return None;
            }
            let (kind, array) = classify(file, s);
            Some(Row {
                key: s.entry.key.to_string(),
                live,
                kind,
                offset: s.entry.offset as u64,
                len: s.entry.len as u64,
                array,
            })
        })
        .collect()
}

/// A size as people read it: bytes, KiB, MiB, GiB.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `ls` as an aligned table.
pub fn rows_table(rows: &[Row], all: bool) -> String {
    let mut head = vec![
        "key",
        "kind",
        "dtype",
        "shape",
        "bytes",
        "data offset",
        "aligned",
        "enc",
    ];
    if all {
        head.insert(1, "live");
    }
    let mut table: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let mut line = vec![r.key.clone(), r.kind.name().to_string()];
        match &r.array {
            Some(a) => line.extend([
                a.dtype.clone(),
                shape_text(&a.shape),
                human(a.nbytes),
                a.data_offset.to_string(),
                if a.aligned { "yes" } else { "no" }.to_string(),
                a.encoding.to_string(),
            ]),
            None => line.extend(
                ["", "", &human(r.len), "", "", ""]
                    .iter()
                    .map(|s| s.to_string()),
            ),
        }
        if all {
            line.insert(1, if r.live { "yes" } else { "no" }.to_string());
        }
        table.push(line);
    }
    crate::ui::table(&table)
}

/// `ls --json`: one object per row.
pub fn rows_json(rows: &[Row]) -> serde_json::Value {
    use serde_json::json;
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                let a = r.array.as_ref();
                json!({
                    "key": r.key,
                    "live": r.live,
                    "kind": r.kind.name(),
                    "offset": r.offset,
                    "dtype": a.map(|a| a.dtype.clone()),
                    "shape": a.map(|a| a.shape.clone()),
                    "data_offset": a.map(|a| a.data_offset),
                    "nbytes": a.map_or(r.len, |a| a.nbytes),
                    "aligned": a.map(|a| a.aligned),
                    "encoding": a.map(|a| a.encoding),
                })
            })
            .collect(),
    )
}

/// What `info` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// Format version (always 1: the header check refuses any other).
    pub version: i32,
    /// The commit number.
    pub commit: i32,
    /// File length.
    pub file_len: u64,
    /// Bytes in live entries, in deleted (or shadowed) entries, in fillers.
    pub bytes: [u64; 3],
    /// Entries: live, deleted (or shadowed), fillers.
    pub counts: [u64; 3],
    /// Arrays (live): total, whose data is aligned to 64 bytes, to their
    /// element type, and in the v1 encoding.
    pub arrays: [u64; 4],
    /// How the file ends.
    pub tail: String,
}

/// The tail in words.
pub fn tail_text(t: &Tail) -> String {
    match t {
        Tail::Clean => "clean".into(),
        Tail::MissingTerminator => "the terminator is missing (run `mmpk repair`)".into(),
        Tail::IncompleteFrame => "the last entry is incomplete (run `mmpk repair`)".into(),
        Tail::TrailingBytes { len } => {
            format!("{len} bytes follow the terminator (run `mmpk repair`)")
        }
        Tail::BrokenTerminator => "the terminator was half overwritten (run `mmpk repair`)".into(),
        Tail::Corrupt(e) => format!("corrupt entry: {e} (run `mmpk repair`)"),
        other => format!("{other:?}"),
    }
}

/// The summary of `info`.
pub fn info(file: &[u8], sc: &Scan<'_>) -> Info {
    let mut bytes = [0u64; 3];
    let mut counts = [0u64; 3];
    let mut arrays = [0u64; 4];
    for r in rows(file, sc, true) {
        let slot = match (r.kind, r.live) {
            (Content::Filler, _) => 2,
            (_, true) => 0,
            (_, false) => 1,
        };
        bytes[slot] += r.len;
        counts[slot] += 1;
        if let (true, Some(a)) = (r.live, &r.array) {
            arrays[0] += 1;
            arrays[1] += (a.data_offset % 64 == 0) as u64;
            arrays[2] += a.aligned as u64;
            arrays[3] += (a.encoding == "v1") as u64;
        }
    }
    Info {
        version: 1,
        commit: sc.header.commit,
        file_len: file.len() as u64,
        bytes,
        counts,
        arrays,
        tail: tail_text(&sc.tail),
    }
}

/// A problem `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Where (a byte offset).
    pub offset: u64,
    /// The key, if an entry's.
    pub key: Option<String>,
    /// What is wrong.
    pub what: String,
}

/// Checks every byte of the structure: the header, every entry's frame and
/// value (arrays and masked arrays validated, other values decoded
/// data-only: a bad value anywhere, even in a deleted entry, would make
/// `pickle.load` of the whole file fail), and the tail. Also returns notes
/// (not failures), such as v1 entries that numpy 2.3+ cannot load.
pub fn verify(file: &[u8]) -> Result<(Vec<Finding>, Vec<String>), mmpk_format::Error> {
    let sc = scan(file)?;
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let opts = DecodeOptions::default();
    for s in &sc.entries {
        if s.kind == EntryKind::Filler {
            continue;
        }
        let e: &Entry<'_> = &s.entry;
        let span = e.value_span();
        let array = read_array(file, span.clone());
        let masked = read_masked(file, span.clone());
        match (&array, &masked) {
            (Ok(a), _) | (_, Ok(mmpk_format::masked::MaskedArray { data: a, .. })) => {
                if a.encoding == Encoding::V1 && s.kind == EntryKind::Live {
                    notes.push(format!(
                        "{:?} is in the v1 (mmappickle 1.0) encoding: numpy 2.3+ cannot \
                         pickle.load the file (`mmpk upgrade` rewrites it as v2)",
                        e.key
                    ));
                }
            }
            _ => {
                if let Err(err) = decode_value(&file[span.clone()], span.start, &opts) {
                    findings.push(Finding {
                        offset: e.value_offset as u64,
                        key: Some(e.key.to_string()),
                        what: format!("value does not decode: {err} (`mmpk rm` removes the entry)"),
                    });
                }
            }
        }
    }
    if sc.tail != Tail::Clean {
        findings.push(Finding {
            offset: sc.intact_end as u64,
            key: None,
            what: tail_text(&sc.tail),
        });
    }
    Ok((findings, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmpk_format::dtype::Dtype;
    use mmpk_format::header::TERMINATOR;
    use mmpk_format::write::encode_array;
    use mmpk_format::write::write_entry;
    use mmpk_format::write::write_header;

    fn sample() -> Vec<u8> {
        let mut f = write_header(3).to_vec();
        let mut v = Vec::new();
        encode_array(
            &mut v,
            Encoding::V2,
            &Dtype::parse("<f8").unwrap(),
            &[2, 2],
            &[0; 32],
        )
        .unwrap();
        write_entry(&mut f, "a", &v, 0, true).unwrap();
        write_entry(&mut f, "n", b"K\x05", 1, false).unwrap();
        write_entry(&mut f, "n", b"K\x06", 1, true).unwrap();
        f.extend_from_slice(&TERMINATOR);
        f
    }

    #[test]
    fn ls_rows_and_info() {
        let f = sample();
        let sc = scan(&f).unwrap();
        let live = rows(&f, &sc, false);
        assert_eq!(live.len(), 2);
        assert_eq!(live[0].kind, Content::Array);
        let a = live[0].array.as_ref().unwrap();
        assert_eq!(
            (a.dtype.as_str(), &a.shape[..], a.nbytes),
            ("<f8", &[2u64, 2][..], 32)
        );
        assert_eq!(&f[a.data_offset as usize..][..32], &[0u8; 32]);
        assert_eq!(live[1].kind, Content::Value);
        assert_eq!(rows(&f, &sc, true).len(), 3);
        let i = info(&f, &sc);
        assert_eq!((i.commit, i.counts), (3, [2, 1, 0]));
        assert_eq!(i.arrays[0], 1);
        let t = rows_table(&live, false);
        assert!(t.lines().next().unwrap().starts_with("key"));
        assert!(t.contains("(2, 2)"));
        let j = rows_json(&rows(&f, &sc, true));
        assert_eq!(j[1]["live"], false);
        assert_eq!(j[0]["encoding"], "v2");
    }

    #[test]
    fn verify_reports_bad_values_and_torn_tails() {
        let f = sample();
        assert_eq!(verify(&f).unwrap().0, vec![]);
        let mut g = f.clone();
        let sc = scan(&f).unwrap();
        let v = sc.entries[1].entry.value_offset;
        g[v] = b'Q'; // BINPERSID with an empty stack: the value cannot decode
        let (found, _) = verify(&g).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key.as_deref(), Some("n"));
        let torn = &f[..f.len() - 3];
        let (found, _) = verify(torn).unwrap();
        assert!(found.iter().any(|x| x.what.contains("repair")), "{found:?}");
        assert!(verify(b"not a pickle").is_err());
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human(5), "5 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
