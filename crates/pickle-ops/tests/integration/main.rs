//! Integration tests of pickle-ops: every fixture written by CPython decodes
//! to its manifest's canonical JSON (raw and resolved), re-encodes to the
//! same bytes where CPython's output is reproducible, disassembles to
//! `pickletools`' text; hostile inputs give typed errors; property tests
//! check that parsing inverts writing and decoding inverts encoding.

mod alloc;
mod dis;
mod docs_json;
mod fixtures;
mod hostile;
mod props;
mod regressions;

use std::path::PathBuf;

/// The repository's `fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

/// Parses JSON of any depth (the fixtures nest deeper than serde_json's
/// default limit) on a thread with a large stack; drops it there too.
pub fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("test thread panicked")
}

/// Parses JSON text without a depth limit.
pub fn parse_json(s: &str) -> serde_json::Value {
    let mut de = serde_json::Deserializer::from_str(s);
    de.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut de).expect("valid JSON")
}
