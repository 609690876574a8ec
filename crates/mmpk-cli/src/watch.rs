//! `mmpk watch FILE`: follows a file that other processes write, printing
//! each key added, replaced or removed, until interrupted.
//!
//! Cost to the writers: each poll takes the file's lock once to read the
//! commit number (24 bytes). Only when it changed does the watcher look at
//! the file under the lock: the frames appended since its last look, and
//! the validity bytes of the live entries it knows (the work of one
//! incremental index read; the whole entry list only on the first look or
//! after the file was replaced). It then describes the new entries from
//! their headers (O(1) each, whatever the size of their arrays) in batches
//! of 4096, each a short hold of the lock.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::time::{Duration, Instant};

use clap::ArgMatches;
use mmpk::Dict;
use serde_json::json;

use crate::dict_cmds::{open_dict, Open};
use crate::ui::shape_text;
use crate::Failure;

/// What the watcher prints about one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Desc {
    kind: &'static str,
    dtype: Option<String>,
    shape: Option<Vec<usize>>,
}

/// Describes the values at `spans` (the file under the lock; O(1) each,
/// whatever the size of their arrays).
fn describe(bytes: &[u8], spans: &[Range<usize>]) -> Vec<Desc> {
    spans
        .iter()
        .map(|span| {
            let arr = |a: &mmpk_format::array::Array, kind| Desc {
                kind,
                dtype: Some(match &a.dtype {
                    mmpk_format::dtype::Dtype::Scalar(s) => s.str(),
                    other => other.descr().to_string(),
                }),
                shape: Some(a.shape.iter().map(|&x| x as usize).collect()),
            };
            if span.end > bytes.len() {
                Desc::value()
            } else if let Ok(a) = mmpk_format::array::read_array(bytes, span.clone()) {
                arr(&a, "array")
            } else if let Ok(m) = mmpk_format::masked::read_masked(bytes, span.clone()) {
                arr(&m.data, "masked")
            } else {
                Desc::value()
            }
        })
        .collect()
}

impl Desc {
    fn value() -> Desc {
        Desc {
            kind: "value",
            ..Desc::default()
        }
    }
}

/// Where a live entry is: its offset, its validity byte, its value.
#[derive(Clone, Debug)]
struct Seen {
    offset: usize,
    validity: usize,
}

/// What the watcher knows of the file.
#[derive(Default)]
struct Follow {
    /// Live keys.
    known: HashMap<String, Seen>,
    /// Where the intact entries ended at the last look.
    end: usize,
    /// Read the whole entry list next time (first look, or the file was
    /// replaced or shrank).
    full: bool,
    /// Whether anything was listed yet.
    started: bool,
    /// The last entry seen (offset, key, length): if it is no longer there,
    /// the file was rewritten in place (mmappickle's vacuum) and is read
    /// whole, unless it was a deleted entry with an empty key (a room,
    /// docs/format.md section 8, that durable inserts are written into):
    /// then from that entry on.
    last: Option<(usize, String, usize)>,
}

/// One change to print; the value's span is described afterwards.
struct Change {
    ev: &'static str,
    key: String,
    span: Option<Range<usize>>,
}

/// What [`Follow::last`] keeps of an entry: its offset, its key (empty
/// for a deleted entry with an empty key: a filler, or a room), its length.
fn last_of(e: &mmpk_format::entry::Entry<'_>) -> (usize, String, usize) {
    let key = if e.live || !e.key.is_empty() {
        // A live entry of the empty key must not pass for a room.
        format!("{}{}", if e.live { "live:" } else { "" }, e.key)
    } else {
        String::new()
    };
    (e.offset, key, e.len)
}

/// One look at the file under the lock: a full scan, or the frames added
/// since the last look plus the validity bytes of the live entries known.
fn look(bytes: &[u8], f: &mut Follow) -> Vec<Change> {
    let moved = f.last.as_ref().is_some_and(|(at, key, len)| {
        mmpk_format::entry::parse_entry(bytes, *at).map(|e| (e.key, e.len))
            != Ok((key.as_str(), *len))
    });
    let room = f.last.as_ref().filter(|(_, key, _)| key.is_empty());
    if !f.full && f.end <= bytes.len() && moved && room.is_some() {
        f.end = room.map_or(f.end, |r| r.0);
    } else if !f.full && (f.end > bytes.len() || moved) {
        f.full = true;
    }
    let mut out = Vec::new();
    if f.full {
        let Ok(sc) = mmpk_format::scan(bytes) else {
            return out;
        };
        let idx = sc.live_index();
        let mut now: HashMap<String, Seen> = HashMap::with_capacity(idx.len());
        let mut order: Vec<usize> = idx.values().copied().collect();
        order.sort_unstable();
        for i in order {
            let e = &sc.entries[i].entry;
            let ev = match f.known.get(e.key) {
                None if f.started => Some("added"),
                None => Some("present"),
                // Rewritten (the file was replaced, or vacuumed in place).
                Some(s) if s.offset != e.offset => Some("replaced"),
                Some(_) => None,
            };
            if let Some(ev) = ev {
                out.push(Change {
                    ev,
                    key: e.key.to_string(),
                    span: Some(e.value_span()),
                });
            }
            now.insert(
                e.key.to_string(),
                Seen {
                    offset: e.offset,
                    validity: e.validity_offset(),
                },
            );
        }
        let mut gone: Vec<&String> = f.known.keys().filter(|k| !now.contains_key(*k)).collect();
        gone.sort();
        for k in gone {
            out.push(Change {
                ev: "removed",
                key: k.clone(),
                span: None,
            });
        }
        f.known = now;
        f.end = sc.intact_end;
        f.last = sc.entries.last().map(|s| last_of(&s.entry));
        f.full = false;
        f.started = true;
        return out;
    }
    let mut new = Vec::new();
    let ending = mmpk_format::scan::scan_from(bytes, f.end, |e| new.push(e));
    f.end = ending.end;
    if let Some(e) = new.last() {
        f.last = Some(last_of(e));
    }
    for e in new.iter().filter(|e| e.live) {
        let replaced = f.known.contains_key(e.key);
        f.known.insert(
            e.key.to_string(),
            Seen {
                offset: e.offset,
                validity: e.validity_offset(),
            },
        );
        out.push(Change {
            ev: if replaced { "replaced" } else { "added" },
            key: e.key.to_string(),
            span: Some(e.value_span()),
        });
    }
    let mut gone: Vec<(usize, String)> = f
        .known
        .iter()
        .filter(|(_, s)| bytes.get(s.validity) != Some(&mmpk_format::entry::LIVE))
        .map(|(k, s)| (s.offset, k.clone()))
        .collect();
    gone.sort();
    for (_, k) in gone {
        f.known.remove(&k);
        out.push(Change {
            ev: "removed",
            key: k,
            span: None,
        });
    }
    out
}

struct Printer {
    json: bool,
    out: std::io::StdoutLock<'static>,
}

impl Printer {
    fn event(&mut self, ev: &str, key: &str, d: Option<&Desc>) -> std::io::Result<()> {
        if self.json {
            let v = json!({
                "event": ev,
                "key": key,
                "kind": d.map(|d| d.kind),
                "dtype": d.and_then(|d| d.dtype.clone()),
                "shape": d.and_then(|d| d.shape.clone()),
            });
            return writeln!(self.out, "{v}");
        }
        let mark = match ev {
            "present" => "=",
            "added" => "+",
            "replaced" => "~",
            _ => "-",
        };
        match d {
            Some(d) => {
                let mut line = format!("{mark} {key}  {}", d.kind);
                if let Some(t) = &d.dtype {
                    line.push_str(&format!("  {t}"));
                }
                if let Some(s) = &d.shape {
                    line.push_str(&format!("  {}", shape_text(s)));
                }
                writeln!(self.out, "{line}")
            }
            None => writeln!(self.out, "{mark} {key}"),
        }
    }
}

/// `mmpk watch [--json] [--interval MS] [--for SECS] FILE`
pub fn watch(m: &ArgMatches) -> Result<(), Failure> {
    let path = m
        .get_one::<String>("file")
        .map(String::as_str)
        .unwrap_or("");
    let interval = Duration::from_millis(*m.get_one::<u64>("interval").unwrap_or(&20));
    let until = m
        .get_one::<f64>("for")
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut p = Printer {
        json: m.get_flag("json"),
        out: std::io::stdout().lock(),
    };
    let mut d = open_dict(path, Open::Read)?;
    let mut f = Follow {
        full: true,
        ..Follow::default()
    };
    let mut first = true;
    loop {
        let changed = first
            || match d.changed_by_others() {
                Ok(c) => c,
                Err(mmpk::Error::Changed { .. }) => true,
                Err(e) => return Err(crate::ui::fail(path, &e)),
            };
        first = false;
        if changed {
            let changes = match d.with_file_bytes(|b| look(b, &mut f)) {
                Ok(c) => c,
                Err(mmpk::Error::Changed { .. }) => {
                    // Vacuumed, converted or replaced: follow the new file
                    // (a writer that replaces it may take a moment).
                    d = reopen(path)?;
                    f.full = true;
                    continue;
                }
                Err(e) => return Err(crate::ui::fail(path, &e)),
            };
            match report(&d, &mut p, &changes) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(Failure::io(format!("<stdout>: {e}"))),
            }
        }
        if until.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// Opens `path` again, waiting up to 5 s for it to reappear.
fn reopen(path: &str) -> Result<Dict, Failure> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match open_dict(path, Open::Read) {
            Ok(d) => return Ok(d),
            Err(f) if Instant::now() >= end => return Err(f),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Describes the changes (in batches, each one short hold of the lock)
/// and prints them.
fn report(d: &Dict, p: &mut Printer, changes: &[Change]) -> std::io::Result<()> {
    for batch in changes.chunks(4096) {
        let spans: Vec<Range<usize>> = batch.iter().filter_map(|c| c.span.clone()).collect();
        let descs = d
            .with_file_bytes(|b| describe(b, &spans))
            .unwrap_or_else(|_| vec![Desc::value(); spans.len()]);
        let mut descs = descs.into_iter();
        for c in batch {
            let desc = c.span.as_ref().and_then(|_| descs.next());
            p.event(c.ev, &c.key, desc.as_ref())?;
        }
        p.out.flush()?;
    }
    p.out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmpk_format::header::TERMINATOR;
    use mmpk_format::write::write_entry;
    use mmpk_format::write::write_header;

    fn file(entries: &[(&str, bool)]) -> Vec<u8> {
        let mut f = write_header(1).to_vec();
        for (k, live) in entries {
            write_entry(&mut f, k, b"K\x01", 1, *live).unwrap();
        }
        f.extend_from_slice(&TERMINATOR);
        f
    }

    fn evs(c: &[Change]) -> Vec<(String, String)> {
        c.iter()
            .map(|c| (c.ev.to_string(), c.key.clone()))
            .collect()
    }

    #[test]
    fn looks_follow_appends_replacements_and_deletes() {
        let mut f = Follow {
            full: true,
            ..Follow::default()
        };
        let a = file(&[("a", true), ("b", true)]);
        assert_eq!(
            evs(&look(&a, &mut f)),
            [
                ("present".into(), "a".into()),
                ("present".into(), "b".into())
            ]
        );
        // b replaced (old entry deleted, new one appended), c added, a deleted.
        let b = file(&[("a", false), ("b", false), ("b", true), ("c", true)]);
        assert_eq!(
            evs(&look(&b, &mut f)),
            [
                ("replaced".into(), "b".into()),
                ("added".into(), "c".into()),
                ("removed".into(), "a".into())
            ]
        );
        assert!(look(&b, &mut f).is_empty());
        // Inserts into a room at the end (the file's length unchanged): d
        // and, after an alignment filler, e are read from the room on.
        let with_room = |entries: &[(&str, bool)], room: usize| {
            let mut f = write_header(1).to_vec();
            for (k, live) in entries {
                write_entry(&mut f, k, b"K\x01", 1, *live).unwrap();
            }
            mmpk_format::write::write_filler(&mut f, room as u64).unwrap();
            f.extend_from_slice(&TERMINATOR);
            f
        };
        let base = [("a", false), ("b", false), ("b", true), ("c", true)];
        let r = with_room(&base, 1000);
        assert!(look(&r, &mut f).is_empty());
        let mut more = base.to_vec();
        more.push(("d", true));
        let r2 = with_room(&more, 1000 - 22);
        assert_eq!(r2.len(), r.len());
        assert_eq!(evs(&look(&r2, &mut f)), [("added".into(), "d".into())]);
        let mut g = write_header(1).to_vec();
        for (k, live) in &more {
            write_entry(&mut g, k, b"K\x01", 1, *live).unwrap();
        }
        mmpk_format::write::write_filler(&mut g, 20).unwrap();
        write_entry(&mut g, "e", b"K\x01", 1, true).unwrap();
        let rest = (r.len() - 11 - g.len()) as u64;
        mmpk_format::write::write_filler(&mut g, rest).unwrap();
        g.extend_from_slice(&TERMINATOR);
        assert_eq!(g.len(), r.len());
        assert_eq!(evs(&look(&g, &mut f)), [("added".into(), "e".into())]);
        // The file shrank (vacuumed in place): a full look; c moved.
        let c = file(&[("c", true)]);
        assert_eq!(
            evs(&look(&c, &mut f)),
            [
                ("replaced".into(), "c".into()),
                ("removed".into(), "b".into()),
                ("removed".into(), "d".into()),
                ("removed".into(), "e".into())
            ]
        );
    }
}
