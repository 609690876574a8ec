//! `ls`, `info`, `get` and `export` of a file served over HTTP (a small
//! in-test server with `Range`, ETag and Last-Modified on 127.0.0.1): they
//! print what they print for the same file on disk.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use crate::{mmpk, stderr};

/// Serves the files of `dir` on a free port until the test process ends.
fn serve(dir: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let _ = answer(c, &dir);
            });
        }
    });
    port
}

fn answer(conn: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let name = parts
        .next()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = v.trim().strip_prefix("bytes=").map(str::to_string);
            }
        }
    }
    let mut out = conn;
    let Ok(data) = std::fs::read(dir.join(&name)) else {
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    let len = data.len() as u64;
    let common = format!(
        "ETag: \"v1-{len}\"\r\nLast-Modified: Thu, 26 Nov 2026 00:00:00 GMT\r\nAccept-Ranges: bytes\r\nConnection: close\r\n"
    );
    let (status, a, b, extra) = match range.as_deref().and_then(|s| s.split_once('-')) {
        Some((a, b)) => {
            let a: u64 = a.parse().unwrap_or(0);
            let b: u64 = b.parse::<u64>().map_or(len, |b| (b + 1).min(len));
            (
                "206 Partial Content",
                a,
                b,
                format!("Content-Range: bytes {a}-{}/{len}\r\n", b - 1),
            )
        }
        None => ("200 OK", 0, len, String::new()),
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}{common}\r\n",
        b - a
    )?;
    if method != "HEAD" {
        out.write_all(&data[a as usize..b as usize])?;
    }
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

fn ok(args: &[&str]) -> String {
    let o = mmpk(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("utf-8")
}

#[test]
fn remote_files_read_as_local_ones() {
    let dir = std::env::temp_dir().join(format!("mmpk-cli-remote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("r.mmpk");
    let _ = std::fs::remove_file(&f);
    let file = f.to_str().expect("path");
    ok(&["put", file, "zeros", "--zeros", "f4", "30,4"]);
    let json = dir.join("v.json");
    std::fs::write(&json, r#"{"list":[{"int":"1"},{"str":"two"}]}"#).expect("json");
    ok(&["put", file, "meta", "--json", json.to_str().expect("path")]);
    ok(&["put", file, "gone", "--zeros", "u1", "3"]);
    ok(&["rm", file, "gone"]);
    let port = serve(dir.clone());
    let url = format!("http://127.0.0.1:{port}/r.mmpk");
    assert_eq!(ok(&["ls", "--json", &url]), ok(&["ls", "--json", file]));
    // With --all, dead entries are listed but not described (that would
    // fetch their values).
    let all: serde_json::Value =
        serde_json::from_str(&ok(&["ls", "--json", "--all", &url])).expect("json");
    let local: serde_json::Value =
        serde_json::from_str(&ok(&["ls", "--json", "--all", file])).expect("json");
    assert_eq!(all.as_array().map(Vec::len), local.as_array().map(Vec::len));
    assert_eq!(ok(&["ls", &url]), ok(&["ls", file]));
    for key in ["zeros", "meta"] {
        assert_eq!(
            ok(&["get", "--json", &url, key]),
            ok(&["get", "--json", file, key]),
            "{key}"
        );
    }
    let summary = ok(&["get", &url, "zeros"]);
    assert!(
        summary.contains("(30, 4)") && summary.contains("mean"),
        "{summary}"
    );
    let info = ok(&["info", "--json", &url]);
    let v: serde_json::Value = serde_json::from_str(&info).expect("json");
    assert_eq!(v["entries"]["live"], 2);
    let (a, b) = (dir.join("a.npy"), dir.join("b.npy"));
    ok(&["export", &url, "zeros", a.to_str().expect("path")]);
    ok(&["export", file, "zeros", b.to_str().expect("path")]);
    // Same array (the header's padding may differ): import both again.
    let back = dir.join("back.mmpk");
    let back = back.to_str().expect("path");
    ok(&["put", back, "a", "--npy", a.to_str().expect("path")]);
    ok(&["put", back, "b", "--npy", b.to_str().expect("path")]);
    assert_eq!(
        ok(&["get", "--json", back, "a"]),
        ok(&["get", "--json", file, "zeros"])
    );
    assert_eq!(
        ok(&["get", "--json", back, "b"]),
        ok(&["get", "--json", file, "zeros"])
    );
    // Errors: a missing key, a missing file, a server that is not there.
    let o = mmpk(&["get", &url, "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
    let o = mmpk(&["ls", &format!("http://127.0.0.1:{port}/missing.mmpk")]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
