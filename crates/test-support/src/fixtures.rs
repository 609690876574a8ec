//! The repository's `fixtures/` folder (files written by real CPython,
//! numpy and mmappickle). Published packages do not carry it, so the tests
//! that read it skip, with a message, when it is absent.

use std::path::{Path, PathBuf};

/// `fixtures/SUB` of the repository, seen from the crate whose manifest
/// directory is `manifest_dir` (`env!("CARGO_MANIFEST_DIR")`, two levels
/// below the root); `None`, after printing why the caller skips, when it
/// does not exist (a crate built from its package).
pub fn dir(manifest_dir: &str, sub: &str) -> Option<PathBuf> {
    let d = Path::new(manifest_dir).join("../../fixtures").join(sub);
    if d.is_dir() {
        return Some(d);
    }
    eprintln!(
        "skipped: the repository's fixtures/{sub} is not here ({}): run the tests from a clone of the repository",
        d.display()
    );
    None
}

/// The text of the repository's `docs/NAME` (the specification the doc
/// tests keep true), seen from the crate whose manifest directory is
/// `manifest_dir`; `None`, after printing why the caller skips, when it is
/// not there (a packaged crate carries no docs).
pub fn doc(manifest_dir: &str, name: &str) -> Option<String> {
    let p = Path::new(manifest_dir).join("../../docs").join(name);
    match std::fs::read_to_string(&p) {
        Ok(t) => Some(t),
        Err(_) => {
            eprintln!(
                "skipped: {} is not here (a packaged crate carries no docs)",
                p.display()
            );
            None
        }
    }
}

/// `fixtures/SUB` of the repository (a [`PathBuf`]) for the calling crate,
/// or returns from the calling test, which is skipped, when the folder is
/// absent ([`dir`]).
#[macro_export]
macro_rules! fixtures_or_skip {
    ($sub:expr) => {
        match $crate::fixtures::dir(env!("CARGO_MANIFEST_DIR"), $sub) {
            Some(d) => d,
            None => return,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_and_absent_folders() {
        let here = env!("CARGO_MANIFEST_DIR");
        // This crate is never packaged: the repository's folder is there.
        assert!(dir(here, "pickle").unwrap().join("manifest.json").is_file());
        assert!(dir(here, "no-such-folder").is_none());
        assert!(dir("/nonexistent/a/b", "pickle").is_none());
    }

    #[test]
    fn the_macro_returns_early_when_absent() {
        fn unit(sub: &str, reached: &mut bool) {
            let _d = crate::fixtures_or_skip!(sub);
            *reached = true;
        }
        let mut reached = false;
        unit("no-such-folder", &mut reached);
        assert!(!reached);
        unit("pickle", &mut reached);
        assert!(reached);
    }
}
