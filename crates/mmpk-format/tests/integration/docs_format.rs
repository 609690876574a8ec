//! Keeps `docs/format.md` (the format specification) true: every fixture
//! path it cites exists, every byte example marked `; example: NAME` equals
//! what this crate writes and decodes as the text says, and the constants
//! the text states are the crate's.
//!
//! The documents and fixtures live in the repository, not in the published
//! package: run from a package, these tests say so and pass.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mmpk_format::array::{read_array, Encoding, V1_PREFIX_LEN, V2_PREFIX_LEN};
use mmpk_format::dtype::Dtype;
use mmpk_format::entry::{is_filler, parse_entry, ENTRY_OVERHEAD};
use mmpk_format::filler::{data_offset, filler_len, MIN_FILLER_LEN};
use mmpk_format::generic::{decode_value, rewrite_pickle};
use mmpk_format::header::{COMMIT_OFFSET, EMPTY_FILE_LEN, HEADER_LEN, TERMINATOR, VERSION_OFFSET};
use mmpk_format::masked::{V1_MASKED_PREFIX_LEN, V2_MASKED_PREFIX_LEN};
use mmpk_format::scan::{scan, EntryKind};
use mmpk_format::write::encode_array;
use mmpk_format::write::write_entry;
use mmpk_format::write::write_filler;
use mmpk_format::write::{empty_file, write_header};
use pickle_ops::decode::DecodeOptions;
use pickle_ops::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of `docs/NAME`, or `None` (with a message) outside the
/// repository.
fn doc(name: &str) -> Option<String> {
    mmpk_test_support::fixtures::doc(env!("CARGO_MANIFEST_DIR"), name)
}

/// Every `fixtures/...` path in `text`.
fn fixture_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("fixtures/") {
        // Only paths that start a word (not `crates/x/fixtures/`).
        let before = rest[..i].chars().last();
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
            .unwrap_or(tail.len());
        let path = tail[..len].trim_end_matches('.');
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_') {
            out.push(path.to_string());
        }
        rest = &tail[len.max(1)..];
    }
    out
}

#[test]
fn every_fixture_cited_by_the_docs_exists() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    if !repo().join("fixtures").is_dir() {
        eprintln!("skipped: no fixtures/ here (a packaged crate carries none)");
        return;
    }
    for name in ["format.md", "canonical-json.md", "cli.md", "design.md"] {
        let Some(text) = doc(name) else { return };
        let paths = fixture_paths(&text);
        if name == "format.md" {
            assert!(
                paths.len() >= 20,
                "format.md cites {} fixtures",
                paths.len()
            );
        }
        for p in paths {
            assert!(
                repo().join(&p).exists(),
                "docs/{name} cites {p}, which does not exist"
            );
        }
    }
}

/// The byte examples of `text`: fenced blocks whose first line is
/// `; example: NAME`; in each line, the hex bytes before `;`.
fn examples(text: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("```") {
            continue;
        }
        let mut block: Vec<&str> = Vec::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            block.push(l);
        }
        let Some(name) = block
            .first()
            .and_then(|l| l.trim().strip_prefix("; example:"))
        else {
            continue;
        };
        let name = name.trim().to_string();
        let mut bytes = Vec::new();
        for l in &block[1..] {
            let hex = l.split(';').next().unwrap_or("");
            for tok in hex.split_whitespace() {
                assert!(
                    tok.len() == 2 && tok.chars().all(|c| c.is_ascii_hexdigit()),
                    "example {name}: {tok:?} is not a hex byte (line {l:?})"
                );
                bytes.push(u8::from_str_radix(tok, 16).unwrap());
            }
        }
        assert!(
            out.insert(name.clone(), bytes).is_none(),
            "example {name} twice"
        );
    }
    out
}

/// `np.arange(3, dtype='<i2')`'s raw bytes.
const ARANGE3: &[u8] = &[0, 0, 1, 0, 2, 0];

#[test]
fn the_byte_examples_are_what_the_writers_write() {
    let Some(text) = doc("format.md") else { return };
    let ex = examples(&text);
    let names: Vec<&str> = ex.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "empty",
            "filler",
            "generic-input",
            "generic-value",
            "one-entry",
            "v1-array",
            "v2-array"
        ],
        "every example is checked below, and only those"
    );

    // Section 2: the empty dict.
    let empty = &ex["empty"];
    assert_eq!(*empty, empty_file(0));
    assert_eq!(empty.len(), EMPTY_FILE_LEN);
    assert_eq!(EMPTY_FILE_LEN, 35);
    let s = scan(empty).unwrap();
    assert!(s.is_clean() && s.entries.is_empty());
    assert_eq!(s.header.commit, 0);

    // Section 3: one live entry "a": 5, commit number 1.
    let one = &ex["one-entry"];
    let mut want = write_header(1).to_vec();
    write_entry(&mut want, "a", b"K\x05", 1, true).unwrap();
    want.extend_from_slice(&TERMINATOR);
    assert_eq!(*one, want);
    let s = scan(one).unwrap();
    assert!(s.is_clean());
    assert_eq!(s.header.commit, 1);
    let e = s.entries[0].entry;
    assert_eq!((e.key, e.live, e.memo_max, e.len), ("a", true, 1, 22));
    assert_eq!(&one[e.value_span()], b"K\x05");
    // "Deleting "a" turns its 88 (offset 44) into 30".
    assert_eq!((e.validity_offset(), one[44]), (44, 0x88));
    let v = decode_value(
        &one[e.value_span()],
        e.value_offset,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(*v.value(v.root()), Value::int(5));
    let mut deleted = one.clone();
    deleted[44] = 0x30;
    assert_eq!(scan(&deleted).unwrap().entries[0].kind, EntryKind::Deleted);

    // Section 5: the same array in both encodings.
    let i2 = Dtype::parse("<i2").unwrap();
    for (name, enc, prefix) in [
        ("v2-array", Encoding::V2, 59),
        ("v1-array", Encoding::V1, 70),
    ] {
        let bytes = &ex[name];
        let mut want = Vec::new();
        let span = encode_array(&mut want, enc, &i2, &[3], ARANGE3).unwrap();
        assert_eq!(*bytes, want, "{name}");
        assert_eq!(enc.prefix_len(), prefix);
        let a = read_array(bytes, 0..bytes.len()).unwrap();
        assert_eq!((a.encoding, &a.shape[..]), (enc, &[3][..]), "{name}");
        assert_eq!(a.dtype, i2, "{name}");
        assert_eq!((a.data.clone(), &bytes[a.data]), (span, ARANGE3), "{name}");
        // "the raw bytes ... start at e + 9 + 2 + k + prefix + 9".
        for k in [0usize, 1, 255] {
            assert_eq!(
                data_offset(1000, k, prefix),
                Some(1000 + 9 + 2 + k as u64 + prefix as u64 + 9)
            );
        }
    }
    // The dtype names of the text.
    assert_eq!(i2.name(), "int16");
    for (s, name) in [("<f8", "float64"), ("|b1", "bool"), ("<c8", "complex64")] {
        assert_eq!(Dtype::parse(s).unwrap().name(), name);
        assert_eq!(Dtype::parse(name).unwrap(), Dtype::parse(s).unwrap());
    }

    // Section 7: the memo rewrite, from a memo base of 1.
    let g = rewrite_pickle(&ex["generic-input"], 1).unwrap();
    assert_eq!(g.ops, ex["generic-value"]);
    assert_eq!(g.memo_max, 2);
    let p = decode_value(&g.ops, 0, &DecodeOptions::default()).unwrap();
    let Some(Value::List(items)) = p.node(p.root()) else {
        panic!("not a list")
    };
    assert_eq!(items.len(), 2);
    assert_eq!(*p.value(items[0]), Value::str("ab"));

    // Section 8: the 20-byte filler.
    let f = &ex["filler"];
    let mut want = Vec::new();
    write_filler(&mut want, 20).unwrap();
    assert_eq!(*f, want);
    let e = parse_entry(f, 0).unwrap();
    assert!(is_filler(f, &e) && !e.live && e.memo_max == 0);
}

/// The numbers the text states, as the crate has them.
#[test]
fn the_stated_constants_are_the_crates() {
    assert_eq!(HEADER_LEN, 24);
    assert_eq!((VERSION_OFFSET, COMMIT_OFFSET), (12, 18));
    assert_eq!(TERMINATOR, [0x95, 2, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x2e]);
    assert_eq!(ENTRY_OVERHEAD + 1, 20); // the smallest entry
    assert_eq!((V2_PREFIX_LEN, V1_PREFIX_LEN), (59, 70));
    assert_eq!((V2_MASKED_PREFIX_LEN, V1_MASKED_PREFIX_LEN), (24, 29));
    // Filler forms: NONE at 20, SHORT_BINBYTES 21..=276, BINBYTES from 277.
    assert_eq!(MIN_FILLER_LEN, 20);
    for (len, op) in [(20u64, 0x4e), (21, 0x43), (276, 0x43), (277, 0x42)] {
        let mut v = Vec::new();
        write_filler(&mut v, len).unwrap();
        assert_eq!(v.len() as u64, len);
        assert_eq!(v[11], op, "filler of {len} bytes");
        assert!(is_filler(&v, &parse_entry(&v, 0).unwrap()));
    }
    // "the shortest that is at least 20 bytes ..., hence shorter than the
    // alignment plus 20".
    for align in [8u64, 64, 4096] {
        for next in 24..24 + align {
            let len = filler_len(next, 3, V2_PREFIX_LEN, align).unwrap();
            assert!(len == 0 || (20..align + 20).contains(&len));
            let data = data_offset(next + len, 3, V2_PREFIX_LEN).unwrap();
            assert_eq!(data % align, 0);
        }
    }
}

#[test]
fn fixture_paths_are_found_in_text() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let t = "see `fixtures/handbuilt/fillers.mmpk`, fixtures/mmappickle/ and \
             crates/x/fixtures/no (fixtures/README.md).";
    assert_eq!(
        fixture_paths(t),
        [
            "fixtures/handbuilt/fillers.mmpk",
            "fixtures/mmappickle/",
            "fixtures/README.md"
        ]
    );
}

/// Nothing in the repository points at the specification documents that
/// lived outside it before `docs/` (their old names, or the directory they
/// were in): every pointer goes into `docs/`.
#[test]
fn no_file_points_outside_the_repository_for_the_specification() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let root = repo();
    if !root.join("docs").is_dir() {
        eprintln!("skipped: not in the repository (a packaged crate)");
        return;
    }
    // Built from parts so that this file does not match itself.
    let old: Vec<String> = ["FORMAT", "CANONICAL_JSON", "CLI", "DESIGN"]
        .iter()
        .map(|n| format!("{n}.md"))
        .chain([format!("/work/{}", "shared")])
        .collect();
    let skip_dirs = [
        "target",
        ".git",
        "venv",
        "__pycache__",
        "node_modules",
        // generated fixture data (the scripts in fixtures/gen are checked)
        "pickle",
        "hostile",
        "numpy",
        "mmappickle",
        "handbuilt",
    ];
    let mut stack = vec![root.clone()];
    let mut checked = 0;
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !skip_dirs.contains(&name.as_str()) {
                    stack.push(p);
                }
                continue;
            }
            let text_like = [".rs", ".md", ".py", ".pyi", ".toml", ".sh", ".yml", ".txt"]
                .iter()
                .any(|x| name.ends_with(x))
                || name == "run";
            if !text_like || e.metadata().map_or(true, |m| m.len() > 1 << 20) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            checked += 1;
            for (i, line) in text.lines().enumerate() {
                if old.iter().any(|o| line.contains(o.as_str())) {
                    let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                    found.push(format!("{rel}:{}: {line}", i + 1));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} files read");
    assert!(
        found.is_empty(),
        "pointers outside the repository (use docs/format.md, docs/canonical-json.md, \
         docs/cli.md, docs/design.md):\n{}",
        found.join("\n")
    );
}

/// The table of damaged ends in section 12: each fixture it cites scans
/// with the tail its row names.
#[test]
fn the_tail_table_matches_the_fixtures() {
    use mmpk_format::scan::Tail;
    let Some(text) = doc("format.md") else { return };
    if !repo().join("fixtures/handbuilt").is_dir() {
        eprintln!("skipped: no fixtures/handbuilt here");
        return;
    }
    let mut rows = 0;
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        if cells.len() != 3 || !cells[2].contains("fixtures/handbuilt/") {
            continue;
        }
        let want = |t: &Tail| match cells[0].trim() {
            "clean" => *t == Tail::Clean,
            "trailing bytes" => matches!(t, Tail::TrailingBytes { .. }),
            "broken terminator" => *t == Tail::BrokenTerminator,
            "incomplete frame" => *t == Tail::IncompleteFrame,
            "missing terminator" => *t == Tail::MissingTerminator,
            "corrupt" => matches!(t, Tail::Corrupt(_)),
            other => panic!("unknown tail {other:?} in docs/format.md"),
        };
        for path in fixture_paths(cells[2]) {
            let bytes = std::fs::read(repo().join(&path)).unwrap();
            let s = scan(&bytes).unwrap();
            assert!(
                want(&s.tail),
                "{path}: {:?}, the table says {}",
                s.tail,
                cells[0].trim()
            );
            rows += 1;
        }
    }
    assert!(rows >= 7, "{rows} fixtures in the tail table");
}
