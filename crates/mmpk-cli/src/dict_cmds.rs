//! Commands on dict files that read or maintain them: `ls`, `info`,
//! `verify`, `rm`, `vacuum`, `repair`, `convert`, `upgrade`; and
//! [`open_dict`], the only place the CLI opens a dict.

use std::path::Path;

use clap::ArgMatches;
use mmpk::{Dict, Layout, OpenOptions};
use serde_json::json;

use crate::inspect;
use crate::ui::{self, fail, human, print};
use crate::Failure;

/// Whether the command runs with `--durable` (set once by `main`).
static DURABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every later [`open_dict`] for writing durable
/// (`mmpk::OpenOptions::durable`): each change is synced before the
/// command reports it done.
pub fn set_durable(yes: bool) {
    DURABLE.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// How [`open_dict`] opens a file.
#[derive(Clone, Copy, Debug)]
pub enum Open<'a> {
    /// An existing file, read-only.
    Read,
    /// An existing file, read-write.
    Write,
    /// Read-write, created (an empty dict) if missing, new entries in this
    /// layout and alignment.
    Create(Layout, u64),
    /// A new mmpk file converted from the plain pickled dict at `from`
    /// (which is not changed).
    ConvertFrom(&'a str),
}

/// Opens the dict at `path`. Every `unsafe` of the CLI is here (the crate
/// denies `unsafe_code` everywhere else).
#[allow(unsafe_code)]
pub fn open_dict(path: &str, how: Open) -> Result<Dict, Failure> {
    let mut o = OpenOptions::new();
    o.durable(DURABLE.load(std::sync::atomic::Ordering::Relaxed));
    match how {
        Open::Read => {
            o.read_only(true);
        }
        Open::Write | Open::ConvertFrom(_) => {}
        Open::Create(layout, align) => {
            o.create(true).layout(layout).align(align);
        }
    }
    // SAFETY: memmap2's contract, as `mmpk::OpenOptions::open` (and
    // `convert`) state it: for as long as the dict and every array taken
    // from it live (here, until the command ends), nobody truncates the file
    // or rewrites it other than through the mmpk protocol (no vacuum or
    // repair by another process, no editor, no `truncate`). The CLI cannot
    // enforce that on other processes: it relies on the user, and says so
    // in `mmpk --help` and in the README's Security section. Its own
    // `vacuum`, `upgrade` and `repair` (which move or cut bytes) refuse
    // while another process holds the lock or has the file open. Within this process, the CLI reads arrays it does
    // not own and writes only arrays it has just reserved itself (`demo`);
    // other processes writing array data it reads is ordinary shared memory
    // (a number being written may be read torn), which mmpk documents and
    // a command-line tool accepts.
    let r = unsafe {
        match how {
            Open::ConvertFrom(input) => o.convert_to(input, path),
            _ => o.open(path),
        }
    };
    r.map_err(|e| open_error(path, e))
}

/// A clear one-line message for a failed open.
fn open_error(path: &str, e: mmpk::Error) -> Failure {
    match &e {
        mmpk::Error::NotMmpk { plain_pickle, .. } => Failure::input(format!(
            "{path}: not an mmpk file (left unchanged){}",
            if *plain_pickle {
                "; it looks like a plain pickle: `mmpk convert` turns a pickled dict into one"
            } else {
                ""
            }
        )),
        _ => fail(path, &e),
    }
}

fn arg<'a>(m: &'a ArgMatches, name: &str) -> &'a str {
    m.get_one::<String>(name).map(String::as_str).unwrap_or("")
}

/// `mmpk ls [--all] [--json] FILE`
pub fn ls(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    let all = m.get_flag("all");
    if crate::remote::is_url(path) {
        return crate::remote::ls(path, all, m.get_flag("json"));
    }
    let d = open_dict(path, Open::Read)?;
    let rows = d
        .with_file_bytes(|bytes| mmpk_format::scan(bytes).map(|sc| inspect::rows(bytes, &sc, all)))
        .map_err(|e| fail(path, &e))?
        .map_err(|e| fail(path, &e))?;
    if m.get_flag("json") {
        print(&format!("{}\n", inspect::rows_json(&rows)))
    } else {
        print(&inspect::rows_table(&rows, all))
    }
}

/// `mmpk info [--json] FILE`
pub fn info(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    if crate::remote::is_url(path) {
        return crate::remote::info(path, m.get_flag("json"));
    }
    let d = open_dict(path, Open::Read)?;
    let i = d
        .with_file_bytes(|bytes| mmpk_format::scan(bytes).map(|sc| inspect::info(bytes, &sc)))
        .map_err(|e| fail(path, &e))?
        .map_err(|e| fail(path, &e))?;
    if m.get_flag("json") {
        let v = json!({
            "file": path,
            "version": i.version,
            "commit": i.commit,
            "file_size": i.file_len,
            "bytes": {"live": i.bytes[0], "dead": i.bytes[1], "filler": i.bytes[2]},
            "entries": {"live": i.counts[0], "dead": i.counts[1], "filler": i.counts[2]},
            "arrays": {
                "total": i.arrays[0],
                "aligned_64": i.arrays[1],
                "aligned_element": i.arrays[2],
                "v1": i.arrays[3],
            },
            "tail": i.tail,
        });
        return print(&format!("{v}\n"));
    }
    print(&ui::pairs(&[
        ("file", path.to_string()),
        ("format version", i.version.to_string()),
        ("commit number", i.commit.to_string()),
        (
            "file size",
            format!("{} ({} bytes)", human(i.file_len), i.file_len),
        ),
        (
            "entries",
            format!(
                "{} live, {} dead, {} fillers",
                i.counts[0], i.counts[1], i.counts[2]
            ),
        ),
        (
            "bytes",
            format!(
                "{} live, {} dead, {} fillers",
                human(i.bytes[0]),
                human(i.bytes[1]),
                human(i.bytes[2])
            ),
        ),
        (
            "arrays",
            format!(
                "{} live: {} aligned to 64 bytes, {} to their element, {} in v1",
                i.arrays[0], i.arrays[1], i.arrays[2], i.arrays[3]
            ),
        ),
        ("tail", i.tail.clone()),
    ]))?;
    if i.arrays[3] > 0 {
        print(&format!(
            "note: {} array(s) in the v1 (mmappickle 1.0) encoding: numpy 2.3+ cannot pickle.load \
             the file; `mmpk upgrade {path}` rewrites them as v2\n",
            i.arrays[3]
        ))?;
    }
    Ok(())
}

/// `mmpk verify [--json] FILE`: exit 1 on findings.
pub fn verify(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    let d = open_dict(path, Open::Read)?;
    let (findings, notes) = d
        .with_file_bytes(inspect::verify)
        .map_err(|e| fail(path, &e))?
        .map_err(|e| fail(path, &e))?;
    if m.get_flag("json") {
        let f: Vec<_> = findings
            .iter()
            .map(|f| json!({"offset": f.offset, "key": f.key, "what": f.what}))
            .collect();
        let v = json!({"file": path, "ok": findings.is_empty(), "findings": f, "notes": notes});
        print(&format!("{v}\n"))?;
    } else {
        let mut out = String::new();
        for f in &findings {
            match &f.key {
                Some(k) => out.push_str(&format!("byte {}: entry {k:?}: {}\n", f.offset, f.what)),
                None => out.push_str(&format!("byte {}: {}\n", f.offset, f.what)),
            }
        }
        for n in &notes {
            out.push_str(&format!("note: {n}\n"));
        }
        if findings.is_empty() {
            out.push_str(&format!("{path}: ok\n"));
        }
        print(&out)?;
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(Failure::check(format!(
            "{path}: {} finding(s)",
            findings.len()
        )))
    }
}

/// `mmpk rm FILE KEY...`: every key must exist, or nothing is removed.
pub fn rm(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    let mut keys: Vec<&String> = Vec::new();
    for k in m.get_many::<String>("keys").into_iter().flatten() {
        // A key named twice is removed once.
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let d = open_dict(path, Open::Write)?;
    for k in &keys {
        if !d.contains(k).map_err(|e| fail(path, &e))? {
            return Err(Failure::input(format!(
                "{path}: no entry {k:?} (nothing was removed)"
            )));
        }
    }
    for (i, k) in keys.iter().enumerate() {
        d.remove(k).map_err(|e| {
            let f = fail(&format!("{path}: entry {k:?}"), &e);
            if i == 0 {
                f
            } else {
                Failure::partial(
                    &format!("{path}: removed {:?}, not {:?}", &keys[..i], &keys[i..]),
                    f,
                )
            }
        })?;
    }
    if m.get_flag("json") {
        return print(&format!("{}\n", json!({"file": path, "removed": keys})));
    }
    print(&format!("removed {} key(s) from {path}\n", keys.len()))
}

/// Refuses when another process holds the file's lock (it is in the middle
/// of an operation) or has the file open (it would keep using the old file
/// after a rename).
fn check_alone(path: &str, what: &str) -> Result<(), Failure> {
    let f = std::fs::File::open(path).map_err(|e| fail(path, &e))?;
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Failure::io(format!(
                "{path}: another process holds the file's lock; {what} refused"
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(fail(path, &e)),
    }
    if let Some(pid) = other_opener(Path::new(path)) {
        return Err(Failure::io(format!(
            "{path}: process {pid} has the file open; {what} refused (it would keep using the old file)"
        )));
    }
    Ok(())
}

/// A process other than this one that has `path` open (Linux `/proc`;
/// `None` where it cannot be known).
fn other_opener(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let me = std::process::id();
    for p in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(m) = std::fs::metadata(fd.path()) {
                if m.dev() == dev && m.ino() == ino {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// `mmpk vacuum FILE`
pub fn vacuum(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    let r = do_vacuum(path)?;
    if m.get_flag("json") {
        return print(&format!(
            "{}\n",
            json!({"file": path, "before": r.before, "after": r.after, "live": r.live, "dropped": r.dropped})
        ));
    }
    print(&format!(
        "{path}: {} -> {} ({} reclaimed), {} live entries kept, {} frames dropped\n",
        human(r.before),
        human(r.after),
        human(r.before.saturating_sub(r.after)),
        r.live,
        r.dropped
    ))
}

fn do_vacuum(path: &str) -> Result<mmpk::VacuumReport, Failure> {
    if !Path::new(path).exists() {
        return Err(open_dict(path, Open::Read)
            .err()
            .unwrap_or_else(|| Failure::input(format!("{path}: no such file"))));
    }
    check_alone(path, "vacuum")?;
    let d = open_dict(path, Open::Write)?;
    let pb = ui::spinner("vacuum");
    let r = d.vacuum().map_err(|e| fail(path, &e));
    pb.finish_and_clear();
    r
}

/// `mmpk repair FILE`
pub fn repair(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    if Path::new(path).exists() {
        // A repair may cut the file: nobody else may have it mapped.
        check_alone(path, "repair")?;
    }
    let d = open_dict(path, Open::Write)?;
    let r = d.repair().map_err(|e| fail(path, &e))?;
    if m.get_flag("json") {
        return print(&format!(
            "{}\n",
            json!({"file": path, "changed": r.changed, "intact_end": r.intact_end,
                   "dropped": r.dropped, "tail": inspect::tail_text(&r.tail)})
        ));
    }
    if r.changed {
        print(&format!(
            "{path}: repaired ({}); entries intact up to byte {}, {} cut\n",
            inspect::tail_text(&r.tail),
            r.intact_end,
            human(r.dropped)
        ))
    } else {
        print(&format!("{path}: nothing to repair\n"))
    }
}

/// `mmpk convert IN.pkl OUT`: `OUT` must not exist; `IN` is not changed.
pub fn convert(m: &ArgMatches) -> Result<(), Failure> {
    let input = arg(m, "input");
    let out = arg(m, "output");
    let meta = std::fs::metadata(input).map_err(|e| fail(input, &e))?;
    if Path::new(out).exists() {
        return Err(Failure::input(format!(
            "{out}: already exists (convert writes a new file)"
        )));
    }
    if !meta.is_file() {
        return Err(Failure::input(format!("{input}: not a regular file")));
    }
    // Written beside OUT and renamed to it once complete: a crash leaves no
    // OUT or the whole one, never a partial file.
    let sp = ui::spinner("convert");
    let r = open_dict(out, Open::ConvertFrom(input));
    sp.finish_and_clear();
    let d = match r {
        Ok(d) => d,
        Err(f) => {
            return Err(Failure {
                code: f.code,
                message: f.message.replace(out, input),
            });
        }
    };
    let n = d.len().map_err(|e| fail(out, &e))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    if m.get_flag("json") {
        return print(&format!(
            "{}\n",
            json!({"input": input, "output": out, "keys": n, "file_size": size})
        ));
    }
    print(&format!("{input} -> {out}: {n} keys, {}\n", human(size)))
}

/// `mmpk upgrade FILE`: v1 entries rewritten as v2, then (if the file held
/// any v1 entry, live or dead) a vacuum so that no v1 bytes remain.
pub fn upgrade(m: &ArgMatches) -> Result<(), Failure> {
    let path = arg(m, "file");
    let d = open_dict(path, Open::Write)?;
    let any_v1 = |d: &Dict| -> Result<bool, Failure> {
        d.with_file_bytes(|bytes| {
            mmpk_format::scan(bytes).map(|sc| {
                inspect::rows(bytes, &sc, true)
                    .iter()
                    .any(|r| r.array.as_ref().is_some_and(|a| a.encoding == "v1"))
            })
        })
        .map_err(|e| fail(path, &e))?
        .map_err(|e| fail(path, &e))
    };
    if !any_v1(&d)? {
        drop(d);
        return report_upgrade(m, path, &[], None);
    }
    check_alone(path, "upgrade")?;
    let pb = ui::spinner("upgrade");
    // Every v1 entry is checked before anything is written: a refusal
    // changed nothing; a failure part-way says which entries it rewrote.
    let keys = d.upgrade().map_err(|e| {
        let f = fail(path, &e);
        if matches!(e, mmpk::Error::Incomplete { .. }) {
            Failure {
                code: crate::exit::PARTIAL,
                message: f.message,
            }
        } else {
            Failure {
                code: f.code,
                message: format!("{} (upgrade refused: nothing was changed)", f.message),
            }
        }
    });
    pb.finish_and_clear();
    let keys = keys?;
    drop(d);
    let r = do_vacuum(path).map_err(|f| {
        Failure::partial(
            &format!(
                "{path}: {} entr(y/ies) rewritten as v2 but the old v1 bytes remain (run `mmpk vacuum`)",
                keys.len()
            ),
            f,
        )
    })?;
    report_upgrade(m, path, &keys, Some(r))
}

fn report_upgrade(
    m: &ArgMatches,
    path: &str,
    keys: &[String],
    v: Option<mmpk::VacuumReport>,
) -> Result<(), Failure> {
    if m.get_flag("json") {
        return print(&format!(
            "{}\n",
            json!({"file": path, "upgraded": keys, "vacuumed": v.is_some(),
                   "file_size": v.map(|v| v.after)})
        ));
    }
    let mut s = format!("{path}: {} entr(y/ies) rewritten as v2", keys.len());
    if let Some(v) = v {
        s.push_str(&format!(
            "; vacuumed {} -> {}",
            human(v.before),
            human(v.after)
        ));
    } else {
        s.push_str("; no v1 entries, nothing to do");
    }
    s.push('\n');
    print(&s)
}
