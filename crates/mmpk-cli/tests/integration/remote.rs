//! `ls`, `info`, `get` and `export` of a file served over HTTP (a small
//! in-test server with `Range`, ETag and Last-Modified on 127.0.0.1): they
//! print what they print for the same file on disk.

use mmpk_test_support::http::Server;

use crate::{mmpk, stderr};

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
    // The server holds the file's bytes as they are now, until it is dropped
    // at the end of the test.
    let server = Server::start();
    server.put("r.mmpk", std::fs::read(&f).expect("read"));
    let port = server.port;
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

#[test]
fn a_remote_export_streams_in_pieces_to_a_file_or_a_pipe() {
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().join("big.mmpk");
    let file = f.to_str().expect("path");
    // 96 MiB of u4 in 6144 rows of 4096: five pieces of at most 20 MiB.
    let (rows, cols) = (6144usize, 4096usize);
    let data: Vec<u8> = (0..rows * cols)
        .flat_map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    let npy = dir.path().join("in.npy");
    std::fs::write(&npy, crate::npy::npy_bytes("'<u4'", &[rows, cols], &data)).expect("npy");
    ok(&["put", file, "big", "--npy", npy.to_str().expect("path")]);
    let server = Server::start();
    server.put("big.mmpk", std::fs::read(&f).expect("read"));
    let url = format!("http://127.0.0.1:{}/big.mmpk", server.port);
    let local = dir.path().join("local.npy");
    let remote = dir.path().join("remote.npy");
    ok(&["export", file, "big", local.to_str().expect("path")]);
    let peak = crate::npy::peak_kb(&["export", &url, "big", remote.to_str().expect("path")]);
    assert!(
        peak < 64 << 10,
        "remote export of 96 MiB: {peak} kB resident"
    );
    let want = std::fs::read(&npy).expect("read");
    assert!(std::fs::read(&local).expect("read") == want);
    assert!(std::fs::read(&remote).expect("read") == want);
    let o = mmpk(&["export", &url, "big", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == want);
}
