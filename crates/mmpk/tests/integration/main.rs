//! Integration tests of the `mmpk` crate: one binary, one module per area.

mod alloc;
mod arrays;
mod concurrency;
mod convert;
mod crash;
mod faults;
mod fixtures;
mod hostile;
mod inplace;
mod large_values;
mod maint;
mod model;
mod open;
mod ops;
mod power;
mod processes;
mod regressions;
mod reserve;
mod soak;
mod stream;
mod zarr;

use std::path::PathBuf;

use mmpk::{Dict, OpenOptions};

/// A fresh path in a temporary directory (kept alive by the guard).
pub fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.mmpk");
    (dir, p)
}

/// Creates a dict at `path` with `opts` (plus create_new).
pub fn create_with(path: &std::path::Path, opts: &mut OpenOptions) -> Dict {
    // SAFETY: test files are private to the test.
    unsafe { opts.create_new(true).open(path) }.unwrap()
}

/// Creates a dict at `path` with the default options.
pub fn create(path: &std::path::Path) -> Dict {
    // SAFETY: test files are private to the test.
    unsafe { Dict::create(path) }.unwrap()
}

/// Opens the dict at `path` read-write.
pub fn open(path: &std::path::Path) -> Dict {
    // SAFETY: test files are private to the test.
    unsafe { Dict::open(path) }.unwrap()
}

/// Opens the dict at `path` read-write, writing new entries in `layout`.
pub fn open_with_layout(path: &std::path::Path, layout: mmpk::Layout) -> Dict {
    // SAFETY: test files are private to the test.
    unsafe { OpenOptions::new().layout(layout).open(path) }.unwrap()
}

/// Opens the dict at `path` read-only.
pub fn open_ro(path: &std::path::Path) -> Dict {
    // SAFETY: test files are private to the test.
    unsafe { Dict::open_read_only(path) }.unwrap()
}

/// Scans the file at `path` with mmpk-format and checks it is clean.
pub fn scan_clean(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let s = mmpk_format::scan(&bytes).unwrap();
    assert!(s.is_clean(), "{:?}", s.tail);
    bytes
}

/// A temporary directory in tmpfs (`/dev/shm`) when there is one, else in
/// the system's temporary directory.
pub fn shm_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}
