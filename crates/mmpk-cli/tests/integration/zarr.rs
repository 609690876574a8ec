//! `mmpk zarr-refs`: the same JSON from a local file and from its URL
//! (served by the in-test HTTP server), v1 files and masked arrays
//! included; entries left out are named on stderr; bad input exits 2,
//! I/O failures 3.

#[cfg(feature = "remote")]
use mmpk_test_support::http::Server;

use crate::{mmpk, stderr};

/// A fixture written by mmappickle 1.0 (`fixtures/mmappickle`), given its
/// folder (from `fixtures_or_skip!`, which skips the test without it).
fn mmappickle(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

fn refs(args: &[&str]) -> (String, String) {
    let o = mmpk(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let err = stderr(&o);
    (String::from_utf8(o.stdout).expect("utf-8"), err)
}

#[cfg(feature = "remote")]
#[test]
fn local_and_remote_refs_are_the_same() {
    let dir = mmpk_test_support::fixtures_or_skip!("mmappickle");
    let server = Server::start();
    for name in [
        "masked.mmpk",
        "shapes.mmpk",
        "keys.mmpk",
        "dtype_le_M8_ns.mmpk",
    ] {
        let path = mmappickle(&dir, name);
        server.put(name, std::fs::read(&path).expect("fixture"));
        let url = format!("http://127.0.0.1:{}/{name}", server.port);
        let (local, _) = refs(&["zarr-refs", &path, "--url", &url, "--chunk-mib", "0.001"]);
        let (remote, _) = refs(&["zarr-refs", &url, "--chunk-mib", "0.001"]);
        assert_eq!(local, remote, "{name}");
        let j: serde_json::Value = serde_json::from_str(&local).expect("json");
        assert_eq!(j["version"], 1, "{name}");
    }
}

#[test]
fn output_file_default_url_and_notes() {
    let fixtures = mmpk_test_support::fixtures_or_skip!("mmappickle");
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("refs.json");
    let path = mmappickle(&fixtures, "keys.mmpk");
    let (stdout, err) = refs(&["zarr-refs", &path, "-o", out.to_str().expect("path")]);
    assert!(stdout.is_empty());
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("json");
    // The empty key cannot name a zarr node: left out, and said so.
    assert!(err.contains("skipped \"\""), "{err}");
    assert!(j["mmpk_skipped"].get("").is_some(), "{j}");
    let abs = std::path::absolute(&path).expect("abs");
    let key = "k".repeat(252) + "€"; // 255 bytes
    let r = &j["refs"][format!("{key}/0")];
    assert_eq!(r[0], abs.to_string_lossy().as_ref(), "{j}");
    let attrs: serde_json::Value =
        serde_json::from_str(j["refs"][".zattrs"].as_str().expect("attrs")).expect("json");
    assert_eq!(attrs["clé 漢字 🔑"], "unicode key");
}

#[test]
fn bad_input_exits_2_io_failures_3() {
    let fixtures = mmpk_test_support::fixtures_or_skip!("mmappickle");
    let path = mmappickle(&fixtures, "keys.mmpk");
    let manifest = mmappickle(&fixtures, "manifest.json");
    // Without the `remote` feature a URL is refused as bad input.
    let url_code = if cfg!(feature = "remote") { 3 } else { 2 };
    for (args, code) in [
        (&["zarr-refs", &path, "--chunk-mib", "0"][..], 2),
        (&["zarr-refs", &path, "--chunk-mib", "x"], 2),
        (&["zarr-refs", "/nonexistent/f.mmpk"], 2),
        (&["zarr-refs", &manifest], 2),
        (&["zarr-refs", "http://127.0.0.1:9/none.mmpk"], url_code),
        (&["zarr-refs", &path, "-o", "/nonexistent/dir/refs.json"], 3),
    ] {
        let o = mmpk(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.lines().last().is_some_and(|l| l.starts_with("mmpk: ")),
            "{args:?}: {err}"
        );
    }
}
