//! Keeps `docs/canonical-json.md` true where it shows JSON: every ```json
//! example is canonical, that is, building the value from it and printing
//! it again gives the same text; and the comparison rules it states hold.
//!
//! The document lives in the repository, not in the published package: run
//! from a package, these tests say so and pass.

use pickle_ops::json::{equal, from_json_str, pickle_to_json, JsonOptions};

fn reference() -> Option<String> {
    mmpk_test_support::fixtures::doc(env!("CARGO_MANIFEST_DIR"), "canonical-json.md")
}

/// The contents of the ```json blocks of `text`.
fn json_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "```json" {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push(body.join("\n"));
        }
    }
    out
}

#[test]
fn every_json_example_is_canonical() {
    let Some(text) = reference() else { return };
    let blocks = json_blocks(&text);
    assert!(blocks.len() >= 5, "{} examples", blocks.len());
    for b in blocks {
        let p = from_json_str(&b).unwrap_or_else(|e| panic!("{b}: {e}"));
        let back = pickle_to_json(&p, &JsonOptions::default()).unwrap();
        assert_eq!(back, b.trim(), "not printed back unchanged");
    }
}

#[test]
fn comparing_is_as_stated() {
    let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    // Set and frozenset elements match in any order...
    assert!(equal(
        &j(r#"{"set":[{"int":"1"},{"int":"2"}]}"#),
        &j(r#"{"set":[{"int":"2"},{"int":"1"}]}"#)
    ));
    // ...list elements do not...
    assert!(!equal(
        &j(r#"{"list":[{"int":"1"},{"int":"2"}]}"#),
        &j(r#"{"list":[{"int":"2"},{"int":"1"}]}"#)
    ));
    // ...and ids need only correspond one to one.
    assert!(equal(
        &j(r#"{"id":3,"list":[{"ref":3}]}"#),
        &j(r#"{"id":0,"list":[{"ref":0}]}"#)
    ));
    assert!(!equal(
        &j(r#"{"list":[{"id":0,"list":[]},{"id":1,"list":[]},{"ref":0}]}"#),
        &j(r#"{"list":[{"id":0,"list":[]},{"id":1,"list":[]},{"ref":1}]}"#)
    ));
}
