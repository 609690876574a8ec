//! The dict-file commands: successes, `--json` fields, and each bad input
//! (exit codes and one-line messages; no file changed by a failed command).

use std::path::Path;

use crate::{mmpk, stderr};

fn ok(args: &[&str]) -> String {
    let o = mmpk(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Fails with exit `code` and one line on stderr containing every `needle`.
fn fails(args: &[&str], code: i32, needles: &[&str]) {
    let o = mmpk(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {e}");
    assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
    for n in needles {
        assert!(e.contains(n), "{args:?}: {e:?} lacks {n:?}");
    }
}

fn write_json(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// A file with an array, a masked array, a value and a reservation.
fn sample(dir: &Path) -> String {
    let f = dir.join("s.mmpk").to_string_lossy().into_owned();
    // [[1.0, 2.0], [3.0, 4.0]] as <f8
    let data: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let mut b64 = String::new();
    pickle_ops::json::base64_encode(&data, &mut b64);
    let a = write_json(
        dir,
        "a.json",
        &format!(r#"{{"ndarray":{{"dtype":"<f8","shape":[2,2],"data_b64":"{b64}"}}}}"#),
    );
    ok(&["put", &f, "a", "--json", &a]);
    let m = write_json(
        dir,
        "m.json",
        &format!(
            r#"{{"masked_array":{{"data":{{"ndarray":{{"dtype":"<f8","shape":[4],"data_b64":"{b64}"}}}},"mask":{{"ndarray":{{"dtype":"|b1","shape":[4],"data_b64":"AAABAA=="}}}}}}}}"#
        ),
    );
    ok(&["put", &f, "m", "--json", &m]);
    let v = write_json(
        dir,
        "v.json",
        r#"{"dict":[[{"str":"name"},{"str":"cube"}],[{"str":"n"},{"int":"3"}]]}"#,
    );
    ok(&["put", &f, "meta", "--json", &v]);
    ok(&["put", &f, "big", "--zeros", "f4", "300,300,300"]);
    f
}

#[test]
fn put_get_ls_info_verify() {
    let dir = tempfile::tempdir().unwrap();
    let f = sample(dir.path());
    let ls = json(&["ls", "--json", &f]);
    let rows = ls.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        for field in [
            "key",
            "live",
            "kind",
            "offset",
            "dtype",
            "shape",
            "data_offset",
            "nbytes",
            "aligned",
            "encoding",
        ] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
    }
    assert_eq!(rows[0]["kind"], "array");
    assert_eq!(rows[1]["kind"], "masked");
    assert_eq!(rows[2]["kind"], "value");
    assert_eq!(rows[3]["shape"], serde_json::json!([300, 300, 300]));
    assert_eq!(rows[3]["nbytes"], 108_000_000);
    assert_eq!(rows[3]["aligned"], true);
    // The reservation is sparse: the file takes far less disk than its size.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&f).unwrap();
    assert!(meta.blocks() * 512 < 10 << 20, "{} blocks", meta.blocks());

    let all = json(&["ls", "--all", "--json", &f]);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "filler"));
    let table = ok(&["ls", &f]);
    assert!(table.starts_with("key"), "{table}");
    assert!(table.contains("103.0 MiB"), "{table}");

    let info = json(&["info", "--json", &f]);
    assert_eq!(info["entries"]["live"], 4);
    assert_eq!(info["version"], 1);
    assert!(info["commit"].as_i64().unwrap() >= 4);
    assert_eq!(info["tail"], "clean");
    assert!(ok(&["info", &f]).contains("commit number"));

    let get = ok(&["get", &f, "a"]);
    assert!(get.contains("min          1"), "{get}");
    assert!(get.contains("max          4"), "{get}");
    assert!(get.contains("mean         2.5"), "{get}");
    let masked = ok(&["get", &f, "m"]);
    assert!(masked.contains("masked       1 element"), "{masked}");
    assert!(
        masked.contains("mean         2.3333333333333335"),
        "{masked}"
    );
    assert_eq!(ok(&["get", &f, "meta"]), "{'name': 'cube', 'n': 3}\n");
    let value = json(&["get", "--json", &f, "meta"]);
    assert_eq!(value["dict"][0][1]["str"], "cube");
    let a = json(&["get", "--json", &f, "a"]);
    assert_eq!(a["ndarray"]["dtype"], "<f8");
    assert_eq!(a["ndarray"]["shape"], serde_json::json!([2, 2]));
    let m = json(&["get", "--json", &f, "m"]);
    assert_eq!(m["masked_array"]["mask"]["ndarray"]["data_b64"], "AAABAA==");

    let v = json(&["verify", "--json", &f]);
    assert_eq!(v["ok"], true);
    assert!(ok(&["verify", &f]).contains("ok"));
}

#[test]
fn rm_vacuum_and_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let f = sample(dir.path());
    let before = std::fs::read(&f).unwrap();
    fails(
        &["rm", &f, "a", "nope"],
        2,
        &["nope", "nothing was removed"],
    );
    assert_eq!(std::fs::read(&f).unwrap(), before);
    let r = json(&["rm", "--json", &f, "a", "m"]);
    assert_eq!(r["removed"], serde_json::json!(["a", "m"]));
    let keys: Vec<String> = json(&["ls", "--json", &f])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["meta", "big"]);
    {
        // Another process (this test) holds the lock: vacuum refuses.
        let held = std::fs::File::open(&f).unwrap();
        held.lock().unwrap();
        fails(&["vacuum", &f], 3, &["refused"]);
        // Unlock explicitly: a child another test forks meanwhile shares the
        // open file (until its exec), so dropping `held` alone may leave
        // the lock held for a moment; LOCK_UN releases it for all.
        held.unlock().unwrap();
    }
    let v = json(&["vacuum", "--json", &f]);
    assert!(v["after"].as_u64() < v["before"].as_u64(), "{v}");
    assert_eq!(v["live"], 2);
    ok(&["verify", &f]);
    fails(&["get", &f, "a"], 2, &["no entry \"a\"", "s.mmpk"]);
}

#[test]
fn torn_tails_fail_verify_and_repair_fixes_them() {
    let dir = tempfile::tempdir().unwrap();
    let f = sample(dir.path());
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 5]).unwrap();
    let o = mmpk(&["verify", &f]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("repair"));
    let v: serde_json::Value =
        serde_json::from_slice(&mmpk(&["verify", "--json", &f]).stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["findings"][0]["offset"].is_u64());
    let r = json(&["repair", "--json", &f]);
    assert_eq!(r["changed"], true);
    ok(&["verify", &f]);
    assert!(ok(&["repair", &f]).contains("nothing to repair"));
    assert_eq!(json(&["ls", "--json", &f]).as_array().unwrap().len(), 4);
}

#[test]
fn convert_and_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let j = write_json(
        d,
        "d.json",
        r#"{"dict":[[{"str":"a"},{"int":"1"}],[{"str":"b"},{"list":[{"str":"x"}]}]]}"#,
    );
    let pkl = d.join("plain.pkl").to_string_lossy().into_owned();
    ok(&["pickle-encode", "--protocol", "4", "-o", &pkl, &j]);
    let plain = std::fs::read(&pkl).unwrap();
    // A plain pickle is not an mmpk file: refused, unchanged, with a hint.
    fails(
        &["ls", &pkl],
        2,
        &["plain.pkl", "not an mmpk file", "convert"],
    );
    let out = d.join("conv.mmpk").to_string_lossy().into_owned();
    let c = json(&["convert", "--json", &pkl, &out]);
    assert_eq!(c["keys"], 2);
    assert_eq!(
        std::fs::read(&pkl).unwrap(),
        plain,
        "the input is not changed"
    );
    assert_eq!(json(&["get", "--json", &out, "a"])["int"], "1");
    fails(&["convert", &pkl, &out], 2, &["conv.mmpk", "exists"]);
    let notdict = write_json(d, "l.json", r#"{"list":[]}"#);
    let lp = d.join("list.pkl").to_string_lossy().into_owned();
    ok(&["pickle-encode", "--protocol", "4", "-o", &lp, &notdict]);
    let out2 = d.join("conv2.mmpk");
    fails(
        &["convert", &lp, out2.to_str().unwrap()],
        2,
        &["list.pkl", "not a dict"],
    );
    assert!(!out2.exists());

    // upgrade: v1 entries become v2, no v1 bytes remain.
    let f = d.join("v1.mmpk").to_string_lossy().into_owned();
    ok(&[
        "put",
        "--layout",
        "mmappickle1",
        &f,
        "z",
        "--zeros",
        "<i4",
        "3,4",
    ]);
    ok(&[
        "put",
        "--layout",
        "mmappickle1",
        &f,
        "y",
        "--zeros",
        "f8",
        "2",
    ]);
    let all = json(&["ls", "--all", "--json", &f]);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["encoding"] == "v1"));
    let u = json(&["upgrade", "--json", &f]);
    assert_eq!(u["upgraded"], serde_json::json!(["z", "y"]));
    let all = json(&["ls", "--all", "--json", &f]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|r| r["encoding"] == "v2" || r["kind"] == "filler"),
        "{all}"
    );
    ok(&["verify", &f]);
    assert!(ok(&["upgrade", &f]).contains("nothing to do"));
}

#[test]
fn bad_inputs_exit_2_with_one_line_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = sample(d);
    let missing = d.join("missing.mmpk").to_string_lossy().into_owned();
    for cmd in [
        "ls", "info", "verify", "vacuum", "repair", "upgrade", "watch",
    ] {
        fails(&[cmd, &missing], 2, &["missing.mmpk"]);
    }
    fails(&["get", &missing, "k"], 2, &["missing.mmpk"]);
    fails(&["rm", &missing, "k"], 2, &["missing.mmpk"]);
    fails(&["export", &missing, "k", "o.npy"], 2, &["missing.mmpk"]);
    assert!(!Path::new(&missing).exists());

    let junk = d.join("junk.bin");
    std::fs::write(&junk, b"hello, not a pickle at all").unwrap();
    let j = junk.to_str().unwrap();
    for args in [
        vec!["ls", j],
        vec!["put", j, "k", "--zeros", "f4", "2"],
        vec!["rm", j, "k"],
        vec!["repair", j],
        vec!["vacuum", j],
        vec!["verify", j],
    ] {
        fails(&args, 2, &["junk.bin", "not an mmpk file"]);
    }
    assert_eq!(std::fs::read(&junk).unwrap(), b"hello, not a pickle at all");

    let before = std::fs::read(&f).unwrap();
    fails(&["get", &f, "nope"], 2, &["s.mmpk", "\"nope\""]);
    fails(&["export", &f, "nope", "o.npy"], 2, &["\"nope\""]);
    fails(
        &["export", &f, "meta", "o.npy"],
        2,
        &["\"meta\"", "not an array"],
    );
    fails(&["put", &f, "k", "--zeros", "q9", "2"], 2, &["q9"]);
    fails(&["put", &f, "k", "--zeros", "f4", "2,x"], 2, &["shape"]);
    fails(
        &[
            "put",
            &f,
            "k",
            "--zeros",
            "f4",
            "99999999999,99999999999,99999999999",
        ],
        2,
        &["\"k\""],
    );
    fails(
        &["put", &f, "k", "--zeros", "f4", "2", "--align", "3"],
        2,
        &["align"],
    );
    fails(
        &["put", &f, "k", "--zeros", "f4", "2", "--layout", "v9"],
        2,
        &["layout"],
    );
    fails(
        &["put", &f, &"k".repeat(256), "--zeros", "f4", "2"],
        2,
        &["255"],
    );
    let bad = write_json(d, "bad.json", r#"{"nope": 1}"#);
    fails(&["put", &f, "k", "--json", &bad], 2, &["bad.json"]);
    let notjson = write_json(d, "nj.json", "{{{");
    fails(&["put", &f, "k", "--json", &notjson], 2, &["nj.json"]);
    fails(
        &["put", &f, "k", "--json", "/nonexistent/v.json"],
        2,
        &["/nonexistent/v.json"],
    );
    assert_eq!(
        std::fs::read(&f).unwrap(),
        before,
        "failed commands change nothing"
    );
    // Usage errors: one line too.
    fails(&["put", &f, "k"], 2, &["--npy"]);
    fails(&["get", &f], 2, &["KEY"]);
    fails(
        &["put", &f, "k", "--zeros", "f4", "2", "--align", "x"],
        2,
        &["--align"],
    );
    fails(&["ls", "--bogus", &f], 2, &["--bogus"]);
    // A missing directory.
    fails(
        &["put", "/nonexistent/dir/x.mmpk", "k", "--zeros", "f4", "2"],
        2,
        &["/nonexistent/dir/x.mmpk"],
    );
}

#[test]
fn read_only_files_can_be_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = sample(dir.path());
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
    ok(&["ls", &f]);
    ok(&["get", &f, "a"]);
    ok(&["verify", &f]);
    ok(&["info", &f]);
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(true);
    if !root {
        // Root may write anyway; everyone else gets a one-line refusal.
        fails(&["put", &f, "k", "--zeros", "f4", "2"], 2, &["s.mmpk"]);
        fails(&["rm", &f, "a"], 2, &["s.mmpk"]);
    }
}

#[test]
fn stdin_json_and_replacing_keys() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.mmpk").to_string_lossy().into_owned();
    for v in ["1", "2"] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mmpk"))
            .args(["put", &f, "n", "--json", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(format!(r#"{{"int":"{v}"}}"#).as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(json(&["get", "--json", &f, "n"])["int"], "2");
    let all = json(&["ls", "--all", "--json", &f]);
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"] == "n")
            .count(),
        2
    );
    let o = mmpk(&["--help"]);
    let help = String::from_utf8(o.stdout).unwrap();
    assert!(help.contains("truncate"), "{help}");
}

#[test]
fn get_json_matches_what_mmappickle_wrote() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    // Every key of every file mmappickle 1.0 wrote (fixtures/mmappickle):
    // `mmpk get --json` prints the value the manifest expects, and `ls`
    // lists exactly the expected keys.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/mmappickle");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/manifest.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for file in manifest.as_array().unwrap() {
        let f = format!("{dir}/{}", file["file"].as_str().unwrap());
        let expected = file["expected"].as_object().unwrap();
        let ls = json(&["ls", "--json", &f]);
        let mut keys: Vec<&str> = ls
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        keys.sort_unstable();
        let mut want: Vec<&str> = expected.keys().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(keys, want, "{f}");
        for (k, v) in expected {
            let got = json(&["get", "--json", &f, k]);
            assert!(pickle_ops::json::equal(&got, v), "{f} {k}: {got} != {v}");
            // The human form works for every kind too.
            ok(&["get", &f, k]);
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

#[test]
fn verify_and_repair_the_handbuilt_damage() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/handbuilt");
    let dir = tempfile::tempdir().unwrap();
    for (name, findings, repairable) in [
        ("torn_incomplete.mmpk", true, true),
        ("torn_missing_terminator.mmpk", true, true),
        ("torn_trailing.mmpk", true, true),
        ("torn_broken_terminator.mmpk", true, true),
        ("corrupt_frame_len.mmpk", true, true),
        ("corrupt_validity.mmpk", true, true),
        ("corrupt_value.mmpk", true, false),
        ("duplicates.mmpk", false, true),
        ("fillers.mmpk", false, true),
        ("masked_v2.mmpk", false, true),
        ("v2_arrays.mmpk", false, true),
    ] {
        let f = dir.path().join(name);
        std::fs::copy(format!("{src}/{name}"), &f).unwrap();
        let f = f.to_str().unwrap();
        let o = mmpk(&["verify", f]);
        assert_eq!(
            o.status.code(),
            Some(if findings { 1 } else { 0 }),
            "{name}"
        );
        if findings {
            assert_eq!(stderr(&o).lines().count(), 1, "{name}");
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("byte "),
                "{name}"
            );
        }
        ok(&["repair", f]);
        let o = mmpk(&["verify", f]);
        assert_eq!(o.status.success(), repairable, "{name}");
        ok(&["ls", "--all", f]);
        ok(&["info", f]);
    }
}

/// `mmpk upgrade` of a file whose fifth v1 entry has a corrupt dtype: it
/// used to rewrite the first four, then exit 2 with the file changed and
/// its key order moved. Every v1 entry is now checked first: exit 2, the
/// message says nothing was changed, and the file is byte for byte as it
/// was.
#[test]
fn upgrade_of_a_damaged_file_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v1.mmpk").to_string_lossy().into_owned();
    for k in ["a", "b", "c", "d", "e", "f"] {
        ok(&[
            "put",
            "--layout",
            "mmappickle1",
            &f,
            k,
            "--zeros",
            "<i4",
            "3",
        ]);
    }
    let mut bytes = std::fs::read(&f).unwrap();
    let ls = json(&["ls", "--json", &f]);
    let fifth = ls.as_array().unwrap()[4]["offset"].as_u64().unwrap() as usize;
    let at = fifth
        + bytes[fifth..]
            .windows(5)
            .position(|w| w == b"int32")
            .unwrap();
    bytes[at] = b'X';
    std::fs::write(&f, &bytes).unwrap();
    fails(&["upgrade", &f], 2, &["\"e\"", "nothing was changed"]);
    assert_eq!(std::fs::read(&f).unwrap(), bytes);
}
