//! Criterion benchmarks for pickle-ops (filled in below).
fn main() {}
