//! mmpk's errors as Python exceptions: the classes of `mmpk.errors` (each
//! also a built-in exception), `KeyError`, and the `OSError` subclasses
//! (`FileNotFoundError`, `PermissionError`, ...) with the file name set.

use std::error::Error;

use pyo3::exceptions::{PyKeyError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The class `name` of `mmpk.errors`.
pub(crate) fn class<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("mmpk.errors")?.unbind())
    })?;
    Ok(m.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// A new exception of `mmpk.errors`' class `name` with `message`.
pub(crate) fn new(py: Python<'_>, name: &'static str, message: String) -> PyErr {
    match class(py, name) {
        Ok(c) => match c.call1((message,)) {
            Ok(e) => PyErr::from_value(e),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// The message of an error with its causes (`display: cause: cause`).
pub(crate) fn message(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Whether `e` is an I/O call interrupted by a signal (Ctrl-C while waiting
/// for the lock): the binding checks for signals and retries.
pub(crate) fn interrupted(e: &mmpk::Error) -> bool {
    matches!(e, mmpk::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::Interrupted)
}

/// Converts an mmpk error into the Python exception a user expects.
pub(crate) fn to_py(py: Python<'_>, e: mmpk::Error) -> PyErr {
    use mmpk::Error as E;
    let msg = message(&e);
    match e {
        E::Io {
            op, path, source, ..
        } => {
            let filename = path.to_string_lossy().into_owned();
            match source.raw_os_error() {
                // OSError(errno, strerror, filename) becomes the subclass
                // for errno (FileNotFoundError, IsADirectoryError, ...).
                Some(errno) => {
                    let os = std::io::Error::from_raw_os_error(errno).to_string();
                    // Rust's text ends in " (os error N)": Python shows the
                    // errno itself ("[Errno N]").
                    let os = os.split(" (os error").next().unwrap_or(&os);
                    let strerror = format!("{op}: {os}");
                    PyOSError::new_err((errno, strerror, filename))
                }
                None => PyOSError::new_err(format!("{op} failed on {filename}: {source}")),
            }
        }
        E::NotMmpk { plain_pickle, .. } => {
            let mut m = msg;
            if plain_pickle {
                m.push_str(
                    "; a plain pickled dict is converted into an mmpk file by mmpk.convert(src, dst)",
                );
            }
            new(py, "NotMmpkError", m)
        }
        E::Format { .. } | E::ShapeMismatch { .. } | E::InvalidBool { .. } => {
            new(py, "FormatError", msg)
        }
        E::NotAnArray { .. } | E::WrongType { .. } => new(py, "FormatError", msg),
        E::Corrupt { .. } => new(py, "CorruptError", msg),
        E::Changed { .. } => new(py, "ChangedError", msg),
        E::KeyNotFound { key } => PyKeyError::new_err(key),
        E::ReadOnly { .. } => new(py, "ReadOnlyError", msg),
        E::Busy { .. } | E::ViewsAlive { .. } => new(py, "BusyError", msg),
        E::UnsupportedDtype { .. } | E::Unsupported { .. } => new(py, "UnsupportedError", msg),
        E::KeyTooLong { .. } | E::BadOption { .. } => PyValueError::new_err(msg),
        E::Misaligned { .. } | E::ByteOrder { .. } => new(py, "UnsupportedError", msg),
        _ => new(py, "Error", msg),
    }
}
