//! The crate's one error type: every failure names the key, the byte offset
//! or the operation it concerns, and chains its cause through `source()`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong with a [`crate::Dict`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed.
    Io {
        /// What was being done (`"open"`, `"write entry"`, `"flock"`, ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not an mmpk file: nothing was written to it.
    NotMmpk {
        /// The file.
        path: PathBuf,
        /// Whether it starts like a plain pickle (`PROTO`), which could be
        /// converted.
        plain_pickle: bool,
        /// What the header check found.
        source: mmpk_format::Error,
    },
    /// The file's bytes do not follow the format where they must.
    Format {
        /// The key concerned, if any.
        key: Option<String>,
        /// The format error (it names the byte offset).
        source: mmpk_format::Error,
    },
    /// The entry list ends in a corrupt frame: reading works, writing is
    /// refused until [`crate::Dict::repair`] runs.
    Corrupt {
        /// Offset where the intact entries end.
        offset: u64,
        /// What is wrong there.
        source: mmpk_format::Error,
    },
    /// Another process changed the file in a way a cached offset or a view
    /// cannot follow (it shrank, was vacuumed, or is no longer mmpk).
    Changed {
        /// The offset whose bytes are no longer what they were.
        offset: u64,
        /// What was found.
        what: &'static str,
    },
    /// A key longer than 255 UTF-8 bytes.
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// The key is not in the dict (never inserted, removed, or removed by
    /// another process since it was last seen).
    KeyNotFound {
        /// The key.
        key: String,
    },
    /// The entry holds an array of another element type than the one asked.
    WrongType {
        /// The key.
        key: String,
        /// The stored dtype (`dtype.str` form).
        stored: String,
        /// The Rust element type asked for.
        requested: &'static str,
    },
    /// The entry's value is not an array.
    NotAnArray {
        /// The key.
        key: String,
        /// Why the value did not decode as one.
        source: mmpk_format::Error,
    },
    /// A zero-copy view needs the raw bytes aligned to the element type.
    Misaligned {
        /// The key.
        key: String,
        /// File offset of the raw bytes.
        offset: u64,
        /// Alignment the element type needs.
        align: usize,
    },
    /// A zero-copy view needs the stored byte order to be the machine's.
    ByteOrder {
        /// The key.
        key: String,
        /// The stored dtype.
        dtype: String,
    },
    /// A `bool` view over bytes that are not all 0 or 1.
    InvalidBool {
        /// The key.
        key: String,
        /// File offset of the first byte that is neither.
        offset: u64,
    },
    /// A write on a dict opened read-only, or a mutable view of one.
    ReadOnly {
        /// The operation refused.
        op: &'static str,
    },
    /// A dtype this operation cannot handle.
    UnsupportedDtype {
        /// The dtype as given or stored.
        dtype: String,
    },
    /// A value or feature that is not supported (yet).
    Unsupported {
        /// What.
        what: String,
    },
    /// A shape whose size overflows, or raw bytes whose length does not
    /// match dtype and shape.
    ShapeMismatch {
        /// The key, if any.
        key: Option<String>,
        /// Bytes the dtype and shape need (`None` when that overflows).
        expected: Option<u64>,
        /// Bytes found or given.
        found: u64,
    },
    /// A view of this entry is alive in this process and conflicts (one
    /// mutable view, or any number of shared ones, per entry).
    Busy {
        /// The key.
        key: String,
    },
    /// Vacuum refused: this process still holds views or arrays of the file.
    ViewsAlive {
        /// How many maps are still referenced.
        maps: usize,
    },
    /// An invalid option (alignment, ...).
    BadOption {
        /// What is wrong.
        what: String,
    },
    /// A multi-entry operation ([`crate::Dict::upgrade`]) stopped part-way:
    /// the entries in `done` were changed, each completely; every other
    /// entry is as it was.
    Incomplete {
        /// The operation.
        op: &'static str,
        /// The keys changed before it stopped.
        done: Vec<String>,
        /// What stopped it.
        source: Box<Error>,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, .. } => write!(f, "{op} failed on {}", path.display()),
            Error::NotMmpk {
                path, plain_pickle, ..
            } => {
                write!(f, "{} is not an mmpk file; it was left unchanged", path.display())?;
                if *plain_pickle {
                    write!(
                        f,
                        " (it looks like a plain pickle: OpenOptions::convert converts a pickled dict)"
                    )?;
                }
                Ok(())
            }
            Error::Format { key: Some(k), .. } => write!(f, "entry {k:?} is malformed"),
            Error::Format { key: None, .. } => write!(f, "the file is malformed"),
            Error::Corrupt { offset, .. } => write!(
                f,
                "the entry at byte {offset} is corrupt: writes are refused until repair"
            ),
            Error::Changed { offset, what } => write!(
                f,
                "the file changed behind our back at byte {offset}: {what}"
            ),
            Error::KeyTooLong { len } => {
                write!(f, "key of {len} bytes is longer than the 255 UTF-8 bytes allowed")
            }
            Error::KeyNotFound { key } => write!(f, "no entry {key:?}"),
            Error::WrongType {
                key,
                stored,
                requested,
            } => write!(f, "entry {key:?} holds {stored}, not {requested}"),
            Error::NotAnArray { key, .. } => write!(f, "entry {key:?} is not an array"),
            Error::Misaligned { key, offset, align } => write!(
                f,
                "entry {key:?}: raw bytes at byte {offset} are not aligned to {align} (ask for an owned copy)"
            ),
            Error::ByteOrder { key, dtype } => write!(
                f,
                "entry {key:?}: dtype {dtype} is not in this machine's byte order (ask for an owned copy)"
            ),
            Error::InvalidBool { key, offset } => {
                write!(f, "entry {key:?}: byte {offset} is not a valid bool (0 or 1)")
            }
            Error::ReadOnly { op } => write!(f, "{op}: the dict is open read-only"),
            Error::UnsupportedDtype { dtype } => write!(f, "dtype {dtype:?} is not supported here"),
            Error::Unsupported { what } => write!(f, "not supported: {what}"),
            Error::ShapeMismatch {
                key,
                expected,
                found,
            } => {
                if let Some(k) = key {
                    write!(f, "entry {k:?}: ")?;
                }
                match expected {
                    Some(e) => write!(f, "dtype and shape need {e} bytes, found {found}"),
                    None => write!(f, "the shape's size overflows ({found} bytes found)"),
                }
            }
            Error::Incomplete { op, done, .. } => write!(
                f,
                "{op} stopped after changing {} entr{} ({}); the others are unchanged",
                done.len(),
                if done.len() == 1 { "y" } else { "ies" },
                done.iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::Busy { key } => write!(
                f,
                "entry {key:?} already has a conflicting view in this process"
            ),
            Error::ViewsAlive { maps } => write!(
                f,
                "vacuum refused: {maps} map(s) of the file are still in use in this process"
            ),
            Error::BadOption { what } => write!(f, "bad option: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::NotMmpk { source, .. }
            | Error::Format { source, .. }
            | Error::Corrupt { source, .. }
            | Error::NotAnArray { source, .. } => Some(source),
            Error::Incomplete { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn sources_are_chained() {
        let e = Error::io("open", std::path::Path::new("/x"), io::Error::other("boom"));
        assert_eq!(e.to_string(), "open failed on /x");
        assert_eq!(e.source().unwrap().to_string(), "boom");
        let e = Error::NotMmpk {
            path: "/y".into(),
            plain_pickle: true,
            source: mmpk_format::Error::EmptyValue,
        };
        assert!(e.to_string().contains("convert"));
        assert!(e.source().is_some());
        assert!(Error::KeyTooLong { len: 300 }.source().is_none());
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
