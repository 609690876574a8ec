//! Integration tests of the `mmpk` binary: every command on real files,
//! successes and each kind of bad input (exit codes and one-line messages as
//! docs/cli.md says), and that docs/cli.md documents exactly the binary's
//! commands and options.

mod cli_reference;
mod conventions;
mod dict;
#[cfg(feature = "fault-injection")]
mod full_disk;
mod npy;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "crash-record")]
mod strace;
mod watch_demo;
mod zarr;

use std::path::PathBuf;
use std::process::{Command, Output};

pub(crate) fn mmpk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmpk"))
        .args(args)
        .output()
        .expect("run mmpk")
}

pub(crate) fn fixture(name: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/pickle"
    ))
    .join(name)
    .to_string_lossy()
    .into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmpk-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn dis_matches_pickletools_text() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let o = mmpk(&["dis", &fixture("obj_plain.p4.pkl")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::read_to_string(fixture("obj_plain.p4.dis")).unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), want);
}

#[test]
fn pickle_json_prints_canonical_json_raw_and_resolved() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    // protocol 2 bytes are REDUCE nodes in the raw form, bytes when resolved.
    let f = fixture("bytes_specials.p2.pkl");
    let raw = mmpk(&["pickle-json", "--raw", &f]);
    let res = mmpk(&["pickle-json", &f]);
    assert!(raw.status.success() && res.status.success());
    let raw = String::from_utf8(raw.stdout).unwrap();
    let res = String::from_utf8(res.stdout).unwrap();
    assert!(
        raw.contains("\"reduce\"") && raw.contains("_codecs"),
        "{raw}"
    );
    assert!(res.starts_with("{\"bytes_b64\":"), "{res}");
}

#[test]
fn pickle_json_resolves_numpy_arrays() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    // numpy 2's pickle of a Fortran-ordered 3x4 array: an ndarray node in C
    // order when resolved, numpy's _reconstruct REDUCE when raw.
    let f = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/numpy"))
        .join("np2/fortran_3x4.p4.pkl");
    let f = f.to_string_lossy();
    let res = mmpk(&["pickle-json", &f]);
    assert!(res.status.success(), "{}", stderr(&res));
    let res = String::from_utf8(res.stdout).unwrap();
    assert!(res.starts_with("{\"ndarray\":{\"dtype\":"), "{res}");
    assert!(res.contains("\"shape\":[3,4]"), "{res}");
    let raw = String::from_utf8(mmpk(&["pickle-json", "--raw", &f]).stdout).unwrap();
    assert!(raw.contains("_reconstruct"), "{raw}");
}

#[test]
fn pickle_encode_round_trips_through_pickle_json() {
    let json = tmp("v.json");
    std::fs::write(
        &json,
        r#"{"list":[{"int":"1"},{"str":"a"},{"float":"0x1.8000000000000p+0"}]}"#,
    )
    .unwrap();
    let out = tmp("v.pkl");
    let o = mmpk(&[
        "pickle-encode",
        "--protocol",
        "4",
        "-o",
        out.to_str().unwrap(),
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // pickle.dumps([1, 'a', 1.5], 4)
    assert_eq!(std::fs::read(&out).unwrap(), b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94G?\xf8\x00\x00\x00\x00\x00\x00e.".to_vec());
    let o = mmpk(&["pickle-json", out.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        r#"{"list":[{"int":"1"},{"str":"a"},{"float":"0x1.8000000000000p+0"}]}"#
    );
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let missing = mmpk(&["pickle-json", "/nonexistent/x.pkl"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/x.pkl"));
    assert_eq!(stderr(&missing).lines().count(), 1);

    let bad = tmp("bad.pkl");
    std::fs::write(&bad, b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.").unwrap();
    // pickletools does not check frame lengths, so `dis` gets a truncated file.
    let truncated = tmp("truncated.pkl");
    std::fs::write(&truncated, b"\x80\x04\x8c\x05ab").unwrap();
    for (cmd, bad) in [("pickle-json", &bad), ("dis", &truncated)] {
        let o = mmpk(&[cmd, bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{cmd}: {e}");
        assert!(e.contains(".pkl"), "{e}");
    }
    let o = mmpk(&["pickle-json", "--raw", bad.to_str().unwrap()]);
    assert!(stderr(&o).contains("byte 2"), "{}", stderr(&o));

    let json = tmp("bad.json");
    std::fs::write(&json, r#"{"nope": 1}"#).unwrap();
    let o = mmpk(&["pickle-encode", "--protocol", "4", json.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let o = mmpk(&["pickle-encode", "--protocol", "9", json.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let o = mmpk(&[
        "pickle-json",
        "--encoding",
        "utf-16",
        &fixture("obj_plain.p4.pkl"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = mmpk(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn python2_strings_follow_the_encoding_option() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let f = fixture("cpy_load_python2_str_as_bytes_1.pkl");
    assert_eq!(mmpk(&["pickle-json", &f]).status.code(), Some(2));
    let o = mmpk(&["pickle-json", "--encoding", "bytes", &f]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        r#"{"bytes_b64":"YQCg"}"#
    );
    let o = mmpk(&["pickle-json", "--encoding", "latin1", &f]);
    assert!(o.status.success());
}

/// Built without the `remote` feature (`cargo test -p mmpk-cli
/// --no-default-features`), URL arguments give a one-line error, exit 2.
#[cfg(not(feature = "remote"))]
#[test]
fn url_arguments_without_the_remote_feature() {
    for args in [
        &["ls", "https://example.org/f.mmpk"][..],
        &["info", "s3://bucket/f.mmpk"],
        &["get", "http://127.0.0.1:9/f.mmpk", "k"],
        &["export", "https://example.org/f.mmpk", "k", "out.npy"],
    ] {
        let o = mmpk(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains("built without remote support"), "{e}");
        assert!(e.contains(args[1]), "{e}");
    }
}
