//! Inputs the fuzzers found (`fuzz/`), kept as regression tests: each runs
//! the decode target's property. Every one of them once broke it.

/// The property of `fuzz/fuzz_targets/decode.rs`.
#[path = "../../../../fuzz/fuzz_targets/decode_property.rs"]
mod property;
use property::check;

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = check(&data) {
            panic!("{}: {e}", path.display());
        }
        n += 1;
    }
    assert!(n >= 5, "only {n} regression inputs");
}
