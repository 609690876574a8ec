//! The crate's one error type: every way a remote read can fail, typed, so
//! that a caller can tell "try again later" from "this is not an mmpk file"
//! from "the object changed under me".

use std::fmt;

/// Everything that can go wrong reading an mmpk file remotely.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http://`, `https://` or `s3://bucket/key`, or an
    /// option is invalid.
    BadUrl {
        /// The URL (or option) given.
        url: String,
        /// What is wrong with it.
        what: String,
    },
    /// The server could not be reached (connection refused, DNS failure,
    /// timeout), after the configured retries.
    Unreachable {
        /// The URL.
        url: String,
        /// The transport's error.
        source: object_store::Error,
    },
    /// The server says the object does not exist (404).
    NotFound {
        /// The URL.
        url: String,
    },
    /// The server refused the credentials (401, 403).
    PermissionDenied {
        /// The URL.
        url: String,
        /// The transport's error.
        source: object_store::Error,
    },
    /// The server answered a ranged GET with the whole object (200 instead
    /// of 206): it does not support `Range`. The response is dropped
    /// unread (the connection is closed), and nothing is returned.
    NoRangeSupport {
        /// The URL.
        url: String,
    },
    /// The object is not the one the index was read from: its ETag,
    /// Last-Modified or size differs (or the server answered 412 to
    /// `If-Match`). Nothing read across the change is returned; call
    /// [`crate::RemoteDict::refresh`] and try again.
    Changed {
        /// The URL.
        url: String,
        /// What differs.
        what: String,
    },
    /// The object ends before bytes that its index (or the response's own
    /// length) says are there: a torn upload, a truncated object, or a
    /// response body cut short.
    Truncated {
        /// The URL.
        url: String,
        /// Offset of the first byte needed.
        offset: u64,
        /// How many bytes were needed from `offset`.
        needed: u64,
        /// How many of them arrived.
        got: u64,
    },
    /// The object's first bytes are not an mmpk header (it may be a plain
    /// pickle, or not a pickle at all).
    NotMmpk {
        /// The URL.
        url: String,
        /// What the format check said.
        source: mmpk_format::Error,
    },
    /// No live entry has this key.
    KeyNotFound {
        /// The key.
        key: String,
    },
    /// The entry is not what was asked for (an array asked of a generic
    /// value, or a masked array asked for as a plain array, ...).
    WrongKind {
        /// The key.
        key: String,
        /// What was asked for.
        expected: &'static str,
    },
    /// A row range outside the array's first axis, or a slice of a 0-d array.
    BadSlice {
        /// The key.
        key: String,
        /// The rows asked for.
        rows: std::ops::Range<u64>,
        /// Length of the first axis (0 for a 0-d array).
        len: u64,
    },
    /// An array's elements are not of the Rust type asked for.
    TypeMismatch {
        /// The array's dtype (`dtype.str`).
        dtype: String,
        /// The Rust type asked for.
        wanted: &'static str,
    },
    /// An entry's bytes do not follow the format (docs/format.md). Offsets
    /// inside count from the start of the object for the index, and from
    /// the start of the entry's value (at `value_offset`) for values.
    Format {
        /// The key (empty for the index).
        key: String,
        /// Where the entry's value starts in the object (0 for the index).
        value_offset: u64,
        /// The format error.
        source: mmpk_format::Error,
    },
    /// A value is larger than this machine can hold in memory.
    TooLarge {
        /// The key.
        key: String,
        /// Its size in bytes.
        len: u64,
    },
    /// The blocking API was called from inside an async runtime (which
    /// cannot be blocked); call it from `tokio::task::spawn_blocking`.
    InAsyncContext,
    /// A handle opened before `fork()` was used in the child: the I/O
    /// runtime's threads are the parent's. Open the URL again in the child.
    Forked {
        /// The URL.
        url: String,
    },
    /// Any other error of the transport (`object_store`): a status the
    /// server answered after the retries, a protocol error, ...
    Store {
        /// The URL.
        url: String,
        /// The transport's error.
        source: object_store::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadUrl { url, what } => write!(f, "bad URL {url:?}: {what}"),
            Error::Unreachable { url, source } => {
                write!(f, "{url}: server unreachable: {source}")
            }
            Error::NotFound { url } => write!(f, "{url}: not found (404)"),
            Error::PermissionDenied { url, source } => {
                write!(f, "{url}: permission denied: {source}")
            }
            Error::NoRangeSupport { url } => write!(
                f,
                "{url}: the server ignores Range requests (answered 200 with the whole object)"
            ),
            Error::Changed { url, what } => write!(
                f,
                "{url}: the object changed while it was being read ({what}); refresh and retry"
            ),
            Error::Truncated {
                url,
                offset,
                needed,
                got,
            } => write!(
                f,
                "{url}: truncated: {needed} bytes needed at byte {offset}, {got} available"
            ),
            Error::NotMmpk { url, source } => write!(f, "{url}: not an mmpk file: {source}"),
            Error::KeyNotFound { key } => write!(f, "no live entry with key {key:?}"),
            Error::WrongKind { key, expected } => {
                write!(f, "entry {key:?} is not {expected}")
            }
            Error::BadSlice { key, rows, len } => write!(
                f,
                "rows {}..{} of {key:?} are outside its first axis of {len}",
                rows.start, rows.end
            ),
            Error::TypeMismatch { dtype, wanted } => {
                write!(f, "array of dtype {dtype} cannot be read as {wanted}")
            }
            Error::Format {
                key,
                value_offset,
                source,
            } => {
                if key.is_empty() {
                    write!(f, "bad index: {source}")
                } else {
                    write!(
                        f,
                        "entry {key:?} (value at byte {value_offset}; inner offsets count from there): {source}"
                    )
                }
            }
            Error::TooLarge { key, len } => {
                write!(
                    f,
                    "entry {key:?} is {len} bytes, too large for this machine"
                )
            }
            Error::InAsyncContext => write!(
                f,
                "mmpk-remote's blocking API was called inside an async runtime; use spawn_blocking"
            ),
            Error::Forked { url } => write!(
                f,
                "{url}: this handle was opened before fork(); open the URL again in the child"
            ),
            Error::Store { url, source } => write!(f, "{url}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreachable { source, .. }
            | Error::PermissionDenied { source, .. }
            | Error::Store { source, .. } => Some(source),
            Error::NotMmpk { source, .. } | Error::Format { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Classifies a transport error for `url`.
pub(crate) fn from_store(url: &str, e: object_store::Error) -> Error {
    let url = url.to_string();
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound { url },
        object_store::Error::Precondition { .. } => Error::Changed {
            url,
            what: "the server refused If-Match (412)".into(),
        },
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => Error::PermissionDenied { url, source: e },
        object_store::Error::NotSupported { .. } => Error::NoRangeSupport { url },
        e if is_non_partial(&e) => Error::NoRangeSupport { url },
        e if is_connect(&e) => Error::Unreachable { url, source: e },
        e => Error::Store { url, source: e },
    }
}

/// Walks the source chain of `e`.
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// Whether the error says the server could not be reached.
fn is_connect(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    chain(e).any(|e| {
        e.downcast_ref::<HttpError>()
            .is_some_and(|h| matches!(h.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout))
            || e.downcast_ref::<reqwest::Error>()
                .is_some_and(|r| r.is_connect() || r.is_timeout())
    })
}

/// Whether the error is object_store's "non-partial response when range
/// requested" (a 200 to a ranged GET, from the S3 client).
fn is_non_partial(e: &object_store::Error) -> bool {
    chain(e).any(|e| e.to_string().contains("non-partial response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_informative() {
        let e = Error::Truncated {
            url: "http://x/f".into(),
            offset: 10,
            needed: 5,
            got: 2,
        };
        assert!(e.to_string().contains("5 bytes needed at byte 10"));
        let e = Error::NotFound { url: "u".into() };
        assert!(e.to_string().contains("404"));
    }
}
