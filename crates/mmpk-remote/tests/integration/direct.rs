//! The direct HTTP/1.1 reader of plain `http://` objects
//! (`RemoteObject::read_pinned_into`): against a scripted keep-alive
//! server that misbehaves on demand, its reads land in place, its
//! connections are reused only when clean, and every hostile answer is a
//! typed error (or the same request through object_store).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use mmpk_format::array::Encoding;
use mmpk_remote::{EntryPin, Error, RemoteDict, RemoteObject};

use crate::files::Builder;
use crate::quick;

const ETAG: &str = "\"e1\"";
const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
/// What the direct reader's User-Agent ends with.
const DIRECT_UA: &str = "(direct)";

/// How the server answers GETs.
#[derive(Clone, Debug, PartialEq)]
enum Behaviour {
    /// 206, keep-alive.
    Normal,
    /// 200 and the whole object.
    Whole,
    /// 206 with `Transfer-Encoding: chunked` (correctly chunked).
    Chunked,
    /// 206 whose body is cut after this many bytes (then the connection
    /// is closed).
    Cut(usize),
    /// 206 with a header of 100 KiB.
    HugeHead,
    /// 206 whose Content-Range starts one byte late.
    WrongStart,
    /// 206 of another version (If-Match ignored).
    OtherEtag,
    /// 412 Precondition Failed.
    Refuse,
    /// 206 whose Content-Length is 10 more than its Content-Range.
    LongLength,
}

/// One request the server saw.
#[derive(Clone, Debug)]
struct Hit {
    /// Which connection (in the order they were accepted).
    conn: usize,
    /// Sent by the direct reader.
    direct: bool,
    method: String,
}

struct State {
    data: Arc<Vec<u8>>,
    behaviour: Behaviour,
    hits: Vec<Hit>,
    conns: usize,
}

/// A keep-alive HTTP/1.1 server of one object on 127.0.0.1.
struct Scripted {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Scripted {
    fn start(data: Vec<u8>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            data: Arc::new(data),
            behaviour: Behaviour::Normal,
            hits: Vec::new(),
            conns: 0,
        }));
        let st = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let id = {
                    let mut s = st.lock().unwrap();
                    s.conns += 1;
                    s.conns
                };
                let st = st.clone();
                thread::spawn(move || {
                    let _ = serve(conn, id, &st);
                });
            }
        });
        Scripted { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/f.mmpk", self.port)
    }

    fn set(&self, b: Behaviour) {
        self.state.lock().unwrap().behaviour = b;
    }

    /// The requests the direct reader sent: their connections.
    fn direct_conns(&self) -> Vec<usize> {
        let s = self.state.lock().unwrap();
        s.hits.iter().filter(|h| h.direct).map(|h| h.conn).collect()
    }

    /// Forgets the requests seen so far.
    fn clear(&self) {
        self.state.lock().unwrap().hits.clear();
    }

    /// GETs not sent by the direct reader (object_store's).
    fn other_gets(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.hits
            .iter()
            .filter(|h| !h.direct && h.method == "GET")
            .count()
    }
}

fn serve(conn: TcpStream, id: usize, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let (mut range, mut ua) = (None, String::new());
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("range") {
                    let spec = v.strip_prefix("bytes=").unwrap_or("");
                    let (a, b) = spec.split_once('-').unwrap_or(("", ""));
                    range = Some((a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()));
                } else if k.eq_ignore_ascii_case("user-agent") {
                    ua = v.to_string();
                }
            }
        }
        let direct = ua.ends_with(DIRECT_UA);
        let (data, behaviour) = {
            let mut s = state.lock().unwrap();
            s.hits.push(Hit {
                conn: id,
                direct,
                method: method.clone(),
            });
            (s.data.clone(), s.behaviour.clone())
        };
        let len = data.len() as u64;
        let common = format!("ETag: {ETAG}\r\nLast-Modified: {MODIFIED}\r\n");
        if method == "HEAD" {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n{common}\r\n"
            )?;
            continue;
        }
        let (a, b) = range.unwrap_or((0, len - 1));
        let b = b.min(len - 1);
        let body = &data[a as usize..=b as usize];
        let cr = |s: u64| format!("Content-Range: bytes {s}-{b}/{len}\r\n");
        let n = body.len();
        match behaviour {
            Behaviour::Normal => {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {n}\r\n{}{common}\r\n",
                    cr(a)
                )?;
                out.write_all(body)?;
            }
            Behaviour::Whole => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n{common}\r\n"
                )?;
                out.write_all(&data)?;
            }
            Behaviour::Chunked => {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\n{}{common}\r\n",
                    cr(a)
                )?;
                for c in body.chunks(1000) {
                    write!(out, "{:x}\r\n", c.len())?;
                    out.write_all(c)?;
                    out.write_all(b"\r\n")?;
                }
                out.write_all(b"0\r\n\r\n")?;
            }
            Behaviour::Cut(k) => {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {n}\r\n{}{common}\r\n",
                    cr(a)
                )?;
                out.write_all(&body[..k.min(n)])?;
                return Ok(());
            }
            Behaviour::HugeHead => {
                let pad = "x".repeat(100 << 10);
                write!(out, "HTTP/1.1 206 Partial Content\r\nX-Pad: {pad}\r\nContent-Length: {n}\r\n{}{common}\r\n", cr(a))?;
                out.write_all(body)?;
            }
            Behaviour::WrongStart => {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\n{}{common}\r\n",
                    n - 1,
                    cr(a + 1)
                )?;
                out.write_all(&body[1..])?;
            }
            Behaviour::OtherEtag => {
                write!(out, "HTTP/1.1 206 Partial Content\r\nContent-Length: {n}\r\n{}ETag: \"e2\"\r\nLast-Modified: {MODIFIED}\r\n\r\n", cr(a))?;
                out.write_all(body)?;
            }
            Behaviour::Refuse => {
                write!(
                    out,
                    "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n{common}\r\n"
                )?;
            }
            Behaviour::LongLength => {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\n{}{common}\r\n",
                    n + 10,
                    cr(a)
                )?;
                out.write_all(body)?;
                out.write_all(&[0; 10])?;
            }
        }
        out.flush()?;
    }
}

fn rows() -> Vec<u8> {
    (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

/// A server of a file with one 800 KB array; its pin and data offset.
fn setup() -> (Scripted, EntryPin, u64) {
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u4", &[2000, 100], &rows());
    let s = Scripted::start(b.finish());
    let d = RemoteDict::open(&s.url(), quick()).unwrap();
    let (pin, at) = (d.pin("a").unwrap(), d.array_info("a").unwrap().data_offset);
    s.clear();
    (s, pin, at)
}

/// Rows `r` of the array read into a buffer of their own.
fn read(
    o: &RemoteObject,
    pin: &EntryPin,
    at: u64,
    r: std::ops::Range<usize>,
) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0xeeu8; (r.end - r.start) * 400];
    o.read_pinned_into(pin, &mut [(at + r.start as u64 * 400, &mut buf[..])])?;
    Ok(buf)
}

#[test]
fn plain_http_reads_are_direct_and_reuse_one_connection() {
    let (s, pin, at) = setup();
    let raw = rows();
    let o = RemoteObject::open(&s.url(), quick()).unwrap();
    let before = s.other_gets();
    assert_eq!(read(&o, &pin, at, 0..2000).unwrap(), raw);
    assert_eq!(read(&o, &pin, at, 10..20).unwrap(), &raw[4000..8000]);
    let conns = s.direct_conns();
    assert_eq!(conns.len(), 2, "two direct GETs");
    assert_eq!(
        conns[0], conns[1],
        "the second on the kept-alive connection"
    );
    assert_eq!(s.other_gets(), before, "nothing through object_store");
    let st = o.stats();
    assert_eq!((st.requests, st.direct), (2, 2));
    assert_eq!(st.bytes, 800_000 + 4000);
    // Several destinations: parallel direct GETs, each in place.
    let mut parts = vec![0u8; 800_000];
    {
        let mut reads: Vec<(u64, &mut [u8])> = parts
            .chunks_mut(100_000)
            .enumerate()
            .map(|(i, p)| (at + i as u64 * 100_000, p))
            .collect();
        o.read_pinned_into(&pin, &mut reads).unwrap();
    }
    assert_eq!(parts, raw);
    assert_eq!(s.direct_conns().len(), 10);
    assert_eq!(s.other_gets(), before);
    // A dict's reads through its cache are direct too (but its first,
    // which learns the version).
    s.clear();
    let d = RemoteDict::open(&s.url(), quick()).unwrap();
    let first = s.other_gets();
    assert!(first <= 1, "{first}");
    assert_eq!(d.array("a").unwrap().data, raw);
    assert_eq!(s.other_gets(), first, "nothing more through object_store");
    assert!(d.stats().direct >= 1);
}

#[test]
fn hostile_answers_are_typed_errors() {
    let (s, pin, at) = setup();
    let o = RemoteObject::open(&s.url(), quick()).unwrap();
    s.set(Behaviour::Whole);
    let e = read(&o, &pin, at, 0..10).unwrap_err();
    assert!(matches!(e, Error::NoRangeSupport { .. }), "{e:?}");
    s.set(Behaviour::HugeHead);
    let e = read(&o, &pin, at, 0..10).unwrap_err();
    assert!(matches!(e, Error::Store { .. }), "{e:?}");
    assert!(e.to_string().contains("response head is longer"), "{e}");
    // The direct GET says Changed; the re-validation that follows goes
    // through object_store, which calls the range unexpected.
    s.set(Behaviour::WrongStart);
    let e = read(&o, &pin, at, 0..10).unwrap_err();
    assert!(
        matches!(e, Error::Changed { .. } | Error::Store { .. }),
        "{e:?}"
    );
    s.set(Behaviour::OtherEtag);
    let e = read(&o, &pin, at, 0..10).unwrap_err();
    assert!(matches!(e, Error::Changed { .. }), "{e:?}");
    s.set(Behaviour::Refuse);
    let e = read(&o, &pin, at, 0..10).unwrap_err();
    assert!(matches!(e, Error::Changed { .. }), "{e:?}");
    s.set(Behaviour::LongLength);
    let e = read(&o, &pin, at, 0..10).unwrap_err();
    assert!(matches!(e, Error::Store { .. }), "{e:?}");
    assert!(e.to_string().contains("disagrees"), "{e}");
    // A body cut short, every time: the direct GET, then object_store's
    // (with its retries), then a typed error.
    s.set(Behaviour::Cut(1000));
    let before = s.other_gets();
    let e = read(&o, &pin, at, 0..100).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    assert!(s.other_gets() > before, "sent again through object_store");
    // None of these connections was reused: each direct GET on its own.
    let conns = s.direct_conns();
    let mut unique = conns.clone();
    unique.dedup();
    assert_eq!(unique.len(), conns.len(), "{conns:?}");
    // And the server is fine again: read, then reuse.
    s.set(Behaviour::Normal);
    assert_eq!(read(&o, &pin, at, 5..6).unwrap(), &rows()[2000..2400]);
    assert_eq!(read(&o, &pin, at, 6..7).unwrap(), &rows()[2400..2800]);
    let conns = s.direct_conns();
    assert_eq!(conns[conns.len() - 1], conns[conns.len() - 2]);
    assert!(!conns[..conns.len() - 2].contains(&conns[conns.len() - 1]));
}

#[test]
fn an_errored_connection_is_not_reused() {
    let (s, pin, at) = setup();
    let o = RemoteObject::open(&s.url(), quick()).unwrap();
    read(&o, &pin, at, 0..1).unwrap();
    // The kept-alive connection gets a response of another version.
    s.set(Behaviour::OtherEtag);
    read(&o, &pin, at, 0..1).unwrap_err();
    s.set(Behaviour::Normal);
    read(&o, &pin, at, 0..1).unwrap();
    let c = s.direct_conns();
    assert_eq!(c[0], c[1], "the clean connection was reused");
    assert_ne!(c[c.len() - 1], c[1], "the one that saw the error was not");
}

#[test]
fn chunked_bodies_are_left_to_object_store_which_refuses_them() {
    let (s, pin, at) = setup();
    let o = RemoteObject::open(&s.url(), quick()).unwrap();
    s.set(Behaviour::Chunked);
    let before = s.other_gets();
    // object_store wants a Content-Length in a ranged response.
    let e = read(&o, &pin, at, 3..50).unwrap_err();
    assert!(matches!(e, Error::Store { .. }), "{e:?}");
    assert!(e.to_string().contains("Content"), "{e}");
    assert_eq!(s.direct_conns().len(), 1);
    assert!(s.other_gets() > before, "the same GET through object_store");
    // That connection is not reused.
    s.set(Behaviour::Normal);
    read(&o, &pin, at, 3..50).unwrap();
    let c = s.direct_conns();
    assert_ne!(c[0], c[1]);
}

#[test]
fn a_server_that_closed_the_idle_connection_costs_nothing() {
    // A server that answers one request per connection, then closes it
    // without saying so: the pooled connection is stale at the next read.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u4", &[2000, 100], &rows());
    let file = Arc::new(b.finish());
    let f = file.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let f = f.clone();
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let len = f.len();
                let (a, b) = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("range")
                            .then(|| v.trim().strip_prefix("bytes="))?
                    })
                    .and_then(|r| r.split_once('-'))
                    .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
                    .unwrap_or((0, len - 1));
                let b = b.min(len - 1);
                let method_head = head.starts_with("HEAD");
                let status = if method_head {
                    "200 OK"
                } else {
                    "206 Partial Content"
                };
                let n = if method_head { len } else { b - a + 1 };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: {n}\r\nContent-Range: bytes {a}-{b}/{len}\r\nETag: {ETAG}\r\n\r\n"
                );
                if !method_head {
                    let _ = conn.write_all(&f[a..=b]);
                }
                // Closed when dropped: no `Connection: close` said.
            });
        }
    });
    let url = format!("http://127.0.0.1:{port}/f.mmpk");
    let d = RemoteDict::open(&url, quick()).unwrap();
    let (pin, at) = (d.pin("a").unwrap(), d.array_info("a").unwrap().data_offset);
    let o = RemoteObject::open(&url, quick()).unwrap();
    for i in 0..3 {
        assert_eq!(
            read(&o, &pin, at, i..i + 1).unwrap(),
            &rows()[i * 400..(i + 1) * 400]
        );
        // Let the server's close arrive.
        thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = o.stats();
    assert_eq!(
        (st.requests, st.direct),
        (3, 3),
        "no fallback, no extra count"
    );
}
