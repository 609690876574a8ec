//! The `mmpk` command-line tool.
fn main() {}
