//! Every failure gives its typed error, never a wrong answer.

use std::net::TcpListener;

use mmpk_format::array::Encoding;
use mmpk_format::scan::Tail;
use mmpk_remote::{Error, Options, RemoteDict};

use crate::files::{sparse_file, Builder};
use crate::quick;
use crate::server::{Mode, Server};

fn file() -> Vec<u8> {
    let mut b = Builder::new(1);
    b.array("a", Encoding::V2, "<u1", &[4], &[1, 2, 3, 4])
        .ops("n", b"K\x05", true);
    b.finish()
}

#[test]
fn unreachable_server() {
    // A port nobody listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/f.mmpk");
    let e = RemoteDict::open(&url, quick()).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
}

#[test]
fn not_found() {
    let s = Server::start();
    let e = RemoteDict::open(&s.url("nothing.mmpk"), quick()).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    s.put("f.mmpk", file());
    let d = RemoteDict::open(&s.url("f.mmpk"), quick().cache_bytes(0)).unwrap();
    s.set_mode(Mode::NotFound);
    assert!(matches!(d.array("a"), Err(Error::NotFound { .. })));
}

#[test]
fn server_without_range_support_is_refused_without_reading_everything() {
    let s = Server::start();
    let (f, _) = sparse_file(&[("a", "<u1", &[64 << 20])]);
    let total = f.len() as u64;
    s.put("f.mmpk", f);
    s.set_mode(Mode::IgnoreRange);
    let e = RemoteDict::open(&s.url("f.mmpk"), quick()).unwrap_err();
    assert!(matches!(e, Error::NoRangeSupport { .. }), "{e:?}");
    // The connection was dropped: most of the 64 MiB was never sent.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, bytes) = s.counters();
    assert!(bytes < total / 2, "{bytes} of {total} bytes sent");
}

#[test]
fn object_changed_between_requests() {
    let s = Server::start();
    let (f, _) = sparse_file(&[("a", "<u1", &[1 << 20])]);
    s.put("f.mmpk", f.clone());
    let d = RemoteDict::open(&s.url("f.mmpk"), quick()).unwrap();
    // Same bytes, new version (ETag, Last-Modified).
    s.put("f.mmpk", f.clone());
    let e = d.array("a").err();
    assert!(matches!(e, Some(Error::Changed { .. })), "{e:?}");
    // Different size.
    let mut g = f;
    g.extend_from_slice(b"xx");
    s.put("f.mmpk", g);
    // Bytes already cached are of the version the index was read from
    // and are still served; any fetch sees the change.
    assert_eq!(d.array_slice("a", 0..10).unwrap().data, [0; 10]);
    let e = d.array_slice("a", 500_000..500_010).err();
    assert!(matches!(e, Some(Error::Changed { .. })), "{e:?}");
}

#[test]
fn body_cut_short_is_truncated() {
    let s = Server::start();
    let (f, _) = sparse_file(&[("a", "<u1", &[1 << 20])]);
    s.put("f.mmpk", f);
    let d = RemoteDict::open(&s.url("f.mmpk"), quick()).unwrap();
    s.set_mode(Mode::CutBody(1000));
    let e = d.array("a").err();
    assert!(matches!(e, Some(Error::Truncated { .. })), "{e:?}");
}

#[test]
fn truncated_objects() {
    let s = Server::start();
    let f = file();
    // Empty, and shorter than a header.
    s.put("empty", Vec::new());
    let e = RemoteDict::open(&s.url("empty"), quick()).unwrap_err();
    assert!(matches!(e, Error::Truncated { got: 0, .. }), "{e:?}");
    s.put("short", f[..10].to_vec());
    let e = RemoteDict::open(&s.url("short"), quick()).unwrap_err();
    assert!(matches!(e, Error::Truncated { got: 10, .. }), "{e:?}");
    // Cut inside the second entry: the first stays readable.
    s.put("torn", f[..f.len() - 15].to_vec());
    let d = RemoteDict::open(&s.url("torn"), quick()).unwrap();
    assert_eq!(d.tail(), &Tail::IncompleteFrame);
    assert_eq!(d.keys(), ["a"]);
    assert_eq!(d.array("a").unwrap().data, [1, 2, 3, 4]);
    // A big array whose data runs past the end of the object.
    let (g, _) = sparse_file(&[("a", "<u1", &[1 << 20]), ("b", "<u1", &[1 << 20])]);
    s.put("torn2", g[..g.len() - 500_000].to_vec());
    let d = RemoteDict::open(&s.url("torn2"), quick()).unwrap();
    assert_eq!(
        (d.keys(), d.tail()),
        (vec!["a".to_string()], &Tail::IncompleteFrame)
    );
}

#[test]
fn not_an_mmpk_file() {
    let s = Server::start();
    s.put("plain.pkl", b"\x80\x04}\x94.".to_vec());
    let e = RemoteDict::open(&s.url("plain.pkl"), quick()).unwrap_err();
    assert!(matches!(e, Error::NotMmpk { .. }), "{e:?}");
    s.put(
        "text",
        b"hello, this is not a pickle at all, just some text".to_vec(),
    );
    assert!(matches!(
        RemoteDict::open(&s.url("text"), quick()),
        Err(Error::NotMmpk { .. })
    ));
}

#[test]
fn corrupt_entries_end_the_index() {
    let s = Server::start();
    let mut f = file();
    let n = f.len();
    f[n - 11 - 2] = 0x77; // the validity byte of "n"
    s.put("f", f);
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    assert!(matches!(d.tail(), Tail::Corrupt(_)));
    assert_eq!(d.keys(), ["a"]);
}

#[test]
fn wrong_keys_kinds_and_slices() {
    let s = Server::start();
    s.put("f", file());
    let d = RemoteDict::open(&s.url("f"), quick()).unwrap();
    assert!(matches!(d.array("zz"), Err(Error::KeyNotFound { .. })));
    assert!(matches!(d.array("n"), Err(Error::WrongKind { .. })));
    assert!(matches!(d.masked("a"), Err(Error::WrongKind { .. })));
    assert!(matches!(
        d.array_slice("a", 2..5),
        Err(Error::BadSlice { .. })
    ));
    #[allow(clippy::reversed_empty_ranges)]
    let r = d.array_slice("a", 3..2);
    assert!(matches!(r, Err(Error::BadSlice { .. })));
    assert!(matches!(
        d.array("a").unwrap().to_vec::<f32>(),
        Err(Error::TypeMismatch { .. })
    ));
}

#[test]
fn bad_urls() {
    for u in [
        "ftp://x/y",
        "http://127.0.0.1:1/",
        "not a url",
        "s3://bucket",
        "http://h/f?x=1",
    ] {
        let e = RemoteDict::open(u, Options::new()).unwrap_err();
        assert!(matches!(e, Error::BadUrl { .. }), "{u}: {e:?}");
    }
}

#[test]
fn async_callers_get_an_error_not_a_panic() {
    let s = Server::start();
    s.put("f", file());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let url = s.url("f");
    let u = url.clone();
    let r = rt.block_on(async move { RemoteDict::open(&u, quick()).map(|_| ()) });
    assert!(matches!(r, Err(Error::InAsyncContext)));
    // Opened outside, used and dropped inside.
    let d = RemoteDict::open(&url, quick().cache_bytes(0)).unwrap();
    let r = rt.block_on(async move { d.array("a").map(|_| ()) });
    assert!(matches!(r, Err(Error::InAsyncContext)));
}

#[test]
fn transient_failures_are_retried_then_reported() {
    let s = Server::start();
    s.put("f", file());
    // Two 503s, then success: within the 3 retries of the defaults.
    s.set_mode(Mode::Unavailable(2));
    let opts = Options::new().retries(
        3,
        std::time::Duration::from_millis(10),
        std::time::Duration::from_secs(5),
    );
    let d = RemoteDict::open(&s.url("f"), opts).unwrap();
    assert_eq!(d.keys(), ["a", "n"]);
    assert_eq!(s.counters().0, 3);
    // More failures than retries: the status is reported.
    s.set_mode(Mode::Unavailable(10));
    let e = RemoteDict::open(&s.url("f"), quick()).unwrap_err();
    assert!(matches!(e, Error::Store { .. }), "{e:?}");
    assert!(e.to_string().contains("503"), "{e}");
}
