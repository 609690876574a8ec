//! What the commands share for talking to people: errors as one line,
//! aligned tables, sizes, progress bars that appear only on a terminal, and
//! the one place dtypes are formatted.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;

pub use crate::inspect::human;

/// numpy's `dtype.str` and name of an array's dtype: the one place the CLI
/// looks at `mmpk::Array::dtype()`, so that a change of its type is a
/// one-line fix here.
pub fn dtype_strs(a: &mmpk::Array) -> (String, String) {
    let d = a.dtype();
    (d.str(), d.name())
}

/// numpy's `dtype.descr` of an array's dtype as Python text (what a `.npy`
/// header holds): `'<f4'`, or a structured dtype's list of fields.
pub fn dtype_descr_py(a: &mmpk::Array) -> String {
    a.dtype().descr().to_string()
}

/// A failure naming `what` (a file or key) with an error and its causes,
/// on one line.
pub fn fail(what: &str, e: &(dyn std::error::Error + 'static)) -> Failure {
    let message = one_line(what, e);
    if class(e) == crate::exit::IO {
        Failure::io(message)
    } else {
        Failure::input(message)
    }
}

/// The exit code an error calls for: [`crate::exit::IO`] for failures of
/// the system (I/O, locks, another process's changes, a server), else
/// [`crate::exit::INPUT`] (the input is not what it should be). The first
/// error of the chain that tells decides.
pub fn class(e: &(dyn std::error::Error + 'static)) -> u8 {
    use crate::exit::{INPUT, IO};
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(m) = x.downcast_ref::<mmpk::Error>() {
            match m {
                mmpk::Error::Io { .. } => {}
                mmpk::Error::Busy { .. }
                | mmpk::Error::ViewsAlive { .. }
                | mmpk::Error::Changed { .. } => return IO,
                _ => return INPUT,
            }
        } else if let Some(code) = crate::remote::class(x) {
            return code;
        } else if let Some(io) = x.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return match io.kind() {
                K::NotFound
                | K::InvalidInput
                | K::InvalidData
                | K::UnexpectedEof
                | K::IsADirectory
                | K::NotADirectory => INPUT,
                _ => IO,
            };
        }
        cur = x.source();
    }
    INPUT
}

/// `what: error: cause: cause`, newlines folded; `what` is left out when the
/// error already names it.
pub fn one_line(what: &str, e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            let _ = write!(s, ": {t}");
        }
        src = c.source();
    }
    // Name the file (and key) once: parts of `what` that the error
    // already names are left out.
    let parts: Vec<&str> = what
        .split(": ")
        .filter(|p| !p.is_empty() && !s.contains(p))
        .collect();
    let s = if parts.is_empty() {
        s
    } else {
        format!("{}: {s}", parts.join(": "))
    };
    s.replace(['\n', '\r'], " ")
}

/// Whether progress bars may be drawn (stderr is a terminal).
pub fn show_progress() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte-counting progress bar of `len` bytes (hidden off a terminal).
pub fn bytes_bar(len: u64, msg: &str) -> ProgressBar {
    if !show_progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:12} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// A counting progress bar of `len` steps (hidden off a terminal).
pub fn count_bar(len: u64, msg: &str) -> ProgressBar {
    if !show_progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:30}] {pos}/{len} {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// A spinner for work of unknown length (hidden off a terminal).
pub fn spinner(msg: &str) -> ProgressBar {
    if !show_progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// Arrays at least this large get a progress bar in `put` and `export`.
pub const LARGE: u64 = 64 << 20;

/// Rows of cells as a table with aligned columns (the first row is the
/// heading when `head` is set, underlined by nothing: plain text).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(s, &w)| format!("{s:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// Two-column `name  value` lines.
pub fn pairs(items: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|(k, v)| vec![k.to_string(), v.clone()])
        .collect();
    table(&rows)
}

pub use mmpk_format::pylit::shape_text;

/// Writes `text` to stdout; a closed pipe is not an error worth a message.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::io(format!("<stdout>: {e}"))),
    }
}

/// A duration as people read it.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Throughput of `bytes` in `d`, per second.
pub fn rate(bytes: u64, d: Duration) -> String {
    let s = d.as_secs_f64().max(1e-9);
    format!("{}/s", human((bytes as f64 / s) as u64))
}

/// Whether `path` names a remote file (`http://`, `https://`, `s3://`).
pub fn is_url(path: &str) -> bool {
    ["http://", "https://", "s3://"]
        .iter()
        .any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_shapes_print_as_numpy() {
        let t = table(&[
            vec!["a".into(), "bb".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "a    bb\nccc  d\n");
        assert_eq!(shape_text(&[5]), "(5,)");
        assert_eq!(shape_text::<usize>(&[]), "()");
        assert_eq!(shape_text(&[2, 3]), "(2, 3)");
    }

    #[test]
    fn errors_fold_to_one_line() {
        let e = std::io::Error::other("bad\nthing");
        assert_eq!(one_line("f.mmpk", &e), "f.mmpk: bad thing");
        let e = std::io::Error::other("entry \"k\" is malformed");
        assert_eq!(
            one_line("f.mmpk: entry \"k\"", &e),
            "f.mmpk: entry \"k\" is malformed"
        );
    }
}
