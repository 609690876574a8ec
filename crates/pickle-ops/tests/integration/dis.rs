//! `pickle_ops::dis` against what `python3 -m pickletools FILE` printed for
//! the fixtures (`fixtures/gen/gen_pickles.py` stores it as `NAME.dis` next
//! to `NAME.pkl`, and the exception, if any, as `dis_error` in the
//! directory's `manifest.json`).

use std::fs;
use std::path::{Path, PathBuf};

use pickle_ops::dis::{dis_to_string, DisError, DisOptions};

const PICKLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/pickle");
const HOSTILE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/hostile");

/// Every `*.pkl` of `dir` that has a sibling `.dis`, sorted.
fn dis_pairs(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut pairs: Vec<(PathBuf, PathBuf)> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pkl"))
        .filter_map(|pkl| {
            let dis = pkl.with_extension("dis");
            dis.is_file().then_some((pkl, dis))
        })
        .collect();
    pairs.sort();
    pairs
}

/// The exception `pickletools` raised per fixture file, from the manifest:
/// `file -> Some("ValueError: ...") or None` for every row with a `.dis`.
#[cfg(feature = "json")]
fn manifest_errors(dir: &Path) -> std::collections::HashMap<String, Option<String>> {
    let path = dir.join("manifest.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut errors = std::collections::HashMap::new();
    for row in json_scan::elements(&text, b'[', b']') {
        let (mut file, mut dis, mut dis_error) = (None, None, None);
        for (key, value) in json_scan::members(row) {
            match key.as_str() {
                "file" => file = Some(value),
                "dis" => dis = Some(value),
                "dis_error" => dis_error = Some(value),
                _ => {}
            }
        }
        let string = |v: Option<&str>| -> Option<String> {
            serde_json::from_str(v.expect("manifest row has file, dis and dis_error"))
                .expect("a string or null")
        };
        if let Some(_dis) = string(dis) {
            errors.insert(string(file).expect("a file name"), string(dis_error));
        }
    }
    errors
}

/// Splits compact JSON into top-level parts without parsing nested values:
/// manifest rows nest deeper than serde_json's recursion limit.
#[cfg(feature = "json")]
mod json_scan {
    /// The end (exclusive) of the JSON value starting at `i`.
    fn value_end(b: &[u8], mut i: usize) -> usize {
        let mut depth = 0usize;
        let mut in_string = false;
        while i < b.len() {
            let c = b[i];
            i += 1;
            if in_string {
                match c {
                    b'\\' => i += 1,
                    b'"' => {
                        in_string = false;
                        if depth == 0 {
                            return i;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                b',' | b']' | b'}' if depth == 0 => return i - 1,
                _ => {}
            }
        }
        b.len()
    }

    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }

    /// The top-level items of `text`, a JSON array or object (`open` and
    /// `close` are its brackets); for an object, each item is `key:value`.
    pub fn elements(text: &str, open: u8, close: u8) -> Vec<&str> {
        let b = text.as_bytes();
        let mut i = skip_ws(b, 0);
        assert_eq!(b.get(i), Some(&open), "expected {}", open as char);
        i = skip_ws(b, i + 1);
        let mut out = Vec::new();
        while b.get(i) != Some(&close) {
            let start = i;
            i = value_end(b, i);
            if open == b'{' {
                // `"key"` then `:` then the value.
                i = skip_ws(b, i);
                assert_eq!(b.get(i), Some(&b':'), "expected ':'");
                i = value_end(b, skip_ws(b, i + 1));
            }
            out.push(text[start..i].trim());
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(c) if *c == close => {}
                other => panic!("malformed JSON near byte {i}: {other:?}"),
            }
        }
        out
    }

    /// The members of a JSON object: decoded key and the value's text.
    pub fn members(object: &str) -> Vec<(String, &str)> {
        elements(object, b'{', b'}')
            .into_iter()
            .map(|m| {
                let colon = value_end(m.as_bytes(), 0);
                let key: String = serde_json::from_str(&m[..colon]).expect("a JSON string key");
                (
                    key,
                    m[colon..].trim_start().trim_start_matches(':').trim_start(),
                )
            })
            .collect()
    }
}

/// `"ValueError: message"`, as the manifest records Python's exception.
fn error_text(e: &DisError) -> String {
    format!(
        "{}: {}",
        e.kind.python_exception().unwrap_or("<output error>"),
        e.message
    )
}

/// Where two texts first differ, for the failure message.
fn first_difference(ours: &str, python: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (
        ours.split_inclusive('\n').collect(),
        python.split_inclusive('\n').collect(),
    );
    let i = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "line {}:\n    ours:   {:?}\n    python: {:?}",
        i + 1,
        a.get(i).copied().unwrap_or("<end>"),
        b.get(i).copied().unwrap_or("<end>")
    )
}

fn check_dir(dir: &str) {
    let dir = Path::new(dir);
    let pairs = dis_pairs(dir);
    assert!(
        !pairs.is_empty(),
        "no .pkl with a .dis in {}: generate them with fixtures/gen/gen_pickles.py",
        dir.display()
    );
    #[cfg(feature = "json")]
    let errors = manifest_errors(dir);
    let mut failures = Vec::new();
    for (pkl, dis) in &pairs {
        let name = pkl
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let data = fs::read(pkl).expect("read .pkl");
        let want = fs::read(dis).expect("read .dis");
        let want = String::from_utf8(want).unwrap_or_else(|_| panic!("{name}: .dis is not UTF-8"));
        let (text, result) = dis_to_string(&data, &DisOptions::default());
        if text != want {
            failures.push(format!(
                "{name}: text differs at {}",
                first_difference(&text, &want)
            ));
        }
        #[cfg(feature = "json")]
        {
            let got = result.as_ref().err().map(error_text);
            match errors.get(name) {
                None => failures.push(format!("{name}: has a .dis but no manifest row with one")),
                Some(want) if *want != got => failures.push(format!(
                    "{name}: outcome differs\n    ours:   {got:?}\n    python: {want:?}"
                )),
                Some(_) => {}
            }
        }
        #[cfg(not(feature = "json"))]
        let _ = result.as_ref().err().map(error_text);
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures in {} differ from pickletools:\n{}",
        failures.len(),
        pairs.len(),
        dir.display(),
        failures.join("\n")
    );
}

#[test]
fn pickle_fixtures_match_pickletools() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    check_dir(PICKLE_DIR);
}

#[test]
fn hostile_fixtures_match_pickletools() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    check_dir(HOSTILE_DIR);
}
