//! Truncated and corrupted files: the scan reports, never panics.

use mmpk_format::scan::{scan, Tail};

use crate::roundtrip::small_file;

use mmpk_test_support::rng::XorShift64Star as Rng;

#[test]
fn every_truncation_reports_an_intact_prefix() {
    let f = small_file();
    let full = scan(&f).unwrap();
    for n in 0..f.len() {
        match scan(&f[..n]) {
            Err(_) => assert!(n < 24, "header error at length {n}"),
            Ok(s) => {
                assert!(!s.is_clean(), "{n}");
                assert!(s.intact_end <= n);
                assert_eq!(s.entries[..], full.entries[..s.entries.len()]);
                assert!(matches!(
                    s.tail,
                    Tail::MissingTerminator | Tail::IncompleteFrame
                ));
            }
        }
    }
}

#[test]
fn seeded_byte_flips_never_panic() {
    let f = small_file();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..600 {
        let mut g = f.clone();
        for _ in 0..1 + rng.next() % 3 {
            let i = (rng.next() % g.len() as u64) as usize;
            g[i] ^= 1 << (rng.next() % 8);
        }
        let n = (rng.next() % (g.len() as u64 + 1)) as usize;
        for input in [&g[..], &g[..n]] {
            if let Ok(s) = scan(input) {
                for e in &s.entries {
                    assert!(e.entry.end() <= input.len());
                    assert!(input.get(e.entry.value_span()).is_some());
                }
                let _ = s.live_index();
            }
        }
    }
}

#[test]
fn huge_lengths_never_panic() {
    let f = small_file();
    for at in [24usize, 25, 32, 33, 34] {
        for v in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff] {
            let mut g = f.clone();
            g[at] = v;
            let _ = scan(&g);
            let mut g = f.clone();
            for b in &mut g[25..33] {
                *b = v;
            }
            let _ = scan(&g);
        }
    }
}
