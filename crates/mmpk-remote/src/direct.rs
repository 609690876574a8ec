//! The direct reader: ranged GETs of a plain `http://` object over
//! blocking HTTP/1.1 on the calling thread, the response body read from
//! the socket straight into the caller's buffer (one copy: kernel to
//! destination), for [`Transport::read_many_into`]
//! (`RemoteObject::read_pinned_into`) and [`Transport::read_many`] (every
//! read of a known version: `read_pinned`, and a dict's reads through its
//! cache). The first read of `RemoteDict::open` (which learns the
//! version) and HEAD requests go through `object_store`.
//!
//! It is used only when [`direct_target`] accepts the URL: scheme `http`,
//! no user information, a path of unreserved characters, `/` and `%XX`
//! escapes only, no proxy variable set (`HTTP_PROXY`, `http_proxy`,
//! `ALL_PROXY`, `all_proxy`) and `MMPK_REMOTE_DIRECT` not `0`. Every
//! other URL (https, s3) goes through `object_store`.
//!
//! It completes only a plain `206 Partial Content` with a
//! `Content-Length`, no `Transfer-Encoding` or `Content-Encoding`, an IMF
//! `Last-Modified` (or none) and a `Content-Range` with the object's size.
//! It fails on its own, with the error the `object_store` path gives, on a
//! `200` (the server ignores `Range`: [`Error::NoRangeSupport`]), a `412`
//! or a response of another version or range ([`Error::Changed`]), a range
//! that ends early ([`Error::Truncated`]), and on responses no server
//! should send (a head over [`MAX_HEAD`] bytes or of more than 64 headers,
//! a `Content-Length` that disagrees with the `Content-Range`:
//! [`Error::Store`]). Anything else — a connection that cannot be made, a
//! timeout, a body cut short, a redirect, an error status, chunked
//! encoding — sends the same request again through `object_store`, which
//! retries, follows and classifies as configured ([`Fallback`]).
//!
//! Connections are kept alive in a pool of at most [`MAX_IDLE`] per
//! transport; a connection is put back only after a response read to its
//! last byte with nothing after it and no `Connection: close`: one that
//! saw an error, an unread body or an unexpected response is closed. A
//! pooled connection the server closed meanwhile (nothing received) is
//! replaced by a new one once, for the same request.
//!
//! [`Transport::read_many_into`]: crate::transport::Transport::read_many_into
//! [`Transport::read_many`]: crate::transport::Transport::read_many
//! [`Error::NoRangeSupport`]: crate::Error::NoRangeSupport
//! [`Error::Changed`]: crate::Error::Changed
//! [`Error::Truncated`]: crate::Error::Truncated
//! [`Error::Store`]: crate::Error::Store

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::transport::ObjectVersion;

/// The largest response head (status line and headers) read, in bytes.
pub(crate) const MAX_HEAD: usize = 32 << 10;
/// The most headers a response may have.
const MAX_HEADERS: usize = 64;
/// The most idle keep-alive connections kept per transport.
pub(crate) const MAX_IDLE: usize = 16;

/// Why a request is sent again through `object_store`.
#[derive(Debug)]
pub(crate) struct Fallback;

/// Where the direct reader sends its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Host to connect to (a name, an IPv4 address, or an IPv6 one
    /// without brackets).
    host: String,
    port: u16,
    /// The `Host` header's value.
    host_header: String,
    /// The request target (the URL's path).
    path: String,
}

/// The direct reader's target for `url`, if the direct path may be used
/// for it (see the module docs); `env` reads an environment variable.
pub(crate) fn direct_target(
    url: &url::Url,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Target> {
    if url.scheme() != "http"
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    if ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|k| set(k))
        || env("MMPK_REMOTE_DIRECT").is_some_and(|v| v.trim() == "0")
    {
        return None;
    }
    let path = url.path();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => i += 1,
            b'%' if b.len() > i + 2
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                i += 3
            }
            _ => return None,
        }
    }
    if !path.starts_with('/') || path.len() < 2 {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(a) => a.to_string(),
    };
    let port = url.port_or_known_default()?;
    let host_header = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return None,
    };
    Some(Target {
        host,
        port,
        host_header,
        path: path.to_string(),
    })
}

/// The direct reader of one object: its target, timeouts and idle
/// connections.
#[derive(Debug)]
pub(crate) struct Direct {
    target: Target,
    timeout: Duration,
    connect_timeout: Duration,
    idle: Mutex<Vec<TcpStream>>,
    /// GETs sent by this reader.
    pub(crate) requests: AtomicU64,
}

/// What became of one attempt on one connection.
enum Attempt {
    /// The body is in place; the connection may be reused.
    Done { reusable: bool },
    /// Failed with this error (the connection is closed).
    Failed(Error),
    /// Nothing was received on a pooled connection: it was stale.
    Stale,
    /// Send it through `object_store`.
    Fallback,
}

/// A malformed response: [`Error::Store`] with a generic source.
fn malformed(url: &str, what: String) -> Error {
    Error::Store {
        url: url.to_string(),
        source: object_store::Error::Generic {
            store: "HTTP",
            source: what.into(),
        },
    }
}

impl Direct {
    pub(crate) fn new(target: Target, timeout: Duration, connect_timeout: Duration) -> Direct {
        Direct {
            target,
            timeout: timeout.max(Duration::from_millis(1)),
            connect_timeout: connect_timeout.max(Duration::from_millis(1)),
            idle: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in (self.target.host.as_str(), self.target.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn take_idle(&self) -> Option<TcpStream> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_idle(&self, s: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(s);
        }
    }

    /// Reads `dst.len()` bytes from `start` of version `v` into `dst`
    /// with one ranged GET; `bytes` counts the body bytes received.
    /// `Ok(Err(Fallback))`: send it through `object_store`.
    pub(crate) fn read_into(
        &self,
        url: &str,
        start: u64,
        dst: &mut [u8],
        v: &ObjectVersion,
        bytes: &AtomicU64,
    ) -> Result<Result<(), Fallback>> {
        if dst.is_empty() {
            return Ok(Ok(()));
        }
        let end = start.saturating_add(dst.len() as u64);
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nRange: bytes={}-{}\r\nAccept-Encoding: identity\r\n\
             User-Agent: mmpk-remote/{} (direct)\r\n",
            self.target.path,
            self.target.host_header,
            start,
            end - 1,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(e) = &v.etag {
            // Only visible ASCII, spaces and tabs are sent as they are
            // (a pin's ETag may come from anywhere): any other ETag is
            // left to object_store (which refuses what is not a header
            // value).
            if !e.bytes().all(|c| c == b'\t' || (0x20..0x7f).contains(&c)) {
                return Ok(Err(Fallback));
            }
            req.push_str("If-Match: ");
            req.push_str(e);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        let mut sent = false;
        let mut pooled = self.take_idle();
        loop {
            let fresh = pooled.is_none();
            let mut s = match pooled.take() {
                Some(s) => s,
                None => match self.connect() {
                    Ok(s) => s,
                    Err(_) => return Ok(Err(Fallback)),
                },
            };
            match self.attempt(&mut s, url, req.as_bytes(), &mut sent, start, dst, v, bytes) {
                Attempt::Done { reusable } => {
                    if reusable {
                        self.put_idle(s);
                    }
                    return Ok(Ok(()));
                }
                Attempt::Failed(e) => return Err(e),
                Attempt::Stale if !fresh => continue,
                Attempt::Stale | Attempt::Fallback => return Ok(Err(Fallback)),
            }
        }
    }

    /// One request on `s`. Whatever the outcome but a reusable
    /// `Done`, the caller drops `s` (closing it).
    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        s: &mut TcpStream,
        url: &str,
        req: &[u8],
        sent: &mut bool,
        start: u64,
        dst: &mut [u8],
        v: &ObjectVersion,
        bytes: &AtomicU64,
    ) -> Attempt {
        let deadline = Instant::now() + self.timeout;
        match s.write_all(req) {
            Ok(()) => {
                // Counted once, however many connections it took.
                if !std::mem::replace(sent, true) {
                    self.requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) if is_reset(&e) => return Attempt::Stale,
            Err(_) => return Attempt::Fallback,
        }
        // The head, and whatever of the body came with it.
        let mut head = vec![0u8; MAX_HEAD];
        let mut filled = 0usize;
        let head_len = loop {
            if filled == head.len() {
                return Attempt::Failed(malformed(
                    url,
                    format!("the response head is longer than {MAX_HEAD} bytes"),
                ));
            }
            let n = match s.read(&mut head[filled..]) {
                // Closed or reset before any byte: the server dropped an
                // idle connection (a timeout is not that).
                Ok(0) => return stale_if(filled == 0),
                Err(e) if is_reset(&e) => return stale_if(filled == 0),
                Err(_) => return Attempt::Fallback,
                Ok(n) => n,
            };
            let from = filled.saturating_sub(3);
            filled += n;
            if let Some(at) = head[from..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                break from + at + 4;
            }
            if Instant::now() > deadline {
                return Attempt::Fallback;
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head[..head_len]) {
            Ok(httparse::Status::Complete(n)) if n == head_len => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Attempt::Failed(malformed(
                    url,
                    format!("the response has more than {MAX_HEADERS} headers"),
                ))
            }
            _ => return Attempt::Fallback,
        }
        let code = resp.code.unwrap_or(0);
        match code {
            206 => {}
            200 => {
                return Attempt::Failed(Error::NoRangeSupport {
                    url: url.to_string(),
                })
            }
            412 => {
                return Attempt::Failed(Error::Changed {
                    url: url.to_string(),
                    what: "the server refused If-Match (412)".into(),
                })
            }
            _ => return Attempt::Fallback,
        }
        let mut reusable = resp.version == Some(1);
        let (mut length, mut range, mut etag, mut modified) = (None, None, None, None);
        for h in resp.headers.iter() {
            let Ok(value) = std::str::from_utf8(h.value) else {
                return Attempt::Fallback;
            };
            let value = value.trim();
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let Some(n) = parse_u64(value) else {
                    return Attempt::Failed(malformed(
                        url,
                        format!("bad Content-Length {value:?}"),
                    ));
                };
                if length.is_some_and(|l| l != n) {
                    return Attempt::Failed(malformed(url, "two Content-Lengths".into()));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("content-range") {
                if range.replace(value).is_some() {
                    return Attempt::Fallback;
                }
            } else if name.eq_ignore_ascii_case("etag") {
                if etag.replace(value).is_some() {
                    return Attempt::Fallback;
                }
            } else if name.eq_ignore_ascii_case("last-modified") {
                if modified.replace(value).is_some() {
                    return Attempt::Fallback;
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Attempt::Fallback;
            } else if name.eq_ignore_ascii_case("content-encoding") {
                if !value.eq_ignore_ascii_case("identity") {
                    return Attempt::Fallback;
                }
            } else if name.eq_ignore_ascii_case("connection")
                && value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                reusable = false;
            }
        }
        let Some((a, b, size)) = range.and_then(parse_content_range) else {
            return Attempt::Fallback;
        };
        let last_modified_ms = match modified {
            None => 0,
            Some(m) => match parse_http_date(m) {
                Some(ms) => ms,
                None => return Attempt::Fallback,
            },
        };
        let seen = ObjectVersion {
            size,
            etag: etag.map(str::to_string),
            last_modified_ms,
        };
        if let Some(what) = v.diff(&seen) {
            return Attempt::Failed(Error::Changed {
                url: url.to_string(),
                what,
            });
        }
        if a != start {
            return Attempt::Failed(Error::Changed {
                url: url.to_string(),
                what: format!("asked for bytes from {start}, got bytes from {a}"),
            });
        }
        let want = dst.len() as u64;
        let got_len = b - a + 1;
        if got_len > want {
            return Attempt::Failed(Error::Changed {
                url: url.to_string(),
                what: "the response is longer than the range asked for".into(),
            });
        }
        if got_len < want {
            return Attempt::Failed(Error::Truncated {
                url: url.to_string(),
                offset: start,
                needed: want,
                got: got_len,
            });
        }
        match length {
            Some(l) if l == want => {}
            Some(l) => {
                return Attempt::Failed(malformed(
                    url,
                    format!("Content-Length {l} disagrees with Content-Range {a}-{b}"),
                ))
            }
            None => return Attempt::Fallback,
        }
        // The body: what came with the head, then straight from the socket.
        let mut early = filled - head_len;
        if early > dst.len() {
            // Bytes after the body, which nobody asked for: the body is
            // whole, the connection is not reused.
            early = dst.len();
            reusable = false;
        }
        dst[..early].copy_from_slice(&head[head_len..head_len + early]);
        bytes.fetch_add(early as u64, Ordering::Relaxed);
        drop(head);
        let mut at = early;
        while at < dst.len() {
            match s.read(&mut dst[at..]) {
                Ok(0) | Err(_) => return Attempt::Fallback,
                Ok(n) => {
                    at += n;
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            if at < dst.len() && Instant::now() > deadline {
                return Attempt::Fallback;
            }
        }
        Attempt::Done { reusable }
    }
}

/// `Stale` if nothing was received, else `Fallback`.
fn stale_if(nothing: bool) -> Attempt {
    if nothing {
        Attempt::Stale
    } else {
        Attempt::Fallback
    }
}

/// Whether `e` says the peer closed the connection.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Digits only (no sign, no spaces), no overflow.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `bytes a-b/size` with `a <= b < size`: `(a, b, size)`.
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.strip_prefix("bytes ")?;
    let (r, size) = rest.split_once('/')?;
    let (a, b) = r.split_once('-')?;
    let (a, b, size) = (parse_u64(a)?, parse_u64(b)?, parse_u64(size)?);
    (a <= b && b < size).then_some((a, b, size))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) in milliseconds since
/// the Unix epoch; `None` for any other form.
fn parse_http_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let day = num(5..7)?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| s.get(8..11) == Some(*m))? as i64
        + 1;
    let year = num(12..16)?;
    let (h, m, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + m * 60 + sec) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(u: &str, env: &[(&str, &str)]) -> Option<Target> {
        let url = url::Url::parse(u).unwrap();
        direct_target(&url, |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn only_plain_http_without_proxies_is_direct() {
        let t = target("http://127.0.0.1:8080/d/f.mmpk", &[]).unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.host_header.as_str(),
                t.path.as_str()
            ),
            ("127.0.0.1", 8080, "127.0.0.1:8080", "/d/f.mmpk")
        );
        let t = target("http://example.org/f%20g.mmpk", &[]).unwrap();
        assert_eq!((t.port, t.host_header.as_str()), (80, "example.org"));
        let t = target("http://[::1]:81/f", &[]).unwrap();
        assert_eq!(
            (t.host.as_str(), t.host_header.as_str()),
            ("::1", "[::1]:81")
        );
        for u in [
            "https://example.org/f.mmpk",
            "s3://bucket/f.mmpk",
            "http://user:pw@example.org/f.mmpk",
            "http://example.org/f.mmpk?x=1",
            "http://example.org/a+b.mmpk",
            "http://example.org/",
        ] {
            assert_eq!(target(u, &[]), None, "{u}");
        }
        for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
            assert_eq!(target("http://h/f", &[(var, "http://proxy:3128")]), None);
        }
        assert!(target("http://h/f", &[("HTTP_PROXY", "")]).is_some());
        assert!(target("http://h/f", &[("HTTPS_PROXY", "http://p:1")]).is_some());
        assert_eq!(target("http://h/f", &[("MMPK_REMOTE_DIRECT", "0")]), None);
        assert!(target("http://h/f", &[("MMPK_REMOTE_DIRECT", "1")]).is_some());
    }

    use std::net::TcpListener;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A server answering every request of every connection with
    /// `answer` (then closing the connection); counts connections.
    fn canned(answer: Vec<u8>) -> (Target, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let conns = Arc::new(AtomicUsize::new(0));
        let c = conns.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if s.read(&mut b).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(b[0]);
                    }
                    let _ = s.write_all(&answer);
                });
            }
        });
        let t = target(&format!("http://127.0.0.1:{port}/f"), &[]).unwrap();
        (t, conns)
    }

    const VERSION: &str = "ETag: \"e\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

    /// Reads bytes 10..20 of a 100-byte object from a server answering
    /// `head` (a status line and headers, the common ones added) and
    /// `body`.
    fn ask(head: &str, body: &[u8]) -> (Result<Result<(), Fallback>>, Vec<u8>, u64) {
        let version = if head.contains("ETag:") {
            "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        } else {
            VERSION
        };
        let mut answer = format!("{head}{version}\r\n").into_bytes();
        answer.extend_from_slice(body);
        let (t, _) = canned(answer);
        let d = Direct::new(t, Duration::from_secs(5), Duration::from_secs(2));
        let v = ObjectVersion::new(100, Some("\"e\"".into()), 784_111_777_000);
        let mut dst = vec![0u8; 10];
        let bytes = AtomicU64::new(0);
        let r = d.read_into("u", 10, &mut dst, &v, &bytes);
        (r, dst, bytes.into_inner())
    }

    const OK: &str = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/100\r\n";

    #[test]
    fn reads_a_206_into_place() {
        let (r, dst, n) = ask(&format!("{OK}Content-Length: 10\r\n"), b"0123456789");
        assert!(matches!(r, Ok(Ok(()))), "{r:?}");
        assert_eq!((&dst[..], n), (&b"0123456789"[..], 10));
    }

    #[test]
    fn hostile_responses_are_typed_errors_or_fallbacks() {
        let body = [7u8; 10];
        let changed = |r: &Result<Result<(), Fallback>>| matches!(r, Err(Error::Changed { .. }));
        let store = |r: &Result<Result<(), Fallback>>| matches!(r, Err(Error::Store { .. }));
        let fallback = |r: &Result<Result<(), Fallback>>| matches!(r, Ok(Err(Fallback)));
        // 200 and the whole object.
        let (r, ..) = ask("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n", &[1u8; 100]);
        assert!(matches!(r, Err(Error::NoRangeSupport { .. })), "{r:?}");
        // 412, another ETag, another size, another start, a longer range.
        let (r, ..) = ask(
            "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n",
            b"",
        );
        assert!(changed(&r), "{r:?}");
        let (r, ..) = ask(&format!("{OK}Content-Length: 10\r\nETag: \"f\"\r\n"), &body);
        assert!(changed(&r), "{r:?}");
        let (r, ..) = ask(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/101\r\nContent-Length: 10\r\n",
            &body,
        );
        assert!(changed(&r), "{r:?}");
        let (r, ..) = ask(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 11-20/100\r\nContent-Length: 10\r\n",
            &body,
        );
        assert!(changed(&r), "{r:?}");
        let (r, ..) = ask(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-29/100\r\nContent-Length: 20\r\n",
            &[0; 20],
        );
        assert!(changed(&r), "{r:?}");
        // A shorter range: truncated.
        let (r, ..) = ask(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-14/100\r\nContent-Length: 5\r\n",
            &body[..5],
        );
        assert!(
            matches!(
                r,
                Err(Error::Truncated {
                    got: 5,
                    needed: 10,
                    ..
                })
            ),
            "{r:?}"
        );
        // Heads too large, too many headers, lengths that disagree.
        let pad = format!("X-Pad: {}\r\n", "p".repeat(MAX_HEAD));
        let (r, ..) = ask(&format!("{OK}{pad}Content-Length: 10\r\n"), &body);
        assert!(store(&r), "{r:?}");
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let (r, ..) = ask(&format!("{OK}{many}Content-Length: 10\r\n"), &body);
        assert!(store(&r), "{r:?}");
        for cl in [
            "Content-Length: 11\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 10\r\nContent-Length: 9\r\n",
        ] {
            let (r, ..) = ask(&format!("{OK}{cl}"), &body);
            assert!(store(&r), "{cl}: {r:?}");
        }
        // What object_store handles (or classifies) better: chunked
        // bodies, no length, redirects, errors, a body cut short, an
        // unknown size, another date form, garbage.
        for (head, body) in [
            (format!("{OK}Transfer-Encoding: chunked\r\n"), &b"a\r\n0123456789\r\n0\r\n\r\n"[..]),
            (OK.to_string(), &body[..]),
            ("HTTP/1.1 301 Moved\r\nLocation: /g\r\nContent-Length: 0\r\n".into(), b""),
            ("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n".into(), b""),
            ("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n".into(), b""),
            (format!("{OK}Content-Length: 10\r\n"), &body[..4]),
            ("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/*\r\nContent-Length: 10\r\n".into(), &body[..]),
            (format!("{OK}Content-Length: 10\r\nContent-Encoding: gzip\r\n"), &body[..]),
            ("SPDY/9 what\r\n".into(), b""),
        ] {
            let (r, ..) = ask(&head, body);
            assert!(fallback(&r), "{head}: {r:?}");
        }
        let (r, ..) = ask(
            &OK.replace(
                "206 Partial Content",
                "206 Partial Content\r\nLast-Modified: Sunday, 06-Nov-94 08:49:37 GMT",
            ),
            &body,
        );
        assert!(fallback(&r) || changed(&r), "{r:?}");
    }

    #[test]
    fn nothing_listening_falls_back() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = target(&format!("http://127.0.0.1:{port}/f"), &[]).unwrap();
        let d = Direct::new(t, Duration::from_secs(1), Duration::from_secs(1));
        let v = ObjectVersion::new(100, None, 0);
        let r = d.read_into("u", 0, &mut [0u8; 4], &v, &AtomicU64::new(0));
        assert!(matches!(r, Ok(Err(Fallback))), "{r:?}");
        assert_eq!(d.requests.load(Ordering::Relaxed), 0, "nothing was sent");
        // An ETag that is no header value is not sent.
        let v = ObjectVersion::new(100, Some("\"a\r\nX: y\"".into()), 0);
        let r = d.read_into("u", 0, &mut [0u8; 4], &v, &AtomicU64::new(0));
        assert!(matches!(r, Ok(Err(Fallback))), "{r:?}");
    }

    #[test]
    fn headers_parse_strictly() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        for bad in [
            "bytes 0-9/*",
            "bytes 9-0/100",
            "bytes 0-100/100",
            "bytes -1-9/100",
            "bytes 0-9/1e3",
            "items 0-9/100",
            "bytes 0-99999999999999999999/100",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
        assert_eq!(parse_u64("+5"), None);
        assert_eq!(parse_u64(""), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 23:59:59 GMT"),
            Some(951_868_799_000)
        );
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, 6  Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
