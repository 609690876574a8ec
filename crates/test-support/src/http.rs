//! A tiny HTTP/1.1 server on 127.0.0.1 for the tests: GET and HEAD of
//! in-memory files, with `Range` (one range), `If-Match`, ETag and
//! Last-Modified; it can be told to ignore `Range`, answer 404, or cut
//! bodies short; it counts requests and body bytes sent. One request per
//! connection (`Connection: close`). Std only.
//!
//! ```
//! let server = mmpk_test_support::http::Server::start();
//! server.put("data.bin", vec![1, 2, 3]);
//! assert!(server.url("data.bin").ends_with("/data.bin"));
//! assert_eq!(server.counters(), (0, 0));
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// How the server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Serves as a good server does.
    Normal,
    /// Answers every GET with 200 and the whole body.
    IgnoreRange,
    /// Answers 404 to everything.
    NotFound,
    /// Sends the headers of the full answer but only this many body bytes,
    /// then closes the connection.
    CutBody(usize),
    /// Answers 503 to this many requests, then serves normally.
    Unavailable(u32),
}

#[derive(Debug)]
struct File {
    data: Arc<Vec<u8>>,
    version: u64,
}

#[derive(Debug)]
struct State {
    files: HashMap<String, File>,
    mode: Mode,
    requests: u64,
    bytes: u64,
    next_version: u64,
}

/// The server; stops when dropped (a connection being served finishes).
pub struct Server {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Starts a server on a free port of 127.0.0.1, with no files and in
    /// [`Mode::Normal`].
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            files: HashMap::new(),
            mode: Mode::Normal,
            requests: 0,
            bytes: 0,
            next_version: 1,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        Server { port, state, stop }
    }

    /// The URL of `/name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// Serves `data` at `/name` (a new version: new ETag and Last-Modified).
    pub fn put(&self, name: &str, data: Vec<u8>) {
        let mut s = self.state.lock().unwrap();
        let version = s.next_version;
        s.next_version += 1;
        s.files.insert(
            name.to_string(),
            File {
                data: Arc::new(data),
                version,
            },
        );
    }

    /// Changes how the server answers from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// (requests, body bytes sent) so far.
    pub fn counters(&self) -> (u64, u64) {
        let s = self.state.lock().unwrap();
        (s.requests, s.bytes)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn http_date(version: u64) -> String {
    // A fixed day; the version moves the seconds (and minutes).
    let secs = version % 3600;
    format!("Tue, 15 Nov 1994 08:{:02}:{:02} GMT", secs / 60, secs % 60)
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against `len`: the range,
/// or `Err(())` when unsatisfiable; `None` when absent or not understood.
fn parse_range(h: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (len.saturating_sub(n), len)
    } else {
        let a: u64 = a.parse().ok()?;
        let b = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(len)
        };
        (a, b)
    };
    Some(if r.0 >= len || r.0 >= r.1 {
        Err(())
    } else {
        Ok(r)
    })
}

fn handle(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts
        .next()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut out = conn;
    let (mode, file) = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        let f = s.files.get(&path).map(|f| (f.data.clone(), f.version));
        let mode = s.mode;
        if let Mode::Unavailable(n) = mode {
            s.mode = if n > 1 {
                Mode::Unavailable(n - 1)
            } else {
                Mode::Normal
            };
        }
        (mode, f)
    };
    if let Mode::Unavailable(_) = mode {
        write!(
            out,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let Some((data, version)) = file.filter(|_| mode != Mode::NotFound) else {
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    let len = data.len() as u64;
    let etag = format!("\"v{version}-{len}\"");
    let common = format!(
        "ETag: {etag}\r\nLast-Modified: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        http_date(version)
    );
    if let Some(m) = headers.get("if-match") {
        if m != "*" && !m.split(',').any(|t| t.trim() == etag) {
            write!(
                out,
                "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n{common}\r\n"
            )?;
            return Ok(());
        }
    }
    let range = match headers.get("range") {
        Some(h) if mode != Mode::IgnoreRange => parse_range(h, len),
        _ => None,
    };
    let (status, start, end, extra) = match range {
        Some(Ok((a, b))) => (
            "206 Partial Content",
            a,
            b,
            format!("Content-Range: bytes {a}-{}/{len}\r\n", b - 1),
        ),
        Some(Err(())) => {
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n{common}\r\n"
            )?;
            return Ok(());
        }
        None => ("200 OK", 0, len, String::new()),
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n{extra}{common}\r\n",
        end - start
    )?;
    if method == "HEAD" {
        return Ok(());
    }
    let body = &data[start as usize..end as usize];
    let body = match mode {
        Mode::CutBody(n) => &body[..n.min(body.len())],
        _ => body,
    };
    // Write in chunks so a client that hangs up stops the transfer.
    let mut sent = 0u64;
    let mut result = Ok(());
    for chunk in body.chunks(64 << 10) {
        if let Err(e) = out.write_all(chunk) {
            result = Err(e);
            break;
        }
        sent += chunk.len() as u64;
    }
    state.lock().unwrap().bytes += sent;
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Both);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const GET: &str = "GET /f HTTP/1.1\r\n\r\n";

    /// Sends `request`; returns the status code, the head and the body.
    fn ask(s: &Server, request: &str) -> (u16, String, Vec<u8>) {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        c.read_to_end(&mut answer).unwrap();
        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(answer[..at].to_vec()).unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head, answer[at + 4..].to_vec())
    }

    /// The body of a GET of `/f` with this `Range` header.
    fn range(s: &Server, range: &str) -> Vec<u8> {
        ask(s, &format!("GET /f HTTP/1.1\r\nRange: {range}\r\n\r\n")).2
    }

    #[test]
    fn answers_a_range_with_206_and_those_bytes() {
        let s = Server::start();
        s.put("f", (0u8..100).collect());
        let (status, head, body) = ask(&s, "GET /f HTTP/1.1\r\nRange: bytes=10-19\r\n\r\n");
        assert_eq!(status, 206, "{head}");
        assert!(
            head.contains("\r\nContent-Range: bytes 10-19/100\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nContent-Length: 10\r\n"), "{head}");
        assert_eq!(body, (10u8..20).collect::<Vec<_>>());
        // Suffix ranges, open ranges, unsatisfiable ones.
        assert_eq!(range(&s, "bytes=-3"), [97, 98, 99]);
        assert_eq!(range(&s, "bytes=98-"), [98, 99]);
        let (status, head, _) = ask(&s, "GET /f HTTP/1.1\r\nRange: bytes=100-\r\n\r\n");
        assert_eq!(status, 416, "{head}");
        assert_eq!(s.counters(), (4, 15));
    }

    #[test]
    fn whole_files_heads_and_error_modes() {
        let s = Server::start();
        s.put("f", b"hello".to_vec());
        let (status, head, body) = ask(&s, GET);
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("\r\nETag: \"v1-5\"\r\n"), "{head}");
        assert_eq!(body, b"hello");
        let (_, head, body) = ask(&s, "HEAD /f HTTP/1.1\r\n\r\n");
        assert!(head.contains("\r\nContent-Length: 5\r\n"), "{head}");
        assert!(body.is_empty());
        assert_eq!(ask(&s, "GET /g HTTP/1.1\r\n\r\n").0, 404);
        assert_eq!(
            ask(&s, "GET /f HTTP/1.1\r\nIf-Match: \"v0-5\"\r\n\r\n").0,
            412
        );
        s.set_mode(Mode::IgnoreRange);
        assert_eq!(range(&s, "bytes=1-2"), b"hello");
        s.set_mode(Mode::CutBody(2));
        assert_eq!(ask(&s, GET).2, b"he");
        s.set_mode(Mode::Unavailable(1));
        assert_eq!(ask(&s, GET).0, 503);
        assert_eq!(ask(&s, GET).0, 200);
        s.set_mode(Mode::NotFound);
        assert_eq!(ask(&s, GET).0, 404);
        // A new version: a new ETag.
        s.set_mode(Mode::Normal);
        s.put("f", b"hello".to_vec());
        let (_, head, _) = ask(&s, GET);
        assert!(head.contains("\r\nETag: \"v2-5\"\r\n"), "{head}");
    }
}
