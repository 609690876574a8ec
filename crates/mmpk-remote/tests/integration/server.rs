//! A tiny HTTP/1.1 server on 127.0.0.1 for the tests: GET and HEAD of
//! in-memory files, with `Range` (one range), `If-Match`, ETag and
//! Last-Modified; it can be told to ignore `Range`, answer 404, or cut
//! bodies short; it counts requests and body bytes sent. One request per
//! connection (`Connection: close`).

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

/// The server; stops when dropped.
pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Server {
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
